//! Several node processes on one PostgreSQL database act as one node
//! (SPEC §3 "Several processes, one node"), against a real server:
//! * two `sel-node serve` processes take 200 jobs submitted through either
//!   of them; every job runs exactly once (one RUNNING in its history, one
//!   callback); then one process is killed mid-job and nothing is lost (its
//!   jobs end FAULT "node process died" with their callback told, or run on
//!   the other process if they had not started);
//! * a database restart during operation is survived: every job still runs
//!   exactly once.
//!
//! The remote (B) is an embedded node in this test process; the shared node
//! (A) is configured through one process only, so the other must pick up
//! its configuration from the database.

mod node_support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mpc_core::epilink::synth::{Population, SynthOptions};
use protocol_spec::config::{LinkageConfig, Record};
use protocol_spec::messages::mainsel::AlgorithmConfig;
use sel_node::node::start;
use sel_node::pg::{Pg, PgOptions, testing};
use sel_node::seal::NodeKey;
use sel_node::settings::{Settings, StoreLocation};
use serde_json::{Value, json};

use node_support::{
    Callbacks, Pki, Rest, TempDir, default_algorithm, init_local, init_remote, init_remote_at,
    node_settings, start_callbacks, start_data_service, with_ids,
};

/// A `sel-node serve` process, killed when dropped.
struct Process {
    child: Child,
    api: u16,
    peer: u16,
    log: PathBuf,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `sel-node serve` on the shared database `url`, with the node key
/// and certificate all of A's processes share, a short job lease, and
/// queue bounds above the test's 200 jobs (they count over the database).
fn spawn_process(dir: &Path, name: &str, pki: &Pki, key_file: &Path, url: &str) -> Process {
    let (api, peer) = (free_port(), free_port());
    let data = dir.join(name);
    std::fs::create_dir_all(&data).unwrap();
    let config = data.join("node.toml");
    std::fs::write(
        &config,
        format!(
            "api_listen = \"127.0.0.1:{api}\"\npeer_listen = \"127.0.0.1:{peer}\"\n\
             data_dir = {data:?}\nstore = {url:?}\nnode_key_file = {key:?}\n\
             tls_cert = {cert:?}\ntls_key = {tkey:?}\nca_bundle = {ca:?}\n\
             workers = 2\nworkers_per_remote = 2\ncallback_first_delay = \"100ms\"\n\
             max_queued_jobs = 512\nmax_queued_jobs_per_remote = 256\n",
            data = data.display().to_string(),
            key = key_file.display().to_string(),
            cert = pki.cert_file.display().to_string(),
            tkey = pki.key_file.display().to_string(),
            ca = pki.ca_file.display().to_string(),
        ),
    )
    .unwrap();
    let log = data.join("log");
    let out = std::fs::File::create(&log).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_sel-node"))
        .args(["serve", "--config"])
        .arg(&config)
        .env("SEL_JOB_LEASE_MS", "2000")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap();
    Process {
        child,
        api,
        peer,
        log,
    }
}

async fn wait_ready(pki: &Pki, p: &mut Process) {
    let http = pki.client();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = http
            .get(format!("https://127.0.0.1:{}/health", p.api))
            .send()
            .await
            && r.status().as_u16() < 500
        {
            return;
        }
        if let Ok(Some(status)) = p.child.try_wait() {
            panic!(
                "node process exited ({status}):\n{}",
                std::fs::read_to_string(&p.log).unwrap_or_default()
            );
        }
        assert!(Instant::now() < deadline, "node process did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn rest_at(pki: &Pki, port: u16) -> Rest {
    Rest {
        http: pki.client(),
        base: format!("https://127.0.0.1:{port}"),
        key: "key-of-A".into(),
    }
}

/// The test population: B's database and the query records jobs send.
struct Scenario {
    config: LinkageConfig,
    queries: Vec<Record>,
    database: Vec<Record>,
}

impl Scenario {
    fn new() -> Scenario {
        let alg: AlgorithmConfig = serde_json::from_value(default_algorithm()).unwrap();
        let config = LinkageConfig::from_wire(&alg).unwrap();
        let pop = Population::generate(
            &config,
            &SynthOptions {
                database: 6,
                queries: 4,
                seed: 13,
                linked_fraction: 0.5,
                error_rate: 0.1,
            },
        )
        .unwrap();
        Scenario {
            config,
            queries: pop.queries,
            database: pop.database,
        }
    }

    /// Job `k`'s body (one query record) and the callback it must get.
    fn job(&self, callbacks: &Callbacks, k: usize) -> (Value, Value) {
        self.job_to(&callbacks.url(&k.to_string()), k)
    }

    fn job_to(&self, callback: &str, k: usize) -> (Value, Value) {
        let q = &self.queries[k % self.queries.len()];
        let record = protocol_spec::value::record_to_wire(&self.config, q).unwrap();
        let want = protocol_spec::epilink::match_records(
            &self.config,
            std::slice::from_ref(q),
            &self.database,
        )
        .unwrap();
        (
            json!({"callback": {"url": callback}, "records": [{"fields": record}]}),
            json!({"result": {"matches": want.matches, "tentativeMatches": want.tentative}}),
        )
    }
}

/// (status, error, RUNNING entries in the history, owner) of every job, from
/// the shared database.
async fn jobs_in_db(url: &str) -> HashMap<String, (String, Option<String>, i64, Option<String>)> {
    let pg = Pg::connect(url, PgOptions::default()).unwrap();
    pg.run_async(|c| async move {
        let rows = c
            .query(
                "SELECT id, status, record->>'error', owner,
                        (SELECT count(*) FROM jsonb_array_elements(record->'history') h
                         WHERE h->>'status' = 'RUNNING')
                 FROM node_jobs WHERE side = 'client'",
                &[],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| (r.get(0), (r.get(1), r.get(2), r.get(4), r.get(3))))
            .collect())
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_processes_run_every_job_once_and_a_killed_one_loses_nothing() {
    let Some(url) = testing::fresh_database("two_processes") else {
        return;
    };
    let root = TempDir::new("pg-two");
    let pki = Pki::new(root.path());
    let scenario = Scenario::new();
    let data = start_data_service(with_ids(&scenario.config, &scenario.database), 10).await;
    let mut callbacks = start_callbacks().await;
    // Two remotes with the same database, so the processes can spread.
    let mut remotes = Vec::new();
    for name in ["B", "C"] {
        let dir = root.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let node = start(Settings {
            max_incoming_jobs: 8,
            ..node_settings(&dir, &pki)
        })
        .await
        .unwrap();
        let key = format!("key-of-{name}");
        let rest = Rest::new(&pki, &node, &key);
        assert_eq!(
            rest.put("/initLocal", &init_local(name, &key, &data.url))
                .await,
            204
        );
        remotes.push((name, node, rest));
    }
    let key_file = root.path().join("a.key");
    NodeKey::generate_file(&key_file).unwrap();
    let mut procs = vec![
        spawn_process(root.path(), "a1", &pki, &key_file, &url),
        spawn_process(root.path(), "a2", &pki, &key_file, &url),
    ];
    for p in &mut procs {
        wait_ready(&pki, p).await;
    }
    let rests: Vec<Rest> = procs.iter().map(|p| rest_at(&pki, p.api)).collect();

    // Configured through the first process only: the second must read it
    // from the database.
    let none = "http://127.0.0.1:9/none";
    assert_eq!(
        rests[0]
            .put("/initLocal", &init_local("A", "key-of-A", none))
            .await,
        204
    );
    let a_peer = format!("https://127.0.0.1:{}", procs[0].peer);
    for (name, node, rest) in &remotes {
        let path = format!("/initRemote/{name}");
        assert_eq!(
            rests[0].put(&path, &init_remote(node, None, true)).await,
            204
        );
        assert_eq!(
            rest.put("/initRemote/A", &init_remote_at(&a_peer, None, true))
                .await,
            204
        );
    }

    // 200 jobs, through either process, towards either remote.
    let cb_base = callbacks.url("");
    let submit = |k: usize| {
        let (body, expected) = scenario.job_to(&format!("{cb_base}{k}"), k);
        let rest = &rests[k % 2];
        let path = format!(
            "/matchRecords/{}",
            if k.is_multiple_of(3) { "B" } else { "C" }
        );
        async move { (rest.submit(&path, &body).await, expected) }
    };
    let mut want = HashMap::new();
    let mut ids = Vec::new();
    for k in 0..200 {
        let (id, expected) = submit(k).await;
        ids.push(id);
        want.insert(k.to_string(), expected);
    }
    let mut seen: HashMap<String, usize> = HashMap::new();
    for _ in 0..200 {
        let got = callbacks.next().await;
        assert_eq!(Some(&got.body), want.get(&got.tag), "job {}", got.tag);
        *seen.entry(got.tag).or_default() += 1;
    }
    assert_eq!(seen.len(), 200, "every job called back once");
    let jobs = jobs_in_db(&url).await;
    assert_eq!(jobs.len(), 200);
    let mut owners = std::collections::HashSet::new();
    for (id, (status, error, running, owner)) in &jobs {
        assert_eq!(status, "DONE", "job {id}: {error:?}");
        assert_eq!(*running, 1, "job {id} ran {running} times");
        owners.insert(owner.clone());
    }
    eprintln!("phase 1: jobs ran on {} process(es)", owners.len());
    // Any process answers for any job, from the database.
    for id in ids.iter().take(20) {
        let (code, text) = rests[1].get(&format!("/jobs/{id}")).await;
        assert_eq!(code, 200);
        assert!(text.contains("DONE"), "{text}");
    }

    // Kill a process while it runs a job.
    let mut second = HashMap::new();
    for k in 200..240 {
        let (id, expected) = submit(k).await;
        second.insert(id, k);
        want.insert(k.to_string(), expected);
    }
    let pids: Vec<String> = procs
        .iter()
        .map(|p| format!("/{}/", p.child.id()))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(120);
    let victim = loop {
        let jobs = jobs_in_db(&url).await;
        let running = jobs.values().find_map(|(status, _, _, owner)| {
            let owner = owner.as_deref().filter(|_| status == "RUNNING")?;
            pids.iter().position(|p| owner.contains(p.as_str()))
        });
        if let Some(i) = running {
            break i;
        }
        assert!(Instant::now() < deadline, "no process ever ran a job");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let mut killed = procs.remove(victim);
    killed.child.kill().unwrap();
    killed.child.wait().unwrap();
    let survivor = &procs[0];

    // Every job ends: DONE, or FAULT because its process died.
    let deadline = Instant::now() + Duration::from_secs(180);
    let jobs = loop {
        let jobs = jobs_in_db(&url).await;
        let open = second
            .keys()
            .filter(|id| {
                jobs.get(*id)
                    .is_none_or(|(s, ..)| s != "DONE" && s != "FAULT")
            })
            .count();
        if open == 0 {
            break jobs;
        }
        assert!(
            Instant::now() < deadline,
            "{open} jobs never ended:\n{}",
            std::fs::read_to_string(&survivor.log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let mut died = Vec::new();
    for (id, k) in &second {
        let (status, error, running, _) = &jobs[id];
        if status == "DONE" {
            assert_eq!(*running, 1, "job {id} ran {running} times");
        } else {
            assert_eq!(error.as_deref(), Some("node process died"), "job {id}");
            assert!(*running <= 1, "job {id} ran {running} times");
            died.push(*k);
        }
    }
    assert!(
        !died.is_empty(),
        "the job running on the killed process must end FAULT"
    );
    // Each job that died is told so, exactly once, by the surviving process.
    let mut told: HashMap<usize, usize> = HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while died.iter().any(|k| !told.contains_key(k)) {
        assert!(
            Instant::now() < deadline,
            "a dead job's callback never came"
        );
        let got = callbacks.next().await;
        let k: usize = got.tag.parse().unwrap();
        if died.contains(&k) {
            assert_eq!(got.body, json!({"error": "node process died"}));
        } else {
            assert_eq!(Some(&got.body), want.get(&got.tag), "job {k}");
        }
        *told.entry(k).or_default() += 1;
    }
    for (k, n) in &told {
        assert_eq!(*n, 1, "job {k} called back {n} times");
    }
    drop(procs);
    for (_, node, _) in remotes {
        node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_database_restart_is_survived_and_no_job_runs_twice() {
    let Some(server) = testing::private_server() else {
        return;
    };
    let url = server.fresh_database("restart");
    let root = TempDir::new("pg-restart");
    let pki = Pki::new(root.path());
    let scenario = Scenario::new();
    let data_b = start_data_service(with_ids(&scenario.config, &scenario.database), 10).await;
    let mut callbacks = start_callbacks().await;
    let (dir_a, dir_b) = (root.path().join("a"), root.path().join("b"));
    std::fs::create_dir_all(&dir_a).unwrap();
    std::fs::create_dir_all(&dir_b).unwrap();
    let b = start(Settings {
        max_incoming_jobs: 8,
        ..node_settings(&dir_b, &pki)
    })
    .await
    .unwrap();
    let a = start(Settings {
        store: StoreLocation::Postgres { url: url.clone() },
        ..node_settings(&dir_a, &pki)
    })
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
        rest_a
            .put("/initRemote/B", &init_remote(&b, None, true))
            .await,
        204
    );
    assert_eq!(
        rest_b
            .put("/initLocal", &init_local("B", "key-of-B", &data_b.url))
            .await,
        204
    );
    assert_eq!(
        rest_b
            .put("/initRemote/A", &init_remote(&a, None, true))
            .await,
        204
    );

    let mut want = HashMap::new();
    for k in 0..30 {
        let (body, expected) = scenario.job(&callbacks, k);
        rest_a.submit("/matchRecords/B", &body).await;
        want.insert(k.to_string(), expected);
    }
    let mut seen: HashMap<String, usize> = HashMap::new();
    for _ in 0..3 {
        let got = callbacks.next().await;
        *seen.entry(got.tag).or_default() += 1;
    }
    // Restart while jobs run and wait; then submit more on the new server.
    let server = tokio::task::spawn_blocking(move || {
        server.restart().unwrap();
        server
    })
    .await
    .unwrap();
    for k in 30..40 {
        let (body, expected) = scenario.job(&callbacks, k);
        rest_a.submit("/matchRecords/B", &body).await;
        want.insert(k.to_string(), expected);
    }
    for _ in 3..40 {
        let got = callbacks.next().await;
        assert_eq!(Some(&got.body), want.get(&got.tag), "job {}", got.tag);
        *seen.entry(got.tag).or_default() += 1;
    }
    drop(server);
    assert_eq!(seen.len(), 40, "every job called back");
    assert!(seen.values().all(|n| *n == 1), "{seen:?}");
    let jobs = jobs_in_db(&url).await;
    for (id, (status, error, running, _)) in &jobs {
        assert_eq!(status, "DONE", "job {id}: {error:?}");
        assert_eq!(*running, 1, "job {id} ran {running} times");
    }
    a.shutdown().await;
    b.shutdown().await;
}

/// POSTs a job through `rest`, optionally with an `Idempotency-Key`;
/// (status, job id from `Location`).
async fn post_job(rest: &Rest, body: &Value, key: Option<&str>) -> (u16, Option<String>) {
    let mut req = rest
        .http
        .post(format!("{}/matchRecords/Z", rest.base))
        .header("authorization", rest.auth())
        .json(body);
    if let Some(k) = key {
        req = req.header("idempotency-key", k);
    }
    let r = req.send().await.unwrap();
    let id = r
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .and_then(|l| l.strip_prefix("/jobs/"))
        .map(str::to_owned);
    (r.status().as_u16(), id)
}

/// Two processes (here: two nodes in this test process, each with its own
/// pool and owner name) on one database: the queue bound counts both
/// processes' jobs, an `Idempotency-Key` is recognised by the other
/// process, and `DELETE /jobs/{id}` through either process ends a job
/// whichever process holds it (QUEUED, or waiting in HOLD on the other).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bounds_idempotency_and_cancel_hold_across_processes() {
    let Some(url) = testing::fresh_database("across") else {
        return;
    };
    let root = TempDir::new("pg-across");
    let pki = Pki::new(root.path());
    let scenario = Scenario::new();
    let callbacks = start_callbacks().await;
    let mut nodes = Vec::new();
    for name in ["a1", "a2"] {
        let dir = root.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        // One node key for both (the shared store is sealed with it).
        std::fs::copy(
            root.path().join("a1").join("node.key"),
            dir.join("node.key"),
        )
        .ok();
        let node = start(Settings {
            store: StoreLocation::Postgres { url: url.clone() },
            max_queued_jobs_per_remote: 3,
            ..node_settings(&dir, &pki)
        })
        .await
        .unwrap();
        nodes.push(node);
    }
    let rests: Vec<Rest> = nodes
        .iter()
        .map(|n| Rest::new(&pki, n, "key-of-A"))
        .collect();
    let none = "http://127.0.0.1:9/none";
    assert_eq!(
        rests[0]
            .put("/initLocal", &init_local("A", "key-of-A", none))
            .await,
        204
    );
    // A remote nobody answers for: its jobs wait in HOLD.
    let z = init_remote_at(&format!("https://127.0.0.1:{}", free_port()), None, true);
    assert_eq!(rests[1].put("/initRemote/Z", &z).await, 204);

    let (body, _) = scenario.job(&callbacks, 0);
    let (s1, j1) = post_job(&rests[0], &body, Some("batch-1")).await;
    let (s2, j2) = post_job(&rests[1], &body, None).await;
    let (s3, j3) = post_job(&rests[0], &body, None).await;
    assert_eq!((s1, s2, s3), (202, 202, 202));
    let (j1, j2, j3) = (j1.unwrap(), j2.unwrap(), j3.unwrap());
    // The bound (3 towards Z) counts the jobs of both processes.
    let (full, _) = post_job(&rests[1], &body, None).await;
    assert_eq!(full, 503);
    // The retry through the other process names the first job.
    let (again, same) = post_job(&rests[1], &body, Some("batch-1")).await;
    assert_eq!((again, same.as_deref()), (202, Some(j1.as_str())));

    // One process holds Z and claims two jobs (its two workers); the third
    // stays QUEUED. Wait until both are claimed.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let jobs = jobs_in_db(&url).await;
        if jobs
            .values()
            .filter(|(_, _, _, owner)| owner.is_some())
            .count()
            == 2
        {
            break;
        }
        assert!(Instant::now() < deadline, "two jobs were never claimed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Cancel through both processes: at least one of j1, j2 is held by the
    // process not asked; j3 is QUEUED or held.
    for (rest, id) in [(&rests[0], &j1), (&rests[1], &j2), (&rests[1], &j3)] {
        let r = rest
            .http
            .delete(format!("{}/jobs/{id}", rest.base))
            .header("authorization", rest.auth())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 202, "cancel {id}");
    }
    let jobs = jobs_in_db(&url).await;
    for id in [&j1, &j2, &j3] {
        let (status, error, _, _) = &jobs[id];
        assert_eq!(
            (status.as_str(), error.as_deref()),
            ("FAULT", Some("cancelled")),
            "job {id}"
        );
    }
    // Either process shows it.
    for rest in &rests {
        let (code, text) = rest.get(&format!("/jobs/{j2}")).await;
        assert_eq!(code, 200);
        assert!(text.contains("FAULT"), "{text}");
    }
    // Their places in the queue are free again.
    let (after, _) = post_job(&rests[1], &body, None).await;
    assert_eq!(after, 202);
    for n in nodes {
        n.shutdown().await;
    }
}
