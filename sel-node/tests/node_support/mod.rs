//! Shared harness of the node tests: a throw-away CA and a certificate for
//! 127.0.0.1 (files, as an operator would configure them), the real linkage
//! service in-process, a small data service serving pages of records, and a
//! callback receiver. Every server binds port 0; TLS is verified everywhere.

#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use sel_node::node::RunningNode;
use sel_node::seal::NodeKey;
use sel_node::settings::Settings;
use serde_json::json;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use linkage_service::admin::register;
use linkage_service::keys::{MasterKey, SiteKey};
use linkage_service::lid::{Lid, open_lid};
use linkage_service::server::RunningServer;
use linkage_service::service::{Service, ServiceConfig};
use linkage_service::store::Store;
use linkage_service::tls::TlsMaterial;
use protocol_spec::messages::mainsel::{HalLinks, Link, RecordId, RecordsPage, WireRecord};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::Value;
use tokio::sync::mpsc;
use warp::Filter;

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicU64 = AtomicU64::new(0);
        let path = std::env::temp_dir().join(format!(
            "sel-node-test-{tag}-{}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A test CA and one server certificate for 127.0.0.1 and localhost, as
/// DER (for the linkage service) and as PEM files (for the nodes).
pub struct Pki {
    pub ca_der: CertificateDer<'static>,
    pub leaf_der: CertificateDer<'static>,
    pub leaf_key_der: Vec<u8>,
    pub ca_file: PathBuf,
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

impl Pki {
    pub fn new(dir: &Path) -> Pki {
        let mut ca_params = CertificateParams::default();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "sel-node test CA");
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        let leaf_key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .unwrap()
            .signed_by(&leaf_key, &ca)
            .unwrap();
        let ca_file = dir.join("ca.pem");
        let cert_file = dir.join("cert.pem");
        let key_file = dir.join("key.pem");
        std::fs::write(&ca_file, ca.pem()).unwrap();
        std::fs::write(&cert_file, leaf.pem()).unwrap();
        std::fs::write(&key_file, leaf_key.serialize_pem()).unwrap();
        Pki {
            ca_der: ca.der().clone(),
            leaf_der: leaf.der().clone(),
            leaf_key_der: leaf_key.serialize_der(),
            ca_file,
            cert_file,
            key_file,
        }
    }

    /// A reqwest client trusting exactly the test CA (verification on).
    pub fn client(&self) -> reqwest::Client {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.ca_der.clone()).unwrap();
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        reqwest::Client::builder()
            .tls_backend_preconfigured(config)
            .build()
            .unwrap()
    }
}

/// A site registered with the linkage service.
pub struct LsSite {
    pub id: String,
    pub api_key: String,
    pub lid_key: SiteKey,
}

impl LsSite {
    /// Opens a LID sealed for this site.
    pub fn open(&self, sealed: &str) -> Lid {
        open_lid(&self.lid_key, &self.id, sealed).expect("LID opens under its site's key")
    }
}

/// The real linkage service, in-process, with the given sites registered.
pub struct Ls {
    pub _dir: TempDir,
    pub server: RunningServer,
    pub url: String,
    pub sites: HashMap<String, LsSite>,
}

pub async fn start_ls(pki: &Pki, sites: &[&str]) -> Ls {
    let dir = TempDir::new("ls");
    let store = Arc::new(Store::open(dir.path()).unwrap());
    let master = Arc::new(MasterKey::from_bytes(&rand::random::<[u8; 32]>()));
    let sites = sites
        .iter()
        .map(|id| {
            let r = register(&store, &master, id).unwrap();
            (
                id.to_string(),
                LsSite {
                    id: r.site_id.clone(),
                    api_key: r.api_key.to_string(),
                    lid_key: SiteKey::from_base64(&r.lid_key).unwrap(),
                },
            )
        })
        .collect();
    let tls = linkage_service::tls::server_config(TlsMaterial {
        certs: vec![pki.leaf_der.clone()],
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pki.leaf_key_der.clone())),
    })
    .unwrap();
    let service = Service::new(store, master, ServiceConfig::default()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = linkage_service::server::start(listener, tls, service).unwrap();
    let url = format!("https://127.0.0.1:{}", server.local_addr().port());
    Ls {
        _dir: dir,
        server,
        url,
        sites,
    }
}

/// A data service (plain HTTP on loopback, as an operator may configure):
/// `GET /records/{requester}` serves `records` in pages of `page_size`,
/// HAL-linked, and counts the requests it answered.
pub struct DataService {
    pub url: String,
    pub requests: Arc<AtomicU64>,
    pub auth_seen: Arc<Mutex<Vec<String>>>,
}

pub async fn start_data_service(records: Vec<WireRecord>, page_size: usize) -> DataService {
    let records = Arc::new(records);
    let requests = Arc::new(AtomicU64::new(0));
    let auth_seen = Arc::new(Mutex::new(Vec::new()));
    let base = Arc::new(Mutex::new(String::new()));
    let (r, q, a, b) = (
        records.clone(),
        requests.clone(),
        auth_seen.clone(),
        base.clone(),
    );
    let route = warp::get()
        .and(warp::path!("records" / String))
        .and(warp::query::<HashMap<String, String>>())
        .and(warp::header::optional::<String>("authorization"))
        .map(
            move |requester: String, query: HashMap<String, String>, auth: Option<String>| {
                q.fetch_add(1, Ordering::Relaxed);
                a.lock().unwrap().push(auth.unwrap_or_default());
                let page: usize = query.get("page").and_then(|p| p.parse().ok()).unwrap_or(1);
                let last = r.len().div_ceil(page_size).max(1);
                let start = (page - 1) * page_size;
                let chunk: Vec<WireRecord> =
                    r.iter().skip(start).take(page_size).cloned().collect();
                let base = b.lock().unwrap().clone();
                let href = |p: usize| Link {
                    href: format!("{base}/records/{requester}?page={p}"),
                };
                let page_body = RecordsPage {
                    links: Some(HalLinks {
                        self_: Some(href(page)),
                        first: Some(href(1)),
                        prev: None,
                        next: (page < last).then(|| href(page + 1)),
                        last: Some(href(last)),
                    }),
                    total: Some(r.len() as u64),
                    current_page_number: Some(page as u64),
                    last_page_number: Some(last as u64),
                    page_size: Some(page_size as u64),
                    to_date: None,
                    local_id: None,
                    remote_id: Some(requester),
                    records: chunk,
                };
                warp::reply::json(&page_body)
            },
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(warp::serve(route).incoming(listener).run());
    let url = format!("http://{addr}");
    *base.lock().unwrap() = url.clone();
    DataService {
        url: format!("{url}/records"),
        requests,
        auth_seen,
    }
}

/// Database records with ids, as a data service serves them.
pub fn with_ids(
    config: &protocol_spec::config::LinkageConfig,
    records: &[protocol_spec::config::Record],
) -> Vec<WireRecord> {
    records
        .iter()
        .enumerate()
        .map(|(i, r)| WireRecord {
            fields: protocol_spec::value::record_to_wire(config, r).unwrap(),
            id: Some(RecordId(format!("rec{i}"))),
        })
        .collect()
}

/// One received callback: the path tag, the Authorization header, the body.
#[derive(Debug)]
pub struct Received {
    pub tag: String,
    pub auth: String,
    pub body: Value,
}

/// A callback receiver: `POST /cb/{tag}`.
pub struct Callbacks {
    pub addr: SocketAddr,
    pub rx: mpsc::UnboundedReceiver<Received>,
}

impl Callbacks {
    pub fn url(&self, tag: &str) -> String {
        format!("http://{}/cb/{tag}", self.addr)
    }

    /// The next callback (fails the test after a generous bound, so a lost
    /// callback is a failure rather than a hang).
    pub async fn next(&mut self) -> Received {
        tokio::time::timeout(std::time::Duration::from_secs(300), self.rx.recv())
            .await
            .expect("a callback arrives")
            .expect("receiver open")
    }
}

pub async fn start_callbacks() -> Callbacks {
    let (tx, rx) = mpsc::unbounded_channel();
    let route = warp::post()
        .and(warp::path!("cb" / String))
        .and(warp::header::optional::<String>("authorization"))
        .and(warp::body::json())
        .map(move |tag: String, auth: Option<String>, body: Value| {
            let _ = tx.send(Received {
                tag,
                auth: auth.unwrap_or_default(),
                body,
            });
            warp::reply()
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(warp::serve(route).incoming(listener).run());
    Callbacks { addr, rx }
}

/// The example linkage configuration (the reference's fields).
pub fn default_algorithm() -> Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/default-config.json"
    ))
    .expect("examples/default-config.json");
    serde_json::from_str(&text).unwrap()
}

/// The shared key of the A–B pair on the peer channel.
pub const PAIR_KEY: &str = "pair-key-A-B";

pub fn node_settings(dir: &Path, pki: &Pki) -> Settings {
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
pub struct Rest {
    pub http: reqwest::Client,
    pub base: String,
    pub key: String,
}

impl Rest {
    pub fn new(pki: &Pki, node: &RunningNode, key: &str) -> Rest {
        Rest {
            http: pki.client(),
            base: format!("https://127.0.0.1:{}", node.api_addr().port()),
            key: key.into(),
        }
    }

    pub fn auth(&self) -> String {
        format!("apiKey apiKey=\"{}\"", self.key)
    }

    pub async fn put(&self, path: &str, body: &Value) -> u16 {
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

    pub async fn get(&self, path: &str) -> (u16, String) {
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
    pub async fn submit(&self, path: &str, body: &Value) -> String {
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

pub fn init_local(id: &str, key: &str, data_service: &str) -> Value {
    json!({
        "localId": id,
        "localAuthentication": {"authType": "apiKey", "sharedKey": key},
        "dataService": {"url": data_service},
        "algorithm": default_algorithm(),
    })
}

pub fn init_remote(peer: &RunningNode, ls: Option<(&str, &str)>, matching: bool) -> Value {
    init_remote_at(
        &format!("https://127.0.0.1:{}", peer.peer_addr().port()),
        ls,
        matching,
    )
}

/// `initRemote` for a remote whose peer endpoint is `url`.
pub fn init_remote_at(url: &str, ls: Option<(&str, &str)>, matching: bool) -> Value {
    let mut v = json!({
        "connectionProfile": {"url": url,
            "authentication": {"authType": "apiKey", "sharedKey": PAIR_KEY}},
        "matchingAllowed": matching,
    });
    if let Some((ls_url, ls_key)) = ls {
        v["linkageService"] = json!({"url": ls_url,
            "authentication": {"authType": "apiKey", "sharedKey": ls_key}});
    }
    v
}

/// Configures nodes A and B as a pair the way their registries would:
/// initLocal of each (`data_a`, `data_b` as data services, keys `key-of-A`
/// and `key-of-B`), then initRemote both ways with matching allowed and
/// each site's key at the linkage service `ls`; every call must answer 204.
pub async fn configure_pair(
    (rest_a, a, data_a): (&Rest, &RunningNode, &str),
    (rest_b, b, data_b): (&Rest, &RunningNode, &str),
    ls: &Ls,
) {
    assert_eq!(
        rest_a
            .put("/initLocal", &init_local("A", "key-of-A", data_a))
            .await,
        204
    );
    assert_eq!(
        rest_b
            .put("/initLocal", &init_local("B", "key-of-B", data_b))
            .await,
        204
    );
    let (ls_a, ls_b) = (&ls.sites["A"], &ls.sites["B"]);
    assert_eq!(
        rest_a
            .put(
                "/initRemote/B",
                &init_remote(b, Some((&ls.url, &ls_a.api_key)), true)
            )
            .await,
        204
    );
    assert_eq!(
        rest_b
            .put(
                "/initRemote/A",
                &init_remote(a, Some((&ls.url, &ls_b.api_key)), true)
            )
            .await,
        204
    );
}
