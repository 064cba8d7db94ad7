//! Shared harness of the HTTP tests: a service on 127.0.0.1 port 0 behind a
//! certificate issued by a throw-away test CA, and a reqwest client that
//! trusts only that CA (verification on).

#![allow(dead_code)]

use std::sync::Arc;

use linkage_service::admin::{Registration, register};
use linkage_service::keys::{MasterKey, SiteKey};
use linkage_service::lid::{Lid, open_lid};
use linkage_service::server::{RunningServer, start};
use linkage_service::service::{Service, ServiceConfig};
use linkage_service::store::Store;
use linkage_service::tls::{TlsMaterial, server_config};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::Value;

mod tempdir;
pub use tempdir::TempDir;

/// A test CA and a server certificate for 127.0.0.1 and localhost.
pub struct TestPki {
    pub ca_der: CertificateDer<'static>,
    pub material: TlsMaterial,
}

pub fn test_pki() -> TestPki {
    let mut ca_params = CertificateParams::default();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "linkage-service test CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
        .unwrap()
        .signed_by(&leaf_key, &ca)
        .unwrap();
    TestPki {
        ca_der: ca.der().clone(),
        material: TlsMaterial {
            certs: vec![leaf.der().clone()],
            key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
        },
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

/// A registered site as a test sees it.
pub struct Site {
    pub id: String,
    pub lid_key: SiteKey,
    pub api_key: String,
}

impl Site {
    pub fn auth(&self) -> String {
        format!("apiKey apiKey=\"{}\"", self.api_key)
    }

    pub fn open(&self, sealed: &str) -> Lid {
        open_lid(&self.lid_key, &self.id, sealed).expect("LID opens under its site's key")
    }
}

impl From<Registration> for Site {
    fn from(r: Registration) -> Site {
        Site {
            lid_key: SiteKey::from_base64(&r.lid_key).unwrap(),
            api_key: r.api_key.to_string(),
            id: r.site_id,
        }
    }
}

/// A running service with sites A, B and C registered.
pub struct Harness {
    pub dir: TempDir,
    pub store: Arc<Store>,
    pub master: Arc<MasterKey>,
    pub server: RunningServer,
    pub client: reqwest::Client,
    /// The test CA (for raw TLS connections, see [`Harness::raw_tls`]).
    pub ca_der: CertificateDer<'static>,
    pub base: String,
    pub a: Site,
    pub b: Site,
    pub c: Site,
}

impl Harness {
    pub async fn start(config: ServiceConfig) -> Harness {
        let dir = TempDir::new("http");
        let store = Arc::new(Store::open(dir.path()).unwrap());
        let master = Arc::new(MasterKey::from_bytes(&rand::random::<[u8; 32]>()));
        let a = register(&store, &master, "A").unwrap().into();
        let b = register(&store, &master, "B").unwrap().into();
        let c = register(&store, &master, "C").unwrap().into();
        let pki = test_pki();
        let tls = server_config(pki.material).unwrap();
        let service = Service::new(Arc::clone(&store), Arc::clone(&master), config).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let server = start(listener, tls, service).unwrap();
        let base = format!("https://127.0.0.1:{}", server.local_addr().port());
        Harness {
            dir,
            store,
            master,
            server,
            client: client_trusting(std::slice::from_ref(&pki.ca_der)),
            ca_der: pki.ca_der,
            base,
            a,
            b,
            c,
        }
    }

    pub async fn get(&self, path: &str, auth: Option<&str>) -> reqwest::Response {
        let mut req = self.client.get(format!("{}{}", self.base, path));
        if let Some(auth) = auth {
            req = req.header("authorization", auth);
        }
        req.send().await.unwrap()
    }

    pub async fn post(
        &self,
        path: &str,
        auth: Option<&str>,
        body: impl Into<reqwest::Body>,
    ) -> reqwest::Response {
        let mut req = self
            .client
            .post(format!("{}{}", self.base, path))
            .header("content-type", "application/json")
            .body(body);
        if let Some(auth) = auth {
            req = req.header("authorization", auth);
        }
        req.send().await.unwrap()
    }

    /// A raw TLS connection to the server (verification on), for tests that
    /// must control exactly which bytes are sent and when.
    pub async fn raw_tls(&self) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.ca_der.clone()).unwrap();
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        let tcp = tokio::net::TcpStream::connect(self.server.local_addr())
            .await
            .unwrap();
        let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
        tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .unwrap()
    }

    /// Fresh IDs for `site`, sealed (as the site stores them).
    pub async fn fresh_ids(&self, site: &Site, count: usize) -> Vec<String> {
        let resp = self
            .get(
                &format!("/freshIDs/{}?count={count}", site.id),
                Some(&site.auth()),
            )
            .await;
        assert_eq!(resp.status(), 200);
        let body: Value = resp.json().await.unwrap();
        body["linkageIds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    }
}

/// Status and parsed JSON body of a response.
pub async fn status_json(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

/// One clear record outcome: (match, tentative, best index).
pub type Clear = (bool, bool, u64);

/// Splits clear outcomes into (server shares, client shares) as JSON arrays,
/// with random masks, as the 2PC would leave them.
pub fn share(records: &[Clear]) -> (Value, Value) {
    let mut server = Vec::new();
    let mut client = Vec::new();
    for &(m, t, idx) in records {
        let (mm, mt, mi) = (
            rand::random::<bool>(),
            rand::random::<bool>(),
            rand::random::<u32>() as u64,
        );
        server.push(serde_json::json!({
            "match": u8::from(mm), "tentativeMatch": u8::from(mt), "bestIndex": mi
        }));
        client.push(serde_json::json!({
            "match": u8::from(m ^ mm), "tentativeMatch": u8::from(t ^ mt), "bestIndex": idx ^ mi
        }));
    }
    (Value::Array(server), Value::Array(client))
}

/// A fresh job tag (64 lowercase hex characters), as the 2PC would derive.
pub fn new_tag() -> String {
    rand::random::<[u8; 32]>()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The server's post of a job: M share records, its N sealed LIDs.
pub fn server_body(tag: &str, shares: &Value, ids: &[String]) -> Value {
    let m = shares.as_array().map_or(1, Vec::len);
    serde_json::json!({"role": "server", "jobTag": tag, "queryRecords": m,
        "databaseRecords": ids.len(), "result": shares, "ids": ids})
}

/// The client's post of a job with M share records against N server rows.
pub fn client_body(tag: &str, shares: &Value, n: usize) -> Value {
    let m = shares.as_array().map_or(1, Vec::len);
    serde_json::json!({"role": "client", "jobTag": tag, "queryRecords": m,
        "databaseRecords": n, "result": shares})
}
