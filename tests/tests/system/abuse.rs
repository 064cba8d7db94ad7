//! Abuse: malformed and unauthorised requests to every kind of process (the
//! nodes' REST API, the registries, the linkage service), each answered with
//! the status SPEC §3 / §9 and the README's registry table name, and none of
//! them writing anything.
//!
//! "Nothing written" is checked byte for byte: after every request, every
//! file in every process's state directory (the nodes' `node.redb`, the
//! registries' `registry.redb`, the linkage service's store) must hold the
//! bytes it held before the first request. A redb file changes only when a
//! write transaction commits (reads do not touch it, and none of these
//! processes writes in the background while no job runs), so an unchanged
//! file means no write. Before and after the whole table the observable
//! state is compared too: `jobs/list` of both nodes, `/test` of the remote,
//! the registry's status of its last batch, and `registry export`.
//!
//! A body over a server's limit is refused with 413 before it is read; over
//! HTTP/1.1 the server then closes the connection, and the 413 must say
//! `Connection: close` so that a keep-alive client does not reuse it (the
//! scenario found all three servers silent about it).
//!
//! One request is deliberately outside the byte check: a registry trigger
//! towards a remote the node does not know. The registry stores the batch
//! before it submits it (so that a fast callback finds it) and records the
//! node's refusal on it, so its store changes by design; the scenario checks
//! that the node's refusal is passed on (502), that the batch of the remote
//! that exists is untouched, and that every other process wrote nothing.

use std::process::Command;

use e2e_tests::federation::{
    Federation, FederationOptions, SITE_A, SITE_B, StateSnapshot, Which, run,
};
use reqwest::Method;
use serde_json::{Value, json};

use crate::scenario::Scenario;

pub fn scenarios() -> Vec<Scenario> {
    vec![Scenario::new(
        "abuse: malformed and unauthorised requests",
        abuse,
    )]
}

/// The node's body limit in this scenario, small so a 413 is cheap.
const BODY_LIMIT: usize = 64 * 1024;

/// The registry's limit on a callback body.
const REGISTRY_CALLBACK_LIMIT: usize = sel_node::registry::routes::MAX_CALLBACK_BYTES as usize;

/// Which process a request goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    Node(Which),
    Registry(Which),
    Ls,
}

/// One row of the table: a request and what must come back.
struct Case {
    what: String,
    target: Target,
    method: Method,
    path: String,
    headers: Vec<(&'static str, String)>,
    body: Option<Vec<u8>>,
    status: u16,
    /// A substring the body must contain.
    body_has: Option<String>,
    /// A header the answer must carry, and a substring of its value.
    header_has: Option<(&'static str, String)>,
    /// Whether the answer's body is empty (an unknown job) rather than
    /// `{"error": ...}`.
    empty_body: bool,
    /// Sent over HTTP/2 (see [`Clients`]).
    http2: bool,
}

/// The clients the table is sent with; both verify TLS against the
/// federation's CA only.
///
/// A body over the node's limit is sent over HTTP/2: the node answers 413
/// without reading the body (SPEC §3: at once when `Content-Length` says
/// so), and over HTTP/1.1 it then closes the connection with the body still
/// arriving, so the client may see a broken pipe or a reset instead of the
/// answer. HTTP/2 ends just that stream, and the 413 arrives.
struct Clients {
    http1: reqwest::Client,
    http2: reqwest::Client,
}

impl Clients {
    fn new(fed: &Federation) -> Clients {
        let mut tls =
            (*sel_node::tls::client_config(Some(&fed.ca_pem)).expect("client TLS")).clone();
        tls.alpn_protocols = vec![b"h2".to_vec()];
        let http2 = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .http2_prior_knowledge()
            .build()
            .expect("HTTP/2 client");
        Clients {
            http1: fed.http.clone(),
            http2,
        }
    }
}

impl Case {
    fn new(what: impl Into<String>, target: Target, method: &str, path: impl Into<String>) -> Case {
        Case {
            what: what.into(),
            target,
            method: Method::from_bytes(method.as_bytes()).expect("method"),
            path: path.into(),
            headers: Vec::new(),
            body: None,
            status: 0,
            body_has: None,
            header_has: None,
            empty_body: false,
            http2: false,
        }
    }
    fn over_http2(mut self) -> Case {
        self.http2 = true;
        self
    }
    fn auth(mut self, value: impl Into<String>) -> Case {
        self.headers.push(("Authorization", value.into()));
        self
    }
    fn header(mut self, name: &'static str, value: impl Into<String>) -> Case {
        self.headers.push((name, value.into()));
        self
    }
    fn json(mut self, body: &Value) -> Case {
        self.body = Some(serde_json::to_vec(body).unwrap());
        self.headers
            .push(("Content-Type", "application/json".to_owned()));
        self
    }
    fn raw(mut self, content_type: &str, body: impl Into<Vec<u8>>) -> Case {
        self.body = Some(body.into());
        self.headers.push(("Content-Type", content_type.to_owned()));
        self
    }
    fn expect(mut self, status: u16) -> Case {
        self.status = status;
        self
    }
    fn says(mut self, text: impl Into<String>) -> Case {
        self.body_has = Some(text.into());
        self
    }
    fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Case {
        self.header_has = Some((name, value.into()));
        self
    }
    fn empty(mut self) -> Case {
        self.empty_body = true;
        self
    }
}

/// Sends a case's request and checks the answer; panics naming the case.
async fn check(fed: &Federation, clients: &Clients, case: &Case, secrets: &[String]) {
    let url = match case.target {
        Target::Node(w) => fed.site(w).api(&case.path),
        Target::Registry(w) => fed.site(w).registry(&case.path),
        Target::Ls => format!("{}{}", fed.ls_url, case.path),
    };
    let client = if case.http2 {
        &clients.http2
    } else {
        &clients.http1
    };
    let mut req = client.request(case.method.clone(), &url);
    for (name, value) in &case.headers {
        req = req.header(*name, value.as_str());
    }
    if let Some(body) = &case.body {
        req = req.body(body.clone());
    }
    let what = format!(
        "{:?} {} {} ({})",
        case.target,
        case.method,
        case.path_for_humans(),
        case.what
    );
    let resp = req
        .send()
        .await
        .unwrap_or_else(|e| panic!("{what}: request failed: {e:?}"));
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.text().await.unwrap_or_default();
    assert_eq!(status, case.status, "{what}: answered {status}: {body}");
    if let Some(text) = &case.body_has {
        assert!(
            body.contains(text.as_str()),
            "{what}: the answer does not say {text:?}: {body}"
        );
    }
    if let Some((name, text)) = &case.header_has {
        let value = headers
            .get(*name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("{what}: no {name} header"));
        assert!(value.contains(text.as_str()), "{what}: {name}: {value}");
    }
    if status == 401 {
        assert!(
            headers.contains_key("www-authenticate"),
            "{what}: a 401 without WWW-Authenticate"
        );
    }
    if case.empty_body || case.method == Method::HEAD {
        assert!(body.is_empty(), "{what}: the body should be empty: {body}");
    } else {
        let parsed: Value = serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("{what}: the error body is not JSON ({e}): {body}"));
        assert!(
            parsed["error"].is_string(),
            "{what}: no \"error\" in {body}"
        );
    }
    for secret in secrets {
        assert!(
            !body.contains(secret.as_str()),
            "{what}: the answer repeats a key or a value"
        );
    }
}

impl Case {
    /// The path as printed in a failure: long ids shortened.
    fn path_for_humans(&self) -> String {
        if self.path.len() > 80 {
            format!("{}…({} chars)", &self.path[..60], self.path.len())
        } else {
            self.path.clone()
        }
    }
}

/// Sends, over HTTP/1.1, only the head of a POST whose `Content-Length` is
/// over the server's limit (with `Expect: 100-continue`, so no body is
/// owed), and returns everything the server sent until it closed.
///
/// reqwest cannot send a head without its body, and with the body on the
/// wire an HTTP/1.1 server that closes after its 413 makes the client see a
/// reset or a broken pipe; so this one request is written by hand over
/// rustls, verified against the federation's CA like every other.
fn oversize_head_http1(fed: &Federation, port: u16, path: &str, auth: &str) -> String {
    use std::io::{Read, Write};
    let config = sel_node::tls::client_config(Some(&fed.ca_pem)).expect("client TLS");
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").expect("server name");
    let conn = rustls::ClientConnection::new(config, name).expect("TLS connection");
    let tcp = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    tcp.set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .expect("read timeout");
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    write!(
        tls,
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: {auth}\r\n\
         Content-Type: application/json\r\nContent-Length: 1000000000\r\n\
         Expect: 100-continue\r\n\r\n"
    )
    .and_then(|()| tls.flush())
    .expect("send the head");
    let mut answer = Vec::new();
    // Ends when the server closes (or after the read timeout, if it keeps
    // the connection open; what arrived is kept either way).
    let _ = tls.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

/// A 413 over HTTP/1.1 says `Connection: close`: the server does not read
/// the body, so it cannot serve another request on the connection, and a
/// keep-alive client must not send one there.
async fn check_http1_413(fed: &Federation, target: Target, path: String, auth: String) {
    let port = match target {
        Target::Node(w) => fed.site(w).api_port,
        Target::Registry(w) => fed.site(w).registry_port,
        Target::Ls => fed.ls_port,
    };
    let answer = tokio::task::block_in_place(|| oversize_head_http1(fed, port, &path, &auth));
    let head = answer
        .split("\r\n\r\n")
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    assert!(
        head.starts_with("http/1.1 413"),
        "{target:?} POST {path} over HTTP/1.1 with a body over the limit: {head}"
    );
    assert!(
        head.lines().any(|l| l.trim() == "connection: close"),
        "{target:?} POST {path}: a 413 over HTTP/1.1 without Connection: close: {head}"
    );
}

/// Runs `cases`, checking after each that no state file changed since
/// `before`.
async fn run_table(
    fed: &mut Federation,
    clients: &Clients,
    cases: &[Case],
    before: &StateSnapshot,
    secrets: &[String],
) {
    for case in cases {
        check(fed, clients, case, secrets).await;
        fed.procs.assert_running();
        let changed = fed.snapshot_state().changed_since(before);
        assert!(
            changed.is_empty(),
            "{:?} {} {} ({}) wrote: {changed:?}",
            case.target,
            case.method,
            case.path_for_humans(),
            case.what
        );
    }
}

/// What can be observed of the federation's state through its APIs.
async fn observable(fed: &Federation) -> Value {
    let mut view = serde_json::Map::new();
    for which in [Which::A, Which::B] {
        let jobs = fed.jobs_list(which).await;
        view.insert(format!("jobs {}", which.node()), Value::Object(jobs));
    }
    let a = &fed.a;
    let test = fed
        .http
        .get(a.api(&format!("/test/{SITE_B}")))
        .header("Authorization", a.local_auth())
        .send()
        .await
        .expect("test");
    view.insert(
        "test".into(),
        json!([
            test.status().as_u16(),
            test.text().await.unwrap_or_default()
        ]),
    );
    let status = fed
        .http
        .get(a.registry(&format!("/Communicator/linkMN/status/{SITE_B}")))
        .header("Authorization", a.registry_auth())
        .send()
        .await
        .expect("registry status");
    view.insert(
        "registry status".into(),
        json!([status.status().as_u16(), status.json::<Value>().await.ok()]),
    );
    view.insert(
        "registry export".into(),
        Value::String(registry_export(fed, Which::A)),
    );
    Value::Object(view)
}

/// `sel-node registry export` of a site: every patient's LID per remote.
fn registry_export(fed: &Federation, which: Which) -> String {
    run(
        "registry export",
        Command::new(&fed.sel)
            .args(["registry", "export", "--data-dir"])
            .arg(&fed.site(which).registry_dir),
    )
}

/// A valid `linkRecord` body for the configuration with `fields`.
fn record_body(fields: &Value) -> Value {
    json!({"callback": {"url": "https://127.0.0.1:9/cb"}, "fields": fields})
}

fn with_field(fields: &Value, name: &str, value: Value) -> Value {
    let mut f = fields.clone();
    f[name] = value;
    f
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A linkage-service post of one client record, to be spoiled by the cases.
fn ls_post() -> Value {
    json!({
        "role": "client",
        "jobTag": "ab".repeat(32),
        "queryRecords": 1,
        "databaseRecords": 1,
        "result": [{"match": 0, "tentativeMatch": 0, "bestIndex": 0}],
    })
}

fn without(value: &Value, key: &str) -> Value {
    let mut v = value.clone();
    v.as_object_mut().unwrap().remove(key);
    v
}

fn set(value: &Value, key: &str, to: Value) -> Value {
    let mut v = value.clone();
    v[key] = to;
    v
}

/// Requests to a node before its first `initLocal`: every endpoint but
/// `initLocal` is 400 "not initialised", and a bad `initLocal` configures
/// nothing.
fn before_init_cases(fed: &Federation) -> Vec<Case> {
    use Target::Node;
    let a = &fed.a;
    let key = a.local_auth();
    let mut bad_algo = json!({
        "localId": SITE_A,
        "localAuthentication": {"authType": "apiKey", "sharedKey": a.local_key},
        "dataService": {"url": a.registry("/getAllRecords")},
        "algorithm": serde_json::to_value(&fed.algorithm).unwrap(),
    });
    let good = bad_algo.clone();
    bad_algo["algorithm"]["algoType"] = json!("bogus");
    let auth_none = set(&good, "localAuthentication", json!({"authType": "none"}));
    let bad_threshold = {
        let mut v = good.clone();
        v["algorithm"]["threshold_match"] = json!(1.5);
        v
    };
    vec![
        Case::new("jobs before init", Node(Which::A), "GET", "/jobs/list")
            .auth(&key)
            .expect(400)
            .says("has not been initialised"),
        Case::new(
            "jobs before init, no key",
            Node(Which::A),
            "GET",
            "/jobs/list",
        )
        .expect(400)
        .says("has not been initialised"),
        Case::new(
            "linkRecord before init",
            Node(Which::A),
            "POST",
            format!("/linkRecord/{SITE_B}"),
        )
        .auth(&key)
        .json(&json!({}))
        .expect(400)
        .says("has not been initialised"),
        Case::new(
            "test before init",
            Node(Which::A),
            "GET",
            format!("/test/{SITE_B}"),
        )
        .auth(&key)
        .expect(400),
        Case::new(
            "initRemote before init",
            Node(Which::A),
            "PUT",
            format!("/initRemote/{SITE_B}"),
        )
        .auth(&key)
        .json(&json!({}))
        .expect(400)
        .says("has not been initialised"),
        Case::new("initLocal not JSON", Node(Which::A), "PUT", "/initLocal")
            .raw("application/json", "{\"localId\":")
            .expect(400),
        Case::new(
            "initLocal unknown algoType",
            Node(Which::A),
            "PUT",
            "/initLocal",
        )
        .json(&bad_algo)
        .expect(400)
        .says("algoType"),
        Case::new(
            "initLocal authType none",
            Node(Which::A),
            "PUT",
            "/initLocal",
        )
        .json(&auth_none)
        .expect(400),
        Case::new(
            "initLocal threshold above 1",
            Node(Which::A),
            "PUT",
            "/initLocal",
        )
        .json(&bad_threshold)
        .expect(400),
        Case::new(
            "initLocal wrong method",
            Node(Which::A),
            "POST",
            "/initLocal",
        )
        .json(&good)
        .expect(405)
        .with_header("allow", "PUT"),
        Case::new("unknown path before init", Node(Which::A), "GET", "/jobz").expect(404),
    ]
}

/// Requests to the configured federation. `job` is a finished job of node
/// A, `batch` the registry's batch of it.
fn configured_cases(fed: &Federation, fields: &Value, job: &str, batch: &str) -> Vec<Case> {
    use Target::{Ls, Node, Registry};
    let (a, b) = (&fed.a, &fed.b);
    let na = Node(Which::A);
    let key = a.local_auth();
    let link = format!("/linkRecord/{SITE_B}");
    let links = format!("/linkRecords/{SITE_B}");
    let good = record_body(fields);
    let init_local = json!({
        "localId": SITE_A,
        "localAuthentication": {"authType": "apiKey", "sharedKey": "a-key-of-the-attacker"},
        "dataService": {"url": a.registry("/getAllRecords")},
        "algorithm": serde_json::to_value(&fed.algorithm).unwrap(),
    });
    let init_remote = json!({
        "connectionProfile": {"url": "https://attacker.example:1",
            "authentication": {"authType": "apiKey", "sharedKey": "k"}},
        "matchingAllowed": true,
    });
    let long_id = "A".repeat(300);
    // 500-bit fields: bit 503 is in byte 62, beyond the field.
    let mut too_long_mask = vec![0u8; 63];
    too_long_mask[62] = 0x80;
    let field_json = serde_json::to_string(fields).unwrap();
    let duplicate = format!(
        "{{\"callback\":{{\"url\":\"https://127.0.0.1:9/cb\"}},\"fields\":{{\"vorname\":null,{}}}",
        &field_json[1..]
    );
    let mut missing = fields.clone();
    missing.as_object_mut().unwrap().remove("ort");
    let oversize = {
        let mut v = good.clone();
        v["padding"] = json!("x".repeat(BODY_LIMIT + 1024));
        v
    };

    let mut cases = vec![
        // ---- authentication (step 3): 401 with WWW-Authenticate ----
        Case::new("no key", na, "GET", "/jobs/list").expect(401).says("missing Authorization"),
        Case::new("wrong key", na, "GET", "/jobs/list").auth(fed_auth("not-the-key")).expect(401).says("not valid"),
        Case::new("Bearer scheme", na, "GET", "/jobs/list").auth(format!("Bearer {}", a.local_key)).expect(401).says("malformed Authorization"),
        Case::new("Basic scheme", na, "GET", "/metrics").auth("Basic dXNlcjpwYXNz").expect(401),
        Case::new("wrong parameter name", na, "GET", "/jobs/list").auth(format!("apiKey token=\"{}\"", a.local_key)).expect(401),
        Case::new("unterminated quote", na, "GET", "/jobs/list").auth(format!("apiKey apiKey=\"{}", a.local_key)).expect(401),
        Case::new("two Authorization headers", na, "GET", "/jobs/list").auth(&key).auth(&key).expect(401).says("more than one"),
        Case::new("the other node's key", na, "GET", "/jobs/list").auth(b.local_auth()).expect(401),
        Case::new("the pair key", na, "GET", format!("/test/{SITE_B}")).auth(fed_auth(&fed.pair_key)).expect(401),
        Case::new("the registry's key", na, "POST", &link).auth(a.registry_auth()).json(&good).expect(401),
        Case::new("metrics without key", na, "GET", "/metrics").expect(401),
        Case::new("initLocal without key once configured", na, "PUT", "/initLocal").json(&init_local).expect(401),
        Case::new("initLocal with a wrong key", na, "PUT", "/init/local").auth(fed_auth("guess")).json(&init_local).expect(401),
        Case::new("initRemote without key", na, "PUT", format!("/initRemote/{SITE_B}")).json(&init_remote).expect(401),
        Case::new("cancel without key", na, "DELETE", format!("/jobs/{job}")).expect(401),
        Case::new("job status with a wrong key", na, "GET", format!("/jobs/{job}")).auth(fed_auth("x")).expect(401),
        Case::new("node B without key", Node(Which::B), "GET", "/jobs/list").expect(401),
        Case::new("node B with A's key", Node(Which::B), "POST", format!("/linkRecord/{SITE_A}")).auth(&key).json(&good).expect(401),
        // ---- routing (step 1): 404, 405 with Allow ----
        Case::new("unknown path", na, "GET", "/getAllRecords").auth(&key).expect(404),
        Case::new("too many segments", na, "GET", format!("/test/{SITE_B}/x")).auth(&key).expect(404),
        Case::new("DELETE jobs/list", na, "DELETE", "/jobs/list").auth(&key).expect(405).with_header("allow", "GET"),
        Case::new("GET linkRecord", na, "GET", &link).auth(&key).expect(405).with_header("allow", "POST"),
        Case::new("POST initRemote", na, "POST", format!("/initRemote/{SITE_B}")).auth(&key).json(&init_remote).expect(405).with_header("allow", "PUT"),
        Case::new("PUT a job", na, "PUT", format!("/jobs/{job}")).auth(&key).expect(405).with_header("allow", "DELETE"),
        Case::new("OPTIONS", na, "OPTIONS", format!("/test/{SITE_B}")).expect(405).with_header("allow", "GET"),
        Case::new("HEAD", na, "HEAD", "/jobs/list").auth(&key).expect(405),
        // ---- path ids (step 4): 400 ----
        Case::new("remote id with %2F", na, "POST", format!("/linkRecord/SITE%2F{SITE_B}")).auth(&key).json(&good).expect(400).says("invalid remote id"),
        Case::new("remote id with '-'", na, "PUT", "/initRemote/SITE-C").auth(&key).json(&init_remote).expect(400).says("'-'"),
        Case::new("remote id with '.'", na, "GET", "/testLS/SITE.B").auth(&key).expect(400),
        Case::new("remote id local", na, "GET", "/test/local").auth(&key).expect(400).says("reserved"),
        Case::new("job id of 65 characters", na, "GET", format!("/jobs/{}", "j".repeat(65))).auth(&key).expect(400).says("job id"),
        Case::new("job id with '~'", na, "DELETE", "/jobs/abc~def").auth(&key).expect(400),
        // ---- unknown remote or job (step 5): 404 ----
        // Site ids are at most 64 characters (SPEC §1): a longer one is malformed.
        Case::new("remote id beyond 64 characters", na, "POST", format!("/linkRecord/{long_id}")).auth(&key).json(&good).expect(400).says("at most 64"),
        Case::new("unknown remote test", na, "GET", "/test/SITE_C").auth(&key).expect(404),
        Case::new("unknown remote testLS", na, "GET", "/testLS/SITE_C").auth(&key).expect(404),
        Case::new("unknown remote matchRecords", na, "POST", "/matchRecords/SITE_C").auth(&key).json(&json!({"callback": {"url": "https://x.example/"}, "records": [{"fields": fields}]})).expect(404),
        Case::new("unknown job", na, "GET", "/jobs/nosuchjob0123").auth(&key).expect(404).empty(),
        Case::new("cancel unknown job", na, "DELETE", "/jobs/nosuchjob0123").auth(&key).expect(404).empty(),
        // ---- bodies (step 6): 400, 413 ----
        Case::new("body not JSON", na, "POST", &link).auth(&key).raw("application/json", "{\"callback\":").expect(400).says("not valid JSON"),
        Case::new("empty body", na, "POST", &link).auth(&key).raw("application/json", "").expect(400),
        Case::new("form body", na, "POST", &link).auth(&key).raw("application/x-www-form-urlencoded", "callback=x&fields=y").expect(400),
        Case::new("XML body", na, "POST", &link).auth(&key).raw("application/xml", "<record/>").expect(400),
        Case::new("body an array", na, "POST", &link).auth(&key).json(&json!([good])).expect(400),
        Case::new("no callback", na, "POST", &link).auth(&key).json(&json!({"fields": fields})).expect(400).says("callback"),
        Case::new("fields an array", na, "POST", &link).auth(&key).json(&json!({"callback": {"url": "https://x.example/"}, "fields": []})).expect(400),
        Case::new("duplicate field", na, "POST", &link).auth(&key).raw("application/json", duplicate).expect(400),
        Case::new("body over the limit", na, "POST", &link).auth(&key).json(&oversize).over_http2().expect(413),
        Case::new("Idempotency-Key of 256 characters", na, "POST", &link).auth(&key).header("Idempotency-Key", "k".repeat(256)).json(&good).expect(400).says("Idempotency-Key"),
        Case::new("Idempotency-Key with a space", na, "POST", &link).auth(&key).header("Idempotency-Key", "a b").json(&good).expect(400),
        Case::new("format=xml", na, "GET", format!("/jobs/{job}?format=xml")).auth(&key).expect(400).says("format"),
        Case::new("initRemote URL without host", na, "PUT", format!("/initRemote/{SITE_B}")).auth(&key).json(&set(&init_remote, "connectionProfile", json!({"url": "https://", "authentication": {"authType": "apiKey", "sharedKey": "k"}}))).expect(400),
        Case::new("initLocal unknown algorithm key", na, "PUT", "/initLocal").auth(&key).json(&{
            let mut v = init_local.clone();
            v["algorithm"]["rounds"] = json!(3);
            v
        }).expect(400),
        // ---- field values and names (step 7): 400, 401 ----
        Case::new("callback ftp://", na, "POST", &link).auth(&key).json(&set(&good, "callback", json!({"url": "ftp://x.example/cb"}))).expect(400).says("callback"),
        Case::new("callback not a URL", na, "POST", &link).auth(&key).json(&set(&good, "callback", json!({"url": "not a url"}))).expect(400),
        Case::new("base64 that is not base64", na, "POST", &link).auth(&key).json(&record_body(&with_field(fields, "vorname", json!("@@not base64@@")))).expect(400).says("vorname"),
        Case::new("URL-safe base64", na, "POST", &link).auth(&key).json(&record_body(&with_field(fields, "nachname", json!("-_-_")))).expect(400).says("nachname"),
        Case::new("bitmask beyond its bit length", na, "POST", &link).auth(&key).json(&record_body(&with_field(fields, "ort", json!(base64(&too_long_mask))))).expect(400).says("longer than its bitlength"),
        Case::new("bitmask of 64 bytes for 500 bits", na, "POST", &link).auth(&key).json(&record_body(&with_field(fields, "geburtsname", json!(base64(&[0xff; 64]))))).expect(400).says("geburtsname"),
        Case::new("integer beyond 5 bits", na, "POST", &link).auth(&key).json(&record_body(&with_field(fields, "geburtstag", json!(32)))).expect(400).says("geburtstag"),
        Case::new("negative integer", na, "POST", &link).auth(&key).json(&record_body(&with_field(fields, "geburtsjahr", json!("-1")))).expect(400).says("geburtsjahr"),
        Case::new("string longer than 40 bits", na, "POST", &link).auth(&key).json(&record_body(&with_field(fields, "plz", json!("123456")))).expect(400).says("plz"),
        Case::new("field not in the configuration", na, "POST", &link).auth(&key).json(&record_body(&with_field(fields, "firstname", Value::Null))).expect(401).says("unknown fields"),
        Case::new("configured field missing", na, "POST", &link).auth(&key).json(&record_body(&missing)).expect(401).says("missing fields"),
        Case::new("linkRecords without records", na, "POST", &links).auth(&key).json(&json!({"callback": {"url": "https://x.example/"}, "records": []})).expect(400),
        Case::new("linkRecords, record 1 bad", na, "POST", &links).auth(&key).json(&json!({"callback": {"url": "https://x.example/"}, "records": [{"fields": fields}, {"fields": with_field(fields, "vorname", json!("%%%"))}]})).expect(400).says("records[1]"),
        Case::new("cancel a finished job", na, "DELETE", format!("/jobs/{job}")).auth(&key).expect(409).says("final"),
    ];

    // ---- registry ----
    let ra = Registry(Which::A);
    let trigger = format!("/Communicator/linkMN/trigger/{SITE_B}");
    let cb = format!("/callbacks/link/{SITE_B}/{batch}");
    let page = format!("/getAllRecords/{SITE_B}");
    cases.extend([
        Case::new("trigger without key", ra, "POST", &trigger).expect(401),
        Case::new("trigger with a wrong key", ra, "POST", &trigger)
            .auth(fed_auth("nope"))
            .expect(401),
        Case::new("trigger with the node's key", ra, "GET", &trigger)
            .auth(a.local_auth())
            .expect(401),
        Case::new(
            "trigger with another registry's key",
            ra,
            "POST",
            "/Communicator/matchMN/trigger/SITE_B",
        )
        .auth(b.registry_auth())
        .expect(401),
        Case::new(
            "trigger towards an invalid remote id",
            ra,
            "POST",
            "/Communicator/linkMN/trigger/SITE-C",
        )
        .auth(a.registry_auth())
        .expect(400)
        .says("remote id"),
        Case::new(
            "trigger towards local",
            ra,
            "POST",
            "/Communicator/matchMN/trigger/local",
        )
        .auth(a.registry_auth())
        .expect(400),
        Case::new(
            "status without key",
            ra,
            "GET",
            format!("/Communicator/linkMN/status/{SITE_B}"),
        )
        .expect(401),
        Case::new(
            "status of an unknown remote",
            ra,
            "GET",
            "/Communicator/linkMN/status/SITE_C",
        )
        .auth(a.registry_auth())
        .expect(404),
        Case::new("getAllRecords without key", ra, "GET", &page).expect(401),
        Case::new(
            "getAllRecords, pagesize=0",
            ra,
            "GET",
            format!("{page}?pagesize=0"),
        )
        .auth(a.registry_auth())
        .expect(400)
        .says("pagesize"),
        Case::new("getAllRecords, page=0", ra, "GET", format!("{page}?page=0"))
            .auth(a.local_auth())
            .expect(400)
            .says("page"),
        Case::new(
            "getAllRecords, page=-1",
            ra,
            "GET",
            format!("{page}?page=-1"),
        )
        .auth(a.local_auth())
        .expect(400),
        Case::new(
            "getAllRecords, page=abc",
            ra,
            "GET",
            format!("{page}?page=abc"),
        )
        .auth(a.local_auth())
        .expect(400),
        Case::new(
            "getAllRecords, page twice",
            ra,
            "GET",
            format!("{page}?page=1&page=2"),
        )
        .auth(a.local_auth())
        .expect(400)
        .says("twice"),
        Case::new(
            "getAllRecords beyond the last page",
            ra,
            "GET",
            format!("{page}?pagesize=10&page=999"),
        )
        .auth(a.local_auth())
        .expect(404),
        Case::new(
            "getAllRecords, invalid requester",
            ra,
            "GET",
            "/getAllRecords/SITE%2FB",
        )
        .auth(a.local_auth())
        .expect(400),
        Case::new("getAllRecords with POST", ra, "POST", &page)
            .auth(a.local_auth())
            .expect(405),
        Case::new("registry unknown path", ra, "GET", "/jobs/list")
            .auth(a.registry_auth())
            .expect(404),
        Case::new("callback without key", ra, "POST", &cb)
            .json(&json!({"result": []}))
            .expect(401),
        Case::new("callback with the registry's key", ra, "POST", &cb)
            .auth(a.registry_auth())
            .json(&json!({"result": []}))
            .expect(401),
        Case::new(
            "callback for an unknown batch",
            ra,
            "POST",
            format!("/callbacks/link/{SITE_B}/nosuchbatch"),
        )
        .auth(a.local_auth())
        .json(&json!({"result": []}))
        .expect(404),
        Case::new("callback with one LID for a batch of many", ra, "POST", &cb)
            .auth(a.local_auth())
            .json(&json!({"result": [{"linkageId": "bGlk"}]}))
            .expect(400)
            .says("result(s)"),
        Case::new("callback with result and error", ra, "POST", &cb)
            .auth(a.local_auth())
            .json(&json!({"result": [], "error": "x"}))
            .expect(400),
        Case::new("callback over the registry's limit", ra, "POST", &cb)
            .auth(a.local_auth())
            .raw("application/json", vec![b' '; REGISTRY_CALLBACK_LIMIT + 1])
            .over_http2()
            .expect(413),
        Case::new("callback not JSON", ra, "POST", &cb)
            .auth(a.local_auth())
            .raw("application/json", "{")
            .expect(400),
        Case::new(
            "match callback to a link batch",
            ra,
            "POST",
            format!("/callbacks/match/{SITE_B}/{batch}"),
        )
        .auth(a.local_auth())
        .json(&json!({"result": {"matches": 1, "tentativeMatches": 1}}))
        .expect(404),
    ]);

    // ---- linkage service ----
    let result = format!("/linkageResult/{SITE_A}/{SITE_B}");
    let own = fed_auth(&a.ls_api_key);
    let post = ls_post();
    cases.extend([
        Case::new(
            "freshIDs without key",
            Ls,
            "GET",
            format!("/freshIDs/{SITE_A}?count=1"),
        )
        .expect(401),
        Case::new(
            "freshIDs with another site's key",
            Ls,
            "GET",
            format!("/freshIDs/{SITE_A}?count=1"),
        )
        .auth(fed_auth(&b.ls_api_key))
        .expect(401),
        Case::new(
            "freshIDs with a node's local key",
            Ls,
            "GET",
            format!("/freshIDs/{SITE_A}?count=1"),
        )
        .auth(&key)
        .expect(401),
        Case::new(
            "freshIDs without count",
            Ls,
            "GET",
            format!("/freshIDs/{SITE_A}"),
        )
        .auth(&own)
        .expect(400),
        Case::new(
            "freshIDs, count=0",
            Ls,
            "GET",
            format!("/freshIDs/{SITE_A}?count=0"),
        )
        .auth(&own)
        .expect(400),
        Case::new(
            "freshIDs, count=abc",
            Ls,
            "GET",
            format!("/freshIDs/{SITE_A}?count=abc"),
        )
        .auth(&own)
        .expect(400),
        Case::new(
            "freshIDs, count twice",
            Ls,
            "GET",
            format!("/freshIDs/{SITE_A}?count=1&count=2"),
        )
        .auth(&own)
        .expect(400),
        Case::new(
            "freshIDs above the maximum",
            Ls,
            "GET",
            format!("/freshIDs/{SITE_A}?count=1000001"),
        )
        .auth(&own)
        .expect(400),
        Case::new("linkageResult without key", Ls, "POST", &result)
            .json(&post)
            .expect(401),
        Case::new("linkageResult with another site's key", Ls, "POST", &result)
            .auth(fed_auth(&b.ls_api_key))
            .json(&post)
            .expect(401),
        Case::new(
            "linkageResult towards itself",
            Ls,
            "POST",
            format!("/linkageResult/{SITE_A}/{SITE_A}"),
        )
        .auth(&own)
        .json(&post)
        .expect(400),
        Case::new(
            "linkageResult towards an unregistered site",
            Ls,
            "POST",
            format!("/linkageResult/{SITE_A}/SITE_C"),
        )
        .auth(&own)
        .json(&post)
        .expect(400),
        Case::new(
            "linkageResult towards an invalid site id",
            Ls,
            "POST",
            format!("/linkageResult/{SITE_A}/SITE-B"),
        )
        .auth(&own)
        .json(&post)
        .expect(400),
        Case::new("linkageResult not JSON", Ls, "POST", &result)
            .auth(&own)
            .raw("application/json", "{\"role\":")
            .expect(400),
        Case::new("malformed jobTag", Ls, "POST", &result)
            .auth(&own)
            .json(&set(&post, "jobTag", json!("not-a-tag")))
            .expect(400)
            .says("jobTag"),
        Case::new("jobTag in upper case", Ls, "POST", &result)
            .auth(&own)
            .json(&set(&post, "jobTag", json!("AB".repeat(32))))
            .expect(400)
            .says("jobTag"),
        Case::new("jobTag too short", Ls, "POST", &result)
            .auth(&own)
            .json(&set(&post, "jobTag", json!("ab".repeat(31))))
            .expect(400)
            .says("jobTag"),
        Case::new("no jobTag", Ls, "POST", &result)
            .auth(&own)
            .json(&without(&post, "jobTag"))
            .expect(400)
            .says("jobTag"),
        Case::new("no queryRecords", Ls, "POST", &result)
            .auth(&own)
            .json(&without(&post, "queryRecords"))
            .expect(400)
            .says("queryRecords"),
        Case::new("role boss", Ls, "POST", &result)
            .auth(&own)
            .json(&set(&post, "role", json!("boss")))
            .expect(400),
        Case::new("match bit 2", Ls, "POST", &result)
            .auth(&own)
            .json(&set(
                &post,
                "result",
                json!([{"match": 2, "tentativeMatch": 0, "bestIndex": 0}]),
            ))
            .expect(400),
        Case::new("fewer results than queryRecords", Ls, "POST", &result)
            .auth(&own)
            .json(&set(&post, "queryRecords", json!(2)))
            .expect(400),
        Case::new("client sends ids", Ls, "POST", &result)
            .auth(&own)
            .json(&set(&post, "ids", json!(["AAAA"])))
            .expect(400),
        Case::new("server ids not LIDs", Ls, "POST", &result)
            .auth(&own)
            .json(&set(
                &set(&post, "role", json!("server")),
                "ids",
                json!(["not a lid"]),
            ))
            .expect(400)
            .says("ids[0]"),
        Case::new("LS test without key", Ls, "GET", "/test").expect(401),
        Case::new("LS test with a wrong key", Ls, "GET", "/test")
            .auth(fed_auth("x"))
            .expect(401),
        Case::new("LS wrong method", Ls, "DELETE", "/test")
            .auth(&own)
            .expect(405),
        Case::new("LS GET linkageResult", Ls, "GET", &result)
            .auth(&own)
            .expect(405),
        Case::new("LS unknown path", Ls, "GET", "/initLocal").expect(404),
    ]);
    cases
}

fn fed_auth(key: &str) -> String {
    e2e_tests::federation::auth(key)
}

async fn abuse() -> String {
    let mut fed = Federation::start(FederationOptions {
        label: "system-abuse",
        patients_a: 12,
        patients_b: 12,
        overlap: 4,
        node_args: vec!["--max-body-bytes".into(), BODY_LIMIT.to_string()],
        ..FederationOptions::default()
    })
    .await;
    let secrets: Vec<String> = [
        &fed.a.local_key,
        &fed.b.local_key,
        &fed.a.registry_key,
        &fed.b.registry_key,
        &fed.a.ls_api_key,
        &fed.b.ls_api_key,
        &fed.pair_key,
    ]
    .into_iter()
    .cloned()
    .collect();

    // Before initLocal: node A refuses everything and stays unconfigured.
    let before = fed.snapshot_state();
    let early = before_init_cases(&fed);
    let clients = Clients::new(&fed);
    run_table(&mut fed, &clients, &early, &before, &secrets).await;

    // Configured, with one finished linkage batch (a job, a callback and
    // LIDs in the registry) for the requests to aim at.
    fed.configure().await;
    let reply = fed.trigger(Which::A, "linkMN").await;
    fed.wait_for_batch(Which::A, "linkMN").await;
    let job = reply["job"]
        .as_str()
        .and_then(|j| j.strip_prefix("/jobs/"))
        .expect("the trigger names the job")
        .to_owned();
    let batch = reply["batch"].as_str().expect("batch").to_owned();
    // The node records the callback's delivery after the registry answered.
    fed.wait_for_job(Which::A, &job, &["DONE"]).await;
    e2e_tests::wait_for(
        "the callback delivery to be recorded",
        e2e_tests::federation::JOB_LIMIT,
        e2e_tests::federation::POLL,
        || {
            let fed = &fed;
            let job = job.clone();
            async move {
                let j = fed.job(Which::A, &job).await?;
                (j["callback_delivery"]["state"] == "delivered").then_some(())
            }
        },
    )
    .await;
    let fields = fed.registry_fields(Which::A, 1).await.remove(0);

    let view_before = observable(&fed).await;
    let before = fed.snapshot_state();
    let (files, bytes) = before.size();
    let mut secrets = secrets;
    if let Some(v) = fields["vorname"].as_str().filter(|v| v.len() > 8) {
        secrets.push(v.to_owned());
    }
    let cases = configured_cases(&fed, &fields, &job, &batch);
    run_table(&mut fed, &clients, &cases, &before, &secrets).await;

    check_http1_413(
        &fed,
        Target::Node(Which::A),
        format!("/linkRecord/{SITE_B}"),
        fed.a.local_auth(),
    )
    .await;
    check_http1_413(
        &fed,
        Target::Registry(Which::A),
        format!("/callbacks/link/{SITE_B}/{batch}"),
        fed.a.local_auth(),
    )
    .await;
    check_http1_413(
        &fed,
        Target::Ls,
        format!("/linkageResult/{SITE_A}/{SITE_B}"),
        fed_auth(&fed.a.ls_api_key),
    )
    .await;
    let changed = fed.snapshot_state().changed_since(&before);
    assert!(changed.is_empty(), "a 413 over HTTP/1.1 wrote: {changed:?}");

    // Idle for a moment, then once more: nothing was written late either.
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let changed = fed.snapshot_state().changed_since(&before);
    assert!(
        changed.is_empty(),
        "state changed after the table: {changed:?}"
    );
    let view_after = observable(&fed).await;
    assert_eq!(view_before, view_after, "the observable state changed");

    // A trigger towards a remote the node does not know: the registry
    // records the refused batch (by design, see the module doc); nothing
    // else is written anywhere.
    let registry_dir = fed.a.registry_dir.clone();
    let others_before: Vec<StateSnapshot> = fed
        .state_dirs()
        .iter()
        .filter(|(_, d)| *d != registry_dir)
        .map(|(_, d)| before.under(d))
        .collect();
    let unknown = Case::new(
        "trigger towards an unknown remote",
        Target::Registry(Which::A),
        "POST",
        "/Communicator/linkMN/trigger/SITE_C",
    )
    .auth(fed.a.registry_auth())
    .expect(502)
    .says("unknown remote");
    check(&fed, &clients, &unknown, &secrets).await;
    let now = fed.snapshot_state();
    for (dir_before, (_, dir)) in others_before
        .iter()
        .zip(fed.state_dirs().iter().filter(|(_, d)| *d != registry_dir))
    {
        let changed = now.under(dir).changed_since(dir_before);
        assert!(changed.is_empty(), "{}: wrote {changed:?}", unknown.what);
    }
    assert_eq!(
        observable(&fed).await,
        view_after,
        "{}: the observable state changed",
        unknown.what
    );

    let count =
        |t: fn(&Target) -> bool| early.iter().chain(&cases).filter(|c| t(&c.target)).count();
    // The table, + one HTTP/1.1 413 each, + the unknown-remote trigger.
    let node = count(|t| matches!(t, Target::Node(_))) + 1;
    let registry = count(|t| matches!(t, Target::Registry(_))) + 2;
    let ls = count(|t| matches!(t, Target::Ls)) + 1;
    format!(
        "{} requests (node {node}, registry {registry}, LS {ls}) answered per SPEC; {files} store files ({} KiB) byte-identical after each but one",
        node + registry + ls,
        bytes / 1024
    )
}
