//! The job manager: the node's state (local site, remotes, jobs), the
//! bounded queue and workers, and the two sides of a job (client: announce,
//! 2PC, linkage service, callback; server: admission, database, 2PC,
//! linkage service).
//!
//! (Signatures fixed for the REST API; the implementation is being built.)

use protocol_spec::messages::mainsel::{InitLocal, InitRemote, WireRecord};

use crate::clients::linkage::LsError;
use crate::model::{Cardinality, JobMode, JobRecord, LocalSite, RemoteSite};
use crate::peer::{ConnectionState, PeerError};

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

/// The job manager.
pub struct JobManager {
    _private: (),
}

impl JobManager {
    pub fn local(&self) -> Option<LocalSite> {
        unimplemented!("jobs")
    }
    pub fn remote(&self, _id: &str) -> Option<RemoteSite> {
        unimplemented!("jobs")
    }
    pub fn remotes(&self) -> Vec<(RemoteSite, ConnectionState)> {
        unimplemented!("jobs")
    }
    /// Validates, persists and applies `initLocal`.
    pub fn init_local(&self, _init: InitLocal) -> Result<InitOutcome, ConfigError> {
        unimplemented!("jobs")
    }
    /// Validates, persists and applies `initRemote/{id}` (the id is checked by the API).
    pub fn init_remote(&self, _id: &str, _init: InitRemote) -> Result<InitOutcome, ConfigError> {
        unimplemented!("jobs")
    }
    pub async fn test_remote(&self, _id: &str) -> Result<(), TestError> {
        unimplemented!("jobs")
    }
    pub async fn test_linkage_service(&self, _id: &str) -> Result<(), TestError> {
        unimplemented!("jobs")
    }
    /// Queues a job (QUEUED), persisting it and its input first.
    pub fn submit(&self, _job: NewJob) -> Result<Submitted, SubmitError> {
        unimplemented!("jobs")
    }
    pub fn job(&self, _id: &str) -> Option<JobRecord> {
        unimplemented!("jobs")
    }
    /// Every job id with its status, oldest first.
    pub fn jobs(&self) -> Vec<JobRecord> {
        unimplemented!("jobs")
    }
    /// Cancels a job that is not final (FAULT "cancelled"); false if unknown or final.
    pub fn cancel(&self, _id: &str) -> bool {
        unimplemented!("jobs")
    }
    pub fn metrics(&self) -> MetricsSnapshot {
        unimplemented!("jobs")
    }
}
