//! Hostile input on whole nodes over real sockets and verified TLS: a data
//! service that fails, answers garbage, loops or serves a record that breaks
//! the configuration; a peer that announces absurd record counts or writes
//! garbage into a running 2PC; a callback that refuses connections.
//!
//! Every test checks the job's final status, that the reason names what went
//! wrong (page, index, field; never a value or a key), and that the node
//! keeps serving: `/health` answers and a following good job reaches DONE.
//!
//! The hostile peer is a real [`PeerHub`] (the node's own peer channel) with
//! a test directory and a test [`IncomingJobs`]: it speaks the handshake
//! properly and misbehaves only where the test says.

mod node_support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use mpc_core::Party;
use mpc_core::channel::{Channel, MuxSession};
use mpc_core::epilink::synth::{Population, SynthOptions};
use mpc_core::epilink::{
    JobOptions, JobOutput, Mode, PeerOt, Profile, ProfileKnobs, fingerprint, run_job,
};
use protocol_spec::config::{LinkageConfig, Record};
use protocol_spec::messages::mainsel::{AlgorithmConfig, InitLocal, InitRemote, JobStatus};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use sel_node::jobs::JobManager;
use sel_node::model::{
    Accepted, Announce, DeliveryState, IncomingJobs, JobMode, JobRecord, JobSide, LocalSite,
    PEER_PROTOCOL_VERSION, Refusal, RemoteDirectory, RemoteSite,
};
use sel_node::node::{RunningNode, start};
use sel_node::peer::{PeerConfig, PeerError, PeerHub};
use sel_node::settings::Settings;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use warp::Filter;
use warp::http::StatusCode;

use node_support::{
    Callbacks, PAIR_KEY, Pki, Rest, TempDir, default_algorithm, init_local, init_remote,
    init_remote_at, node_settings, start_callbacks, with_ids,
};

// ---------------------------------------------------------------- data

fn config() -> LinkageConfig {
    let alg: AlgorithmConfig = serde_json::from_value(default_algorithm()).unwrap();
    LinkageConfig::from_wire(&alg).unwrap()
}

fn fingerprint_hex(config: &LinkageConfig) -> String {
    blake3::Hash::from(fingerprint(config)).to_hex().to_string()
}

fn population() -> Population {
    Population::generate(
        &config(),
        &SynthOptions {
            database: 6,
            queries: 1,
            ..SynthOptions::default()
        },
    )
    .unwrap()
}

/// A matching request for one query record of the population.
fn match_body(callback: &str, pop: &Population) -> Value {
    let fields = protocol_spec::value::record_to_wire(&config(), &pop.queries[0]).unwrap();
    json!({"callback": {"url": callback}, "fields": fields})
}

// ---------------------------------------------------------------- data service

/// What the data service answers.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Answer {
    /// Proper pages.
    Pages,
    /// 500 on every request.
    Status500,
    /// 200 with a body that is not JSON.
    Garbage,
    /// Proper pages without page numbers, and the last page's `next`
    /// links back to page 1.
    Loop,
}

/// A data service whose behaviour a test switches between jobs:
/// `GET /records/{requester}?page=N` in pages of `page_size`.
struct HostileDs {
    url: String,
    answer: Arc<Mutex<Answer>>,
    records: Arc<Mutex<Vec<Value>>>,
    requests: Arc<AtomicU64>,
}

impl HostileDs {
    async fn start(records: Vec<Value>, page_size: usize) -> HostileDs {
        let answer = Arc::new(Mutex::new(Answer::Pages));
        let records = Arc::new(Mutex::new(records));
        let requests = Arc::new(AtomicU64::new(0));
        let base = Arc::new(Mutex::new(String::new()));
        let (a, r, q, b) = (
            answer.clone(),
            records.clone(),
            requests.clone(),
            base.clone(),
        );
        let route = warp::get()
            .and(warp::path!("records" / String))
            .and(warp::query::<HashMap<String, String>>())
            .map(move |requester: String, query: HashMap<String, String>| {
                use warp::Reply;
                q.fetch_add(1, Ordering::Relaxed);
                let answer = *a.lock().unwrap();
                match answer {
                    Answer::Status500 => {
                        return warp::reply::with_status("boom", StatusCode::INTERNAL_SERVER_ERROR)
                            .into_response();
                    }
                    Answer::Garbage => {
                        return warp::reply::with_header(
                            "<html>not a page {",
                            "content-type",
                            "application/json",
                        )
                        .into_response();
                    }
                    Answer::Pages | Answer::Loop => {}
                }
                let records = r.lock().unwrap().clone();
                let page: usize = query.get("page").and_then(|p| p.parse().ok()).unwrap_or(1);
                let last = records.len().div_ceil(page_size).max(1);
                let chunk: Vec<Value> = records
                    .iter()
                    .skip((page - 1) * page_size)
                    .take(page_size)
                    .cloned()
                    .collect();
                let base = b.lock().unwrap().clone();
                let href =
                    |p: usize| json!({"href": format!("{base}/records/{requester}?page={p}")});
                let mut links = json!({"self": href(page), "first": href(1), "last": href(last)});
                if page < last {
                    links["next"] = href(page + 1);
                } else if answer == Answer::Loop {
                    links["next"] = href(1);
                }
                let mut body = json!({
                    "_links": links,
                    "total": records.len(),
                    "pageSize": page_size,
                    "remoteId": requester,
                    "records": chunk,
                });
                if answer == Answer::Pages {
                    body["currentPageNumber"] = json!(page);
                    body["lastPageNumber"] = json!(last);
                }
                warp::reply::json(&body).into_response()
            });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(warp::serve(route).incoming(listener).run());
        *base.lock().unwrap() = format!("http://{addr}");
        HostileDs {
            url: format!("http://{addr}/records"),
            answer,
            records,
            requests,
        }
    }

    fn set(&self, answer: Answer) {
        *self.answer.lock().unwrap() = answer;
    }
}

fn wire_database(pop: &Population) -> Vec<Value> {
    with_ids(&config(), &pop.database)
        .into_iter()
        .map(|r| serde_json::to_value(r).unwrap())
        .collect()
}

// ---------------------------------------------------------------- nodes

fn sub_dir(root: &TempDir, name: &str) -> std::path::PathBuf {
    let dir = root.path().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Waits (bounded) until `job` is DONE or FAULT; its record.
async fn wait_final(manager: &JobManager, job: &str) -> JobRecord {
    for _ in 0..6000 {
        if let Some(j) = manager.job(job)
            && matches!(j.status, JobStatus::Done | JobStatus::Fault)
        {
            return j;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("job {job} never became final: {:?}", manager.job(job));
}

async fn assert_healthy(rest: &Rest) {
    let r = rest
        .http
        .get(format!("{}/health", rest.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
}

/// Two nodes: A asks, B answers from `ds` (matching allowed both ways).
struct Pair {
    _root: TempDir,
    a: RunningNode,
    b: RunningNode,
    rest_a: Rest,
    rest_b: Rest,
    callbacks: Callbacks,
}

async fn pair(tag: &str, ds_url: &str, settings_a: impl FnOnce(Settings) -> Settings) -> Pair {
    let root = TempDir::new(tag);
    let pki = Pki::new(root.path());
    let callbacks = start_callbacks().await;
    let b = start(node_settings(&sub_dir(&root, "b"), &pki))
        .await
        .unwrap();
    let a = start(settings_a(node_settings(&sub_dir(&root, "a"), &pki)))
        .await
        .unwrap();
    let (rest_a, rest_b) = (
        Rest::new(&pki, &a, "key-of-A"),
        Rest::new(&pki, &b, "key-of-B"),
    );
    let none = "http://127.0.0.1:9/none";
    assert_eq!(
        rest_a
            .put("/initLocal", &init_local("A", "key-of-A", none))
            .await,
        204
    );
    assert_eq!(
        rest_b
            .put("/initLocal", &init_local("B", "key-of-B", ds_url))
            .await,
        204
    );
    assert_eq!(
        rest_a
            .put("/initRemote/B", &init_remote(&b, None, true))
            .await,
        204
    );
    assert_eq!(
        rest_b
            .put("/initRemote/A", &init_remote(&a, None, true))
            .await,
        204
    );
    Pair {
        _root: root,
        a,
        b,
        rest_a,
        rest_b,
        callbacks,
    }
}

impl Pair {
    /// Submits a matchRecord job from A to B; its final record at A and the
    /// callback body.
    async fn match_job(&mut self, tag: &str, pop: &Population) -> (JobRecord, Value) {
        let job = self
            .rest_a
            .submit("/matchRecord/B", &match_body(&self.callbacks.url(tag), pop))
            .await;
        let got = self.callbacks.next().await;
        assert_eq!(got.tag, tag);
        (wait_final(self.a.manager(), &job).await, got.body)
    }

    /// A good job reaches DONE and both nodes answer `/health`.
    async fn still_serving(&mut self, tag: &str, pop: &Population) {
        let (record, body) = self.match_job(tag, pop).await;
        assert_eq!(record.status, JobStatus::Done, "{:?}", record.error);
        assert!(body.get("result").is_some(), "{body}");
        let server = self.b.manager().job(&record.id).unwrap();
        assert_eq!(server.status, JobStatus::Done);
        assert_healthy(&self.rest_a).await;
        assert_healthy(&self.rest_b).await;
    }

    async fn shutdown(self) {
        self.a.shutdown().await;
        self.b.shutdown().await;
    }
}

/// Checks a refused job on both sides: A's job FAULTs with B's refusal,
/// B recorded its side as FAULT with the same reason, and the callback got
/// it. Returns B's reason.
fn assert_refused_by_data_service(pair: &Pair, record: &JobRecord, body: &Value) -> String {
    assert_eq!(record.status, JobStatus::Fault);
    let error = record.error.clone().unwrap();
    assert_eq!(body["error"].as_str(), Some(error.as_str()));
    assert!(
        error.contains("the remote cannot take part"),
        "an Unavailable refusal: {error}"
    );
    let server = pair
        .b
        .manager()
        .job(&record.id)
        .expect("B recorded the job");
    assert_eq!(server.side, JobSide::Server);
    assert_eq!(server.status, JobStatus::Fault);
    let reason = server.error.unwrap();
    assert!(error.contains(&reason), "A: {error}; B: {reason}");
    assert!(
        !error.contains("key-of") && !error.contains(PAIR_KEY),
        "{error}"
    );
    reason
}

// ---------------------------------------------------------------- data-service tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_service_that_answers_500_faults_the_job_and_the_node_keeps_serving() {
    let pop = population();
    let ds = HostileDs::start(wire_database(&pop), 4).await;
    ds.set(Answer::Status500);
    let mut p = pair("ds500", &ds.url, |s| s).await;
    let (record, body) = p.match_job("500", &pop).await;
    let reason = assert_refused_by_data_service(&p, &record, &body);
    assert_eq!(
        reason,
        "the remote cannot take part: data service answered 500 on page 1"
    );
    assert!(!reason.contains("boom"), "the body is not echoed");

    ds.set(Answer::Pages);
    p.still_serving("after-500", &pop).await;
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_service_that_answers_garbage_faults_the_job() {
    let pop = population();
    let ds = HostileDs::start(wire_database(&pop), 4).await;
    ds.set(Answer::Garbage);
    let mut p = pair("dsgarbage", &ds.url, |s| s).await;
    let (record, body) = p.match_job("garbage", &pop).await;
    let reason = assert_refused_by_data_service(&p, &record, &body);
    assert!(
        reason.contains("data service page 1 is malformed"),
        "{reason}"
    );
    assert!(
        !reason.contains("not a page"),
        "the body is not echoed: {reason}"
    );

    ds.set(Answer::Pages);
    p.still_serving("after-garbage", &pop).await;
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_service_whose_next_link_loops_faults_the_job_naming_the_loop() {
    let pop = population();
    let ds = HostileDs::start(wire_database(&pop), 4).await;
    ds.set(Answer::Loop);
    let mut p = pair("dsloop", &ds.url, |s| s).await;
    let (record, body) = p.match_job("loop", &pop).await;
    let reason = assert_refused_by_data_service(&p, &record, &body);
    assert!(
        reason.contains("paging loops: page 2 links back to an earlier page"),
        "{reason}"
    );
    let asked = ds.requests.load(Ordering::Relaxed);
    assert!(
        asked <= 3,
        "the walk stopped at the loop ({asked} requests)"
    );

    ds.set(Answer::Pages);
    p.still_serving("after-loop", &pop).await;
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_that_breaks_the_configuration_faults_the_job_naming_page_index_and_field() {
    let pop = population();
    let good = wire_database(&pop);
    let ds = HostileDs::start(good.clone(), 4).await;
    let mut p = pair("dsrecord", &ds.url, |s| s).await;

    // Record 5 is on page 2, index 1. Each case: the field, the value, what
    // the reason must say, and what it must not (besides the value itself).
    let long = base64::engine::general_purpose::STANDARD.encode([0x5a_u8; 100]);
    let cases: [(&str, Value, &str, &[&str]); 4] = [
        // A bitmask of 100 bytes in a field of 500 bits.
        (
            "firstname",
            json!(long),
            "bitmask longer than its bitlength",
            &[],
        ),
        // An integer field holding text.
        (
            "birthyear",
            json!("SECRET1984"),
            "not a non-negative decimal integer",
            &[],
        ),
        // Not base64: the reason gives the position, not the character
        // (`*` is 42).
        (
            "lastname",
            json!("SECRET*value"),
            "invalid base64: invalid character at offset 6",
            &["42", "'*'"],
        ),
        // A bitmask field holding a number.
        (
            "city",
            json!(987_654_321),
            "expected a base64 string for a bitmask field, found an integer",
            &[],
        ),
    ];
    for (i, (field, value, what, not)) in cases.iter().enumerate() {
        let mut bad = good.clone();
        bad[5]["fields"][field] = value.clone();
        *ds.records.lock().unwrap() = bad;
        let (record, body) = p.match_job(&format!("bad-{i}"), &pop).await;
        let reason = assert_refused_by_data_service(&p, &record, &body);
        assert!(
            reason.contains(&format!("data service page 2, record 1: field \"{field}\"")),
            "{reason}"
        );
        assert!(reason.contains(what), "{reason}");
        let value_text = value.to_string();
        let value_text = value_text.trim_matches('"');
        for text in [&reason, record.error.as_ref().unwrap(), &body.to_string()] {
            assert!(
                !text.contains(value_text) && !text.contains("SECRET"),
                "the value leaked: {text}"
            );
            for fragment in *not {
                assert!(
                    !text.contains(fragment),
                    "a piece of the value leaked: {text}"
                );
            }
        }
    }

    *ds.records.lock().unwrap() = good;
    p.still_serving("after-bad-record", &pop).await;
    p.shutdown().await;
}

/// A field holding a JSON array, object or boolean is not a field value at
/// all (the page does not parse); the reason still names record and field.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_field_of_the_wrong_json_kind_is_named_by_record_and_field() {
    let pop = population();
    let mut records = wire_database(&pop);
    let good = records.clone();
    records[5]["fields"]["zipcode"] = json!(["SECRET"]);
    let ds = HostileDs::start(records.clone(), 4).await;
    let mut p = pair("dsarray", &ds.url, |s| s).await;
    let (record, body) = p.match_job("array", &pop).await;
    let reason = assert_refused_by_data_service(&p, &record, &body);
    assert_eq!(
        reason,
        "the remote cannot take part: data service page 2, record 1: \
         field \"zipcode\": an array is not a field value"
    );
    assert!(!body.to_string().contains("SECRET"), "{body}");

    records[5]["fields"]["zipcode"] = json!({"SECRET": true});
    *ds.records.lock().unwrap() = records;
    let (record, body) = p.match_job("object", &pop).await;
    let reason = assert_refused_by_data_service(&p, &record, &body);
    assert!(
        reason.ends_with("field \"zipcode\": an object is not a field value"),
        "{reason}"
    );
    assert!(!body.to_string().contains("SECRET"), "{body}");

    *ds.records.lock().unwrap() = good;
    p.still_serving("after-wrong-kind", &pop).await;
    p.shutdown().await;
}

// ---------------------------------------------------------------- hostile peer

fn peer_config(pki: &Pki) -> PeerConfig {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server_tls = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![pki.leaf_der.clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pki.leaf_key_der.clone())),
        )
        .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(pki.ca_der.clone()).unwrap();
    let client_tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    PeerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        server_tls: Arc::new(server_tls),
        client_tls: Arc::new(client_tls),
    }
}

/// The hostile site: the default configuration, and the nodes it knows.
struct HostileDirectory {
    local: LocalSite,
    remotes: Mutex<HashMap<String, RemoteSite>>,
}

impl RemoteDirectory for HostileDirectory {
    fn local(&self) -> Option<LocalSite> {
        Some(self.local.clone())
    }

    fn remote(&self, id: &str) -> Option<RemoteSite> {
        self.remotes.lock().unwrap().get(id).cloned()
    }
}

/// The hostile site's answering side: honest (the real 2PC over its
/// database) until told to misbehave.
struct HostileJobs {
    config: LinkageConfig,
    database: Vec<Record>,
    /// Accept with this database count instead of the real one.
    announce_database: Mutex<Option<u64>>,
    /// Write garbage into the job's session instead of running the 2PC.
    garbage: AtomicBool,
    ran: AtomicU64,
}

#[async_trait::async_trait]
impl IncomingJobs for HostileJobs {
    async fn accept(&self, _remote_id: &str, _announce: &Announce) -> Result<Accepted, Refusal> {
        let database_records = self
            .announce_database
            .lock()
            .unwrap()
            .unwrap_or(self.database.len() as u64);
        Ok(Accepted { database_records })
    }

    async fn run(
        &self,
        _remote_id: &str,
        announce: Announce,
        channel: MuxSession,
        ot: Arc<PeerOt>,
        cancel: CancellationToken,
    ) {
        self.ran.fetch_add(1, Ordering::SeqCst);
        if self.garbage.load(Ordering::SeqCst) {
            write_garbage(channel, &cancel).await;
            return;
        }
        let mut opts = JobOptions {
            job_id: announce.job_id.clone(),
            expected_peer_records: Some(announce.query_records),
            cancel,
            ..JobOptions::default()
        };
        // The knobs of the announced profile, as a real node runs them.
        announce.profile.apply(&mut opts);
        let _ = run_job(
            channel,
            &ot,
            Party::Server,
            Mode::Matching,
            &self.config,
            &self.database,
            &opts,
        )
        .await;
    }
}

/// Random messages on the session, then waits until the other side gives
/// up on it (bounded).
async fn write_garbage(mut channel: MuxSession, cancel: &CancellationToken) {
    for len in [1usize, 7, 64, 4096] {
        let junk: Vec<u8> = (0..len).map(|_| rand::random::<u8>()).collect();
        if channel.send(Bytes::from(junk)).await.is_err() {
            return;
        }
    }
    let drain = async { while channel.recv().await.is_ok() {} };
    tokio::select! {
        _ = drain => {}
        _ = cancel.cancelled() => {}
        _ = tokio::time::sleep(Duration::from_secs(120)) => {}
    }
}

/// A hostile site on its own peer hub (the node's real peer channel).
struct Hostile {
    hub: Arc<PeerHub>,
    directory: Arc<HostileDirectory>,
    jobs: Arc<HostileJobs>,
    queries: Vec<Record>,
}

impl Hostile {
    async fn start(pki: &Pki, pop: &Population, local_id: &str) -> Hostile {
        let init: InitLocal = serde_json::from_value(init_local(
            local_id,
            "key-of-hostile",
            "http://127.0.0.1:9/none",
        ))
        .unwrap();
        let directory = Arc::new(HostileDirectory {
            local: LocalSite { init },
            remotes: Mutex::new(HashMap::new()),
        });
        let jobs = Arc::new(HostileJobs {
            config: config(),
            database: pop.database.clone(),
            announce_database: Mutex::new(None),
            garbage: AtomicBool::new(false),
            ran: AtomicU64::new(0),
        });
        let hub = PeerHub::start(peer_config(pki), directory.clone(), jobs.clone())
            .await
            .unwrap();
        Hostile {
            hub,
            directory,
            jobs,
            queries: pop.queries.clone(),
        }
    }

    fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.hub.local_addr().port())
    }

    /// Knows `node` as `id` under the pair key.
    fn know(&self, id: &str, node: &RunningNode) -> RemoteSite {
        let init: InitRemote = serde_json::from_value(init_remote(node, None, true)).unwrap();
        let remote = RemoteSite {
            id: id.into(),
            init,
        };
        self.directory
            .remotes
            .lock()
            .unwrap()
            .insert(id.into(), remote.clone());
        remote
    }

    fn announce(&self, job_id: &str, query_records: u64) -> Announce {
        Announce {
            version: PEER_PROTOCOL_VERSION,
            job_id: job_id.into(),
            mode: JobMode::Matching,
            query_records,
            config_fingerprint: fingerprint_hex(&config()),
            session: 0,
            profile: Default::default(),
        }
    }

    /// A matching job as the asking side: the real 2PC, or garbage.
    async fn ask(&self, b: &RemoteSite, job_id: &str, garbage: bool) -> Result<(u64, u64), String> {
        let link = self
            .hub
            .open_job(b, self.announce(job_id, self.queries.len() as u64))
            .await
            .unwrap_or_else(|e| panic!("{job_id}: {e}"));
        if garbage {
            write_garbage(link.channel, &link.cancelled).await;
            return Err("garbage sent".into());
        }
        let mut opts = JobOptions {
            job_id: job_id.into(),
            expected_peer_records: Some(link.database_records),
            ..JobOptions::default()
        };
        // The node under test has no `mpcProfile` for this remote: the default.
        Profile::default().apply(&mut opts);
        let out = run_job(
            link.channel,
            &link.ot,
            Party::Client,
            Mode::Matching,
            &config(),
            &self.queries,
            &opts,
        )
        .await
        .map_err(|e| e.to_string())?;
        match out.output {
            JobOutput::Counts(c) => Ok((c.matches, c.tentative)),
            _ => Err("not a matching outcome".into()),
        }
    }
}

/// Node B answering from a data service, with a hostile site as its remote "A".
struct WithHostileA {
    _root: TempDir,
    b: RunningNode,
    rest_b: Rest,
    hostile: Hostile,
    remote: RemoteSite,
    ds: HostileDs,
    pop: Population,
}

async fn node_b_and_hostile(tag: &str) -> WithHostileA {
    let root = TempDir::new(tag);
    let pki = Pki::new(root.path());
    let pop = population();
    let ds = HostileDs::start(wire_database(&pop), 4).await;
    let b = start(node_settings(&sub_dir(&root, "b"), &pki))
        .await
        .unwrap();
    let rest_b = Rest::new(&pki, &b, "key-of-B");
    let hostile = Hostile::start(&pki, &pop, "A").await;
    assert_eq!(
        rest_b
            .put("/initLocal", &init_local("B", "key-of-B", &ds.url))
            .await,
        204
    );
    assert_eq!(
        rest_b
            .put("/initRemote/A", &init_remote_at(&hostile.url(), None, true))
            .await,
        204
    );
    let remote = hostile.know("B", &b);
    WithHostileA {
        _root: root,
        b,
        rest_b,
        hostile,
        remote,
        ds,
        pop,
    }
}

/// Node A asking, with a hostile site as its remote "B".
struct WithHostileB {
    _root: TempDir,
    a: RunningNode,
    rest_a: Rest,
    hostile: Hostile,
    callbacks: Callbacks,
    pop: Population,
}

async fn node_a_and_hostile(tag: &str) -> WithHostileB {
    let root = TempDir::new(tag);
    let pki = Pki::new(root.path());
    let pop = population();
    let callbacks = start_callbacks().await;
    let hostile = Hostile::start(&pki, &pop, "B").await;
    let a = start(node_settings(&sub_dir(&root, "a"), &pki))
        .await
        .unwrap();
    let rest_a = Rest::new(&pki, &a, "key-of-A");
    let none = "http://127.0.0.1:9/none";
    assert_eq!(
        rest_a
            .put("/initLocal", &init_local("A", "key-of-A", none))
            .await,
        204
    );
    assert_eq!(
        rest_a
            .put("/initRemote/B", &init_remote_at(&hostile.url(), None, true))
            .await,
        204
    );
    hostile.know("A", &a);
    WithHostileB {
        _root: root,
        a,
        rest_a,
        hostile,
        callbacks,
        pop,
    }
}

impl WithHostileB {
    async fn job(&mut self, tag: &str) -> (JobRecord, Value) {
        let job = self
            .rest_a
            .submit(
                "/matchRecord/B",
                &match_body(&self.callbacks.url(tag), &self.pop),
            )
            .await;
        let got = self.callbacks.next().await;
        assert_eq!(got.tag, tag);
        (wait_final(self.a.manager(), &job).await, got.body)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_announcing_an_absurd_query_count_is_refused_before_anything_is_fetched() {
    let h = node_b_and_hostile("absurd-m").await;
    let err = h
        .hostile
        .hub
        .open_job(&h.remote, h.hostile.announce("absurd-m", 1 << 40))
        .await
        .err()
        .expect("refused");
    let PeerError::Refused(Refusal::TooManyRecords(detail)) = &err else {
        panic!("expected TooManyRecords, got {err}");
    };
    assert!(detail.contains("1099511627776 query records"), "{detail}");
    assert_eq!(
        h.ds.requests.load(Ordering::Relaxed),
        0,
        "admission refused before the database was fetched"
    );
    assert!(h.b.manager().jobs().is_empty(), "no job was recorded");

    // The same peer, behaving, gets its job done.
    let counts = h.hostile.ask(&h.remote, "honest-after-absurd", false).await;
    assert!(counts.is_ok(), "{counts:?}");
    let server = wait_final(h.b.manager(), "honest-after-absurd").await;
    assert_eq!(server.status, JobStatus::Done, "{:?}", server.error);
    assert_eq!(server.database_records, Some(h.pop.database.len() as u64));
    assert_healthy(&h.rest_b).await;
    h.hostile.hub.shutdown().await;
    h.b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_accepting_with_an_absurd_database_count_faults_the_asking_job() {
    let mut h = node_a_and_hostile("absurd-n").await;
    *h.hostile.jobs.announce_database.lock().unwrap() = Some(1 << 40);
    let (record, body) = h.job("absurd-n").await;
    assert_eq!(record.status, JobStatus::Fault);
    let error = record.error.clone().unwrap();
    assert_eq!(body["error"].as_str(), Some(error.as_str()));
    assert_eq!(
        error,
        format!(
            "the remote announced 1099511627776 database records (this node accepts at most {})",
            Settings::default().max_database_records
        )
    );
    assert_eq!(
        record.database_records, None,
        "the absurd count is not recorded"
    );
    assert_healthy(&h.rest_a).await;

    *h.hostile.jobs.announce_database.lock().unwrap() = None;
    let (record, body) = h.job("honest-after-absurd").await;
    assert_eq!(record.status, JobStatus::Done, "{:?}", record.error);
    assert!(body.get("result").is_some(), "{body}");
    h.hostile.hub.shutdown().await;
    h.a.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_from_the_answering_peer_mid_2pc_faults_the_asking_job() {
    let mut h = node_a_and_hostile("garbage-server").await;
    h.hostile.jobs.garbage.store(true, Ordering::SeqCst);
    let (record, body) = h.job("garbage").await;
    assert_eq!(record.status, JobStatus::Fault);
    assert_eq!(
        h.hostile.jobs.ran.load(Ordering::SeqCst),
        1,
        "accepted, then garbage"
    );
    let error = record.error.clone().unwrap();
    assert_eq!(body["error"].as_str(), Some(error.as_str()));
    assert!(error.starts_with("2PC: "), "{error}");
    assert!(error.contains("malformed"), "{error}");
    assert_healthy(&h.rest_a).await;

    // The same pair, behaving: DONE.
    h.hostile.jobs.garbage.store(false, Ordering::SeqCst);
    let (record, body) = h.job("after-garbage").await;
    assert_eq!(record.status, JobStatus::Done, "{:?}", record.error);
    assert!(body.get("result").is_some(), "{body}");
    h.hostile.hub.shutdown().await;
    h.a.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_from_the_asking_peer_mid_2pc_faults_the_answering_job() {
    let h = node_b_and_hostile("garbage-client").await;
    let sent = h.hostile.ask(&h.remote, "garbage-client", true).await;
    assert!(sent.is_err());
    let server = wait_final(h.b.manager(), "garbage-client").await;
    assert_eq!(server.status, JobStatus::Fault);
    let error = server.error.unwrap();
    assert!(error.starts_with("2PC: "), "{error}");
    assert!(error.contains("malformed"), "{error}");
    assert_healthy(&h.rest_b).await;

    let counts = h
        .hostile
        .ask(&h.remote, "after-garbage-client", false)
        .await;
    assert!(counts.is_ok(), "{counts:?}");
    let server = wait_final(h.b.manager(), "after-garbage-client").await;
    assert_eq!(server.status, JobStatus::Done, "{:?}", server.error);
    h.hostile.hub.shutdown().await;
    h.b.shutdown().await;
}

// ---------------------------------------------------------------- callbacks

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_that_refuses_connections_fails_after_the_configured_attempts() {
    let pop = population();
    let ds = HostileDs::start(wire_database(&pop), 4).await;
    let mut p = pair("cb-refused", &ds.url, |s| Settings {
        callback_attempts: 3,
        callback_first_delay: Duration::from_millis(20),
        ..s
    })
    .await;
    let dead = {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        format!("http://127.0.0.1:{port}/cb/dead")
    };
    let refused = p
        .rest_a
        .submit("/matchRecord/B", &match_body(&dead, &pop))
        .await;
    // Another job, submitted while the first one's callback is failing.
    let (other, body) = p.match_job("other", &pop).await;
    assert_eq!(other.status, JobStatus::Done, "{:?}", other.error);
    assert!(body.get("result").is_some(), "{body}");

    let record = wait_final(p.a.manager(), &refused).await;
    assert_eq!(record.status, JobStatus::Done, "{:?}", record.error);
    let mut delivery = record.callback_delivery;
    for _ in 0..600 {
        if delivery.state == DeliveryState::Failed {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        delivery = p.a.manager().job(&refused).unwrap().callback_delivery;
    }
    assert_eq!(delivery.state, DeliveryState::Failed, "{delivery:?}");
    assert_eq!(delivery.attempts, 3);
    assert_eq!(delivery.last_status, None, "nothing answered");
    assert!(delivery.last_error.is_some());
    assert_eq!(
        p.a.manager().job(&refused).unwrap().status,
        JobStatus::Done,
        "a failed callback does not change the job"
    );
    // The other job's callback follows its DONE: wait for it (bounded),
    // then it must have been delivered, untouched by the failing one.
    let mut other_delivery = p.a.manager().job(&other.id).unwrap().callback_delivery;
    for _ in 0..600 {
        if other_delivery.state == DeliveryState::Delivered {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        other_delivery = p.a.manager().job(&other.id).unwrap().callback_delivery;
    }
    assert_eq!(
        other_delivery.state,
        DeliveryState::Delivered,
        "{other_delivery:?}"
    );
    p.still_serving("after-refused-callback", &pop).await;
    p.shutdown().await;
}
