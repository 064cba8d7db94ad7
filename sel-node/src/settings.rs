//! The node's settings: `node.toml`, overridden by environment variables,
//! overridden by the command line (`sel-node serve`).
//!
//! (Fields fixed for the rest of the node; loading is being built.)

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Everything `sel-node serve` runs with. Defaults suit one site on one host.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The REST API (SPEC §3), for the site's own data service and clients.
    pub api_listen: SocketAddr,
    /// The peer channel, for remote nodes.
    pub peer_listen: SocketAddr,
    /// Serve the REST API over plain HTTP (only with `--insecure-http`).
    pub insecure_http: bool,
    /// Directory of the embedded store and generated files.
    pub data_dir: PathBuf,
    /// The node key file (base64 of 32 bytes); else `SEL_NODE_KEY`.
    pub node_key_file: Option<PathBuf>,
    /// This node's certificate chain and key (PEM), for both listeners.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Extra trusted CA certificates (PEM), added to the system roots for
    /// every outgoing TLS connection (peers, linkage service, data service,
    /// callbacks).
    pub ca_bundle: Option<PathBuf>,
    /// Largest REST request body (default fits 10,000 records).
    pub max_body_bytes: u64,
    /// Jobs waiting or running at once, over all remotes / per remote.
    pub max_queued_jobs: usize,
    pub max_queued_jobs_per_remote: usize,
    /// Jobs computing at once, over all remotes / per remote.
    pub workers: usize,
    pub workers_per_remote: usize,
    /// Server-side jobs (announced by remotes) computing at once.
    pub max_incoming_jobs: usize,
    /// Largest query set (M) and database (N) accepted.
    pub max_query_records: u64,
    pub max_database_records: u64,
    /// How long a fetched database is reused.
    pub cache_max_age: Duration,
    /// How long a job waits in HOLD (remote busy, linkage service down)
    /// before it goes to FAULT.
    pub hold_deadline: Duration,
    /// Callback delivery attempts and the first backoff delay.
    pub callback_attempts: u32,
    pub callback_first_delay: Duration,
    /// How long an `Idempotency-Key` is remembered.
    pub idempotency_ttl: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            api_listen: "127.0.0.1:8161".parse().expect("valid address"),
            peer_listen: "127.0.0.1:8162".parse().expect("valid address"),
            insecure_http: false,
            data_dir: PathBuf::from("sel-data"),
            node_key_file: None,
            tls_cert: None,
            tls_key: None,
            ca_bundle: None,
            max_body_bytes: 64 << 20,
            max_queued_jobs: 256,
            max_queued_jobs_per_remote: 64,
            workers: 2,
            workers_per_remote: 2,
            max_incoming_jobs: 2,
            max_query_records: 100_000,
            max_database_records: 10_000_000,
            cache_max_age: Duration::from_secs(600),
            hold_deadline: Duration::from_secs(300),
            callback_attempts: 6,
            callback_first_delay: Duration::from_millis(500),
            idempotency_ttl: Duration::from_secs(24 * 3600),
        }
    }
}
