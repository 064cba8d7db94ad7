//! Shared harness of the REST API tests: a real `JobManager` on an in-memory
//! store, the API served on 127.0.0.1 port 0 (plain HTTP as with
//! `--insecure-http`, or TLS under a throw-away rcgen CA), and a reqwest
//! client with verification on.
//!
//! The manager is never started (no peer, data service or linkage service),
//! so submitted jobs stay QUEUED: the tests assert on what the API decides.

#![allow(dead_code)]

use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use reqwest::{Method, Response};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use sel_node::api::{ApiLimits, RunningApi, serve};
use sel_node::jobs::JobManager;
use sel_node::seal::NodeKey;
use sel_node::settings::Settings;
use sel_node::store::{MemoryStore, NodeStore};
use serde_json::{Value, json};

/// The local key every test configures first.
pub const KEY: &str = "local-Key_123";
/// A remote with a linkage service and matching allowed.
pub const REMOTE: &str = "DKFZ";
/// A remote without a linkage service, matching not allowed.
pub const BARE: &str = "BARE";

pub fn limits() -> ApiLimits {
    ApiLimits {
        max_body_bytes: 64 * 1024,
    }
}

/// A job manager on a fresh in-memory store.
pub fn manager(settings: Settings) -> Arc<JobManager> {
    let key = Arc::new(NodeKey::from_bytes(&rand::random::<[u8; 32]>()));
    let store: Arc<dyn NodeStore> = Arc::new(MemoryStore::new());
    JobManager::new(settings, store, key).expect("job manager starts on an empty store")
}

pub struct Node {
    pub manager: Arc<JobManager>,
    pub api: RunningApi,
    pub base: String,
    pub client: reqwest::Client,
}

impl Node {
    /// Plain HTTP (`--insecure-http`), default settings.
    pub async fn plain() -> Node {
        Node::plain_with(Settings::default(), limits()).await
    }

    pub async fn plain_with(settings: Settings, limits: ApiLimits) -> Node {
        let manager = manager(settings);
        let api = serve(
            "127.0.0.1:0".parse().unwrap(),
            None,
            Arc::clone(&manager),
            limits,
        )
        .await
        .expect("API binds port 0");
        Node {
            base: format!("http://{}", api.local_addr()),
            manager,
            api,
            client: client_trusting(&[]),
        }
    }

    /// TLS with a certificate for 127.0.0.1 from a test CA; the client
    /// trusts exactly that CA.
    pub async fn tls() -> (Node, CertificateDer<'static>) {
        let pki = test_pki();
        let manager = manager(Settings::default());
        let server = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(pki.certs, pki.key)
        .unwrap();
        let api = serve(
            "127.0.0.1:0".parse().unwrap(),
            Some(Arc::new(server)),
            Arc::clone(&manager),
            limits(),
        )
        .await
        .expect("API binds port 0");
        let node = Node {
            base: format!("https://127.0.0.1:{}", api.local_addr().port()),
            manager,
            api,
            client: client_trusting(std::slice::from_ref(&pki.ca)),
        };
        (node, pki.ca)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// A request with the local key.
    pub fn req(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, self.url(path))
            .header("authorization", auth(KEY))
    }

    /// A request without any `Authorization` header.
    pub fn anon(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, self.url(path))
    }

    /// `initLocal` (open) and the two remotes.
    pub async fn configured() -> Node {
        let node = Node::plain().await;
        node.configure().await;
        node
    }

    pub async fn configured_with(settings: Settings, limits: ApiLimits) -> Node {
        let node = Node::plain_with(settings, limits).await;
        node.configure().await;
        node
    }

    pub async fn configure(&self) {
        let r = self
            .anon(Method::PUT, "/initLocal")
            .json(&init_local(KEY))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204, "{}", r.text().await.unwrap());
        for (id, body) in [
            (REMOTE, init_remote(true, true)),
            (BARE, init_remote(false, false)),
        ] {
            let r = self
                .req(Method::PUT, &format!("/initRemote/{id}"))
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 204, "{}", r.text().await.unwrap());
        }
    }

    /// `/jobs/list` as JSON.
    pub async fn jobs(&self) -> Value {
        let r = self.req(Method::GET, "/jobs/list").send().await.unwrap();
        assert_eq!(r.status(), 200);
        r.json().await.unwrap()
    }

    /// What a bad request must not change: the job list and the
    /// configuration (as the manager holds it).
    pub async fn state(&self) -> (Value, Value, Vec<Value>) {
        let local = self
            .manager
            .local()
            .map(|l| serde_json::to_value(&l.init).unwrap())
            .unwrap_or(Value::Null);
        let mut remotes: Vec<Value> = self
            .manager
            .remotes()
            .into_iter()
            .map(|(r, _)| json!({"id": r.id, "init": serde_json::to_value(&r.init).unwrap()}))
            .collect();
        remotes.sort_by_key(|v| v["id"].to_string());
        (self.jobs().await, local, remotes)
    }

    pub async fn shutdown(self) {
        self.api.shutdown().await;
    }
}

pub fn auth(key: &str) -> String {
    format!("apiKey apiKey=\"{key}\"")
}

/// Three fields: two 500-bit Bloom filters (an exchange group) and an
/// 11-bit integer.
pub fn init_local(key: &str) -> Value {
    json!({
        "localId": "TUD",
        "localAuthentication": {"authType": "apiKey", "sharedKey": key},
        "dataService": {"url": "http://127.0.0.1:9/getAllRecords", "pageSize": 100},
        "algorithm": {
            "algoType": "epilink",
            "threshold_match": 0.9,
            "threshold_non_match": 0.7,
            "exchangeGroups": [["vorname", "nachname"]],
            "fields": [
                {"name": "vorname", "frequency": 0.000235, "errorRate": 0.01,
                 "comparator": "dice", "fieldType": "bitmask", "bitlength": 500},
                {"name": "nachname", "frequency": 0.0000271, "errorRate": 0.008,
                 "comparator": "dice", "fieldType": "bitmask", "bitlength": 500},
                {"name": "geburtsjahr", "frequency": 0.0123, "errorRate": 0.005,
                 "comparator": "binary", "fieldType": "integer", "bitlength": 11}
            ]
        }
    })
}

pub fn init_remote(linkage_service: bool, matching: bool) -> Value {
    let mut v = json!({
        "connectionProfile": {"url": "https://127.0.0.1:9/",
                              "authentication": {"authType": "apiKey", "sharedKey": "peer-key"}},
        "matchingAllowed": matching
    });
    if linkage_service {
        v["linkageService"] = json!({"url": "https://127.0.0.1:9/",
                                     "authentication": {"authType": "apiKey", "sharedKey": "ls-key"}});
    }
    v
}

/// One valid record's fields. The values are distinctive so a test can
/// check that no error message repeats them.
pub fn fields() -> Value {
    json!({"vorname": "QUJDREVGR0g=", "nachname": null, "geburtsjahr": 1987})
}

pub const CALLBACK: &str = "http://127.0.0.1:9/callback";

pub fn record_body() -> Value {
    json!({"callback": {"url": CALLBACK}, "fields": fields()})
}

pub fn records_body(n: usize) -> Value {
    let records: Vec<Value> = (0..n).map(|_| json!({"fields": fields()})).collect();
    json!({"callback": {"url": CALLBACK}, "total": n, "records": records})
}

/// Status, a header and the `error` message of a JSON error response.
pub async fn error_of(r: Response) -> (u16, String) {
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    assert_eq!(
        ct, "application/json",
        "status {status}: error bodies are JSON"
    );
    let v: Value = r.json().await.unwrap();
    let msg = v["error"].as_str().expect("{\"error\": ...}").to_owned();
    assert_eq!(v.as_object().unwrap().len(), 1, "only the error key: {v}");
    (status, msg)
}

pub fn header(r: &Response, name: &str) -> Option<String> {
    r.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
}

/// A test CA and a server certificate for 127.0.0.1 and localhost.
pub struct TestPki {
    pub ca: CertificateDer<'static>,
    pub certs: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

pub fn test_pki() -> TestPki {
    let mut ca_params = CertificateParams::default();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "sel-node api test CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
        .unwrap()
        .signed_by(&leaf_key, &ca)
        .unwrap();
    TestPki {
        ca: ca.der().clone(),
        certs: vec![leaf.der().clone()],
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
    }
}

/// A reqwest client trusting exactly `roots` (ring provider, verification on).
pub fn client_trusting(roots: &[CertificateDer<'static>]) -> reqwest::Client {
    let mut store = rustls::RootCertStore::empty();
    for root in roots {
        store.add(root.clone()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(store)
    .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(config)
        .build()
        .unwrap()
}

/// Sends `request` as raw bytes on a new connection (plain HTTP) and reads
/// the answer until the server closes it (send `Connection: close`).
pub async fn raw(node: &Node, request: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(node.api.local_addr())
        .await
        .unwrap();
    stream.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    String::from_utf8_lossy(&answer).into_owned()
}
