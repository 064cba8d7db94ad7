//! The node's state as the job manager keeps it: the local site, the
//! remotes and the job table, each written to the [`NodeStore`] before it
//! changes in memory, so that what a caller was told survives a restart.
//!
//! Memory holds the current view for fast reads (`/jobs/list`, the peer
//! channel's directory); the store is the truth after a restart
//! ([`State::load`]).
//!
//! With a store shared by several processes ([`SharedJobs`]) memory holds
//! only the jobs this process runs: every other job is read from the store,
//! and the configuration is reloaded whenever the store's configuration
//! version changed, so an `initLocal` or `initRemote` made through another
//! process is in effect here before the next use.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use protocol_spec::config::LinkageConfig;
use protocol_spec::messages::mainsel::{InitLocal, InitRemote, JobStatus, check_remote_id};

use super::{ConfigError, InitOutcome};
use crate::model::{
    CallbackDelivery, DeliveryState, JobRecord, JobSide, LocalSite, Millis, RemoteSite,
    StatusChange, now_millis,
};
use crate::store::{NodeStore, SharedJobs, StoreError};

/// The reason recorded on jobs a restart interrupted.
pub(crate) const RESTART_REASON: &str = "node restarted";

/// The local site with what every job derives from it once.
pub(crate) struct LocalState {
    pub init: InitLocal,
    pub config: Arc<LinkageConfig>,
    /// Hex of `mpc_core::epilink::fingerprint(config)`.
    pub fingerprint: String,
}

impl LocalState {
    fn new(init: InitLocal) -> Result<LocalState, ConfigError> {
        let config = init
            .validate()
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        let fingerprint = hex(&mpc_core::epilink::fingerprint(&config));
        Ok(LocalState {
            init,
            config: Arc::new(config),
            fingerprint,
        })
    }
}

/// Lower-case hex (fingerprints are public; nothing secret goes through here).
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// The job table: records by id, and ids in creation order.
#[derive(Default)]
struct JobTable {
    order: Vec<String>,
    by_id: HashMap<String, JobRecord>,
}

/// What a restart found in the store.
pub(crate) struct Recovered {
    /// Client jobs that were QUEUED, oldest first: they run again.
    pub queued: Vec<JobRecord>,
    /// Jobs a restart interrupted (now FAULT "node restarted").
    pub interrupted: usize,
    /// The interrupted client jobs, whose callback has yet to be told why
    /// (the caller may be waiting for it; nothing else would tell it).
    pub untold: Vec<JobRecord>,
}

pub(crate) struct State {
    store: Arc<dyn NodeStore>,
    /// Set when other processes share the store.
    shared: Option<Arc<dyn SharedJobs>>,
    /// The store's configuration version the memory copy was loaded at.
    config_version: AtomicI64,
    local: RwLock<Option<Arc<LocalState>>>,
    remotes: RwLock<BTreeMap<String, RemoteSite>>,
    jobs: Mutex<JobTable>,
}

fn store_err(e: StoreError) -> ConfigError {
    ConfigError::Store(e.to_string())
}

impl State {
    /// Loads everything from the store. Jobs that were RUNNING or HOLD go to
    /// FAULT "node restarted" (their 2PC partner is gone); QUEUED client jobs
    /// are returned to be queued again; a delivery that was in progress is
    /// recorded as failed (the result was only in memory).
    pub fn load(store: Arc<dyn NodeStore>) -> Result<(State, Recovered), StoreError> {
        let (local, remotes) = load_config(store.as_ref())?;
        let mut table = JobTable::default();
        let mut queued = Vec::new();
        let mut interrupted = 0;
        let mut untold = Vec::new();
        let now = now_millis();
        for mut job in store.load_jobs()? {
            let mut changed = false;
            match job.status {
                JobStatus::Running | JobStatus::Hold => {
                    apply_status(&mut job, JobStatus::Fault, Some(RESTART_REASON.into()), now);
                    interrupted += 1;
                    changed = true;
                    if job.side == JobSide::Client && job.callback_url.is_some() {
                        untold.push(job.clone());
                    }
                }
                JobStatus::Queued if job.side == JobSide::Client => queued.push(job.clone()),
                JobStatus::Queued => {
                    apply_status(&mut job, JobStatus::Fault, Some(RESTART_REASON.into()), now);
                    interrupted += 1;
                    changed = true;
                }
                JobStatus::Done | JobStatus::Fault => {}
            }
            if job.callback_delivery.state == DeliveryState::Pending {
                job.callback_delivery.state = DeliveryState::Failed;
                job.callback_delivery.last_error = Some(format!(
                    "{RESTART_REASON} before the callback was delivered"
                ));
                changed = true;
            }
            if changed {
                store.save_job(&job)?;
            }
            if job.status.is_final() && job.side == JobSide::Client {
                store.delete_job_input(&job.id)?;
            }
            table.order.push(job.id.clone());
            table.by_id.insert(job.id.clone(), job);
        }
        let state = State {
            store,
            shared: None,
            config_version: AtomicI64::new(0),
            local: RwLock::new(local),
            remotes: RwLock::new(remotes),
            jobs: Mutex::new(table),
        };
        Ok((
            state,
            Recovered {
                queued,
                interrupted,
                untold,
            },
        ))
    }

    /// Loads the configuration of a store other processes share. Jobs stay
    /// in the store: each process takes its own from the queue, and jobs a
    /// dead process held are taken over when its lease runs out (there is
    /// no restart recovery, because the other processes are running).
    pub fn load_shared(
        store: Arc<dyn NodeStore>,
        shared: Arc<dyn SharedJobs>,
    ) -> Result<State, StoreError> {
        let version = shared.config_version()?;
        let (local, remotes) = load_config(store.as_ref())?;
        Ok(State {
            store,
            shared: Some(shared),
            config_version: AtomicI64::new(version),
            local: RwLock::new(local),
            remotes: RwLock::new(remotes),
            jobs: Mutex::default(),
        })
    }

    pub fn store(&self) -> &Arc<dyn NodeStore> {
        &self.store
    }

    /// Reloads the configuration if another process changed it. A store
    /// failure keeps the copy in memory (logged): the next call tries again.
    fn sync_config(&self) {
        let Some(shared) = &self.shared else {
            return;
        };
        let version = match shared.config_version() {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, "could not check the configuration version");
                return;
            }
        };
        if version == self.config_version.load(Ordering::Acquire) {
            return;
        }
        let mut local = self.local.write().unwrap_or_else(|e| e.into_inner());
        let mut remotes = self.remotes.write().unwrap_or_else(|e| e.into_inner());
        match load_config(self.store.as_ref()) {
            Ok((l, r)) => {
                *local = l;
                *remotes = r;
                self.config_version.store(version, Ordering::Release);
            }
            Err(e) => tracing::warn!(error = %e, "could not reload the configuration"),
        }
    }

    // ---- local site and remotes ----

    pub fn local_state(&self) -> Option<Arc<LocalState>> {
        self.sync_config();
        self.local.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn local(&self) -> Option<LocalSite> {
        self.local_state().map(|l| LocalSite {
            init: l.init.clone(),
        })
    }

    pub fn init_local(&self, init: InitLocal) -> Result<InitOutcome, ConfigError> {
        let next = Arc::new(LocalState::new(init)?);
        self.sync_config();
        let mut local = self.local.write().unwrap_or_else(|e| e.into_inner());
        self.store.save_local(&next.init).map_err(store_err)?;
        let outcome = if local.is_some() {
            InitOutcome::Updated
        } else {
            InitOutcome::Created
        };
        *local = Some(next);
        Ok(outcome)
    }

    pub fn remote(&self, id: &str) -> Option<RemoteSite> {
        self.sync_config();
        self.remotes
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .cloned()
    }

    pub fn remotes(&self) -> Vec<RemoteSite> {
        self.sync_config();
        self.remotes
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }

    pub fn init_remote(&self, id: &str, init: InitRemote) -> Result<InitOutcome, ConfigError> {
        check_remote_id(id).map_err(|e| ConfigError::Invalid(e.to_string()))?;
        init.validate()
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        self.sync_config();
        let mut remotes = self.remotes.write().unwrap_or_else(|e| e.into_inner());
        self.store.save_remote(id, &init).map_err(store_err)?;
        let previous = remotes.insert(
            id.to_owned(),
            RemoteSite {
                id: id.to_owned(),
                init,
            },
        );
        Ok(if previous.is_some() {
            InitOutcome::Updated
        } else {
            InitOutcome::Created
        })
    }

    // ---- jobs ----

    pub fn job(&self, id: &str) -> Option<JobRecord> {
        let mine = self.table().by_id.get(id).cloned();
        if self.shared.is_none() {
            return mine;
        }
        // A job this process runs is freshest in memory (progress is
        // persisted at a modest rate); any other is read from the store.
        if let Some(job) = mine.as_ref().filter(|j| !j.status.is_final()) {
            return Some(job.clone());
        }
        match self.store.load_job(id) {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!(job_id = %id, error = %e, "could not read a job");
                mine
            }
        }
    }

    pub fn jobs(&self) -> Vec<JobRecord> {
        if self.shared.is_some() {
            match self.store.load_jobs() {
                Ok(mut jobs) => {
                    let table = self.table();
                    for job in &mut jobs {
                        if let Some(mine) = table.by_id.get(&job.id)
                            && !mine.status.is_final()
                        {
                            *job = mine.clone();
                        }
                    }
                    return jobs;
                }
                Err(e) => tracing::warn!(error = %e, "could not read the jobs"),
            }
        }
        let table = self.table();
        table
            .order
            .iter()
            .filter_map(|id| table.by_id.get(id).cloned())
            .collect()
    }

    /// Counts of jobs by (mode, status), for metrics.
    pub fn count_jobs<K: std::hash::Hash + Eq>(
        &self,
        key: impl Fn(&JobRecord) -> K,
    ) -> HashMap<K, u64> {
        let mut counts = HashMap::new();
        if self.shared.is_some() {
            for job in self.jobs() {
                *counts.entry(key(&job)).or_insert(0) += 1;
            }
            return counts;
        }
        for job in self.table().by_id.values() {
            *counts.entry(key(job)).or_insert(0) += 1;
        }
        counts
    }

    /// Takes a job this process now holds (claimed from the shared store)
    /// into memory, without writing it.
    pub fn adopt(&self, job: JobRecord) {
        let mut table = self.table();
        if !table.by_id.contains_key(&job.id) {
            table.order.push(job.id.clone());
        }
        table.by_id.insert(job.id.clone(), job);
    }

    /// Drops a job this process no longer holds from memory.
    pub fn forget(&self, id: &str) {
        let mut table = self.table();
        if table.by_id.remove(id).is_some() {
            table.order.retain(|o| o != id);
        }
    }

    /// Adds a new job (persisted first). Fails if the id exists.
    pub fn insert(&self, job: JobRecord) -> Result<(), StoreError> {
        let mut table = self.table();
        if table.by_id.contains_key(&job.id) {
            return Err(StoreError::Corrupt(format!("job {} exists", job.id)));
        }
        self.store.save_job(&job)?;
        table.order.push(job.id.clone());
        table.by_id.insert(job.id.clone(), job);
        Ok(())
    }

    /// Replaces a final server-side job whose remote announces the same job
    /// again (a retry after this node answered Busy or Unavailable).
    pub fn replace(&self, job: JobRecord) -> Result<(), StoreError> {
        let mut table = self.table();
        self.store.save_job(&job)?;
        if !table.by_id.contains_key(&job.id) {
            table.order.push(job.id.clone());
        }
        table.by_id.insert(job.id.clone(), job);
        Ok(())
    }

    /// Applies `change` to a job and persists it. Returns the new record, or
    /// `None` if the job is unknown or `change` declined (returned false). A
    /// store failure is logged and the change kept in memory: the job goes on,
    /// and the next successful write carries it.
    pub fn update(
        &self,
        id: &str,
        change: impl FnOnce(&mut JobRecord) -> bool,
    ) -> Option<JobRecord> {
        let mut table = self.table();
        let job = table.by_id.get_mut(id)?;
        let mut next = job.clone();
        if !change(&mut next) {
            return None;
        }
        if let Err(e) = self.store.save_job(&next) {
            tracing::error!(job_id = %id, error = %e, "could not persist a job update");
        }
        *job = next.clone();
        Some(next)
    }

    /// Moves a job that is not final to `status` (with a history entry).
    /// Returns the record, or `None` if unknown or already final.
    pub fn transition(
        &self,
        id: &str,
        status: JobStatus,
        reason: Option<String>,
    ) -> Option<JobRecord> {
        self.update(id, |job| {
            if job.status.is_final() {
                return false;
            }
            apply_status(job, status, reason, now_millis());
            true
        })
    }

    /// Records the engine's progress, persisting it at a modest rate (each
    /// time it crosses a tenth).
    pub fn progress(&self, id: &str, percent: u8) {
        let mut table = self.table();
        let Some(job) = table.by_id.get_mut(id) else {
            return;
        };
        let percent = percent.min(100);
        if job.status.is_final() || percent <= job.progress_percent {
            return;
        }
        let persist = percent / 10 != job.progress_percent / 10;
        job.progress_percent = percent;
        if persist && let Err(e) = self.store.save_job(job) {
            tracing::warn!(job_id = %id, error = %e, "could not persist job progress");
        }
    }

    /// Records a callback delivery outcome on the job.
    pub fn delivery(&self, id: &str, delivery: &CallbackDelivery) -> Option<JobRecord> {
        self.update(id, |job| {
            job.callback_delivery = delivery.clone();
            true
        })
    }

    fn table(&self) -> std::sync::MutexGuard<'_, JobTable> {
        self.jobs.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The local site and the remotes as the store has them.
type Config = (Option<Arc<LocalState>>, BTreeMap<String, RemoteSite>);

fn load_config(store: &dyn NodeStore) -> Result<Config, StoreError> {
    let local = match store.load_local()? {
        Some(init) => Some(Arc::new(LocalState::new(init).map_err(|e| {
            StoreError::Corrupt(format!("stored local configuration: {e}"))
        })?)),
        None => None,
    };
    let remotes = store
        .load_remotes()?
        .into_iter()
        .map(|(id, init)| (id.clone(), RemoteSite { id, init }))
        .collect();
    Ok((local, remotes))
}

/// Sets a job's status with its history entry and timestamps.
pub(crate) fn apply_status(
    job: &mut JobRecord,
    status: JobStatus,
    reason: Option<String>,
    at: Millis,
) {
    job.status = status;
    match status {
        JobStatus::Running => {
            job.started.get_or_insert(at);
            job.error = None;
        }
        JobStatus::Hold => job.error = reason.clone(),
        JobStatus::Done => {
            job.finished = Some(at);
            job.progress_percent = 100;
            job.error = None;
        }
        JobStatus::Fault => {
            job.finished = Some(at);
            job.error = reason.clone();
        }
        JobStatus::Queued => {}
    }
    job.history.push(StatusChange { status, at, reason });
}
