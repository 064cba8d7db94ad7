//! Several node processes on one shared store (SPEC §3 "Job lifecycle",
//! "Several processes, one node"): how this process takes its share of the
//! queued client jobs, keeps them, gives them back, and takes over the jobs
//! of a process that died.
//!
//! * Claiming: a loop takes the oldest unheld QUEUED client job from the
//!   store whenever this process has a free worker (one claim per worker, so
//!   a process never hoards jobs another could run). A submission through
//!   this process wakes the loop at once; jobs submitted through another
//!   process are found within [`POLL`].
//! * Leases: every [`renew_every`] the process extends the lease of the jobs
//!   it runs; a job it no longer holds (its lease ran out while it stalled
//!   and another process took it over) is dropped here without another
//!   write. The renewal also carries cancel requests made through other
//!   processes (`DELETE /jobs/{id}` anywhere reaches the job's holder).
//! * Takeover: jobs whose holder's lease ran out are claimed: a QUEUED one
//!   goes back to the queue (it had not started), any other ends FAULT
//!   "node process died" and its callback is told, as after a restart of
//!   the embedded node.

use std::collections::HashSet;
use std::sync::{Arc, Weak};
use std::time::Duration;

use protocol_spec::messages::mainsel::JobStatus;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use super::{Active, JobManager};
use crate::model::{JobRecord, JobSide};
use crate::store::{SharedJobs, StoreError};

/// The reason recorded on jobs whose process died mid-job.
pub(crate) const DIED_REASON: &str = "node process died";

/// How often an idle process looks for jobs submitted through another one.
pub(crate) const POLL: Duration = Duration::from_millis(200);

/// How long a cancel through a process that does not hold the job waits
/// for the holder to record it.
const CANCEL_WAIT: Duration = Duration::from_secs(10);

/// The renewal interval: well inside the lease, and at least once a second
/// so cancel requests are seen promptly.
pub(crate) fn renew_every(lease: Duration) -> Duration {
    (lease / 4).clamp(Duration::from_millis(50), Duration::from_secs(1))
}

/// This process's part in a shared node.
pub(crate) struct Shared {
    pub store: Arc<dyn SharedJobs>,
    pub lease: Duration,
    /// Free workers: a job is claimed only with one of these.
    pub claims: Arc<Semaphore>,
    /// Woken by a submission through this process.
    pub wake: Arc<Notify>,
}

/// Runs a blocking store call off the async workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Io(format!("store task: {e}")))?
}

impl JobManager {
    /// Starts the claim, lease and takeover loops.
    pub(super) fn start_shared(&self) {
        let Some(shared) = &self.shared else {
            return;
        };
        let me = self.me.clone();
        let stop = self.shutdown.clone();
        tokio::spawn(claim_loop(
            me.clone(),
            stop.clone(),
            shared.claims.clone(),
            shared.wake.clone(),
            shared.store.clone(),
        ));
        tokio::spawn(lease_loop(
            me,
            stop,
            shared.store.clone(),
            renew_every(shared.lease),
        ));
    }

    /// Runs a client job this process has just claimed.
    fn take_claimed(&self, job: JobRecord, permit: OwnedSemaphorePermit) {
        let id = job.id.clone();
        self.state.adopt(job);
        self.active_jobs().insert(
            id.clone(),
            Active {
                side: JobSide::Client,
                token: CancellationToken::new(),
                remote: None,
                _slot: None,
                _claim: Some(permit),
                spawned: true,
            },
        );
        self.spawn_client(id);
    }

    /// Ends a job this process has just taken over from a dead holder.
    fn take_over(&self, job: JobRecord, store: &Arc<dyn SharedJobs>) {
        let id = job.id.clone();
        if job.side == JobSide::Client && job.status == JobStatus::Queued {
            // It never started: back to the queue for any process.
            if let Err(e) = store.release(&id) {
                tracing::warn!(job_id = %id, error = %e, "could not re-queue a job");
            }
            tracing::info!(job_id = %id, "job of a dead node process queued again");
            if let Some(s) = &self.shared {
                s.wake.notify_one();
            }
            return;
        }
        self.state.adopt(job.clone());
        self.active_jobs().insert(
            id.clone(),
            Active {
                side: job.side,
                token: CancellationToken::new(),
                remote: None,
                _slot: None,
                _claim: None,
                spawned: true,
            },
        );
        tracing::warn!(job_id = %id, "the node process running this job died");
        self.finish(&id, Err(DIED_REASON.into()));
    }

    /// Whether this process may talk to `remote_id` over the peer channel:
    /// always on a node of its own; on a shared node, when it holds (or now
    /// takes) that remote's peer lease. A store failure answers no.
    pub(super) fn may_talk_to(&self, remote_id: &str) -> bool {
        let Some(shared) = &self.shared else {
            return true;
        };
        shared.store.hold_peer(remote_id).unwrap_or_else(|e| {
            tracing::warn!(remote = %remote_id, error = %e, "could not check the peer lease");
            false
        })
    }

    /// Gives a claimed job that did not start back to the queue (a stop).
    pub(super) fn release_queued(&self, id: &str) {
        let Some(shared) = &self.shared else {
            return;
        };
        self.active_jobs().remove(id);
        self.state.forget(id);
        if let Err(e) = shared.store.release(id) {
            tracing::warn!(job_id = %id, error = %e, "could not give a job back to the queue");
        }
    }

    /// Cancels a job another process may hold: takes it if nobody holds it
    /// (QUEUED, or its holder died) and ends it here; otherwise asks its
    /// holder and waits until the store shows it final.
    pub(super) fn cancel_shared(&self, shared: &Shared, id: &str) -> bool {
        match shared.store.claim(id) {
            Ok(Some(job)) => {
                self.state.adopt(job.clone());
                self.active_jobs().insert(
                    id.to_owned(),
                    Active {
                        side: job.side,
                        token: CancellationToken::new(),
                        remote: None,
                        _slot: None,
                        _claim: None,
                        spawned: true,
                    },
                );
                self.finish(id, Err("cancelled".into()));
                return true;
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(job_id = %id, error = %e, "could not claim a job to cancel");
                return false;
            }
        }
        if let Err(e) = shared.store.request_cancel(id) {
            tracing::warn!(job_id = %id, error = %e, "could not request a cancel");
            return false;
        }
        let deadline = std::time::Instant::now() + CANCEL_WAIT;
        while std::time::Instant::now() < deadline {
            if self.state.job(id).is_none_or(|j| j.status.is_final()) {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        true
    }
}

async fn claim_loop(
    me: Weak<JobManager>,
    stop: CancellationToken,
    claims: Arc<Semaphore>,
    wake: Arc<Notify>,
    store: Arc<dyn SharedJobs>,
) {
    loop {
        let permit = tokio::select! {
            p = claims.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => return,
            },
            _ = stop.cancelled() => return,
        };
        let s = store.clone();
        match blocking(move || s.claim_next()).await {
            Ok(Some(job)) => {
                let Some(m) = me.upgrade() else { return };
                if stop.is_cancelled() {
                    let id = job.id.clone();
                    let s = store.clone();
                    let _ = blocking(move || s.release(&id)).await;
                    return;
                }
                m.take_claimed(job, permit);
                continue;
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "could not claim a job"),
        }
        drop(permit);
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(POLL) => {}
            _ = stop.cancelled() => return,
        }
    }
}

async fn lease_loop(
    me: Weak<JobManager>,
    stop: CancellationToken,
    store: Arc<dyn SharedJobs>,
    every: Duration,
) {
    let mut ticks: u32 = 0;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.cancelled() => return,
        }
        let Some(m) = me.upgrade() else { return };
        let mine: Vec<String> = m.active_jobs().keys().cloned().collect();
        let s = store.clone();
        let ids = mine.clone();
        match blocking(move || s.renew(&ids)).await {
            Ok(held) => {
                let kept: HashSet<&str> = held.iter().map(|h| h.id.as_str()).collect();
                for id in mine.iter().filter(|id| !kept.contains(id.as_str())) {
                    // Final meanwhile (finish removes it), or lost.
                    let lost = m.active_jobs().remove(id);
                    if let Some(a) = lost {
                        tracing::warn!(job_id = %id, "lost the lease of a job; another node process took it");
                        a.token.cancel();
                        m.state.forget(id);
                    }
                }
                for h in held.into_iter().filter(|h| h.cancel_requested) {
                    let m = m.clone();
                    tokio::task::spawn_blocking(move || m.cancel(&h.id));
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not renew the job leases"),
        }
        // Takeover of dead processes' jobs, about twice per lease.
        ticks = ticks.wrapping_add(1);
        if ticks.is_multiple_of(2) {
            let s = store.clone();
            let mine: Vec<String> = m.active_jobs().keys().cloned().collect();
            match blocking(move || s.claim_expired(&mine)).await {
                Ok(jobs) => {
                    for job in jobs {
                        let (m, s) = (m.clone(), store.clone());
                        tokio::task::spawn_blocking(move || m.take_over(job, &s));
                    }
                }
                Err(e) => tracing::warn!(error = %e, "could not look for expired leases"),
            }
        }
    }
}
