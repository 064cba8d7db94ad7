//! The engine the de-id service detects with, swappable at run time.
//!
//! Categories are data (`/phi-categories`): adding one builds a new
//! [`Engine`] and must take effect for every later request at once, while
//! requests already running finish on the engine they started with. So the
//! service holds the current engine behind a lock and hands out `Arc`
//! clones; the lock is held only to clone or swap the pointer, never while
//! detecting.

use std::sync::{Arc, RwLock};

use super::Engine;

/// The current detection engine, shared by every part of the de-id service
/// (the PHI processing API, `/pii/deidentify`, async jobs).
#[derive(Clone)]
pub struct EngineHandle {
    inner: Arc<RwLock<Arc<Engine>>>,
}

impl EngineHandle {
    pub fn new(engine: Engine) -> Self {
        EngineHandle {
            inner: Arc::new(RwLock::new(Arc::new(engine))),
        }
    }

    /// The engine to use for one request or one job.
    pub fn current(&self) -> Arc<Engine> {
        // A poisoned lock only means a writer panicked between two pointer
        // writes, which cannot leave the pointer half-written.
        match self.inner.read() {
            Ok(guard) => Arc::clone(&guard),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Make `engine` the one later requests use.
    pub fn replace(&self, engine: Engine) {
        let engine = Arc::new(engine);
        match self.inner.write() {
            Ok(mut guard) => *guard = engine,
            Err(poisoned) => *poisoned.into_inner() = engine,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deid::Category;

    #[test]
    fn replace_takes_effect_for_later_readers_only() {
        let handle = EngineHandle::new(Engine::new());
        let before = handle.current();
        let category = Category {
            name: "ward_code".into(),
            regex: Some(r"\bWARD-\d{4}\b".into()),
            context: Vec::new(),
        };
        handle.replace(Engine::with_categories(&[category]).unwrap());
        let text = "Moved to WARD-1234 today.";
        assert!(before.detect(text).iter().all(|f| f.label != "WARD_CODE"));
        assert!(
            handle
                .current()
                .detect(text)
                .iter()
                .any(|f| f.label == "WARD_CODE")
        );
    }
}
