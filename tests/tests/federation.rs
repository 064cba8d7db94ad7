//! The whole federation on loopback, with real processes and verified TLS:
//! a local CA (`sel-node ca`), the linkage service with both sites
//! registered, two registries holding synthetic patients
//! (`scripts/synth_patients.py`), and two nodes (`sel-node serve`).
//!
//! Over HTTPS the test configures both nodes (initLocal, initRemote both
//! ways, test, testLS), triggers linkMN and matchMN from registry A, waits
//! for the jobs, and checks the outcome against the plaintext reference
//! (`protocol_spec::epilink::link_records`) run on the very records the
//! registries serve:
//!
//! * every patient of A received a LID;
//! * the match and tentative counts of matchMN are the reference's;
//! * for every patient of A the reference matches with B's record `b`, A's
//!   LID opens (under A's LID key) to the same 128 bits as the LID node B
//!   holds for `b` (read from node B's sealed store under its node key, and
//!   opened under B's LID key). That is the observable of "the same patient
//!   gets the same LID at both sites": B's registry never learns B's LIDs
//!   (node B obtains them from `freshIDs` for its database and posts them to
//!   the linkage service as the 2PC server), so the comparison is made where
//!   they live;
//! * every other patient of A got a LID that no record of B has, and no two
//!   of them share one.
//!
//! Then node A is killed and restarted: its configuration, remotes and jobs
//! are still there. Last, no process's log holds a key, a sealed LID or an
//! encoded field value.
//!
//! Every process is stopped when the test ends, also when it fails; a
//! failing run prints the tail of each process's log and keeps its scratch
//! directory.
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use e2e_tests::{
    Processes, Scratch, binary, free_ports, node_lids, read_simple_csv, wait_for, workspace_root,
};
use linkage_service::keys::SiteKey;
use linkage_service::lid::{Lid, open_lid};
use protocol_spec::config::{LinkageConfig, Record};
use protocol_spec::epilink::link_records;
use protocol_spec::messages::mainsel::AlgorithmConfig;
use protocol_spec::value::record_from_wire;
use reqwest::{Client, StatusCode};
use sel_node::seal::NodeKey;
use serde_json::{Value, json};

const SITE_A: &str = "SITE_A";
const SITE_B: &str = "SITE_B";
/// Patients per site and how many are at both (small: the test runs in CI
/// in a debug build).
const PATIENTS_A: usize = 30;
const PATIENTS_B: usize = 40;
const OVERLAP: usize = 10;
const SEED: u64 = 11;

/// How long a process may take to answer its first request.
const START_LIMIT: Duration = Duration::from_secs(60);
/// How long a job may take from trigger to callback (generous for a loaded
/// CI machine; a healthy run takes seconds).
const JOB_LIMIT: Duration = Duration::from_secs(300);
const POLL: Duration = Duration::from_millis(250);

/// What the test knows about one site.
struct Site {
    id: &'static str,
    /// The node's REST API, its peer channel, the registry.
    api_port: u16,
    peer_port: u16,
    registry_port: u16,
    node_dir: PathBuf,
    node_key_file: PathBuf,
    registry_dir: PathBuf,
    /// The node's local key (initLocal), also the registry's node key.
    local_key: String,
    /// The registry's own API key (users, triggers).
    registry_key: String,
    /// The linkage service's keys of this site.
    ls_api_key: String,
    lid_key: SiteKey,
}

impl Site {
    fn api(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.api_port)
    }
    fn registry(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.registry_port)
    }
    fn peer_url(&self) -> String {
        format!("https://127.0.0.1:{}", self.peer_port)
    }
}

fn auth(key: &str) -> String {
    format!("apiKey apiKey=\"{key}\"")
}

/// Runs a command to completion; panics with its output when it fails.
fn run(what: &str, command: &mut Command) -> String {
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

/// `GET url` answering 200, for a process that is starting.
async fn wait_healthy(http: &Client, procs: &mut Processes, name: &str, url: String) {
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

async fn expect(
    what: &str,
    req: reqwest::RequestBuilder,
    status: StatusCode,
) -> (StatusCode, String) {
    let resp = req
        .send()
        .await
        .unwrap_or_else(|e| panic!("{what}: request failed: {e}"));
    let got = resp.status();
    let body = resp.text().await.unwrap_or_default();
    assert_eq!(got, status, "{what}: answered {got}: {body}");
    (got, body)
}

/// The records a registry serves (one page), as the nodes see them.
async fn served_records(http: &Client, site: &Site, requester: &str) -> Vec<(String, Value)> {
    let url = site.registry(&format!("/getAllRecords/{requester}?pagesize=10000&page=1"));
    let (_, body) = expect(
        "getAllRecords",
        http.get(&url)
            .header("Authorization", auth(&site.registry_key)),
        StatusCode::OK,
    )
    .await;
    let page: Value = serde_json::from_str(&body).expect("page is JSON");
    page["records"]
        .as_array()
        .expect("page has records")
        .iter()
        .map(|r| {
            let id = r["id"].as_str().expect("record id").to_owned();
            (id, r["fields"].clone())
        })
        .collect()
}

fn to_records(config: &LinkageConfig, served: &[(String, Value)]) -> Vec<Record> {
    served
        .iter()
        .map(|(id, fields)| {
            let fields = serde_json::from_value(fields.clone()).expect("fields map");
            record_from_wire(config, &fields)
                .unwrap_or_else(|e| panic!("record {id} does not fit the configuration: {e}"))
        })
        .collect()
}

/// Waits until the registry's latest batch of `mode` towards `remote` has
/// its callback, and returns the status answer. A FAULT job, a refused
/// submission or a failed callback fail the test at once.
async fn wait_for_batch(http: &Client, site: &Site, mode: &str, remote: &str) -> Value {
    let url = site.registry(&format!("/Communicator/{mode}/status/{remote}"));
    let key = auth(&site.registry_key);
    wait_for(
        &format!("{mode} from {} to finish", site.id),
        JOB_LIMIT,
        POLL,
        || {
            let req = http.get(&url).header("Authorization", key.clone()).send();
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_sites_link_and_match_over_tls_and_agree_with_the_reference() {
    let root = workspace_root();
    let scratch = Scratch::new("federation");
    let dir = scratch.path();
    let sel = binary("sel-node", "sel-node");
    let ls_bin = binary("linkage-service", "linkage-service");
    let config_path = root.join("examples/mainzelliste-config.json");
    let mut procs = Processes::new();

    // Synthetic patients with a known overlap.
    let data = dir.join("data");
    run(
        "scripts/synth_patients.py (needs python3)",
        Command::new("python3")
            .arg(root.join("scripts/synth_patients.py"))
            .args(["--a", &PATIENTS_A.to_string()])
            .args(["--b", &PATIENTS_B.to_string()])
            .args(["--overlap", &OVERLAP.to_string()])
            .args(["--seed", &SEED.to_string()])
            .arg("--out")
            .arg(&data),
    );

    // A local CA and a certificate per server.
    let ca = dir.join("ca");
    run(
        "ca init",
        Command::new(&sel).args(["ca", "init", "--dir"]).arg(&ca),
    );
    for name in ["ls", "node-a", "node-b", "registry-a", "registry-b"] {
        run(
            "ca issue",
            Command::new(&sel)
                .args(["ca", "issue", name, "--dir"])
                .arg(&ca),
        );
    }
    let ca_pem = ca.join("ca.pem");
    let cert = |name: &str| {
        (
            ca.join(format!("{name}.pem")),
            ca.join(format!("{name}.key")),
        )
    };

    // The linkage service, both sites registered.
    let ls_dir = dir.join("ls");
    let master = dir.join("ls-master.key");
    run(
        "linkage-service init-master-key",
        Command::new(&ls_bin)
            .arg("init-master-key")
            .arg("--out")
            .arg(&master),
    );
    let mut ls_keys = HashMap::new();
    for id in [SITE_A, SITE_B] {
        let out = run(
            "linkage-service register",
            Command::new(&ls_bin)
                .args(["register", id, "--data-dir"])
                .arg(&ls_dir)
                .arg("--master-key-file")
                .arg(&master),
        );
        let reg: Value = serde_json::from_str(out.trim()).expect("register prints JSON");
        let api = reg["apiKey"].as_str().expect("apiKey").to_owned();
        let lid = SiteKey::from_base64(reg["lidKey"].as_str().expect("lidKey")).expect("lidKey");
        ls_keys.insert(id, (api, lid));
    }
    let ports = free_ports(7);
    let ls_port = ports[0];
    let ls_url = format!("https://127.0.0.1:{ls_port}");
    let (ls_cert, ls_key) = cert("ls");
    let mut ls = Command::new(&ls_bin);
    ls.arg("serve")
        .args(["--listen", &format!("127.0.0.1:{ls_port}")])
        .arg("--data-dir")
        .arg(&ls_dir)
        .arg("--master-key-file")
        .arg(&master)
        .arg("--tls-cert")
        .arg(&ls_cert)
        .arg("--tls-key")
        .arg(&ls_key);
    procs.spawn("linkage-service", ls, &dir.join("ls.log"));

    // Two sites: keys, registry contents, ports.
    let make_site = |id: &'static str, letter: &str, ports: &[u16]| {
        let (ls_api_key, lid_key) = ls_keys[id].clone();
        let node_dir = dir.join(format!("node-{letter}"));
        std::fs::create_dir_all(&node_dir).unwrap();
        let node_key_file = dir.join(format!("node-{letter}.key"));
        NodeKey::generate_file(&node_key_file).expect("node key file");
        Site {
            id,
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
    let a = make_site(SITE_A, "a", &ports[1..4]);
    let b = make_site(SITE_B, "b", &ports[4..7]);

    for (site, letter) in [(&a, "a"), (&b, "b")] {
        run(
            "registry import",
            Command::new(&sel)
                .args(["registry", "import", "--data-dir"])
                .arg(&site.registry_dir)
                .arg("--config")
                .arg(&config_path)
                .arg("--input")
                .arg(data.join(format!("site-{letter}.csv"))),
        );
        let registry_key_file = dir.join(format!("registry-{letter}.apikey"));
        let node_local_key_file = dir.join(format!("node-{letter}.localkey"));
        std::fs::write(&registry_key_file, &site.registry_key).unwrap();
        std::fs::write(&node_local_key_file, &site.local_key).unwrap();
        let (reg_cert, reg_key) = cert(&format!("registry-{letter}"));
        let mut registry = Command::new(&sel);
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
            .arg(&reg_cert)
            .arg("--tls-key")
            .arg(&reg_key)
            .arg("--ca-bundle")
            .arg(&ca_pem);
        procs.spawn(
            &format!("registry-{letter}"),
            registry,
            &dir.join(format!("registry-{letter}.log")),
        );
    }

    let node_command = |site: &Site, letter: &str| {
        let (node_cert, node_key) = cert(&format!("node-{letter}"));
        let mut node = Command::new(&sel);
        node.arg("serve")
            .args(["--api-listen", &format!("127.0.0.1:{}", site.api_port)])
            .args(["--peer-listen", &format!("127.0.0.1:{}", site.peer_port)])
            .arg("--data-dir")
            .arg(&site.node_dir)
            .arg("--node-key-file")
            .arg(&site.node_key_file)
            .arg("--tls-cert")
            .arg(&node_cert)
            .arg("--tls-key")
            .arg(&node_key)
            .arg("--ca-bundle")
            .arg(&ca_pem)
            .env("RUST_LOG", "info");
        node
    };

    // Everything below is HTTPS verified against the local CA only.
    let tls = sel_node::tls::client_config(Some(&ca_pem)).expect("client TLS config");
    let http = sel_node::tls::http_client(Arc::clone(&tls)).expect("HTTP client");
    wait_healthy(
        &http,
        &mut procs,
        "linkage-service",
        format!("{ls_url}/health"),
    )
    .await;
    for (site, letter) in [(&a, "a"), (&b, "b")] {
        let name = format!("registry-{letter}");
        wait_healthy(&http, &mut procs, &name, site.registry("/health")).await;
    }

    // The plaintext reference on the records the registries serve: A's
    // patients as queries, B's as the database, in the order node B fetches.
    let algorithm: AlgorithmConfig =
        serde_json::from_str(&std::fs::read_to_string(&config_path).unwrap()).unwrap();
    let config = LinkageConfig::from_wire(&algorithm).expect("example configuration");
    let served_a = served_records(&http, &a, SITE_B).await;
    let served_b = served_records(&http, &b, SITE_A).await;
    assert_eq!(
        served_a.len(),
        PATIENTS_A,
        "registry A serves every patient"
    );
    assert_eq!(
        served_b.len(),
        PATIENTS_B,
        "registry B serves every patient"
    );
    let want = link_records(
        &config,
        &to_records(&config, &served_a),
        &to_records(&config, &served_b),
    )
    .expect("reference linkage");
    let reference_matches: BTreeMap<&str, &str> = served_a
        .iter()
        .zip(&want)
        .filter(|(_, r)| r.is_match)
        .map(|((id_a, _), r)| (id_a.as_str(), served_b[r.best_index].0.as_str()))
        .collect();
    let want_tentative = want.iter().filter(|r| r.tentative || r.is_match).count();

    eprintln!(
        "reference: {} matches, {want_tentative} tentative (matches included), {OVERLAP} true pairs",
        reference_matches.len()
    );
    // The data is what the test claims: the reference links only true pairs,
    // and most of them (the rest carry too much noise).
    let (_, truth_rows) = read_simple_csv(&data.join("truth.csv"));
    let truth: HashMap<String, String> = truth_rows
        .into_iter()
        .map(|r| (r[0].clone(), r[1].clone()))
        .collect();
    assert_eq!(truth.len(), OVERLAP);
    for (id_a, id_b) in &reference_matches {
        assert_eq!(
            truth.get(*id_a).map(String::as_str),
            Some(*id_b),
            "the reference links {id_a} with {id_b}, which the truth file does not pair"
        );
    }
    assert!(
        reference_matches.len() * 2 >= OVERLAP,
        "the reference finds only {} of {OVERLAP} true pairs",
        reference_matches.len()
    );

    // The nodes.
    procs.spawn("node-a", node_command(&a, "a"), &dir.join("node-a.log"));
    procs.spawn("node-b", node_command(&b, "b"), &dir.join("node-b.log"));
    for (site, letter) in [(&a, "a"), (&b, "b")] {
        let name = format!("node-{letter}");
        wait_healthy(&http, &mut procs, &name, site.api("/health")).await;
    }

    // initLocal: the data service is the site's registry.
    for site in [&a, &b] {
        let body = json!({
            "localId": site.id,
            "localAuthentication": {"authType": "apiKey", "sharedKey": site.local_key},
            "dataService": {"url": site.registry("/getAllRecords"), "pageSize": 16},
            "algorithm": serde_json::to_value(&algorithm).unwrap(),
        });
        expect(
            "initLocal",
            http.put(site.api("/initLocal")).json(&body),
            StatusCode::NO_CONTENT,
        )
        .await;
    }
    // initRemote both ways: one shared key for the pair, the peer's channel,
    // and each site's own key at the linkage service.
    let pair_key = format!("pair-key-{}", std::process::id());
    for (site, other) in [(&a, &b), (&b, &a)] {
        let body = json!({
            "connectionProfile": {"url": other.peer_url(),
                "authentication": {"authType": "apiKey", "sharedKey": pair_key}},
            "linkageService": {"url": ls_url,
                "authentication": {"authType": "apiKey", "sharedKey": site.ls_api_key}},
            "matchingAllowed": true,
        });
        expect(
            "initRemote",
            http.put(site.api(&format!("/initRemote/{}", other.id)))
                .header("Authorization", auth(&site.local_key))
                .json(&body),
            StatusCode::NO_CONTENT,
        )
        .await;
    }
    for (site, other) in [(&a, &b), (&b, &a)] {
        let (_, text) = expect(
            "test",
            http.get(site.api(&format!("/test/{}", other.id)))
                .header("Authorization", auth(&site.local_key)),
            StatusCode::OK,
        )
        .await;
        assert_eq!(text, "Remotes Connected");
        let (_, text) = expect(
            "testLS",
            http.get(site.api(&format!("/testLS/{}", other.id)))
                .header("Authorization", auth(&site.local_key)),
            StatusCode::OK,
        )
        .await;
        assert_eq!(text, "Linkage Service connected");
    }

    // linkMN and matchMN from registry A.
    let mut job_paths = Vec::new();
    for mode in ["linkMN", "matchMN"] {
        let (_, body) = expect(
            mode,
            http.post(a.registry(&format!("/Communicator/{mode}/trigger/{SITE_B}")))
                .header("Authorization", auth(&a.registry_key)),
            StatusCode::ACCEPTED,
        )
        .await;
        let reply: Value = serde_json::from_str(&body).expect("trigger answer");
        assert_eq!(reply["records"], PATIENTS_A, "{mode} sends every patient");
        job_paths.push(reply["job"].as_str().expect("job path").to_owned());
    }
    let linked = wait_for_batch(&http, &a, "linkMN", SITE_B).await;
    assert_eq!(linked["lidsReceived"], PATIENTS_A, "{linked}");
    let matched = wait_for_batch(&http, &a, "matchMN", SITE_B).await;
    assert_eq!(
        matched["result"]["matches"],
        reference_matches.len(),
        "matchMN count vs the reference: {matched}"
    );
    assert_eq!(
        matched["result"]["tentativeMatches"], want_tentative,
        "matchMN tentative count vs the reference: {matched}"
    );

    // A's LIDs, as the registry exports them.
    let export = run(
        "registry export",
        Command::new(&sel)
            .args(["registry", "export", "--data-dir"])
            .arg(&a.registry_dir)
            .args(["--remote", SITE_B]),
    );
    let lids_a: HashMap<String, Lid> = export
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (id, sealed) = l.split_once(',').expect("patient_id,lid");
            let lid = open_lid(&a.lid_key, SITE_A, sealed)
                .unwrap_or_else(|e| panic!("A's LID of {id} does not open under A's key: {e}"));
            (id.to_owned(), lid)
        })
        .collect();
    for (id, _) in &served_a {
        assert!(lids_a.contains_key(id), "patient {id} of A has no LID");
    }

    // Restart node A: configuration, remotes and jobs survive.
    procs.kill("node-a");
    procs.spawn("node-a", node_command(&a, "a"), &dir.join("node-a.log"));
    wait_healthy(&http, &mut procs, "node-a (restarted)", a.api("/health")).await;
    expect(
        "initLocal without the key after the restart (configuration kept)",
        http.put(a.api("/initLocal")).json(&json!({})),
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let (_, text) = expect(
        "test after the restart (remote kept)",
        http.get(a.api(&format!("/test/{SITE_B}")))
            .header("Authorization", auth(&a.local_key)),
        StatusCode::OK,
    )
    .await;
    assert_eq!(text, "Remotes Connected");
    let (_, list) = expect(
        "jobs/list after the restart",
        http.get(a.api("/jobs/list"))
            .header("Authorization", auth(&a.local_key)),
        StatusCode::OK,
    )
    .await;
    let list: Value = serde_json::from_str(&list).expect("jobs/list is JSON");
    for path in &job_paths {
        let id = path.rsplit('/').next().expect("job id");
        assert_eq!(list[id], "DONE", "job {id} after the restart: {list}");
        let (_, status) = expect(
            "job status after the restart",
            http.get(a.api(&format!("/jobs/{id}")))
                .header("Authorization", auth(&a.local_key)),
            StatusCode::OK,
        )
        .await;
        assert_eq!(status, "DONE");
    }

    // B's LIDs live in node B's store, sealed under its node key: stop node
    // B and read them with the node's own store code.
    procs.kill("node-b");
    let ids_b: Vec<String> = served_b.iter().map(|(id, _)| id.clone()).collect();
    let lids_b = node_lids::read(
        &b.node_dir,
        &b.node_key_file,
        &ls_url,
        SITE_B,
        &b.lid_key,
        &ids_b,
    )
    .unwrap_or_else(|e| panic!("node B's LIDs: {e}"));
    let b_lid_set: HashSet<[u8; 16]> = lids_b.values().map(|l| *l.as_bytes()).collect();
    assert_eq!(
        b_lid_set.len(),
        PATIENTS_B,
        "B's records have distinct LIDs"
    );

    for (id_a, lid) in &lids_a {
        match reference_matches.get(id_a.as_str()) {
            Some(id_b) => assert!(
                *lid == lids_b[*id_b],
                "{id_a} matches {id_b}, but their LIDs differ"
            ),
            None => assert!(
                !b_lid_set.contains(lid.as_bytes()),
                "{id_a} has no match but got a LID of B"
            ),
        }
    }
    let unmatched: Vec<[u8; 16]> = lids_a
        .iter()
        .filter(|(id, _)| !reference_matches.contains_key(id.as_str()))
        .map(|(_, l)| *l.as_bytes())
        .collect();
    let distinct: HashSet<_> = unmatched.iter().collect();
    assert_eq!(distinct.len(), unmatched.len(), "fresh LIDs are distinct");

    // No process logged a key, a sealed LID or an encoded field value.
    let mut secrets: Vec<(String, String)> = vec![
        ("A's local key".into(), a.local_key.clone()),
        ("B's local key".into(), b.local_key.clone()),
        ("A's registry key".into(), a.registry_key.clone()),
        ("B's registry key".into(), b.registry_key.clone()),
        ("the pair key".into(), pair_key.clone()),
        ("A's linkage-service key".into(), a.ls_api_key.clone()),
        ("B's linkage-service key".into(), b.ls_api_key.clone()),
    ];
    for line in export.lines().skip(1) {
        if let Some((id, sealed)) = line.split_once(',') {
            secrets.push((format!("the LID of {id}"), sealed.to_owned()));
        }
    }
    for (id, fields) in served_a.iter().chain(&served_b) {
        for field in ["vorname", "nachname", "ort"] {
            if let Some(value) = fields[field].as_str().filter(|v| v.len() > 16) {
                secrets.push((format!("{field} of {id}"), value.to_owned()));
            }
        }
    }
    let mut logs: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("scratch dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    logs.sort();
    assert!(logs.len() >= 5, "every process has a log");
    for log in &logs {
        let text = std::fs::read_to_string(log).expect("read log");
        for (what, secret) in &secrets {
            assert!(
                !text.contains(secret.as_str()),
                "{} contains {what}",
                log.display()
            );
        }
    }

    drop(procs);
    drop(scratch);
}
