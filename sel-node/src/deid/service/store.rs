//! What the de-id service keeps: named API keys (as SHA-256 hashes, with
//! their metadata) and user categories, in `deid.redb` in the node's data
//! directory, or in memory (tests, a throw-away service).
//!
//! Every value in the redb file is sealed (AES-256-GCM, [`NodeKey::seal`])
//! under the service's own purpose-bound key ([`service_store_key`]), bound
//! to its table and name, so neither the key hashes nor the key labels can
//! be read from the file, nor moved from one row to another.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use ::redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, TableHandle};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::deid::Category;
use crate::seal::NodeKey;

/// The service's file inside the node's data directory.
pub const STORE_FILE: &str = "deid.redb";

/// Table names, also the kinds of the PostgreSQL rows and part of every
/// seal context.
pub(crate) const KEYS_TABLE: &str = "api_keys";
pub(crate) const CATEGORIES_TABLE: &str = "categories";
const KEYS: TableDefinition<&str, &[u8]> = TableDefinition::new(KEYS_TABLE);
const CATEGORIES: TableDefinition<&str, &[u8]> = TableDefinition::new(CATEGORIES_TABLE);
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
pub(crate) const META_KEY_CHECK: &str = "key_check";
/// What the key check seals.
pub(crate) const KEY_CHECK_PLAIN: &[u8] = b"sel-node deid store";

/// Why the store failed. Names the file or the row kind, never a value.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("de-id store I/O: {0}")]
    Io(String),
    #[error("de-id store: {0} does not open (another node key, or tampered)")]
    Unseal(&'static str),
    #[error("de-id store: {0} is unreadable")]
    Corrupt(&'static str),
}

/// A named API key as stored: the SHA-256 of the key, never the key.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    pub key_id: String,
    pub label: String,
    /// SHA-256 of the whole key string.
    pub hash: [u8; 32],
    /// Seconds since the Unix epoch.
    pub created_at: u64,
    pub expires_at: Option<u64>,
    pub revoked_at: Option<u64>,
}

impl std::fmt::Debug for KeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRecord")
            .field("key_id", &self.key_id)
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .field("revoked_at", &self.revoked_at)
            .finish_non_exhaustive()
    }
}

/// A user category with the description the reference's API carries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredCategory {
    #[serde(flatten)]
    pub category: Category,
    #[serde(default)]
    pub description: String,
}

/// Storage of keys and categories: memory, redb (one process) or
/// PostgreSQL (shared by several processes).
pub trait ServiceStore: Send + Sync {
    fn keys(&self) -> Result<Vec<KeyRecord>, StoreError>;
    /// Inserts or replaces the key with this `key_id`.
    fn put_key(&self, record: &KeyRecord) -> Result<(), StoreError>;
    fn categories(&self) -> Result<Vec<StoredCategory>, StoreError>;
    /// Inserts or replaces the category with this name.
    fn put_category(&self, category: &StoredCategory) -> Result<(), StoreError>;
    /// Whether a category of that name was there.
    fn remove_category(&self, name: &str) -> Result<bool, StoreError>;
    /// For a store other processes write too: a number that changes with
    /// every write of any process, so a reader can tell cheaply that it must
    /// reload. `None` (the default) for a store this process alone writes.
    fn generation(&self) -> Result<Option<i64>, StoreError> {
        Ok(None)
    }
}

/// The service's own sealing key: derived from the node key for this one
/// purpose, so the other parts' files and the node store cannot be opened
/// with it, nor this one with theirs.
pub fn service_store_key(node_key: &NodeKey) -> NodeKey {
    let derived = Zeroizing::new(node_key.mac(b"sel-node/deid/service-store/v1", b""));
    NodeKey::from_bytes(&derived)
}

/// Associated data of a sealed row: table and name, length-prefixed.
pub(crate) fn context(table: &str, name: &str) -> Vec<u8> {
    let mut out = b"sel-node-deid/".to_vec();
    for part in [table, name] {
        out.extend_from_slice(&(part.len() as u64).to_be_bytes());
        out.extend_from_slice(part.as_bytes());
    }
    out
}

fn io<E: Into<::redb::Error>>(e: E) -> StoreError {
    StoreError::Io(e.into().to_string())
}

/// The store on redb.
pub struct RedbServiceStore {
    db: Database,
    key: NodeKey,
    path: PathBuf,
}

impl std::fmt::Debug for RedbServiceStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbServiceStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl RedbServiceStore {
    /// Opens (creating if needed) `path`, sealing with `key` (give it
    /// [`service_store_key`] of the node key). Fails with
    /// [`StoreError::Unseal`] if the file was made under another key.
    pub fn open(path: &Path, key: NodeKey) -> Result<RedbServiceStore, StoreError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|e| StoreError::Io(format!("{}: {e}", parent.display())))?;
        }
        let db = Database::create(path).map_err(|e| {
            StoreError::Io(format!("{}: {}", path.display(), ::redb::Error::from(e)))
        })?;
        let store = RedbServiceStore {
            db,
            key,
            path: path.to_path_buf(),
        };
        store.initialise()?;
        Ok(store)
    }

    fn initialise(&self) -> Result<(), StoreError> {
        let ctx = context("meta", META_KEY_CHECK);
        let txn = self.db.begin_write().map_err(io)?;
        {
            txn.open_table(KEYS).map_err(io)?;
            txn.open_table(CATEGORIES).map_err(io)?;
            let mut meta = txn.open_table(META).map_err(io)?;
            let check = meta
                .get(META_KEY_CHECK)
                .map_err(io)?
                .map(|v| v.value().to_vec());
            match check {
                Some(sealed) => {
                    self.key
                        .open(&ctx, &sealed)
                        .map_err(|_| StoreError::Unseal("the key check"))?;
                }
                None => {
                    let sealed = self.key.seal(&ctx, KEY_CHECK_PLAIN);
                    meta.insert(META_KEY_CHECK, sealed.as_slice()).map_err(io)?;
                }
            }
        }
        txn.commit().map_err(io)
    }

    fn all<T: serde::de::DeserializeOwned>(
        &self,
        table: TableDefinition<&str, &[u8]>,
        what: &'static str,
    ) -> Result<Vec<T>, StoreError> {
        let txn = self.db.begin_read().map_err(io)?;
        let t = txn.open_table(table).map_err(io)?;
        let mut out = Vec::new();
        for row in t.iter().map_err(io)? {
            let (name, sealed) = row.map_err(io)?;
            let plain = self
                .key
                .open(&context(table.name(), name.value()), sealed.value())
                .map_err(|_| StoreError::Unseal(what))?;
            out.push(serde_json::from_slice(&plain).map_err(|_| StoreError::Corrupt(what))?);
        }
        Ok(out)
    }

    fn put<T: Serialize>(
        &self,
        table: TableDefinition<&str, &[u8]>,
        name: &str,
        value: &T,
        what: &'static str,
    ) -> Result<(), StoreError> {
        let plain =
            Zeroizing::new(serde_json::to_vec(value).map_err(|_| StoreError::Corrupt(what))?);
        let sealed = self.key.seal(&context(table.name(), name), &plain);
        let txn = self.db.begin_write().map_err(io)?;
        {
            let mut t = txn.open_table(table).map_err(io)?;
            t.insert(name, sealed.as_slice()).map_err(io)?;
        }
        txn.commit().map_err(io)
    }
}

impl ServiceStore for RedbServiceStore {
    fn keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        self.all(KEYS, "an API key record")
    }

    fn put_key(&self, record: &KeyRecord) -> Result<(), StoreError> {
        self.put(KEYS, &record.key_id, record, "an API key record")
    }

    fn categories(&self) -> Result<Vec<StoredCategory>, StoreError> {
        self.all(CATEGORIES, "a category")
    }

    fn put_category(&self, category: &StoredCategory) -> Result<(), StoreError> {
        self.put(CATEGORIES, &category.category.name, category, "a category")
    }

    fn remove_category(&self, name: &str) -> Result<bool, StoreError> {
        let txn = self.db.begin_write().map_err(io)?;
        let removed = {
            let mut t = txn.open_table(CATEGORIES).map_err(io)?;
            t.remove(name).map_err(io)?.is_some()
        };
        txn.commit().map_err(io)?;
        Ok(removed)
    }
}

/// The store in memory.
#[derive(Debug, Default)]
pub struct MemoryServiceStore {
    keys: Mutex<BTreeMap<String, KeyRecord>>,
    categories: Mutex<BTreeMap<String, StoredCategory>>,
}

impl MemoryServiceStore {
    pub fn new() -> Self {
        Self::default()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl ServiceStore for MemoryServiceStore {
    fn keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        Ok(lock(&self.keys).values().cloned().collect())
    }

    fn put_key(&self, record: &KeyRecord) -> Result<(), StoreError> {
        lock(&self.keys).insert(record.key_id.clone(), record.clone());
        Ok(())
    }

    fn categories(&self) -> Result<Vec<StoredCategory>, StoreError> {
        Ok(lock(&self.categories).values().cloned().collect())
    }

    fn put_category(&self, category: &StoredCategory) -> Result<(), StoreError> {
        lock(&self.categories).insert(category.category.name.clone(), category.clone());
        Ok(())
    }

    fn remove_category(&self, name: &str) -> Result<bool, StoreError> {
        Ok(lock(&self.categories).remove(name).is_some())
    }
}

/// A shared store.
pub type SharedStore = Arc<dyn ServiceStore>;

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str) -> KeyRecord {
        KeyRecord {
            key_id: id.into(),
            label: "pipeline".into(),
            hash: [7; 32],
            created_at: 1,
            expires_at: Some(2),
            revoked_at: None,
        }
    }

    fn category(name: &str) -> StoredCategory {
        StoredCategory {
            category: Category {
                name: name.into(),
                regex: Some(r"W-\d{4}".into()),
                context: vec![],
            },
            description: "ward".into(),
        }
    }

    /// The contract every implementation must meet.
    fn exercise(store: &dyn ServiceStore) {
        store.put_key(&record("a")).unwrap();
        store.put_key(&record("b")).unwrap();
        let mut revoked = record("a");
        revoked.revoked_at = Some(5);
        store.put_key(&revoked).unwrap();
        let keys = store.keys().unwrap();
        assert_eq!(keys.len(), 2);
        assert_eq!(
            keys.iter().find(|k| k.key_id == "a").unwrap().revoked_at,
            Some(5)
        );
        store.put_category(&category("ward")).unwrap();
        assert_eq!(store.categories().unwrap(), vec![category("ward")]);
        assert!(store.remove_category("ward").unwrap());
        assert!(!store.remove_category("ward").unwrap());
        assert!(store.categories().unwrap().is_empty());
    }

    #[test]
    fn memory_store() {
        exercise(&MemoryServiceStore::new());
    }

    #[test]
    fn postgres_store_meets_the_contract_seals_and_checks_its_key() {
        use super::super::pg_store::PgServiceStore;
        let Some(url) = crate::pg::testing::fresh_database("deid_service") else {
            return;
        };
        let pg = crate::deid::pg_schema::connect(&url, None).unwrap();
        let node = NodeKey::from_bytes(&[9; 32]);
        let store = PgServiceStore::open(pg.clone(), service_store_key(&node)).unwrap();
        let before = store.generation().unwrap().unwrap();
        exercise(&store);
        store.put_category(&category("ward")).unwrap();
        assert!(store.generation().unwrap().unwrap() > before);
        // Another pool (another process) sees the rows.
        let other_pool = crate::deid::pg_schema::connect(&url, None).unwrap();
        let again = PgServiceStore::open(other_pool, service_store_key(&node)).unwrap();
        assert_eq!(again.categories().unwrap().len(), 1);
        assert_eq!(again.keys().unwrap().len(), 2);
        assert!(matches!(
            PgServiceStore::open(
                pg.clone(),
                service_store_key(&NodeKey::from_bytes(&[8; 32]))
            ),
            Err(StoreError::Unseal(_))
        ));
        assert!(matches!(
            PgServiceStore::open(pg, NodeKey::from_bytes(&[9; 32])),
            Err(StoreError::Unseal(_))
        ));
    }

    #[test]
    fn redb_store_seals_and_checks_its_key() {
        let dir = std::env::temp_dir().join(format!("deid-store-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join(STORE_FILE);
        let node = NodeKey::from_bytes(&[9; 32]);
        {
            let store = RedbServiceStore::open(&path, service_store_key(&node)).unwrap();
            exercise(&store);
            store.put_category(&category("ward")).unwrap();
        }
        let bytes = std::fs::read(&path).unwrap();
        assert!(!bytes.windows(8).any(|w| w == b"pipeline"));
        assert!(!bytes.windows(4).any(|w| w == br"W-\d"));
        let store = RedbServiceStore::open(&path, service_store_key(&node)).unwrap();
        assert_eq!(store.categories().unwrap().len(), 1);
        drop(store);
        let other = NodeKey::from_bytes(&[8; 32]);
        assert!(matches!(
            RedbServiceStore::open(&path, service_store_key(&other)),
            Err(StoreError::Unseal(_))
        ));
        // The node key itself (not the derived one) does not open it either.
        assert!(matches!(
            RedbServiceStore::open(&path, NodeKey::from_bytes(&[9; 32])),
            Err(StoreError::Unseal(_))
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
