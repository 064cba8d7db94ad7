//! Building the whole service filter and running it on its own listener.
//!
//! [`routes`] joins this part's routes with the other parts' (`parts`),
//! renders every rejection as `{"detail"}` ([`super::error::recover`]),
//! marks every answer `Cache-Control: no-store` (answers hold PHI) and logs
//! method, path (never the query string) and status only.
//!
//! **Mounting the other parts** (the PHI processing API, async jobs): build
//! their service in [`start`] where marked, and push
//! `routes(their_service, service_auth.clone())` onto `parts`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;

use warp::filters::BoxedFilter;
use warp::http::{HeaderValue, header};
use warp::reply::Response;
use warp::{Filter, Reply};

use crate::deid::jobs::{self, JobService, JobSettings, JobStore, PgJobStore, RedbJobStore};
use crate::deid::pg_schema;
use crate::deid::phi_api::{self, PhiApi};
use crate::deid::tokens::{PgTokenStore, TokenError, TokenService};

use super::error::recover;
use super::keys::MasterKey;
use super::pg_store::PgServiceStore;
use super::secrets::DeidSecrets;
use super::store::{RedbServiceStore, STORE_FILE, SharedStore, service_store_key};
use super::{
    DeidService, ServiceConfig, Tokenizer, TokenizerError, admin, auth, categories, deidentify,
    page,
};
use crate::https::{self, ConnectionLimits, RunningServer};
use crate::seal::NodeKey;
use crate::settings::{Settings, StoreLocation};

/// `GET /health` (no key), as the reference.
fn health() -> BoxedFilter<(Response,)> {
    warp::path!("health")
        .and(warp::get())
        .map(|| {
            warp::reply::json(&serde_json::json!({
                "status": "healthy",
                "version": env!("CARGO_PKG_VERSION"),
            }))
            .into_response()
        })
        .boxed()
}

/// The whole service: this part's routes, then `parts` (each built with
/// [`auth`] of this `service`), with the recover handler and logging.
pub fn routes(
    service: Arc<DeidService>,
    parts: Vec<BoxedFilter<(Response,)>>,
) -> impl Filter<Extract = (Response,), Error = Infallible> + Clone + Send + Sync + 'static {
    let mut all = health()
        .or(page::routes())
        .unify()
        .or(admin::routes(service.clone()))
        .unify()
        .or(categories::routes(service.clone()))
        .unify()
        .or(deidentify::routes(service))
        .unify()
        .boxed();
    for part in parts {
        all = all.or(part).unify().boxed();
    }
    all.recover(recover)
        .unify()
        .map(|mut response: Response| {
            response
                .headers_mut()
                .entry(header::CACHE_CONTROL)
                .or_insert(HeaderValue::from_static("no-store"));
            response
        })
        .with(warp::log::custom(|info| {
            tracing::info!(
                target: "sel_node::deid::access",
                method = %info.method(),
                path = %info.path(),
                status = info.status().as_u16(),
                "deid request"
            );
        }))
        .map(Reply::into_response)
}

/// Serves `filter` on `addr`: HTTPS with `tls`, plain HTTP with `None`
/// (only with `--insecure-http`).
pub async fn serve(
    addr: SocketAddr,
    tls: Option<Arc<rustls::ServerConfig>>,
    filter: impl Filter<Extract = (Response,), Error = Infallible> + Clone + Send + Sync + 'static,
) -> anyhow::Result<RunningServer> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding the de-id service to {addr}"))?;
    let plain = tls.is_none();
    let running = https::serve(listener, tls, filter, ConnectionLimits::default())
        .with_context(|| format!("serving the de-id service on {addr}"))?;
    if plain {
        tracing::warn!(local_addr = %running.local_addr(), "de-id service over plain HTTP (--insecure-http): keys and texts travel in clear");
    }
    Ok(running)
}

/// Builds the service from `settings` (store in the data directory, master
/// key from the environment, secrets from the secret file or the node key)
/// and starts its listener; `Ok(None)` when `[deid] listen` is not set.
pub async fn start(
    settings: &Settings,
    node_key: &NodeKey,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> anyhow::Result<Option<RunningDeid>> {
    let Some(_) = settings.deid.listen else {
        return Ok(None);
    };
    let master = MasterKey::from_env(&settings.deid.master_key_env).map_err(anyhow::Error::msg)?;
    start_with_master(settings, node_key, tls, master).await
}

/// [`start`] with the master key given rather than read from the
/// environment (for embedding, and for tests that run several services in
/// one process).
pub async fn start_with_master(
    settings: &Settings,
    node_key: &NodeKey,
    tls: Option<Arc<rustls::ServerConfig>>,
    master: MasterKey,
) -> anyhow::Result<Option<RunningDeid>> {
    let deid = &settings.deid;
    let Some(addr) = deid.listen else {
        return Ok(None);
    };
    let secrets = match &deid.secret_file {
        Some(path) => DeidSecrets::from_file(path).map_err(anyhow::Error::msg)?,
        None => DeidSecrets::from_node_key(node_key),
    };
    let config = ServiceConfig::from_settings(deid);
    // Opened in place, a short block at start (the node key cannot move to
    // another thread); the PostgreSQL driver runs on its own runtime.
    let stores = open_stores(settings, node_key)?;
    let Stores {
        service: store,
        tokens,
        jobs: jobs_store,
    } = stores;
    let service = tokio::task::spawn_blocking(move || {
        DeidService::new(config, store, master, secrets).context("starting the de-id service")
    })
    .await
    .context("starting the de-id service")??;
    let follower = service.follow_store();
    let service_auth = auth::auth(service.clone());
    let tokens = Arc::new(tokens);
    service.set_tokenizer(Arc::new(TokenPolicy(tokens.clone())));
    let phi_api = Arc::new(PhiApi::new(service.engine(), tokens));
    let jobs = JobService::start(
        jobs_store,
        service.engine(),
        JobSettings {
            // The service's body cap applies first (in `auth`); a job's texts
            // cannot be larger than the body that carries them.
            max_body_bytes: deid.max_body_bytes as usize,
            max_job_bytes: (deid.max_body_bytes as usize).min(JobSettings::default().max_job_bytes),
            webhook_ca_bundle: settings.ca_bundle.clone(),
            ..JobSettings::default()
        },
    )
    .context("starting the de-id job service")?;
    let parts: Vec<BoxedFilter<(Response,)>> = vec![
        phi_api::routes(phi_api, service_auth.clone()),
        jobs::routes(jobs.clone(), service_auth.clone()),
    ];
    let server = serve(addr, tls, routes(service, parts)).await?;
    tracing::info!(deid = %server.local_addr(), store = %settings.store.display(), "de-id service started");
    Ok(Some(RunningDeid {
        server,
        jobs,
        follower,
    }))
}

/// The three stores of the service, on the node's `store`.
struct Stores {
    service: SharedStore,
    tokens: TokenService,
    jobs: Arc<dyn JobStore>,
}

/// Opens the stores where the node's `store` setting says: redb files in
/// the data directory (`embedded`, the default), or the tables of a
/// PostgreSQL database (migrated here) that several processes share.
/// Blocking.
fn open_stores(settings: &Settings, node_key: &NodeKey) -> anyhow::Result<Stores> {
    let store_key = service_store_key(node_key);
    let file_backend = settings.deid.dev_file_backend;
    match &settings.store {
        StoreLocation::Embedded => {
            let service: SharedStore = Arc::new(
                RedbServiceStore::open(&settings.data_dir.join(STORE_FILE), store_key)
                    .context("opening the de-id store")?,
            );
            let tokens = TokenService::open_in(&settings.data_dir, node_key, file_backend)
                .context("opening the de-id token store")?;
            let jobs = RedbJobStore::open(&settings.data_dir.join(jobs::DB_FILE))
                .context("opening the de-id job store")?;
            Ok(Stores {
                service,
                tokens,
                jobs: Arc::new(jobs),
            })
        }
        StoreLocation::Postgres { url } => {
            let pg = pg_schema::connect(url, settings.ca_bundle.as_deref())
                .context("opening the de-id tables on PostgreSQL")?;
            let service: SharedStore = Arc::new(
                PgServiceStore::open(pg.clone(), store_key).context("opening the de-id store")?,
            );
            let tokens = TokenService::open_on(
                Arc::new(PgTokenStore::new(pg.clone())),
                &settings.data_dir,
                node_key,
                file_backend,
            )
            .context("opening the de-id token store")?;
            let jobs = PgJobStore::new(
                pg,
                std::time::Duration::from_secs(settings.deid.job_lease_secs),
            );
            Ok(Stores {
                service,
                tokens,
                jobs: Arc::new(jobs),
            })
        }
    }
}

/// The running service: its listener, the job workers behind it and, on a
/// shared store, the task that follows other processes' changes.
pub struct RunningDeid {
    server: RunningServer,
    jobs: Arc<JobService>,
    follower: Option<tokio::task::JoinHandle<()>>,
}

impl RunningDeid {
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// Stops the listener, then the job workers (queued and running jobs
    /// are marked failed: their texts live only in memory).
    pub async fn shutdown(self) {
        if let Some(follower) = &self.follower {
            follower.abort();
        }
        self.server.shutdown().await;
        self.jobs.shutdown().await;
    }
}

/// `sel-node deid serve`: the service alone, with the node's settings and
/// TLS material, until ctrl-c or SIGTERM.
pub async fn run(settings: Settings) -> anyhow::Result<()> {
    if settings.deid.listen.is_none() {
        anyhow::bail!("[deid] listen is not set in the configuration: nothing to serve");
    }
    let stop = crate::node::StopSignal::install().context("installing the signal handlers")?;
    let key = NodeKey::load(settings.node_key_file.as_deref()).context("loading the node key")?;
    std::fs::create_dir_all(&settings.data_dir)
        .with_context(|| format!("creating {}", settings.data_dir.display()))?;
    let tls = crate::node::server_tls(&settings)?;
    let running = start(&settings, &key, (!settings.insecure_http).then_some(tls))
        .await?
        .context("[deid] listen is not set")?;
    stop.wait().await;
    tracing::info!("stopping the de-id service");
    running.shutdown().await;
    Ok(())
}

/// The `token` action of `/pii/deidentify`: the token-based backend under
/// the server-side secret, so a token it writes into a text resolves with
/// `/deanonymize/phi` (`storage_type=DynamoDBTokenBased`) and the lookups.
struct TokenPolicy(Arc<TokenService>);

impl Tokenizer for TokenPolicy {
    fn token_for(&self, label: &str, value: &str) -> Result<String, TokenizerError> {
        self.0.token_for(label, value, None).map_err(|e| match e {
            TokenError::Store(_) => TokenizerError::Unavailable(e.to_string()),
            _ => TokenizerError::Failed(e.to_string()),
        })
    }
}
