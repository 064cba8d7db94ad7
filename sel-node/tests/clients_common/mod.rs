//! Shared pieces of the `clients_*` tests: the linkage configuration, the
//! local site, HTTP clients (rustls, ring provider, verification on) and a
//! store.

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use protocol_spec::config::{FieldSpec, FieldType, LinkageConfig};
use protocol_spec::messages::mainsel::{
    AlgorithmConfig, Authentication, DataService, InitLocal, InitRemote, WireRecord,
};
use rustls::pki_types::CertificateDer;
use sel_node::model::{JobRecord, Millis};
use sel_node::store::{CacheMeta, NodeStore, StoreError};

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

/// The store the data-service cache is written to.
pub fn store() -> Arc<dyn NodeStore> {
    Arc::new(CacheStore::default())
}

/// Keeps cached databases in memory. (Stand-in until the node's
/// `MemoryStore` lands; only the cache methods are used by these tests.)
#[derive(Default)]
pub struct CacheStore {
    caches: Mutex<HashMap<String, (CacheMeta, Vec<WireRecord>)>>,
}

fn unused() -> StoreError {
    StoreError::Io("not kept by the test store".into())
}

impl NodeStore for CacheStore {
    fn load_local(&self) -> Result<Option<InitLocal>, StoreError> {
        Err(unused())
    }
    fn save_local(&self, _: &InitLocal) -> Result<(), StoreError> {
        Err(unused())
    }
    fn load_remotes(&self) -> Result<Vec<(String, InitRemote)>, StoreError> {
        Err(unused())
    }
    fn save_remote(&self, _: &str, _: &InitRemote) -> Result<(), StoreError> {
        Err(unused())
    }
    fn save_job(&self, _: &JobRecord) -> Result<(), StoreError> {
        Err(unused())
    }
    fn load_job(&self, _: &str) -> Result<Option<JobRecord>, StoreError> {
        Err(unused())
    }
    fn load_jobs(&self) -> Result<Vec<JobRecord>, StoreError> {
        Err(unused())
    }
    fn save_job_input(&self, _: &str, _: &[WireRecord]) -> Result<(), StoreError> {
        Err(unused())
    }
    fn load_job_input(&self, _: &str) -> Result<Option<Vec<WireRecord>>, StoreError> {
        Err(unused())
    }
    fn delete_job_input(&self, _: &str) -> Result<(), StoreError> {
        Err(unused())
    }
    fn save_idempotency(&self, _: &[u8; 32], _: &str, _: Millis) -> Result<(), StoreError> {
        Err(unused())
    }
    fn lookup_idempotency(&self, _: &[u8; 32], _: Millis) -> Result<Option<String>, StoreError> {
        Err(unused())
    }
    fn save_cache(&self, meta: &CacheMeta, records: &[WireRecord]) -> Result<(), StoreError> {
        self.caches
            .lock()
            .unwrap()
            .insert(meta.requester.clone(), (meta.clone(), records.to_vec()));
        Ok(())
    }
    fn load_cache_meta(&self, requester: &str) -> Result<Option<CacheMeta>, StoreError> {
        Ok(self
            .caches
            .lock()
            .unwrap()
            .get(requester)
            .map(|c| c.0.clone()))
    }
    fn load_cache(
        &self,
        requester: &str,
    ) -> Result<Option<(CacheMeta, Vec<WireRecord>)>, StoreError> {
        Ok(self.caches.lock().unwrap().get(requester).cloned())
    }
    fn delete_cache(&self, requester: &str) -> Result<(), StoreError> {
        self.caches.lock().unwrap().remove(requester);
        Ok(())
    }
    fn load_lids(&self, _: &str, _: &[String]) -> Result<Vec<Option<String>>, StoreError> {
        Err(unused())
    }
    fn save_lids(&self, _: &str, _: &[(String, String)]) -> Result<(), StoreError> {
        Err(unused())
    }
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
