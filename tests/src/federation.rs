//! The whole federation on loopback as real processes, for the end-to-end
//! and system tests: a local CA (`sel-node ca`), the linkage service with
//! both sites registered, two registries holding synthetic patients
//! (`scripts/synth_patients.py`), and two nodes (`sel-node serve`), all over
//! verified TLS.
//!
//! [`Federation::start`] brings up everything but configures nothing, so a
//! test can choose what each node's data service is (a registry, or a
//! misbehaving server of the test's own) before [`Federation::configure`].
//! Processes can be killed and restarted by name; every one of them is
//! stopped when the federation is dropped, also when a test fails, and a
//! failing run prints their logs and keeps the scratch directory.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use linkage_service::keys::SiteKey;
use protocol_spec::messages::mainsel::AlgorithmConfig;
use reqwest::{Client, StatusCode};
use sel_node::seal::NodeKey;
use serde_json::{Value, json};

use crate::{Processes, Scratch, binary, free_ports, wait_for, workspace_root};

pub const SITE_A: &str = "SITE_A";
pub const SITE_B: &str = "SITE_B";

/// How long a process may take to answer its first request.
pub const START_LIMIT: Duration = Duration::from_secs(60);
/// How long a job may take from trigger to callback (generous for a loaded
/// CI machine; a healthy run takes seconds).
pub const JOB_LIMIT: Duration = Duration::from_secs(300);
pub const POLL: Duration = Duration::from_millis(250);

/// What to start.
#[derive(Clone, Debug)]
pub struct FederationOptions {
    /// Names the scratch directory.
    pub label: &'static str,
    pub patients_a: usize,
    pub patients_b: usize,
    pub overlap: usize,
    pub seed: u64,
    /// The data service page size each node asks for.
    pub page_size: u32,
    /// Extra `sel-node serve` arguments for both nodes (hold deadline,
    /// callback attempts, queue bounds...).
    pub node_args: Vec<String>,
}

impl Default for FederationOptions {
    fn default() -> Self {
        FederationOptions {
            label: "federation",
            patients_a: 30,
            patients_b: 40,
            overlap: 10,
            seed: 11,
            page_size: 16,
            node_args: Vec::new(),
        }
    }
}

/// One of the two sites.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Which {
    A,
    B,
}

impl Which {
    pub fn letter(self) -> &'static str {
        match self {
            Which::A => "a",
            Which::B => "b",
        }
    }
    pub fn other(self) -> Which {
        match self {
            Which::A => Which::B,
            Which::B => Which::A,
        }
    }
    /// The process name of this site's node (for [`Processes`]).
    pub fn node(self) -> String {
        format!("node-{}", self.letter())
    }
    pub fn registry(self) -> String {
        format!("registry-{}", self.letter())
    }
}

/// What the tests know about one site.
#[derive(Clone, Debug)]
pub struct Site {
    pub id: &'static str,
    pub which: Which,
    /// The node's REST API, its peer channel, the registry.
    pub api_port: u16,
    pub peer_port: u16,
    pub registry_port: u16,
    pub node_dir: PathBuf,
    pub node_key_file: PathBuf,
    pub registry_dir: PathBuf,
    /// The node's local key (initLocal), also the registry's node key.
    pub local_key: String,
    /// The registry's own API key (users, triggers).
    pub registry_key: String,
    /// The linkage service's keys of this site.
    pub ls_api_key: String,
    pub lid_key: SiteKey,
}

impl Site {
    pub fn api(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.api_port)
    }
    pub fn registry(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.registry_port)
    }
    pub fn peer_url(&self) -> String {
        format!("https://127.0.0.1:{}", self.peer_port)
    }
    /// The `Authorization` header of this node's local key.
    pub fn local_auth(&self) -> String {
        auth(&self.local_key)
    }
    pub fn registry_auth(&self) -> String {
        auth(&self.registry_key)
    }
}

/// The MainSEL `Authorization` header value for an API key.
pub fn auth(key: &str) -> String {
    format!("apiKey apiKey=\"{key}\"")
}

/// Runs a command to completion; panics with its output when it fails.
pub fn run(what: &str, command: &mut Command) -> String {
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// Sends `req` and asserts the answer's status; returns the body.
pub async fn expect(what: &str, req: reqwest::RequestBuilder, status: StatusCode) -> String {
    let resp = req
        .send()
        .await
        .unwrap_or_else(|e| panic!("{what}: request failed: {e}"));
    let got = resp.status();
    let body = resp.text().await.unwrap_or_default();
    assert_eq!(got, status, "{what}: answered {got}: {body}");
    body
}

/// `GET url` answering 200, for a process that is starting.
pub async fn wait_healthy(http: &Client, procs: &mut Processes, name: &str, url: String) {
    wait_for(
        &format!("{name} to answer {url}"),
        START_LIMIT,
        POLL,
        || {
            procs.assert_running();
            let req = http.get(&url).send();
            async move {
                match req.await {
                    Ok(r) if r.status() == StatusCode::OK => Some(()),
                    _ => None,
                }
            }
        },
    )
    .await
}

/// The running federation.
pub struct Federation {
    pub options: FederationOptions,
    pub procs: Processes,
    /// HTTPS client that trusts the federation's CA only.
    pub http: Client,
    pub a: Site,
    pub b: Site,
    pub ls_url: String,
    pub ls_port: u16,
    /// The key both nodes share for their pair (initRemote).
    pub pair_key: String,
    /// The linkage configuration every node and registry uses.
    pub algorithm: AlgorithmConfig,
    pub config_path: PathBuf,
    /// `site-a.csv`, `site-b.csv` and `truth.csv` of the synthetic patients.
    pub data_dir: PathBuf,
    pub ca_pem: PathBuf,
    pub sel: PathBuf,
    pub ls_bin: PathBuf,
    ca_dir: PathBuf,
    ls_dir: PathBuf,
    ls_master: PathBuf,
    // Last: dropped after the processes, so their logs are still there when
    // a failing test prints them.
    pub scratch: Scratch,
}

impl Federation {
    /// Starts the CA, the linkage service, both registries and both nodes,
    /// and waits until each answers `/health`. Nothing is configured.
    pub async fn start(options: FederationOptions) -> Federation {
        let root = workspace_root();
        let scratch = Scratch::new(options.label);
        let dir = scratch.path().to_path_buf();
        let sel = binary("sel-node", "sel-node");
        let ls_bin = binary("linkage-service", "linkage-service");
        let config_path = root.join("examples/mainzelliste-config.json");

        // Synthetic patients with a known overlap.
        let data_dir = dir.join("data");
        run(
            "scripts/synth_patients.py (needs python3)",
            Command::new("python3")
                .arg(root.join("scripts/synth_patients.py"))
                .args(["--a", &options.patients_a.to_string()])
                .args(["--b", &options.patients_b.to_string()])
                .args(["--overlap", &options.overlap.to_string()])
                .args(["--seed", &options.seed.to_string()])
                .arg("--out")
                .arg(&data_dir),
        );

        // A local CA and a certificate per server.
        let ca_dir = dir.join("ca");
        run(
            "ca init",
            Command::new(&sel)
                .args(["ca", "init", "--dir"])
                .arg(&ca_dir),
        );
        for name in ["ls", "node-a", "node-b", "registry-a", "registry-b"] {
            run(
                "ca issue",
                Command::new(&sel)
                    .args(["ca", "issue", name, "--dir"])
                    .arg(&ca_dir),
            );
        }
        let ca_pem = ca_dir.join("ca.pem");

        // The linkage service's state, both sites registered.
        let ls_dir = dir.join("ls");
        let ls_master = dir.join("ls-master.key");
        run(
            "linkage-service init-master-key",
            Command::new(&ls_bin)
                .arg("init-master-key")
                .arg("--out")
                .arg(&ls_master),
        );
        let mut ls_keys = HashMap::new();
        for id in [SITE_A, SITE_B] {
            let out = run(
                "linkage-service register",
                Command::new(&ls_bin)
                    .args(["register", id, "--data-dir"])
                    .arg(&ls_dir)
                    .arg("--master-key-file")
                    .arg(&ls_master),
            );
            let reg: Value = serde_json::from_str(out.trim()).expect("register prints JSON");
            let api = reg["apiKey"].as_str().expect("apiKey").to_owned();
            let lid =
                SiteKey::from_base64(reg["lidKey"].as_str().expect("lidKey")).expect("lidKey");
            ls_keys.insert(id, (api, lid));
        }

        let ports = free_ports(7);
        let make_site = |id: &'static str, which: Which, ports: &[u16]| {
            let letter = which.letter();
            let (ls_api_key, lid_key) = ls_keys[id].clone();
            let node_dir = dir.join(format!("node-{letter}"));
            std::fs::create_dir_all(&node_dir).unwrap();
            let node_key_file = dir.join(format!("node-{letter}.key"));
            NodeKey::generate_file(&node_key_file).expect("node key file");
            Site {
                id,
                which,
                api_port: ports[0],
                peer_port: ports[1],
                registry_port: ports[2],
                node_dir,
                node_key_file,
                registry_dir: dir.join(format!("registry-{letter}")),
                local_key: format!("local-key-of-{letter}-{}", std::process::id()),
                registry_key: format!("registry-key-of-{letter}-{}", std::process::id()),
                ls_api_key,
                lid_key,
            }
        };
        let a = make_site(SITE_A, Which::A, &ports[1..4]);
        let b = make_site(SITE_B, Which::B, &ports[4..7]);

        let tls = sel_node::tls::client_config(Some(&ca_pem)).expect("client TLS config");
        let http = sel_node::tls::http_client(Arc::clone(&tls)).expect("HTTP client");
        let algorithm: AlgorithmConfig =
            serde_json::from_str(&std::fs::read_to_string(&config_path).unwrap()).unwrap();

        let mut fed = Federation {
            options,
            procs: Processes::new(),
            http,
            a,
            b,
            ls_url: format!("https://127.0.0.1:{}", ports[0]),
            ls_port: ports[0],
            pair_key: format!("pair-key-{}", std::process::id()),
            algorithm,
            config_path,
            data_dir,
            ca_pem,
            sel,
            ls_bin,
            ca_dir,
            ls_dir,
            ls_master,
            scratch,
        };
        fed.start_ls().await;
        for which in [Which::A, Which::B] {
            fed.start_registry(which).await;
        }
        for which in [Which::A, Which::B] {
            fed.start_node(which).await;
        }
        fed
    }

    pub fn dir(&self) -> &Path {
        self.scratch.path()
    }

    pub fn site(&self, which: Which) -> &Site {
        match which {
            Which::A => &self.a,
            Which::B => &self.b,
        }
    }

    fn cert(&self, name: &str) -> (PathBuf, PathBuf) {
        (
            self.ca_dir.join(format!("{name}.pem")),
            self.ca_dir.join(format!("{name}.key")),
        )
    }

    fn log(&self, name: &str) -> PathBuf {
        self.dir().join(format!("{name}.log"))
    }

    /// Starts the linkage service (again) on its port, on its kept state.
    pub async fn start_ls(&mut self) {
        let (cert, key) = self.cert("ls");
        let mut ls = Command::new(&self.ls_bin);
        ls.arg("serve")
            .args(["--listen", &format!("127.0.0.1:{}", self.ls_port)])
            .arg("--data-dir")
            .arg(&self.ls_dir)
            .arg("--master-key-file")
            .arg(&self.ls_master)
            .arg("--tls-cert")
            .arg(&cert)
            .arg("--tls-key")
            .arg(&key);
        let log = self.log("linkage-service");
        self.procs.spawn("linkage-service", ls, &log);
        let url = format!("{}/health", self.ls_url);
        wait_healthy(&self.http, &mut self.procs, "linkage-service", url).await;
    }

    /// Kills the linkage service (SIGKILL).
    pub fn kill_ls(&mut self) {
        self.procs.kill("linkage-service");
    }

    /// Imports the site's patients (first start only) and starts its
    /// registry.
    pub async fn start_registry(&mut self, which: Which) {
        let site = self.site(which).clone();
        let letter = which.letter();
        if !site.registry_dir.exists() {
            run(
                "registry import",
                Command::new(&self.sel)
                    .args(["registry", "import", "--data-dir"])
                    .arg(&site.registry_dir)
                    .arg("--config")
                    .arg(&self.config_path)
                    .arg("--input")
                    .arg(self.data_dir.join(format!("site-{letter}.csv"))),
            );
        }
        let registry_key_file = self.dir().join(format!("registry-{letter}.apikey"));
        let node_local_key_file = self.dir().join(format!("node-{letter}.localkey"));
        std::fs::write(&registry_key_file, &site.registry_key).unwrap();
        std::fs::write(&node_local_key_file, &site.local_key).unwrap();
        let (cert, key) = self.cert(&format!("registry-{letter}"));
        let mut registry = Command::new(&self.sel);
        registry
            .args(["registry", "serve", "--data-dir"])
            .arg(&site.registry_dir)
            .args(["--listen", &format!("127.0.0.1:{}", site.registry_port)])
            .args(["--site-id", site.id])
            .arg("--api-key-file")
            .arg(&registry_key_file)
            .args(["--node-url", &site.api("")])
            .arg("--node-key-file")
            .arg(&node_local_key_file)
            .arg("--tls-cert")
            .arg(&cert)
            .arg("--tls-key")
            .arg(&key)
            .arg("--ca-bundle")
            .arg(&self.ca_pem);
        let name = which.registry();
        let log = self.log(&name);
        self.procs.spawn(&name, registry, &log);
        wait_healthy(&self.http, &mut self.procs, &name, site.registry("/health")).await;
    }

    /// The `sel-node serve` command of a site's node.
    pub fn node_command(&self, which: Which) -> Command {
        let site = self.site(which);
        let (cert, key) = self.cert(&which.node());
        let mut node = Command::new(&self.sel);
        node.arg("serve")
            .args(["--api-listen", &format!("127.0.0.1:{}", site.api_port)])
            .args(["--peer-listen", &format!("127.0.0.1:{}", site.peer_port)])
            .arg("--data-dir")
            .arg(&site.node_dir)
            .arg("--node-key-file")
            .arg(&site.node_key_file)
            .arg("--tls-cert")
            .arg(&cert)
            .arg("--tls-key")
            .arg(&key)
            .arg("--ca-bundle")
            .arg(&self.ca_pem)
            .args(&self.options.node_args)
            .env("RUST_LOG", "info");
        node
    }

    /// Starts (or restarts) a site's node and waits until it answers.
    pub async fn start_node(&mut self, which: Which) {
        let command = self.node_command(which);
        let name = which.node();
        let log = self.log(&name);
        self.procs.spawn(&name, command, &log);
        let url = self.site(which).api("/health");
        wait_healthy(&self.http, &mut self.procs, &name, url).await;
    }

    /// Kills a site's node (SIGKILL, as in a crash).
    pub fn kill_node(&mut self, which: Which) {
        self.procs.kill(&which.node());
    }

    /// initLocal of one node with `data_service` as its data service.
    pub async fn init_local(&self, which: Which, data_service: &str) {
        let site = self.site(which);
        let body = json!({
            "localId": site.id,
            "localAuthentication": {"authType": "apiKey", "sharedKey": site.local_key},
            "dataService": {"url": data_service, "pageSize": self.options.page_size},
            "algorithm": serde_json::to_value(&self.algorithm).unwrap(),
        });
        // The first initLocal needs no key (the header is ignored); a later
        // one needs the local key and answers 200 "Updated".
        let resp = self
            .http
            .put(site.api("/initLocal"))
            .header("Authorization", site.local_auth())
            .json(&body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("initLocal: request failed: {e}"));
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        assert!(
            status == StatusCode::NO_CONTENT || status == StatusCode::OK,
            "initLocal answered {status}: {text}"
        );
    }

    /// initRemote of `which` towards the other site.
    pub async fn init_remote(&self, which: Which) {
        let site = self.site(which);
        let other = self.site(which.other());
        let body = json!({
            "connectionProfile": {"url": other.peer_url(),
                "authentication": {"authType": "apiKey", "sharedKey": self.pair_key}},
            "linkageService": {"url": self.ls_url,
                "authentication": {"authType": "apiKey", "sharedKey": site.ls_api_key}},
            "matchingAllowed": true,
        });
        expect(
            "initRemote",
            self.http
                .put(site.api(&format!("/initRemote/{}", other.id)))
                .header("Authorization", site.local_auth())
                .json(&body),
            StatusCode::NO_CONTENT,
        )
        .await;
    }

    /// `GET /test/{other}` and `/testLS/{other}` from `which`, expecting
    /// both connected.
    pub async fn test_connections(&self, which: Which) {
        let site = self.site(which);
        let other = self.site(which.other());
        let text = expect(
            "test",
            self.http
                .get(site.api(&format!("/test/{}", other.id)))
                .header("Authorization", site.local_auth()),
            StatusCode::OK,
        )
        .await;
        assert_eq!(text, "Remotes Connected");
        let text = expect(
            "testLS",
            self.http
                .get(site.api(&format!("/testLS/{}", other.id)))
                .header("Authorization", site.local_auth()),
            StatusCode::OK,
        )
        .await;
        assert_eq!(text, "Linkage Service connected");
    }

    /// The usual configuration: each node's data service is its registry,
    /// remotes both ways, and both connections tested.
    pub async fn configure(&self) {
        for which in [Which::A, Which::B] {
            let url = self.site(which).registry("/getAllRecords");
            self.init_local(which, &url).await;
        }
        for which in [Which::A, Which::B] {
            self.init_remote(which).await;
        }
        for which in [Which::A, Which::B] {
            self.test_connections(which).await;
        }
    }

    /// Triggers `mode` (`linkMN`, `matchMN`) at `which`'s registry towards
    /// the other site; returns the registry's answer (`job`, `records`).
    pub async fn trigger(&self, which: Which, mode: &str) -> Value {
        let site = self.site(which);
        let other = self.site(which.other());
        let body = expect(
            mode,
            self.http
                .post(site.registry(&format!("/Communicator/{mode}/trigger/{}", other.id)))
                .header("Authorization", site.registry_auth()),
            StatusCode::ACCEPTED,
        )
        .await;
        serde_json::from_str(&body).expect("trigger answer")
    }

    /// Waits until the registry's latest batch of `mode` towards the other
    /// site has its callback, and returns the status answer. A FAULT job, a
    /// refused submission or a failed callback fail the test at once.
    pub async fn wait_for_batch(&self, which: Which, mode: &str) -> Value {
        let site = self.site(which);
        let other = self.site(which.other());
        let url = site.registry(&format!("/Communicator/{mode}/status/{}", other.id));
        let key = site.registry_auth();
        wait_for(
            &format!("{mode} from {} to finish", site.id),
            JOB_LIMIT,
            POLL,
            || {
                let req = self
                    .http
                    .get(&url)
                    .header("Authorization", key.clone())
                    .send();
                async move {
                    let status: Value = req.await.ok()?.json().await.ok()?;
                    for failure in ["submitError", "callbackError"] {
                        if let Some(e) = status.get(failure) {
                            panic!("{mode}: {failure}: {e}");
                        }
                    }
                    if status["jobStatus"]["status"] == "FAULT" {
                        panic!("{mode}: job FAULT: {status}");
                    }
                    let done = status["jobStatus"]["status"] == "DONE";
                    (done && !status["callbackReceived"].is_null()).then_some(status)
                }
            },
        )
        .await
    }

    /// A job's record as JSON (`GET /jobs/{id}?format=json`) at `which`'s
    /// node; `None` if the node does not answer 200.
    pub async fn job(&self, which: Which, id: &str) -> Option<Value> {
        let site = self.site(which);
        let resp = self
            .http
            .get(site.api(&format!("/jobs/{id}?format=json")))
            .header("Authorization", site.local_auth())
            .send()
            .await
            .ok()?;
        if resp.status() != StatusCode::OK {
            return None;
        }
        resp.json().await.ok()
    }

    /// Waits until job `id` at `which`'s node has a status in `until`;
    /// returns its record.
    pub async fn wait_for_job(&self, which: Which, id: &str, until: &[&str]) -> Value {
        wait_for(
            &format!("job {id} to reach one of {until:?}"),
            JOB_LIMIT,
            POLL,
            || async move {
                let job = self.job(which, id).await?;
                let status = job["status"].as_str()?.to_owned();
                until.contains(&status.as_str()).then_some(job)
            },
        )
        .await
    }
}

// ---- Helpers of the fault scenarios (tests/tests/system/faults.rs). ----
// Kept apart from the rest of the impl so parallel additions merge cleanly.

/// How long a job may wait in HOLD in a federation started with
/// [`FAULTS_NODE_ARGS`]: short, so a FAULT after the deadline comes within
/// a CI run, long enough that a test restarts a killed service well before.
pub const FAULTS_HOLD_DEADLINE_SECS: u64 = 20;

/// The `sel-node serve` flags the fault scenarios run both nodes with: one
/// worker (so jobs queue behind a running one), a short hold deadline, and
/// callbacks retried three times from 1 s.
pub fn faults_node_args() -> Vec<String> {
    [
        "--workers",
        "1",
        "--workers-per-remote",
        "1",
        "--hold-deadline",
        &format!("{FAULTS_HOLD_DEADLINE_SECS}s"),
        "--callback-attempts",
        "3",
        "--callback-first-delay",
        "1s",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

impl Federation {
    /// POSTs a job request (`/linkRecords/{other}`, `/matchRecords/{other}`,
    /// …) to `which`'s node with its local key, expects 202, and returns the
    /// job id from the `Location` header.
    pub async fn submit(&self, which: Which, path: &str, body: &Value) -> String {
        let site = self.site(which);
        let resp = self
            .http
            .post(site.api(path))
            .header("Authorization", site.local_auth())
            .json(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{path}: request failed: {e}"));
        let status = resp.status();
        let location = resp
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
            .map(str::to_owned);
        let text = resp.text().await.unwrap_or_default();
        assert_eq!(
            status,
            StatusCode::ACCEPTED,
            "{path}: answered {status}: {text}"
        );
        let location = location.unwrap_or_else(|| panic!("{path}: 202 without Location"));
        location
            .trim_start_matches("/jobs/")
            .trim_end_matches('/')
            .to_owned()
    }

    /// `GET /jobs/list` of `which`'s node: job id → status word.
    pub async fn jobs_list(&self, which: Which) -> serde_json::Map<String, Value> {
        let site = self.site(which);
        let body = expect(
            "jobs/list",
            self.http
                .get(site.api("/jobs/list"))
                .header("Authorization", site.local_auth()),
            StatusCode::OK,
        )
        .await;
        match serde_json::from_str(&body) {
            Ok(Value::Object(map)) => map,
            _ => panic!("jobs/list is not a JSON object: {body}"),
        }
    }

    /// The records `which`'s registry serves to its node (its whole
    /// database in the wire form, ids included), walking every page.
    pub async fn registry_records(&self, which: Which) -> Vec<Value> {
        let site = self.site(which);
        let other = self.site(which.other());
        let mut url = site.registry(&format!("/getAllRecords/{}?pagesize=500", other.id));
        let mut records = Vec::new();
        for _ in 0..1000 {
            let body = expect(
                "getAllRecords",
                self.http
                    .get(&url)
                    .header("Authorization", site.local_auth()),
                StatusCode::OK,
            )
            .await;
            let page: Value = serde_json::from_str(&body).expect("a records page");
            records.extend(page["records"].as_array().cloned().unwrap_or_default());
            match page["_links"]["next"]["href"].as_str() {
                Some(next) if !next.is_empty() => {
                    url = reqwest::Url::parse(&url)
                        .and_then(|u| u.join(next))
                        .expect("next link")
                        .to_string()
                }
                _ => return records,
            }
        }
        panic!("getAllRecords of {} did not end", site.id)
    }

    /// Waits until job `id` at `which`'s node is RUNNING with progress
    /// above zero (its 2PC under way); returns its record. Fails at once if
    /// the job ends first.
    pub async fn wait_for_progress(&self, which: Which, id: &str) -> Value {
        wait_for(
            &format!("job {id} to be RUNNING with progress"),
            JOB_LIMIT,
            Duration::from_millis(100),
            || async move {
                let job = self.job(which, id).await?;
                let status = job["status"].as_str()?.to_owned();
                assert!(
                    status != "DONE" && status != "FAULT",
                    "job {id} ended before it could be interrupted: {job}"
                );
                let progress = job["progress_percent"].as_u64().unwrap_or(0);
                (status == "RUNNING" && progress > 0).then_some(job)
            },
        )
        .await
    }

    /// `/health` of `which`'s node answers 200 "OK".
    pub async fn assert_node_healthy(&self, which: Which) {
        let text = expect(
            "health",
            self.http.get(self.site(which).api("/health")),
            StatusCode::OK,
        )
        .await;
        assert_eq!(text.trim(), "OK", "health of {:?}", which);
    }

    /// The log of a process so far (`node-a`, `linkage-service`, …), for a
    /// failure message.
    pub fn log_of(&self, name: &str) -> String {
        self.procs.log(name)
    }
}

// ---------------------------------------------------------------------------
// Helpers of the abuse and load scenarios (tests/tests/system/abuse.rs and
// load.rs). Kept in one block of their own, apart from the fault scenarios'.
// ---------------------------------------------------------------------------

/// The bytes of every file in the state directories of the federation's
/// processes, to show that a refused request wrote nothing.
#[derive(Clone, Debug, Default)]
pub struct StateSnapshot {
    files: std::collections::BTreeMap<PathBuf, Vec<u8>>,
}

impl StateSnapshot {
    /// The files that differ between `before` and `self` (changed, added or
    /// removed), as paths; empty when every byte is the same.
    pub fn changed_since(&self, before: &StateSnapshot) -> Vec<String> {
        let mut changed = Vec::new();
        for (path, bytes) in &self.files {
            match before.files.get(path) {
                Some(old) if old == bytes => {}
                Some(_) => changed.push(format!("{} (changed)", path.display())),
                None => changed.push(format!("{} (added)", path.display())),
            }
        }
        for path in before.files.keys() {
            if !self.files.contains_key(path) {
                changed.push(format!("{} (removed)", path.display()));
            }
        }
        changed
    }

    /// How many files, and how many bytes in all.
    pub fn size(&self) -> (usize, usize) {
        (
            self.files.len(),
            self.files.values().map(Vec::len).sum::<usize>(),
        )
    }

    /// Only the files under `dir`.
    pub fn under(&self, dir: &Path) -> StateSnapshot {
        StateSnapshot {
            files: self
                .files
                .iter()
                .filter(|(p, _)| p.starts_with(dir))
                .map(|(p, b)| (p.clone(), b.clone()))
                .collect(),
        }
    }
}

fn read_tree(dir: &Path, into: &mut std::collections::BTreeMap<PathBuf, Vec<u8>>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            read_tree(&path, into);
        } else if let Ok(bytes) = std::fs::read(&path) {
            into.insert(path, bytes);
        }
    }
}

/// The resident memory of process `pid` in KiB (`VmRSS` of
/// `/proc/<pid>/status`); `None` when it cannot be read (not Linux, or the
/// process is gone).
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

impl Federation {
    /// The state directory of every process, by process name: both nodes'
    /// data dirs, both registries' and the linkage service's.
    pub fn state_dirs(&self) -> Vec<(String, PathBuf)> {
        vec![
            (Which::A.node(), self.a.node_dir.clone()),
            (Which::B.node(), self.b.node_dir.clone()),
            (Which::A.registry(), self.a.registry_dir.clone()),
            (Which::B.registry(), self.b.registry_dir.clone()),
            ("linkage-service".to_owned(), self.ls_dir.clone()),
        ]
    }

    /// The linkage service's data dir (its store).
    pub fn ls_dir(&self) -> &Path {
        &self.ls_dir
    }

    /// Every file of every state directory, read now.
    pub fn snapshot_state(&self) -> StateSnapshot {
        let mut snapshot = StateSnapshot::default();
        for (_, dir) in self.state_dirs() {
            read_tree(&dir, &mut snapshot.files);
        }
        snapshot
    }

    /// The OS process id of a running process of the federation.
    pub fn pid(&self, name: &str) -> Option<u32> {
        self.procs.pid(name)
    }

    /// The `fields` of the first `n` patients of `which`'s registry, encoded
    /// for the configuration as the registry serves them (its first page,
    /// read with the registry's key).
    pub async fn registry_fields(&self, which: Which, n: usize) -> Vec<Value> {
        let site = self.site(which);
        let other = self.site(which.other());
        let body = expect(
            "getAllRecords",
            self.http
                .get(site.registry(&format!("/getAllRecords/{}?pagesize={n}", other.id)))
                .header("Authorization", site.registry_auth()),
            StatusCode::OK,
        )
        .await;
        let page: Value = serde_json::from_str(&body).expect("a records page");
        let records = page["records"].as_array().expect("records").clone();
        assert!(
            records.len() >= n.min(1),
            "the registry of {} has no patients",
            site.id
        );
        records
            .into_iter()
            .take(n)
            .map(|r| r["fields"].clone())
            .collect()
    }
}
