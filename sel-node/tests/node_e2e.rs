//! End to end, in one process: two nodes (A asks, B answers), the real
//! linkage service, B's data service serving pages of synthetic records, a
//! callback receiver; verified TLS on the REST API, the peer channel and the
//! linkage service. A links and matches against B; the LIDs and counts
//! must equal what the plaintext reference says; a restarted A keeps its
//! configuration, remotes and jobs and runs new jobs.

mod node_support;

use std::path::Path;

use mpc_core::epilink::synth::{Population, SynthOptions};
use protocol_spec::config::LinkageConfig;
use protocol_spec::messages::mainsel::{AlgorithmConfig, WireRecord};
use sel_node::node::{RunningNode, STORE_FILE, start};
use sel_node::seal::NodeKey;
use sel_node::settings::Settings;
use sel_node::store::{NodeStore, RedbStore};
use serde_json::{Value, json};

use node_support::{
    Pki, TempDir, default_algorithm, start_callbacks, start_data_service, start_ls, with_ids,
};

/// The shared key of the A–B pair on the peer channel.
const PAIR_KEY: &str = "pair-key-A-B";

fn node_settings(dir: &Path, pki: &Pki) -> Settings {
    let key_file = dir.join("node.key");
    if !key_file.exists() {
        NodeKey::generate_file(&key_file).unwrap();
    }
    Settings {
        api_listen: "127.0.0.1:0".parse().unwrap(),
        peer_listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.to_path_buf(),
        node_key_file: Some(key_file),
        tls_cert: Some(pki.cert_file.clone()),
        tls_key: Some(pki.key_file.clone()),
        ca_bundle: Some(pki.ca_file.clone()),
        ..Settings::default()
    }
}

/// The REST API of one node, as its registry would call it.
struct Rest {
    http: reqwest::Client,
    base: String,
    key: String,
}

impl Rest {
    fn new(pki: &Pki, node: &RunningNode, key: &str) -> Rest {
        Rest {
            http: pki.client(),
            base: format!("https://127.0.0.1:{}", node.api_addr().port()),
            key: key.into(),
        }
    }

    fn auth(&self) -> String {
        format!("apiKey apiKey=\"{}\"", self.key)
    }

    async fn put(&self, path: &str, body: &Value) -> u16 {
        self.http
            .put(format!("{}{path}", self.base))
            .header("authorization", self.auth())
            .json(body)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    async fn get(&self, path: &str) -> (u16, String) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .header("authorization", self.auth())
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    /// POSTs a job; its id from `Location`.
    async fn submit(&self, path: &str, body: &Value) -> String {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .header("authorization", self.auth())
            .json(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 202, "{path}: {:?}", r.text().await);
        let location = r.headers()["location"].to_str().unwrap().to_owned();
        location.strip_prefix("/jobs/").unwrap().to_owned()
    }
}

fn init_local(id: &str, key: &str, data_service: &str) -> Value {
    json!({
        "localId": id,
        "localAuthentication": {"authType": "apiKey", "sharedKey": key},
        "dataService": {"url": data_service},
        "algorithm": default_algorithm(),
    })
}

fn init_remote(peer: &RunningNode, ls_url: &str, ls_key: &str) -> Value {
    json!({
        "connectionProfile": {"url": format!("https://127.0.0.1:{}", peer.peer_addr().port()),
            "authentication": {"authType": "apiKey", "sharedKey": PAIR_KEY}},
        "linkageService": {"url": ls_url,
            "authentication": {"authType": "apiKey", "sharedKey": ls_key}},
        "matchingAllowed": true,
    })
}

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

    assert_eq!(
        rest_a
            .put("/initLocal", &init_local("A", "key-of-A", "http://127.0.0.1:9/none"))
            .await,
        204
    );
    assert_eq!(
        rest_b
            .put("/initLocal", &init_local("B", "key-of-B", &data_b.url))
            .await,
        204
    );
    let (ls_a, ls_b) = (&ls.sites["A"], &ls.sites["B"]);
    assert_eq!(
        rest_a
            .put("/initRemote/B", &init_remote(&b, &ls.url, &ls_a.api_key))
            .await,
        204
    );
    assert_eq!(
        rest_b
            .put("/initRemote/A", &init_remote(&a, &ls.url, &ls_b.api_key))
            .await,
        204
    );
    assert_eq!(rest_a.get("/test/B").await, (200, "Remotes Connected".into()));
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
    assert_eq!(got.auth, "apiKey apiKey=\"key-of-A\"", "callbacks carry the local key");
    let result = got.body["result"].as_array().expect("an array for linkRecords").clone();
    assert!(got.body.get("error").is_none(), "{}", got.body);
    let reference =
        protocol_spec::epilink::link_records(&config, &pop.queries, &pop.database).unwrap();
    assert_eq!(result.len(), reference.len());
    assert_eq!(rest_a.get(&format!("/jobs/{link_job}")).await, (200, "DONE".into()));
    assert!(
        reference.iter().any(|r| r.is_match),
        "the population must have matches for this test to mean something"
    );

    // ---- matching: counts equal to the reference ----
    let match_job = rest_a
        .submit(
            "/matchRecords/B",
            &json!({"callback": {"url": callbacks.url("match")}, "records": wire(&config, &pop.queries)}),
        )
        .await;
    let got = callbacks.next().await;
    assert_eq!(got.tag, "match");
    let counts = protocol_spec::epilink::match_records(&config, &pop.queries, &pop.database).unwrap();
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

    // ---- restart A: configuration, remotes and jobs survive ----
    let jobs_before = rest_a.get("/jobs/list").await;
    a.shutdown().await;
    let a = start(node_settings(&dir_a, &pki)).await.unwrap();
    let rest_a = Rest::new(&pki, &a, "key-of-A");
    assert_eq!(rest_a.get("/jobs/list").await, jobs_before);
    // B still has A's old peer address; tell it the new one, then A works as before.
    assert_eq!(
        rest_b
            .put("/initRemote/A", &init_remote(&a, &ls.url, &ls_b.api_key))
            .await,
        200
    );
    assert_eq!(rest_a.get("/test/B").await, (200, "Remotes Connected".into()));
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
        let lid = ls_a.open(entry["linkageId"].as_str().expect("every record gets a LID"));
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
                lids_b.iter().all(|s| ls_b.open(s).as_bytes() != lid.as_bytes()),
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
