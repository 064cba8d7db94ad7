//! The job manager's state without the network: configuration, submission
//! (validation, capacity, idempotency), cancellation, and what a restart
//! keeps, on the real stores (memory and redb). The manager is not started,
//! so submitted jobs stay QUEUED: exactly what a restart must preserve.

mod node_support;

use std::sync::Arc;
use std::time::Duration;

use mpc_core::epilink::synth::{Population, SynthOptions};
use protocol_spec::config::LinkageConfig;
use protocol_spec::messages::mainsel::{
    AlgorithmConfig, InitLocal, InitRemote, JobStatus, WireRecord,
};
use sel_node::jobs::{InitOutcome, JobManager, NewJob, SubmitError};
use sel_node::model::{
    CallbackDelivery, Cardinality, JobMode, JobRecord, JobSide, StatusChange, now_millis,
};
use sel_node::seal::NodeKey;
use sel_node::settings::Settings;
use sel_node::store::{MemoryStore, NodeStore, RedbStore};
use serde_json::json;

use node_support::{TempDir, default_algorithm};

fn key() -> Arc<NodeKey> {
    Arc::new(NodeKey::from_bytes(&rand::random::<[u8; 32]>()))
}

fn init_local(shared_key: &str) -> InitLocal {
    serde_json::from_value(json!({
        "localId": "A",
        "localAuthentication": {"authType": "apiKey", "sharedKey": shared_key},
        "dataService": {"url": "http://127.0.0.1:9/records"},
        "algorithm": default_algorithm(),
    }))
    .unwrap()
}

fn init_remote(matching: bool, ls: bool) -> InitRemote {
    let mut v = json!({
        "connectionProfile": {"url": "https://127.0.0.1:9",
            "authentication": {"authType": "apiKey", "sharedKey": "remote-key"}},
        "matchingAllowed": matching,
    });
    if ls {
        v["linkageService"] = json!({"url": "https://127.0.0.1:9",
            "authentication": {"authType": "apiKey", "sharedKey": "ls-key"}});
    }
    serde_json::from_value(v).unwrap()
}

fn records(n: usize) -> Vec<WireRecord> {
    let alg: AlgorithmConfig = serde_json::from_value(default_algorithm()).unwrap();
    let config = LinkageConfig::from_wire(&alg).unwrap();
    let pop = Population::generate(
        &config,
        &SynthOptions {
            database: 1,
            queries: n,
            ..SynthOptions::default()
        },
    )
    .unwrap();
    pop.queries
        .iter()
        .map(|r| WireRecord {
            fields: protocol_spec::value::record_to_wire(&config, r).unwrap(),
            id: None,
        })
        .collect()
}

fn job(remote: &str, mode: JobMode, n: usize, key: Option<&str>) -> NewJob {
    NewJob {
        remote_id: remote.into(),
        mode,
        cardinality: Cardinality::Many,
        callback_url: "http://127.0.0.1:9/cb".into(),
        records: records(n),
        idempotency_key: key.map(str::to_owned),
    }
}

/// A manager on `store` with remotes B (linkage service, matching allowed),
/// C (matching only) configured.
fn configured(store: Arc<dyn NodeStore>, settings: Settings) -> Arc<JobManager> {
    let m = JobManager::new(settings, store, key()).unwrap();
    assert_eq!(
        m.init_local(init_local("k1")).unwrap(),
        InitOutcome::Created
    );
    assert_eq!(
        m.init_remote("B", init_remote(true, true)).unwrap(),
        InitOutcome::Created
    );
    m.init_remote("C", init_remote(false, false)).unwrap();
    m
}

#[test]
fn configuration_is_validated_persisted_and_reported_as_created_or_updated() {
    let store: Arc<dyn NodeStore> = Arc::new(MemoryStore::new());
    let m = configured(store.clone(), Settings::default());
    assert_eq!(
        m.init_local(init_local("k2")).unwrap(),
        InitOutcome::Updated
    );
    assert_eq!(
        m.init_remote("B", init_remote(false, true)).unwrap(),
        InitOutcome::Updated
    );
    // A bad body changes nothing.
    let mut bad = init_local("k3");
    bad.algorithm.fields.clear();
    assert!(m.init_local(bad).is_err());
    assert!(m.init_remote("local", init_remote(true, true)).is_err());
    assert_eq!(
        m.local()
            .unwrap()
            .init
            .local_authentication
            .shared_key
            .expose(),
        "k2"
    );
    // A second manager on the same store sees the same configuration.
    let again = JobManager::new(Settings::default(), store, key()).unwrap();
    assert_eq!(again.local().unwrap().init.local_id, "A");
    assert!(!again.remote("B").unwrap().init.matching_allowed);
    let ids: Vec<String> = again.remotes().into_iter().map(|(r, _)| r.id).collect();
    assert_eq!(ids, ["B", "C"]);
}

#[test]
fn submit_checks_remote_mode_and_size_before_queueing() {
    let settings = Settings {
        max_query_records: 3,
        ..Settings::default()
    };
    let m = configured(Arc::new(MemoryStore::new()), settings);
    assert!(matches!(
        m.submit(job("X", JobMode::Linkage, 1, None)),
        Err(SubmitError::UnknownRemote(r)) if r == "X"
    ));
    assert!(matches!(
        m.submit(job("C", JobMode::Matching, 1, None)),
        Err(SubmitError::MatchingNotAllowed(_))
    ));
    assert!(matches!(
        m.submit(job("C", JobMode::Linkage, 1, None)),
        Err(SubmitError::NoLinkageService(_))
    ));
    assert!(matches!(
        m.submit(job("B", JobMode::Linkage, 4, None)),
        Err(SubmitError::TooManyRecords { count: 4, limit: 3 })
    ));
    assert!(m.jobs().is_empty(), "a refused job leaves no trace");

    let s = m.submit(job("B", JobMode::Matching, 2, None)).unwrap();
    assert!(s.created);
    let j = m.job(&s.job_id).unwrap();
    assert_eq!(j.status, JobStatus::Queued);
    assert_eq!(
        (j.query_records, j.side, j.mode),
        (2, JobSide::Client, JobMode::Matching)
    );
    assert_eq!(j.history.len(), 1);
    assert!(
        s.job_id.len() <= 64
            && s.job_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    );
}

#[test]
fn the_queue_is_bounded_per_remote_and_globally_and_frees_on_cancel() {
    let settings = Settings {
        max_queued_jobs: 3,
        max_queued_jobs_per_remote: 2,
        ..Settings::default()
    };
    let m = configured(Arc::new(MemoryStore::new()), settings);
    m.init_remote("D", init_remote(true, true)).unwrap();
    let first = m.submit(job("B", JobMode::Linkage, 1, None)).unwrap();
    m.submit(job("B", JobMode::Linkage, 1, None)).unwrap();
    let full = m.submit(job("B", JobMode::Linkage, 1, None));
    assert!(
        matches!(full, Err(SubmitError::QueueFull { retry_after_secs }) if retry_after_secs >= 1),
        "per-remote bound"
    );
    m.submit(job("D", JobMode::Linkage, 1, None)).unwrap();
    assert!(
        matches!(
            m.submit(job("D", JobMode::Linkage, 1, None)),
            Err(SubmitError::QueueFull { .. })
        ),
        "global bound"
    );
    assert!(m.cancel(&first.job_id));
    assert!(
        !m.cancel(&first.job_id),
        "a final job cannot be cancelled again"
    );
    assert!(!m.cancel("no-such-job"));
    let cancelled = m.job(&first.job_id).unwrap();
    assert_eq!(cancelled.status, JobStatus::Fault);
    assert_eq!(cancelled.error.as_deref(), Some("cancelled"));
    m.submit(job("B", JobMode::Linkage, 1, None))
        .expect("the cancelled job's place is free again");
}

#[test]
fn an_idempotency_key_returns_the_first_job_and_is_stored_only_as_a_hash() {
    let store = Arc::new(MemoryStore::new());
    let m = configured(store.clone(), Settings::default());
    let a = m
        .submit(job("B", JobMode::Linkage, 1, Some("order-17")))
        .unwrap();
    let b = m
        .submit(job("B", JobMode::Linkage, 1, Some("order-17")))
        .unwrap();
    assert!(a.created && !b.created);
    assert_eq!(a.job_id, b.job_id);
    let c = m
        .submit(job("B", JobMode::Linkage, 1, Some("order-18")))
        .unwrap();
    assert!(c.created && c.job_id != a.job_id);
    assert_eq!(m.jobs().len(), 2);
    // The key survives a restart (same node key, same store)...
    let key = key();
    let m1 = JobManager::new(Settings::default(), store.clone(), key.clone()).unwrap();
    let first = m1
        .submit(job("B", JobMode::Linkage, 1, Some("order-19")))
        .unwrap();
    drop(m1);
    let m2 = JobManager::new(Settings::default(), store.clone(), key.clone()).unwrap();
    let again = m2
        .submit(job("B", JobMode::Linkage, 1, Some("order-19")))
        .unwrap();
    assert_eq!(
        (again.job_id.as_str(), again.created),
        (first.job_id.as_str(), false)
    );
    // ... and the store holds only its keyed hash.
    let hash = key.mac(b"sel-node/idempotency-key/v1", b"order-19");
    assert_eq!(
        store
            .lookup_idempotency(&hash, now_millis())
            .unwrap()
            .as_deref(),
        Some(first.job_id.as_str())
    );
}

#[test]
fn an_expired_idempotency_key_creates_a_new_job() {
    let settings = Settings {
        idempotency_ttl: Duration::ZERO,
        ..Settings::default()
    };
    let m = configured(Arc::new(MemoryStore::new()), settings);
    let a = m.submit(job("B", JobMode::Linkage, 1, Some("k"))).unwrap();
    std::thread::sleep(Duration::from_millis(5));
    let b = m.submit(job("B", JobMode::Linkage, 1, Some("k"))).unwrap();
    assert!(b.created);
    assert_ne!(a.job_id, b.job_id);
}

fn stored_job(id: &str, status: JobStatus, side: JobSide) -> JobRecord {
    let now = now_millis();
    JobRecord {
        id: id.into(),
        remote_id: "B".into(),
        mode: JobMode::Linkage,
        side,
        cardinality: Cardinality::Many,
        status,
        progress_percent: 40,
        created: now,
        started: Some(now),
        finished: None,
        error: None,
        callback_url: Some("http://127.0.0.1:9/cb".into()),
        callback_delivery: CallbackDelivery::default(),
        query_records: 1,
        database_records: Some(5),
        config_fingerprint: "00".into(),
        history: vec![StatusChange {
            status,
            at: now,
            reason: None,
        }],
        match_counts: None,
    }
}

#[test]
fn a_restart_faults_interrupted_jobs_requeues_queued_ones_and_loses_nothing() {
    let dir = TempDir::new("restart");
    let path = dir.path().join("node.redb");
    let key = key();
    let (queued, done) = {
        let store: Arc<dyn NodeStore> = Arc::new(RedbStore::open(&path, key.clone()).unwrap());
        let m = configured(store.clone(), Settings::default());
        let queued = m
            .submit(job("B", JobMode::Linkage, 2, None))
            .unwrap()
            .job_id;
        store
            .save_job(&stored_job("running1", JobStatus::Running, JobSide::Client))
            .unwrap();
        store
            .save_job(&stored_job("held1", JobStatus::Hold, JobSide::Client))
            .unwrap();
        store
            .save_job(&stored_job("served1", JobStatus::Running, JobSide::Server))
            .unwrap();
        let mut done = stored_job("done1", JobStatus::Done, JobSide::Client);
        done.finished = Some(now_millis());
        store.save_job(&done).unwrap();
        (queued, done)
    };
    // The process is gone; a new one opens the same file with the same key.
    let store: Arc<dyn NodeStore> = Arc::new(RedbStore::open(&path, key.clone()).unwrap());
    let m = JobManager::new(Settings::default(), store.clone(), key).unwrap();
    assert_eq!(m.local().unwrap().init.local_id, "A");
    assert!(m.remote("B").is_some() && m.remote("C").is_some());
    let ids: Vec<String> = m.jobs().into_iter().map(|j| j.id).collect();
    assert_eq!(ids.len(), 5, "nothing vanishes: {ids:?}");
    for id in ["running1", "held1", "served1"] {
        let j = m.job(id).unwrap();
        assert_eq!(j.status, JobStatus::Fault, "{id}");
        assert_eq!(j.error.as_deref(), Some("node restarted"), "{id}");
        let last = j.history.last().unwrap();
        assert_eq!(
            (last.status, last.reason.as_deref()),
            (JobStatus::Fault, Some("node restarted"))
        );
        // The FAULT is persisted, not only in memory.
        assert_eq!(
            store.load_job(id).unwrap().unwrap().status,
            JobStatus::Fault
        );
    }
    assert_eq!(m.job("done1").unwrap(), done);
    let q = m.job(&queued).unwrap();
    assert_eq!(q.status, JobStatus::Queued);
    assert_eq!(
        store.load_job_input(&queued).unwrap().map(|r| r.len()),
        Some(2),
        "a queued job keeps its input to run after the restart"
    );
    // The requeued job holds its queue slot and can still be cancelled.
    assert!(m.cancel(&queued));
    assert_eq!(store.load_job_input(&queued).unwrap(), None);
}
