//! The de-identification service over real HTTP (port 0): health, keys,
//! limits, categories, `/pii/deidentify` and the page, every status code the
//! service owns, what is stored (hashes, sealed) and what survives a
//! restart. The last test runs `sel-node deid serve` itself over TLS.

mod deid_support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use reqwest::{Client, Response, StatusCode};
use rustls::pki_types::pem::PemObject;
use sel_node::deid::service::store::{KeyRecord, STORE_FILE, service_store_key};
use sel_node::deid::service::{
    DeidSecrets, DeidService, MAX_TEXT_CHARS, MasterKey, MemoryServiceStore, RedbServiceStore,
    ServiceConfig, SharedStore, Tokenizer, TokenizerError, routes, serve,
};
use sel_node::https::RunningServer;
use sel_node::seal::NodeKey;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const MASTER: &str = "test-master-key-0123456789";
/// A note with one SSN, one phone number, one date and one person.
const NOTE: &str =
    "Patient: Eleanor Whitfield, SSN 412-55-7891, seen 04/02/2026, phone (617) 555-0134.";

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "deid-service-{name}-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

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

/// A running service (plain HTTP, as with `--insecure-http`).
struct Service {
    service: Arc<DeidService>,
    server: RunningServer,
    base: String,
    http: Client,
}

impl Service {
    async fn start(config: ServiceConfig, store: SharedStore) -> Service {
        let master = MasterKey::new(MASTER.into()).unwrap();
        let secrets = DeidSecrets::from_root(&[7; 32]).unwrap();
        let service = DeidService::new(config, store, master, secrets).unwrap();
        Self::serve(service).await
    }

    async fn serve(service: Arc<DeidService>) -> Service {
        let server = serve(
            "127.0.0.1:0".parse().unwrap(),
            None,
            routes(service.clone(), Vec::new()),
        )
        .await
        .unwrap();
        Service {
            base: format!("http://{}", server.local_addr()),
            service,
            server,
            http: client(),
        }
    }

    async fn memory() -> Service {
        Self::start(
            ServiceConfig::default(),
            Arc::new(MemoryServiceStore::new()),
        )
        .await
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn get(&self, path: &str, key: Option<&str>) -> Response {
        let mut r = self.http.get(self.url(path));
        if let Some(k) = key {
            r = r.header("API-Key", k);
        }
        r.send().await.unwrap()
    }

    async fn post(&self, path: &str, key: Option<&str>, body: &Value) -> Response {
        let mut r = self.http.post(self.url(path)).json(body);
        if let Some(k) = key {
            r = r.header("API-Key", k);
        }
        r.send().await.unwrap()
    }

    async fn delete(&self, path: &str, key: Option<&str>) -> Response {
        let mut r = self.http.delete(self.url(path));
        if let Some(k) = key {
            r = r.header("API-Key", k);
        }
        r.send().await.unwrap()
    }

    /// Creates a named key with the master key; returns (key_id, api_key).
    async fn new_key(&self, label: &str) -> (String, String) {
        let r = self
            .post("/admin/keys", Some(MASTER), &json!({ "label": label }))
            .await;
        assert_eq!(r.status(), 201);
        let body: Value = r.json().await.unwrap();
        (
            body["key_id"].as_str().unwrap().to_string(),
            body["api_key"].as_str().unwrap().to_string(),
        )
    }

    async fn deidentify(&self, body: &Value) -> (StatusCode, Value) {
        let r = self.post("/pii/deidentify", Some(MASTER), body).await;
        let status = r.status();
        (status, r.json().await.unwrap())
    }

    async fn stop(self) -> Arc<DeidService> {
        self.server.shutdown().await;
        self.service
    }
}

/// The status and `detail` of an error answer (which must be JSON).
async fn detail(r: Response) -> (StatusCode, String) {
    let status = r.status();
    let body: Value = r.json().await.expect("error bodies are JSON");
    let detail = body["detail"]
        .as_str()
        .expect("error bodies carry a detail")
        .to_string();
    (status, detail)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn health_needs_no_key_and_unknown_paths_and_methods_are_json_errors() {
    let s = Service::memory().await;
    let r = s.get("/health", None).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["cache-control"],
        "no-store",
        "answers may hold PHI"
    );
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], "healthy");

    let (status, _) = detail(s.get("/no/such/path", Some(MASTER)).await).await;
    assert_eq!(status, 404);
    let (status, d) = detail(s.delete("/health", None).await).await;
    assert_eq!(
        (status, d.as_str()),
        (StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed")
    );
    let (status, _) = detail(s.get("/pii/deidentify", Some(MASTER)).await).await;
    assert_eq!(status, 405);
    s.stop().await;
}

#[tokio::test]
async fn keys_are_required_in_either_header_and_refused_when_bad() {
    let s = Service::memory().await;
    let (status, d) = detail(s.get("/phi-categories", None).await).await;
    assert_eq!(status, 401);
    assert!(d.contains("missing API key"), "{d}");
    let (status, d) = detail(s.get("/phi-categories", Some("wrong-key-0123456789")).await).await;
    assert_eq!(status, 401);
    assert!(!d.contains("wrong-key"), "the key is never echoed: {d}");

    for header in ["API-Key", "X-API-Key"] {
        let r = s
            .http
            .get(s.url("/admin/keys/me"))
            .header(header, MASTER)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{header}");
        let me: Value = r.json().await.unwrap();
        assert_eq!(me, json!({ "label": "env_master_key", "key_id": null }));
    }
    // API-Key is checked first: a good X-API-Key does not rescue a bad one.
    let r = s
        .http
        .get(s.url("/admin/keys/me"))
        .header("API-Key", "wrong-key-0123456789")
        .header("X-API-Key", MASTER)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    s.stop().await;
}

#[tokio::test]
async fn named_keys_are_shown_once_listed_without_secrets_and_revocable() {
    let dir = TempDir::new("keys");
    let path = dir.path().join(STORE_FILE);
    let node_key = NodeKey::from_bytes(&[3; 32]);
    let store: SharedStore =
        Arc::new(RedbServiceStore::open(&path, service_store_key(&node_key)).unwrap());
    let s = Service::start(ServiceConfig::default(), store).await;

    let r = s
        .post(
            "/admin/keys",
            Some(MASTER),
            &json!({ "label": "data-pipeline", "expires_in_days": 30 }),
        )
        .await;
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.unwrap();
    let api_key = created["api_key"].as_str().unwrap().to_string();
    let key_id = created["key_id"].as_str().unwrap().to_string();
    assert!(api_key.starts_with("dei_"));
    assert_eq!(created["label"], "data-pipeline");
    assert!(created["expires_at"].is_string());
    assert!(
        created["warning"]
            .as_str()
            .unwrap()
            .contains("not be shown again")
    );

    // The named key works, in either header, and knows who it is.
    let r = s
        .http
        .get(s.url("/admin/keys/me"))
        .header("X-API-Key", &api_key)
        .send()
        .await
        .unwrap();
    let me: Value = r.json().await.unwrap();
    assert_eq!(me, json!({ "label": "data-pipeline", "key_id": key_id }));
    assert_eq!(s.get("/phi-categories", Some(&api_key)).await.status(), 200);

    // Only the master key manages keys.
    let (status, _) = detail(s.get("/admin/keys", Some(&api_key)).await).await;
    assert_eq!(status, 403);
    let (status, _) = detail(
        s.post("/admin/keys", Some(&api_key), &json!({ "label": "mine" }))
            .await,
    )
    .await;
    assert_eq!(status, 403);

    // The list has metadata only.
    let list = s
        .get("/admin/keys", Some(MASTER))
        .await
        .text()
        .await
        .unwrap();
    assert!(list.contains(&key_id) && list.contains("data-pipeline"));
    assert!(!list.contains(&api_key), "the key is shown only once");
    let digest = Sha256::digest(api_key.as_bytes());
    assert!(!list.contains(&hex(&digest)), "nor its hash");

    // The file holds neither the key nor its hash (nor the label: sealed).
    let bytes = std::fs::read(&path).unwrap();
    let contains = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    assert!(!contains(api_key.as_bytes()));
    assert!(!contains(&api_key.as_bytes()[4..20]));
    assert!(!contains(digest.as_slice()));
    assert!(!contains(hex(&digest).as_bytes()));
    assert!(!contains(b"data-pipeline"));

    // Revocation: unknown id 404, then the key stops working at once.
    let (status, _) = detail(
        s.delete(
            "/admin/keys/00000000-0000-4000-8000-000000000000",
            Some(MASTER),
        )
        .await,
    )
    .await;
    assert_eq!(status, 404);
    let r = s
        .delete(&format!("/admin/keys/{key_id}"), Some(MASTER))
        .await;
    assert_eq!(r.status(), 200);
    let revoked: Value = r.json().await.unwrap();
    assert_eq!(revoked["status"], "revoked");
    let (status, d) = detail(s.get("/phi-categories", Some(&api_key)).await).await;
    assert_eq!(status, 401);
    assert!(d.contains("revoked"), "{d}");

    // After a restart the revoked key stays revoked, and still listed.
    s.stop().await;
    let store: SharedStore =
        Arc::new(RedbServiceStore::open(&path, service_store_key(&node_key)).unwrap());
    let s = Service::start(ServiceConfig::default(), store).await;
    assert_eq!(s.get("/phi-categories", Some(&api_key)).await.status(), 401);
    let list: Value = s
        .get("/admin/keys", Some(MASTER))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["keys"][0]["status"], "revoked");
    s.stop().await;
}

#[tokio::test]
async fn key_requests_are_validated() {
    let s = Service::memory().await;
    for days in [0, -1, 3651] {
        let (status, d) = detail(
            s.post(
                "/admin/keys",
                Some(MASTER),
                &json!({ "label": "x", "expires_in_days": days }),
            )
            .await,
        )
        .await;
        assert_eq!(status, 422, "{days}: {d}");
    }
    for days in [1, 3650] {
        let r = s
            .post(
                "/admin/keys",
                Some(MASTER),
                &json!({ "name": "y", "expires_in_days": days }),
            )
            .await;
        assert_eq!(r.status(), 201, "{days}");
    }
    let (status, _) = detail(
        s.post("/admin/keys", Some(MASTER), &json!({ "label": "" }))
            .await,
    )
    .await;
    assert_eq!(status, 422);
    let (status, _) = detail(s.post("/admin/keys", Some(MASTER), &json!({})).await).await;
    assert_eq!(status, 422);
    let r = s
        .http
        .post(s.url("/admin/keys"))
        .header("API-Key", MASTER)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(detail(r).await.0, 400);
    s.stop().await;
}

#[tokio::test]
async fn expired_keys_are_refused() {
    let store = Arc::new(MemoryServiceStore::new());
    let expired = "dei_an-expired-key-for-the-test-000000000";
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    use sel_node::deid::service::ServiceStore;
    store
        .put_key(&KeyRecord {
            key_id: "11111111-1111-4111-8111-111111111111".into(),
            label: "old".into(),
            hash: Sha256::digest(expired.as_bytes()).into(),
            created_at: now - 10 * 86_400,
            expires_at: Some(now - 86_400),
            revoked_at: None,
        })
        .unwrap();
    let s = Service::start(ServiceConfig::default(), store).await;
    let (status, d) = detail(s.get("/phi-categories", Some(expired)).await).await;
    assert_eq!(status, 401);
    assert!(d.contains("expired"), "{d}");
    let list: Value = s
        .get("/admin/keys", Some(MASTER))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["keys"][0]["status"], "expired");
    s.stop().await;
}

#[tokio::test]
async fn each_key_has_its_own_rate_limit() {
    let config = ServiceConfig {
        rate_limit_per_minute: 1,
        rate_limit_burst: 2,
        ..ServiceConfig::default()
    };
    let s = Service::start(config, Arc::new(MemoryServiceStore::new())).await;
    let (_, named) = s.new_key("burst").await; // one master request
    assert_eq!(s.get("/phi-categories", Some(&named)).await.status(), 200);
    assert_eq!(s.get("/phi-categories", Some(&named)).await.status(), 200);
    let r = s.get("/phi-categories", Some(&named)).await;
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert!(detail(r).await.1.contains("rate limit"));
    // The master key's bucket is its own (one token left).
    assert_eq!(s.get("/phi-categories", Some(MASTER)).await.status(), 200);
    // Refused keys are refused before the limiter counts anything.
    assert_eq!(
        s.get("/phi-categories", Some("bad-key-0123456789"))
            .await
            .status(),
        401
    );
    s.stop().await;
}

#[tokio::test]
async fn bodies_over_the_cap_are_413_and_texts_over_the_limit_422() {
    let config = ServiceConfig {
        max_body_bytes: 2048,
        ..ServiceConfig::default()
    };
    let s = Service::start(config, Arc::new(MemoryServiceStore::new())).await;
    let big = "a".repeat(4096);
    let (status, _) = detail(
        s.post("/pii/deidentify", Some(MASTER), &json!({ "text": big }))
            .await,
    )
    .await;
    assert_eq!(status, 413);
    // An unknown key is told 401, not about the cap.
    let (status, _) = detail(
        s.post(
            "/pii/deidentify",
            Some("bad-key-0123456789"),
            &json!({ "text": big }),
        )
        .await,
    )
    .await;
    assert_eq!(status, 401);
    s.stop().await;

    // The default cap takes the longest text; one character more is 422.
    let s = Service::memory().await;
    let longest = "ab ".repeat(MAX_TEXT_CHARS / 3) + &"c".repeat(MAX_TEXT_CHARS % 3);
    assert_eq!(longest.chars().count(), MAX_TEXT_CHARS);
    let (status, body) = s.deidentify(&json!({ "text": longest })).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result_text"].as_str().unwrap().len(), longest.len());
    let (status, body) = s.deidentify(&json!({ "text": longest + "d" })).await;
    assert_eq!(status, 422);
    assert!(body["detail"].as_str().unwrap().contains("500000"));
    s.stop().await;
}

fn entity<'a>(body: &'a Value, label: &str) -> &'a Value {
    body["entities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["label"] == label)
        .unwrap_or_else(|| panic!("no {label} in {body}"))
}

#[tokio::test]
async fn deidentify_applies_the_default_policy_and_each_override() {
    let s = Service::memory().await;
    let salt = s.service.secrets().hash_salt().to_vec();
    let ssn_hash = format!(
        "SSN_HASH:{}",
        hex(&Sha256::new()
            .chain_update(&salt)
            .chain_update(b"412-55-7891")
            .finalize())
    );

    let (status, body) = s.deidentify(&json!({ "text": NOTE })).await;
    assert_eq!(status, 200, "{body}");
    let out = body["result_text"].as_str().unwrap();
    assert!(out.contains(&ssn_hash), "{out}");
    assert!(out.contains("[REDACTED:PERSON]"), "{out}");
    assert!(out.contains("**********"), "date masked: {out}");
    assert!(out.contains("**************"), "phone masked: {out}");
    assert!(!out.contains("Whitfield") && !out.contains("555-0134"));
    let ssn = entity(&body, "SSN");
    assert_eq!(ssn["text"], "412-55-7891");
    assert_eq!(ssn["action"], "hash");
    let start = ssn["start"].as_u64().unwrap() as usize;
    let end = ssn["end"].as_u64().unwrap() as usize;
    assert_eq!(
        &NOTE[start..end],
        "412-55-7891",
        "offsets are characters (ASCII here)"
    );
    assert!(body["time_ms"].is_number());

    for (action, expected) in [
        ("mask", "***********".to_string()),
        ("hash", ssn_hash.clone()),
        ("redact", "[REDACTED:SSN]".to_string()),
        ("keep", "412-55-7891".to_string()),
    ] {
        let (status, body) = s
            .deidentify(&json!({ "text": NOTE, "policy": { "SSN": action } }))
            .await;
        assert_eq!(status, 200);
        let out = body["result_text"].as_str().unwrap();
        assert!(out.contains(&format!("SSN {expected},")), "{action}: {out}");
        assert_eq!(entity(&body, "SSN")["action"], action);
    }
    // Lower-case labels and a default action for the rest.
    let (_, body) = s
        .deidentify(
            &json!({ "text": NOTE, "policy": { "person": "keep" }, "default_action": "keep" }),
        )
        .await;
    assert!(
        body["result_text"]
            .as_str()
            .unwrap()
            .contains("Eleanor Whitfield")
    );

    // Validation: unknown action 422, bad label 422, malformed JSON 400.
    let (status, body) = s
        .deidentify(&json!({ "text": NOTE, "policy": { "SSN": "shred" } }))
        .await;
    assert_eq!(status, 422, "{body}");
    let (status, _) = s
        .deidentify(&json!({ "text": NOTE, "policy": { "S-N": "mask" } }))
        .await;
    assert_eq!(status, 422);
    let (status, _) = s.deidentify(&json!({ "txt": NOTE })).await;
    assert_eq!(status, 422);
    let r = s
        .http
        .post(s.url("/pii/deidentify"))
        .header("API-Key", MASTER)
        .body("{\"text\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(detail(r).await.0, 400);

    // The token action without a token service: 501.
    let (status, body) = s
        .deidentify(&json!({ "text": NOTE, "policy": { "SSN": "token" } }))
        .await;
    assert_eq!(status, 501, "{body}");
    s.stop().await;
}

/// A token service for the extension point: HMAC-free and deterministic
/// (the real one, with its stores, is the token part's).
struct CountingTokenizer;

impl Tokenizer for CountingTokenizer {
    fn token_for(&self, label: &str, value: &str) -> Result<String, TokenizerError> {
        Ok(format!("PHI__{label}__{:012}", value.len()))
    }
}

#[tokio::test]
async fn the_token_action_uses_the_plugged_in_tokenizer() {
    let s = Service::memory().await;
    assert!(s.service.set_tokenizer(Arc::new(CountingTokenizer)));
    assert!(!s.service.set_tokenizer(Arc::new(CountingTokenizer)));
    let (status, body) = s
        .deidentify(&json!({ "text": NOTE, "policy": { "SSN": "token" } }))
        .await;
    assert_eq!(status, 200);
    assert!(
        body["result_text"]
            .as_str()
            .unwrap()
            .contains("SSN PHI__SSN__000000000011,"),
        "{body}"
    );
    assert_eq!(entity(&body, "SSN")["action"], "token");
    s.stop().await;
}

#[tokio::test]
async fn categories_are_validated_persisted_and_effective_at_once() {
    let dir = TempDir::new("categories");
    let path = dir.path().join(STORE_FILE);
    let node_key = NodeKey::from_bytes(&[4; 32]);
    let open = || -> SharedStore {
        Arc::new(RedbServiceStore::open(&path, service_store_key(&node_key)).unwrap())
    };
    let s = Service::start(ServiceConfig::default(), open()).await;
    let note = json!({ "text": "Moved to WARD-1234 today." });

    let list: Value = s
        .get("/phi-categories", Some(MASTER))
        .await
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = list["categories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"ssn") && names.contains(&"person"),
        "{names:?}"
    );
    let (_, before) = s.deidentify(&note).await;
    assert!(
        before["entities"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["label"] != "WARD_CODE")
    );

    let ward = json!({
        "name": "ward_code",
        "description": "Internal ward code",
        "regex": r"\bWARD-\d{4}\b",
    });
    let r = s.post("/phi-categories", Some(MASTER), &ward).await;
    assert_eq!(r.status(), 201);
    let list: Value = r.json().await.unwrap();
    let added = list["categories"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "ward_code")
        .expect("the full list holds the new category");
    assert_eq!(added["builtin"], false);
    assert_eq!(added["description"], "Internal ward code");
    assert!(
        list["categories"].as_array().unwrap().len() > 10,
        "the full list"
    );
    // Effective at once, for the very next request, and for the engine
    // the other parts share.
    let (_, after) = s.deidentify(&note).await;
    assert_eq!(after["result_text"], "Moved to [REDACTED:WARD_CODE] today.");
    assert!(
        s.service
            .engine()
            .current()
            .detect("WARD-9999")
            .iter()
            .any(|f| f.label == "WARD_CODE")
    );

    for (body, status) in [
        (ward.clone(), 409),
        (json!({ "name": "ssn", "regex": "x+" }), 409),
        (json!({ "name": "Ward", "regex": "x+" }), 422),
        (json!({ "name": "1ward", "regex": "x+" }), 422),
        (json!({ "name": "bad_regex", "regex": "(" }), 422),
        (json!({ "name": "empty_match", "regex": "a*" }), 422),
        (json!({ "name": "nothing" }), 422),
    ] {
        let (got, d) = detail(s.post("/phi-categories", Some(MASTER), &body).await).await;
        assert_eq!(got, status, "{body}: {d}");
    }
    assert_eq!(
        detail(s.delete("/phi-categories/no_such", Some(MASTER)).await)
            .await
            .0,
        404
    );
    assert_eq!(
        detail(s.delete("/phi-categories/ssn", Some(MASTER)).await)
            .await
            .0,
        409
    );
    assert_eq!(
        detail(s.delete("/phi-categories/no_such", None).await)
            .await
            .0,
        401
    );

    // Persisted: a new service on the same file detects it at once.
    s.stop().await;
    let s = Service::start(ServiceConfig::default(), open()).await;
    let (_, restarted) = s.deidentify(&note).await;
    assert_eq!(
        restarted["result_text"],
        "Moved to [REDACTED:WARD_CODE] today."
    );

    let r = s.delete("/phi-categories/ward_code", Some(MASTER)).await;
    assert_eq!(r.status(), 200);
    let list: Value = r.json().await.unwrap();
    assert!(
        list["categories"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["name"] != "ward_code")
    );
    let (_, removed) = s.deidentify(&note).await;
    assert_eq!(removed["result_text"], "Moved to WARD-1234 today.");
    s.stop().await;
    let s = Service::start(ServiceConfig::default(), open()).await;
    let (_, still_removed) = s.deidentify(&note).await;
    assert_eq!(still_removed["result_text"], "Moved to WARD-1234 today.");
    s.stop().await;
}

#[tokio::test]
async fn the_page_is_served_with_only_same_origin_resources() {
    let s = Service::memory().await;
    for path in ["/", "/ui"] {
        let r = s.get(path, None).await;
        assert_eq!(r.status(), 200, "{path}");
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        let csp = r.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_string();
        let html = r.text().await.unwrap();
        for id in [
            r#"id="key""#,
            r#"id="text""#,
            r#"id="redact""#,
            r#"id="entities""#,
            r#"id="result""#,
        ] {
            assert!(html.contains(id), "{id}");
        }
        assert!(html.contains("<tbody>"));
        // Nothing is loaded from elsewhere: no src/href attributes at all,
        // no absolute URL, and the one request goes to this origin.
        for forbidden in [
            "src=", "href=", "http://", "https://", "//cdn", "@import", "url(",
        ] {
            assert!(!html.contains(forbidden), "{forbidden}");
        }
        assert!(html.contains(r#"fetch("/pii/deidentify""#));
        assert!(html.contains("sessionStorage"));
        // The CSP allows exactly the inline script and style.
        assert!(csp.contains("default-src 'none'"), "{csp}");
        assert!(csp.contains("connect-src 'self'"), "{csp}");
        let inline = |open: &str, close: &str| {
            let start = html.find(open).unwrap() + open.len();
            let end = start + html[start..].find(close).unwrap();
            html[start..end].to_string()
        };
        use base64::Engine as _;
        let b64 = |s: &str| {
            base64::engine::general_purpose::STANDARD.encode(Sha256::digest(s.as_bytes()))
        };
        assert!(csp.contains(&format!(
            "script-src 'sha256-{}'",
            b64(&inline("<script>", "</script>"))
        )));
        assert!(csp.contains(&format!(
            "style-src 'sha256-{}'",
            b64(&inline("<style>", "</style>"))
        )));
    }
    assert_eq!(s.post("/ui", None, &json!({})).await.status(), 405);
    s.stop().await;
}

/// `sel-node deid serve --config node.toml`: TLS with the node's
/// (self-signed) certificate, master key from the configured variable.
#[tokio::test]
async fn the_binary_serves_the_service_alone_over_tls() {
    let dir = TempDir::new("binary");
    let config = deid_config(dir.path());
    let mut child: Child = Command::new(env!("CARGO_BIN_EXE_sel-node"))
        .args(["deid", "serve", "--config"])
        .arg(&config)
        .env("RUST_LOG", "info")
        .env("DEID_TEST_MASTER", MASTER)
        .env_remove("SEL_NODE_KEY")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("the service logs its address before its stderr ends")
            .unwrap();
        assert!(!line.contains(MASTER), "the master key is never logged");
        if line.contains("de-id service started") {
            let at = line.find("deid=").unwrap() + 5;
            break line[at..].split_whitespace().next().unwrap().to_owned();
        }
    };
    let rest = std::thread::spawn(move || lines.map_while(Result::ok).collect::<Vec<_>>());
    let cert = std::fs::read(dir.path().join("tls/cert.pem")).unwrap();
    let cert = rustls::pki_types::CertificateDer::from_pem_slice(&cert).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).unwrap();
    let mut tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    tls.alpn_protocols = vec![b"h2".to_vec()];
    let http = Client::builder()
        .tls_backend_preconfigured(tls)
        .build()
        .unwrap();
    let port = addr.rsplit(':').next().unwrap();
    let base = format!("https://localhost:{port}");
    assert_eq!(
        http.get(format!("{base}/health"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let r = http
        .post(format!("{base}/pii/deidentify"))
        .header("X-API-Key", MASTER)
        .json(&json!({ "text": NOTE }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // HTTP/2 (ALPN): bodies declare their length there too, as required.
    assert_eq!(r.version(), reqwest::Version::HTTP_2);
    let body: Value = r.json().await.unwrap();
    assert!(
        !body["result_text"]
            .as_str()
            .unwrap()
            .contains("412-55-7891")
    );
    // Plain HTTP is not served on the TLS port.
    assert!(
        client()
            .get(format!("http://{addr}/health"))
            .send()
            .await
            .is_err()
    );
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(child.wait().unwrap().success(), "a SIGTERM stop is clean");
    assert!(dir.path().join(STORE_FILE).exists());
    // The log has the requests (method, path, status) and no text, value or key.
    let log = rest.join().unwrap().join("\n");
    assert!(log.contains("/pii/deidentify"), "{log}");
    for secret in ["412-55-7891", "Whitfield", MASTER] {
        assert!(!log.contains(secret), "{secret} was logged");
    }
}

/// A node.toml with a `[deid]` section listening on port 0.
fn deid_config(dir: &Path) -> PathBuf {
    deid_support::deid_config(dir, "DEID_TEST_MASTER")
}

/// `sel-node serve` starts the de-id service on its own listener when
/// `[deid] listen` is set.
#[tokio::test]
async fn the_node_starts_the_service_beside_its_api() {
    let dir = TempDir::new("node");
    let config = deid_config(dir.path());
    let mut child = Command::new(env!("CARGO_BIN_EXE_sel-node"))
        .args(["serve", "--insecure-http", "--api-listen", "127.0.0.1:0"])
        .args(["--peer-listen", "127.0.0.1:0", "--config"])
        .arg(&config)
        .env("RUST_LOG", "info")
        .env("DEID_TEST_MASTER", MASTER)
        .env_remove("SEL_NODE_KEY")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let (mut deid, mut api) = (None, None);
    while api.is_none() {
        let line = lines.next().expect("the node logs its addresses").unwrap();
        let field = |name: &str| {
            line.find(name).map(|at| {
                line[at + name.len()..]
                    .split_whitespace()
                    .next()
                    .unwrap()
                    .to_owned()
            })
        };
        if line.contains("de-id service started") {
            deid = field("deid=");
        }
        if line.contains("node started") {
            api = field("api=");
        }
    }
    std::thread::spawn(move || for _ in lines {});
    let (deid, api) = (
        deid.expect("the service started before the node"),
        api.unwrap(),
    );
    assert_ne!(deid, api);
    let http = client();
    let r = http
        .get(format!("http://{deid}/admin/keys/me"))
        .header("API-Key", MASTER)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // The PHI processing API is mounted behind the same keys: an unkeyed
    // call is refused, and the `token` action of /pii/deidentify writes
    // tokens that /deanonymize/phi of the token-based backend restores.
    let r = http
        .post(format!("http://{deid}/anonymize/phi"))
        .json(&json!({ "text": NOTE }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = http
        .post(format!("http://{deid}/pii/deidentify"))
        .header("API-Key", MASTER)
        .json(&json!({ "text": NOTE, "policy": {
            "PERSON": "token", "SSN": "token", "DATE": "token", "PHONE": "token"
        } }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    let tokenized = body["result_text"].as_str().unwrap().to_owned();
    assert!(tokenized.contains("PHI__"), "{tokenized}");
    assert!(!tokenized.contains("412-55-7891"), "{tokenized}");
    let r = http
        .post(format!(
            "http://{deid}/deanonymize/phi?storage_type=DynamoDBTokenBased"
        ))
        .header("API-Key", MASTER)
        .json(&json!({ "anonymized_text": tokenized }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    let restored = body["deanonymized_text"].as_str().unwrap();
    assert!(restored.contains("412-55-7891"), "{restored}");
    // Async jobs are mounted too, behind the same keys.
    let r = http
        .post(format!("http://{deid}/jobs"))
        .header("API-Key", MASTER)
        .json(&json!({ "documents": [{ "id": "n1", "text": NOTE }], "method": "mask" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let job: Value = r.json().await.unwrap();
    let id = job["id"].as_str().unwrap().to_owned();
    let mut status = Value::Null;
    for _ in 0..600 {
        status = http
            .get(format!("http://{deid}/jobs/{id}"))
            .header("API-Key", MASTER)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if status["status"] == "done" || status["status"] == "failed" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(status["status"], "done", "{status}");
    assert_eq!(status["processed_count"], 1, "{status}");
    // The SEL API does not serve the de-id paths, nor the reverse.
    assert_eq!(
        http.get(format!("http://{api}/phi-categories"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(child.wait().unwrap().success());
}

#[test]
fn the_service_does_not_start_without_its_master_key_or_listener() {
    let dir = TempDir::new("nokey");
    let config = deid_config(dir.path());
    let out = Command::new(env!("CARGO_BIN_EXE_sel-node"))
        .args(["deid", "serve", "--config"])
        .arg(&config)
        .env_remove("DEID_TEST_MASTER")
        .env_remove("SEL_NODE_KEY")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("DEID_TEST_MASTER"), "{err}");

    let bare = dir.path().join("bare.toml");
    std::fs::write(&bare, "").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sel-node"))
        .args(["deid", "serve", "--config"])
        .arg(&bare)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("listen"));
}

/// A body without `Content-Length` (chunked) could not be bounded before it
/// is read: 411.
#[tokio::test]
async fn chunked_bodies_are_refused() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = Service::memory().await;
    let mut stream = tokio::net::TcpStream::connect(s.server.local_addr())
        .await
        .unwrap();
    let request = format!(
        "POST /pii/deidentify HTTP/1.1\r\nHost: x\r\nAPI-Key: {MASTER}\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\n{{\"te\r\n0\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 411"), "{answer}");
    assert!(
        answer.contains(r#"{"detail":"Content-Length required"}"#),
        "{answer}"
    );
    s.stop().await;
}

/// Two additions of one name at once: one is added, the other is told 409.
#[tokio::test]
async fn concurrent_additions_of_one_category_conflict() {
    let s = Service::memory().await;
    let body = json!({ "name": "study_id", "regex": r"\bSTU-\d{6}\b" });
    let (a, b) = tokio::join!(
        s.post("/phi-categories", Some(MASTER), &body),
        s.post("/phi-categories", Some(MASTER), &body)
    );
    let mut statuses = [a.status().as_u16(), b.status().as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 409]);
    let (_, out) = s
        .deidentify(&json!({ "text": "Enrolled as STU-123456." }))
        .await;
    assert_eq!(out["result_text"], "Enrolled as [REDACTED:STUDY_ID].");
    s.stop().await;
}
