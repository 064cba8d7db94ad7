//! `GET /metrics`: the job manager's counters and the API's own request
//! counts in the Prometheus text format (version 0.0.4).
//!
//! It requires the local key, like every endpoint but `/health` and
//! `/openapi.json`: job counts per remote and mode say how often a site asks
//! about its patients, which is the site's business. Prometheus sends the
//! header with `authorization: {type: apiKey, credentials: 'apiKey="…"'}`.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

use warp::http::{HeaderValue, StatusCode, header};
use warp::reply::Response;

use super::reply;
use super::routes::ApiState;
use crate::jobs::MetricsSnapshot;
use crate::model::JobMode;

/// Requests answered, by endpoint and status.
#[derive(Default)]
pub struct RequestCounters {
    counts: Mutex<BTreeMap<(&'static str, u16), u64>>,
}

impl RequestCounters {
    pub fn record(&self, endpoint: &'static str, status: u16) {
        // A poisoned lock only means a panic elsewhere; the counts are still
        // counts.
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        *counts.entry((endpoint, status)).or_insert(0) += 1;
    }

    fn snapshot(&self) -> Vec<((&'static str, u16), u64)> {
        let counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        counts.iter().map(|(k, v)| (*k, *v)).collect()
    }
}

pub fn respond(state: &ApiState) -> Response {
    let text = render(&state.manager.metrics(), &state.requests);
    let mut r = reply::text(StatusCode::OK, text);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    r
}

fn mode_label(mode: JobMode) -> &'static str {
    match mode {
        JobMode::Linkage => "linkage",
        JobMode::Matching => "matching",
    }
}

/// The exposition text. Every family has `# HELP` and `# TYPE`; durations are
/// summaries without quantiles (sum and count).
pub fn render(m: &MetricsSnapshot, requests: &RequestCounters) -> String {
    let mut out = String::new();
    let name = "sel_node_jobs";
    let _ = writeln!(
        out,
        "# HELP {name} Jobs known to the node, by mode and status.\n# TYPE {name} gauge"
    );
    for (mode, status, n) in &m.jobs {
        let mode = mode_label(*mode);
        let _ = writeln!(out, "{name}{{mode=\"{mode}\",status=\"{status}\"}} {n}");
    }

    let counters: [(&str, &str, u64); 4] = [
        (
            "sel_node_comparisons_total",
            "Record pairs compared in the 2PC.",
            m.comparisons_total,
        ),
        (
            "sel_node_peer_bytes_sent_total",
            "Bytes sent on the peer channel.",
            m.peer_bytes_sent,
        ),
        (
            "sel_node_peer_bytes_received_total",
            "Bytes received on the peer channel.",
            m.peer_bytes_received,
        ),
        (
            "sel_node_callback_failures_total",
            "Callback deliveries that failed.",
            m.callback_failures_total,
        ),
    ];
    for (name, help, value) in counters {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
        );
    }

    let summaries: [(&str, &str, f64, u64); 3] = [
        (
            "sel_node_job_duration_seconds",
            "Duration of finished jobs.",
            m.job_seconds_sum,
            m.job_seconds_count,
        ),
        (
            "sel_node_mpc_duration_seconds",
            "Duration of the 2PC of jobs.",
            m.mpc_seconds_sum,
            m.mpc_seconds_count,
        ),
        (
            "sel_node_data_service_fetch_seconds",
            "Time spent fetching the database from the data service.",
            m.data_service_fetch_seconds_sum,
            m.data_service_fetch_count,
        ),
    ];
    for (name, help, sum, count) in summaries {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} summary\n{name}_sum {sum}\n{name}_count {count}"
        );
    }

    let name = "sel_node_http_requests_total";
    let _ = writeln!(
        out,
        "# HELP {name} REST requests answered, by endpoint and status.\n# TYPE {name} counter"
    );
    for ((endpoint, status), n) in requests.snapshot() {
        let _ = writeln!(
            out,
            "{name}{{endpoint=\"{endpoint}\",status=\"{status}\"}} {n}"
        );
    }
    out
}
