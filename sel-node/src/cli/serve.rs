//! Arguments of `sel-node serve`.
//!
//! Every setting of [`crate::settings::Settings`] is a flag here and, through
//! clap's `env` support, an environment variable `SEL_…`. They are all
//! optional: what is not given falls back to the configuration file, then
//! to the built-in default ([`crate::settings::Settings::load`]). The one
//! exception is `--insecure-http`: plain HTTP is a decision made on the
//! command line in front of the operator, never inherited from a file or an
//! environment.
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use crate::settings::{Settings, parse_duration};

/// Exit status when the settings are invalid (or the node cannot start).
pub const EXIT_FATAL: u8 = 2;

const AFTER_HELP: &str = "\
PRECEDENCE
  built-in defaults < --config FILE < SEL_* environment variables < flags.
  Durations are seconds (600) or a number with a unit: 500ms, 30s, 10m, 2h, 1d.
  See examples/node.toml for every setting with its default.

SECRETS
  The node key (base64 of 32 bytes) seals everything secret in the store.
  It comes from --node-key-file or, without one, from SEL_NODE_KEY. Make one:
    head -c 32 /dev/urandom | base64 > node.key && chmod 600 node.key";

/// `sel-node serve`: run the node (REST API and peer channel).
#[derive(Debug, Clone, Default, Args)]
#[command(after_help = AFTER_HELP)]
pub struct ServeArgs {
    /// The configuration file (TOML).
    #[arg(long, env = "SEL_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Address of the REST API (for the site's own registry).
    #[arg(long, env = "SEL_API_LISTEN", value_name = "ADDR")]
    pub api_listen: Option<SocketAddr>,
    /// Address of the peer channel (for remote nodes).
    #[arg(long, env = "SEL_PEER_LISTEN", value_name = "ADDR")]
    pub peer_listen: Option<SocketAddr>,
    /// Serve the REST API over plain HTTP (local experiments only; a flag,
    /// never read from the file or the environment).
    #[arg(long)]
    pub insecure_http: bool,

    /// Directory of the store and generated files.
    #[arg(long, env = "SEL_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Where the state lives: `embedded` (the default, files in the data
    /// directory) or a PostgreSQL URL shared by several node processes.
    #[arg(
        long,
        env = "SEL_STORE",
        value_name = "embedded|postgres://…",
        hide_env_values = true
    )]
    pub store: Option<crate::settings::StoreLocation>,
    /// File holding the node key (base64); else SEL_NODE_KEY.
    #[arg(long, env = "SEL_NODE_KEY_FILE", value_name = "FILE")]
    pub node_key_file: Option<PathBuf>,
    /// This node's certificate chain (PEM); with --tls-key.
    #[arg(long, env = "SEL_TLS_CERT", value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// This node's private key (PEM); with --tls-cert.
    #[arg(long, env = "SEL_TLS_KEY", value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// Extra trusted CA certificates (PEM) for every outgoing connection.
    #[arg(long, env = "SEL_CA_BUNDLE", value_name = "FILE")]
    pub ca_bundle: Option<PathBuf>,

    /// Largest REST request body, in bytes.
    #[arg(long, env = "SEL_MAX_BODY_BYTES", value_name = "BYTES")]
    pub max_body_bytes: Option<u64>,
    /// Jobs waiting or running at once, over all remotes.
    #[arg(long, env = "SEL_MAX_QUEUED_JOBS", value_name = "N")]
    pub max_queued_jobs: Option<usize>,
    /// Jobs waiting or running at once, per remote.
    #[arg(long, env = "SEL_MAX_QUEUED_JOBS_PER_REMOTE", value_name = "N")]
    pub max_queued_jobs_per_remote: Option<usize>,
    /// Jobs computing at once, over all remotes.
    #[arg(long, env = "SEL_WORKERS", value_name = "N")]
    pub workers: Option<usize>,
    /// Jobs computing at once, per remote.
    #[arg(long, env = "SEL_WORKERS_PER_REMOTE", value_name = "N")]
    pub workers_per_remote: Option<usize>,
    /// Server-side jobs (announced by remotes) computing at once.
    #[arg(long, env = "SEL_MAX_INCOMING_JOBS", value_name = "N")]
    pub max_incoming_jobs: Option<usize>,
    /// Largest query set accepted (records).
    #[arg(long, env = "SEL_MAX_QUERY_RECORDS", value_name = "N")]
    pub max_query_records: Option<u64>,
    /// Largest database accepted (records).
    #[arg(long, env = "SEL_MAX_DATABASE_RECORDS", value_name = "N")]
    pub max_database_records: Option<u64>,

    /// How long a fetched database is reused.
    #[arg(long, env = "SEL_CACHE_MAX_AGE", value_name = "DURATION", value_parser = parse_duration)]
    pub cache_max_age: Option<Duration>,
    /// How long a job may wait in HOLD before it goes to FAULT.
    #[arg(long, env = "SEL_HOLD_DEADLINE", value_name = "DURATION", value_parser = parse_duration)]
    pub hold_deadline: Option<Duration>,
    /// Callback delivery attempts.
    #[arg(long, env = "SEL_CALLBACK_ATTEMPTS", value_name = "N")]
    pub callback_attempts: Option<u32>,
    /// Delay before the first callback retry (doubling afterwards).
    #[arg(long, env = "SEL_CALLBACK_FIRST_DELAY", value_name = "DURATION", value_parser = parse_duration)]
    pub callback_first_delay: Option<Duration>,
    /// How long an Idempotency-Key is remembered.
    #[arg(long, env = "SEL_IDEMPOTENCY_TTL", value_name = "DURATION", value_parser = parse_duration)]
    pub idempotency_ttl: Option<Duration>,

    /// Load and check the settings, print them as TOML, and exit.
    #[arg(long)]
    pub check: bool,
}

/// The settings of `serve`, or the exit code when there is nothing to
/// serve: the settings are invalid (reported on stderr), or `--check` was
/// given (the effective settings are printed on stdout).
pub fn settings(args: &ServeArgs) -> Result<Settings, ExitCode> {
    match Settings::load(args) {
        Ok(settings) if args.check => {
            print!("{}", settings.to_toml());
            Err(ExitCode::SUCCESS)
        }
        Ok(settings) => Ok(settings),
        Err(e) => {
            eprintln!("sel-node serve: {e}");
            Err(ExitCode::from(EXIT_FATAL))
        }
    }
}

/// Runs `task` on a multi-threaded runtime with logs on stderr (`RUST_LOG`,
/// default `info`): the frame of `sel-node serve` and `sel-node deid serve`.
pub fn run_logged(
    what: &str,
    task: impl std::future::Future<Output = anyhow::Result<()>>,
) -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{what}: cannot start the runtime: {e}");
            return ExitCode::from(EXIT_FATAL);
        }
    };
    match runtime.block_on(task) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{what}: {e:#}");
            ExitCode::from(EXIT_FATAL)
        }
    }
}
