//! Shared pieces of the `clients_*` tests: the linkage configuration, the
//! local site, HTTP clients (rustls, ring provider, verification on), the
//! node's stores and a temporary directory.

#![allow(dead_code)]

use std::sync::Arc;

use protocol_spec::config::{FieldSpec, FieldType, LinkageConfig};
use protocol_spec::messages::mainsel::{AlgorithmConfig, Authentication, DataService, InitLocal};
use rustls::pki_types::CertificateDer;
use sel_node::seal::NodeKey;
use sel_node::store::{MemoryStore, NodeStore, RedbStore};

/// Three fields of three types: a 10-byte string, a 16-bit integer and a
/// 5-byte string.
pub fn test_config() -> LinkageConfig {
    LinkageConfig::new(
        vec![
            FieldSpec::with_default_comparator("name", 0.01, 0.05, FieldType::String, 80),
            FieldSpec::with_default_comparator("yob", 0.01, 0.05, FieldType::Integer, 16),
            FieldSpec::with_default_comparator("plz", 0.01, 0.05, FieldType::String, 40),
        ],
        &[],
        0.9,
        0.7,
    )
    .unwrap()
}

pub fn local_site(data_service_url: &str, key: &str, page_size: Option<u64>) -> InitLocal {
    InitLocal {
        local_id: "A".into(),
        local_authentication: Authentication::api_key(key),
        data_service: DataService {
            url: data_service_url.into(),
            page_size,
            extra: Default::default(),
        },
        algorithm: AlgorithmConfig::from(&test_config()),
    }
}

fn tls_config(roots: &[CertificateDer<'static>]) -> rustls::ClientConfig {
    let mut store = rustls::RootCertStore::empty();
    for root in roots {
        store.add(root.clone()).unwrap();
    }
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(store)
        .with_no_client_auth()
}

/// A client trusting exactly `roots` (ring provider, verification on).
pub fn client_trusting(roots: &[CertificateDer<'static>]) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls_config(roots))
        .build()
        .unwrap()
}

/// A client for the plain-http test servers (it trusts no certificate).
pub fn plain_client() -> reqwest::Client {
    client_trusting(&[])
}

/// The store the data-service cache is written to (in memory).
pub fn store() -> Arc<dyn NodeStore> {
    Arc::new(MemoryStore::new())
}

/// A redb store at `path` under a fixed node key: opening it again at the
/// same path is what a restarted node does.
pub fn redb_store(path: &std::path::Path) -> Arc<dyn NodeStore> {
    Arc::new(RedbStore::open(path, Arc::new(NodeKey::from_bytes(&[7; 32]))).unwrap())
}

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(std::path::PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!(
            "sel-node-clients-{tag}-{}-{:016x}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
