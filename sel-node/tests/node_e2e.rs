//! End to end, in one process: two nodes (A asks, B answers), the real
//! linkage service, B's data service serving pages of synthetic records, a
//! callback receiver; verified TLS on the REST API, the peer channel and the
//! linkage service. A links and matches against B; the LIDs and counts
//! must equal what the plaintext reference says; a restarted A keeps its
//! configuration, remotes and jobs and runs new jobs.

mod node_support;

use mpc_core::epilink::synth::{Population, SynthOptions};
use protocol_spec::config::LinkageConfig;
use protocol_spec::messages::mainsel::{AlgorithmConfig, WireRecord};
use sel_node::node::{STORE_FILE, start};
use sel_node::seal::NodeKey;
use sel_node::store::{NodeStore, RedbStore};
use serde_json::{Value, json};

use node_support::{
    Pki, Rest, TempDir, configure_pair, default_algorithm, init_remote, node_settings,
    start_callbacks, start_data_service, start_ls, with_ids,
};

fn wire(config: &LinkageConfig, records: &[protocol_spec::config::Record]) -> Vec<Value> {
    records
        .iter()
        .map(|r| json!({"fields": protocol_spec::value::record_to_wire(config, r).unwrap()}))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_link_and_match_like_the_reference_and_a_restart_keeps_state() {
    let root = TempDir::new("e2e");
    let pki = Pki::new(root.path());
    let ls = start_ls(&pki, &["A", "B"]).await;
    let alg: AlgorithmConfig = serde_json::from_value(default_algorithm()).unwrap();
    let config = LinkageConfig::from_wire(&alg).unwrap();
    let pop = Population::generate(
        &config,
        &SynthOptions {
            database: 40,
            queries: 6,
            seed: 11,
            linked_fraction: 0.7,
            error_rate: 0.1,
        },
    )
    .unwrap();
    let database: Vec<WireRecord> = with_ids(&config, &pop.database);
    let data_b = start_data_service(database, 16).await;
    let mut callbacks = start_callbacks().await;

    let (dir_a, dir_b) = (root.path().join("a"), root.path().join("b"));
    std::fs::create_dir_all(&dir_a).unwrap();
    std::fs::create_dir_all(&dir_b).unwrap();
    let a = start(node_settings(&dir_a, &pki)).await.unwrap();
    let b = start(node_settings(&dir_b, &pki)).await.unwrap();
    let rest_a = Rest::new(&pki, &a, "key-of-A");
    let rest_b = Rest::new(&pki, &b, "key-of-B");

    configure_pair(
        (&rest_a, &a, "http://127.0.0.1:9/none"),
        (&rest_b, &b, &data_b.url),
        &ls,
    )
    .await;
    let (ls_a, ls_b) = (&ls.sites["A"], &ls.sites["B"]);
    assert_eq!(
        rest_a.get("/test/B").await,
        (200, "Remotes Connected".into())
    );
    assert_eq!(
        rest_a.get("/testLS/B").await,
        (200, "Linkage Service connected".into())
    );

    // ---- linkage: LIDs in request order, equal to the reference's choice ----
    let link_job = rest_a
        .submit(
            "/linkRecords/B",
            &json!({"callback": {"url": callbacks.url("link")}, "records": wire(&config, &pop.queries)}),
        )
        .await;
    let got = callbacks.next().await;
    assert_eq!(got.tag, "link");
    assert_eq!(
        got.auth, "apiKey apiKey=\"key-of-A\"",
        "callbacks carry the local key"
    );
    let result = got.body["result"]
        .as_array()
        .expect("an array for linkRecords")
        .clone();
    assert!(got.body.get("error").is_none(), "{}", got.body);
    let reference =
        protocol_spec::epilink::link_records(&config, &pop.queries, &pop.database).unwrap();
    assert_eq!(result.len(), reference.len());
    assert_eq!(
        rest_a.get(&format!("/jobs/{link_job}")).await,
        (200, "DONE".into())
    );
    assert!(
        reference.iter().any(|r| r.is_match),
        "the population must have matches for this test to mean something"
    );

    // A second linkage of the same records: B reuses the LIDs it holds, so
    // every matched record gets the same LID again, and only those.
    rest_a
        .submit(
            "/linkRecords/B",
            &json!({"callback": {"url": callbacks.url("again")}, "records": wire(&config, &pop.queries)}),
        )
        .await;
    let again = callbacks.next().await.body["result"]
        .as_array()
        .unwrap()
        .clone();
    for (i, r) in reference.iter().enumerate() {
        let first = ls_a.open(result[i]["linkageId"].as_str().unwrap());
        let second = ls_a.open(again[i]["linkageId"].as_str().unwrap());
        assert_eq!(
            first.as_bytes() == second.as_bytes(),
            r.is_match,
            "query {i}: the same LID exactly when it matched"
        );
    }

    // ---- matching: counts equal to the reference ----
    let match_job = rest_a
        .submit(
            "/matchRecords/B",
            &json!({"callback": {"url": callbacks.url("match")}, "records": wire(&config, &pop.queries)}),
        )
        .await;
    let got = callbacks.next().await;
    assert_eq!(got.tag, "match");
    let counts =
        protocol_spec::epilink::match_records(&config, &pop.queries, &pop.database).unwrap();
    assert_eq!(
        got.body,
        json!({"result": {"matches": counts.matches, "tentativeMatches": counts.tentative}})
    );
    let job: Value = serde_json::from_str(
        &rest_a
            .get(&format!("/jobs/{match_job}?format=json"))
            .await
            .1,
    )
    .unwrap();
    assert_eq!(job["status"], "DONE", "{job}");
    assert_eq!(job["progress_percent"], 100, "{job}");

    // B recorded its side of both jobs (no patient data, no callback).
    let served: Vec<_> = b
        .manager()
        .jobs()
        .into_iter()
        .filter(|j| j.side == sel_node::model::JobSide::Server)
        .collect();
    assert_eq!(served.len(), 3);
    for j in &served {
        assert_eq!(
            j.status,
            protocol_spec::messages::mainsel::JobStatus::Done,
            "{j:?}"
        );
        assert_eq!(
            (j.remote_id.as_str(), j.query_records),
            ("A", pop.queries.len() as u64)
        );
        assert_eq!(j.database_records, Some(pop.database.len() as u64));
        assert!(j.callback_url.is_none());
    }
    assert!(served.iter().any(|j| j.id == link_job) && served.iter().any(|j| j.id == match_job));

    // ---- restart A: configuration, remotes and jobs survive ----
    let jobs_before = rest_a.get("/jobs/list").await;
    a.shutdown().await;
    let a = start(node_settings(&dir_a, &pki)).await.unwrap();
    let rest_a = Rest::new(&pki, &a, "key-of-A");
    assert_eq!(rest_a.get("/jobs/list").await, jobs_before);
    // B still has A's old peer address; tell it the new one, then A works as before.
    assert_eq!(
        rest_b
            .put(
                "/initRemote/A",
                &init_remote(&a, Some((&ls.url, &ls_b.api_key)), true)
            )
            .await,
        200
    );
    assert_eq!(
        rest_a.get("/test/B").await,
        (200, "Remotes Connected".into())
    );
    let one = &pop.queries[0];
    rest_a
        .submit(
            "/matchRecord/B",
            &json!({"callback": {"url": callbacks.url("one")}, "fields": protocol_spec::value::record_to_wire(&config, one).unwrap()}),
        )
        .await;
    let got = callbacks.next().await;
    let one_counts =
        protocol_spec::epilink::match_records(&config, std::slice::from_ref(one), &pop.database)
            .unwrap();
    assert_eq!(
        got.body,
        json!({"result": {"matches": one_counts.matches, "tentativeMatches": one_counts.tentative}})
    );

    // ---- the LIDs: a matched record gets B's LID of its best record ----
    a.shutdown().await;
    b.shutdown().await;
    // B's store (closed now) holds the LIDs it posted, sealed under B's node key.
    let key_b = std::sync::Arc::new(NodeKey::load(Some(&dir_b.join("node.key"))).unwrap());
    let store_b = RedbStore::open(&dir_b.join(STORE_FILE), key_b).unwrap();
    let ids: Vec<String> = (0..pop.database.len()).map(|i| format!("rec{i}")).collect();
    let lids_b: Vec<String> = store_b
        .load_lids(&ls.url, &ids)
        .unwrap()
        .into_iter()
        .map(|l| l.expect("B has a LID for every record"))
        .collect();
    let mut fresh = std::collections::HashSet::new();
    for (i, (entry, r)) in result.iter().zip(&reference).enumerate() {
        let lid = ls_a.open(
            entry["linkageId"]
                .as_str()
                .expect("every record gets a LID"),
        );
        let tentative = entry.get("tentative") == Some(&Value::Bool(true));
        if r.is_match {
            assert_eq!(
                lid.as_bytes(),
                ls_b.open(&lids_b[r.best_index]).as_bytes(),
                "query {i} matched database record {}",
                r.best_index
            );
            assert!(!tentative, "query {i}");
        } else {
            assert_eq!(tentative, r.tentative, "query {i}: tentative marker");
            assert!(
                lids_b
                    .iter()
                    .all(|s| ls_b.open(s).as_bytes() != lid.as_bytes()),
                "query {i} did not match: its LID is fresh"
            );
            assert!(fresh.insert(*lid.as_bytes()), "fresh LIDs are distinct");
        }
    }
    // The data service was asked with B's key, for the requester A.
    assert!(
        data_b
            .auth_seen
            .lock()
            .unwrap()
            .iter()
            .all(|a| a == "apiKey apiKey=\"key-of-B\"")
    );
}

/// Both nodes set `mpcProfile: "lan"` for each other in `initRemote`: while
/// only one has, `/test` names the difference; once both have, a matching
/// job runs with the `lan` knobs on both sides (one side alone would fail
/// the EpiLink handshake) and equals the reference.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pair_on_the_lan_profile_matches_like_the_reference() {
    let root = TempDir::new("e2e-lan");
    let pki = Pki::new(root.path());
    let ls = start_ls(&pki, &["A", "B"]).await;
    let alg: AlgorithmConfig = serde_json::from_value(default_algorithm()).unwrap();
    let config = LinkageConfig::from_wire(&alg).unwrap();
    let pop = Population::generate(
        &config,
        &SynthOptions {
            database: 20,
            queries: 4,
            seed: 5,
            linked_fraction: 0.7,
            error_rate: 0.1,
        },
    )
    .unwrap();
    let data_b = start_data_service(with_ids(&config, &pop.database), 16).await;
    let mut callbacks = start_callbacks().await;
    let (dir_a, dir_b) = (root.path().join("a"), root.path().join("b"));
    std::fs::create_dir_all(&dir_a).unwrap();
    std::fs::create_dir_all(&dir_b).unwrap();
    let a = start(node_settings(&dir_a, &pki)).await.unwrap();
    let b = start(node_settings(&dir_b, &pki)).await.unwrap();
    let rest_a = Rest::new(&pki, &a, "key-of-A");
    let rest_b = Rest::new(&pki, &b, "key-of-B");
    configure_pair(
        (&rest_a, &a, "http://127.0.0.1:9/none"),
        (&rest_b, &b, &data_b.url),
        &ls,
    )
    .await;
    let lan = |peer: &sel_node::node::RunningNode, key: &str| {
        let mut v = init_remote(peer, Some((&ls.url, key)), true);
        v["mpcProfile"] = json!("lan");
        v
    };
    assert_eq!(
        rest_a
            .put("/initRemote/B", &lan(&b, &ls.sites["A"].api_key))
            .await,
        200
    );
    let (status, message) = rest_a.get("/test/B").await;
    assert_eq!(status, 409, "{message}");
    assert!(
        message.contains("mpcProfile differs") && message.contains("this node runs lan"),
        "{message}"
    );
    assert_eq!(
        rest_b
            .put("/initRemote/A", &lan(&a, &ls.sites["B"].api_key))
            .await,
        200
    );
    assert_eq!(
        rest_a.get("/test/B").await,
        (200, "Remotes Connected".into())
    );
    rest_a
        .submit(
            "/matchRecords/B",
            &json!({"callback": {"url": callbacks.url("lan")}, "records": wire(&config, &pop.queries)}),
        )
        .await;
    let got = callbacks.next().await;
    let counts =
        protocol_spec::epilink::match_records(&config, &pop.queries, &pop.database).unwrap();
    assert_eq!(
        got.body,
        json!({"result": {"matches": counts.matches, "tentativeMatches": counts.tentative}})
    );
}
