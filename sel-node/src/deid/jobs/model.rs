//! What a job is, as stored and as answered: metadata only.
//!
//! A [`JobRecord`] holds counts, a label histogram, offsets, labels,
//! confidences and SHA-256 digests. It never holds a document's text, a
//! transformed text, a matched value or a webhook secret, so it can be
//! stored, logged by id and sent in a webhook payload as it is.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Where a job is in its life: `queued → running → done | failed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    Queued,
    Running,
    Done,
    Failed,
}

impl JobStatus {
    /// `done` or `failed`: nothing changes any more but the webhook outcome.
    pub fn is_terminal(self) -> bool {
        matches!(self, JobStatus::Done | JobStatus::Failed)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Done => "done",
            JobStatus::Failed => "failed",
        }
    }
}

/// The transformation a job computes (and discards) for every document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    Mask,
    Hash,
    Redact,
}

impl Method {
    pub fn parse(s: &str) -> Option<Method> {
        match s {
            "mask" => Some(Method::Mask),
            "hash" => Some(Method::Hash),
            "redact" => Some(Method::Redact),
            _ => None,
        }
    }
}

/// One finding of one document, without its value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpanMeta {
    pub document_id: String,
    /// Character offsets (Unicode scalar values), `end` exclusive, as
    /// [`crate::deid::Finding`].
    pub start: usize,
    pub end: usize,
    pub label: String,
    /// `sha256:<hex>` of the matched value's UTF-8 bytes.
    pub text_hash: String,
    pub confidence: f64,
}

/// One submitted document, without its text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocumentMeta {
    pub id: String,
    /// Length in characters (Unicode scalar values).
    pub length: usize,
    /// `sha256:<hex>` of the document's UTF-8 bytes.
    pub text_hash: String,
}

/// Why the last webhook attempt failed, as a kind (never a URL or body).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryError {
    /// The receiver answered with a status other than 2xx.
    Status,
    /// No connection could be made (refused, unreachable, DNS).
    Connect,
    /// The attempt took longer than the configured timeout.
    Timeout,
    /// Any other transport failure (TLS verification, reset connection).
    Transport,
}

/// The outcome of the webhook of a job, updated after every attempt.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct WebhookDelivery {
    /// Attempts made so far.
    pub attempts: u32,
    /// Status of the last answer, if the receiver answered at all.
    pub last_status: Option<u16>,
    /// A 2xx answer was received.
    pub delivered: bool,
    /// Kind of the last failure; `None` once delivered.
    pub last_error: Option<DeliveryError>,
    /// No further attempt will be made (delivered, or attempts used up).
    pub finished: bool,
}

/// The status record of a job (`GET /jobs/{id}`), also what is stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    pub id: String,
    pub status: JobStatus,
    pub method: Method,
    pub progress_percent: f64,
    pub document_count: usize,
    pub processed_count: usize,
    pub failed_count: usize,
    pub label_histogram: BTreeMap<String, u64>,
    pub spans: Vec<SpanMeta>,
    pub documents: Vec<DocumentMeta>,
    /// `None` when the job was submitted without a webhook.
    pub webhook_delivery: Option<WebhookDelivery>,
    pub error: Option<String>,
    pub created_at: String,
    pub started_at: Option<String>,
    pub completed_at: Option<String>,
    pub status_url: String,
    /// Unix milliseconds of the terminal status (for TTL cleanup); the
    /// store keeps it beside the record, the API does not show it.
    #[serde(skip)]
    pub finished_ms: Option<u64>,
}

impl JobRecord {
    /// A freshly admitted job.
    pub fn queued(id: String, method: Method, document_count: usize, webhook: bool) -> JobRecord {
        JobRecord {
            status_url: status_url(&id),
            id,
            status: JobStatus::Queued,
            method,
            progress_percent: 0.0,
            document_count,
            processed_count: 0,
            failed_count: 0,
            label_histogram: BTreeMap::new(),
            spans: Vec::new(),
            documents: Vec::new(),
            webhook_delivery: webhook.then(WebhookDelivery::default),
            error: None,
            created_at: rfc3339(now_millis()),
            started_at: None,
            completed_at: None,
            finished_ms: None,
        }
    }

    /// Move to a terminal status now.
    pub fn finish(&mut self, status: JobStatus, error: Option<String>) {
        let now = now_millis();
        self.status = status;
        self.error = error;
        self.completed_at = Some(rfc3339(now));
        self.finished_ms = Some(now);
    }

    /// Fails a job whose process is gone: its texts and its webhook secret
    /// were only in that process's memory, so no webhook will be sent.
    pub fn abandon(&mut self, error: &str) {
        self.finish(JobStatus::Failed, Some(error.to_string()));
        if let Some(delivery) = self.webhook_delivery.as_mut() {
            delivery.finished = true;
        }
    }

    /// The webhook payload of the reference: the terminal record without
    /// the delivery outcome, the method or the bookkeeping timestamps.
    pub fn webhook_payload(&self) -> serde_json::Value {
        let event = match self.status {
            JobStatus::Failed => "job.failed",
            _ => "job.done",
        };
        serde_json::json!({
            "event": event,
            "job_id": self.id,
            "status": self.status.as_str(),
            "progress_percent": self.progress_percent,
            "document_count": self.document_count,
            "processed_count": self.processed_count,
            "failed_count": self.failed_count,
            "label_histogram": self.label_histogram,
            "spans": self.spans,
            "documents": self.documents,
            "error": self.error,
            "completed_at": self.completed_at,
        })
    }
}

/// The path a client polls.
pub fn status_url(id: &str) -> String {
    format!("/jobs/{id}")
}

/// A fresh job id: 128 random bits as 32 lower-case hex digits, so ids
/// cannot be guessed or enumerated.
pub fn new_job_id() -> String {
    hex(&rand::random::<[u8; 16]>())
}

/// Whether `id` has the shape of a job id (checked before any lookup).
pub fn is_job_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// `sha256:<hex>` of `bytes`.
pub fn text_hash(bytes: &[u8]) -> String {
    format!("sha256:{}", hex(&Sha256::digest(bytes)))
}

pub fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// `YYYY-MM-DDTHH:MM:SSZ` (UTC, whole seconds) of Unix milliseconds.
pub fn rfc3339(unix_ms: u64) -> String {
    let secs = unix_ms / 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (the
/// well-known era/day-of-era decomposition: 400-year eras of 146,097 days).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_utc_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_782_900_000_999), "2026-07-01T10:00:00Z");
        assert_eq!(rfc3339(4_107_542_399_000), "2100-02-28T23:59:59Z");
    }

    #[test]
    fn ids_are_random_and_recognised() {
        let a = new_job_id();
        let b = new_job_id();
        assert_ne!(a, b);
        assert!(is_job_id(&a) && is_job_id(&b));
        assert!(!is_job_id("../etc"));
        assert!(!is_job_id(&a.to_uppercase()));
        assert!(!is_job_id(&a[..31]));
    }

    #[test]
    fn hashes_are_prefixed_sha256() {
        assert_eq!(
            text_hash(b"abc"),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn the_payload_has_exactly_the_reference_fields() {
        let mut job = JobRecord::queued(new_job_id(), Method::Mask, 2, true);
        job.finish(JobStatus::Done, None);
        let payload = job.webhook_payload();
        let keys: Vec<&str> = payload
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut expected = vec![
            "event",
            "job_id",
            "status",
            "progress_percent",
            "document_count",
            "processed_count",
            "failed_count",
            "label_histogram",
            "spans",
            "documents",
            "error",
            "completed_at",
        ];
        expected.sort_unstable();
        let mut keys = keys;
        keys.sort_unstable();
        assert_eq!(keys, expected);
        assert_eq!(payload["event"], "job.done");
        job.finish(JobStatus::Failed, Some("service restarted".into()));
        assert_eq!(job.webhook_payload()["event"], "job.failed");
    }
}
