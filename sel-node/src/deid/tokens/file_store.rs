//! The `File` backend: token mappings in a JSON file, **values in clear**.
//!
//! For development only, as in the reference ("Local JSON file.
//! Development only."): whoever can read the file reads every value. The
//! service refuses this backend unless it was enabled when the service was
//! built. The file is rewritten whole (temporary file, then rename) on each
//! insert, readable by its owner only.
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::store::{INDEX_LEN, Mapping, StoreError, TokenStore, check_batch};

#[derive(Default, Serialize, Deserialize)]
struct FileData {
    /// `NOTE` says what the file is to whoever opens it.
    #[serde(default)]
    note: String,
    #[serde(default)]
    key_check: Option<String>,
    #[serde(default)]
    scopes: BTreeMap<String, Scope>,
}

#[derive(Clone, Default, Serialize, Deserialize)]
struct Scope {
    /// token → entry.
    #[serde(default)]
    tokens: BTreeMap<String, Entry>,
    /// Hex of a value index → the first token stored for it.
    #[serde(default)]
    values: BTreeMap<String, String>,
}

#[derive(Clone, Serialize, Deserialize)]
struct Entry {
    /// Hex of the value index.
    index: String,
    /// The value, in clear.
    value: String,
}

const NOTE: &str = "sel-node deid File token backend: DEVELOPMENT ONLY, values are stored in clear";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| {
            text.get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        })
        .collect()
}

/// The development JSON file.
pub struct FileTokenStore {
    path: PathBuf,
    data: Mutex<FileData>,
}

impl std::fmt::Debug for FileTokenStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileTokenStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl FileTokenStore {
    /// Opens the file at `path`, or starts an empty one there.
    pub fn open(path: &Path) -> Result<FileTokenStore, StoreError> {
        let data = match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| StoreError::Corrupt(format!("{}: {e}", path.display())))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => FileData::default(),
            Err(e) => return Err(StoreError::Io(format!("{}: {e}", path.display()))),
        };
        Ok(FileTokenStore {
            path: path.to_path_buf(),
            data: Mutex::new(data),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FileData> {
        self.data.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self, data: &mut FileData) -> Result<(), StoreError> {
        data.note = NOTE.to_string();
        let err = |e: std::io::Error| StoreError::Io(format!("{}: {e}", self.path.display()));
        if let Some(parent) = self.path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(err)?;
        }
        let bytes = serde_json::to_vec_pretty(&*data)
            .map_err(|e| StoreError::Corrupt(format!("cannot serialise: {e}")))?;
        let tmp = self.path.with_extension("json.tmp");
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&tmp).map_err(err)?;
        file.write_all(&bytes).map_err(err)?;
        file.sync_all().map_err(err)?;
        std::fs::rename(&tmp, &self.path).map_err(err)
    }
}

impl TokenStore for FileTokenStore {
    fn insert(&self, scope: &str, mappings: &[Mapping]) -> Result<(), StoreError> {
        let mut data = self.lock();
        let parse_index = |e: &Entry| -> Result<[u8; INDEX_LEN], StoreError> {
            unhex(&e.index)
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| StoreError::Corrupt("a value index is unreadable".into()))
        };
        {
            let table = data.scopes.get(scope);
            check_batch(mappings, |token| {
                table
                    .and_then(|t| t.tokens.get(token))
                    .map(parse_index)
                    .transpose()
            })?;
        }
        let mut next = data.scopes.get(scope).cloned().unwrap_or_default();
        for m in mappings {
            let value = String::from_utf8(m.stored_value.clone())
                .map_err(|_| StoreError::Corrupt("the File backend stores text only".into()))?;
            next.tokens.entry(m.token.clone()).or_insert(Entry {
                index: hex(&m.value_index),
                value,
            });
            next.values
                .entry(hex(&m.value_index))
                .or_insert_with(|| m.token.clone());
        }
        let previous = data.scopes.insert(scope.to_string(), next);
        if let Err(e) = self.write(&mut data) {
            // Keep memory and file in step: undo what was not written.
            match previous {
                Some(p) => data.scopes.insert(scope.to_string(), p),
                None => data.scopes.remove(scope),
            };
            return Err(e);
        }
        Ok(())
    }

    fn value(&self, scope: &str, token: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .lock()
            .scopes
            .get(scope)
            .and_then(|t| t.tokens.get(token))
            .map(|e| e.value.clone().into_bytes()))
    }

    fn token(
        &self,
        scope: &str,
        value_index: &[u8; INDEX_LEN],
    ) -> Result<Option<String>, StoreError> {
        Ok(self
            .lock()
            .scopes
            .get(scope)
            .and_then(|t| t.values.get(&hex(value_index)))
            .cloned())
    }

    fn key_check(&self, fresh: &[u8]) -> Result<Vec<u8>, StoreError> {
        let mut data = self.lock();
        if let Some(stored) = &data.key_check {
            return unhex(stored)
                .ok_or_else(|| StoreError::Corrupt("the key check is unreadable".into()));
        }
        data.key_check = Some(hex(fresh));
        self.write(&mut data)?;
        Ok(fresh.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_store_meets_the_contract_and_survives_reopen() {
        let dir = std::env::temp_dir().join(format!("sel-deid-file-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("tokens.json");
        {
            let store = FileTokenStore::open(&path).unwrap();
            super::super::store::tests::contract(&store);
        }
        let store = FileTokenStore::open(&path).unwrap();
        assert_eq!(store.value("s1", "T1").unwrap().unwrap(), b"v1");
        assert_eq!(store.token("s1", &[1; INDEX_LEN]).unwrap().unwrap(), "T1");
        assert_eq!(store.key_check(b"again").unwrap(), b"first");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("DEVELOPMENT ONLY"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
