//! Job submit → claim latency, embedded store vs PostgreSQL (BENCHMARKS.md,
//! "PostgreSQL backend (issue 13)").
//!
//! What each side does is what the job manager does for one client job of
//! one query record:
//! * embedded (redb): the submitting thread stores the sealed input and the
//!   job record, then hands the id to a worker thread (the in-process
//!   queue); the worker reads the job and opens its input;
//! * PostgreSQL: the submitting thread runs the submission transaction
//!   (advisory lock, queue bounds, input, record) and wakes a worker thread
//!   (as a submission wakes its own process's claim loop); the worker claims
//!   with `FOR UPDATE SKIP LOCKED` and opens the input. A job submitted
//!   through another process waits, in addition, for that process's next
//!   poll (every 200 ms).
//!
//! Latency is from the start of the submission to the input opened on the
//! worker. The databases: the test server (`SEL_TEST_POSTGRES_URL`, or a
//! private server with fsync off: the driver's and the queries' cost, no
//! disk's), and a private server that flushes every commit, as the
//! embedded store does and as a production server would.
//!
//! `cargo run --release -p sel-node --example submit_claim_bench -- [jobs]`

use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use protocol_spec::messages::mainsel::{JobStatus, WireRecord};
use sel_node::model::{CallbackDelivery, Cardinality, JobMode, JobRecord, JobSide, StatusChange};
use sel_node::pg::{Pg, PgOptions, testing};
use sel_node::seal::NodeKey;
use sel_node::store::{NodeStore, PgStore, QueueBounds, RedbStore, SharedJobs, SubmitOutcome};

fn job(i: usize) -> JobRecord {
    let now = sel_node::model::now_millis();
    JobRecord {
        id: format!("bench{i:08}"),
        remote_id: "B".into(),
        mode: JobMode::Matching,
        side: JobSide::Client,
        cardinality: Cardinality::One,
        status: JobStatus::Queued,
        progress_percent: 0,
        created: now,
        started: None,
        finished: None,
        error: None,
        callback_url: Some("https://cb.example/x".into()),
        callback_delivery: CallbackDelivery::default(),
        query_records: 1,
        database_records: None,
        config_fingerprint: "00".into(),
        history: vec![StatusChange {
            status: JobStatus::Queued,
            at: now,
            reason: None,
        }],
        match_counts: None,
    }
}

fn input() -> Vec<WireRecord> {
    vec![
        serde_json::from_value(serde_json::json!({
            "fields": {"firstname": "0123456789abcdef0123456789abcdef", "birthyear": 1970}
        }))
        .unwrap(),
    ]
}

fn report(name: &str, mut lat: Vec<Duration>) {
    lat.sort();
    let at = |q: f64| lat[((lat.len() - 1) as f64 * q).round() as usize];
    println!(
        "{name:<28} jobs {:>5}  median {:>8.3} ms  p99 {:>8.3} ms  max {:>8.3} ms",
        lat.len(),
        at(0.5).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        lat[lat.len() - 1].as_secs_f64() * 1e3,
    );
}

fn embedded(jobs: usize, key: Arc<NodeKey>) -> Vec<Duration> {
    let dir = std::env::temp_dir().join(format!("sel-bench-redb-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store: Arc<dyn NodeStore> = Arc::new(RedbStore::open(&dir.join("node.redb"), key).unwrap());
    let (tx, rx) = mpsc::channel::<(String, Instant)>();
    let (done_tx, done) = mpsc::channel::<()>();
    let worker = {
        let store = store.clone();
        std::thread::spawn(move || {
            let mut lat = Vec::new();
            for (id, t0) in rx {
                let job = store.load_job(&id).unwrap().unwrap();
                let records = store.load_job_input(&job.id).unwrap().unwrap();
                assert_eq!(records.len(), 1);
                lat.push(t0.elapsed());
                done_tx.send(()).unwrap();
            }
            lat
        })
    };
    let records = input();
    for i in 0..jobs {
        let j = job(i);
        let t0 = Instant::now();
        store.save_job_input(&j.id, &records).unwrap();
        store.save_job(&j).unwrap();
        tx.send((j.id, t0)).unwrap();
        // One job at a time: latency, not a backlog.
        done.recv().unwrap();
        std::thread::sleep(Duration::from_millis(2));
    }
    drop(tx);
    let lat = worker.join().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    lat
}

fn postgres(jobs: usize, key: Arc<NodeKey>, url: &str) -> Vec<Duration> {
    let submitter = Arc::new(
        PgStore::open(Pg::connect(url, PgOptions::default()).unwrap(), key.clone()).unwrap(),
    );
    // The worker is another store (another pool, another owner), as in
    // another process.
    let claimer =
        Arc::new(PgStore::open(Pg::connect(url, PgOptions::default()).unwrap(), key).unwrap());
    let (tx, rx) = mpsc::channel::<Instant>();
    let (done_tx, done) = mpsc::channel::<()>();
    let worker = std::thread::spawn(move || {
        let mut lat = Vec::new();
        for t0 in rx {
            let job = claimer.claim_next().unwrap().expect("a queued job");
            let records = claimer.load_job_input(&job.id).unwrap().unwrap();
            assert_eq!(records.len(), 1);
            lat.push(t0.elapsed());
            // Final, so the queue bound never fills.
            let mut done = job;
            done.status = JobStatus::Done;
            claimer.save_job(&done).unwrap();
            done_tx.send(()).unwrap();
        }
        lat
    });
    let records = input();
    let bounds = QueueBounds {
        max_total: 256,
        max_per_remote: 64,
    };
    for i in 0..jobs {
        let j = job(i);
        let t0 = Instant::now();
        assert_eq!(
            submitter.submit(&j, &records, bounds, None).unwrap(),
            SubmitOutcome::Created
        );
        tx.send(t0).unwrap();
        done.recv().unwrap();
        std::thread::sleep(Duration::from_millis(2));
    }
    drop(tx);
    worker.join().unwrap()
}

fn main() {
    let jobs: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1000);
    let key = Arc::new(NodeKey::from_bytes(&[7u8; 32]));
    report("embedded (redb)", embedded(jobs, key.clone()));
    match testing::fresh_database("submit_claim_bench") {
        Some(url) => report("postgresql, test server", postgres(jobs, key.clone(), &url)),
        None => println!("postgresql: skipped (no server)"),
    }
    match testing::durable_private_server() {
        Some(server) => {
            let url = server.fresh_database("submit_claim_bench");
            report("postgresql, fsync on", postgres(jobs, key, &url));
        }
        None => println!("postgresql with fsync: skipped (no PostgreSQL binaries)"),
    }
}
