//! Persistent state of the node, behind [`NodeStore`].
//!
//! The trait is what the rest of the node sees; `redb` (embedded, the
//! default) and PostgreSQL ([`PgStore`], `store = "postgres://…"`, for
//! several node processes sharing one state) implement it. The shared store
//! also implements [`SharedJobs`]: how those processes divide the queued
//! jobs among themselves. Every implementation seals secrets and patient
//! data with the node key ([`crate::seal`]) before they reach the disk: the
//! local configuration and remotes (they hold API keys), job inputs (query
//! records), cached databases (the site's records). Job records themselves
//! hold no secret and are stored as they are.
//!
//! Methods are synchronous and short; callers on the async runtime use
//! `tokio::task::spawn_blocking` for the large ones (job inputs, caches).

pub mod memory;
pub mod postgres;
pub mod redb;

pub use self::postgres::PgStore;
pub use self::redb::RedbStore;
pub use memory::MemoryStore;

use protocol_spec::messages::mainsel::{InitLocal, InitRemote, WireRecord};

use crate::model::{JobRecord, Millis};
use crate::seal::NodeKey;

/// `value` as JSON sealed under `key` for `ctx`: how every store keeps a
/// secret or patient data. `what` names the value in errors (never its
/// content).
pub(crate) fn seal_json<T: serde::Serialize + ?Sized>(
    key: &NodeKey,
    ctx: &[u8],
    what: &str,
    value: &T,
) -> Result<Vec<u8>, StoreError> {
    let plain = zeroize::Zeroizing::new(
        serde_json::to_vec(value)
            .map_err(|e| StoreError::Corrupt(format!("{what}: cannot serialise: {e}")))?,
    );
    Ok(key.seal(ctx, &plain))
}

/// The inverse of [`seal_json`].
pub(crate) fn open_json<T: serde::de::DeserializeOwned>(
    key: &NodeKey,
    ctx: &[u8],
    what: &str,
    sealed: &[u8],
) -> Result<T, StoreError> {
    let plain = key
        .open(ctx, sealed)
        .map_err(|_| StoreError::Unseal(what.to_string()))?;
    // serde_json's error names line and column only, never the content.
    serde_json::from_slice(&plain).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

/// What went wrong in the store. Never contains a secret or a value.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store I/O: {0}")]
    Io(String),
    #[error("stored data does not open under this node key (wrong key, or tampered): {0}")]
    Unseal(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

/// Metadata of a cached database fetched from the data service for one
/// requesting remote.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CacheMeta {
    /// The requesting remote's id.
    pub requester: String,
    pub fetched_at: Millis,
    /// `total` as the data service reported it.
    pub total: Option<u64>,
    /// `toDate` as the data service reported it, as its JSON text.
    pub to_date: Option<String>,
    pub records: u64,
}

/// The node's persistent state.
pub trait NodeStore: Send + Sync + 'static {
    /// The local configuration (`initLocal`), if any.
    fn load_local(&self) -> Result<Option<InitLocal>, StoreError>;
    fn save_local(&self, init: &InitLocal) -> Result<(), StoreError>;

    /// Every configured remote, by id.
    fn load_remotes(&self) -> Result<Vec<(String, InitRemote)>, StoreError>;
    fn save_remote(&self, id: &str, remote: &InitRemote) -> Result<(), StoreError>;

    /// Insert or replace a job (with its whole history).
    fn save_job(&self, job: &JobRecord) -> Result<(), StoreError>;
    fn load_job(&self, id: &str) -> Result<Option<JobRecord>, StoreError>;
    /// Every job, oldest first.
    fn load_jobs(&self) -> Result<Vec<JobRecord>, StoreError>;

    /// The query records of a client job (sealed at rest), kept until the
    /// job is final so a QUEUED job survives a restart.
    fn save_job_input(&self, job_id: &str, records: &[WireRecord]) -> Result<(), StoreError>;
    fn load_job_input(&self, job_id: &str) -> Result<Option<Vec<WireRecord>>, StoreError>;
    fn delete_job_input(&self, job_id: &str) -> Result<(), StoreError>;

    /// An `Idempotency-Key` (stored as a keyed hash, never in clear) and the
    /// job it created; forgotten after `expires_at`.
    fn save_idempotency(
        &self,
        key_hash: &[u8; 32],
        job_id: &str,
        expires_at: Millis,
    ) -> Result<(), StoreError>;
    fn lookup_idempotency(
        &self,
        key_hash: &[u8; 32],
        now: Millis,
    ) -> Result<Option<String>, StoreError>;

    /// The database fetched for a requester: replaces any earlier one.
    fn save_cache(&self, meta: &CacheMeta, records: &[WireRecord]) -> Result<(), StoreError>;
    fn load_cache_meta(&self, requester: &str) -> Result<Option<CacheMeta>, StoreError>;
    fn load_cache(
        &self,
        requester: &str,
    ) -> Result<Option<(CacheMeta, Vec<WireRecord>)>, StoreError>;
    fn delete_cache(&self, requester: &str) -> Result<(), StoreError>;

    /// Sealed LIDs this node obtained from a linkage service (`freshIDs`) for
    /// the records of its database, keyed by (linkage service URL, record
    /// id): the server side of a linkage job posts them in database order.
    fn load_lids(
        &self,
        ls_url: &str,
        record_ids: &[String],
    ) -> Result<Vec<Option<String>>, StoreError>;
    fn save_lids(&self, ls_url: &str, pairs: &[(String, String)]) -> Result<(), StoreError>;
}

/// The queue bounds a submission is checked against (SPEC §3): client jobs
/// that are not final, over all remotes and towards one remote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueBounds {
    pub max_total: usize,
    pub max_per_remote: usize,
}

/// What [`SharedJobs::submit`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubmitOutcome {
    /// The job and its input are stored, QUEUED, owned by no process.
    Created,
    /// The idempotency key names this earlier job; nothing was stored.
    Existing(String),
    /// The queue is full; nothing was stored.
    Full,
}

/// A job this process still holds, as the lease renewal found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub id: String,
    /// Another process asked to cancel it (`DELETE /jobs/{id}` there).
    pub cancel_requested: bool,
}

/// What several node processes sharing one store need besides
/// [`NodeStore`]: a job belongs to at most one process at a time (its
/// owner), for a lease the owner renews; a job whose lease ran out is taken
/// over by another process (SPEC §3 "Job lifecycle"). Configuration changes
/// bump a version that every process checks before it uses its copy.
pub trait SharedJobs: Send + Sync + 'static {
    /// The version of the local configuration and the remotes: changes with
    /// every `save_local` and `save_remote`, by any process.
    fn config_version(&self) -> Result<i64, StoreError>;

    /// Stores a new QUEUED client job with its input, unless the queue is
    /// full or `idempotency` (key hash, expiry) names an earlier job: one
    /// decision over every process's jobs.
    fn submit(
        &self,
        job: &JobRecord,
        input: &[WireRecord],
        bounds: QueueBounds,
        idempotency: Option<(&[u8; 32], Millis)>,
    ) -> Result<SubmitOutcome, StoreError>;

    /// Takes the oldest QUEUED client job that no process holds, towards a
    /// remote whose peer connection this process holds or may take (see
    /// [`SharedJobs::hold_peer`]).
    fn claim_next(&self) -> Result<Option<JobRecord>, StoreError>;

    /// Takes or renews this process's peer lease of `remote_id`: at most one
    /// process of a node talks to a remote at a time, because a remote keeps
    /// one connection per node (SPEC §3a). False when another live process
    /// holds it. The lease is renewed with the jobs towards that remote.
    fn hold_peer(&self, remote_id: &str) -> Result<bool, StoreError>;

    /// Takes one job that is not final, if no process holds it or its
    /// holder's lease ran out.
    fn claim(&self, id: &str) -> Result<Option<JobRecord>, StoreError>;

    /// Takes jobs that are not final and whose holder's lease ran out
    /// (a process died), except `mine` (jobs this process runs).
    fn claim_expired(&self, mine: &[String]) -> Result<Vec<JobRecord>, StoreError>;

    /// Extends the lease of `ids`; returns those this process still holds.
    fn renew(&self, ids: &[String]) -> Result<Vec<Held>, StoreError>;

    /// Gives a QUEUED job back to the queue (a process stopping).
    fn release(&self, id: &str) -> Result<(), StoreError>;

    /// Asks the process holding a job to cancel it.
    fn request_cancel(&self, id: &str) -> Result<(), StoreError>;
}
