//! Load: 200 `linkRecord` jobs submitted to node A at once, against a small
//! database, with a job queue far smaller than that. Every submission is
//! either accepted (202 with a job id) or refused with 503 and
//! `Retry-After`; every accepted job reaches DONE; no job is lost or
//! duplicated (distinct ids, `/jobs/list` holds exactly the accepted ones,
//! and the callback receiver gets exactly one delivery per accepted
//! submission); a refused submission, sent again after its `Retry-After`,
//! is eventually accepted and done; node A's memory stays bounded. Two
//! submissions with the same `Idempotency-Key` at once make one job.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use e2e_tests::federation::{
    Federation, FederationOptions, JOB_LIMIT, POLL, SITE_B, Which, rss_kib,
};
use e2e_tests::wait_for;
use reqwest::StatusCode;
use serde_json::{Value, json};
use warp::Filter;

use crate::scenario::Scenario;

pub fn scenarios() -> Vec<Scenario> {
    vec![Scenario::new("load: 200 linkRecord jobs at once", load)]
}

/// Jobs submitted in the burst.
const JOBS: usize = 200;
/// Node A's queue bound (waiting or running jobs), well below `JOBS`.
const QUEUE: usize = 32;
/// Node A's resident memory must stay below this (generous: a healthy run
/// needs a small fraction).
const RSS_BOUND_KIB: u64 = 1024 * 1024;
/// Rounds of resubmission before the scenario gives up.
const MAX_ROUNDS: usize = 400;

/// Callbacks received, by the tag in their URL.
#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<HashMap<String, Vec<Value>>>>,
    url: String,
}

impl Receiver {
    async fn start() -> Receiver {
        let got: Arc<Mutex<HashMap<String, Vec<Value>>>> = Arc::default();
        let sink = Arc::clone(&got);
        let route = warp::post()
            .and(warp::path!("cb" / String))
            .and(warp::body::json())
            .map(move |tag: String, body: Value| {
                sink.lock().unwrap().entry(tag).or_default().push(body);
                warp::reply()
            });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the callback receiver");
        let addr = listener.local_addr().unwrap();
        tokio::spawn(warp::serve(route).incoming(listener).run());
        Receiver {
            got,
            url: format!("http://{addr}/cb"),
        }
    }

    fn url(&self, tag: &str) -> String {
        format!("{}/{tag}", self.url)
    }

    fn deliveries(&self) -> HashMap<String, Vec<Value>> {
        self.got.lock().unwrap().clone()
    }
}

/// What became of one submission.
#[derive(Debug, Clone)]
enum Answer {
    Accepted(String),
    Refused { retry_after: u64 },
}

/// POSTs one `linkRecord` to node A; panics on any answer but 202 with a
/// job id or 503 with `Retry-After`.
async fn submit(
    http: reqwest::Client,
    url: String,
    auth: String,
    body: Value,
    idempotency_key: Option<String>,
) -> Answer {
    let mut req = http.post(&url).header("Authorization", auth).json(&body);
    if let Some(key) = idempotency_key {
        req = req.header("Idempotency-Key", key);
    }
    let resp = req
        .send()
        .await
        .unwrap_or_else(|e| panic!("linkRecord: request failed: {e}"));
    let status = resp.status();
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    match status {
        StatusCode::ACCEPTED => {
            let location = header("location").expect("202 without Location");
            let id = location
                .strip_prefix("/jobs/")
                .unwrap_or_else(|| panic!("Location {location:?} is not /jobs/{{id}}"));
            assert!(!id.is_empty(), "empty job id");
            Answer::Accepted(id.to_owned())
        }
        StatusCode::SERVICE_UNAVAILABLE => {
            let retry_after = header("retry-after")
                .unwrap_or_else(|| panic!("503 without Retry-After"))
                .parse()
                .unwrap_or_else(|e| panic!("Retry-After is not seconds: {e}"));
            Answer::Refused { retry_after }
        }
        other => {
            let body = resp.text().await.unwrap_or_default();
            panic!("linkRecord answered {other}: {body}")
        }
    }
}

/// Submits `tags` at once (each with its record); returns each tag's answer.
async fn burst(
    fed: &Federation,
    receiver: &Receiver,
    records: &[Value],
    tags: &[usize],
) -> Vec<(usize, Answer)> {
    let url = fed.a.api(&format!("/linkRecord/{SITE_B}"));
    let mut set = tokio::task::JoinSet::new();
    for &tag in tags {
        let body = json!({
            "callback": {"url": receiver.url(&tag.to_string())},
            "fields": records[tag % records.len()],
        });
        let (http, url, auth) = (fed.http.clone(), url.clone(), fed.a.local_auth());
        set.spawn(async move { (tag, submit(http, url, auth, body, None).await) });
    }
    let mut answers = Vec::new();
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok(answer) => answers.push(answer),
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }
    answers
}

/// Samples a process's resident memory until stopped; keeps the peak.
struct RssSampler {
    peak_kib: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl RssSampler {
    fn start(pid: u32) -> RssSampler {
        let peak_kib = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (peak, halt) = (Arc::clone(&peak_kib), Arc::clone(&stop));
        let task = tokio::spawn(async move {
            while !halt.load(Ordering::Relaxed) {
                if let Some(kib) = rss_kib(pid) {
                    peak.fetch_max(kib, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        RssSampler {
            peak_kib,
            stop,
            task,
        }
    }

    async fn finish(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.task.await;
        self.peak_kib.load(Ordering::Relaxed)
    }
}

async fn load() -> String {
    let fed = Federation::start(FederationOptions {
        label: "system-load",
        patients_a: 20,
        patients_b: 20,
        overlap: 8,
        node_args: vec![
            "--max-queued-jobs".into(),
            QUEUE.to_string(),
            "--max-queued-jobs-per-remote".into(),
            QUEUE.to_string(),
        ],
        ..FederationOptions::default()
    })
    .await;
    fed.configure().await;
    let receiver = Receiver::start().await;
    let records = fed.registry_fields(Which::A, 20).await;
    let pid = fed.pid(&Which::A.node()).expect("node A runs");
    let sampler = RssSampler::start(pid);

    // The same Idempotency-Key twice at once: one job.
    let url = fed.a.api(&format!("/linkRecord/{SITE_B}"));
    let idem_tag = JOBS; // a tag of its own, after the burst's 0..JOBS
    let idem_body =
        json!({"callback": {"url": receiver.url(&idem_tag.to_string())}, "fields": records[0]});
    let key = format!("load-{}", std::process::id());
    let (first, second) = tokio::join!(
        submit(
            fed.http.clone(),
            url.clone(),
            fed.a.local_auth(),
            idem_body.clone(),
            Some(key.clone())
        ),
        submit(
            fed.http.clone(),
            url.clone(),
            fed.a.local_auth(),
            idem_body,
            Some(key)
        ),
    );
    let idem_job = match (first, second) {
        (Answer::Accepted(x), Answer::Accepted(y)) => {
            assert_eq!(x, y, "one Idempotency-Key made two jobs");
            x
        }
        other => panic!("an empty queue refused an idempotent submission: {other:?}"),
    };

    // The burst, then the refused ones again after their Retry-After.
    let all: Vec<usize> = (0..JOBS).collect();
    let mut accepted: BTreeMap<usize, String> = BTreeMap::new();
    let mut pending = all.clone();
    let mut first_refused = 0;
    let mut rounds = 0;
    let mut max_retry_after = 0;
    while !pending.is_empty() {
        rounds += 1;
        assert!(
            rounds <= MAX_ROUNDS,
            "{} submissions still refused after {MAX_ROUNDS} rounds",
            pending.len()
        );
        let answers = burst(&fed, &receiver, &records, &pending).await;
        let mut wait = 0;
        pending.clear();
        for (tag, answer) in answers {
            match answer {
                Answer::Accepted(id) => {
                    assert!(
                        accepted.insert(tag, id).is_none(),
                        "submission {tag} accepted twice"
                    );
                }
                Answer::Refused { retry_after } => {
                    assert!(retry_after >= 1, "Retry-After: 0");
                    wait = wait.max(retry_after);
                    pending.push(tag);
                }
            }
        }
        if rounds == 1 {
            first_refused = pending.len();
        }
        max_retry_after = max_retry_after.max(wait);
        if !pending.is_empty() {
            // Refused submissions wrote nothing: no job, no delivery.
            let got = receiver.deliveries();
            for tag in &pending {
                assert!(
                    !got.contains_key(&tag.to_string()),
                    "refused submission {tag} got a callback"
                );
            }
            tokio::time::sleep(Duration::from_secs(wait)).await;
        }
    }

    // No id twice; the node lists exactly the accepted jobs.
    let ids: HashSet<&String> = accepted.values().collect();
    assert_eq!(ids.len(), JOBS, "two submissions got the same job id");
    assert!(
        !ids.contains(&idem_job),
        "the idempotent job's id was handed out again"
    );
    let mut expected: HashSet<String> = accepted.values().cloned().collect();
    expected.insert(idem_job.clone());

    // Every accepted job reaches DONE.
    let fed_ref = &fed;
    let list = wait_for(
        "every accepted job to finish",
        JOB_LIMIT,
        POLL,
        || async move {
            let fed = fed_ref;
            let list = fed.jobs_list(Which::A).await;
            let finished = list.values().all(|s| s == "DONE" || s == "FAULT");
            finished.then_some(list)
        },
    )
    .await;
    let listed: HashSet<String> = list.keys().cloned().collect();
    assert_eq!(
        listed, expected,
        "/jobs/list differs from the accepted jobs"
    );
    for (id, status) in &list {
        if status != "DONE" {
            let job = fed.job(Which::A, id).await;
            panic!("job {id} ended {status}: {job:?}");
        }
    }

    // Each job says its callback was delivered.
    for id in &expected {
        let job = fed.job(Which::A, id).await.expect("the job's JSON status");
        assert_eq!(
            job["callback_delivery"]["state"], "delivered",
            "job {id}: {job}"
        );
    }

    // Exactly one delivery per accepted submission, each a LID.
    let tags: usize = JOBS + 1;
    let receiver_ref = &receiver;
    let got = wait_for("every callback to arrive", JOB_LIMIT, POLL, || async move {
        let receiver = receiver_ref;
        let got = receiver.deliveries();
        (got.values().map(Vec::len).sum::<usize>() >= tags).then_some(got)
    })
    .await;
    // A late duplicate would arrive within the callback retry delay.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let got_later = receiver.deliveries();
    assert_eq!(got.len(), got_later.len(), "callbacks kept arriving");
    for tag in 0..tags {
        let bodies = got_later
            .get(&tag.to_string())
            .unwrap_or_else(|| panic!("submission {tag}: no callback"));
        assert_eq!(
            bodies.len(),
            1,
            "submission {tag}: {} callbacks",
            bodies.len()
        );
        let body = &bodies[0];
        assert!(
            body.get("error").is_none() && body["result"]["linkageId"].is_string(),
            "submission {tag}: callback without a LID: {body}"
        );
    }
    assert_eq!(got_later.len(), tags, "callbacks for tags never submitted");

    let peak_kib = sampler.finish().await;
    assert!(peak_kib > 0, "node A's memory could not be sampled");
    assert!(
        peak_kib < RSS_BOUND_KIB,
        "node A's resident memory reached {peak_kib} KiB"
    );
    format!(
        "{JOBS} at once (queue {QUEUE}): {} → 202, {first_refused} → 503 + Retry-After ≤ {max_retry_after} s, all in after {rounds} rounds; {} DONE, 1 callback each; idempotent pair = 1 job; peak RSS {} MiB",
        JOBS - first_refused,
        expected.len(),
        peak_kib / 1024
    )
}
