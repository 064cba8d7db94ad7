//! The job manager: the node's state (local site, remotes, jobs), the
//! bounded queue and workers, and the two sides of a job (client: announce,
//! 2PC, linkage service, callback; server: admission, database, 2PC,
//! linkage service).
//!
//! Layout: [`state`] (local site, remotes, job table, persistence and
//! restart), [`queue`] (bounded queue and worker pool), [`client`] (the
//! asking side of a job), [`server`] (the answering side: the
//! [`IncomingJobs`](crate::model::IncomingJobs) the peer channel calls),
//! [`lids`] (the server's LIDs from its linkage service), [`mpc`] (the one
//! call into the 2PC engine), [`metrics`].
//!
//! Construction is in two steps because the peer channel and the job
//! manager need each other: [`JobManager::new`] loads the state (the REST
//! API can serve at once; submitted jobs wait QUEUED), then
//! [`JobManager::start`] hands over the services and the workers begin.

mod client;
mod lids;
mod metrics;
mod mpc;
mod queue;
mod server;
mod shared;
mod state;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use protocol_spec::messages::mainsel::{InitLocal, InitRemote, JobStatus, WireRecord};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::clients::callback::CallbackClient;
use crate::clients::dataservice::DataService;
use crate::clients::linkage::{LinkageClient, LsError};
use crate::model::{
    CallbackDelivery, Cardinality, JobMode, JobRecord, JobSide, LocalSite, RemoteDirectory,
    RemoteSite, now_millis,
};
use crate::peer::{ConnectionState, PeerError, PeerHub};
use crate::seal::NodeKey;
use crate::settings::Settings;
use crate::store::{NodeStore, QueueBounds, SharedJobs, StoreError, SubmitOutcome};

use metrics::Metrics;
use queue::{Queue, Slot, Workers};
use state::State;

/// Whether an init call created or replaced the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitOutcome {
    Created,
    Updated,
}

/// Why a configuration call failed (mapped to SPEC §3 statuses by the API).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// 400: the body breaks a rule; the message names it.
    #[error("{0}")]
    Invalid(String),
    /// 500: the store failed.
    #[error("store: {0}")]
    Store(String),
}

/// Why `/test` or `/testLS` failed (mapped to 404 / 409 / 502 by the API).
#[derive(Debug, thiserror::Error)]
pub enum TestError {
    #[error("unknown remote \"{0}\"")]
    UnknownRemote(String),
    #[error("no linkage service is configured for remote \"{0}\"")]
    NoLinkageService(String),
    #[error(transparent)]
    Peer(#[from] PeerError),
    #[error(transparent)]
    LinkageService(#[from] LsError),
}

/// A job to create, from a validated REST request.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub remote_id: String,
    pub mode: JobMode,
    pub cardinality: Cardinality,
    pub callback_url: String,
    /// Already checked against the configuration by the API (names and values).
    pub records: Vec<WireRecord>,
    /// The `Idempotency-Key` header, if sent.
    pub idempotency_key: Option<String>,
}

/// Why a job was not created (mapped to SPEC §3 statuses by the API).
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error("unknown remote \"{0}\"")]
    UnknownRemote(String),
    /// 403
    #[error("matching is not allowed with remote \"{0}\"")]
    MatchingNotAllowed(String),
    /// 409
    #[error("remote \"{0}\" has no linkage service: linkage jobs are not possible")]
    NoLinkageService(String),
    /// 400
    #[error("too many records: {count} (this node accepts at most {limit})")]
    TooManyRecords { count: u64, limit: u64 },
    /// 503 with `Retry-After`.
    #[error("the job queue is full; retry in {retry_after_secs} s")]
    QueueFull { retry_after_secs: u64 },
    /// 500
    #[error("store: {0}")]
    Store(String),
}

/// A created (or, with an idempotency key, earlier-created) job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submitted {
    pub job_id: String,
    /// False when an `Idempotency-Key` matched an earlier job.
    pub created: bool,
}

/// Counters for `/metrics`.
#[derive(Debug, Clone, Default)]
pub struct MetricsSnapshot {
    /// (mode, status) → count of jobs.
    pub jobs: Vec<(JobMode, &'static str, u64)>,
    pub comparisons_total: u64,
    pub peer_bytes_sent: u64,
    pub peer_bytes_received: u64,
    /// Sum and count of job durations and 2PC durations, in seconds.
    pub job_seconds_sum: f64,
    pub job_seconds_count: u64,
    pub mpc_seconds_sum: f64,
    pub mpc_seconds_count: u64,
    pub callback_failures_total: u64,
    pub data_service_fetch_seconds_sum: f64,
    pub data_service_fetch_count: u64,
}

/// The services a running job uses; handed to [`JobManager::start`].
#[derive(Clone)]
pub struct Services {
    pub peer: Arc<PeerHub>,
    pub data: Arc<DataService>,
    pub linkage: Arc<LinkageClient>,
    pub callback: Arc<CallbackClient>,
}

/// A job that is not final, as the manager tracks it in memory.
struct Active {
    side: JobSide,
    /// Fired by [`JobManager::cancel`] and by shutdown.
    token: CancellationToken,
    /// The remote as it was when the job was queued ("jobs already queued
    /// keep the old connection"); `None` after a restart (the current one).
    remote: Option<RemoteSite>,
    /// The job's place in the bounded queue (client jobs).
    _slot: Option<Slot>,
    /// The worker a shared node's process claimed the job with.
    _claim: Option<tokio::sync::OwnedSemaphorePermit>,
    /// Whether a worker task has been spawned for it.
    spawned: bool,
}

/// The job manager.
pub struct JobManager {
    me: Weak<JobManager>,
    settings: Settings,
    state: State,
    key: Arc<NodeKey>,
    queue: Queue,
    workers: Workers,
    /// Server-side jobs computing at once (`max_incoming_jobs`).
    incoming: Arc<Semaphore>,
    services: OnceLock<Services>,
    /// Set when several processes share the store (`store = "postgres://…"`).
    shared: Option<shared::Shared>,
    active: Mutex<HashMap<String, Active>>,
    pending: Mutex<HashMap<String, server::Pending>>,
    /// Client jobs a restart interrupted: their callbacks get the error
    /// once [`JobManager::start`] has the services to send it.
    untold: Mutex<Vec<JobRecord>>,
    /// Serialises `submit`, so two requests with one `Idempotency-Key`
    /// cannot both create a job.
    submit_lock: Mutex<()>,
    /// Fired on shutdown: workers stop taking work.
    shutdown: CancellationToken,
    metrics: Metrics,
    /// Fires [`JobManager::released`] when the manager is dropped. Fields
    /// drop in declaration order, so this one, last, fires after the state
    /// and the services (and with them the store) are gone.
    _released: tokio_util::sync::DropGuard,
    released: CancellationToken,
}

/// The context of the keyed hash of an `Idempotency-Key`.
const IDEMPOTENCY_CONTEXT: &[u8] = b"sel-node/idempotency-key/v1";

impl JobManager {
    /// Loads the node's state from `store`. Jobs a restart interrupted go
    /// to FAULT "node restarted"; QUEUED jobs wait for [`JobManager::start`].
    pub fn new(
        settings: Settings,
        store: Arc<dyn NodeStore>,
        key: Arc<NodeKey>,
    ) -> Result<Arc<JobManager>, StoreError> {
        let (state, recovered) = State::load(store)?;
        if recovered.interrupted > 0 {
            tracing::warn!(
                jobs = recovered.interrupted,
                "jobs interrupted by a restart are now FAULT"
            );
        }
        let queue = Queue::new(
            settings.max_queued_jobs,
            settings.max_queued_jobs_per_remote,
        );
        let mut active = HashMap::new();
        for job in recovered.queued {
            active.insert(
                job.id.clone(),
                Active {
                    side: job.side,
                    token: CancellationToken::new(),
                    remote: None,
                    _slot: Some(queue.reserve_anyway(&job.remote_id)),
                    _claim: None,
                    spawned: false,
                },
            );
        }
        let released = CancellationToken::new();
        Ok(Arc::new_cyclic(|me| JobManager {
            me: me.clone(),
            workers: Workers::new(settings.workers, settings.workers_per_remote),
            incoming: Arc::new(Semaphore::new(settings.max_incoming_jobs.max(1))),
            settings,
            state,
            key,
            queue,
            services: OnceLock::new(),
            shared: None,
            active: Mutex::new(active),
            pending: Mutex::default(),
            untold: Mutex::new(recovered.untold),
            submit_lock: Mutex::default(),
            shutdown: CancellationToken::new(),
            metrics: Metrics::default(),
            _released: released.clone().drop_guard(),
            released,
        }))
    }

    /// A manager for one of several processes sharing `store` (which is
    /// also `shared`): loads the configuration; the jobs stay in the store
    /// and are claimed once [`JobManager::start`] runs. Jobs a dead process
    /// held are taken over when their `lease` runs out.
    pub fn new_shared(
        settings: Settings,
        store: Arc<dyn NodeStore>,
        shared: Arc<dyn SharedJobs>,
        lease: Duration,
        key: Arc<NodeKey>,
    ) -> Result<Arc<JobManager>, StoreError> {
        let state = State::load_shared(store, shared.clone())?;
        let queue = Queue::new(
            settings.max_queued_jobs,
            settings.max_queued_jobs_per_remote,
        );
        let released = CancellationToken::new();
        Ok(Arc::new_cyclic(|me| JobManager {
            me: me.clone(),
            workers: Workers::new(settings.workers, settings.workers_per_remote),
            incoming: Arc::new(Semaphore::new(settings.max_incoming_jobs.max(1))),
            shared: Some(shared::Shared {
                store: shared,
                lease,
                claims: Arc::new(Semaphore::new(settings.workers.max(1))),
                wake: Arc::default(),
            }),
            settings,
            state,
            key,
            queue,
            services: OnceLock::new(),
            active: Mutex::default(),
            pending: Mutex::default(),
            untold: Mutex::default(),
            submit_lock: Mutex::default(),
            shutdown: CancellationToken::new(),
            metrics: Metrics::default(),
            _released: released.clone().drop_guard(),
            released,
        }))
    }

    /// Hands over the services and starts the workers: every QUEUED job
    /// (also those from before a restart) runs, oldest first. Calling it a
    /// second time changes nothing.
    pub fn start(&self, services: Services) {
        if self.services.set(services).is_err() {
            tracing::warn!("job manager started twice; the first services stay");
            return;
        }
        let mut ids: Vec<(u64, String)> = {
            let mut active = self.active_jobs();
            active
                .iter_mut()
                .filter(|(_, a)| a.side == JobSide::Client && !a.spawned)
                .map(|(id, a)| {
                    a.spawned = true;
                    id.clone()
                })
                .filter_map(|id| self.state.job(&id).map(|j| (j.created, id)))
                .collect()
        };
        ids.sort();
        for (_, id) in ids {
            self.spawn_client(id);
        }
        self.start_shared();
        // A job a restart interrupted ends like any other FAULT: its
        // callback gets the reason, or its caller would wait for ever.
        let untold = std::mem::take(&mut *self.untold.lock().unwrap_or_else(|e| e.into_inner()));
        for job in untold {
            self.deliver(job, serde_json::json!({ "error": state::RESTART_REASON }));
        }
    }

    /// Stops taking work and cancels every job that is not final (they go
    /// to FAULT "node shutting down" only if they were computing; QUEUED
    /// jobs stay QUEUED and run after the next start).
    pub fn shutdown(&self) {
        self.shutdown.cancel();
    }

    /// Fired once the manager and everything it holds (the store among
    /// them) have been dropped: a stop waits for it before the store may be
    /// opened again.
    pub fn released(&self) -> CancellationToken {
        self.released.clone()
    }

    pub fn local(&self) -> Option<LocalSite> {
        self.state.local()
    }

    pub fn remote(&self, id: &str) -> Option<RemoteSite> {
        self.state.remote(id)
    }

    pub fn remotes(&self) -> Vec<(RemoteSite, ConnectionState)> {
        self.state
            .remotes()
            .into_iter()
            .map(|r| {
                let conn = match self.services.get() {
                    Some(s) => s.peer.connection_state(&r.id),
                    None => ConnectionState::NotConnected,
                };
                (r, conn)
            })
            .collect()
    }

    /// Since when the connection to `remote_id` has been down (see
    /// [`PeerHub::down_since`]); `None` while up, never tried, or before start.
    pub fn remote_down_since(&self, remote_id: &str) -> Option<crate::model::Millis> {
        self.services.get()?.peer.down_since(remote_id)
    }

    /// Validates, persists and applies `initLocal`.
    pub fn init_local(&self, init: InitLocal) -> Result<InitOutcome, ConfigError> {
        self.state.init_local(init)
    }

    /// Validates, persists and applies `initRemote/{id}` (the id is checked by the API).
    pub fn init_remote(&self, id: &str, init: InitRemote) -> Result<InitOutcome, ConfigError> {
        self.state.init_remote(id, init)
    }

    pub async fn test_remote(&self, id: &str) -> Result<(), TestError> {
        let remote = self
            .state
            .remote(id)
            .ok_or_else(|| TestError::UnknownRemote(id.to_owned()))?;
        if !self.may_talk_to(id) {
            return Err(TestError::Peer(PeerError::Local(format!(
                "another process of this node holds the connection to remote \"{id}\" now; \
                 try again when its jobs are done"
            ))));
        }
        let services = self.services()?;
        services.peer.test(&remote).await?;
        Ok(())
    }

    pub async fn test_linkage_service(&self, id: &str) -> Result<(), TestError> {
        let remote = self
            .state
            .remote(id)
            .ok_or_else(|| TestError::UnknownRemote(id.to_owned()))?;
        let ls = remote
            .init
            .linkage_service
            .as_ref()
            .ok_or_else(|| TestError::NoLinkageService(id.to_owned()))?;
        let services = self.services()?;
        services.linkage.test(ls).await?;
        Ok(())
    }

    /// Queues a job (QUEUED), persisting it and its input first.
    pub fn submit(&self, job: NewJob) -> Result<Submitted, SubmitError> {
        let _serial = self.submit_lock.lock().unwrap_or_else(|e| e.into_inner());
        let store_err = |e: StoreError| SubmitError::Store(e.to_string());
        let local = self.state.local_state().ok_or_else(|| {
            SubmitError::Store("the node has not been initialised (PUT /initLocal first)".into())
        })?;
        let remote = self
            .state
            .remote(&job.remote_id)
            .ok_or_else(|| SubmitError::UnknownRemote(job.remote_id.clone()))?;
        match job.mode {
            JobMode::Matching if !remote.init.matching_allowed => {
                return Err(SubmitError::MatchingNotAllowed(remote.id));
            }
            JobMode::Linkage if remote.init.linkage_service.is_none() => {
                return Err(SubmitError::NoLinkageService(remote.id));
            }
            _ => {}
        }
        let count = job.records.len() as u64;
        if count > self.settings.max_query_records {
            return Err(SubmitError::TooManyRecords {
                count,
                limit: self.settings.max_query_records,
            });
        }
        let now = now_millis();
        let key_hash = job
            .idempotency_key
            .as_ref()
            .map(|k| self.key.mac(IDEMPOTENCY_CONTEXT, k.as_bytes()));
        if let Some(shared) = &self.shared {
            let record = self.new_client_record(&job, &remote, &local, now);
            let id = record.id.clone();
            let ttl = self.settings.idempotency_ttl.as_millis() as u64;
            let bounds = QueueBounds {
                max_total: self.settings.max_queued_jobs.max(1),
                max_per_remote: self.settings.max_queued_jobs_per_remote.max(1),
            };
            let idempotency = key_hash.as_ref().map(|h| (h, now.saturating_add(ttl)));
            return match shared
                .store
                .submit(&record, &job.records, bounds, idempotency)
                .map_err(store_err)?
            {
                SubmitOutcome::Created => {
                    tracing::info!(job_id = %id, remote = %job.remote_id, mode = ?job.mode, records = count, "job queued");
                    shared.wake.notify_one();
                    Ok(Submitted {
                        job_id: id,
                        created: true,
                    })
                }
                SubmitOutcome::Existing(first) => Ok(Submitted {
                    job_id: first,
                    created: false,
                }),
                SubmitOutcome::Full => Err(SubmitError::QueueFull {
                    retry_after_secs: self.retry_after_secs(),
                }),
            };
        }
        if let Some(hash) = &key_hash
            && let Some(first) = self
                .state
                .store()
                .lookup_idempotency(hash, now)
                .map_err(store_err)?
            && self.state.job(&first).is_some()
        {
            return Ok(Submitted {
                job_id: first,
                created: false,
            });
        }
        let slot = self
            .queue
            .try_reserve(&remote.id)
            .ok_or(SubmitError::QueueFull {
                retry_after_secs: self.retry_after_secs(),
            })?;
        let record = self.new_client_record(&job, &remote, &local, now);
        let id = record.id.clone();
        // The input first: a job record never exists without its records.
        let store = self.state.store();
        store.save_job_input(&id, &job.records).map_err(store_err)?;
        if let Err(e) = self.state.insert(record) {
            let _ = store.delete_job_input(&id);
            return Err(store_err(e));
        }
        if let Some(hash) = &key_hash {
            let ttl = self.settings.idempotency_ttl.as_millis() as u64;
            if let Err(e) = store.save_idempotency(hash, &id, now.saturating_add(ttl)) {
                // The job exists and will run; only a retry would duplicate it.
                tracing::error!(job_id = %id, error = %e, "could not record the idempotency key");
            }
        }
        let spawn = self.services.get().is_some();
        self.active_jobs().insert(
            id.clone(),
            Active {
                side: JobSide::Client,
                token: CancellationToken::new(),
                remote: Some(remote),
                _slot: Some(slot),
                _claim: None,
                spawned: spawn,
            },
        );
        tracing::info!(job_id = %id, remote = %job.remote_id, mode = ?job.mode, records = count, "job queued");
        if spawn {
            self.spawn_client(id.clone());
        }
        Ok(Submitted {
            job_id: id,
            created: true,
        })
    }

    /// The QUEUED record of a new client job.
    fn new_client_record(
        &self,
        job: &NewJob,
        remote: &RemoteSite,
        local: &state::LocalState,
        now: crate::model::Millis,
    ) -> JobRecord {
        JobRecord {
            id: new_job_id(),
            remote_id: remote.id.clone(),
            mode: job.mode,
            side: JobSide::Client,
            cardinality: job.cardinality,
            status: JobStatus::Queued,
            progress_percent: 0,
            created: now,
            started: None,
            finished: None,
            error: None,
            callback_url: Some(job.callback_url.clone()),
            callback_delivery: CallbackDelivery::default(),
            query_records: job.records.len() as u64,
            database_records: None,
            config_fingerprint: local.fingerprint.clone(),
            history: vec![crate::model::StatusChange {
                status: JobStatus::Queued,
                at: now,
                reason: None,
            }],
            match_counts: None,
        }
    }

    pub fn job(&self, id: &str) -> Option<JobRecord> {
        self.state.job(id)
    }

    /// Every job id with its status, oldest first.
    pub fn jobs(&self) -> Vec<JobRecord> {
        self.state.jobs()
    }

    /// Cancels a job that is not final (FAULT "cancelled"); false if unknown or final.
    pub fn cancel(&self, id: &str) -> bool {
        let Some(before) = self.state.job(id) else {
            return false;
        };
        if before.status.is_final() {
            return false;
        }
        let was_computing = before.status != JobStatus::Queued || before.side == JobSide::Server;
        let tracked = self.active_jobs().get(id).map(|a| a.token.clone());
        if tracked.is_none()
            && let Some(shared) = &self.shared
        {
            return self.cancel_shared(shared, id);
        }
        let Some(active) = tracked else {
            // Not tracked (cannot happen for a non-final job): record it anyway.
            self.finish(id, Err("cancelled".into()));
            return true;
        };
        active.cancel();
        if was_computing && let Some(s) = self.services.get() {
            s.peer.cancel_job(&before.remote_id, id);
        }
        self.finish(id, Err("cancelled".into()));
        true
    }

    pub fn metrics(&self) -> MetricsSnapshot {
        let counts = self.state.count_jobs(|j| (j.mode, j.status.as_str()));
        let mut jobs: Vec<(JobMode, &'static str, u64)> =
            counts.into_iter().map(|((m, s), n)| (m, s, n)).collect();
        jobs.sort_by_key(|(m, s, _)| (*m == JobMode::Matching, *s));
        let t = self.metrics.totals();
        // The peer channel counts the bytes of its live connections (a
        // reconnection starts from zero, which Prometheus reads as a reset).
        let (mut sent, mut received) = (0, 0);
        if let Some(s) = self.services.get() {
            for remote in self.state.remotes() {
                if let Some(w) = s.peer.wire_stats(&remote.id) {
                    sent += w.bytes_written;
                    received += w.bytes_read;
                }
            }
        }
        MetricsSnapshot {
            jobs,
            comparisons_total: t.comparisons,
            peer_bytes_sent: sent,
            peer_bytes_received: received,
            job_seconds_sum: t.job.0,
            job_seconds_count: t.job.1,
            mpc_seconds_sum: t.mpc.0,
            mpc_seconds_count: t.mpc.1,
            callback_failures_total: t.callback_failures,
            data_service_fetch_seconds_sum: t.fetch.0,
            data_service_fetch_count: t.fetch.1,
        }
    }

    // ---- shared by the client and server sides ----

    fn services(&self) -> Result<&Services, PeerError> {
        self.services
            .get()
            .ok_or_else(|| PeerError::Local("the node is starting".into()))
    }

    fn active_jobs(&self) -> std::sync::MutexGuard<'_, HashMap<String, Active>> {
        self.active.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How long a client should wait after a full queue: about one mean
    /// job duration, within 1 s ..= 5 min.
    fn retry_after_secs(&self) -> u64 {
        let mean = self.metrics.mean_job_seconds().unwrap_or(10.0);
        (mean.ceil() as u64).clamp(1, 300)
    }

    /// Ends a job: DONE with the callback body, or FAULT with the reason
    /// (the callback gets `{"error": reason}`). Does nothing if the job is
    /// already final (e.g. cancelled meanwhile).
    fn finish(&self, id: &str, outcome: Result<serde_json::Value, String>) {
        let (status, reason) = match &outcome {
            Ok(_) => (JobStatus::Done, None),
            Err(reason) => (JobStatus::Fault, Some(reason.clone())),
        };
        let Some(job) = self.state.transition(id, status, reason) else {
            return;
        };
        self.active_jobs().remove(id);
        let created = job.created;
        self.metrics
            .job_done(Duration::from_millis(now_millis().saturating_sub(created)));
        match &outcome {
            Ok(_) => tracing::info!(job_id = %id, "job done"),
            Err(reason) => tracing::warn!(job_id = %id, %reason, "job failed"),
        }
        if job.side == JobSide::Client {
            if let Err(e) = self.state.store().delete_job_input(id) {
                tracing::warn!(job_id = %id, error = %e, "could not delete a job's input");
            }
            let body = match outcome {
                Ok(body) => body,
                Err(reason) => serde_json::json!({ "error": reason }),
            };
            self.deliver(job, body);
        }
    }
}

/// The job manager as the peer channel sees it. The manager holds the peer
/// channel (in its [`Services`]), so the peer channel holds only this weak
/// handle: a stopped node is dropped whole and its store closes.
pub struct PeerSide(Weak<JobManager>);

impl JobManager {
    /// The directory and incoming-job handler to give [`PeerHub::start`].
    pub fn peer_side(self: &Arc<Self>) -> Arc<PeerSide> {
        Arc::new(PeerSide(Arc::downgrade(self)))
    }
}

impl RemoteDirectory for PeerSide {
    fn local(&self) -> Option<LocalSite> {
        self.0.upgrade().and_then(|m| m.state.local())
    }

    /// On a shared node, a remote whose peer connection another process
    /// holds is not offered here: its handshake is refused and this
    /// process does not re-dial it (SPEC §3a).
    fn remote(&self, id: &str) -> Option<RemoteSite> {
        let m = self.0.upgrade()?;
        let remote = m.state.remote(id)?;
        m.may_talk_to(id).then_some(remote)
    }
}

#[async_trait::async_trait]
impl crate::model::IncomingJobs for PeerSide {
    async fn accept(
        &self,
        remote_id: &str,
        announce: &crate::model::Announce,
    ) -> Result<crate::model::Accepted, crate::model::Refusal> {
        match self.0.upgrade() {
            Some(m) => m.accept(remote_id, announce).await,
            None => Err(crate::model::Refusal::Unavailable(
                "the node is shutting down".into(),
            )),
        }
    }

    async fn run(
        &self,
        remote_id: &str,
        announce: crate::model::Announce,
        channel: mpc_core::channel::MuxSession,
        ot: std::sync::Arc<mpc_core::epilink::PeerOt>,
        cancel: CancellationToken,
    ) {
        if let Some(m) = self.0.upgrade() {
            m.run(remote_id, announce, channel, ot, cancel).await;
        }
    }
}

impl RemoteDirectory for JobManager {
    fn local(&self) -> Option<LocalSite> {
        self.state.local()
    }

    fn remote(&self, id: &str) -> Option<RemoteSite> {
        self.state.remote(id)
    }
}

/// A fresh job id: 128 random bits, URL-safe base64 (22 characters of
/// `[A-Za-z0-9_-]`, never `list`).
fn new_job_id() -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 16]>())
}

/// Whether a job id announced by a remote has the form of SPEC §3.
fn valid_job_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id != "list"
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}
