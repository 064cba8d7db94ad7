//! API keys: the master key from the environment and named keys.
//!
//! A named key is `dei_` + 32 random bytes (base64url): far too many to
//! guess, so a plain SHA-256 of it is a safe thing to store, and it is all
//! that is stored ([`KeyRecord::hash`]); the key itself is shown once, in
//! the answer that creates it.
//!
//! Checking a presented key hashes it and compares the digest with every
//! known one in constant time (`subtle`), without stopping at a match, so
//! the time taken says nothing about which key, or how much of one, was
//! right. Expiry and revocation are checked on every request: the records
//! are held in memory and refreshed on every change this process makes;
//! with a store shared by several processes (PostgreSQL), also within
//! [`super::STORE_REFRESH`] of a change another process made
//! ([`super::DeidService::refresh_from_store`]).

use std::sync::RwLock;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::store::{KeyRecord, SharedStore, StoreError};

/// Prefix of every named key (recognisable in a secret scanner).
pub const KEY_PREFIX: &str = "dei_";
/// The label `/admin/keys/me` reports for the master key (as the reference).
pub const MASTER_LABEL: &str = "env_master_key";
/// Shortest master key accepted: a short one could be guessed.
pub const MIN_MASTER_KEY_LEN: usize = 16;
/// Longest a named key's label may be.
pub const MAX_LABEL_CHARS: usize = 100;

/// Seconds since the Unix epoch.
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `2026-04-29T10:00:00Z` for seconds since the epoch (UTC).
pub fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// The master key, zeroised on drop, never printed.
pub struct MasterKey(Zeroizing<String>);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(<hidden>)")
    }
}

impl MasterKey {
    /// Refuses keys shorter than [`MIN_MASTER_KEY_LEN`] (the message says
    /// only the length rule).
    pub fn new(key: String) -> Result<MasterKey, String> {
        let key = Zeroizing::new(key);
        if key.trim().len() < MIN_MASTER_KEY_LEN {
            return Err(format!(
                "the master key must be at least {MIN_MASTER_KEY_LEN} characters"
            ));
        }
        Ok(MasterKey(Zeroizing::new(key.trim().to_string())))
    }

    /// Reads it from the environment variable `var`.
    pub fn from_env(var: &str) -> Result<MasterKey, String> {
        match std::env::var(var) {
            Ok(value) => MasterKey::new(value).map_err(|e| format!("{var}: {e}")),
            Err(_) => Err(format!(
                "{var} is not set: the de-id service needs a master key (at least {MIN_MASTER_KEY_LEN} characters)"
            )),
        }
    }
}

/// Who is calling: the master key or a named key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Caller {
    Master,
    Named { key_id: String, label: String },
}

impl Caller {
    /// The rate limiter's bucket name (never the key itself).
    pub fn bucket(&self) -> &str {
        match self {
            Caller::Master => "master",
            Caller::Named { key_id, .. } => key_id,
        }
    }
}

/// Why a presented key is refused (all 401; the message tells the client
/// which, so an operator can tell an expired key from a typo).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyRefusal {
    #[error("API key is not valid")]
    Unknown,
    #[error("API key has expired")]
    Expired,
    #[error("API key has been revoked")]
    Revoked,
}

/// A key just created: the record stored and the key shown once.
pub struct NewKey {
    pub record: KeyRecord,
    pub api_key: Zeroizing<String>,
}

/// Digest of a presented key.
fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// A fresh UUID v4 (random), for key ids.
fn uuid_v4() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// The master key and the named keys, checked per request.
pub struct KeyRing {
    master_hash: [u8; 32],
    store: SharedStore,
    named: RwLock<Vec<KeyRecord>>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyRing(<hidden>)")
    }
}

impl KeyRing {
    /// Loads the named keys from `store`.
    pub fn new(master: &MasterKey, store: SharedStore) -> Result<KeyRing, StoreError> {
        let named = store.keys()?;
        Ok(KeyRing {
            master_hash: digest(&master.0),
            store,
            named: RwLock::new(named),
        })
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<KeyRecord>> {
        self.named.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Who `presented` belongs to, at time `now`.
    pub fn check(&self, presented: &str, now: u64) -> Result<Caller, KeyRefusal> {
        let given = digest(presented);
        let is_master = given.ct_eq(&self.master_hash);
        let named = self.read();
        // Visit every record whatever matches; remember the match.
        let mut found: Option<&KeyRecord> = None;
        for record in named.iter() {
            if bool::from(given.ct_eq(&record.hash)) {
                found = Some(record);
            }
        }
        if bool::from(is_master) {
            return Ok(Caller::Master);
        }
        let Some(record) = found else {
            return Err(KeyRefusal::Unknown);
        };
        if record.revoked_at.is_some() {
            return Err(KeyRefusal::Revoked);
        }
        if record.expires_at.is_some_and(|at| at <= now) {
            return Err(KeyRefusal::Expired);
        }
        Ok(Caller::Named {
            key_id: record.key_id.clone(),
            label: record.label.clone(),
        })
    }

    /// Creates, stores and returns a named key (blocking: writes the store).
    pub fn create(
        &self,
        label: &str,
        expires_in_days: Option<u32>,
        now: u64,
    ) -> Result<NewKey, StoreError> {
        let secret: Zeroizing<[u8; 32]> = Zeroizing::new(rand::random());
        let api_key = Zeroizing::new(format!(
            "{KEY_PREFIX}{}",
            URL_SAFE_NO_PAD.encode(&secret[..])
        ));
        let record = KeyRecord {
            key_id: uuid_v4(),
            label: label.to_string(),
            hash: digest(&api_key),
            created_at: now,
            expires_at: expires_in_days.map(|d| now + u64::from(d) * 86_400),
            revoked_at: None,
        };
        self.store.put_key(&record)?;
        self.named
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push(record.clone());
        Ok(NewKey { record, api_key })
    }

    /// Replaces the records held in memory with the store's (another
    /// process sharing the store may have created or revoked keys).
    pub fn reload(&self) -> Result<(), StoreError> {
        let fresh = self.store.keys()?;
        *self.named.write().unwrap_or_else(|p| p.into_inner()) = fresh;
        Ok(())
    }

    /// Marks `key_id` revoked; `Ok(None)` if unknown. Revoking twice keeps
    /// the first time. Reads the store first, so a key another process
    /// created (or revoked) is known.
    pub fn revoke(&self, key_id: &str, now: u64) -> Result<Option<KeyRecord>, StoreError> {
        let fresh = self.store.keys()?;
        let mut named = self.named.write().unwrap_or_else(|p| p.into_inner());
        *named = fresh;
        let Some(record) = named.iter_mut().find(|r| r.key_id == key_id) else {
            return Ok(None);
        };
        let mut updated = record.clone();
        updated.revoked_at.get_or_insert(now);
        self.store.put_key(&updated)?;
        *record = updated.clone();
        Ok(Some(updated))
    }

    /// Every named key's record, oldest first.
    pub fn list(&self) -> Vec<KeyRecord> {
        let mut all = self.read().clone();
        all.sort_by(|a, b| (a.created_at, &a.key_id).cmp(&(b.created_at, &b.key_id)));
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deid::service::store::MemoryServiceStore;
    use std::sync::Arc;

    fn ring() -> KeyRing {
        let master = MasterKey::new("master-key-0123456789".into()).unwrap();
        KeyRing::new(&master, Arc::new(MemoryServiceStore::new())).unwrap()
    }

    #[test]
    fn dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_777_456_800), "2026-04-29T10:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn keys_are_checked_for_expiry_and_revocation() {
        let ring = ring();
        assert_eq!(ring.check("master-key-0123456789", 10), Ok(Caller::Master));
        assert_eq!(
            ring.check("master-key-012345678", 10),
            Err(KeyRefusal::Unknown)
        );
        let new = ring.create("pipeline", Some(1), 100).unwrap();
        assert!(new.api_key.starts_with(KEY_PREFIX));
        let caller = ring.check(&new.api_key, 101).unwrap();
        assert_eq!(caller.bucket(), new.record.key_id);
        assert_eq!(
            ring.check(&new.api_key, 100 + 86_400),
            Err(KeyRefusal::Expired)
        );
        ring.revoke(&new.record.key_id, 102).unwrap().unwrap();
        assert_eq!(ring.check(&new.api_key, 103), Err(KeyRefusal::Revoked));
        assert!(ring.revoke("nope", 1).unwrap().is_none());
        assert!(MasterKey::new("short".into()).is_err());
        assert!(!format!("{:?}", ring.list()).contains("hash"));
    }
}
