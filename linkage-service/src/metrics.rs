//! Counters exposed at `/metrics` in the Prometheus text format.
//!
//! Deliberately coarse: LIDs issued by linkage jobs are counted together,
//! whether re-sealed server LIDs or fresh ones, so the (unauthenticated)
//! metrics endpoint does not reveal how many records matched.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// The route label of a request path: its first segment if it is one of
/// ours, else `other` (so arbitrary paths cannot blow up the label set).
pub fn route_label(path: &str) -> &'static str {
    let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
    match first {
        "freshIDs" => "freshIDs",
        "linkageResult" => "linkageResult",
        "test" => "test",
        "health" => "health",
        "metrics" => "metrics",
        _ => "other",
    }
}

#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(&'static str, u16), u64>>,
    jobs_paired: AtomicU64,
    jobs_timed_out: AtomicU64,
    lids_fresh_ids: AtomicU64,
    lids_linkage: AtomicU64,
}

impl Metrics {
    pub fn record_request(&self, route: &'static str, status: u16) {
        if let Ok(mut map) = self.requests.lock() {
            *map.entry((route, status)).or_insert(0) += 1;
        }
    }

    pub fn job_paired(&self) {
        self.jobs_paired.fetch_add(1, Ordering::Relaxed);
    }

    pub fn job_timed_out(&self) {
        self.jobs_timed_out.fetch_add(1, Ordering::Relaxed);
    }

    pub fn fresh_ids_issued(&self, n: u64) {
        self.lids_fresh_ids.fetch_add(n, Ordering::Relaxed);
    }

    pub fn linkage_lids_issued(&self, n: u64) {
        self.lids_linkage.fetch_add(n, Ordering::Relaxed);
    }

    /// The exposition text. `pending_posts` is the number of posts currently
    /// waiting for their partner.
    pub fn render(&self, pending_posts: usize) -> String {
        let mut out = String::new();
        out.push_str("# HELP ls_http_requests_total HTTP requests by route and status.\n");
        out.push_str("# TYPE ls_http_requests_total counter\n");
        if let Ok(map) = self.requests.lock() {
            for ((route, status), n) in map.iter() {
                let _ = writeln!(
                    out,
                    "ls_http_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}"
                );
            }
        }
        let counter = |out: &mut String, name: &str, help: &str, value: u64| {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} counter");
            let _ = writeln!(out, "{name} {value}");
        };
        counter(
            &mut out,
            "ls_jobs_paired_total",
            "Linkage jobs whose two posts were paired and resolved.",
            self.jobs_paired.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "ls_jobs_timed_out_total",
            "Linkage posts whose partner never arrived.",
            self.jobs_timed_out.load(Ordering::Relaxed),
        );
        out.push_str("# HELP ls_lids_issued_total Linkage IDs handed out, by source.\n");
        out.push_str("# TYPE ls_lids_issued_total counter\n");
        let _ = writeln!(
            out,
            "ls_lids_issued_total{{source=\"freshIDs\"}} {}",
            self.lids_fresh_ids.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "ls_lids_issued_total{{source=\"linkageResult\"}} {}",
            self.lids_linkage.load(Ordering::Relaxed)
        );
        out.push_str("# HELP ls_pending_posts Linkage posts waiting for their partner.\n");
        out.push_str("# TYPE ls_pending_posts gauge\n");
        let _ = writeln!(out, "ls_pending_posts {pending_posts}");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_labelled_by_first_segment() {
        assert_eq!(route_label("/freshIDs/A"), "freshIDs");
        assert_eq!(route_label("/linkageResult/A/B"), "linkageResult");
        assert_eq!(route_label("/test"), "test");
        assert_eq!(route_label("/nope/x"), "other");
        assert_eq!(route_label("/"), "other");
    }

    #[test]
    fn renders_counters() {
        let m = Metrics::default();
        m.record_request("test", 200);
        m.record_request("test", 200);
        m.record_request("freshIDs", 401);
        m.job_paired();
        m.fresh_ids_issued(5);
        let text = m.render(2);
        assert!(text.contains("ls_http_requests_total{route=\"test\",status=\"200\"} 2\n"));
        assert!(text.contains("ls_http_requests_total{route=\"freshIDs\",status=\"401\"} 1\n"));
        assert!(text.contains("ls_jobs_paired_total 1\n"));
        assert!(text.contains("ls_jobs_timed_out_total 0\n"));
        assert!(text.contains("ls_lids_issued_total{source=\"freshIDs\"} 5\n"));
        assert!(text.contains("ls_pending_posts 2\n"));
    }
}
