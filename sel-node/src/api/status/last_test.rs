//! The last outcome of `/test` and `/testLS` per remote, for the status page.
//!
//! Kept in memory: it describes the node's current run (after a restart the
//! operator tests again), and the peer connection state beside it on the
//! page is live anyway. Bounded by the configured remotes: only a test of a
//! known remote is recorded.

use std::collections::HashMap;
use std::sync::Mutex;

use serde::Serialize;

use crate::model::{Millis, now_millis};

/// Which test ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TestKind {
    /// `/test/{remote}`: the peer channel and the configurations.
    Peer,
    /// `/testLS/{remote}`: the remote's linkage service.
    LinkageService,
}

/// How a test ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TestOutcome {
    pub ok: bool,
    pub at: Millis,
    /// The answer's text: the success word, or the error message (built
    /// from names and kinds, never a key).
    pub detail: String,
}

/// Both tests of one remote.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LastTests {
    pub peer: Option<TestOutcome>,
    pub linkage_service: Option<TestOutcome>,
}

#[derive(Debug, Default)]
pub struct TestLog {
    by_remote: Mutex<HashMap<String, LastTests>>,
}

impl TestLog {
    /// Records the outcome of a test of `remote_id` (a configured remote).
    pub fn record(&self, remote_id: &str, kind: TestKind, ok: bool, detail: String) {
        let outcome = TestOutcome {
            ok,
            at: now_millis(),
            detail,
        };
        let mut map = self.by_remote.lock().unwrap_or_else(|e| e.into_inner());
        let entry = map.entry(remote_id.to_owned()).or_default();
        match kind {
            TestKind::Peer => entry.peer = Some(outcome),
            TestKind::LinkageService => entry.linkage_service = Some(outcome),
        }
    }

    pub fn get(&self, remote_id: &str) -> LastTests {
        self.by_remote
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(remote_id)
            .cloned()
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_outcome_of_each_kind() {
        let log = TestLog::default();
        assert_eq!(log.get("B"), LastTests::default());
        log.record("B", TestKind::Peer, false, "unreachable".into());
        log.record("B", TestKind::Peer, true, "Remotes Connected".into());
        log.record("B", TestKind::LinkageService, false, "no LS".into());
        let t = log.get("B");
        assert_eq!(
            t.peer.as_ref().map(|o| (o.ok, o.detail.as_str())),
            Some((true, "Remotes Connected"))
        );
        assert_eq!(t.linkage_service.map(|o| o.ok), Some(false));
        assert_eq!(log.get("C"), LastTests::default());
    }
}
