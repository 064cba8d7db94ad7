//! The registry over real sockets and verified TLS: patients imported by the
//! binary, served by `registry::server`, paged by a client the way a node
//! pages, triggers submitted to a stand-in node (a tiny warp server that
//! records what it gets, standing in for the node that is built elsewhere),
//! callbacks stored and exported by the binary.
mod registry_support;

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use protocol_spec::messages::mainsel::{
    RecordsPage, RecordsRequest, SharedKey, authorization_header_value,
};
use registry_support::*;
use sel_node::registry::server::{RunningRegistry, start};
use sel_node::registry::{Registry, RegistryConfig, RegistryStore};
use serde_json::{Value, json};
use warp::{Filter, Reply};

const API_KEY: &str = "registry-user-key";
const NODE_KEY: &str = "node-local-key";

fn header(key: &str) -> String {
    authorization_header_value(&SharedKey::new(key))
}

/// A registry on 127.0.0.1:0 over TLS, on the store in `data`.
struct Harness {
    server: RunningRegistry,
    client: reqwest::Client,
    base: String,
}

impl Harness {
    async fn start(data: &Path, node_url: &str) -> Harness {
        let pki = test_pki();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let base = format!("https://{addr}");
        let config = RegistryConfig {
            site_id: "SITE_A".into(),
            api_key: SharedKey::new(API_KEY),
            node_key: SharedKey::new(NODE_KEY),
            node_url: node_url.to_owned(),
            public_url: base.clone(),
        };
        let client = client_trusting(std::slice::from_ref(&pki.ca_der));
        let registry = Registry::new(config, RegistryStore::open(data).unwrap(), client.clone());
        let server = start(listener, Some(pki.server), Arc::new(registry)).unwrap();
        Harness {
            server,
            client,
            base,
        }
    }

    async fn get(&self, url: &str, key: Option<&str>) -> reqwest::Response {
        let mut req = self.client.get(url);
        if let Some(k) = key {
            req = req.header("authorization", header(k));
        }
        req.send().await.unwrap()
    }

    async fn post(&self, path: &str, key: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.base))
            .header("authorization", header(key))
            .json(body)
            .send()
            .await
            .unwrap()
    }
}

/// Imports `n` synthetic patients into a fresh data dir; returns it, the
/// rows, and each patient's fields as `sel-node encode` writes them.
fn imported(
    test: &str,
    n: usize,
) -> (
    std::path::PathBuf,
    Vec<(String, String)>,
    HashMap<String, Value>,
) {
    let dir = scratch(test);
    let rows = patient_rows(n);
    let csv = patients_csv(&dir, &rows);
    let data = dir.join("data");
    import_ok(&data, &csv);
    let encoded = sel_node(&[
        &"encode",
        &"--config",
        &mainzelliste_config(),
        &"--input",
        &csv,
        &"--ignore-column",
        &"id",
    ]);
    assert!(encoded.status.success(), "{}", stderr(&encoded));
    let fields: HashMap<String, Value> = stdout(&encoded)
        .lines()
        .zip(&rows)
        .map(|(line, (id, _))| {
            let v: Value = serde_json::from_str(line).unwrap();
            (id.clone(), v["fields"].clone())
        })
        .collect();
    assert_eq!(fields.len(), n);
    (data, rows, fields)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_hold_every_patient_once_with_consistent_links() {
    let (data, rows, encoded) = imported("pages", 23);
    let h = Harness::start(&data, "https://127.0.0.1:9").await;

    let first_url = format!("{}/getAllRecords/SITE_B?pagesize=5", h.base);
    let mut url = first_url.clone();
    let mut seen: Vec<String> = Vec::new();
    let mut prev_self: Option<String> = None;
    for expected_page in 1..=5u64 {
        let response = h.get(&url, Some(NODE_KEY)).await;
        assert_eq!(response.status(), 200);
        let page: RecordsPage = response.json().await.unwrap();
        let links = page.links.clone().expect("HAL links");
        assert_eq!(page.total, Some(23));
        assert_eq!(page.current_page_number, Some(expected_page));
        assert_eq!(page.last_page_number, Some(5));
        assert_eq!(page.page_size, Some(5));
        assert_eq!(page.local_id.as_deref(), Some("SITE_A"));
        assert_eq!(page.remote_id.as_deref(), Some("SITE_B"));
        assert!(page.to_date.is_some());
        let self_href = links.self_.unwrap().href;
        let page_query = format!("pagesize=5&page={expected_page}");
        assert!(self_href.ends_with(&page_query), "{self_href}");
        assert_eq!(
            links.first.unwrap().href,
            format!("{}/getAllRecords/SITE_B?pagesize=5&page=1", h.base)
        );
        assert_eq!(
            links.last.unwrap().href,
            format!("{}/getAllRecords/SITE_B?pagesize=5&page=5", h.base)
        );
        assert_eq!(links.prev.map(|l| l.href), prev_self);
        assert_eq!(page.records.len(), if expected_page < 5 { 5 } else { 3 });
        for record in &page.records {
            let id = record
                .id
                .as_ref()
                .expect("linkage pages carry ids")
                .0
                .clone();
            let fields = serde_json::to_value(&record.fields).unwrap();
            assert_eq!(
                fields, encoded[&id],
                "patient {id} is served as encode writes it"
            );
            seen.push(id);
        }
        prev_self = Some(self_href);
        match page.next_href() {
            Some(next) => url = next.to_owned(),
            None => {
                assert_eq!(expected_page, 5, "the walk ends on the last page");
                break;
            }
        }
    }
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(seen.len(), 23);
    assert_eq!(unique.len(), 23, "no patient twice");
    let all: HashSet<&String> = rows.iter().map(|(id, _)| id).collect();
    assert_eq!(unique, all, "every patient exactly once");

    // The registry's own key works too; the default page holds everything.
    let response = h
        .get(&format!("{}/getAllRecords/SITE_B", h.base), Some(API_KEY))
        .await;
    assert_eq!(response.status(), 200);
    let page: RecordsPage = response.json().await.unwrap();
    assert_eq!((page.records.len(), page.page_size), (23, Some(100)));
    assert!(page.is_last());

    h.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_keys_pages_and_paths_are_refused() {
    let (data, _, _) = imported("refusals", 4);
    let h = Harness::start(&data, "https://127.0.0.1:9").await;
    let records = format!("{}/getAllRecords/SITE_B", h.base);

    for key in [None, Some("wrong-key")] {
        let response = h.get(&records, key).await;
        assert_eq!(response.status(), 401);
        assert_eq!(response.headers()["www-authenticate"], "apiKey");
        let body: Value = response.json().await.unwrap();
        assert!(body["error"].as_str().unwrap().contains("API key"));
    }
    let response = h
        .get(&format!("{records}?pagesize=2&page=3"), Some(NODE_KEY))
        .await;
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("last page"),
        "{body}"
    );
    for query in ["page=0", "pagesize=x", "pagesize=0", "page=1&page=2"] {
        let response = h.get(&format!("{records}?{query}"), Some(NODE_KEY)).await;
        assert_eq!(response.status(), 400, "{query}");
    }
    let response = h
        .get(&format!("{}/getAllRecords/SITE-B", h.base), Some(NODE_KEY))
        .await;
    assert_eq!(response.status(), 400);
    let response = h
        .get(&format!("{}/no/such/path", h.base), Some(NODE_KEY))
        .await;
    assert_eq!(response.status(), 404);
    let response = h.client.delete(&records).send().await.unwrap();
    assert_eq!(response.status(), 405);
    let response = h.get(&format!("{}/health", h.base), None).await;
    assert_eq!(response.status(), 200);
    // The trigger needs the registry's key, not the node's.
    let response = h
        .post("/Communicator/linkMN/trigger/SITE_B", NODE_KEY, &json!({}))
        .await;
    assert_eq!(response.status(), 401);

    h.server.shutdown().await;
}

/// Serves `filter` over plain HTTP on 127.0.0.1:0 in the background.
async fn serve_plain<F>(filter: F) -> SocketAddr
where
    F: Filter + Clone + Send + Sync + 'static,
    F::Extract: warp::Reply,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(warp::serve(filter).incoming(listener).run());
    addr
}

/// What the stand-in node received.
#[derive(Default)]
struct NodeLog {
    requests: Vec<(String, String, Value)>,
}

/// A stand-in for the node: records each linkRecords/matchRecords request
/// (path, Authorization header, body) and answers 202 with a Location; answers
/// job status in the JSON form, or (`json_status` false) as the reference's
/// plain text, as a node that ignores `Accept` would.
async fn stand_in_node(json_status: bool) -> (SocketAddr, Arc<Mutex<NodeLog>>) {
    let log = Arc::new(Mutex::new(NodeLog::default()));
    let submit_log = Arc::clone(&log);
    let submit = warp::post()
        .and(warp::path::param::<String>())
        .and(warp::path::param::<String>())
        .and(warp::path::end())
        .and(warp::header::<String>("authorization"))
        .and(warp::body::json::<Value>())
        .map(
            move |endpoint: String, remote: String, auth: String, body: Value| {
                let mut log = submit_log.lock().unwrap();
                log.requests
                    .push((format!("/{endpoint}/{remote}"), auth, body));
                let job = format!("/jobs/job{}", log.requests.len());
                warp::http::Response::builder()
                    .status(202)
                    .header("Location", &job)
                    .header("Content-Location", &job)
                    .body(String::new())
                    .unwrap()
            },
        );
    let status = warp::get()
        .and(warp::path!("jobs" / String))
        .and(warp::header::<String>("accept"))
        .map(move |_job: String, accept: String| {
            assert_eq!(accept, "application/json");
            if json_status {
                warp::reply::json(&json!({"status": "DONE", "progress_percent": 100.0}))
                    .into_response()
            } else {
                warp::http::Response::builder()
                    .header("content-type", "text/plain; charset=utf-8")
                    .body("Running".to_owned())
                    .unwrap()
                    .into_response()
            }
        });
    (serve_plain(submit.or(status)).await, log)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_trigger_callback_and_export() {
    let (data, rows, encoded) = imported("link", 6);
    let (node_addr, log) = stand_in_node(true).await;
    let h = Harness::start(&data, &format!("http://{node_addr}")).await;

    // No batch yet.
    let response = h
        .get(
            &format!("{}/Communicator/linkMN/status/SITE_B", h.base),
            Some(API_KEY),
        )
        .await;
    assert_eq!(response.status(), 404);

    let response = h
        .post("/Communicator/linkMN/trigger/SITE_B", API_KEY, &json!({}))
        .await;
    assert_eq!(response.status(), 202);
    let reply: Value = response.json().await.unwrap();
    assert_eq!(reply["records"], 6);
    assert_eq!(reply["job"], "/jobs/job1");

    let (path, auth, body) = log.lock().unwrap().requests[0].clone();
    assert_eq!(path, "/linkRecords/SITE_B");
    assert_eq!(auth, header(NODE_KEY), "the node's key goes to the node");
    let request: RecordsRequest = serde_json::from_value(body).unwrap();
    assert_eq!(request.total, Some(6));
    assert_eq!(request.records.len(), 6);
    let callback = request.callback.url.clone();
    let batch = reply["batch"].as_str().unwrap();
    assert_eq!(
        callback,
        format!("{}/callbacks/link/SITE_B/{batch}", h.base)
    );
    // Request order is id order; every patient with exactly its fields.
    for (record, (id, _)) in request.records.iter().zip(&rows) {
        assert!(record.id.is_none(), "patient ids stay in the registry");
        assert_eq!(serde_json::to_value(&record.fields).unwrap(), encoded[id]);
    }
    let callback_path = callback.strip_prefix(&h.base).unwrap();

    // Refused callbacks store nothing.
    let lids: Vec<Value> = (0..6)
        .map(|i| json!({"linkageId": format!("LID{i}=")}))
        .collect();
    let wrong_count = json!({"result": lids[..5]});
    assert_eq!(
        h.post(callback_path, NODE_KEY, &wrong_count).await.status(),
        400
    );
    let good = json!({"result": lids});
    assert_eq!(h.post(callback_path, API_KEY, &good).await.status(), 401);
    assert_eq!(
        h.post("/callbacks/link/SITE_B/nosuchbatch", NODE_KEY, &good)
            .await
            .status(),
        404
    );
    assert_eq!(
        h.post(
            &format!("/callbacks/match/SITE_B/{batch}"),
            NODE_KEY,
            &json!({"result": {"matches": 1, "tentativeMatches": 1}})
        )
        .await
        .status(),
        404,
        "a link batch takes no match callback"
    );
    let export_empty = sel_node(&[
        &"registry",
        &"export",
        &"--data-dir",
        &data,
        &"--remote",
        &"SITE_B",
    ]);
    assert!(export_empty.status.success(), "{}", stderr(&export_empty));
    assert_eq!(stdout(&export_empty), "patient_id,lid\n");

    assert_eq!(h.post(callback_path, NODE_KEY, &good).await.status(), 204);

    let response = h
        .get(
            &format!("{}/Communicator/linkMN/status/SITE_B", h.base),
            Some(API_KEY),
        )
        .await;
    assert_eq!(response.status(), 200);
    let status: Value = response.json().await.unwrap();
    assert_eq!(status["lidsReceived"], 6);
    assert_eq!(status["jobStatus"]["status"], "DONE");
    assert_eq!(status["jobStatus"]["progressPercent"], 100.0);

    // Exported while the registry still runs (the store is multi-process).
    let out_file = data.join("../lids.csv");
    let export = sel_node(&[
        &"registry",
        &"export",
        &"--data-dir",
        &data,
        &"--remote",
        &"SITE_B",
        &"--out",
        &out_file,
    ]);
    assert!(export.status.success(), "{}", stderr(&export));
    let mut expected = String::from("patient_id,lid\n");
    for (i, (id, _)) in rows.iter().enumerate() {
        expected.push_str(&format!("{id},LID{i}=\n"));
    }
    assert_eq!(std::fs::read_to_string(&out_file).unwrap(), expected);
    let all = sel_node(&[&"registry", &"export", &"--data-dir", &data]);
    assert!(stdout(&all).starts_with("remote,patient_id,lid\nSITE_B,P0000,LID0=\n"));

    h.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn match_trigger_status_and_callback() {
    let (data, _, _) = imported("match", 3);
    let (node_addr, log) = stand_in_node(false).await;
    let h = Harness::start(&data, &format!("http://{node_addr}")).await;

    let response = h
        .get(
            &format!("{}/Communicator/matchMN/trigger/SITE_C", h.base),
            Some(API_KEY),
        )
        .await;
    assert_eq!(
        response.status(),
        202,
        "GET triggers too, as in the reference"
    );
    let reply: Value = response.json().await.unwrap();
    let batch = reply["batch"].as_str().unwrap().to_owned();
    let (path, _, body) = log.lock().unwrap().requests[0].clone();
    assert_eq!(path, "/matchRecords/SITE_C");
    assert_eq!(body["records"].as_array().unwrap().len(), 3);
    assert_eq!(
        body["callback"]["url"],
        format!("{}/callbacks/match/SITE_C/{batch}", h.base)
    );

    let status_url = format!("{}/Communicator/matchMN/status/SITE_C", h.base);
    let status: Value = h
        .get(&status_url, Some(API_KEY))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(status["records"], 3);
    assert_eq!(status["job"], "/jobs/job1");
    assert_eq!(
        status["jobStatus"],
        json!({"status": "RUNNING"}),
        "read from plain text"
    );
    assert_eq!(status["callbackReceived"], Value::Null);
    assert!(status.get("result").is_none());

    let counts = json!({"result": {"matches": 2, "tentativeMatches": 3}});
    let response = h
        .post(
            &format!("/callbacks/match/SITE_C/{batch}"),
            NODE_KEY,
            &counts,
        )
        .await;
    assert_eq!(response.status(), 204);
    let status: Value = h
        .get(&status_url, Some(API_KEY))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        status["result"],
        json!({"matches": 2, "tentativeMatches": 3})
    );
    assert!(status["callbackReceived"].is_u64());

    // A failure callback is recorded as the batch's error.
    let response = h
        .post(
            &format!("/callbacks/match/SITE_C/{batch}"),
            NODE_KEY,
            &json!({"error": "remote party unreachable"}),
        )
        .await;
    assert_eq!(response.status(), 204);
    let status: Value = h
        .get(&status_url, Some(API_KEY))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(status["callbackError"], "remote party unreachable");

    // A bad remote id is refused before the node is asked.
    let response = h
        .post("/Communicator/matchMN/trigger/local", API_KEY, &json!({}))
        .await;
    assert_eq!(response.status(), 400);
    assert_eq!(log.lock().unwrap().requests.len(), 1);

    h.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_refuses_is_reported() {
    let dir = scratch("refusing-node");
    let csv = patients_csv(&dir, &patient_rows(2));
    let data = dir.join("data");
    import_ok(&data, &csv);
    let refusing = warp::post().map(|| {
        warp::reply::with_status(
            warp::reply::json(&json!({"error": "fields do not match the configuration"})),
            warp::http::StatusCode::UNAUTHORIZED,
        )
    });
    let node_addr = serve_plain(refusing).await;
    let h = Harness::start(&data, &format!("http://{node_addr}")).await;

    let response = h
        .post("/Communicator/linkMN/trigger/SITE_B", API_KEY, &json!({}))
        .await;
    assert_eq!(response.status(), 502);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["error"],
        "node answered 401: fields do not match the configuration"
    );
    let status: Value = h
        .get(
            &format!("{}/Communicator/linkMN/status/SITE_B", h.base),
            Some(API_KEY),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        status["submitError"],
        "node answered 401: fields do not match the configuration"
    );
    assert_eq!(status["job"], Value::Null);

    h.server.shutdown().await;
}
