//! `sel-node registry`: a small Mainzelliste-like patient list, so a site
//! without Mainzelliste can run the whole flow against its node.
//!
//! * [`import`]: CSV → encoded patients (the project's encoder) in the
//!   registry's own store;
//! * [`store`]: the embedded store (redb, `registry.redb`);
//! * [`service`]: what the endpoints do: getAllRecords pages ([`paging`]),
//!   callbacks, triggers and status, calling the node through [`node`];
//! * [`routes`], [`server`]: the HTTP surface and serving it over rustls;
//! * [`export`]: patient id → LID per remote as CSV;
//! * [`auth`]: the API-key header, compared in constant time.
pub mod auth;
pub mod export;
pub mod import;
pub mod node;
pub mod paging;
pub mod routes;
pub mod server;
pub mod service;
pub mod store;

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use protocol_spec::messages::mainsel::{SharedKey, check_site_id, check_url};
use zeroize::Zeroizing;

use crate::cli::registry::{EXIT_FATAL, RegistryArgs, RegistryCommand, ServeArgs};
pub use service::{Registry, RegistryConfig};
pub use store::RegistryStore;

/// Runs `sel-node registry ...`.
pub fn run(args: &RegistryArgs) -> ExitCode {
    match &args.command {
        RegistryCommand::Import(a) => import::run(a),
        RegistryCommand::Export(a) => export::run(a),
        RegistryCommand::Serve(a) => serve_command(a),
    }
}

/// Why `registry serve` could not start. Never contains a key.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("--site-id: {0}")]
    SiteId(protocol_spec::messages::mainsel::IdError),
    #[error("{what}: give a key file or set {env}")]
    MissingKey {
        what: &'static str,
        env: &'static str,
    },
    #[error("cannot read {path}: {source}")]
    KeyFile {
        path: String,
        source: std::io::Error,
    },
    #[error("{what}: {source}")]
    BadKey {
        what: &'static str,
        source: protocol_spec::messages::mainsel::SharedKeyError,
    },
    #[error("{what}: {source}")]
    Url {
        what: &'static str,
        source: protocol_spec::messages::mainsel::UrlError,
    },
    #[error("HTTPS needs --tls-cert and --tls-key (or --insecure-http for a local experiment)")]
    NoCertificate,
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

fn serve_command(args: &ServeArgs) -> ExitCode {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sel-node registry serve: cannot start the runtime: {e}");
            return ExitCode::from(EXIT_FATAL);
        }
    };
    match runtime.block_on(serve(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sel-node registry serve: {e}");
            ExitCode::from(EXIT_FATAL)
        }
    }
}

/// Reads a key from its file (surrounding white space ignored) or from the
/// environment value clap collected.
fn load_key(
    file: Option<&Path>,
    env_value: Option<&str>,
    what: &'static str,
    env: &'static str,
) -> Result<SharedKey, ServeError> {
    let text =
        match (file, env_value) {
            (Some(path), _) => Zeroizing::new(std::fs::read_to_string(path).map_err(|source| {
                ServeError::KeyFile {
                    path: path.display().to_string(),
                    source,
                }
            })?),
            (None, Some(v)) => Zeroizing::new(v.to_owned()),
            (None, None) => return Err(ServeError::MissingKey { what, env }),
        };
    let key = SharedKey::new(text.trim());
    key.check()
        .map_err(|source| ServeError::BadKey { what, source })?;
    Ok(key)
}

/// The registry's base URL as the node sees it.
fn public_url(args: &ServeArgs, bound: SocketAddr) -> Result<String, ServeError> {
    let url = match &args.public_url {
        Some(u) => u.trim_end_matches('/').to_owned(),
        None => {
            let scheme = if args.insecure_http { "http" } else { "https" };
            let mut addr = bound;
            if addr.ip().is_unspecified() {
                addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
            }
            format!("{scheme}://{addr}")
        }
    };
    check_url(&url).map_err(|source| ServeError::Url {
        what: "--public-url",
        source,
    })?;
    Ok(url)
}

/// `sel-node registry serve`: runs until interrupted (Ctrl-C).
pub async fn serve(args: &ServeArgs) -> Result<(), ServeError> {
    check_site_id(&args.site_id).map_err(ServeError::SiteId)?;
    let api_key = load_key(
        args.api_key_file.as_deref(),
        args.api_key.as_deref(),
        "the registry's API key (--api-key-file)",
        "SEL_REGISTRY_API_KEY",
    )?;
    let node_key = load_key(
        args.node_key_file.as_deref(),
        args.node_key.as_deref(),
        "the node's key (--node-key-file)",
        "SEL_REGISTRY_NODE_KEY",
    )?;
    check_url(&args.node_url).map_err(|source| ServeError::Url {
        what: "--node-url",
        source,
    })?;
    let tls = if args.insecure_http {
        None
    } else {
        match (&args.tls_cert, &args.tls_key) {
            (Some(cert), Some(key)) => Some(crate::tls::server_config(cert, key)?),
            _ => return Err(ServeError::NoCertificate),
        }
    };
    let http = crate::tls::http_client(crate::tls::client_config(args.ca_bundle.as_deref())?)?;
    let store = RegistryStore::open(&args.data_dir)?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|source| ServeError::Listen {
            addr: args.listen,
            source,
        })?;
    let bound = listener.local_addr().map_err(|source| ServeError::Listen {
        addr: args.listen,
        source,
    })?;
    let config = RegistryConfig {
        site_id: args.site_id.clone(),
        api_key,
        node_key,
        node_url: args.node_url.clone(),
        public_url: public_url(args, bound)?,
    };
    let registry = Arc::new(Registry::new(config, store, http));
    let running = server::start(listener, tls, registry).map_err(|source| ServeError::Listen {
        addr: args.listen,
        source,
    })?;
    eprintln!(
        "registry listening on {} ({})",
        running.local_addr(),
        if args.insecure_http {
            "plain HTTP"
        } else {
            "HTTPS"
        }
    );
    let _ = tokio::signal::ctrl_c().await;
    running.shutdown().await;
    Ok(())
}
