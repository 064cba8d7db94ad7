//! The federation under faults: a peer node killed in the middle of a 2PC,
//! the linkage service down during a job, a misbehaving data service, a node
//! restarted with jobs running and queued, and a callback endpoint that is
//! down. Each scenario asserts that nothing accepted is lost: every job a
//! node answered 202 for is still listed by `/jobs/list`, with a final (or
//! the expected) status and a reason that says what went wrong.
//!
//! The scenarios share one federation (started by the first of them, with
//! [`faults_node_args`]: one worker, a 20 s hold deadline, three callback
//! attempts from 1 s), each leaving it as it found it: every process up and
//! the usual configuration. A scenario that fails drops the federation
//! (which prints the processes' logs and keeps the scratch directory), and
//! the next one starts a fresh one.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use e2e_tests::federation::{
    FAULTS_HOLD_DEADLINE_SECS, Federation, FederationOptions, SITE_B, Which, faults_node_args,
};
use serde_json::{Value, json};
use warp::Filter;
use warp::http::StatusCode;

use crate::scenario::Scenario;

/// The federation the fault scenarios share; `None` until the first one
/// starts it, and again after a scenario failed with it.
type Shared = Arc<tokio::sync::Mutex<Option<Federation>>>;

pub fn scenarios() -> Vec<Scenario> {
    let shared: Shared = Arc::default();
    vec![
        with_federation(
            "faults: callback endpoint down, then failing twice",
            &shared,
            callback_down,
        ),
        with_federation(
            "faults: data service 500, malformed, looping",
            &shared,
            data_service_misbehaving,
        ),
        with_federation(
            "faults: linkage service down during a job",
            &shared,
            linkage_service_down,
        ),
        with_federation(
            "faults: peer node killed mid-2PC",
            &shared,
            peer_killed_mid_2pc,
        ),
        with_federation(
            "faults: node restarted with jobs running and queued",
            &shared,
            node_restarted,
        ),
    ]
}

/// A scenario on the shared federation. The federation is taken out of the
/// shared slot for the run and put back only when the scenario passed; on a
/// panic it is dropped while unwinding, so its logs are printed.
fn with_federation<F>(name: &'static str, shared: &Shared, check: F) -> Scenario
where
    F: for<'a> AsyncCheck<'a> + Send + 'static,
{
    let shared = Arc::clone(shared);
    Scenario::new(name, move || async move {
        let mut slot = shared.lock().await;
        let mut fed = match slot.take() {
            Some(fed) => fed,
            None => start().await,
        };
        let line = check.call(&mut fed).await;
        *slot = Some(fed);
        line
    })
}

/// `async fn(&mut Federation) -> String` as a bound (closures cannot yet
/// say that their future borrows their argument).
pub trait AsyncCheck<'a> {
    type Fut: std::future::Future<Output = String> + Send + 'a;
    fn call(&self, fed: &'a mut Federation) -> Self::Fut;
}

impl<'a, F, Fut> AsyncCheck<'a> for F
where
    F: Fn(&'a mut Federation) -> Fut,
    Fut: std::future::Future<Output = String> + Send + 'a,
{
    type Fut = Fut;
    fn call(&self, fed: &'a mut Federation) -> Fut {
        self(fed)
    }
}

async fn start() -> Federation {
    let fed = Federation::start(FederationOptions {
        label: "system-faults",
        node_args: faults_node_args(),
        ..FederationOptions::default()
    })
    .await;
    fed.configure().await;
    fed
}

// ---- small helpers ----

/// `n` query records: the records of A's registry, ids dropped, repeated
/// as often as needed.
async fn query_records(fed: &Federation, n: usize) -> Vec<Value> {
    let own = fed.registry_records(Which::A).await;
    assert!(!own.is_empty(), "registry A serves no records");
    own.iter()
        .cycle()
        .take(n)
        .map(|r| json!({"fields": r["fields"]}))
        .collect()
}

fn job_body(callback: &str, records: &[Value]) -> Value {
    json!({"callback": {"url": callback}, "records": records})
}

fn link_path() -> String {
    format!("/linkRecords/{SITE_B}")
}

fn match_path() -> String {
    format!("/matchRecords/{SITE_B}")
}

/// The statuses a job went through, in order.
fn history(job: &Value) -> Vec<String> {
    job["history"]
        .as_array()
        .map(|h| {
            h.iter()
                .filter_map(|c| c["status"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn reason(job: &Value) -> String {
    job["error"].as_str().unwrap_or("").to_owned()
}

/// Every id in `ids` is listed by `which`'s `/jobs/list` with one of
/// `statuses`.
async fn assert_listed(fed: &Federation, which: Which, ids: &[&str], statuses: &[&str]) {
    let list = fed.jobs_list(which).await;
    for id in ids {
        let status = list
            .get(*id)
            .unwrap_or_else(|| panic!("job {id} vanished from /jobs/list of {which:?}: {list:?}"));
        assert!(
            statuses.iter().any(|s| status == s),
            "job {id} is {status} at {which:?}, expected one of {statuses:?}"
        );
    }
}

/// The node answers `/test/{other}` (some status, no hang) while the other
/// side may be down; returns the status.
async fn test_status(fed: &Federation, which: Which) -> u16 {
    let site = fed.site(which);
    let other = fed.site(which.other());
    let resp = fed
        .http
        .get(site.api(&format!("/test/{}", other.id)))
        .header("Authorization", site.local_auth())
        .send()
        .await
        .unwrap_or_else(|e| panic!("/test from {:?} did not answer: {e}", which));
    resp.status().as_u16()
}

/// initRemote again with the same body: answers 200 "Updated connection"
/// (the first one answered 204).
async fn reinit_remote(fed: &Federation, which: Which) {
    let site = fed.site(which);
    let other = fed.site(which.other());
    let body = json!({
        "connectionProfile": {"url": other.peer_url(),
            "authentication": {"authType": "apiKey", "sharedKey": fed.pair_key}},
        "linkageService": {"url": fed.ls_url,
            "authentication": {"authType": "apiKey", "sharedKey": site.ls_api_key}},
        "matchingAllowed": true,
    });
    let resp = fed
        .http
        .put(site.api(&format!("/initRemote/{}", other.id)))
        .header("Authorization", site.local_auth())
        .json(&body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("initRemote did not answer: {e}"));
    let status = resp.status().as_u16();
    assert!(
        status == 200 || status == 204,
        "initRemote answered {status}"
    );
}

/// A loopback port where nothing listens (it was free a moment ago).
fn dead_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

// ---- a callback receiver of the test's own ----

/// A plain-http callback receiver (SPEC §3 allows `http://` callbacks):
/// `POST /cb/{tag}` answers 500 for the first `fail_first` posts of a tag,
/// then 200; it counts the posts and keeps the accepted bodies.
#[derive(Clone)]
struct Receiver {
    addr: SocketAddr,
    seen: Posts,
}

/// Per tag: the posts received, and the body of the accepted one.
type Posts = Arc<Mutex<HashMap<String, (u32, Option<Value>)>>>;

impl Receiver {
    async fn start(fail_first: u32) -> Receiver {
        let seen: Posts = Arc::default();
        let s = Arc::clone(&seen);
        let route = warp::post()
            .and(warp::path!("cb" / String))
            .and(warp::body::json())
            .map(move |tag: String, body: Value| {
                let mut seen = s.lock().unwrap_or_else(|e| e.into_inner());
                let entry = seen.entry(tag).or_insert((0, None));
                entry.0 += 1;
                if entry.0 <= fail_first {
                    return warp::reply::with_status(
                        "try later",
                        StatusCode::INTERNAL_SERVER_ERROR,
                    );
                }
                entry.1 = Some(body);
                warp::reply::with_status("ok", StatusCode::OK)
            });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the callback receiver");
        let addr = listener.local_addr().expect("receiver address");
        tokio::spawn(warp::serve(route).incoming(listener).run());
        Receiver { addr, seen }
    }

    fn url(&self, tag: &str) -> String {
        format!("http://{}/cb/{tag}", self.addr)
    }

    /// (posts received, the accepted body) of `tag`.
    fn got(&self, tag: &str) -> (u32, Option<Value>) {
        self.seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(tag)
            .cloned()
            .unwrap_or((0, None))
    }
}

/// Waits until job `id`'s callback delivery is final (`delivered` or
/// `failed`); returns the job.
async fn wait_for_delivery(fed: &Federation, which: Which, id: &str) -> Value {
    wait_for_delivery_within(fed, which, id, e2e_tests::federation::JOB_LIMIT).await
}

async fn wait_for_delivery_within(
    fed: &Federation,
    which: Which,
    id: &str,
    limit: Duration,
) -> Value {
    e2e_tests::wait_for(
        &format!("the callback of job {id} to be delivered or given up"),
        limit,
        e2e_tests::federation::POLL,
        || async move {
            let job = fed.job(which, id).await?;
            let state = job["callback_delivery"]["state"].as_str()?.to_owned();
            (state == "delivered" || state == "failed").then_some(job)
        },
    )
    .await
}

// ---- 5. callback endpoint down ----

async fn callback_down(fed: &mut Federation) -> String {
    let records = query_records(fed, 3).await;

    // Nothing listens: the job is DONE, its delivery failed after 3 attempts.
    let nowhere = format!("http://127.0.0.1:{}/cb/nowhere", dead_port());
    let id = fed
        .submit(Which::A, &match_path(), &job_body(&nowhere, &records))
        .await;
    let done = fed.wait_for_job(Which::A, &id, &["DONE", "FAULT"]).await;
    assert_eq!(
        done["status"], "DONE",
        "a dead callback must not fail the job: {done}"
    );
    let job = wait_for_delivery(fed, Which::A, &id).await;
    let delivery = &job["callback_delivery"];
    assert_eq!(delivery["state"], "failed", "{job}");
    assert_eq!(
        delivery["attempts"], 3,
        "every attempt is made and counted: {job}"
    );
    let error = delivery["last_error"].as_str().unwrap_or("");
    assert!(!error.is_empty(), "the failure is recorded: {job}");
    assert_eq!(
        job["status"], "DONE",
        "delivery never changes the status: {job}"
    );

    // A receiver that fails twice, then accepts: delivered on the third try.
    let receiver = Receiver::start(2).await;
    let id2 = fed
        .submit(
            Which::A,
            &match_path(),
            &job_body(&receiver.url("flaky"), &records),
        )
        .await;
    let job2 = wait_for_delivery(fed, Which::A, &id2).await;
    let delivery2 = &job2["callback_delivery"];
    assert_eq!(delivery2["state"], "delivered", "{job2}");
    assert_eq!(delivery2["attempts"], 3, "{job2}");
    assert_eq!(delivery2["last_status"], 200, "{job2}");
    let (posts, body) = receiver.got("flaky");
    assert_eq!(posts, 3, "the receiver saw every attempt");
    let body = body.expect("the accepted body");
    assert!(body["result"]["matches"].is_u64(), "a match result: {body}");
    assert_listed(fed, Which::A, &[&id, &id2], &["DONE"]).await;
    format!(
        "dead endpoint: DONE, delivery failed after 3 attempts ({error}); \
         flaky endpoint: delivered on attempt 3"
    )
}

// ---- 3. data service misbehaving ----

/// What the test's data service does.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Misbehaviour {
    Status500,
    BadJson,
    BadRecords,
    Loop,
}

/// A plain-http data service (SPEC §3: plain `http://` is accepted for
/// the data service) that misbehaves as told; counts its requests.
struct BadDataService {
    base: String,
    mode: Arc<Mutex<Misbehaviour>>,
    requests: Arc<Mutex<u32>>,
}

impl BadDataService {
    /// `records`: well-formed records for the pages of the loop.
    async fn start(records: Vec<Value>) -> BadDataService {
        let mode = Arc::new(Mutex::new(Misbehaviour::Status500));
        let requests: Arc<Mutex<u32>> = Arc::default();
        let (m, n) = (Arc::clone(&mode), Arc::clone(&requests));
        let half = records.len() / 2;
        let pages = Arc::new([records[..half].to_vec(), records[half..].to_vec()]);
        let route = warp::get()
            .and(warp::path!("ds" / String))
            .and(warp::query::<HashMap<String, String>>())
            .map(move |requester: String, query: HashMap<String, String>| {
                *n.lock().unwrap_or_else(|e| e.into_inner()) += 1;
                let mode = *m.lock().unwrap_or_else(|e| e.into_inner());
                let page: usize = query.get("page").and_then(|p| p.parse().ok()).unwrap_or(1);
                let href = |p: usize| json!({"href": format!("/ds/{requester}?page={p}")});
                let (status, body) = match mode {
                    Misbehaviour::Status500 => (StatusCode::INTERNAL_SERVER_ERROR, "{}".to_owned()),
                    Misbehaviour::BadJson => {
                        (StatusCode::OK, "{\"records\": [{\"fields\": ".to_owned())
                    }
                    Misbehaviour::BadRecords => (
                        StatusCode::OK,
                        json!({"records": [{"id": "bad-1", "fields": {"no_such_field": "x"}}]})
                            .to_string(),
                    ),
                    // Page 1 links to page 2, page 2 back to page 1.
                    Misbehaviour::Loop => {
                        let (own, next) = if page == 2 { (2, 1) } else { (1, 2) };
                        (
                            StatusCode::OK,
                            json!({
                                "_links": {"self": href(own), "next": href(next)},
                                "records": pages[own - 1],
                            })
                            .to_string(),
                        )
                    }
                };
                warp::http::Response::builder()
                    .status(status)
                    .header("content-type", "application/json")
                    .body(body)
                    .expect("a response")
            });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the data service");
        let addr = listener.local_addr().expect("data service address");
        tokio::spawn(warp::serve(route).incoming(listener).run());
        BadDataService {
            base: format!("http://{addr}/ds"),
            mode,
            requests,
        }
    }

    fn set(&self, mode: Misbehaviour) {
        *self.mode.lock().unwrap_or_else(|e| e.into_inner()) = mode;
    }

    fn requests(&self) -> u32 {
        *self.requests.lock().unwrap_or_else(|e| e.into_inner())
    }
}

async fn data_service_misbehaving(fed: &mut Federation) -> String {
    let receiver = Receiver::start(0).await;
    let records = query_records(fed, 3).await;
    let bad = BadDataService::start(fed.registry_records(Which::B).await).await;
    // B is the server of A's jobs: B fetches its database for them.
    fed.init_local(Which::B, &bad.base).await;
    let mut ids = Vec::new();
    let mut seen = Vec::new();
    for (mode, expected) in [
        (Misbehaviour::Status500, "answered 500"),
        (Misbehaviour::BadJson, "malformed"),
        (Misbehaviour::BadRecords, "no_such_field"),
        (Misbehaviour::Loop, "loops"),
    ] {
        bad.set(mode);
        let before = bad.requests();
        let tag = format!("{mode:?}");
        let id = fed
            .submit(
                Which::A,
                &match_path(),
                &job_body(&receiver.url(&tag), &records),
            )
            .await;
        let job = fed.wait_for_job(Which::A, &id, &["DONE", "FAULT"]).await;
        assert_eq!(job["status"], "FAULT", "{mode:?}: {job}");
        let why = reason(&job);
        assert!(
            why.contains("data service") && why.contains(expected),
            "{mode:?}: the reason must say what was wrong ({expected}): {why}"
        );
        assert!(
            bad.requests() > before,
            "{mode:?}: B asked the data service"
        );
        if mode == Misbehaviour::Loop {
            assert!(bad.requests() >= before + 2, "the loop was followed");
        }
        // B's own record of the job says the same.
        let server = fed.wait_for_job(Which::B, &id, &["FAULT", "DONE"]).await;
        assert_eq!(server["status"], "FAULT", "{mode:?} at B: {server}");
        assert!(
            reason(&server).contains(expected),
            "{mode:?} at B: {server}"
        );
        fed.assert_node_healthy(Which::A).await;
        fed.assert_node_healthy(Which::B).await;
        ids.push(id);
        seen.push(format!("{mode:?}"));
    }
    // The callbacks got the error.
    for tag in &seen {
        let (_, body) = receiver.got(tag);
        let body = body.unwrap_or_else(|| panic!("{tag}: no callback"));
        assert!(body["error"].is_string(), "{tag}: callback {body}");
    }

    // Healthy again: the next job is DONE.
    let registry = fed.site(Which::B).registry("/getAllRecords");
    fed.init_local(Which::B, &registry).await;
    let id = fed
        .submit(
            Which::A,
            &match_path(),
            &job_body(&receiver.url("healthy"), &records),
        )
        .await;
    let job = fed.wait_for_job(Which::A, &id, &["DONE", "FAULT"]).await;
    assert_eq!(job["status"], "DONE", "with a healthy data service: {job}");
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    assert_listed(fed, Which::A, &refs, &["FAULT"]).await;
    assert_listed(fed, Which::B, &refs, &["FAULT"]).await;
    format!(
        "{} each FAULT with the reason, both nodes serving; healthy again: DONE",
        seen.join(", ")
    )
}

// ---- 2. linkage service down ----

async fn linkage_service_down(fed: &mut Federation) -> String {
    let receiver = Receiver::start(0).await;
    let records = query_records(fed, 4).await;
    // A first linkage job, so B holds the LIDs of its records: the linkage
    // service is then needed only after the 2PC, where a job holds.
    let warm = fed
        .submit(
            Which::A,
            &link_path(),
            &job_body(&receiver.url("warm"), &records),
        )
        .await;
    let job = fed.wait_for_job(Which::A, &warm, &["DONE", "FAULT"]).await;
    assert_eq!(job["status"], "DONE", "{job}");

    // Down, and up again before the deadline: DONE after a HOLD.
    fed.kill_ls();
    let id = fed
        .submit(
            Which::A,
            &link_path(),
            &job_body(&receiver.url("back"), &records),
        )
        .await;
    let held = fed
        .wait_for_job(Which::A, &id, &["HOLD", "DONE", "FAULT"])
        .await;
    assert_eq!(held["status"], "HOLD", "{held}");
    assert!(
        reason(&held).contains("linkage service"),
        "HOLD names the linkage service: {held}"
    );
    fed.start_ls().await;
    let done = fed.wait_for_job(Which::A, &id, &["DONE", "FAULT"]).await;
    assert_eq!(done["status"], "DONE", "the LS came back in time: {done}");
    let h = history(&done);
    assert!(
        h.windows(2).any(|w| w[0] == "HOLD" && w[1] == "RUNNING"),
        "held, then retried: {h:?}"
    );
    let (_, body) = receiver.got("back");
    let body = body.expect("the callback of the held job");
    assert_eq!(
        body["result"].as_array().map(Vec::len),
        Some(records.len()),
        "one LID entry per record: {body}"
    );

    // Down past the deadline: FAULT naming the linkage service.
    fed.kill_ls();
    let id2 = fed
        .submit(
            Which::A,
            &link_path(),
            &job_body(&receiver.url("late"), &records),
        )
        .await;
    let held = fed
        .wait_for_job(Which::A, &id2, &["HOLD", "DONE", "FAULT"])
        .await;
    assert_eq!(held["status"], "HOLD", "{held}");
    let failed = fed.wait_for_job(Which::A, &id2, &["DONE", "FAULT"]).await;
    assert_eq!(failed["status"], "FAULT", "{failed}");
    let why = reason(&failed);
    assert!(
        why.contains("linkage service") && why.contains("HOLD"),
        "FAULT names the linkage service and the wait: {why}"
    );
    assert!(history(&failed).contains(&"HOLD".to_owned()), "{failed}");
    fed.assert_node_healthy(Which::A).await;
    let (_, body) = receiver.got("late");
    assert!(
        body.is_some_and(|b| b["error"].is_string()),
        "the callback got the error"
    );

    // Back up: the federation is whole again.
    fed.start_ls().await;
    let id3 = fed
        .submit(
            Which::A,
            &link_path(),
            &job_body(&receiver.url("after"), &records),
        )
        .await;
    let job = fed.wait_for_job(Which::A, &id3, &["DONE", "FAULT"]).await;
    assert_eq!(job["status"], "DONE", "{job}");
    assert_listed(fed, Which::A, &[&warm, &id, &id3], &["DONE"]).await;
    assert_listed(fed, Which::A, &[&id2], &["FAULT"]).await;
    format!("down then up: HOLD then DONE; down {FAULTS_HOLD_DEADLINE_SECS} s: FAULT \"{why}\"")
}

// ---- 1. peer node killed mid-2PC ----

/// Query records for a job that runs long enough to be interrupted: a
/// chunk of the 2PC holds 2^14 (query, record) pairs, so against B's 40
/// records this is 15 chunks, progress shows after the first, and the job
/// is killed long before its end (only the upload and the first chunk cost
/// time).
const LONG_JOB_RECORDS: usize = 6000;

async fn peer_killed_mid_2pc(fed: &mut Federation) -> String {
    let receiver = Receiver::start(0).await;
    let long = query_records(fed, LONG_JOB_RECORDS).await;
    let id = fed
        .submit(
            Which::A,
            &link_path(),
            &job_body(&receiver.url("long"), &long),
        )
        .await;
    let running = fed.wait_for_progress(Which::A, &id).await;
    fed.kill_node(Which::B);

    let failed = fed.wait_for_job(Which::A, &id, &["DONE", "FAULT"]).await;
    assert_eq!(failed["status"], "FAULT", "{failed}");
    let why = reason(&failed);
    assert!(
        ["remote", "connection", "peer"]
            .iter()
            .any(|w| why.contains(w)),
        "the reason names the peer or the connection: {why}"
    );
    // A keeps serving.
    fed.assert_node_healthy(Which::A).await;
    assert_listed(fed, Which::A, &[&id], &["FAULT"]).await;
    let down = test_status(fed, Which::A).await;
    assert_ne!(down, 200, "/test cannot pass with B down");
    reinit_remote(fed, Which::A).await;

    // B back: its side of the job is final too, and a new job succeeds.
    fed.start_node(Which::B).await;
    assert_listed(fed, Which::B, &[&id], &["FAULT"]).await;
    fed.test_connections(Which::A).await;
    let records = query_records(fed, 3).await;
    let next = fed
        .submit(
            Which::A,
            &link_path(),
            &job_body(&receiver.url("next"), &records),
        )
        .await;
    let job = fed.wait_for_job(Which::A, &next, &["DONE", "FAULT"]).await;
    assert_eq!(job["status"], "DONE", "after B is back: {job}");
    let (_, body) = receiver.got("long");
    assert!(
        body.is_some_and(|b| b["error"].is_string()),
        "the interrupted job's callback got the error"
    );
    format!(
        "killed at {}%: FAULT \"{why}\"; A served (/test {down}); after restart: DONE",
        running["progress_percent"]
    )
}

// ---- 4. node restarted with jobs running and queued ----

async fn node_restarted(fed: &mut Federation) -> String {
    let receiver = Receiver::start(0).await;
    let long = query_records(fed, LONG_JOB_RECORDS).await;
    let small = query_records(fed, 3).await;
    let running = fed
        .submit(
            Which::A,
            &match_path(),
            &job_body(&receiver.url("running"), &long),
        )
        .await;
    fed.wait_for_progress(Which::A, &running).await;
    // One worker: these wait behind the running job.
    let mut queued = Vec::new();
    for i in 0..3 {
        let tag = format!("queued{i}");
        let path = if i == 1 { link_path() } else { match_path() };
        let id = fed
            .submit(Which::A, &path, &job_body(&receiver.url(&tag), &small))
            .await;
        queued.push((tag, id));
    }
    for (_, id) in &queued {
        let job = fed.job(Which::A, id).await.expect("a queued job");
        assert_eq!(
            job["status"], "QUEUED",
            "one worker, one job running: {job}"
        );
    }
    let before: BTreeSet<String> = fed.jobs_list(Which::A).await.keys().cloned().collect();
    let still = fed.job(Which::A, &running).await.expect("the running job");
    assert_eq!(still["status"], "RUNNING", "killed while running: {still}");

    fed.kill_node(Which::A);
    fed.start_node(Which::A).await;

    let after: BTreeSet<String> = fed.jobs_list(Which::A).await.keys().cloned().collect();
    assert_eq!(
        before, after,
        "no job vanished or appeared over the restart"
    );
    fed.test_connections(Which::A).await;
    let interrupted = fed
        .wait_for_job(Which::A, &running, &["DONE", "FAULT"])
        .await;
    assert_eq!(interrupted["status"], "FAULT", "{interrupted}");
    assert_eq!(reason(&interrupted), "node restarted", "{interrupted}");
    for (tag, id) in &queued {
        let job = fed.wait_for_job(Which::A, id, &["DONE", "FAULT"]).await;
        assert_eq!(
            job["status"], "DONE",
            "a queued job runs after the restart: {job}"
        );
        let job = wait_for_delivery(fed, Which::A, id).await;
        assert_eq!(job["callback_delivery"]["state"], "delivered", "{job}");
        assert!(receiver.got(tag).1.is_some(), "{tag}: callback received");
    }
    // The interrupted job's callback is told why (its registry may be
    // waiting for it).
    // Its job is final and the node started: the callback goes out at once
    // (a minute is generous).
    let job = wait_for_delivery_within(fed, Which::A, &running, Duration::from_secs(60)).await;
    assert_eq!(job["callback_delivery"]["state"], "delivered", "{job}");
    let body = receiver
        .got("running")
        .1
        .expect("the interrupted job's callback");
    assert_eq!(body["error"], "node restarted", "{body}");
    // B's side of the interrupted job ended too.
    let server = fed
        .wait_for_job(Which::B, &running, &["DONE", "FAULT"])
        .await;
    assert_eq!(
        server["status"], "FAULT",
        "B's side of the interrupted job: {server}"
    );
    // The configuration is kept: a registry-triggered job still runs.
    let reply = fed.trigger(Which::A, "matchMN").await;
    let batch = fed.wait_for_batch(Which::A, "matchMN").await;
    assert!(batch["result"]["matches"].is_u64(), "{reply} {batch}");
    let final_list = fed.jobs_list(Which::A).await;
    assert!(before.iter().all(|id| final_list.contains_key(id)));
    format!(
        "{} jobs kept over SIGKILL + restart; running one FAULT \"node restarted\", {} queued DONE; remotes connected",
        before.len(),
        queued.len()
    )
}
