//! Capacity: how many client jobs may wait or run at once (the bounded
//! queue, answered with 503 when full) and how many may compute at once
//! (the worker pool), each over all remotes and per remote.
//!
//! The queue is a count of slots, one per job that is not final; a slot is
//! released when the job's [`Slot`] is dropped. The worker pool is a pair of
//! fair semaphores: a job takes its remote's permit first and then a global
//! one, so a job waiting for its busy remote never holds a global worker that
//! a job for another remote could use.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The bounded queue of jobs that are not final.
pub(crate) struct Queue {
    max_total: usize,
    max_per_remote: usize,
    counts: Arc<Mutex<Counts>>,
}

#[derive(Default)]
struct Counts {
    total: usize,
    per_remote: HashMap<String, usize>,
}

/// A job's place in the queue, held until the job is final.
pub(crate) struct Slot {
    remote: String,
    counts: Arc<Mutex<Counts>>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut c = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        c.total = c.total.saturating_sub(1);
        if let Some(n) = c.per_remote.get_mut(&self.remote) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                c.per_remote.remove(&self.remote);
            }
        }
    }
}

impl Queue {
    pub fn new(max_total: usize, max_per_remote: usize) -> Queue {
        Queue {
            max_total: max_total.max(1),
            max_per_remote: max_per_remote.max(1),
            counts: Arc::default(),
        }
    }

    /// A slot for one more job towards `remote`, if both bounds allow it.
    pub fn try_reserve(&self, remote: &str) -> Option<Slot> {
        let mut c = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let of_remote = c.per_remote.get(remote).copied().unwrap_or(0);
        if c.total >= self.max_total || of_remote >= self.max_per_remote {
            return None;
        }
        c.total += 1;
        *c.per_remote.entry(remote.to_owned()).or_insert(0) += 1;
        Some(Slot {
            remote: remote.to_owned(),
            counts: self.counts.clone(),
        })
    }

    /// A slot taken regardless of the bounds: for jobs that were accepted
    /// before a restart (nothing already accepted is refused afterwards).
    pub fn reserve_anyway(&self, remote: &str) -> Slot {
        let mut c = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        c.total += 1;
        *c.per_remote.entry(remote.to_owned()).or_insert(0) += 1;
        Slot {
            remote: remote.to_owned(),
            counts: self.counts.clone(),
        }
    }
}

/// The worker pool.
pub(crate) struct Workers {
    global: Arc<Semaphore>,
    per_remote_limit: usize,
    per_remote: Mutex<HashMap<String, Arc<Semaphore>>>,
}

/// The right to compute, released on drop.
pub(crate) struct WorkerPermit {
    _remote: OwnedSemaphorePermit,
    _global: OwnedSemaphorePermit,
}

impl Workers {
    pub fn new(global: usize, per_remote: usize) -> Workers {
        Workers {
            global: Arc::new(Semaphore::new(global.max(1))),
            per_remote_limit: per_remote.max(1),
            per_remote: Mutex::default(),
        }
    }

    /// Waits for a worker for a job towards `remote` (first come, first served).
    pub async fn acquire(&self, remote: &str) -> WorkerPermit {
        let of_remote = {
            let mut map = self.per_remote.lock().unwrap_or_else(|e| e.into_inner());
            map.entry(remote.to_owned())
                .or_insert_with(|| Arc::new(Semaphore::new(self.per_remote_limit)))
                .clone()
        };
        // The semaphores are never closed, so acquiring cannot fail.
        let remote_permit = of_remote
            .acquire_owned()
            .await
            .expect("worker semaphore is never closed");
        let global_permit = self
            .global
            .clone()
            .acquire_owned()
            .await
            .expect("worker semaphore is never closed");
        WorkerPermit {
            _remote: remote_permit,
            _global: global_permit,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_bounds_hold_globally_and_per_remote_and_slots_come_back() {
        let q = Queue::new(3, 2);
        let a1 = q.try_reserve("A").expect("first A");
        let _a2 = q.try_reserve("A").expect("second A");
        assert!(q.try_reserve("A").is_none(), "per-remote bound");
        let _b1 = q.try_reserve("B").expect("first B");
        assert!(q.try_reserve("C").is_none(), "global bound");
        drop(a1);
        assert!(q.try_reserve("C").is_some(), "a dropped slot is free again");
    }

    #[tokio::test]
    async fn a_busy_remote_does_not_hold_a_global_worker() {
        let w = Arc::new(Workers::new(2, 1));
        let _a = w.acquire("A").await;
        // A second job for A waits for A's permit, not for a global one ...
        let w2 = w.clone();
        let waiting = tokio::spawn(async move { w2.acquire("A").await });
        tokio::task::yield_now().await;
        // ... so B still gets the second global worker.
        let b = tokio::time::timeout(std::time::Duration::from_secs(5), w.acquire("B")).await;
        assert!(b.is_ok(), "B must get a worker while A's second job waits");
        waiting.abort();
    }
}
