//! The embedded store: one redb file in the data directory.
//!
//! What is secret is sealed with the node key before it is written, bound to
//! a context naming what it is and whose ([`context`]): the local
//! configuration and the remotes (API keys), job inputs and cached databases
//! (patient data), LIDs. A sealed value moved to another key of the store no
//! longer opens. Job records hold no secret and are plain JSON, so an operator
//! can inspect them. Idempotency keys arrive as keyed hashes; LIDs are
//! indexed by a keyed hash of (linkage service, record id), so no record id is
//! in the clear either.
//!
//! The store remembers a sealed check value: opening it with another node key
//! fails at once with [`StoreError::Unseal`] instead of on the first read.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ::redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use protocol_spec::messages::mainsel::{InitLocal, InitRemote, WireRecord};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{CacheMeta, NodeStore, StoreError};
use crate::model::{JobRecord, Millis};
use crate::seal::NodeKey;

/// The layout this code reads and writes; stored in `meta`.
pub const SCHEMA_VERSION: u32 = 1;
/// File name of the database inside the data directory.
pub const DB_FILE: &str = "sel-node.redb";
/// Records per sealed chunk of a cached database: a cache of millions of
/// records is never one huge allocation to seal or open.
const CACHE_CHUNK: usize = 1024;

const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const LOCAL: TableDefinition<&str, &[u8]> = TableDefinition::new("local");
const REMOTES: TableDefinition<&str, &[u8]> = TableDefinition::new("remotes");
const JOBS: TableDefinition<&str, &[u8]> = TableDefinition::new("jobs");
const JOB_INPUTS: TableDefinition<&str, &[u8]> = TableDefinition::new("job_inputs");
const IDEMPOTENCY: TableDefinition<&[u8], &[u8]> = TableDefinition::new("idempotency");
const CACHE_META: TableDefinition<&str, &[u8]> = TableDefinition::new("cache_meta");
const CACHE_CHUNKS: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("cache_chunks");
const LIDS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("lids");

const META_SCHEMA: &str = "schema_version";
const META_KEY_CHECK: &str = "node_key_check";
const LOCAL_KEY: &str = "local";

fn io<E: Into<::redb::Error>>(e: E) -> StoreError {
    StoreError::Io(e.into().to_string())
}

/// Associated data of a sealed value: a kind and the parts naming whose it
/// is, each length-prefixed so that no two different lists encode alike
/// (URLs and ids may contain any separator).
pub(crate) fn context(kind: &str, parts: &[&str]) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(b"sel-node-store/");
    out.extend_from_slice(kind.as_bytes());
    for part in parts {
        out.extend_from_slice(&(part.len() as u64).to_be_bytes());
        out.extend_from_slice(part.as_bytes());
    }
    out
}

/// The store on redb, sealing with the node key.
pub struct RedbStore {
    db: Database,
    key: Arc<NodeKey>,
    path: PathBuf,
}

impl std::fmt::Debug for RedbStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl RedbStore {
    /// Opens (creating if needed) the database file at `path`. Fails with
    /// [`StoreError::Unseal`] if the store was created under another node
    /// key, and with [`StoreError::Corrupt`] for an unknown schema version.
    pub fn open(path: &Path, key: Arc<NodeKey>) -> Result<RedbStore, StoreError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|e| StoreError::Io(format!("{}: {e}", parent.display())))?;
        }
        let db = Database::create(path).map_err(|e| {
            StoreError::Io(format!("{}: {}", path.display(), ::redb::Error::from(e)))
        })?;
        let store = RedbStore {
            db,
            key,
            path: path.to_path_buf(),
        };
        store.initialise()?;
        Ok(store)
    }

    /// Path of the database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Creates the tables, and checks (or records) the schema version and
    /// the node key.
    fn initialise(&self) -> Result<(), StoreError> {
        let check_context = context("node-key-check", &[]);
        let txn = self.db.begin_write().map_err(io)?;
        {
            for table in [LOCAL, REMOTES, JOBS, JOB_INPUTS, CACHE_META] {
                txn.open_table(table).map_err(io)?;
            }
            txn.open_table(IDEMPOTENCY).map_err(io)?;
            txn.open_table(LIDS).map_err(io)?;
            txn.open_table(CACHE_CHUNKS).map_err(io)?;
            let mut meta = txn.open_table(META).map_err(io)?;
            let version = meta
                .get(META_SCHEMA)
                .map_err(io)?
                .map(|v| v.value().to_vec());
            match version {
                None => {
                    meta.insert(META_SCHEMA, &SCHEMA_VERSION.to_be_bytes()[..])
                        .map_err(io)?;
                }
                Some(bytes) => {
                    let found = <[u8; 4]>::try_from(bytes.as_slice())
                        .map(u32::from_be_bytes)
                        .map_err(|_| StoreError::Corrupt("schema version is unreadable".into()))?;
                    if found != SCHEMA_VERSION {
                        return Err(StoreError::Corrupt(format!(
                            "schema version {found}, this node reads version {SCHEMA_VERSION}"
                        )));
                    }
                }
            }
            let check = meta
                .get(META_KEY_CHECK)
                .map_err(io)?
                .map(|v| v.value().to_vec());
            match check {
                Some(sealed) => {
                    self.key.open(&check_context, &sealed).map_err(|_| {
                        StoreError::Unseal(
                            "the node key is not the one this store was created with".into(),
                        )
                    })?;
                }
                None => {
                    let sealed = self.key.seal(&check_context, b"sel-node store");
                    meta.insert(META_KEY_CHECK, sealed.as_slice()).map_err(io)?;
                }
            }
        }
        txn.commit().map_err(io)?;
        Ok(())
    }

    fn seal_json<T: Serialize + ?Sized>(
        &self,
        ctx: &[u8],
        what: &str,
        value: &T,
    ) -> Result<Vec<u8>, StoreError> {
        super::seal_json(&self.key, ctx, what, value)
    }

    fn open_json<T: DeserializeOwned>(
        &self,
        ctx: &[u8],
        what: &str,
        sealed: &[u8],
    ) -> Result<T, StoreError> {
        super::open_json(&self.key, ctx, what, sealed)
    }

    /// One `&str`-keyed value, read in its own transaction.
    fn get_str(
        &self,
        table: TableDefinition<&str, &[u8]>,
        key: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let txn = self.db.begin_read().map_err(io)?;
        let table = txn.open_table(table).map_err(io)?;
        Ok(table.get(key).map_err(io)?.map(|v| v.value().to_vec()))
    }

    fn put_str(
        &self,
        table: TableDefinition<&str, &[u8]>,
        key: &str,
        value: &[u8],
    ) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(io)?;
        {
            let mut table = txn.open_table(table).map_err(io)?;
            table.insert(key, value).map_err(io)?;
        }
        txn.commit().map_err(io)
    }

    fn remove_str(&self, table: TableDefinition<&str, &[u8]>, key: &str) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(io)?;
        {
            let mut table = txn.open_table(table).map_err(io)?;
            table.remove(key).map_err(io)?;
        }
        txn.commit().map_err(io)
    }

    fn lid_index(&self, ls_url: &str, record_id: &str) -> [u8; 32] {
        self.key.mac(
            b"sel-node-store/lid-index",
            &context("lid", &[ls_url, record_id]),
        )
    }

    fn cache_meta_context(requester: &str) -> Vec<u8> {
        context("cache-meta", &[requester])
    }

    /// A chunk is bound to its requester, its position and the fetch it
    /// belongs to, so chunks of two fetches cannot be mixed.
    fn cache_chunk_context(meta: &CacheMeta, index: u64) -> Vec<u8> {
        context(
            "cache-chunk",
            &[
                &meta.requester,
                &meta.fetched_at.to_string(),
                &index.to_string(),
            ],
        )
    }
}

impl NodeStore for RedbStore {
    fn load_local(&self) -> Result<Option<InitLocal>, StoreError> {
        match self.get_str(LOCAL, LOCAL_KEY)? {
            Some(sealed) => self
                .open_json(&context("local", &[]), "local configuration", &sealed)
                .map(Some),
            None => Ok(None),
        }
    }

    fn save_local(&self, init: &InitLocal) -> Result<(), StoreError> {
        let sealed = self.seal_json(&context("local", &[]), "local configuration", init)?;
        self.put_str(LOCAL, LOCAL_KEY, &sealed)
    }

    fn load_remotes(&self) -> Result<Vec<(String, InitRemote)>, StoreError> {
        let txn = self.db.begin_read().map_err(io)?;
        let table = txn.open_table(REMOTES).map_err(io)?;
        let mut out = Vec::new();
        for entry in table.iter().map_err(io)? {
            let (k, v) = entry.map_err(io)?;
            let id = k.value().to_string();
            let remote = self.open_json(
                &context("remote", &[&id]),
                &format!("remote {id}"),
                v.value(),
            )?;
            out.push((id, remote));
        }
        Ok(out)
    }

    fn save_remote(&self, id: &str, remote: &InitRemote) -> Result<(), StoreError> {
        let sealed = self.seal_json(&context("remote", &[id]), &format!("remote {id}"), remote)?;
        self.put_str(REMOTES, id, &sealed)
    }

    fn save_job(&self, job: &JobRecord) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(job)
            .map_err(|e| StoreError::Corrupt(format!("job {}: cannot serialise: {e}", job.id)))?;
        self.put_str(JOBS, &job.id, &bytes)
    }

    fn load_job(&self, id: &str) -> Result<Option<JobRecord>, StoreError> {
        match self.get_str(JOBS, id)? {
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| StoreError::Corrupt(format!("job {id}: {e}"))),
            None => Ok(None),
        }
    }

    fn load_jobs(&self) -> Result<Vec<JobRecord>, StoreError> {
        let txn = self.db.begin_read().map_err(io)?;
        let table = txn.open_table(JOBS).map_err(io)?;
        let mut jobs = Vec::new();
        for entry in table.iter().map_err(io)? {
            let (k, v) = entry.map_err(io)?;
            let job: JobRecord = serde_json::from_slice(v.value())
                .map_err(|e| StoreError::Corrupt(format!("job {}: {e}", k.value())))?;
            jobs.push(job);
        }
        jobs.sort_by(|a, b| a.created.cmp(&b.created).then_with(|| a.id.cmp(&b.id)));
        Ok(jobs)
    }

    fn save_job_input(&self, job_id: &str, records: &[WireRecord]) -> Result<(), StoreError> {
        let sealed = self.seal_json(
            &context("job-input", &[job_id]),
            &format!("input of job {job_id}"),
            records,
        )?;
        self.put_str(JOB_INPUTS, job_id, &sealed)
    }

    fn load_job_input(&self, job_id: &str) -> Result<Option<Vec<WireRecord>>, StoreError> {
        match self.get_str(JOB_INPUTS, job_id)? {
            Some(sealed) => self
                .open_json(
                    &context("job-input", &[job_id]),
                    &format!("input of job {job_id}"),
                    &sealed,
                )
                .map(Some),
            None => Ok(None),
        }
    }

    fn delete_job_input(&self, job_id: &str) -> Result<(), StoreError> {
        self.remove_str(JOB_INPUTS, job_id)
    }

    fn save_idempotency(
        &self,
        key_hash: &[u8; 32],
        job_id: &str,
        expires_at: Millis,
    ) -> Result<(), StoreError> {
        let now = crate::model::now_millis();
        let mut value = expires_at.to_be_bytes().to_vec();
        value.extend_from_slice(job_id.as_bytes());
        let txn = self.db.begin_write().map_err(io)?;
        {
            let mut table = txn.open_table(IDEMPOTENCY).map_err(io)?;
            // Forget what has expired while we are writing anyway.
            table
                .retain(|_, v| expiry(v).is_none_or(|at| at > now))
                .map_err(io)?;
            table.insert(&key_hash[..], value.as_slice()).map_err(io)?;
        }
        txn.commit().map_err(io)
    }

    fn lookup_idempotency(
        &self,
        key_hash: &[u8; 32],
        now: Millis,
    ) -> Result<Option<String>, StoreError> {
        let found = {
            let txn = self.db.begin_read().map_err(io)?;
            let table = txn.open_table(IDEMPOTENCY).map_err(io)?;
            table
                .get(&key_hash[..])
                .map_err(io)?
                .map(|v| v.value().to_vec())
        };
        let Some(value) = found else {
            return Ok(None);
        };
        let at = expiry(&value)
            .ok_or_else(|| StoreError::Corrupt("idempotency entry is too short".into()))?;
        if at <= now {
            let txn = self.db.begin_write().map_err(io)?;
            {
                let mut table = txn.open_table(IDEMPOTENCY).map_err(io)?;
                table.remove(&key_hash[..]).map_err(io)?;
            }
            txn.commit().map_err(io)?;
            return Ok(None);
        }
        String::from_utf8(value[8..].to_vec())
            .map(Some)
            .map_err(|_| StoreError::Corrupt("idempotency entry: job id is not UTF-8".into()))
    }

    fn save_cache(&self, meta: &CacheMeta, records: &[WireRecord]) -> Result<(), StoreError> {
        let requester = meta.requester.as_str();
        let sealed_meta = self.seal_json(
            &Self::cache_meta_context(requester),
            &format!("cache meta of {requester}"),
            meta,
        )?;
        let txn = self.db.begin_write().map_err(io)?;
        {
            let mut chunks = txn.open_table(CACHE_CHUNKS).map_err(io)?;
            chunks
                .retain_in((requester, 0u64)..=(requester, u64::MAX), |_, _| false)
                .map_err(io)?;
            for (index, chunk) in (0u64..).zip(records.chunks(CACHE_CHUNK)) {
                let sealed = self.seal_json(
                    &Self::cache_chunk_context(meta, index),
                    &format!("cache of {requester}"),
                    chunk,
                )?;
                chunks
                    .insert((requester, index), sealed.as_slice())
                    .map_err(io)?;
            }
            let mut metas = txn.open_table(CACHE_META).map_err(io)?;
            metas
                .insert(requester, sealed_meta.as_slice())
                .map_err(io)?;
        }
        txn.commit().map_err(io)
    }

    fn load_cache_meta(&self, requester: &str) -> Result<Option<CacheMeta>, StoreError> {
        match self.get_str(CACHE_META, requester)? {
            Some(sealed) => self
                .open_json(
                    &Self::cache_meta_context(requester),
                    &format!("cache meta of {requester}"),
                    &sealed,
                )
                .map(Some),
            None => Ok(None),
        }
    }

    fn load_cache(
        &self,
        requester: &str,
    ) -> Result<Option<(CacheMeta, Vec<WireRecord>)>, StoreError> {
        let txn = self.db.begin_read().map_err(io)?;
        let metas = txn.open_table(CACHE_META).map_err(io)?;
        let Some(sealed_meta) = metas.get(requester).map_err(io)? else {
            return Ok(None);
        };
        let meta: CacheMeta = self.open_json(
            &Self::cache_meta_context(requester),
            &format!("cache meta of {requester}"),
            sealed_meta.value(),
        )?;
        let chunks = txn.open_table(CACHE_CHUNKS).map_err(io)?;
        let mut records =
            Vec::with_capacity(usize::try_from(meta.records).unwrap_or(0).min(1 << 20));
        let range = chunks
            .range((requester, 0u64)..=(requester, u64::MAX))
            .map_err(io)?;
        for (expected, entry) in (0u64..).zip(range) {
            let (k, v) = entry.map_err(io)?;
            let (_, index) = k.value();
            if index != expected {
                return Err(StoreError::Corrupt(format!(
                    "cache of {requester}: chunk {expected} is missing"
                )));
            }
            let chunk: Vec<WireRecord> = self.open_json(
                &Self::cache_chunk_context(&meta, index),
                &format!("cache of {requester}, chunk {index}"),
                v.value(),
            )?;
            records.extend(chunk);
        }
        if records.len() as u64 != meta.records {
            return Err(StoreError::Corrupt(format!(
                "cache of {requester}: {} records stored, {} expected",
                records.len(),
                meta.records
            )));
        }
        Ok(Some((meta, records)))
    }

    fn delete_cache(&self, requester: &str) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(io)?;
        {
            let mut chunks = txn.open_table(CACHE_CHUNKS).map_err(io)?;
            chunks
                .retain_in((requester, 0u64)..=(requester, u64::MAX), |_, _| false)
                .map_err(io)?;
            let mut metas = txn.open_table(CACHE_META).map_err(io)?;
            metas.remove(requester).map_err(io)?;
        }
        txn.commit().map_err(io)
    }

    fn load_lids(
        &self,
        ls_url: &str,
        record_ids: &[String],
    ) -> Result<Vec<Option<String>>, StoreError> {
        let txn = self.db.begin_read().map_err(io)?;
        let table = txn.open_table(LIDS).map_err(io)?;
        record_ids
            .iter()
            .enumerate()
            .map(|(i, id)| {
                let index = self.lid_index(ls_url, id);
                match table.get(&index[..]).map_err(io)? {
                    Some(v) => {
                        let plain = self
                            .key
                            .open(&context("lid", &[ls_url, id]), v.value())
                            .map_err(|_| StoreError::Unseal(format!("LID of record index {i}")))?;
                        String::from_utf8(plain.to_vec()).map(Some).map_err(|_| {
                            StoreError::Corrupt(format!("LID of record index {i} is not UTF-8"))
                        })
                    }
                    None => Ok(None),
                }
            })
            .collect()
    }

    fn save_lids(&self, ls_url: &str, pairs: &[(String, String)]) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(io)?;
        {
            let mut table = txn.open_table(LIDS).map_err(io)?;
            for (record_id, lid) in pairs {
                let index = self.lid_index(ls_url, record_id);
                let sealed = self
                    .key
                    .seal(&context("lid", &[ls_url, record_id]), lid.as_bytes());
                table.insert(&index[..], sealed.as_slice()).map_err(io)?;
            }
        }
        txn.commit().map_err(io)
    }
}

/// The expiry time at the front of an idempotency entry.
fn expiry(value: &[u8]) -> Option<Millis> {
    value
        .get(..8)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map(u64::from_be_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn scratch(test: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("sel-node-redb-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn key() -> Arc<NodeKey> {
        Arc::new(NodeKey::from_bytes(&[9u8; 32]))
    }

    fn remote(url: &str) -> InitRemote {
        serde_json::from_value(json!({
            "connectionProfile": {"url": url, "authentication": {"authType": "apiKey", "sharedKey": "k"}}
        }))
        .unwrap()
    }

    fn records(n: usize) -> Vec<WireRecord> {
        (0..n)
            .map(|i| serde_json::from_value(json!({"fields": {"f": i}})).unwrap())
            .collect()
    }

    /// Overwrites one raw value, as someone with write access to the file could.
    fn overwrite_raw(
        store: &RedbStore,
        table: TableDefinition<&str, &[u8]>,
        key: &str,
        value: &[u8],
    ) {
        let txn = store.db.begin_write().unwrap();
        txn.open_table(table).unwrap().insert(key, value).unwrap();
        txn.commit().unwrap();
    }

    #[test]
    fn a_sealed_remote_moved_to_another_id_does_not_open() {
        let dir = scratch("swap");
        let store = RedbStore::open(&dir.join("s.redb"), key()).unwrap();
        store
            .save_remote("A", &remote("https://a.example"))
            .unwrap();
        store
            .save_remote("B", &remote("https://b.example"))
            .unwrap();
        let a = store.get_str(REMOTES, "A").unwrap().unwrap();
        overwrite_raw(&store, REMOTES, "B", &a);
        match store.load_remotes() {
            Err(StoreError::Unseal(what)) => assert_eq!(what, "remote B"),
            other => panic!("expected Unseal, got {other:?}"),
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn chunks_of_another_fetch_do_not_open() {
        let dir = scratch("chunks");
        let store = RedbStore::open(&dir.join("s.redb"), key()).unwrap();
        let meta = |fetched_at| CacheMeta {
            requester: "R".into(),
            fetched_at,
            total: None,
            to_date: None,
            records: 3000,
        };
        store.save_cache(&meta(1), &records(3000)).unwrap();
        let old_chunk = {
            let txn = store.db.begin_read().unwrap();
            let t = txn.open_table(CACHE_CHUNKS).unwrap();
            t.get(("R", 1u64)).unwrap().unwrap().value().to_vec()
        };
        store.save_cache(&meta(2), &records(3000)).unwrap();
        assert!(store.load_cache("R").unwrap().is_some());
        let txn = store.db.begin_write().unwrap();
        txn.open_table(CACHE_CHUNKS)
            .unwrap()
            .insert(("R", 1u64), old_chunk.as_slice())
            .unwrap();
        txn.commit().unwrap();
        assert!(matches!(store.load_cache("R"), Err(StoreError::Unseal(_))));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn another_schema_version_is_refused() {
        let dir = scratch("schema");
        let path = dir.join("s.redb");
        {
            let store = RedbStore::open(&path, key()).unwrap();
            overwrite_raw(&store, META, META_SCHEMA, &99u32.to_be_bytes());
        }
        match RedbStore::open(&path, key()) {
            Err(StoreError::Corrupt(msg)) => assert!(msg.contains("99"), "{msg}"),
            other => panic!("expected Corrupt, got {other:?}"),
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
