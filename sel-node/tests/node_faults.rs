//! Jobs that cannot run as asked, on whole nodes over real sockets: a remote
//! that cannot be reached (HOLD, then FAULT after the deadline; or
//! cancelled while held), a remote that refuses matching, and a job queued
//! before a restart that runs after the next start. In every case the
//! callback gets `{"error": ...}` and the job records why.

mod node_support;

use std::sync::Arc;
use std::time::Duration;

use protocol_spec::config::LinkageConfig;
use protocol_spec::messages::mainsel::{AlgorithmConfig, InitLocal, InitRemote, JobStatus};
use sel_node::jobs::{JobManager, NewJob};
use sel_node::model::{Cardinality, DeliveryState, JobMode};
use sel_node::node::{RunningNode, STORE_FILE, start};
use sel_node::seal::NodeKey;
use sel_node::settings::Settings;
use sel_node::store::{NodeStore, RedbStore};
use serde_json::{Value, json};

use node_support::{
    Callbacks, Pki, Rest, TempDir, default_algorithm, init_local, init_remote, init_remote_at,
    node_settings, start_callbacks,
};

/// A peer endpoint nobody listens on.
async fn dead_endpoint() -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    format!("https://127.0.0.1:{port}")
}

fn config() -> LinkageConfig {
    let alg: AlgorithmConfig = serde_json::from_value(default_algorithm()).unwrap();
    LinkageConfig::from_wire(&alg).unwrap()
}

/// One record with every field empty (valid for any configuration).
fn empty_record(config: &LinkageConfig) -> Value {
    let fields: serde_json::Map<String, Value> = config
        .fields()
        .iter()
        .map(|f| (f.name.clone(), Value::Null))
        .collect();
    Value::Object(fields)
}

fn match_body(callbacks: &Callbacks, tag: &str) -> Value {
    json!({"callback": {"url": callbacks.url(tag)}, "fields": empty_record(&config())})
}

/// Node A, initialised, with remote B at `remote_url` (matching allowed).
async fn node_a(pki: &Pki, settings: Settings, remote_url: &str) -> (RunningNode, Rest) {
    let a = start(settings).await.unwrap();
    let rest = Rest::new(pki, &a, "key-of-A");
    assert_eq!(
        rest.put(
            "/initLocal",
            &init_local("A", "key-of-A", "http://127.0.0.1:9/none")
        )
        .await,
        204
    );
    assert_eq!(
        rest.put("/initRemote/B", &init_remote_at(remote_url, None, true))
            .await,
        204
    );
    (a, rest)
}

/// Waits (bounded) until `job` has `status`.
async fn wait_for(manager: &JobManager, job: &str, status: JobStatus) {
    for _ in 0..600 {
        if manager.job(job).is_some_and(|j| j.status == status) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("job {job} never reached {status}: {:?}", manager.job(job));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_remote_holds_the_job_then_faults_it_and_the_callback_gets_the_error() {
    let root = TempDir::new("hold");
    let pki = Pki::new(root.path());
    let mut callbacks = start_callbacks().await;
    let settings = Settings {
        hold_deadline: Duration::from_secs(1),
        ..node_settings(root.path(), &pki)
    };
    let (a, rest) = node_a(&pki, settings, &dead_endpoint().await).await;
    let job = rest
        .submit("/matchRecord/B", &match_body(&callbacks, "held"))
        .await;
    let got = callbacks.next().await;
    assert_eq!(got.tag, "held");
    let error = got.body["error"].as_str().expect("an error callback");
    assert!(got.body.get("result").is_none());
    assert!(error.contains("cannot be reached"), "{error}");
    assert!(error.contains("in HOLD"), "{error}");

    let record = a.manager().job(&job).unwrap();
    assert_eq!(record.status, JobStatus::Fault);
    assert_eq!(record.error.as_deref(), Some(error));
    let statuses: Vec<JobStatus> = record.history.iter().map(|h| h.status).collect();
    assert_eq!(statuses.first(), Some(&JobStatus::Queued));
    assert!(statuses.contains(&JobStatus::Running));
    assert!(statuses.contains(&JobStatus::Hold), "{statuses:?}");
    assert_eq!(statuses.last(), Some(&JobStatus::Fault));
    let (code, text) = rest.get(&format!("/jobs/{job}")).await;
    assert_eq!((code, text.as_str()), (200, "FAULT"));
    a.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_job_can_be_cancelled_and_the_callback_says_so() {
    let root = TempDir::new("cancel");
    let pki = Pki::new(root.path());
    let mut callbacks = start_callbacks().await;
    let (a, rest) = node_a(
        &pki,
        node_settings(root.path(), &pki),
        &dead_endpoint().await,
    )
    .await;
    let job = rest
        .submit("/matchRecord/B", &match_body(&callbacks, "c"))
        .await;
    wait_for(a.manager(), &job, JobStatus::Hold).await;
    assert!(a.manager().cancel(&job));
    let got = callbacks.next().await;
    assert_eq!(got.body, json!({"error": "cancelled"}));
    let record = a.manager().job(&job).unwrap();
    assert_eq!(
        (record.status, record.error.as_deref()),
        (JobStatus::Fault, Some("cancelled"))
    );
    assert!(!a.manager().cancel(&job), "final jobs stay final");
    a.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_that_does_not_allow_matching_refuses_and_the_job_faults_with_the_reason() {
    let root = TempDir::new("refuse");
    let pki = Pki::new(root.path());
    let mut callbacks = start_callbacks().await;
    let (dir_a, dir_b) = (root.path().join("a"), root.path().join("b"));
    std::fs::create_dir_all(&dir_a).unwrap();
    std::fs::create_dir_all(&dir_b).unwrap();
    let b = start(node_settings(&dir_b, &pki)).await.unwrap();
    let (a, rest_a) = node_a(
        &pki,
        node_settings(&dir_a, &pki),
        &format!("https://127.0.0.1:{}", b.peer_addr().port()),
    )
    .await;
    let rest_b = Rest::new(&pki, &b, "key-of-B");
    assert_eq!(
        rest_b
            .put(
                "/initLocal",
                &init_local("B", "key-of-B", "http://127.0.0.1:9/none")
            )
            .await,
        204
    );
    // B allows A to connect, but not to count matches.
    assert_eq!(
        rest_b
            .put("/initRemote/A", &init_remote(&a, None, false))
            .await,
        204
    );
    let job = rest_a
        .submit("/matchRecord/B", &match_body(&callbacks, "m"))
        .await;
    let got = callbacks.next().await;
    let error = got.body["error"].as_str().expect("an error callback");
    assert!(error.contains("does not allow matching"), "{error}");
    let record = a.manager().job(&job).unwrap();
    assert_eq!(record.status, JobStatus::Fault);
    assert!(
        !record.history.iter().any(|h| h.status == JobStatus::Hold),
        "a refusal that will not change is not waited for"
    );
    // Delivery is recorded on the job.
    for _ in 0..200 {
        if a.manager().job(&job).unwrap().callback_delivery.state == DeliveryState::Delivered {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(
        a.manager().job(&job).unwrap().callback_delivery.state,
        DeliveryState::Delivered
    );
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_queued_before_a_restart_runs_after_the_next_start() {
    let root = TempDir::new("requeue");
    let pki = Pki::new(root.path());
    let mut callbacks = start_callbacks().await;
    let settings = Settings {
        hold_deadline: Duration::ZERO,
        ..node_settings(root.path(), &pki)
    };
    // The previous process accepted the job and stopped before running it.
    let job = {
        let key = Arc::new(NodeKey::load(settings.node_key_file.as_deref()).unwrap());
        let store: Arc<dyn NodeStore> =
            Arc::new(RedbStore::open(&settings.data_dir.join(STORE_FILE), key.clone()).unwrap());
        let m = JobManager::new(settings.clone(), store, key).unwrap();
        let local: InitLocal =
            serde_json::from_value(init_local("A", "key-of-A", "http://127.0.0.1:9/none")).unwrap();
        m.init_local(local).unwrap();
        let remote: InitRemote =
            serde_json::from_value(init_remote_at(&dead_endpoint().await, None, true)).unwrap();
        m.init_remote("B", remote).unwrap();
        let fields = serde_json::from_value(empty_record(&config())).unwrap();
        m.submit(NewJob {
            remote_id: "B".into(),
            mode: JobMode::Matching,
            cardinality: Cardinality::One,
            callback_url: callbacks.url("requeued"),
            records: vec![protocol_spec::messages::mainsel::WireRecord { fields, id: None }],
            idempotency_key: None,
        })
        .unwrap()
        .job_id
    };
    let a = start(settings).await.unwrap();
    let got = callbacks.next().await;
    assert_eq!(got.tag, "requeued");
    assert!(
        got.body["error"]
            .as_str()
            .unwrap()
            .contains("cannot be reached")
    );
    let record = a.manager().job(&job).unwrap();
    assert_eq!(record.status, JobStatus::Fault);
    assert!(
        record
            .history
            .iter()
            .any(|h| h.status == JobStatus::Running)
    );
    a.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_remote_checks_size_and_configuration_before_it_commits_anything() {
    let root = TempDir::new("admit");
    let pki = Pki::new(root.path());
    let mut callbacks = start_callbacks().await;
    let (dir_a, dir_b) = (root.path().join("a"), root.path().join("b"));
    std::fs::create_dir_all(&dir_a).unwrap();
    std::fs::create_dir_all(&dir_b).unwrap();
    let b = start(Settings {
        max_query_records: 1,
        ..node_settings(&dir_b, &pki)
    })
    .await
    .unwrap();
    let (a, rest_a) = node_a(
        &pki,
        node_settings(&dir_a, &pki),
        &format!("https://127.0.0.1:{}", b.peer_addr().port()),
    )
    .await;
    let rest_b = Rest::new(&pki, &b, "key-of-B");
    // The data service is never asked: admission fails first.
    let b_local = init_local("B", "key-of-B", "http://127.0.0.1:9/none");
    assert_eq!(rest_b.put("/initLocal", &b_local).await, 204);
    assert_eq!(
        rest_b
            .put("/initRemote/A", &init_remote(&a, None, true))
            .await,
        204
    );
    let two = json!({"callback": {"url": callbacks.url("two")},
        "records": [{"fields": empty_record(&config())}, {"fields": empty_record(&config())}]});
    let job = rest_a.submit("/matchRecords/B", &two).await;
    let error = callbacks.next().await.body["error"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(error.contains("too many records"), "{error}");
    assert_eq!(a.manager().job(&job).unwrap().status, JobStatus::Fault);

    // B changes its configuration: A's announcement no longer fits.
    let mut changed = b_local.clone();
    changed["algorithm"]["threshold_match"] = json!(0.95);
    assert_eq!(rest_b.put("/initLocal", &changed).await, 200);
    let job = rest_a
        .submit("/matchRecord/B", &match_body(&callbacks, "one"))
        .await;
    let error = callbacks.next().await.body["error"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(error.contains("configuration"), "{error}");
    assert_eq!(a.manager().job(&job).unwrap().status, JobStatus::Fault);
    assert!(
        b.manager().jobs().is_empty(),
        "a refused announcement leaves no job on the remote"
    );
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unavailable_linkage_service_holds_the_job_after_the_2pc_then_faults_it() {
    let root = TempDir::new("ls-down");
    let pki = Pki::new(root.path());
    let ls = node_support::start_ls(&pki, &["A", "B"]).await;
    let mut callbacks = start_callbacks().await;
    let config = config();
    let pop = mpc_core::epilink::synth::Population::generate(
        &config,
        &mpc_core::epilink::synth::SynthOptions {
            database: 8,
            queries: 2,
            ..Default::default()
        },
    )
    .unwrap();
    let data_b =
        node_support::start_data_service(node_support::with_ids(&config, &pop.database), 5).await;
    let (dir_a, dir_b) = (root.path().join("a"), root.path().join("b"));
    std::fs::create_dir_all(&dir_a).unwrap();
    std::fs::create_dir_all(&dir_b).unwrap();
    let b = start(node_settings(&dir_b, &pki)).await.unwrap();
    let a = start(Settings {
        hold_deadline: Duration::from_secs(1),
        ..node_settings(&dir_a, &pki)
    })
    .await
    .unwrap();
    let (rest_a, rest_b) = (
        Rest::new(&pki, &a, "key-of-A"),
        Rest::new(&pki, &b, "key-of-B"),
    );
    assert_eq!(
        rest_a
            .put(
                "/initLocal",
                &init_local("A", "key-of-A", "http://127.0.0.1:9/none")
            )
            .await,
        204
    );
    assert_eq!(
        rest_b
            .put("/initLocal", &init_local("B", "key-of-B", &data_b.url))
            .await,
        204
    );
    // B reaches the linkage service (it gets LIDs for its records); A's
    // address of the service is dead.
    let dead = dead_endpoint().await;
    assert_eq!(
        rest_a
            .put(
                "/initRemote/B",
                &init_remote(&b, Some((&dead, "any-key")), true)
            )
            .await,
        204
    );
    let b_key = &ls.sites["B"].api_key;
    assert_eq!(
        rest_b
            .put(
                "/initRemote/A",
                &init_remote(&a, Some((&ls.url, b_key)), true)
            )
            .await,
        204
    );
    let records: Vec<Value> = pop
        .queries
        .iter()
        .map(|r| json!({"fields": protocol_spec::value::record_to_wire(&config, r).unwrap()}))
        .collect();
    let job = rest_a
        .submit(
            "/linkRecords/B",
            &json!({"callback": {"url": callbacks.url("ls")}, "records": records}),
        )
        .await;
    let got = callbacks.next().await;
    let error = got.body["error"].as_str().expect("an error callback");
    assert!(error.contains("linkage service unavailable"), "{error}");
    assert!(error.contains("in HOLD"), "{error}");
    let record = a.manager().job(&job).unwrap();
    assert_eq!(record.status, JobStatus::Fault);
    assert_eq!(
        record.database_records,
        Some(8),
        "the 2PC ran before the HOLD"
    );
    let statuses: Vec<JobStatus> = record.history.iter().map(|h| h.status).collect();
    assert!(
        statuses.ends_with(&[JobStatus::Running, JobStatus::Hold, JobStatus::Fault]),
        "{statuses:?}"
    );
    a.shutdown().await;
    b.shutdown().await;
}
