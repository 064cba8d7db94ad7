//! The JSON of `GET /status/data`, built from the node's state without I/O.
//!
//! What goes in is decided here, field by field, rather than by serialising
//! the stored configuration: the configuration holds the local key and the
//! keys of every remote and linkage service, and a URL may carry a password
//! or a token. The view holds names, types, weights, thresholds, states,
//! times and reasons — what the operator configured or can already read
//! from `/jobs` — and URLs reduced to scheme, host, port and path.

use protocol_spec::config::FieldSpec;
use protocol_spec::messages::mainsel::{JobStatus, WireFieldSpec};
use serde::Serialize;

use crate::model::{JobMode, JobRecord, JobSide, LocalSite, Millis, RemoteSite};
use crate::peer::ConnectionState;

use super::last_test::{LastTests, TestOutcome};

/// How many jobs the page lists (the newest).
pub const RECENT_JOBS: usize = 50;

/// The whole status, as the page reads it.
#[derive(Debug, Serialize)]
pub struct StatusView {
    /// When the node built this view (ms since the Unix epoch).
    pub generated_at: Millis,
    pub local: LocalView,
    pub remotes: Vec<RemoteView>,
    /// The newest [`RECENT_JOBS`] jobs, newest first.
    pub jobs: Vec<JobRow>,
    /// How many jobs the node holds in all.
    pub jobs_total: usize,
}

#[derive(Debug, Serialize)]
pub struct LocalView {
    pub local_id: String,
    /// The data service URL without user info, query or fragment.
    pub data_service: String,
    pub algorithm: String,
    pub threshold_match: f64,
    pub threshold_non_match: f64,
    pub exchange_groups: Vec<Vec<String>>,
    pub fields: Vec<FieldView>,
}

#[derive(Debug, Serialize)]
pub struct FieldView {
    pub name: String,
    pub field_type: String,
    pub comparator: String,
    pub frequency: f64,
    pub error_rate: f64,
    /// The EpiLink weight `log2((1 - e) / f)`.
    pub weight: f64,
    pub bitlength: u32,
}

#[derive(Debug, Serialize)]
pub struct RemoteView {
    pub id: String,
    /// The remote's peer URL, reduced like the data service's.
    pub url: String,
    /// The linkage service URL, reduced; `None` for a matching-only remote.
    pub linkage_service: Option<String>,
    pub matching_allowed: bool,
    pub connection: ConnectionView,
    pub last_test: Option<TestOutcome>,
    pub last_test_ls: Option<TestOutcome>,
}

/// The peer connection in the page's words.
#[derive(Debug, Serialize, PartialEq)]
pub struct ConnectionView {
    /// `connected`, `connecting`, `not_connected` (never dialed: connections
    /// are made on demand) or `down` (dropped or failed; re-dialed with backoff).
    pub state: &'static str,
    /// Connected: since when; down: since when it has been down.
    pub since: Option<Millis>,
    /// Down: why the last attempt failed (never a key).
    pub error: Option<String>,
    /// Down: the kind of that failure in one word (`unreachable`, `tls`,
    /// `unauthorized`, `config_mismatch`, `refused`, `protocol`, `local`,
    /// `dropped`).
    pub error_kind: Option<&'static str>,
    /// Down: when the next attempt is due, if this node re-dials.
    pub retry_at: Option<Millis>,
}

impl ConnectionView {
    pub fn new(state: &ConnectionState, down_since: Option<Millis>) -> ConnectionView {
        let mut view = ConnectionView {
            state: "not_connected",
            since: None,
            error: None,
            error_kind: None,
            retry_at: None,
        };
        match state {
            ConnectionState::Connected { since } => {
                view.state = "connected";
                view.since = Some(*since);
            }
            ConnectionState::Connecting => view.state = "connecting",
            ConnectionState::NotConnected => view.since = down_since,
            ConnectionState::Failed {
                error,
                kind,
                retry_at,
            } => {
                view.state = "down";
                view.since = down_since;
                view.error = Some(error.clone());
                view.error_kind = Some(kind);
                view.retry_at = Some(*retry_at);
            }
        }
        view
    }
}

/// One job, as a row of the page.
#[derive(Debug, Serialize)]
pub struct JobRow {
    pub id: String,
    pub remote_id: String,
    pub mode: JobMode,
    pub side: JobSide,
    pub status: JobStatus,
    pub progress_percent: u8,
    pub created: Millis,
    pub started: Option<Millis>,
    pub finished: Option<Millis>,
    /// From start (or creation, if it never started) to the end, or to now
    /// while the job is not final.
    pub duration_ms: u64,
    /// Why the job is FAULT or HOLD.
    pub error: Option<String>,
}

impl JobRow {
    pub fn new(j: &JobRecord, now: Millis) -> JobRow {
        let from = j.started.unwrap_or(j.created);
        let to = j.finished.unwrap_or(now);
        JobRow {
            id: j.id.clone(),
            remote_id: j.remote_id.clone(),
            mode: j.mode,
            side: j.side,
            status: j.status,
            progress_percent: j.progress_percent,
            created: j.created,
            started: j.started,
            finished: j.finished,
            duration_ms: to.saturating_sub(from),
            error: j.error.clone(),
        }
    }
}

impl LocalView {
    pub fn new(local: &LocalSite) -> LocalView {
        let init = &local.init;
        let alg = &init.algorithm;
        LocalView {
            local_id: init.local_id.clone(),
            data_service: reduce_url(&init.data_service.url),
            algorithm: alg.algo_type.to_ascii_lowercase(),
            threshold_match: alg.threshold_match,
            threshold_non_match: alg.threshold_non_match,
            exchange_groups: alg.exchange_groups.clone(),
            fields: alg.fields.iter().map(FieldView::new).collect(),
        }
    }
}

impl FieldView {
    fn new(w: &WireFieldSpec) -> FieldView {
        FieldView {
            name: w.name.clone(),
            field_type: word(&w.field_type),
            comparator: word(&w.comparator),
            frequency: w.frequency,
            error_rate: w.error_rate,
            weight: FieldSpec::from(w).real_weight(),
            bitlength: w.bitlength,
        }
    }
}

/// The wire word of an enum (`"bitmask"`, `"dice"`), as initLocal takes it.
fn word<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

impl RemoteView {
    pub fn new(
        remote: &RemoteSite,
        state: &ConnectionState,
        down_since: Option<Millis>,
        tests: &LastTests,
    ) -> RemoteView {
        let init = &remote.init;
        RemoteView {
            id: remote.id.clone(),
            url: reduce_url(&init.connection_profile.url),
            linkage_service: init.linkage_service.as_ref().map(|c| reduce_url(&c.url)),
            matching_allowed: init.matching_allowed,
            connection: ConnectionView::new(state, down_since),
            last_test: tests.peer.clone(),
            last_test_ls: tests.linkage_service.clone(),
        }
    }
}

/// The newest `RECENT_JOBS` of `jobs` (given oldest first), newest first.
pub fn recent_jobs(jobs: &[JobRecord], now: Millis) -> Vec<JobRow> {
    jobs.iter()
        .rev()
        .take(RECENT_JOBS)
        .map(|j| JobRow::new(j, now))
        .collect()
}

/// `scheme://host:port/path` of a URL: without user info (a password), query
/// (a token) or fragment. Not a URL parser: the configuration's URLs were
/// checked when they were accepted; this only cuts.
pub fn reduce_url(url: &str) -> String {
    let cut = |s: &str| -> usize { s.find(['?', '#']).unwrap_or(s.len()) };
    let url = &url[..cut(url)];
    let Some((scheme, rest)) = url.split_once("://") else {
        return String::new();
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    format!("{scheme}://{host}{path}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_user_info_query_and_fragment() {
        assert_eq!(
            reduce_url("https://user:pw@ds.example:8443/records?token=s3cret#x"),
            "https://ds.example:8443/records"
        );
        assert_eq!(reduce_url("https://127.0.0.1:9"), "https://127.0.0.1:9");
        assert_eq!(reduce_url("http://h/p@q/r"), "http://h/p@q/r");
        assert_eq!(reduce_url("https://a@b?c@d"), "https://b");
        assert_eq!(reduce_url("not a url"), "");
    }

    #[test]
    fn connection_words() {
        let down = ConnectionState::Failed {
            error: "the remote cannot be reached: refused".into(),
            kind: "unreachable",
            retry_at: 9,
        };
        let v = ConnectionView::new(&down, Some(5));
        assert_eq!(v.state, "down");
        assert_eq!(v.since, Some(5));
        assert_eq!(v.retry_at, Some(9));
        assert_eq!(v.error_kind, Some("unreachable"));
        assert_eq!(
            ConnectionView::new(&ConnectionState::Connected { since: 3 }, None).since,
            Some(3)
        );
        assert_eq!(
            ConnectionView::new(&ConnectionState::NotConnected, None).state,
            "not_connected"
        );
    }
}
