//! The job store: metadata of jobs, behind [`JobStore`].
//!
//! What is stored is exactly a [`JobRecord`] (and its terminal time for
//! TTL cleanup): statuses, counts, labels, offsets, confidences, SHA-256
//! digests, document ids and the webhook outcome. No text, no transformed
//! text, no matched value and no webhook secret ever reaches a store, so
//! there is nothing to seal; the records are plain JSON an operator can read.
//!
//! Methods are synchronous and short; async callers run them on a blocking
//! thread (redb calls block on disk I/O).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use super::model::JobRecord;

/// File name of the store inside the node's data directory.
pub const DB_FILE: &str = "deid-jobs.redb";

/// What went wrong in a job store. Never contains a value.
#[derive(Debug, thiserror::Error)]
pub enum JobStoreError {
    #[error("job store I/O: {0}")]
    Io(String),
    #[error("job store data is corrupt: {0}")]
    Corrupt(String),
}

/// Persistent metadata of jobs.
pub trait JobStore: Send + Sync + 'static {
    /// Insert or replace a job's record.
    fn save(&self, job: &JobRecord) -> Result<(), JobStoreError>;
    /// The record of `id`, if stored.
    fn load(&self, id: &str) -> Result<Option<JobRecord>, JobStoreError>;
    /// Every record not yet terminal (for recovery after a restart).
    fn unfinished(&self) -> Result<Vec<JobRecord>, JobStoreError>;
    /// Deletes every terminal record that finished before `cutoff_ms`
    /// (Unix milliseconds); returns how many.
    fn purge_finished_before(&self, cutoff_ms: u64) -> Result<usize, JobStoreError>;

    /// How long this process's claim on a job lasts unless renewed, for a
    /// store several processes share; `None` (the default) for a store one
    /// process owns alone, where no job can outlive its process unnoticed.
    fn lease(&self) -> Option<Duration> {
        None
    }

    /// Moves `job` (a queued job of this process, now `running`) to running:
    /// `Ok(false)` if it is no longer this process's to run (its lease ran
    /// out and another process failed it). The default saves it.
    fn claim(&self, job: &JobRecord) -> Result<bool, JobStoreError> {
        self.save(job)?;
        Ok(true)
    }

    /// Writes the current records of this process's unfinished jobs and
    /// extends their leases (every third of [`JobStore::lease`]). The
    /// default does nothing: without a lease there is nothing to renew.
    fn renew(&self, _live: &[JobRecord]) -> Result<(), JobStoreError> {
        Ok(())
    }

    /// Marks failed with `error` ([`JobRecord::abandon`]) every unfinished
    /// job that no running process works on any more, and returns how many.
    /// Called at start (`at_start`) and, with a lease, every third of it.
    /// The default, for a store one process owns, takes every unfinished
    /// job at start (the process that ran them is gone) and none later.
    fn fail_abandoned(&self, at_start: bool, error: &str) -> Result<usize, JobStoreError> {
        if !at_start {
            return Ok(0);
        }
        let mut failed = 0;
        for mut job in self.unfinished()? {
            job.abandon(error);
            self.save(&job)?;
            failed += 1;
        }
        Ok(failed)
    }
}

/// A store in memory (tests, and nodes that keep no data directory).
#[derive(Debug, Default)]
pub struct MemoryJobStore {
    jobs: Mutex<HashMap<String, JobRecord>>,
}

impl MemoryJobStore {
    pub fn new() -> MemoryJobStore {
        MemoryJobStore::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, JobRecord>> {
        // A panic while holding the lock cannot leave a half-written
        // record: inserts and removes are single operations.
        self.jobs.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl JobStore for MemoryJobStore {
    fn save(&self, job: &JobRecord) -> Result<(), JobStoreError> {
        self.lock().insert(job.id.clone(), job.clone());
        Ok(())
    }

    fn load(&self, id: &str) -> Result<Option<JobRecord>, JobStoreError> {
        Ok(self.lock().get(id).cloned())
    }

    fn unfinished(&self) -> Result<Vec<JobRecord>, JobStoreError> {
        Ok(self
            .lock()
            .values()
            .filter(|j| !j.status.is_terminal())
            .cloned()
            .collect())
    }

    fn purge_finished_before(&self, cutoff_ms: u64) -> Result<usize, JobStoreError> {
        let mut jobs = self.lock();
        let before = jobs.len();
        jobs.retain(|_, j| j.finished_ms.is_none_or(|t| t >= cutoff_ms));
        Ok(before - jobs.len())
    }
}

/// Job id → the record as JSON.
const JOBS: TableDefinition<&str, &[u8]> = TableDefinition::new("jobs");
/// Job id → Unix milliseconds of its terminal status (terminal jobs only).
const FINISHED: TableDefinition<&str, u64> = TableDefinition::new("finished");

fn io<E: Into<redb::Error>>(e: E) -> JobStoreError {
    JobStoreError::Io(e.into().to_string())
}

/// The store on redb (`deid-jobs.redb`).
pub struct RedbJobStore {
    db: Database,
    path: PathBuf,
}

impl std::fmt::Debug for RedbJobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbJobStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl RedbJobStore {
    /// Opens (creating if needed) the store at `path`.
    pub fn open(path: &Path) -> Result<RedbJobStore, JobStoreError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|e| JobStoreError::Io(format!("{}: {e}", parent.display())))?;
        }
        let db = Database::create(path).map_err(|e| {
            JobStoreError::Io(format!("{}: {}", path.display(), redb::Error::from(e)))
        })?;
        let txn = db.begin_write().map_err(io)?;
        txn.open_table(JOBS).map_err(io)?;
        txn.open_table(FINISHED).map_err(io)?;
        txn.commit().map_err(io)?;
        Ok(RedbJobStore {
            db,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn decode(bytes: &[u8], finished: Option<u64>) -> Result<JobRecord, JobStoreError> {
    let mut job: JobRecord = serde_json::from_slice(bytes)
        .map_err(|e| JobStoreError::Corrupt(format!("a job record: {e}")))?;
    job.finished_ms = finished;
    Ok(job)
}

impl JobStore for RedbJobStore {
    fn save(&self, job: &JobRecord) -> Result<(), JobStoreError> {
        let json = serde_json::to_vec(job)
            .map_err(|e| JobStoreError::Corrupt(format!("a job record: {e}")))?;
        let txn = self.db.begin_write().map_err(io)?;
        {
            let mut jobs = txn.open_table(JOBS).map_err(io)?;
            jobs.insert(job.id.as_str(), json.as_slice()).map_err(io)?;
            let mut finished = txn.open_table(FINISHED).map_err(io)?;
            match job.finished_ms {
                Some(t) if job.status.is_terminal() => {
                    finished.insert(job.id.as_str(), t).map_err(io)?;
                }
                _ => {
                    finished.remove(job.id.as_str()).map_err(io)?;
                }
            }
        }
        txn.commit().map_err(io)
    }

    fn load(&self, id: &str) -> Result<Option<JobRecord>, JobStoreError> {
        let txn = self.db.begin_read().map_err(io)?;
        let jobs = txn.open_table(JOBS).map_err(io)?;
        let Some(bytes) = jobs.get(id).map_err(io)? else {
            return Ok(None);
        };
        let finished = txn.open_table(FINISHED).map_err(io)?;
        let at = finished.get(id).map_err(io)?.map(|v| v.value());
        decode(bytes.value(), at).map(Some)
    }

    fn unfinished(&self) -> Result<Vec<JobRecord>, JobStoreError> {
        let txn = self.db.begin_read().map_err(io)?;
        let jobs = txn.open_table(JOBS).map_err(io)?;
        let finished = txn.open_table(FINISHED).map_err(io)?;
        let mut out = Vec::new();
        for entry in jobs.iter().map_err(io)? {
            let (id, bytes) = entry.map_err(io)?;
            if finished.get(id.value()).map_err(io)?.is_none() {
                let job = decode(bytes.value(), None)?;
                if !job.status.is_terminal() {
                    out.push(job);
                }
            }
        }
        Ok(out)
    }

    fn purge_finished_before(&self, cutoff_ms: u64) -> Result<usize, JobStoreError> {
        let txn = self.db.begin_write().map_err(io)?;
        let mut purged = 0;
        {
            let mut finished = txn.open_table(FINISHED).map_err(io)?;
            let expired: Vec<String> = finished
                .iter()
                .map_err(io)?
                .filter_map(|entry| match entry {
                    Ok((id, at)) if at.value() < cutoff_ms => Some(Ok(id.value().to_string())),
                    Ok(_) => None,
                    Err(e) => Some(Err(io(e))),
                })
                .collect::<Result<_, _>>()?;
            let mut jobs = txn.open_table(JOBS).map_err(io)?;
            for id in &expired {
                finished.remove(id.as_str()).map_err(io)?;
                jobs.remove(id.as_str()).map_err(io)?;
                purged += 1;
            }
        }
        txn.commit().map_err(io)?;
        Ok(purged)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::super::model::{JobStatus, Method, new_job_id};
    use super::*;

    /// The contract every implementation must meet.
    pub(crate) fn exercise(store: &dyn JobStore) {
        let mut queued = JobRecord::queued(new_job_id(), Method::Mask, 1, false);
        let mut done = JobRecord::queued(new_job_id(), Method::Redact, 2, true);
        store.save(&queued).unwrap();
        store.save(&done).unwrap();
        assert_eq!(store.unfinished().unwrap().len(), 2);
        done.finish(JobStatus::Done, None);
        done.finished_ms = Some(1_000);
        store.save(&done).unwrap();
        assert_eq!(store.load(&done.id).unwrap().unwrap(), done);
        let open = store.unfinished().unwrap();
        assert_eq!(open.len(), 1);
        assert_eq!(open[0].id, queued.id);

        assert_eq!(store.purge_finished_before(1_000).unwrap(), 0);
        assert_eq!(store.purge_finished_before(1_001).unwrap(), 1);
        assert!(store.load(&done.id).unwrap().is_none());
        // Unfinished jobs never expire.
        assert_eq!(store.purge_finished_before(u64::MAX).unwrap(), 0);
        queued.status = JobStatus::Running;
        store.save(&queued).unwrap();
        assert_eq!(
            store.load(&queued.id).unwrap().unwrap().status,
            JobStatus::Running
        );
        assert!(store.load(&new_job_id()).unwrap().is_none());
    }

    #[test]
    fn memory_store() {
        exercise(&MemoryJobStore::new());
    }

    #[test]
    fn redb_store_and_reopen() {
        let dir = std::env::temp_dir().join(format!("sel-deid-jobs-store-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join(DB_FILE);
        let store = RedbJobStore::open(&path).unwrap();
        exercise(&store);
        let kept = store.unfinished().unwrap();
        drop(store);
        let store = RedbJobStore::open(&path).unwrap();
        assert_eq!(store.unfinished().unwrap(), kept);
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
