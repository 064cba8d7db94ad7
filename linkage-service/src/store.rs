//! The embedded store (redb): registered sites, issued LIDs and clerical-review
//! pairs.
//!
//! The database is opened in redb's multi-writer mode so the admin commands
//! (`register`, `revoke`) work while `serve` runs, and the service sees a
//! revocation with its next request: every request reads the site afresh.
//!
//! Nothing secret is stored in the clear. Site LID keys are wrapped under the
//! master key, API keys are kept only as a keyed MAC, issued LIDs only as a
//! keyed MAC (enough to audit that a LID was issued, and to whom), and review
//! pairs (which must name the LIDs) are sealed under a master subkey.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use redb::{ConcurrencyMode, Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use crate::keys::MasterKey;

const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const SITES: TableDefinition<&str, &[u8]> = TableDefinition::new("sites");
const LIDS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("issued_lids");
const REVIEWS: TableDefinition<u64, &[u8]> = TableDefinition::new("reviews");
/// LIDs a site holds without having been issued them: another site's LID
/// re-sealed for it on a match. Key: `MasterKey::held_lid_index`; value:
/// the time (u64 LE).
const HELD: TableDefinition<&[u8], &[u8]> = TableDefinition::new("held_lids");

const KEY_CHECK: &str = "master_key_check";

/// File name of the database inside the data directory.
pub const DB_FILE: &str = "linkage-service.redb";

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("database error: {0}")]
    Db(#[from] redb::Error),
    #[error("the master key does not match the one this store was created with")]
    WrongMasterKey,
    #[error("site {0} is already registered (revoke it first to re-register)")]
    AlreadyRegistered(String),
    #[error("stored record for {what} is corrupt: {detail}")]
    Corrupt { what: String, detail: String },
}

fn dberr<E: Into<redb::Error>>(e: E) -> StoreError {
    StoreError::Db(e.into())
}

/// Seconds since the Unix epoch (0 if the clock is before 1970).
pub fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A registered site as stored. `Debug` shows only the registration time.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteRecord {
    /// The site's LID key, wrapped under the master key (base64).
    pub wrapped_lid_key: String,
    /// HMAC of the site's API key under a master subkey (base64).
    pub api_key_mac: String,
    /// Registration time, seconds since the Unix epoch.
    pub registered_at: u64,
}

impl std::fmt::Debug for SiteRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SiteRecord")
            .field("registered_at", &self.registered_at)
            .finish_non_exhaustive()
    }
}

impl SiteRecord {
    pub fn wrapped_lid_key_bytes(&self, site: &str) -> Result<Vec<u8>, StoreError> {
        decode_field(site, "wrapped_lid_key", &self.wrapped_lid_key)
    }

    pub fn api_key_mac_bytes(&self, site: &str) -> Result<Vec<u8>, StoreError> {
        decode_field(site, "api_key_mac", &self.api_key_mac)
    }
}

fn decode_field(site: &str, field: &str, text: &str) -> Result<Vec<u8>, StoreError> {
    STANDARD.decode(text).map_err(|e| StoreError::Corrupt {
        what: format!("site {site}"),
        detail: format!("{field}: {e}"),
    })
}

/// Why a LID was issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LidOrigin {
    /// Requested with `GET /freshIDs`.
    FreshIds,
    /// A query record of a linkage job that matched nothing.
    NoMatch,
    /// A query record of a linkage job that matched only tentatively.
    Tentative,
}

/// Audit record of one issued LID (keyed by the LID's MAC).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedLid {
    pub site: String,
    pub origin: LidOrigin,
    pub issued_at: u64,
}

/// A tentative match kept for clerical review: the fresh LID the client got
/// and the server's LID at the best index, so a reviewer can merge them later.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewPair {
    pub client_site: String,
    pub server_site: String,
    /// The job's tag (hex), named `job_id` in stores written before tags.
    pub job_id: Option<String>,
    /// Position of the record in the client's query.
    pub record_index: usize,
    /// Position of the best-scoring row in the server's database.
    pub server_index: usize,
    /// The client's fresh LID (base64 of the 16 raw bytes).
    pub fresh_lid: String,
    /// The server's LID at `server_index` (base64 of the 16 raw bytes).
    pub server_lid: String,
    pub created_at: u64,
}

impl Drop for ReviewPair {
    /// The pair names two LIDs in the clear; wipe them when done.
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.fresh_lid.zeroize();
        self.server_lid.zeroize();
    }
}

impl std::fmt::Debug for ReviewPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReviewPair")
            .field("client_site", &self.client_site)
            .field("server_site", &self.server_site)
            .field("job_id", &self.job_id)
            .field("record_index", &self.record_index)
            .field("server_index", &self.server_index)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

/// The service's store.
pub struct Store {
    db: Database,
    path: PathBuf,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// Opens (creating if needed) the store in `data_dir`.
    pub fn open(data_dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::DataDir {
            path: data_dir.display().to_string(),
            source,
        })?;
        let path = data_dir.join(DB_FILE);
        let db = Database::builder()
            .set_concurrency_mode(ConcurrencyMode::MultiWriter)
            .create(&path)
            .map_err(dberr)?;
        let txn = db.begin_write().map_err(dberr)?;
        {
            txn.open_table(META).map_err(dberr)?;
            txn.open_table(SITES).map_err(dberr)?;
            txn.open_table(LIDS).map_err(dberr)?;
            txn.open_table(REVIEWS).map_err(dberr)?;
            txn.open_table(HELD).map_err(dberr)?;
        }
        txn.commit().map_err(dberr)?;
        Ok(Store { db, path })
    }

    /// Path of the database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Ties the store to `master`: the first key used is remembered (as a
    /// derived check value), any other key is refused with
    /// [`StoreError::WrongMasterKey`] instead of failing later on every site.
    pub fn bind_master_key(&self, master: &MasterKey) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(dberr)?;
        {
            let mut meta = txn.open_table(META).map_err(dberr)?;
            let stored = meta
                .get(KEY_CHECK)
                .map_err(dberr)?
                .map(|v| v.value().to_vec());
            match stored {
                Some(check) if master.matches_check_value(&check) => {}
                Some(_) => return Err(StoreError::WrongMasterKey),
                None => {
                    meta.insert(KEY_CHECK, &master.check_value()[..])
                        .map_err(dberr)?;
                }
            }
        }
        txn.commit().map_err(dberr)?;
        Ok(())
    }

    /// Adds a site; fails if the id is taken.
    pub fn insert_site(&self, site: &str, record: &SiteRecord) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(record).map_err(|e| StoreError::Corrupt {
            what: format!("site {site}"),
            detail: e.to_string(),
        })?;
        let txn = self.db.begin_write().map_err(dberr)?;
        {
            let mut sites = txn.open_table(SITES).map_err(dberr)?;
            if sites.get(site).map_err(dberr)?.is_some() {
                return Err(StoreError::AlreadyRegistered(site.to_string()));
            }
            sites.insert(site, bytes.as_slice()).map_err(dberr)?;
        }
        txn.commit().map_err(dberr)?;
        Ok(())
    }

    /// The record of `site`, if registered.
    pub fn site(&self, site: &str) -> Result<Option<SiteRecord>, StoreError> {
        let txn = self.db.begin_read().map_err(dberr)?;
        let sites = txn.open_table(SITES).map_err(dberr)?;
        match sites.get(site).map_err(dberr)? {
            Some(v) => parse_site(site, v.value()).map(Some),
            None => Ok(None),
        }
    }

    /// Every registered site, ordered by id.
    pub fn sites(&self) -> Result<Vec<(String, SiteRecord)>, StoreError> {
        let txn = self.db.begin_read().map_err(dberr)?;
        let sites = txn.open_table(SITES).map_err(dberr)?;
        let mut out = Vec::new();
        for entry in sites.iter().map_err(dberr)? {
            let (k, v) = entry.map_err(dberr)?;
            let id = k.value().to_string();
            let record = parse_site(&id, v.value())?;
            out.push((id, record));
        }
        Ok(out)
    }

    /// Removes a site; returns whether it was registered.
    pub fn remove_site(&self, site: &str) -> Result<bool, StoreError> {
        let txn = self.db.begin_write().map_err(dberr)?;
        let removed = {
            let mut sites = txn.open_table(SITES).map_err(dberr)?;
            sites.remove(site).map_err(dberr)?.is_some()
        };
        txn.commit().map_err(dberr)?;
        Ok(removed)
    }

    /// Records issued LIDs (by MAC), LIDs now held by a site through a
    /// match (by [`MasterKey::held_lid_index`]) and review pairs in one
    /// transaction.
    pub fn record_issued(
        &self,
        master: &MasterKey,
        lids: &[([u8; 32], IssuedLid)],
        held: &[[u8; 32]],
        reviews: &[ReviewPair],
    ) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(dberr)?;
        {
            let mut table = txn.open_table(HELD).map_err(dberr)?;
            let now = now_unix().to_le_bytes();
            for index in held {
                table.insert(&index[..], &now[..]).map_err(dberr)?;
            }
            let mut table = txn.open_table(LIDS).map_err(dberr)?;
            for (index, record) in lids {
                let bytes = serde_json::to_vec(record).map_err(|e| StoreError::Corrupt {
                    what: "issued LID".into(),
                    detail: e.to_string(),
                })?;
                table.insert(&index[..], bytes.as_slice()).map_err(dberr)?;
            }
            let mut table = txn.open_table(REVIEWS).map_err(dberr)?;
            let first = match table.last().map_err(dberr)? {
                Some((k, _)) => k.value() + 1,
                None => 0,
            };
            for (next, review) in (first..).zip(reviews) {
                let plain = zeroize::Zeroizing::new(serde_json::to_vec(review).map_err(|e| {
                    StoreError::Corrupt {
                        what: "review pair".into(),
                        detail: e.to_string(),
                    }
                })?);
                let sealed = master.seal_review(next, &plain);
                table.insert(next, sealed.as_slice()).map_err(dberr)?;
            }
        }
        txn.commit().map_err(dberr)?;
        Ok(())
    }

    /// The audit record of a LID, if this service issued it.
    pub fn issued_lid(
        &self,
        master: &MasterKey,
        lid: &[u8],
    ) -> Result<Option<IssuedLid>, StoreError> {
        let index = master.lid_index(lid);
        let txn = self.db.begin_read().map_err(dberr)?;
        let table = txn.open_table(LIDS).map_err(dberr)?;
        match table.get(&index[..]).map_err(dberr)? {
            Some(v) => {
                serde_json::from_slice(v.value())
                    .map(Some)
                    .map_err(|e| StoreError::Corrupt {
                        what: "issued LID".into(),
                        detail: e.to_string(),
                    })
            }
            None => Ok(None),
        }
    }

    /// The position of the first LID in `lids` that `site` may not present
    /// as its own: neither issued to it (`issued_lids`) nor handed to it on
    /// a match (`held_lids`). `None` if every LID is the site's.
    pub fn first_foreign_lid(
        &self,
        master: &MasterKey,
        site: &str,
        lids: &[crate::lid::Lid],
    ) -> Result<Option<usize>, StoreError> {
        let txn = self.db.begin_read().map_err(dberr)?;
        let issued = txn.open_table(LIDS).map_err(dberr)?;
        let held = txn.open_table(HELD).map_err(dberr)?;
        for (i, lid) in lids.iter().enumerate() {
            let index = master.lid_index(lid.as_bytes());
            let issued_here = match issued.get(&index[..]).map_err(dberr)? {
                Some(v) => {
                    let record: IssuedLid =
                        serde_json::from_slice(v.value()).map_err(|e| StoreError::Corrupt {
                            what: "issued LID".into(),
                            detail: e.to_string(),
                        })?;
                    record.site == site
                }
                None => false,
            };
            if issued_here {
                continue;
            }
            let held_index = master.held_lid_index(site, lid.as_bytes());
            if held.get(&held_index[..]).map_err(dberr)?.is_none() {
                return Ok(Some(i));
            }
        }
        Ok(None)
    }

    /// Number of LIDs recorded as issued.
    pub fn issued_lid_count(&self) -> Result<u64, StoreError> {
        use redb::ReadableTableMetadata;
        let txn = self.db.begin_read().map_err(dberr)?;
        let table = txn.open_table(LIDS).map_err(dberr)?;
        table.len().map_err(dberr)
    }

    /// Every clerical-review pair, opened with the master key.
    pub fn reviews(&self, master: &MasterKey) -> Result<Vec<(u64, ReviewPair)>, StoreError> {
        let txn = self.db.begin_read().map_err(dberr)?;
        let table = txn.open_table(REVIEWS).map_err(dberr)?;
        let mut out = Vec::new();
        for entry in table.iter().map_err(dberr)? {
            let (k, v) = entry.map_err(dberr)?;
            let id = k.value();
            let corrupt = |detail: String| StoreError::Corrupt {
                what: format!("review {id}"),
                detail,
            };
            let plain = master
                .open_review(id, v.value())
                .ok_or_else(|| corrupt("fails its integrity check".into()))?;
            let pair = serde_json::from_slice(&plain).map_err(|e| corrupt(e.to_string()))?;
            out.push((id, pair));
        }
        Ok(out)
    }
}

fn parse_site(site: &str, bytes: &[u8]) -> Result<SiteRecord, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt {
        what: format!("site {site}"),
        detail: e.to_string(),
    })
}
