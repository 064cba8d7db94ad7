//! `linkage-service`: the command line.
//!
//! Site administration is local by design (no REST registration): `register`,
//! `sites`, `revoke` and `reviews` work directly on the store, also while
//! `serve` runs.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use linkage_service::keys::{MasterKey, create_master_key_file};
use linkage_service::service::{Service, ServiceConfig};
use linkage_service::store::Store;
use linkage_service::tls::{TlsMaterial, self_signed_in, server_config};
use linkage_service::{admin, server};
use tracing::info;

#[derive(Parser)]
#[command(
    name = "linkage-service",
    version,
    about = "MainSEL-style linkage service"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where the store lives.
#[derive(clap::Args)]
struct DataDir {
    /// Directory of the store (and of a generated TLS certificate).
    #[arg(long, env = "LS_DATA_DIR", default_value = "ls-data")]
    data_dir: PathBuf,
}

/// Where the master key comes from.
#[derive(clap::Args)]
struct MasterKeySource {
    /// File holding the master key (base64 of 32 bytes). Without it the key
    /// is read from LS_MASTER_KEY.
    #[arg(long)]
    master_key_file: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Create a new master key file (mode 0600); refuses to overwrite.
    InitMasterKey {
        #[arg(long)]
        out: PathBuf,
    },
    /// Register a site; prints its LID key and API key once, as JSON.
    Register {
        site_id: String,
        #[command(flatten)]
        data: DataDir,
        #[command(flatten)]
        master: MasterKeySource,
    },
    /// List registered sites (no secrets).
    Sites {
        #[command(flatten)]
        data: DataDir,
    },
    /// Remove a site; its API key stops working immediately.
    Revoke {
        site_id: String,
        #[command(flatten)]
        data: DataDir,
    },
    /// List tentative matches kept for clerical review (no LIDs).
    Reviews {
        #[command(flatten)]
        data: DataDir,
        #[command(flatten)]
        master: MasterKeySource,
    },
    /// Serve the linkage API over HTTPS.
    Serve(ServeArgs),
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Address to listen on, e.g. 0.0.0.0:8443 (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8443")]
    listen: SocketAddr,
    #[command(flatten)]
    data: DataDir,
    #[command(flatten)]
    master: MasterKeySource,
    /// PEM certificate chain. Without it a self-signed certificate is created
    /// in DATA_DIR/tls on first start.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key matching --tls-cert.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Extra DNS names / IPs for a generated certificate (besides localhost,
    /// 127.0.0.1 and ::1). Only used when the certificate is first created.
    #[arg(long = "tls-name")]
    tls_names: Vec<String>,
    /// Seconds the first post of a job waits for its partner.
    #[arg(long, default_value_t = 30.0)]
    job_timeout_secs: f64,
    /// Largest count accepted by /freshIDs.
    #[arg(long, default_value_t = ServiceConfig::default().max_fresh_ids)]
    max_fresh_ids: usize,
    /// Requests doing CPU/disk work at once; more get 503 + Retry-After.
    #[arg(long, default_value_t = ServiceConfig::default().max_concurrent_work)]
    max_concurrent_work: usize,
    /// Posts waiting for their partner at once; more get 503 + Retry-After.
    #[arg(long, default_value_t = ServiceConfig::default().max_pending_posts)]
    max_pending_posts: usize,
    /// Posts of one site waiting for their partner at once; more get 503.
    #[arg(long, default_value_t = ServiceConfig::default().max_pending_posts_per_site)]
    max_pending_posts_per_site: usize,
    /// Largest request body in bytes.
    #[arg(long, default_value_t = ServiceConfig::default().max_body_bytes)]
    max_body_bytes: u64,
    /// Seconds an authenticated caller may take to send its body (408 after).
    #[arg(long, default_value_t = ServiceConfig::default().body_timeout.as_secs_f64())]
    body_timeout_secs: f64,
    /// Seconds a client may take to send a request's headers.
    #[arg(long, default_value_t = ServiceConfig::default().header_read_timeout.as_secs_f64())]
    header_read_timeout_secs: f64,
    /// Seconds a connection may sit with no request in flight and no bytes
    /// moving before it is closed.
    #[arg(long, default_value_t = ServiceConfig::default().idle_timeout.as_secs_f64())]
    idle_timeout_secs: f64,
    /// Connections served at once; more are closed right after accept.
    #[arg(long, default_value_t = ServiceConfig::default().max_connections)]
    max_connections: usize,
    /// Seconds suggested in Retry-After.
    #[arg(long, default_value_t = ServiceConfig::default().retry_after_secs)]
    retry_after_secs: u64,
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::InitMasterKey { out } => {
            create_master_key_file(&out)?;
            eprintln!("master key written to {}", out.display());
        }
        Command::Register {
            site_id,
            data,
            master,
        } => {
            let master = MasterKey::load(master.master_key_file.as_deref())?;
            let store = Store::open(&data.data_dir)?;
            let registration = admin::register(&store, &master, &site_id)?;
            println!("{}", registration.to_json().as_str());
            eprintln!(
                "site {site_id} registered; store its lidKey and apiKey now, they are not shown again"
            );
        }
        Command::Sites { data } => {
            let store = Store::open(&data.data_dir)?;
            for site in admin::list_sites(&store)? {
                println!("{}", serde_json::to_string(&site)?);
            }
        }
        Command::Revoke { site_id, data } => {
            let store = Store::open(&data.data_dir)?;
            admin::revoke(&store, &site_id)?;
            eprintln!("site {site_id} revoked");
        }
        Command::Reviews { data, master } => {
            let master = MasterKey::load(master.master_key_file.as_deref())?;
            let store = Store::open(&data.data_dir)?;
            for review in admin::list_reviews(&store, &master)? {
                println!("{}", serde_json::to_string(&review)?);
            }
        }
        Command::Serve(args) => serve(args)?,
    }
    Ok(())
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    for (flag, secs) in [
        ("--job-timeout-secs", args.job_timeout_secs),
        ("--body-timeout-secs", args.body_timeout_secs),
        ("--header-read-timeout-secs", args.header_read_timeout_secs),
        ("--idle-timeout-secs", args.idle_timeout_secs),
    ] {
        if !(secs.is_finite() && secs > 0.0 && secs < 1e9) {
            bail!("{flag} must be a positive number of seconds");
        }
    }
    if args.max_concurrent_work == 0
        || args.max_pending_posts == 0
        || args.max_pending_posts_per_site == 0
        || args.max_fresh_ids == 0
        || args.max_connections == 0
    {
        bail!(
            "--max-concurrent-work, --max-pending-posts, --max-pending-posts-per-site, \
             --max-fresh-ids and --max-connections must be positive"
        );
    }
    let config = ServiceConfig {
        job_timeout: Duration::from_secs_f64(args.job_timeout_secs),
        max_fresh_ids: args.max_fresh_ids,
        max_concurrent_work: args.max_concurrent_work,
        max_pending_posts: args.max_pending_posts,
        max_pending_posts_per_site: args.max_pending_posts_per_site,
        max_body_bytes: args.max_body_bytes,
        body_timeout: Duration::from_secs_f64(args.body_timeout_secs),
        header_read_timeout: Duration::from_secs_f64(args.header_read_timeout_secs),
        idle_timeout: Duration::from_secs_f64(args.idle_timeout_secs),
        max_connections: args.max_connections,
        retry_after_secs: args.retry_after_secs,
    };
    let master = Arc::new(MasterKey::load(args.master.master_key_file.as_deref())?);
    let store = Arc::new(Store::open(&args.data.data_dir)?);
    let service = Service::new(store, master, config)?;

    let material = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => TlsMaterial::from_pem_files(cert, key)?,
        _ => {
            let mut names = vec!["localhost".to_string(), "127.0.0.1".into(), "::1".into()];
            names.extend(args.tls_names.iter().cloned());
            let (material, path) = self_signed_in(&args.data.data_dir, &names)?;
            info!(
                certificate = %path.display(),
                sha256 = %material.leaf_fingerprint(),
                "serving with a self-signed certificate; nodes must pin this certificate"
            );
            material
        }
    };
    let tls = server_config(material)?;

    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        let running = server::start(listener, tls, service)?;
        let addr = running.local_addr();
        info!(%addr, "linkage service listening");
        // A machine-readable line for scripts that bind port 0.
        println!("listening on https://{addr}");
        std::io::stdout().flush()?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {
                info!("shutting down");
                running.shutdown().await;
            }
        }
        Ok(())
    })
}
