//! Job metadata on PostgreSQL (`store = "postgres://…"`), shared by every
//! de-id service process on the database.
//!
//! A job's texts (and its webhook secret) live only in the memory of the
//! process that admitted it, as the reference promises ("raw submitted text
//! is not written to the job store"), so that process is the only one that
//! can run it. The row records which process that is (`owner`, random per
//! store) and until when its claim holds (`lease_until`): the owner extends
//! the lease of its unfinished jobs every third of the lease
//! ([`JobStore::renew`]), and writes their progress at the same time. A
//! process that dies stops renewing; once the lease has run out, any other
//! process marks the job failed with "service restarted"
//! ([`JobStore::fail_abandoned`], rows taken `FOR UPDATE SKIP LOCKED`, so
//! two sweepers never fail one job twice) and clears the owner, so a late
//! write by a stalled owner changes nothing. Going from queued to running is
//! a conditional claim ([`JobStore::claim`]): a job is run at most once, and
//! never after it was failed.

use std::time::Duration;

use crate::deid::pg_schema::row_err;
use crate::pg::{Pg, PgError};

use super::model::{JobRecord, JobStatus};
use super::store::{JobStore, JobStoreError};

/// How long a claim lasts unless renewed, by default.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);

/// The job store on PostgreSQL.
pub struct PgJobStore {
    pg: Pg,
    /// Names this process's claims; random, so a restarted process never
    /// mistakes its predecessor's jobs for its own.
    owner: String,
    lease: Duration,
}

impl std::fmt::Debug for PgJobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgJobStore")
            .field("database", &self.pg.display_url())
            .field("lease", &self.lease)
            .finish_non_exhaustive()
    }
}

fn io(e: PgError) -> JobStoreError {
    JobStoreError::Io(e.to_string())
}

fn encode(job: &JobRecord) -> Result<String, JobStoreError> {
    serde_json::to_string(job).map_err(|e| JobStoreError::Corrupt(format!("a job record: {e}")))
}

fn decode(json: &str, finished: Option<i64>) -> Result<JobRecord, JobStoreError> {
    let mut job: JobRecord = serde_json::from_str(json)
        .map_err(|e| JobStoreError::Corrupt(format!("a job record: {e}")))?;
    job.finished_ms = finished.and_then(|t| u64::try_from(t).ok());
    Ok(job)
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

impl PgJobStore {
    /// The store on `pg` (de-id tables migrated), claiming jobs for
    /// `lease` at a time ([`DEFAULT_LEASE`] is the service's).
    pub fn new(pg: Pg, lease: Duration) -> PgJobStore {
        PgJobStore {
            pg,
            owner: super::model::hex(&rand::random::<[u8; 16]>()),
            lease: lease.max(Duration::from_millis(30)),
        }
    }
}

impl JobStore for PgJobStore {
    fn save(&self, job: &JobRecord) -> Result<(), JobStoreError> {
        let json = encode(job)?;
        let status = job.status.as_str();
        let finished = job
            .finished_ms
            .filter(|_| job.status.is_terminal())
            .map(|t| i64::try_from(t).unwrap_or(i64::MAX));
        let (id, owner, lease) = (job.id.clone(), self.owner.clone(), millis(self.lease));
        self.pg
            .run(move |client| async move {
                // Only the owner writes an existing row: once another
                // process failed the job, the owner's late writes are void.
                let statement = client
                    .prepare_cached(
                        "INSERT INTO deid_jobs (id, status, record, finished_ms, owner, lease_until)
                         VALUES ($1, $2, $3, $4, $5,
                                 CASE WHEN $4::bigint IS NULL
                                      THEN now() + make_interval(secs => $6::float8 / 1000)
                                 END)
                         ON CONFLICT (id) DO UPDATE SET
                             status = EXCLUDED.status, record = EXCLUDED.record,
                             finished_ms = EXCLUDED.finished_ms,
                             lease_until = EXCLUDED.lease_until
                         WHERE deid_jobs.owner = EXCLUDED.owner",
                    )
                    .await?;
                client
                    .execute(
                        &statement,
                        &[&id, &status, &json, &finished, &owner, &lease],
                    )
                    .await?;
                Ok(())
            })
            .map_err(io)
    }

    fn load(&self, id: &str) -> Result<Option<JobRecord>, JobStoreError> {
        let id = id.to_owned();
        let row: Option<(String, Option<i64>)> = self
            .pg
            .run(move |client| async move {
                let statement = client
                    .prepare_cached("SELECT record, finished_ms FROM deid_jobs WHERE id = $1")
                    .await?;
                match client.query_opt(&statement, &[&id]).await? {
                    Some(r) => Ok(Some((
                        r.try_get(0).map_err(row_err)?,
                        r.try_get(1).map_err(row_err)?,
                    ))),
                    None => Ok(None),
                }
            })
            .map_err(io)?;
        row.map(|(json, finished)| decode(&json, finished))
            .transpose()
    }

    fn unfinished(&self) -> Result<Vec<JobRecord>, JobStoreError> {
        let rows: Vec<String> = self
            .pg
            .run(|client| async move {
                let rows = client
                    .query(
                        "SELECT record FROM deid_jobs WHERE status IN ('queued', 'running')",
                        &[],
                    )
                    .await?;
                rows.iter().map(|r| r.try_get(0).map_err(row_err)).collect()
            })
            .map_err(io)?;
        rows.iter().map(|json| decode(json, None)).collect()
    }

    fn purge_finished_before(&self, cutoff_ms: u64) -> Result<usize, JobStoreError> {
        let cutoff = i64::try_from(cutoff_ms).unwrap_or(i64::MAX);
        self.pg
            .run(move |client| async move {
                let n = client
                    .execute(
                        "DELETE FROM deid_jobs WHERE finished_ms IS NOT NULL AND finished_ms < $1",
                        &[&cutoff],
                    )
                    .await?;
                Ok(n as usize)
            })
            .map_err(io)
    }

    fn lease(&self) -> Option<Duration> {
        Some(self.lease)
    }

    fn claim(&self, job: &JobRecord) -> Result<bool, JobStoreError> {
        let json = encode(job)?;
        let (id, owner, lease) = (job.id.clone(), self.owner.clone(), millis(self.lease));
        self.pg
            .run(move |client| async move {
                let statement = client
                    .prepare_cached(
                        "UPDATE deid_jobs SET status = 'running', record = $2,
                             lease_until = now() + make_interval(secs => $4::float8 / 1000)
                         WHERE id = (SELECT id FROM deid_jobs
                                     WHERE id = $1 AND owner = $3 AND status = 'queued'
                                     FOR UPDATE SKIP LOCKED)",
                    )
                    .await?;
                let n = client
                    .execute(&statement, &[&id, &json, &owner, &lease])
                    .await?;
                Ok(n == 1)
            })
            .map_err(io)
    }

    fn renew(&self, live: &[JobRecord]) -> Result<(), JobStoreError> {
        let mut ids = Vec::new();
        let mut statuses = Vec::new();
        let mut records = Vec::new();
        for job in live.iter().filter(|j| !j.status.is_terminal()) {
            ids.push(job.id.clone());
            statuses.push(job.status.as_str().to_owned());
            records.push(encode(job)?);
        }
        if ids.is_empty() {
            return Ok(());
        }
        let (owner, lease) = (self.owner.clone(), millis(self.lease));
        self.pg
            .run(move |client| async move {
                client
                    .execute(
                        "UPDATE deid_jobs SET status = m.s, record = m.r,
                             lease_until = now() + make_interval(secs => $5::float8 / 1000)
                         FROM unnest($1::text[], $2::text[], $3::text[]) AS m(id, s, r)
                         WHERE deid_jobs.id = m.id AND deid_jobs.owner = $4
                           AND deid_jobs.status IN ('queued', 'running')",
                        &[&ids, &statuses, &records, &owner, &lease],
                    )
                    .await?;
                Ok(())
            })
            .map_err(io)
    }

    fn fail_abandoned(&self, _at_start: bool, error: &str) -> Result<usize, JobStoreError> {
        let error = error.to_owned();
        let outcome: Result<Result<usize, JobStoreError>, PgError> =
            self.pg.run(move |mut client| async move {
                let tx = client.transaction().await?;
                let rows = tx
                    .query(
                        "SELECT id, record FROM deid_jobs
                         WHERE status IN ('queued', 'running')
                           AND (lease_until IS NULL OR lease_until < now())
                         FOR UPDATE SKIP LOCKED",
                        &[],
                    )
                    .await?;
                let mut failed = 0;
                for row in &rows {
                    let id: String = row.try_get(0).map_err(row_err)?;
                    let json: String = row.try_get(1).map_err(row_err)?;
                    let mut job = match decode(&json, None) {
                        Ok(job) => job,
                        Err(e) => return Ok(Err(e)),
                    };
                    job.abandon(&error);
                    let json = match encode(&job) {
                        Ok(json) => json,
                        Err(e) => return Ok(Err(e)),
                    };
                    let finished = job
                        .finished_ms
                        .map(|t| i64::try_from(t).unwrap_or(i64::MAX));
                    tx.execute(
                        "UPDATE deid_jobs SET status = $2, record = $3, finished_ms = $4,
                             owner = NULL, lease_until = NULL
                         WHERE id = $1",
                        &[&id, &JobStatus::Failed.as_str(), &json, &finished],
                    )
                    .await?;
                    failed += 1;
                }
                tx.commit().await?;
                Ok(Ok(failed))
            });
        outcome.map_err(io)?
    }
}

#[cfg(test)]
mod tests {
    use super::super::model::{Method, new_job_id};
    use super::*;
    use crate::pg::testing;

    fn connect(url: &str) -> Pg {
        crate::deid::pg_schema::connect(url, None).unwrap()
    }

    #[test]
    fn postgres_store_meets_the_contract() {
        let Some(url) = testing::fresh_database("deid_jobs") else {
            return;
        };
        let store = PgJobStore::new(connect(&url), DEFAULT_LEASE);
        super::super::store::tests::exercise(&store);
        // Another process reads the same records.
        let other = PgJobStore::new(connect(&url), DEFAULT_LEASE);
        assert_eq!(other.unfinished().unwrap(), store.unfinished().unwrap());
    }

    #[test]
    fn a_job_is_claimed_once_and_a_dead_owners_jobs_fail_after_the_lease() {
        let Some(url) = testing::fresh_database("deid_jobs_lease") else {
            return;
        };
        let dying = PgJobStore::new(connect(&url), Duration::from_millis(300));
        let alive = PgJobStore::new(connect(&url), DEFAULT_LEASE);
        let orphan = JobRecord::queued(new_job_id(), Method::Mask, 1, true);
        let kept = JobRecord::queued(new_job_id(), Method::Mask, 1, false);
        dying.save(&orphan).unwrap();
        alive.save(&kept).unwrap();
        // Only the owner claims, and only once.
        let mut running = kept.clone();
        running.status = JobStatus::Running;
        assert!(!dying.claim(&running).unwrap());
        assert!(alive.claim(&running).unwrap());
        assert!(!alive.claim(&running).unwrap());
        // Nothing is abandoned while leases hold, even at another's start.
        assert_eq!(alive.fail_abandoned(true, "service restarted").unwrap(), 0);
        std::thread::sleep(Duration::from_millis(600));
        assert_eq!(alive.fail_abandoned(false, "service restarted").unwrap(), 1);
        let failed = alive.load(&orphan.id).unwrap().unwrap();
        assert_eq!(failed.status, JobStatus::Failed);
        assert_eq!(failed.error.as_deref(), Some("service restarted"));
        assert!(failed.webhook_delivery.unwrap().finished);
        assert!(failed.finished_ms.is_some());
        // The stalled owner's late writes change nothing, and it cannot
        // claim the job any more.
        let mut late = orphan.clone();
        late.status = JobStatus::Running;
        assert!(!dying.claim(&late).unwrap());
        late.finish(JobStatus::Done, None);
        dying.save(&late).unwrap();
        assert_eq!(
            alive.load(&orphan.id).unwrap().unwrap().status,
            JobStatus::Failed
        );
        // Renewal extends a lease that has run out (here: set back in the
        // database, standing in for time passing) and publishes progress.
        let owner = PgJobStore::new(connect(&url), DEFAULT_LEASE);
        let mut job = JobRecord::queued(new_job_id(), Method::Mask, 2, false);
        owner.save(&job).unwrap();
        job.status = JobStatus::Running;
        assert!(owner.claim(&job).unwrap());
        let id = job.id.clone();
        owner
            .pg
            .run(move |c| async move {
                c.execute(
                    "UPDATE deid_jobs SET lease_until = now() - interval '1 second' WHERE id = $1",
                    &[&id],
                )
                .await?;
                Ok(())
            })
            .unwrap();
        job.processed_count = 4;
        owner.renew(std::slice::from_ref(&job)).unwrap();
        assert_eq!(alive.fail_abandoned(false, "service restarted").unwrap(), 0);
        assert_eq!(alive.load(&job.id).unwrap().unwrap().processed_count, 4);
    }
}
