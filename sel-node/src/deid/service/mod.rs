//! The de-identification service: an HTTPS listener of its own, separate
//! from the SEL REST API, serving the PHI processing API's paths unprefixed
//! (`/health`, `/admin/keys`, `/phi-categories`, `/pii/deidentify`, the
//! page at `/` and `/ui`, and the other parts' routes mounted beside them).
//!
//! One module per job: [`settings`] (the `[deid]` section), [`store`]
//! (`deid.redb`: key hashes and categories, sealed), [`keys`] (master and
//! named keys, constant-time checks), [`rate`] (token buckets), [`auth`]
//! (the filter every keyed route puts first), [`error`] (`{"detail"}`
//! answers and the recover handler), [`secrets`] (hash salt, token secret),
//! [`admin`], [`categories`], [`deidentify`] and [`page`] (the endpoints),
//! [`server`] (building the whole filter, starting the listener).

pub mod admin;
pub mod auth;
pub mod categories;
pub mod deidentify;
pub mod error;
pub mod keys;
pub mod page;
pub mod pg_store;
pub mod rate;
pub mod secrets;
pub mod server;
pub mod settings;
pub mod store;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

pub use auth::{auth, caller};
pub use deidentify::{Tokenizer, TokenizerError};
pub use error::ServiceError;
pub use keys::{Caller, MasterKey};
pub use pg_store::PgServiceStore;
pub use secrets::DeidSecrets;
pub use server::{RunningDeid, routes, run, serve, start, start_with_master};
pub use settings::{DeidSettings, MAX_TEXT_CHARS, PolicyAction};
pub use store::{MemoryServiceStore, RedbServiceStore, ServiceStore, SharedStore, StoredCategory};

use crate::deid::{Engine, EngineHandle};
use keys::KeyRing;
use rate::RateLimiter;

/// What the service enforces and applies (from [`DeidSettings`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceConfig {
    /// Largest request body (413 beyond).
    pub max_body_bytes: u64,
    pub rate_limit_per_minute: u32,
    pub rate_limit_burst: u32,
    /// The default policy: an action per label and one for the rest.
    pub default_action: PolicyAction,
    pub policy: BTreeMap<String, PolicyAction>,
}

impl ServiceConfig {
    pub fn from_settings(s: &DeidSettings) -> ServiceConfig {
        ServiceConfig {
            max_body_bytes: s.max_body_bytes,
            rate_limit_per_minute: s.rate_limit_per_minute,
            rate_limit_burst: s.rate_limit_burst,
            default_action: s.default_action,
            policy: s.policy.clone(),
        }
    }
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig::from_settings(&DeidSettings::default())
    }
}

/// Why the service cannot start. Never holds a key or a value.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error("stored categories do not build an engine: {0}")]
    Categories(#[from] crate::deid::CategoryError),
}

/// The service's state, shared by its routes (and, through [`Self::engine`]
/// and [`auth`], by the other parts').
pub struct DeidService {
    config: ServiceConfig,
    keys: KeyRing,
    limiter: RateLimiter,
    store: SharedStore,
    engine: EngineHandle,
    /// The user categories; the lock also serialises changes, so two
    /// concurrent additions cannot both pass the duplicate check.
    categories: Mutex<Vec<StoredCategory>>,
    secrets: DeidSecrets,
    tokenizer: OnceLock<Arc<dyn Tokenizer>>,
    /// The store's generation when keys and categories were last read
    /// (`None` for a store this process alone writes).
    generation: Mutex<Option<i64>>,
}

/// How often a service on a shared store (PostgreSQL) looks for keys and
/// categories changed by another process: the bound on how long a key
/// created or revoked, or a category changed, elsewhere takes to count here.
pub const STORE_REFRESH: Duration = Duration::from_secs(1);

impl std::fmt::Debug for DeidService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeidService")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl DeidService {
    /// Loads keys and categories from `store` and builds the engine with the
    /// stored categories (blocking: reads the store, builds the engine).
    pub fn new(
        config: ServiceConfig,
        store: SharedStore,
        master: MasterKey,
        secrets: DeidSecrets,
    ) -> Result<Arc<DeidService>, StartError> {
        let generation = store.generation()?;
        let keys = KeyRing::new(&master, Arc::clone(&store))?;
        let mut categories = store.categories()?;
        categories.sort_by(|a, b| a.category.name.cmp(&b.category.name));
        let plain: Vec<_> = categories.iter().map(|c| c.category.clone()).collect();
        let engine = EngineHandle::new(Engine::with_categories(&plain)?);
        Ok(Arc::new(DeidService {
            limiter: RateLimiter::new(config.rate_limit_per_minute, config.rate_limit_burst),
            config,
            keys,
            store,
            engine,
            categories: Mutex::new(categories),
            secrets,
            tokenizer: OnceLock::new(),
            generation: Mutex::new(generation),
        }))
    }

    /// With a store other processes write too: if it changed since keys
    /// and categories were last read, reads them again (and swaps in an
    /// engine built with the categories, if they differ). Returns whether
    /// anything was read. Blocking (reads the store, may build an engine).
    pub fn refresh_from_store(&self) -> Result<bool, StartError> {
        let Some(now) = self.store.generation()? else {
            return Ok(false);
        };
        if *self.generation.lock().unwrap_or_else(|p| p.into_inner()) == Some(now) {
            return Ok(false);
        }
        // Read after the generation: a change in between is read now and
        // read again next time, never missed.
        self.keys.reload()?;
        let mut stored = self.store.categories()?;
        stored.sort_by(|a, b| a.category.name.cmp(&b.category.name));
        {
            let mut user = self.lock_categories();
            if *user != stored {
                let plain: Vec<_> = stored.iter().map(|c| c.category.clone()).collect();
                self.engine.replace(Engine::with_categories(&plain)?);
                *user = stored;
            }
        }
        *self.generation.lock().unwrap_or_else(|p| p.into_inner()) = Some(now);
        Ok(true)
    }

    /// With a shared store, a task that calls
    /// [`DeidService::refresh_from_store`] every [`STORE_REFRESH`]; `None`
    /// for a store this process alone writes. Must be called within a tokio
    /// runtime; abort the task to stop it.
    pub fn follow_store(self: &Arc<Self>) -> Option<tokio::task::JoinHandle<()>> {
        self.generation
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
            .then(|| {
                let service = Arc::clone(self);
                tokio::spawn(async move {
                    let mut tick = tokio::time::interval(STORE_REFRESH);
                    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                    loop {
                        tick.tick().await;
                        let s = Arc::clone(&service);
                        match tokio::task::spawn_blocking(move || s.refresh_from_store()).await {
                            Ok(Ok(_)) => {}
                            Ok(Err(e)) => {
                                tracing::warn!(error = %e, "keys and categories not refreshed")
                            }
                            Err(_) => tracing::warn!("store refresh task failed"),
                        }
                    }
                })
            })
    }

    /// The engine every part detects with (categories take effect in it).
    pub fn engine(&self) -> EngineHandle {
        self.engine.clone()
    }

    /// The service's derived secrets (the token service takes its secret
    /// from here).
    pub fn secrets(&self) -> &DeidSecrets {
        &self.secrets
    }

    pub fn config(&self) -> &ServiceConfig {
        &self.config
    }

    /// Plugs in the token service, which makes the `token` action available
    /// to `/pii/deidentify`. Only the first call counts (returns false after).
    pub fn set_tokenizer(&self, tokenizer: Arc<dyn Tokenizer>) -> bool {
        self.tokenizer.set(tokenizer).is_ok()
    }

    fn tokenizer(&self) -> Option<&Arc<dyn Tokenizer>> {
        self.tokenizer.get()
    }
}

/// Runs a blocking call (store writes, engine builds, detection) off the
/// async workers; a panic in it becomes a 500.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ServiceError> + Send + 'static,
) -> Result<T, ServiceError> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|_| Err(ServiceError::internal("the request failed")))
}
