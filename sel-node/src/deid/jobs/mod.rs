//! Asynchronous de-identification jobs (`POST /jobs`, `GET /jobs/{id}`) on
//! the de-id listener: a batch of documents is admitted into a bounded
//! queue, processed by a bounded worker pool, described by a metadata-only
//! record, and announced to a signed webhook when it ends.
//!
//! * [`model`]: the status record (what is answered, stored and sent);
//! * [`request`]: reading and checking a submission;
//! * [`service`]: admission, workers, webhooks, TTL cleanup, restart;
//! * [`store`]: the metadata store ([`JobStore`], redb and memory);
//! * [`pg_store`]: the metadata store on PostgreSQL, with the leases that let
//!   several processes share it;
//! * [`webhook`]: canonical JSON, signatures and delivery;
//! * [`routes`]: the HTTP routes.
//!
//! A job computes the transformed text of every document (so a failing
//! transformation shows as a failed document) but never returns or stores
//! it: `POST /pii/deidentify` is the synchronous call that answers with the
//! transformed text. Texts stay in memory only while their job runs.

pub mod model;
pub mod pg_store;
pub mod request;
pub mod routes;
pub mod service;
pub mod store;
pub mod webhook;

use std::path::PathBuf;
use std::time::Duration;

pub use model::{
    DeliveryError, DocumentMeta, JobRecord, JobStatus, Method, SpanMeta, WebhookDelivery,
};
pub use pg_store::PgJobStore;
pub use routes::routes;
pub use service::{JobService, JobServiceError, SubmitError};
pub use store::{DB_FILE, JobStore, JobStoreError, MemoryJobStore, RedbJobStore};
pub use webhook::{canonical_json, verify_signature};

/// Settings of the job service (the de-id listener's settings supply them).
#[derive(Debug, Clone)]
pub struct JobSettings {
    /// Jobs processed at the same time.
    pub workers: usize,
    /// Jobs admitted and waiting for a worker; beyond, `POST /jobs` is 503.
    pub queue_capacity: usize,
    /// Bytes of document text held in memory by queued and running jobs
    /// together; a job that would exceed it is refused with 503.
    pub max_pending_bytes: usize,
    /// Documents per job (422 beyond).
    pub max_documents: usize,
    /// Bytes of text per job, all documents together (422 beyond).
    pub max_job_bytes: usize,
    /// Bytes of a `POST /jobs` body (413 beyond); JSON escaping makes a
    /// body larger than its texts.
    pub max_body_bytes: usize,
    /// How long a terminal record is kept.
    pub ttl: Duration,
    /// How often expired records are deleted.
    pub cleanup_interval: Duration,
    /// Extra trusted CA certificates (PEM) for webhook receivers, beside the
    /// system roots. Verification is never switched off.
    pub webhook_ca_bundle: Option<PathBuf>,
    /// Longest one webhook attempt may take.
    pub webhook_timeout: Duration,
    /// Highest `max_attempts` a submission may ask for.
    pub webhook_max_attempts: u32,
    /// Longest wait between two attempts (and highest `backoff_seconds`).
    pub webhook_max_backoff: Duration,
}

impl Default for JobSettings {
    fn default() -> Self {
        JobSettings {
            workers: 2,
            queue_capacity: 32,
            max_pending_bytes: 256 << 20,
            max_documents: 1000,
            max_job_bytes: 16 << 20,
            max_body_bytes: 64 << 20,
            ttl: Duration::from_secs(24 * 3600),
            cleanup_interval: Duration::from_secs(60),
            webhook_ca_bundle: None,
            webhook_timeout: Duration::from_secs(10),
            webhook_max_attempts: 10,
            webhook_max_backoff: Duration::from_secs(60),
        }
    }
}

impl JobSettings {
    /// Refuses settings under which no job could ever run.
    pub fn check(&self) -> Result<(), String> {
        if self.workers == 0 {
            return Err("workers must be at least 1".into());
        }
        if self.queue_capacity == 0 {
            return Err("queue_capacity must be at least 1".into());
        }
        if self.max_documents == 0 || self.max_job_bytes == 0 || self.max_body_bytes == 0 {
            return Err("max_documents, max_job_bytes and max_body_bytes must be positive".into());
        }
        if self.max_pending_bytes < self.max_job_bytes {
            return Err("max_pending_bytes must be at least max_job_bytes".into());
        }
        if self.cleanup_interval.is_zero() {
            return Err("cleanup_interval must be positive".into());
        }
        if self.webhook_max_attempts == 0 || self.webhook_timeout.is_zero() {
            return Err("webhook_max_attempts and webhook_timeout must be positive".into());
        }
        Ok(())
    }
}
