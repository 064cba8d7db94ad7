//! The registry's embedded store (redb), a file of its own next to (never
//! inside) the node's store: patients with their encoded fields, the LIDs the
//! node delivered per remote, and the batches the triggers submitted.
//!
//! The database is opened in redb's multi-writer mode so `registry import`
//! and `registry export` work while `registry serve` runs; every request reads
//! afresh, so an import is visible with the next page fetched.
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use protocol_spec::messages::mainsel::{FieldMap, MatchResult};
use redb::{
    ConcurrencyMode, Database, ReadableDatabase, ReadableTable, ReadableTableMetadata,
    TableDefinition,
};
use serde::{Deserialize, Serialize};

/// Patient id → its encoded `fields` (JSON, in configuration order).
const PATIENTS: TableDefinition<&str, &[u8]> = TableDefinition::new("patients");
/// (remote, patient id) → the LID the node delivered for that remote.
const LIDS: TableDefinition<(&str, &str), &str> = TableDefinition::new("lids");
/// (remote, batch id) → the batch (JSON).
const BATCHES: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("batches");
/// (remote, mode) → id of the latest batch, for the status endpoints.
const LATEST: TableDefinition<(&str, &str), &str> = TableDefinition::new("latest_batch");
/// Small values: the time of the last import (the pages' `toDate`).
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

const UPDATED_AT: &str = "updated_at";

/// File name of the registry's database inside its data directory.
pub const DB_FILE: &str = "registry.redb";

/// What can go wrong in the store. Never carries field values or LIDs.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("registry database: {0}")]
    Db(#[from] redb::Error),
    #[error("stored {what} is corrupt: {detail}")]
    Corrupt { what: String, detail: String },
}

fn dberr<E: Into<redb::Error>>(e: E) -> StoreError {
    StoreError::Db(e.into())
}

/// Seconds since the Unix epoch (0 if the clock is before 1970).
pub fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The two kinds of job a trigger submits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Link,
    Match,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Link => "link",
            Mode::Match => "match",
        }
    }
}

/// One submission of all patients to the node, and what came back.
///
/// `patient_ids` keeps the request order: the node returns LIDs in request
/// order, so entry i of a link callback belongs to `patient_ids[i]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Batch {
    pub mode: Mode,
    pub created: u64,
    pub patient_ids: Vec<String>,
    /// The node's job (`Location` of its 202), once submitted.
    #[serde(default)]
    pub job: Option<String>,
    /// Why the node did not accept the batch.
    #[serde(default)]
    pub submit_error: Option<String>,
    /// When the callback arrived.
    #[serde(default)]
    pub callback_received: Option<u64>,
    /// The `error` of a failure callback.
    #[serde(default)]
    pub callback_error: Option<String>,
    /// The `warning` of a callback.
    #[serde(default)]
    pub callback_warning: Option<String>,
    /// Link mode: how many LIDs the callback delivered.
    #[serde(default)]
    pub lids_received: u64,
    /// Match mode: the counts of the callback.
    #[serde(default)]
    pub match_result: Option<MatchResult>,
}

impl Batch {
    pub fn new(mode: Mode, patient_ids: Vec<String>) -> Batch {
        Batch {
            mode,
            created: now_unix(),
            patient_ids,
            job: None,
            submit_error: None,
            callback_received: None,
            callback_error: None,
            callback_warning: None,
            lids_received: 0,
            match_result: None,
        }
    }
}

/// A slice of the patients in id order, for one page of getAllRecords.
#[derive(Debug)]
pub struct PatientPage {
    /// All patients (not just this page).
    pub total: u64,
    /// Time of the last import.
    pub updated_at: u64,
    pub patients: Vec<(String, FieldMap)>,
}

/// One exported row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LidRow {
    pub remote: String,
    pub patient_id: String,
    pub lid: String,
}

/// The registry's store.
pub struct RegistryStore {
    db: Database,
    path: PathBuf,
}

impl std::fmt::Debug for RegistryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryStore")
            .field("path", &self.path)
            .finish()
    }
}

impl RegistryStore {
    /// Opens (creating if needed) the store in `data_dir`. The file is created
    /// readable by its owner only: it holds patient data.
    pub fn open(data_dir: &Path) -> Result<RegistryStore, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::DataDir {
            path: data_dir.to_owned(),
            source,
        })?;
        let path = data_dir.join(DB_FILE);
        create_private(&path).map_err(|source| StoreError::DataDir {
            path: path.clone(),
            source,
        })?;
        let db = Database::builder()
            .set_concurrency_mode(ConcurrencyMode::MultiWriter)
            .create(&path)
            .map_err(dberr)?;
        let txn = db.begin_write().map_err(dberr)?;
        {
            txn.open_table(PATIENTS).map_err(dberr)?;
            txn.open_table(LIDS).map_err(dberr)?;
            txn.open_table(BATCHES).map_err(dberr)?;
            txn.open_table(LATEST).map_err(dberr)?;
            txn.open_table(META).map_err(dberr)?;
        }
        txn.commit().map_err(dberr)?;
        Ok(RegistryStore { db, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stores `patients` in one transaction (an id already stored is
    /// replaced) and moves `toDate` forward. Returns how many of them replaced
    /// a stored patient.
    pub fn put_patients(&self, patients: &[(String, FieldMap)]) -> Result<u64, StoreError> {
        let txn = self.db.begin_write().map_err(dberr)?;
        let mut replaced = 0;
        {
            let mut table = txn.open_table(PATIENTS).map_err(dberr)?;
            for (id, fields) in patients {
                let bytes = serde_json::to_vec(fields).map_err(|e| StoreError::Corrupt {
                    what: "patient".into(),
                    detail: e.to_string(),
                })?;
                if table
                    .insert(id.as_str(), bytes.as_slice())
                    .map_err(dberr)?
                    .is_some()
                {
                    replaced += 1;
                }
            }
            // `toDate` strictly increases with every import that stores
            // something, so a node's cache sees even two imports within one
            // second, or a replacement that keeps `total`.
            if !patients.is_empty() {
                let mut meta = txn.open_table(META).map_err(dberr)?;
                let previous = meta
                    .get(UPDATED_AT)
                    .map_err(dberr)?
                    .map_or(0, |v| v.value());
                meta.insert(UPDATED_AT, now_unix().max(previous + 1))
                    .map_err(dberr)?;
            }
        }
        txn.commit().map_err(dberr)?;
        Ok(replaced)
    }

    /// Number of stored patients.
    pub fn patient_count(&self) -> Result<u64, StoreError> {
        let txn = self.db.begin_read().map_err(dberr)?;
        txn.open_table(PATIENTS)
            .map_err(dberr)?
            .len()
            .map_err(dberr)
    }

    /// Patients `offset..offset+limit` in id order, read in one snapshot
    /// together with the total and `toDate`.
    pub fn patient_page(&self, offset: u64, limit: u64) -> Result<PatientPage, StoreError> {
        let txn = self.db.begin_read().map_err(dberr)?;
        let table = txn.open_table(PATIENTS).map_err(dberr)?;
        let total = table.len().map_err(dberr)?;
        let updated_at = txn
            .open_table(META)
            .map_err(dberr)?
            .get(UPDATED_AT)
            .map_err(dberr)?
            .map_or(0, |v| v.value());
        let skip = usize::try_from(offset).unwrap_or(usize::MAX);
        let take = usize::try_from(limit).unwrap_or(usize::MAX);
        let mut patients = Vec::new();
        for entry in table.iter().map_err(dberr)?.skip(skip).take(take) {
            let (k, v) = entry.map_err(dberr)?;
            let id = k.value().to_owned();
            let fields = parse_fields(&id, v.value())?;
            patients.push((id, fields));
        }
        Ok(PatientPage {
            total,
            updated_at,
            patients,
        })
    }

    /// Every patient in id order.
    pub fn all_patients(&self) -> Result<PatientPage, StoreError> {
        self.patient_page(0, u64::MAX)
    }

    /// Stores a new batch and makes it the latest of its mode for `remote`.
    /// Stores a new batch as the latest of its mode towards `remote`, and
    /// returns the id of the batch that was latest before it.
    pub fn put_batch(
        &self,
        remote: &str,
        batch_id: &str,
        batch: &Batch,
    ) -> Result<Option<String>, StoreError> {
        let txn = self.db.begin_write().map_err(dberr)?;
        let previous;
        {
            let mut batches = txn.open_table(BATCHES).map_err(dberr)?;
            batches
                .insert((remote, batch_id), encode_batch(batch)?.as_slice())
                .map_err(dberr)?;
            let mut latest = txn.open_table(LATEST).map_err(dberr)?;
            previous = latest
                .insert((remote, batch.mode.as_str()), batch_id)
                .map_err(dberr)?
                .map(|v| v.value().to_owned());
        }
        txn.commit().map_err(dberr)?;
        Ok(previous)
    }

    /// Records that the node refused `batch_id`, and makes `previous` (the
    /// batch that was latest before it, if any) the latest again: a refused
    /// trigger must not hide a batch whose job is still running. The
    /// refused batch stays stored with its error.
    pub fn refuse_batch(
        &self,
        remote: &str,
        batch_id: &str,
        previous: Option<&str>,
        error: &str,
    ) -> Result<(), StoreError> {
        self.update_batch(remote, batch_id, |b| {
            b.submit_error = Some(error.to_owned())
        })?;
        let Some(previous) = previous else {
            return Ok(());
        };
        let Some(batch) = self.batch(remote, batch_id)? else {
            return Ok(());
        };
        let txn = self.db.begin_write().map_err(dberr)?;
        {
            let mut latest = txn.open_table(LATEST).map_err(dberr)?;
            let current = latest
                .get((remote, batch.mode.as_str()))
                .map_err(dberr)?
                .map(|v| v.value().to_owned());
            // Only if no newer trigger has become latest meanwhile.
            if current.as_deref() == Some(batch_id) {
                latest
                    .insert((remote, batch.mode.as_str()), previous)
                    .map_err(dberr)?;
            }
        }
        txn.commit().map_err(dberr)
    }

    pub fn batch(&self, remote: &str, batch_id: &str) -> Result<Option<Batch>, StoreError> {
        let txn = self.db.begin_read().map_err(dberr)?;
        let table = txn.open_table(BATCHES).map_err(dberr)?;
        let value = table.get((remote, batch_id)).map_err(dberr)?;
        value.map(|v| decode_batch(v.value())).transpose()
    }

    /// The latest batch of `mode` towards `remote`, with its id.
    pub fn latest_batch(
        &self,
        remote: &str,
        mode: Mode,
    ) -> Result<Option<(String, Batch)>, StoreError> {
        let txn = self.db.begin_read().map_err(dberr)?;
        let latest = txn.open_table(LATEST).map_err(dberr)?;
        let Some(id) = latest
            .get((remote, mode.as_str()))
            .map_err(dberr)?
            .map(|v| v.value().to_owned())
        else {
            return Ok(None);
        };
        let batches = txn.open_table(BATCHES).map_err(dberr)?;
        let value = batches.get((remote, id.as_str())).map_err(dberr)?;
        match value {
            Some(v) => Ok(Some((id, decode_batch(v.value())?))),
            None => Ok(None),
        }
    }

    /// Changes a stored batch (no-op when it does not exist).
    pub fn update_batch(
        &self,
        remote: &str,
        batch_id: &str,
        change: impl FnOnce(&mut Batch),
    ) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(dberr)?;
        {
            let mut table = txn.open_table(BATCHES).map_err(dberr)?;
            let current = table
                .get((remote, batch_id))
                .map_err(dberr)?
                .map(|v| decode_batch(v.value()))
                .transpose()?;
            if let Some(mut batch) = current {
                change(&mut batch);
                table
                    .insert((remote, batch_id), encode_batch(&batch)?.as_slice())
                    .map_err(dberr)?;
            }
        }
        txn.commit().map_err(dberr)
    }

    /// Stores the LIDs of a link callback (`lids[i]` for `batch.patient_ids[i]`)
    /// and records the callback on the batch, in one transaction.
    pub fn put_link_result(
        &self,
        remote: &str,
        batch_id: &str,
        patient_ids: &[String],
        lids: &[String],
        warning: Option<String>,
    ) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(dberr)?;
        {
            let mut table = txn.open_table(LIDS).map_err(dberr)?;
            for (patient, lid) in patient_ids.iter().zip(lids) {
                table
                    .insert((remote, patient.as_str()), lid.as_str())
                    .map_err(dberr)?;
            }
            let mut batches = txn.open_table(BATCHES).map_err(dberr)?;
            let current = batches
                .get((remote, batch_id))
                .map_err(dberr)?
                .map(|v| decode_batch(v.value()))
                .transpose()?;
            if let Some(mut batch) = current {
                batch.callback_received = Some(now_unix());
                batch.callback_error = None;
                batch.callback_warning = warning;
                batch.lids_received = lids.len() as u64;
                batches
                    .insert((remote, batch_id), encode_batch(&batch)?.as_slice())
                    .map_err(dberr)?;
            }
        }
        txn.commit().map_err(dberr)
    }

    /// LIDs of `remote` (or of every remote), ordered by remote and patient.
    pub fn lids(&self, remote: Option<&str>) -> Result<Vec<LidRow>, StoreError> {
        let txn = self.db.begin_read().map_err(dberr)?;
        let table = txn.open_table(LIDS).map_err(dberr)?;
        let mut out = Vec::new();
        let mut push = |k: redb::AccessGuard<'_, (&str, &str)>, v: redb::AccessGuard<'_, &str>| {
            let (r, p) = k.value();
            out.push(LidRow {
                remote: r.to_owned(),
                patient_id: p.to_owned(),
                lid: v.value().to_owned(),
            });
        };
        match remote {
            Some(r) => {
                for entry in table.range((r, "")..).map_err(dberr)? {
                    let (k, v) = entry.map_err(dberr)?;
                    if k.value().0 != r {
                        break;
                    }
                    push(k, v);
                }
            }
            None => {
                for entry in table.iter().map_err(dberr)? {
                    let (k, v) = entry.map_err(dberr)?;
                    push(k, v);
                }
            }
        }
        Ok(out)
    }
}

fn parse_fields(id: &str, bytes: &[u8]) -> Result<FieldMap, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt {
        what: format!("patient {id}"),
        detail: e.to_string(),
    })
}

fn encode_batch(batch: &Batch) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(batch).map_err(|e| StoreError::Corrupt {
        what: "batch".into(),
        detail: e.to_string(),
    })
}

fn decode_batch(bytes: &[u8]) -> Result<Batch, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt {
        what: "batch".into(),
        detail: e.to_string(),
    })
}

/// Creates `path` empty and owner-only if it does not exist yet.
fn create_private(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol_spec::messages::mainsel::FieldValue;

    fn fields(n: i64) -> FieldMap {
        [("a", FieldValue::from(n))].into_iter().collect()
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "sel-registry-store-{name}-{}-{}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn pages_are_in_id_order_and_reimport_replaces() {
        let dir = temp_dir("pages");
        let store = RegistryStore::open(&dir).unwrap();
        let replaced = store
            .put_patients(&[("b".into(), fields(2)), ("a".into(), fields(1))])
            .unwrap();
        assert_eq!(replaced, 0);
        let first = store.patient_page(0, 1).unwrap().updated_at;
        assert_eq!(store.put_patients(&[("b".into(), fields(3))]).unwrap(), 1);
        let page = store.patient_page(1, 5).unwrap();
        assert!(page.updated_at > first, "a replacement moves toDate");
        assert_eq!(page.total, 2);
        assert_eq!(page.patients, vec![("b".to_string(), fields(3))]);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn lids_are_kept_per_remote() {
        let dir = temp_dir("lids");
        let store = RegistryStore::open(&dir).unwrap();
        let ids = vec!["p1".to_string(), "p2".to_string()];
        store
            .put_batch("B", "x", &Batch::new(Mode::Link, ids.clone()))
            .unwrap();
        store
            .put_link_result("B", "x", &ids, &["l1".into(), "l2".into()], None)
            .unwrap();
        store
            .put_link_result("A", "y", &ids[..1], &["m1".into()], None)
            .unwrap();
        let b: Vec<_> = store.lids(Some("B")).unwrap();
        assert_eq!(b.len(), 2);
        assert_eq!(b[1].lid, "l2");
        assert_eq!(store.lids(None).unwrap().len(), 3);
        let (id, batch) = store.latest_batch("B", Mode::Link).unwrap().unwrap();
        assert_eq!((id.as_str(), batch.lids_received), ("x", 2));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_refused_batch_does_not_hide_the_running_one() {
        let dir = temp_dir("refused");
        let store = RegistryStore::open(&dir).unwrap();
        let ids = vec!["p1".to_string()];
        let none = store
            .put_batch("B", "first", &Batch::new(Mode::Link, ids.clone()))
            .unwrap();
        assert_eq!(none, None);
        // A refused first trigger of another mode stays visible with its error.
        let previous = store
            .put_batch("B", "m1", &Batch::new(Mode::Match, ids.clone()))
            .unwrap();
        store
            .refuse_batch("B", "m1", previous.as_deref(), "busy")
            .unwrap();
        let (id, batch) = store.latest_batch("B", Mode::Match).unwrap().unwrap();
        assert_eq!(
            (id.as_str(), batch.submit_error.as_deref()),
            ("m1", Some("busy"))
        );
        // A refused second link trigger: the first stays latest.
        let previous = store
            .put_batch("B", "second", &Batch::new(Mode::Link, ids.clone()))
            .unwrap();
        assert_eq!(previous.as_deref(), Some("first"));
        store
            .refuse_batch("B", "second", previous.as_deref(), "queue full")
            .unwrap();
        let (id, batch) = store.latest_batch("B", Mode::Link).unwrap().unwrap();
        assert_eq!((id.as_str(), batch.submit_error), ("first", None));
        let refused = store.batch("B", "second").unwrap().unwrap();
        assert_eq!(refused.submit_error.as_deref(), Some("queue full"));
        // A refusal that comes after a newer trigger leaves the newer one latest.
        let p3 = store
            .put_batch("B", "third", &Batch::new(Mode::Link, ids.clone()))
            .unwrap();
        let _p4 = store
            .put_batch("B", "fourth", &Batch::new(Mode::Link, ids))
            .unwrap();
        store
            .refuse_batch("B", "third", p3.as_deref(), "x")
            .unwrap();
        let (id, _) = store.latest_batch("B", Mode::Link).unwrap().unwrap();
        assert_eq!(id, "fourth");
        let _ = std::fs::remove_dir_all(dir);
    }
}
