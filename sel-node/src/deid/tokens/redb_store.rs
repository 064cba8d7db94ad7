//! Token mappings in a redb file (`deid-tokens.redb` in the data
//! directory). The file holds scopes (keyed hashes), tokens, value indexes
//! (keyed hashes) and sealed values: never a value in clear.
use std::path::{Path, PathBuf};

use ::redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use super::store::{INDEX_LEN, Mapping, StoreError, TokenStore, check_batch};

/// File name of the token database inside the data directory.
pub const TOKENS_DB_FILE: &str = "deid-tokens.redb";

/// (scope, token) → value index ‖ stored value.
const TOKENS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("tokens");
/// (scope, value index) → token.
const VALUES: TableDefinition<(&str, &[u8]), &str> = TableDefinition::new("values");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const META_KEY_CHECK: &str = "key_check";

fn io<E: Into<::redb::Error>>(e: E) -> StoreError {
    StoreError::Io(e.into().to_string())
}

/// The token store on redb.
pub struct RedbTokenStore {
    db: Database,
    path: PathBuf,
}

impl std::fmt::Debug for RedbTokenStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbTokenStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl RedbTokenStore {
    /// Opens (creating if needed) the token database at `path`.
    pub fn open(path: &Path) -> Result<RedbTokenStore, StoreError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|e| StoreError::Io(format!("{}: {e}", parent.display())))?;
        }
        let db = Database::create(path).map_err(|e| {
            StoreError::Io(format!("{}: {}", path.display(), ::redb::Error::from(e)))
        })?;
        let txn = db.begin_write().map_err(io)?;
        txn.open_table(TOKENS).map_err(io)?;
        txn.open_table(VALUES).map_err(io)?;
        txn.open_table(META).map_err(io)?;
        txn.commit().map_err(io)?;
        Ok(RedbTokenStore {
            db,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Splits a TOKENS row into value index and stored value.
fn split_row(row: &[u8]) -> Result<([u8; INDEX_LEN], &[u8]), StoreError> {
    if row.len() < INDEX_LEN {
        return Err(StoreError::Corrupt("a token row is too short".into()));
    }
    let (index, value) = row.split_at(INDEX_LEN);
    Ok((index.try_into().expect("split at INDEX_LEN"), value))
}

impl TokenStore for RedbTokenStore {
    fn insert(&self, scope: &str, mappings: &[Mapping]) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(io)?;
        {
            let mut tokens = txn.open_table(TOKENS).map_err(io)?;
            let mut values = txn.open_table(VALUES).map_err(io)?;
            check_batch(mappings, |token| {
                match tokens.get((scope, token)).map_err(io)? {
                    Some(row) => Ok(Some(split_row(row.value())?.0)),
                    None => Ok(None),
                }
            })?;
            for m in mappings {
                if tokens.get((scope, m.token.as_str())).map_err(io)?.is_none() {
                    let mut row = Vec::with_capacity(INDEX_LEN + m.stored_value.len());
                    row.extend_from_slice(&m.value_index);
                    row.extend_from_slice(&m.stored_value);
                    tokens
                        .insert((scope, m.token.as_str()), row.as_slice())
                        .map_err(io)?;
                }
                let key = (scope, m.value_index.as_slice());
                if values.get(key).map_err(io)?.is_none() {
                    values.insert(key, m.token.as_str()).map_err(io)?;
                }
            }
        }
        // Dropping an uncommitted transaction (the `?` above) aborts it:
        // a refused batch leaves nothing behind.
        txn.commit().map_err(io)
    }

    fn value(&self, scope: &str, token: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let txn = self.db.begin_read().map_err(io)?;
        let tokens = txn.open_table(TOKENS).map_err(io)?;
        match tokens.get((scope, token)).map_err(io)? {
            Some(row) => Ok(Some(split_row(row.value())?.1.to_vec())),
            None => Ok(None),
        }
    }

    fn token(
        &self,
        scope: &str,
        value_index: &[u8; INDEX_LEN],
    ) -> Result<Option<String>, StoreError> {
        let txn = self.db.begin_read().map_err(io)?;
        let values = txn.open_table(VALUES).map_err(io)?;
        Ok(values
            .get((scope, value_index.as_slice()))
            .map_err(io)?
            .map(|t| t.value().to_string()))
    }

    fn key_check(&self, fresh: &[u8]) -> Result<Vec<u8>, StoreError> {
        let txn = self.db.begin_write().map_err(io)?;
        let stored = {
            let mut meta = txn.open_table(META).map_err(io)?;
            let existing = meta
                .get(META_KEY_CHECK)
                .map_err(io)?
                .map(|v| v.value().to_vec());
            match existing {
                Some(v) => v,
                None => {
                    meta.insert(META_KEY_CHECK, fresh).map_err(io)?;
                    fresh.to_vec()
                }
            }
        };
        txn.commit().map_err(io)?;
        Ok(stored)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redb_store_meets_the_contract_and_keeps_mappings_across_reopen() {
        let dir = std::env::temp_dir().join(format!("sel-deid-tokens-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join(TOKENS_DB_FILE);
        {
            let store = RedbTokenStore::open(&path).unwrap();
            super::super::store::tests::contract(&store);
        }
        let store = RedbTokenStore::open(&path).unwrap();
        assert_eq!(store.value("s1", "T1").unwrap().unwrap(), b"v1");
        assert_eq!(store.key_check(b"again").unwrap(), b"first");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
