//! Async de-identification jobs over real HTTP: admission and every status
//! code, the worker pool to `done`, spans equal to the engine's, signed
//! webhooks (verified by receivers here, one over HTTPS with a test CA),
//! retries, a dead receiver, the store file holding no text or secret,
//! recovery after a restart, and TTL cleanup.
//!
//! The auth filter is a stand-in (a header equality check); the de-id
//! listener mounts the real one.

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hmac::{KeyInit, Mac};
use http::StatusCode;
use sel_node::deid::jobs::{
    self, JobRecord, JobService, JobSettings, JobStatus, JobStore, MemoryJobStore, Method,
    RedbJobStore, verify_signature,
};
use sel_node::deid::{Engine, EngineHandle};
use sel_node::https::{ConnectionLimits, RunningServer};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use warp::Filter;
use warp::filters::BoxedFilter;

const KEY: &str = "test-api-key-0123456789";
const SECRET: &str = "whsec-test-secret-0123456789";
/// Longest any wait here may take before the test gives up (not a timing
/// assertion: jobs of a few documents finish in milliseconds).
const PATIENCE: Duration = Duration::from_secs(90);

const NOTES: [(&str, &str); 4] = [
    (
        "note-1",
        "Patient Maria Garcia (MRN: 4820193) was seen on 03/14/2024. Call 617-555-0134 or write to maria.garcia@example.org.",
    ),
    (
        "note-2",
        "Dr. Jonathan Whitfield reviewed SSN 412-55-7891 on 2024-02-01 at 10:30.",
    ),
    ("note-3", "No identifiers in this sentence at all."),
    (
        "note-4",
        "Zoë Müller, born 12 March 1961, lives at 1420 Elmwood Avenue, Springfield, IL 62704.",
    ),
];

#[derive(Debug)]
struct Unauthorized;
impl warp::reject::Reject for Unauthorized {}

/// Stand-in for the de-id listener's auth filter.
fn stand_in_auth() -> BoxedFilter<()> {
    warp::header::optional::<String>("x-api-key")
        .and_then(|key: Option<String>| async move {
            if key.as_deref() == Some(KEY) {
                Ok(())
            } else {
                Err(warp::reject::custom(Unauthorized))
            }
        })
        .untuple_one()
        .boxed()
}

/// Stand-in for the listener's recover handler.
async fn recover(r: warp::Rejection) -> Result<warp::reply::Response, Infallible> {
    use warp::Reply;
    let (status, detail) = if r.find::<Unauthorized>().is_some() {
        (StatusCode::UNAUTHORIZED, "missing or invalid API key")
    } else if r.find::<warp::reject::MethodNotAllowed>().is_some() {
        (StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
    } else {
        (StatusCode::NOT_FOUND, "not found")
    };
    Ok(
        warp::reply::with_status(warp::reply::json(&json!({ "detail": detail })), status)
            .into_response(),
    )
}

struct Harness {
    base: String,
    jobs: Arc<JobService>,
    server: RunningServer,
    http: reqwest::Client,
}

impl Harness {
    async fn start(store: Arc<dyn JobStore>, settings: JobSettings) -> Harness {
        let jobs = JobService::start(store, EngineHandle::new(Engine::new()), settings).unwrap();
        let filter = jobs::routes(Arc::clone(&jobs), stand_in_auth()).recover(recover);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let server =
            sel_node::https::serve(listener, None, filter, ConnectionLimits::default()).unwrap();
        Harness {
            base: format!("http://{}", server.local_addr()),
            jobs,
            server,
            http: client(None),
        }
    }

    async fn stop(self) {
        self.server.shutdown().await;
        self.jobs.shutdown().await;
    }

    async fn post(
        &self,
        body: impl Into<reqwest::Body>,
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let answer = self
            .http
            .post(format!("{}/jobs", self.base))
            .header("x-api-key", KEY)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = answer.status();
        let headers = answer.headers().clone();
        (status, headers, answer.json().await.unwrap())
    }

    async fn submit(&self, body: &Value) -> String {
        let (status, _, answer) = self.post(body.to_string()).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
        answer["id"].as_str().unwrap().to_string()
    }

    async fn get(&self, id: &str) -> (StatusCode, Value) {
        let answer = self
            .http
            .get(format!("{}/jobs/{id}", self.base))
            .header("x-api-key", KEY)
            .send()
            .await
            .unwrap();
        let status = answer.status();
        (status, answer.json().await.unwrap())
    }

    /// Polls until `done(record)`; returns every record seen.
    async fn poll(&self, id: &str, done: impl Fn(&Value) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + PATIENCE;
        let mut seen = Vec::new();
        loop {
            let (status, record) = self.get(id).await;
            assert_eq!(status, StatusCode::OK, "{record}");
            let finished = done(&record);
            seen.push(record);
            if finished {
                return seen;
            }
            assert!(
                Instant::now() < deadline,
                "job {id} did not get there: {:?}",
                seen.last()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn poll_terminal(&self, id: &str) -> Value {
        self.poll(id, |r| {
            let terminal = matches!(r["status"].as_str(), Some("done" | "failed"));
            let delivered =
                r["webhook_delivery"].is_null() || r["webhook_delivery"]["finished"] == true;
            terminal && delivered
        })
        .await
        .pop()
        .unwrap()
    }
}

fn client(ca: Option<&Path>) -> reqwest::Client {
    sel_node::tls::http_client(sel_node::tls::client_config(ca).unwrap()).unwrap()
}

fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sel-deid-jobs-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn memory() -> Arc<dyn JobStore> {
    Arc::new(MemoryJobStore::new())
}

fn documents() -> Value {
    Value::Array(
        NOTES
            .iter()
            .map(|(id, text)| json!({"id": id, "text": text}))
            .collect(),
    )
}

fn sha(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// Every matched value of the notes, by the engine itself.
fn phi_values() -> Vec<String> {
    let engine = Engine::new();
    NOTES
        .iter()
        .flat_map(|(_, text)| {
            let chars: Vec<char> = text.chars().collect();
            engine
                .detect(text)
                .into_iter()
                .map(move |f| chars[f.start..f.end].iter().collect::<String>())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Every window of `size` characters of `s` (or `s` itself if shorter).
fn windows(s: &str, size: usize) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    if chars.len() <= size {
        return vec![s.to_string()];
    }
    chars.windows(size).map(|w| w.iter().collect()).collect()
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// Asserts that no text of the notes, no 7-character piece of any matched
/// value and no piece of the webhook secret occurs in `bytes`.
fn assert_holds_no_text(bytes: &[u8], what: &str) {
    for (_, text) in NOTES {
        for piece in windows(text, 16) {
            assert!(
                !contains(bytes, &piece),
                "{what} holds document text {piece:?}"
            );
        }
    }
    let values = phi_values();
    assert!(
        values.len() >= 8,
        "the notes must hold identifiers: {}",
        values.len()
    );
    for value in values {
        for piece in windows(&value, 7) {
            assert!(
                !contains(bytes, &piece),
                "{what} holds a piece of a matched value: {piece:?}"
            );
        }
    }
    for piece in windows(SECRET, 8) {
        assert!(
            !contains(bytes, &piece),
            "{what} holds a piece of the webhook secret"
        );
    }
}

/// What the engine finds in the notes, as the job should report it.
fn expected_spans() -> (Vec<Value>, Value) {
    let engine = Engine::new();
    let mut spans = Vec::new();
    let mut histogram = serde_json::Map::new();
    for (id, text) in NOTES {
        let chars: Vec<char> = text.chars().collect();
        for f in engine.detect(text) {
            let value: String = chars[f.start..f.end].iter().collect();
            spans.push(json!({
                "document_id": id,
                "start": f.start,
                "end": f.end,
                "label": f.label,
                "text_hash": sha(value.as_bytes()),
                "confidence": f.confidence,
            }));
            let n = histogram.entry(f.label.clone()).or_insert(json!(0));
            *n = json!(n.as_u64().unwrap() + 1);
        }
    }
    (spans, Value::Object(histogram))
}

fn assert_spans_match_engine(record: &Value) {
    let (expected, histogram) = expected_spans();
    let spans = record["spans"].as_array().unwrap();
    assert_eq!(spans.len(), expected.len(), "{record}");
    for (got, want) in spans.iter().zip(&expected) {
        for field in ["document_id", "start", "end", "label", "text_hash"] {
            assert_eq!(got[field], want[field], "{field} of {got}");
        }
        // The job reports the engine's f32 confidence as a JSON number.
        assert_eq!(
            got["confidence"].as_f64().unwrap() as f32,
            want["confidence"].as_f64().unwrap() as f32
        );
    }
    assert_eq!(record["label_histogram"], histogram);
    let documents: Vec<Value> = NOTES
        .iter()
        .map(|(id, text)| json!({"id": id, "length": text.chars().count(), "text_hash": sha(text.as_bytes())}))
        .collect();
    assert_eq!(record["documents"], Value::Array(documents));
}

const STATUS_ORDER: [&str; 4] = ["queued", "running", "done", "failed"];

fn rank(status: &str) -> usize {
    STATUS_ORDER
        .iter()
        .position(|s| *s == status)
        .unwrap()
        .min(2)
}

#[tokio::test]
async fn a_job_runs_to_done_with_the_engines_spans_and_no_text() {
    let h = Harness::start(memory(), JobSettings::default()).await;
    h.jobs.pause();
    let (status, _, accepted) = h
        .post(json!({"documents": documents(), "method": "mask"}).to_string())
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let id = accepted["id"].as_str().unwrap();
    assert_eq!(id.len(), 32);
    assert_eq!(
        accepted,
        json!({
            "id": id,
            "status": "queued",
            "progress_percent": 0.0,
            "document_count": NOTES.len(),
            "status_url": format!("/jobs/{id}"),
        })
    );
    let (_, queued) = h.get(id).await;
    assert_eq!(queued["status"], "queued");
    h.jobs.resume();

    let seen = h.poll(id, |r| r["status"] == "done").await;
    let mut last = (0usize, 0.0f64);
    for record in &seen {
        let r = rank(record["status"].as_str().unwrap());
        let p = record["progress_percent"].as_f64().unwrap();
        assert!(
            r >= last.0 && p >= last.1,
            "status or progress went back: {seen:?}"
        );
        last = (r, p);
    }
    let done = seen.last().unwrap();
    assert_eq!(done["progress_percent"], 100.0);
    assert_eq!(done["processed_count"], NOTES.len());
    assert_eq!(done["failed_count"], 0);
    assert_eq!(done["error"], Value::Null);
    assert_eq!(done["webhook_delivery"], Value::Null);
    assert_eq!(done["method"], "mask");
    assert!(done["completed_at"].as_str().unwrap().ends_with('Z'));
    assert_spans_match_engine(done);
    assert_holds_no_text(done.to_string().as_bytes(), "the status record");
    h.stop().await;
}

#[tokio::test]
async fn every_method_completes_and_progress_is_monotone_over_many_documents() {
    let h = Harness::start(memory(), JobSettings::default()).await;
    let many: Vec<Value> = (0..60)
        .map(|i| json!({"id": format!("d{i}"), "text": NOTES[i % NOTES.len()].1}))
        .collect();
    for method in ["mask", "hash", "redact"] {
        let id = h
            .submit(&json!({"documents": many, "method": method}))
            .await;
        let seen = h.poll(&id, |r| r["status"] == "done").await;
        let progress: Vec<f64> = seen
            .iter()
            .map(|r| r["progress_percent"].as_f64().unwrap())
            .collect();
        assert!(progress.windows(2).all(|w| w[0] <= w[1]), "{progress:?}");
        let done = seen.last().unwrap();
        assert_eq!(done["processed_count"], 60, "{method}");
        assert_eq!(done["documents"].as_array().unwrap().len(), 60);
        assert_eq!(done["method"], method);
    }
    h.stop().await;
}

#[tokio::test]
async fn every_refusal_has_its_status_and_a_detail_without_values() {
    let settings = JobSettings {
        max_documents: 5,
        max_body_bytes: 1_300_000,
        max_job_bytes: 1_000_000,
        ..JobSettings::default()
    };
    let h = Harness::start(memory(), settings).await;
    let doc = |id: &str| json!({"id": id, "text": "Maria Garcia SECRETVALUE"});
    let hook = |url: &str| json!({"url": url, "secret": SECRET, "max_attempts": 2, "backoff_seconds": 0.01});
    let cases = [
        (json!({"documents": [], "method": "mask"}), "at least one"),
        (
            json!({"documents": [doc("a"), doc("a")], "method": "mask"}),
            "duplicate",
        ),
        (
            json!({"documents": [{"id": "a", "text": "x".repeat(500_001)}], "method": "mask"}),
            "500000 characters",
        ),
        (
            json!({"documents": [doc("a")], "method": "tokenize"}),
            "method",
        ),
        (
            json!({"documents": [doc("a")], "method": "mask", "webhook": hook("http://192.0.2.1/hook")}),
            "https",
        ),
        (
            json!({"documents": [doc("a")], "method": "mask", "webhook": hook("ftp://127.0.0.1/")}),
            "https",
        ),
        (
            json!({"documents": [doc("a")], "method": "mask", "webhook": {"url": "https://example.org/", "secret": "short"}}),
            "webhook.secret",
        ),
        (
            json!({"documents": (0..6).map(|i| doc(&i.to_string())).collect::<Vec<_>>(), "method": "mask"}),
            "at most 5",
        ),
        (
            json!({"documents": [{"id": "a", "text": "é".repeat(300_000)}, {"id": "b", "text": "é".repeat(300_000)}], "method": "mask"}),
            "total more than",
        ),
        (
            json!({"documents": [{"id": "a"}], "method": "mask"}),
            "not a job",
        ),
        (
            json!({"documents": "SECRETVALUE", "method": "mask"}),
            "not a job",
        ),
    ];
    for (body, expected) in cases {
        let (status, _, answer) = h.post(body.to_string()).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{expected}: {answer}"
        );
        let detail = answer["detail"].as_str().unwrap();
        assert!(detail.contains(expected), "{detail:?} lacks {expected:?}");
        assert!(
            !detail.contains("SECRETVALUE") && !detail.contains("Maria"),
            "{detail:?}"
        );
        assert_eq!(answer.as_object().unwrap().len(), 1);
    }

    for malformed in ["{\"documents\": [", "not json", ""] {
        let (status, _, answer) = h.post(malformed.to_string()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{malformed:?}: {answer}");
        assert!(
            answer["detail"]
                .as_str()
                .unwrap()
                .contains("not valid JSON")
        );
    }

    let (status, _, answer) = h.post(vec![b' '; 1_300_001]).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{answer}");

    // Unknown ids, well-formed or not.
    for id in ["0123456789abcdef0123456789abcdef", "nope", "..%2F..%2Fetc"] {
        let (status, answer) = h.get(id).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{id}");
        assert_eq!(answer, json!({"detail": "job not found"}));
    }

    // Without a key nothing is admitted or shown.
    let id = h
        .submit(&json!({"documents": [doc("a")], "method": "redact"}))
        .await;
    let anonymous = h
        .http
        .post(format!("{}/jobs", h.base))
        .body(json!({"documents": [doc("a")], "method": "mask"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let anonymous = h
        .http
        .get(format!("{}/jobs/{id}", h.base))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    h.stop().await;
}

#[tokio::test]
async fn a_full_queue_answers_503_with_retry_after_and_admits_again_once_drained() {
    let settings = JobSettings {
        workers: 1,
        queue_capacity: 2,
        max_job_bytes: 1000,
        max_pending_bytes: 1000,
        ..JobSettings::default()
    };
    let h = Harness::start(memory(), settings).await;
    h.jobs.pause();
    let small = json!({"documents": [{"id": "a", "text": NOTES[0].1}], "method": "mask"});
    let first = h.submit(&small).await;
    let second = h.submit(&small).await;
    let (status, headers, answer) = h.post(small.to_string()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{answer}");
    assert_eq!(headers.get("retry-after").unwrap(), "5");
    assert!(answer["detail"].as_str().unwrap().contains("queue is full"));

    h.jobs.resume();
    for id in [&first, &second] {
        assert_eq!(h.poll_terminal(id).await["status"], "done");
    }
    // The memory bound: 600 + 600 bytes of text exceed 1000 while the first
    // job waits.
    h.jobs.pause();
    let big = json!({"documents": [{"id": "a", "text": "y".repeat(600)}], "method": "mask"});
    let third = h.submit(&big).await;
    let (status, headers, _) = h.post(big.to_string()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(headers.contains_key("retry-after"));
    h.jobs.resume();
    assert_eq!(h.poll_terminal(&third).await["status"], "done");
    let fourth = h.submit(&big).await;
    assert_eq!(h.poll_terminal(&fourth).await["status"], "done");
    h.stop().await;
}

/// One request a receiver got.
#[derive(Clone, Debug)]
struct Received {
    event: String,
    timestamp: String,
    signature: String,
    body: bytes::Bytes,
}

/// A webhook receiver answering `failures` requests with 500, then 200.
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<Received>>>,
    server: RunningServer,
}

async fn receiver(failures: usize, tls: Option<Arc<rustls::ServerConfig>>) -> Receiver {
    let got = Arc::new(Mutex::new(Vec::new()));
    let count = Arc::new(AtomicUsize::new(0));
    let record = Arc::clone(&got);
    let filter = warp::post()
        .and(warp::header::headers_cloned())
        .and(warp::body::bytes())
        .map(move |headers: http::HeaderMap, body: bytes::Bytes| {
            let header = |name: &str| {
                headers
                    .get(name)
                    .map(|v| v.to_str().unwrap().to_string())
                    .unwrap_or_default()
            };
            record.lock().unwrap().push(Received {
                event: header("x-openmed-event"),
                timestamp: header("x-openmed-timestamp"),
                signature: header("x-openmed-signature"),
                body,
            });
            let status = if count.fetch_add(1, Ordering::SeqCst) < failures {
                StatusCode::INTERNAL_SERVER_ERROR
            } else {
                StatusCode::OK
            };
            warp::reply::with_status("ok", status)
        })
        .recover(recover);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let scheme = if tls.is_some() { "https" } else { "http" };
    let host = if tls.is_some() {
        "localhost".to_string()
    } else {
        "127.0.0.1".to_string()
    };
    let server =
        sel_node::https::serve(listener, tls, filter, ConnectionLimits::default()).unwrap();
    Receiver {
        url: format!("{scheme}://{host}:{}/hook", server.local_addr().port()),
        got,
        server,
    }
}

fn check_signed(r: &Received) {
    assert!(r.timestamp.parse::<u64>().is_ok(), "{:?}", r.timestamp);
    assert!(verify_signature(
        SECRET.as_bytes(),
        &r.timestamp,
        &r.body,
        &r.signature
    ));
    assert!(!verify_signature(
        b"another-secret-0123456789",
        &r.timestamp,
        &r.body,
        &r.signature
    ));
    let mut tampered = r.body.to_vec();
    tampered[1] ^= 1;
    assert!(!verify_signature(
        SECRET.as_bytes(),
        &r.timestamp,
        &tampered,
        &r.signature
    ));
    // Computed here from the definition, not by the service's own helper.
    let mut mac = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("{}.", r.timestamp).as_bytes());
    mac.update(&r.body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(r.signature, format!("sha256={hex}"));
}

/// The body is canonical: compact, keys sorted (checked on the raw bytes,
/// independent of how serde_json orders maps).
fn check_canonical(body: &[u8]) {
    let text = std::str::from_utf8(body).unwrap();
    assert!(
        !text.contains(": ") && !text.contains(", ") && !text.contains('\n'),
        "{text}"
    );
    let keys = [
        "completed_at",
        "document_count",
        "documents",
        "error",
        "event",
        "failed_count",
        "job_id",
        "label_histogram",
        "processed_count",
        "progress_percent",
        "spans",
        "status",
    ];
    let positions: Vec<usize> = keys
        .iter()
        .map(|k| {
            text.find(&format!("\"{k}\":"))
                .unwrap_or_else(|| panic!("{k} missing"))
        })
        .collect();
    // `documents`' and `spans`' inner keys come after the top-level key
    // names they follow, so the first occurrences are the top-level ones.
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "keys not sorted: {text}"
    );
    let value: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(jobs::canonical_json(&value), body);
}

#[tokio::test]
async fn the_webhook_is_signed_canonical_and_sent_over_verified_tls() {
    let dir = scratch("tls");
    let ca = sel_node::ca::init(&dir.join("ca")).unwrap();
    let leaf = sel_node::ca::issue(&dir.join("ca"), "localhost", &[], &dir.join("out")).unwrap();
    let tls = sel_node::tls::server_config(&leaf.cert, &leaf.key).unwrap();
    let rx = receiver(0, Some(tls)).await;
    let settings = JobSettings {
        webhook_ca_bundle: Some(ca.cert.clone()),
        ..JobSettings::default()
    };
    let h = Harness::start(memory(), settings).await;
    let id = h
        .submit(&json!({
            "documents": documents(),
            "method": "redact",
            "webhook": {"url": rx.url, "secret": SECRET, "max_attempts": 3, "backoff_seconds": 0.01}
        }))
        .await;
    let record = h.poll_terminal(&id).await;
    assert_eq!(
        record["webhook_delivery"],
        json!({"attempts": 1, "last_status": 200, "delivered": true, "last_error": null, "finished": true})
    );
    let got = rx.got.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    let r = &got[0];
    assert_eq!(r.event, "job.done");
    check_signed(r);
    check_canonical(&r.body);
    assert_holds_no_text(&r.body, "the webhook body");
    let payload: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(payload["event"], "job.done");
    assert_eq!(payload["job_id"], id);
    for field in [
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
    ] {
        assert_eq!(payload[field], record[field], "{field}");
    }
    assert_eq!(payload.as_object().unwrap().len(), 12);
    assert_spans_match_engine(&payload);
    h.stop().await;

    // A service that does not trust the test CA refuses the receiver: no
    // request arrives, and the failure is recorded.
    let h = Harness::start(memory(), JobSettings::default()).await;
    let id = h
        .submit(&json!({
            "documents": documents(),
            "method": "mask",
            "webhook": {"url": rx.url, "secret": SECRET, "max_attempts": 1}
        }))
        .await;
    let record = h.poll_terminal(&id).await;
    let delivery = &record["webhook_delivery"];
    assert_eq!(delivery["delivered"], false);
    assert_eq!(delivery["attempts"], 1);
    assert_eq!(delivery["last_status"], Value::Null);
    assert!(
        matches!(
            delivery["last_error"].as_str(),
            Some("connect" | "transport")
        ),
        "{delivery}"
    );
    assert_eq!(rx.got.lock().unwrap().len(), 1, "no request got through");
    h.stop().await;
    rx.server.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_failing_receiver_is_retried_until_it_accepts() {
    let rx = receiver(2, None).await;
    let h = Harness::start(memory(), JobSettings::default()).await;
    let id = h
        .submit(&json!({
            "documents": documents(),
            "method": "hash",
            "webhook": {"url": rx.url, "secret": SECRET, "max_attempts": 5, "backoff_seconds": 0.01}
        }))
        .await;
    let record = h.poll_terminal(&id).await;
    assert_eq!(
        record["webhook_delivery"],
        json!({"attempts": 3, "last_status": 200, "delivered": true, "last_error": null, "finished": true})
    );
    let got = rx.got.lock().unwrap().clone();
    assert_eq!(got.len(), 3);
    for r in &got {
        check_signed(r);
        assert_eq!(r.body, got[0].body, "every attempt sends the same body");
    }
    h.stop().await;
    rx.server.shutdown().await;
}

#[tokio::test]
async fn attempts_are_bounded_and_the_outcome_recorded_when_the_receiver_is_dead_or_refuses() {
    // A port nothing listens on any more.
    let dead = {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap().port()
    };
    let refusing = receiver(usize::MAX, None).await;
    let h = Harness::start(memory(), JobSettings::default()).await;
    let hook = |url: String| json!({"url": url, "secret": SECRET, "max_attempts": 3, "backoff_seconds": 0.01});
    let to_dead = h
        .submit(&json!({"documents": documents(), "method": "mask", "webhook": hook(format!("http://127.0.0.1:{dead}/hook"))}))
        .await;
    let to_refusing = h
        .submit(&json!({"documents": documents(), "method": "mask", "webhook": hook(refusing.url.clone())}))
        .await;
    let record = h.poll_terminal(&to_dead).await;
    assert_eq!(
        record["status"], "done",
        "a failed webhook does not fail the job"
    );
    assert_eq!(
        record["webhook_delivery"],
        json!({"attempts": 3, "last_status": null, "delivered": false, "last_error": "connect", "finished": true})
    );
    let record = h.poll_terminal(&to_refusing).await;
    assert_eq!(
        record["webhook_delivery"],
        json!({"attempts": 3, "last_status": 500, "delivered": false, "last_error": "status", "finished": true})
    );
    assert_eq!(refusing.got.lock().unwrap().len(), 3);
    h.stop().await;
    refusing.server.shutdown().await;
}

#[tokio::test]
async fn the_store_file_holds_metadata_but_no_text_value_or_secret() {
    let dir = scratch("store");
    let path = dir.join(jobs::DB_FILE);
    let rx = receiver(1, None).await;
    let store: Arc<dyn JobStore> = Arc::new(RedbJobStore::open(&path).unwrap());
    let h = Harness::start(store, JobSettings::default()).await;
    let mut ids = Vec::new();
    for method in ["mask", "hash", "redact"] {
        ids.push(
            h.submit(&json!({
                "documents": documents(),
                "method": method,
                "webhook": {"url": rx.url, "secret": SECRET, "max_attempts": 3, "backoff_seconds": 0.01}
            }))
            .await,
        );
    }
    for id in &ids {
        assert_eq!(
            h.poll_terminal(id).await["webhook_delivery"]["delivered"],
            true
        );
    }
    h.stop().await;
    rx.server.shutdown().await;

    let bytes = std::fs::read(&path).unwrap();
    assert_holds_no_text(&bytes, "the store file");
    // The metadata is there (so the search above looked at the right file).
    for id in &ids {
        assert!(contains(&bytes, id), "job {id} is stored");
    }
    let (_, histogram) = expected_spans();
    assert!(contains(&bytes, &sha(NOTES[0].1.as_bytes())));
    assert!(
        histogram
            .as_object()
            .unwrap()
            .keys()
            .all(|label| contains(&bytes, label))
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn jobs_interrupted_by_a_restart_become_failed_and_finished_ones_survive() {
    let dir = scratch("restart");
    let path = dir.join(jobs::DB_FILE);
    // A previous run: one job done, two left queued and running when the
    // process died (their texts were only in that process's memory).
    let first = Harness::start(
        Arc::new(RedbJobStore::open(&path).unwrap()),
        JobSettings::default(),
    )
    .await;
    let done = first
        .submit(&json!({"documents": documents(), "method": "mask"}))
        .await;
    assert_eq!(first.poll_terminal(&done).await["status"], "done");
    first.stop().await;
    let interrupted: Vec<JobRecord> = {
        let store = RedbJobStore::open(&path).unwrap();
        let queued = JobRecord::queued(jobs::model::new_job_id(), Method::Mask, 2, true);
        let mut running = JobRecord::queued(jobs::model::new_job_id(), Method::Hash, 3, false);
        running.status = JobStatus::Running;
        running.processed_count = 1;
        store.save(&queued).unwrap();
        store.save(&running).unwrap();
        vec![queued, running]
    };

    let h = Harness::start(
        Arc::new(RedbJobStore::open(&path).unwrap()),
        JobSettings::default(),
    )
    .await;
    for job in &interrupted {
        let (status, record) = h.get(&job.id).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(record["status"], "failed");
        assert_eq!(record["error"], "service restarted");
        assert!(record["completed_at"].is_string());
        assert_eq!(record["document_count"], job.document_count);
    }
    let (_, record) = h.get(&interrupted[0].id).await;
    assert_eq!(
        record["webhook_delivery"],
        json!({"attempts": 0, "last_status": null, "delivered": false, "last_error": null, "finished": true}),
        "no webhook after a restart: its secret was only in memory"
    );
    let (_, record) = h.get(&done).await;
    assert_eq!(record["status"], "done");
    assert_spans_match_engine(&record);
    // And the restarted service runs new jobs.
    let again = h
        .submit(&json!({"documents": documents(), "method": "redact"}))
        .await;
    assert_eq!(h.poll_terminal(&again).await["status"], "done");
    h.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn terminal_records_expire_after_the_ttl() {
    let settings = JobSettings {
        ttl: Duration::from_millis(300),
        cleanup_interval: Duration::from_millis(50),
        ..JobSettings::default()
    };
    let h = Harness::start(memory(), settings).await;
    let id = h
        .submit(&json!({"documents": documents(), "method": "mask"}))
        .await;
    assert_eq!(h.poll_terminal(&id).await["status"], "done");
    let deadline = Instant::now() + PATIENCE;
    loop {
        let (status, _) = h.get(&id).await;
        if status == StatusCode::NOT_FOUND {
            break;
        }
        assert_eq!(status, StatusCode::OK);
        assert!(Instant::now() < deadline, "the record never expired");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    h.stop().await;
}

#[tokio::test]
async fn shutdown_fails_waiting_jobs_and_refuses_new_ones() {
    let h = Harness::start(memory(), JobSettings::default()).await;
    h.jobs.pause();
    let id = h
        .submit(&json!({"documents": documents(), "method": "mask"}))
        .await;
    h.jobs.shutdown().await;
    let (status, record) = h.get(&id).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(record["status"], "failed");
    assert_eq!(record["error"], "service shut down");
    let (status, headers, _) = h
        .post(json!({"documents": documents(), "method": "mask"}).to_string())
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(headers.contains_key("retry-after"));
    h.server.shutdown().await;
}
