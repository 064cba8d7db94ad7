//! Two de-id services on one PostgreSQL database behave as one: a token
//! made by one resolves at the other at once, a key created (or revoked) in
//! one counts in the other, categories follow, every submitted job runs
//! exactly once and any service answers its status; and the database holds
//! no value, key or secret in clear. Runs against a real server
//! (`SEL_TEST_POSTGRES_URL`, or one started from the machine's PostgreSQL
//! binaries); skips outside CI when there is none.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::{Client, StatusCode};
use sel_node::deid::service::{MasterKey, RunningDeid, start_with_master};
use sel_node::pg::{Pg, PgOptions, testing};
use sel_node::seal::NodeKey;
use sel_node::settings::{Settings, StoreLocation};
use serde_json::{Value, json};
use warp::Filter;

const MASTER: &str = "postgres-test-master-key-0123456789";
const NODE_KEY: [u8; 32] = [42; 32];
const NAME: &str = "Zoë Ångström-Øre";
const WEBHOOK_SECRET: &str = "webhook-secret-for-the-postgres-test";
const KEY_LABEL: &str = "pipeline-label-pg";
const CATEGORY_REGEX: &str = r"WARD-\d{5}";
const JOBS: usize = 12;

fn note(i: usize) -> String {
    format!("Patient Eleanor Whitfield-{i}, SSN 412-55-7891, phone (617) 555-0134.")
}

struct Service {
    running: RunningDeid,
    base: String,
    http: Client,
    _dir: TempDir,
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Service {
    /// A service with a data directory of its own (as on another host)
    /// and the shared database as its store.
    async fn start(url: &str, name: &str) -> Service {
        let dir = std::env::temp_dir().join(format!(
            "deid-pg-{name}-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let mut settings = Settings {
            data_dir: dir.clone(),
            store: StoreLocation::Postgres { url: url.into() },
            insecure_http: true,
            ..Settings::default()
        };
        settings.deid.listen = Some("127.0.0.1:0".parse().unwrap());
        let running = start_with_master(
            &settings,
            &NodeKey::from_bytes(&NODE_KEY),
            None,
            MasterKey::new(MASTER.into()).unwrap(),
        )
        .await
        .unwrap()
        .unwrap();
        Service {
            base: format!("http://{}", running.local_addr()),
            running,
            http: client(),
            _dir: TempDir(dir),
        }
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        key: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut r = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("API-Key", key);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let response = r.send().await.unwrap();
        let status = response.status();
        let body = response.json().await.unwrap_or(Value::Null);
        (status, body)
    }

    async fn post(&self, path: &str, key: &str, body: Value) -> (StatusCode, Value) {
        self.send(reqwest::Method::POST, path, key, Some(body))
            .await
    }

    async fn get(&self, path: &str, key: &str) -> (StatusCode, Value) {
        self.send(reqwest::Method::GET, path, key, None).await
    }
}

/// A client with no trusted roots: every service here is plain HTTP.
fn client() -> Client {
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(rustls::RootCertStore::empty())
    .with_no_client_auth();
    Client::builder()
        .tls_backend_preconfigured(config)
        .build()
        .unwrap()
}

/// Polls `check` until it holds (bounded: a failure, not a hang).
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..300 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what}: not within 30 s");
}

/// A webhook receiver counting deliveries per job id.
async fn receiver() -> (String, Arc<Mutex<HashMap<String, usize>>>) {
    let seen: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let s = seen.clone();
    let route = warp::post()
        .and(warp::body::json())
        .map(move |body: Value| {
            let id = body["job_id"].as_str().unwrap_or_default().to_string();
            *s.lock().unwrap().entry(id).or_default() += 1;
            warp::reply()
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(warp::serve(route).incoming(listener).run());
    (format!("http://{addr}/hook"), seen)
}

/// Every text and bytea value of every table of the database, as bytes.
fn every_cell(url: &str) -> Vec<Vec<u8>> {
    let pg = Pg::connect(url, PgOptions::default()).unwrap();
    pg.run(|client| async move {
        let columns = client
            .query(
                "SELECT table_name, column_name, data_type FROM information_schema.columns
                 WHERE table_schema = 'public'",
                &[],
            )
            .await?;
        let mut cells = Vec::new();
        for c in &columns {
            let (table, column, kind): (String, String, String) = (c.get(0), c.get(1), c.get(2));
            let expr = match kind.as_str() {
                "bytea" => format!("\"{column}\""),
                _ => format!("convert_to(\"{column}\"::text, 'UTF8')"),
            };
            let rows = client
                .query(
                    &format!("SELECT {expr} FROM \"{table}\" WHERE \"{column}\" IS NOT NULL"),
                    &[],
                )
                .await?;
            cells.extend(rows.iter().map(|r| r.get::<_, Vec<u8>>(0)));
        }
        Ok(cells)
    })
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_services_on_one_database_act_as_one_and_store_nothing_in_clear() {
    let Some(url) = testing::fresh_database("deid_two_services") else {
        return;
    };
    let a = Service::start(&url, "a").await;
    let b = Service::start(&url, "b").await;

    // Tokens: made in A, resolved in B at once, both ways.
    let q = "?storage_type=DynamoDBTokenBased";
    let (status, body) = a
        .post(
            &format!("/tokenize/tokenize{q}"),
            MASTER,
            json!({"phi_type": "name", "value": NAME}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = body["token"].as_str().unwrap().to_string();
    let (status, body) = b
        .post(
            &format!("/lookup/token2value{q}"),
            MASTER,
            json!({"token": token}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["value"], NAME);
    let (_, body) = b
        .post(
            &format!("/lookup/value2token{q}"),
            MASTER,
            json!({"value": NAME}),
        )
        .await;
    assert_eq!(body["token"], token.as_str());
    // The `token` policy of /pii/deidentify in B writes a token A resolves.
    let (status, body) = b
        .post(
            "/pii/deidentify",
            MASTER,
            json!({"text": note(0), "policy": {"SSN": "token"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let text = body["result_text"].as_str().unwrap().to_string();
    let ssn_token = text
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .find(|w| w.starts_with("PHI__"))
        .unwrap_or_else(|| panic!("no token in {text}"))
        .to_string();
    let (status, body) = a
        .post(
            &format!("/lookup/token2value{q}"),
            MASTER,
            json!({"token": ssn_token}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["value"], "412-55-7891");

    // Keys: created in A, accepted by B; revoked in B, refused by A.
    let (status, created) = a
        .post("/admin/keys", MASTER, json!({"label": KEY_LABEL}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let api_key = created["api_key"].as_str().unwrap().to_string();
    let key_id = created["key_id"].as_str().unwrap().to_string();
    eventually("a key made in A works in B", || async {
        b.get("/admin/keys/me", &api_key).await.0 == StatusCode::OK
    })
    .await;
    let (status, _) = b
        .send(
            reqwest::Method::DELETE,
            &format!("/admin/keys/{key_id}"),
            MASTER,
            None,
        )
        .await;
    assert!(status.is_success(), "{status}");
    eventually("a key revoked in B is refused by A", || async {
        a.get("/admin/keys/me", &api_key).await.0 == StatusCode::UNAUTHORIZED
    })
    .await;

    // Categories: added in B, detected by A.
    let (status, body) = b
        .post(
            "/phi-categories",
            MASTER,
            json!({"name": "ward", "regex": CATEGORY_REGEX, "description": "ward number"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    eventually("a category added in B is detected by A", || async {
        let (_, body) = a
            .post(
                "/pii/deidentify",
                MASTER,
                json!({"text": "Moved to WARD-12345 today."}),
            )
            .await;
        body["result_text"] == "Moved to [REDACTED:WARD] today."
    })
    .await;

    // Jobs: submitted to both, each runs exactly once (one webhook per
    // job), and either service answers every job's status.
    let (hook, seen) = receiver().await;
    let mut ids = Vec::new();
    for i in 0..JOBS {
        let service = if i % 2 == 0 { &a } else { &b };
        let (status, body) = service
            .post(
                "/jobs",
                MASTER,
                json!({
                    "documents": [{"id": format!("doc-{i}"), "text": note(i)}],
                    "method": "mask",
                    "webhook": {"url": hook, "secret": WEBHOOK_SECRET, "max_attempts": 3, "backoff_seconds": 0.01}
                }),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        ids.push(body["id"].as_str().unwrap().to_string());
    }
    for (i, id) in ids.iter().enumerate() {
        let other = if i % 2 == 0 { &b } else { &a };
        eventually("a job finishes, seen from the other service", || async {
            let (_, r) = other.get(&format!("/jobs/{id}"), MASTER).await;
            r["status"] == "done" && r["webhook_delivery"]["finished"] == true
        })
        .await;
        let (_, r) = other.get(&format!("/jobs/{id}"), MASTER).await;
        assert_eq!(r["processed_count"], 1, "{r}");
        assert_eq!(r["webhook_delivery"]["delivered"], true, "{r}");
    }
    {
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), JOBS);
        for id in &ids {
            assert_eq!(
                seen.get(id),
                Some(&1),
                "job {id} ran or was announced twice"
            );
        }
    }

    // The database: no value, key, label, pattern or secret in clear.
    let cells = every_cell(&url);
    assert!(cells.len() > 10, "the scan read the rows");
    let mut secrets: Vec<String> = vec![
        NAME.into(),
        "Ångström".into(),
        "412-55-7891".into(),
        "Whitfield".into(),
        "555-0134".into(),
        MASTER.into(),
        api_key.clone(),
        api_key[4..20].into(),
        KEY_LABEL.into(),
        CATEGORY_REGEX.into(),
        "ward number".into(),
        WEBHOOK_SECRET.into(),
    ];
    secrets.push(String::from_utf8_lossy(&NODE_KEY).into_owned());
    for secret in &secrets {
        let needle = secret.as_bytes();
        for cell in &cells {
            assert!(
                !cell.windows(needle.len()).any(|w| w == needle),
                "the database holds a value or secret in clear"
            );
        }
    }
    // The key bytes themselves, raw.
    for cell in &cells {
        assert!(!cell.windows(32).any(|w| w == NODE_KEY));
    }

    a.running.shutdown().await;
    b.running.shutdown().await;
}

/// A `sel-node deid serve` process on the shared database (plain HTTP), with
/// its own data directory and the node key file given.
struct Process {
    child: std::process::Child,
    base: String,
}

impl Process {
    fn start(url: &str, dir: &std::path::Path, key_file: &std::path::Path) -> Process {
        Self::start_with(url, dir, key_file, "")
    }

    /// With `extra` appended to the `[deid]` section.
    fn start_with(
        url: &str,
        dir: &std::path::Path,
        key_file: &std::path::Path,
        extra: &str,
    ) -> Process {
        use std::io::{BufRead, BufReader};
        std::fs::create_dir_all(dir).unwrap();
        let config = dir.join("node.toml");
        std::fs::write(
            &config,
            format!(
                "data_dir = {:?}\nnode_key_file = {:?}\n[deid]\nlisten = \"127.0.0.1:0\"\nmaster_key_env = \"DEID_PG_TEST_MASTER\"\n{extra}",
                dir.display().to_string(),
                key_file.display().to_string(),
            ),
        )
        .unwrap();
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_sel-node"))
            .args(["deid", "serve", "--insecure-http", "--config"])
            .arg(&config)
            .env("RUST_LOG", "info")
            .env("DEID_PG_TEST_MASTER", MASTER)
            .env("SEL_STORE", url)
            .env_remove("SEL_NODE_KEY")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let addr = loop {
            let line = lines
                .next()
                .expect("the service logs its address before its stderr ends")
                .unwrap();
            if line.contains("de-id service started") {
                let at = line.find("deid=").unwrap() + 5;
                break line[at..].split_whitespace().next().unwrap().to_owned();
            }
        };
        // Keep draining stderr so the process never blocks on it.
        std::thread::spawn(move || lines.map_while(Result::ok).for_each(drop));
        Process {
            child,
            base: format!("http://{addr}"),
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_sel_node_processes_share_tokens_and_keys() {
    let Some(url) = testing::fresh_database("deid_two_processes") else {
        return;
    };
    let root = TempDir(std::env::temp_dir().join(format!(
        "deid-pg-procs-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    )));
    std::fs::create_dir_all(&root.0).unwrap();
    let key_file = root.0.join("node.key");
    NodeKey::generate_file(&key_file).unwrap();
    let one = Process::start(&url, &root.0.join("one"), &key_file);
    let two = Process::start(&url, &root.0.join("two"), &key_file);
    let http = client();
    let post = |base: &str, path: &str, key: &str, body: Value| {
        http.post(format!("{base}{path}"))
            .header("API-Key", key)
            .json(&body)
            .send()
    };
    let q = "?storage_type=DynamoDBTokenBased";
    let r = post(
        &one.base,
        &format!("/tokenize/tokenize{q}"),
        MASTER,
        json!({"phi_type": "name", "value": NAME}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let token = r.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let r = post(
        &two.base,
        &format!("/lookup/token2value{q}"),
        MASTER,
        json!({"token": token}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["value"], NAME);

    let r = post(
        &two.base,
        "/admin/keys",
        MASTER,
        json!({"label": KEY_LABEL}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let api_key = r.json::<Value>().await.unwrap()["api_key"]
        .as_str()
        .unwrap()
        .to_string();
    eventually("a key made in process two works in process one", || async {
        http.get(format!("{}/admin/keys/me", one.base))
            .header("API-Key", &api_key)
            .send()
            .await
            .unwrap()
            .status()
            == StatusCode::OK
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_jobs_of_a_killed_process_end_failed_and_are_answered_by_another() {
    let Some(url) = testing::fresh_database("deid_killed_process") else {
        return;
    };
    let root = TempDir(std::env::temp_dir().join(format!(
        "deid-pg-kill-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    )));
    std::fs::create_dir_all(&root.0).unwrap();
    let key_file = root.0.join("node.key");
    NodeKey::generate_file(&key_file).unwrap();
    let lease = "job_lease_secs = 1\n";
    let mut doomed = Process::start_with(&url, &root.0.join("doomed"), &key_file, lease);
    let survivor = Process::start_with(&url, &root.0.join("survivor"), &key_file, lease);
    let http = client();
    // Far more text than the doomed process can get through before it is
    // killed: its jobs are running or queued when it dies.
    let documents: Vec<Value> = (0..400)
        .map(|i| json!({"id": format!("d{i}"), "text": note(i).repeat(40)}))
        .collect();
    let mut ids = Vec::new();
    for _ in 0..4 {
        let r = http
            .post(format!("{}/jobs", doomed.base))
            .header("API-Key", MASTER)
            .json(&json!({"documents": documents, "method": "mask"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::ACCEPTED);
        ids.push(
            r.json::<Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    doomed.child.kill().unwrap();
    doomed.child.wait().unwrap();
    let mut restarted = 0;
    for id in &ids {
        let get = || async {
            let r = http
                .get(format!("{}/jobs/{id}", survivor.base))
                .header("API-Key", MASTER)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK, "any process answers the job");
            r.json::<Value>().await.unwrap()
        };
        eventually(
            "a killed process's job ends, seen from the survivor",
            || async {
                let r = get().await;
                r["status"] == "done" || r["status"] == "failed"
            },
        )
        .await;
        // Terminal: it does not change any more.
        let last = get().await;
        if last["status"] == "failed" {
            assert_eq!(last["error"], "service restarted", "{last}");
            restarted += 1;
        }
    }
    assert!(restarted > 0, "the kill left unfinished jobs behind");
}
