//! Wiring: what `sel-node serve` runs. Loads the node key, opens the store,
//! builds the TLS configurations and the one verified HTTP client, starts the
//! peer channel, the job manager and the REST API, and stops them in order.
//!
//! [`start`] returns a [`RunningNode`] (for tests and embedding); [`serve`]
//! runs one until ctrl-c or SIGTERM.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};

use crate::api::{self, ApiLimits, RunningApi};
use crate::clients::callback::{CallbackClient, RetryPolicy};
use crate::clients::dataservice::DataService;
use crate::clients::linkage::LinkageClient;
use crate::jobs::{JobManager, Services};
use crate::peer::{PeerConfig, PeerHub};
use crate::seal::NodeKey;
use crate::settings::{Settings, StoreLocation};
use crate::store::{NodeStore, PgStore, RedbStore};
use crate::tls;

/// The store's file inside `data_dir`.
pub const STORE_FILE: &str = "node.redb";

/// The longest wait between two callback attempts, and the longest attempt.
const CALLBACK_MAX_DELAY: Duration = Duration::from_secs(60);
const CALLBACK_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a stop waits for the last tasks to let go of the store.
const RELEASE_WAIT: Duration = Duration::from_secs(10);

/// A running node.
pub struct RunningNode {
    api: RunningApi,
    /// The de-id service's listener, when `[deid] listen` is set.
    deid: Option<crate::deid::service::RunningDeid>,
    peer: Arc<PeerHub>,
    manager: Arc<JobManager>,
}

impl RunningNode {
    /// The REST API's address (the real port when configured with port 0).
    pub fn api_addr(&self) -> SocketAddr {
        self.api.local_addr()
    }

    /// The de-id service's address, when it runs.
    pub fn deid_addr(&self) -> Option<SocketAddr> {
        self.deid.as_ref().map(|d| d.local_addr())
    }

    /// The peer channel's address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer.local_addr()
    }

    /// The job manager (for status pages and tests).
    pub fn manager(&self) -> &Arc<JobManager> {
        &self.manager
    }

    /// Stops in order: the REST API (no new jobs), the workers, the peer
    /// channel. Jobs still QUEUED stay queued in the store and run after the
    /// next start; computing jobs end in FAULT.
    pub async fn shutdown(self) {
        let RunningNode {
            api,
            deid,
            peer,
            manager,
        } = self;
        if let Some(deid) = deid {
            deid.shutdown().await;
        }
        api.shutdown().await;
        manager.shutdown();
        peer.shutdown().await;
        drop(peer);
        // Tasks that were finishing (a callback being recorded, a request
        // being answered) still hold the manager, and with it the store; the
        // store must be closed when this returns, so that the next start
        // (or an operator tool) can open it.
        let released = manager.released();
        drop(manager);
        if tokio::time::timeout(RELEASE_WAIT, released.cancelled())
            .await
            .is_err()
        {
            tracing::warn!("tasks still hold the job manager; the store closes when they end");
        }
        tracing::info!("node stopped");
    }
}

/// Starts a node with `settings`.
pub async fn start(settings: Settings) -> anyhow::Result<RunningNode> {
    let key =
        Arc::new(NodeKey::load(settings.node_key_file.as_deref()).context("loading the node key")?);
    std::fs::create_dir_all(&settings.data_dir)
        .with_context(|| format!("creating {}", settings.data_dir.display()))?;
    let opened = open_store(&settings, &key).await?;
    let store = opened.store.clone();

    let server_tls = server_tls(&settings)?;
    // The de-id service first: its most likely failure (no master key in
    // the environment) then stops the start before anything else runs.
    let deid = crate::deid::service::start(
        &settings,
        &key,
        (!settings.insecure_http).then(|| server_tls.clone()),
    )
    .await
    .context("starting the de-id service")?;
    let client_tls =
        tls::client_config(settings.ca_bundle.as_deref()).context("TLS client configuration")?;
    let http = tls::http_client(client_tls.clone()).context("HTTP client")?;

    let manager = match opened.shared {
        Some((shared, lease)) => {
            let (settings, store) = (settings.clone(), store.clone());
            tokio::task::spawn_blocking(move || {
                JobManager::new_shared(settings, store, shared, lease, key)
            })
            .await
            .context("loading the node's state")?
        }
        None => JobManager::new(settings.clone(), store.clone(), key),
    }
    .context("loading the node's state")?;
    let side = manager.peer_side();
    let peer = PeerHub::start(
        PeerConfig {
            listen: settings.peer_listen,
            server_tls: server_tls.clone(),
            client_tls,
        },
        side.clone(),
        side,
    )
    .await
    .context("starting the peer channel")?;
    manager.start(Services {
        peer: peer.clone(),
        data: Arc::new(DataService::new(
            http.clone(),
            store,
            settings.cache_max_age,
            settings.max_database_records,
        )),
        linkage: Arc::new(LinkageClient::new(http.clone())),
        callback: Arc::new(CallbackClient::new(
            http,
            RetryPolicy {
                attempts: settings.callback_attempts,
                first_delay: settings.callback_first_delay,
                max_delay: CALLBACK_MAX_DELAY,
                timeout: CALLBACK_TIMEOUT,
            },
        )),
    });
    let api = api::serve(
        settings.api_listen,
        (!settings.insecure_http).then(|| server_tls.clone()),
        manager.clone(),
        ApiLimits {
            max_body_bytes: settings.max_body_bytes,
        },
    )
    .await
    .context("starting the REST API")?;
    let node = RunningNode {
        api,
        deid,
        peer,
        manager,
    };
    tracing::info!(api = %node.api_addr(), peer = %node.peer_addr(), "node started");
    Ok(node)
}

/// The store a node runs on, and for a shared one its job claims.
struct OpenedStore {
    store: Arc<dyn NodeStore>,
    shared: Option<(Arc<dyn crate::store::SharedJobs>, Duration)>,
}

/// Opens the configured store: the embedded file in the data directory,
/// or the PostgreSQL database (schema migrated on start) that several
/// processes of this node share.
async fn open_store(settings: &Settings, key: &Arc<NodeKey>) -> anyhow::Result<OpenedStore> {
    match &settings.store {
        StoreLocation::Embedded => {
            let store = RedbStore::open(&settings.data_dir.join(STORE_FILE), key.clone())
                .context("opening the store")?;
            Ok(OpenedStore {
                store: Arc::new(store),
                shared: None,
            })
        }
        StoreLocation::Postgres { url } => {
            let (url, ca, key) = (url.clone(), settings.ca_bundle.clone(), key.clone());
            let store = tokio::task::spawn_blocking(move || {
                let pg = crate::pg::Pg::connect_with_ca(&url, ca.as_deref())?;
                PgStore::open(pg, key).map_err(anyhow::Error::from)
            })
            .await
            .context("opening the store")?
            .context("opening the PostgreSQL store")?;
            let store = Arc::new(store.with_lease(job_lease()));
            tracing::info!(owner = %store.owner(), "node state in PostgreSQL, shared with the node's other processes");
            let lease = store.lease();
            Ok(OpenedStore {
                store: store.clone(),
                shared: Some((store, lease)),
            })
        }
    }
}

/// The lease of a job held by a process of a shared node:
/// `SEL_JOB_LEASE_MS` when set (tests shorten it), otherwise
/// [`crate::store::postgres::DEFAULT_LEASE`].
fn job_lease() -> Duration {
    std::env::var("SEL_JOB_LEASE_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map(Duration::from_millis)
        .unwrap_or(crate::store::postgres::DEFAULT_LEASE)
}

/// Runs a node until ctrl-c or SIGTERM, then stops it gracefully.
pub async fn serve(settings: Settings) -> anyhow::Result<()> {
    // Listen for the signals before anything is served, so that a stop
    // that arrives early is still a graceful one.
    let stop = StopSignal::install().context("installing the signal handlers")?;
    let node = start(settings).await?;
    stop.wait().await;
    tracing::info!("stopping");
    node.shutdown().await;
    Ok(())
}

/// The TLS server configuration of both listeners (and the de-id
/// service's): the configured certificate, or a self-signed one made once.
pub(crate) fn server_tls(settings: &Settings) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    let (cert, cert_key) = match (&settings.tls_cert, &settings.tls_key) {
        (Some(c), Some(k)) => (c.clone(), k.clone()),
        (None, None) => self_signed(&settings.data_dir)?,
        _ => bail!("tls_cert and tls_key must be given together"),
    };
    tls::server_config(&cert, &cert_key).context("TLS server configuration")
}

/// SIGTERM or SIGINT (ctrl-c), registered up front.
pub(crate) struct StopSignal {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl StopSignal {
    pub(crate) fn install() -> std::io::Result<StopSignal> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(StopSignal {
                term: signal(SignalKind::terminate())?,
                int: signal(SignalKind::interrupt())?,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(StopSignal {})
        }
    }

    pub(crate) async fn wait(mut self) {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.term.recv() => {}
                _ = self.int.recv() => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = &mut self;
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// A self-signed certificate for localhost, made once in `data_dir/tls/`
/// (for a first start; remotes must be given it as their CA bundle, or the
/// operator configures a real certificate).
fn self_signed(data_dir: &Path) -> anyhow::Result<(PathBuf, PathBuf)> {
    let dir = data_dir.join("tls");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    if cert.exists() && key.exists() {
        return Ok((cert, key));
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    let certified = rcgen::generate_simple_self_signed(names).context("self-signed certificate")?;
    write_private(&key, certified.signing_key.serialize_pem().as_bytes())?;
    std::fs::write(&cert, certified.cert.pem())
        .with_context(|| format!("writing {}", cert.display()))?;
    tracing::warn!(cert = %cert.display(), "no TLS certificate configured: using a self-signed one");
    Ok((cert, key))
}

/// Writes a file only its owner can read.
fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(bytes)
        .with_context(|| format!("writing {}", path.display()))
}
