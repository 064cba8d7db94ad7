//! Counters of the job manager for `/metrics`.
//!
//! Only totals and durations: never anything per record, so the figures do
//! not reveal which records matched. Job counts by status are not counted
//! here but derived from the job table when a snapshot is taken, so they can
//! never drift from what `/jobs/list` shows.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A sum of durations and how many were added.
#[derive(Default)]
struct Timing {
    seconds: Mutex<(f64, u64)>,
}

impl Timing {
    fn add(&self, d: Duration) {
        let mut t = self.seconds.lock().unwrap_or_else(|e| e.into_inner());
        t.0 += d.as_secs_f64();
        t.1 += 1;
    }

    fn get(&self) -> (f64, u64) {
        *self.seconds.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The job manager's running totals.
#[derive(Default)]
pub(crate) struct Metrics {
    comparisons: AtomicU64,
    callback_failures: AtomicU64,
    job: Timing,
    mpc: Timing,
    fetch: Timing,
}

/// The totals at one instant (the job counts are added by the manager).
pub(crate) struct Totals {
    pub comparisons: u64,
    pub callback_failures: u64,
    pub job: (f64, u64),
    pub mpc: (f64, u64),
    pub fetch: (f64, u64),
}

impl Metrics {
    /// A 2PC of `m × n` comparisons finished in `d`.
    pub fn mpc_done(&self, m: u64, n: u64, d: Duration) {
        self.comparisons
            .fetch_add(m.saturating_mul(n), Ordering::Relaxed);
        self.mpc.add(d);
    }

    /// A job reached a final status `d` after it was created.
    pub fn job_done(&self, d: Duration) {
        self.job.add(d);
    }

    pub fn fetch_done(&self, d: Duration) {
        self.fetch.add(d);
    }

    pub fn callback_failed(&self) {
        self.callback_failures.fetch_add(1, Ordering::Relaxed);
    }

    /// The mean job duration so far, if any job finished (for `Retry-After`).
    pub fn mean_job_seconds(&self) -> Option<f64> {
        let (sum, count) = self.job.get();
        (count > 0).then(|| sum / count as f64)
    }

    pub fn totals(&self) -> Totals {
        Totals {
            comparisons: self.comparisons.load(Ordering::Relaxed),
            callback_failures: self.callback_failures.load(Ordering::Relaxed),
            job: self.job.get(),
            mpc: self.mpc.get(),
            fetch: self.fetch.get(),
        }
    }
}
