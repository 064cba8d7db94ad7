//! Where token mappings live: the [`TokenStore`] trait and its memory
//! implementation (the redb one is in `redb_store`, the development JSON
//! file in `file_store`).
//!
//! A store sees opaque data only. The service hands it, per *scope* (a
//! keyed hash naming the caller's secret and, for the grouped backend, the
//! record), mappings of a token to a *value index* (a keyed hash of the
//! normalised value, for value→token lookups and for telling a collision
//! from a repeat) and a *stored value* (the value sealed with AES-256-GCM,
//! bound to scope and token — or, for the development file only, the value
//! in clear). So no store implementation can leak a value it never sees.
use std::collections::HashMap;
use std::sync::Mutex;

/// Length of a value index (HMAC-SHA256).
pub const INDEX_LEN: usize = 32;

/// One token → value mapping to insert.
#[derive(Clone)]
pub struct Mapping {
    pub token: String,
    pub value_index: [u8; INDEX_LEN],
    pub stored_value: Vec<u8>,
}

impl std::fmt::Debug for Mapping {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Mapping(<hidden>)")
    }
}

/// Why a store operation failed. Never holds a value or a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("token store I/O: {0}")]
    Io(String),
    #[error("token store is corrupt: {0}")]
    Corrupt(String),
    /// The token is already mapped to another value in this scope. Nothing
    /// of the batch was written.
    #[error("token collision: a token is already mapped to another value")]
    Collision,
}

/// Token mappings grouped by scope. Implementations must make
/// [`TokenStore::insert`] atomic: all mappings of a call or none.
pub trait TokenStore: Send + Sync {
    /// Inserts `mappings` into `scope`. A token already present with the
    /// same value index is left as it is (a repeat); with another value
    /// index the whole call fails with [`StoreError::Collision`] and nothing
    /// is written. The first token stored for a value index stays the one
    /// [`TokenStore::token`] returns.
    fn insert(&self, scope: &str, mappings: &[Mapping]) -> Result<(), StoreError>;

    /// The stored value of `token` in `scope`.
    fn value(&self, scope: &str, token: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// The token stored for `value_index` in `scope`.
    fn token(
        &self,
        scope: &str,
        value_index: &[u8; INDEX_LEN],
    ) -> Result<Option<String>, StoreError>;

    /// The key-check value: stores `fresh` if the store has none yet and
    /// returns what is stored, so the service can tell at once that it was
    /// opened with another key.
    fn key_check(&self, fresh: &[u8]) -> Result<Vec<u8>, StoreError>;
}

type TokenMap = HashMap<(String, String), ([u8; INDEX_LEN], Vec<u8>)>;
type IndexMap = HashMap<(String, [u8; INDEX_LEN]), String>;

/// Tokens in memory, lost on restart: for tests and for a node without a
/// data directory.
#[derive(Default)]
pub struct MemoryTokenStore {
    inner: Mutex<(TokenMap, IndexMap, Option<Vec<u8>>)>,
}

impl MemoryTokenStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (TokenMap, IndexMap, Option<Vec<u8>>)> {
        // Every mutation below completes or returns before touching the maps.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Checks a batch against what is stored (and against itself) before any
/// write, so the caller can apply it all or refuse it all.
pub(crate) fn check_batch(
    mappings: &[Mapping],
    existing: impl Fn(&str) -> Result<Option<[u8; INDEX_LEN]>, StoreError>,
) -> Result<(), StoreError> {
    let mut seen: HashMap<&str, &[u8; INDEX_LEN]> = HashMap::new();
    for m in mappings {
        if let Some(prev) = seen.insert(&m.token, &m.value_index)
            && prev != &m.value_index
        {
            return Err(StoreError::Collision);
        }
        if let Some(index) = existing(&m.token)?
            && index != m.value_index
        {
            return Err(StoreError::Collision);
        }
    }
    Ok(())
}

impl TokenStore for MemoryTokenStore {
    fn insert(&self, scope: &str, mappings: &[Mapping]) -> Result<(), StoreError> {
        let mut guard = self.lock();
        let (tokens, index, _) = &mut *guard;
        check_batch(mappings, |token| {
            Ok(tokens
                .get(&(scope.to_string(), token.to_string()))
                .map(|(i, _)| *i))
        })?;
        for m in mappings {
            tokens
                .entry((scope.to_string(), m.token.clone()))
                .or_insert_with(|| (m.value_index, m.stored_value.clone()));
            index
                .entry((scope.to_string(), m.value_index))
                .or_insert_with(|| m.token.clone());
        }
        Ok(())
    }

    fn value(&self, scope: &str, token: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .lock()
            .0
            .get(&(scope.to_string(), token.to_string()))
            .map(|(_, v)| v.clone()))
    }

    fn token(
        &self,
        scope: &str,
        value_index: &[u8; INDEX_LEN],
    ) -> Result<Option<String>, StoreError> {
        Ok(self
            .lock()
            .1
            .get(&(scope.to_string(), *value_index))
            .cloned())
    }

    fn key_check(&self, fresh: &[u8]) -> Result<Vec<u8>, StoreError> {
        let mut guard = self.lock();
        Ok(guard.2.get_or_insert_with(|| fresh.to_vec()).clone())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn mapping(token: &str, index: u8, value: &[u8]) -> Mapping {
        Mapping {
            token: token.into(),
            value_index: [index; INDEX_LEN],
            stored_value: value.to_vec(),
        }
    }

    /// The contract every implementation must meet.
    pub(crate) fn contract(store: &dyn TokenStore) {
        store
            .insert("s1", &[mapping("T1", 1, b"v1"), mapping("T2", 2, b"v2")])
            .unwrap();
        assert_eq!(store.value("s1", "T1").unwrap().unwrap(), b"v1");
        assert_eq!(store.token("s1", &[2; INDEX_LEN]).unwrap().unwrap(), "T2");
        // Scopes are separate.
        assert_eq!(store.value("s2", "T1").unwrap(), None);
        assert_eq!(store.token("s2", &[1; INDEX_LEN]).unwrap(), None);
        // A repeat is accepted and changes nothing.
        store
            .insert("s1", &[mapping("T1", 1, b"other bytes")])
            .unwrap();
        assert_eq!(store.value("s1", "T1").unwrap().unwrap(), b"v1");
        // A collision refuses the whole batch.
        assert_eq!(
            store.insert("s1", &[mapping("T3", 3, b"v3"), mapping("T1", 9, b"x")]),
            Err(StoreError::Collision)
        );
        assert_eq!(store.value("s1", "T3").unwrap(), None);
        assert_eq!(
            store.insert("s1", &[mapping("T4", 4, b"a"), mapping("T4", 5, b"b")]),
            Err(StoreError::Collision)
        );
        assert_eq!(store.value("s1", "T4").unwrap(), None);
        // The first token of a value index stays.
        store.insert("s1", &[mapping("T5", 1, b"v1")]).unwrap();
        assert_eq!(store.token("s1", &[1; INDEX_LEN]).unwrap().unwrap(), "T1");
        // The key check is stored once.
        assert_eq!(store.key_check(b"first").unwrap(), b"first");
        assert_eq!(store.key_check(b"second").unwrap(), b"first");
    }

    #[test]
    fn memory_store_meets_the_contract() {
        contract(&MemoryTokenStore::new());
    }
}
