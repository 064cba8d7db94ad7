//! Tokens: reversible replacement of PHI values, with the backends of the
//! PHI processing API's `storage_type`.
//!
//! * [`Backend::TokenBased`] (`DynamoDBTokenBased`): deterministic stored
//!   tokens in the embedded store ([`RedbTokenStore`], `deid-tokens.redb`) or,
//!   with `store = "postgres://…"`, in PostgreSQL ([`PgTokenStore`]),
//!   token→value and value→token.
//! * [`Backend::GroupedByRecord`] (`DynamoDBGroupedByRecord`): the same, but
//!   every mapping lives under a record id, and resolves only there.
//! * [`Backend::Sealed`] (`KMS`): no store; the token carries the value
//!   sealed with AES-256-GCM under a key derived from the node key. Fresh
//!   nonce per seal, so there is no lookup by value.
//! * [`Backend::File`] (`File`): a JSON file with values **in clear**, for
//!   development, refused unless enabled when the service is built.
//!
//! A stored token is `PHI__<CATEGORY>__` + 12 base62 characters of
//! HMAC-SHA256(token secret, category ‖ 0x00 ‖ normalised value); the
//! grammar and the normalisation are in [`format`]. Equal values in one
//! category give equal tokens: that is what makes value→token lookups and
//! joins on tokens work, and it also tells anyone who sees two tokens
//! whether the values behind them are equal.
//!
//! **Keys.** The service is given the node key and derives its own root key
//! from it (purpose `deid-tokens`), and from that root separate keys for
//! sealing stored values, for the keyed hashes naming scopes and indexing
//! values, for token secrets and for sealed tokens. A caller's `secret_key`
//! (the reference's query parameter) does not replace these server-side
//! secrets: it selects a *namespace* derived from it under the root key, so
//! tokens made with one `secret_key` differ from, and do not resolve under,
//! another (or none), while a leaked `secret_key` alone computes nothing.
pub mod bench;
pub mod categories;
pub mod file_store;
pub mod format;
pub mod pg_store;
pub mod redb_store;
pub mod store;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::deid::Finding;
use crate::deid::engine::char_to_byte;
use crate::seal::NodeKey;

pub use categories::{LABEL_CATEGORIES, active_categories, category_of};
pub use file_store::FileTokenStore;
pub use format::{TokenKind, TokenParts};
pub use pg_store::PgTokenStore;
pub use redb_store::{RedbTokenStore, TOKENS_DB_FILE};
pub use store::{Mapping, MemoryTokenStore, StoreError, TokenStore};

/// File name of the development JSON file inside the data directory.
pub const FILE_BACKEND_FILE: &str = "deid-tokens-dev.json";
/// Longest value (UTF-8 bytes) the sealed backend seals into a token.
pub const MAX_SEALED_VALUE_BYTES: usize = 512;
/// Longest record id (characters).
pub const MAX_RECORD_ID_CHARS: usize = 256;

type HmacSha256 = Hmac<Sha256>;

/// A `storage_type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    TokenBased,
    GroupedByRecord,
    Sealed,
    File,
}

impl Backend {
    /// The names accepted for `storage_type`: the reference's, then ours.
    pub const NAMES: &'static [(&'static str, Backend)] = &[
        ("DynamoDBTokenBased", Backend::TokenBased),
        ("DynamoDBGroupedByRecord", Backend::GroupedByRecord),
        ("KMS", Backend::Sealed),
        ("File", Backend::File),
        ("token_based", Backend::TokenBased),
        ("grouped_by_record", Backend::GroupedByRecord),
        ("sealed", Backend::Sealed),
        ("file", Backend::File),
    ];

    /// The default when `storage_type` is absent: `KMS` in the reference.
    pub const DEFAULT: Backend = Backend::Sealed;

    pub fn parse(name: &str) -> Option<Backend> {
        Self::NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, b)| *b)
    }

    /// The reference's name of this backend.
    pub fn name(self) -> &'static str {
        match self {
            Backend::TokenBased => "DynamoDBTokenBased",
            Backend::GroupedByRecord => "DynamoDBGroupedByRecord",
            Backend::Sealed => "KMS",
            Backend::File => "File",
        }
    }
}

/// Why a token operation failed. Never holds a value, a token or a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("{operation} is not supported by storage_type {backend}")]
    Unsupported {
        backend: &'static str,
        operation: &'static str,
    },
    #[error("storage_type File (values in clear, development only) is not enabled on this server")]
    FileBackendDisabled,
    #[error("record_id is required for storage_type DynamoDBGroupedByRecord")]
    RecordIdRequired,
    #[error("record_id must be 1 to {MAX_RECORD_ID_CHARS} characters")]
    InvalidRecordId,
    #[error("the value is empty")]
    EmptyValue,
    #[error("a value is longer than {MAX_SEALED_VALUE_BYTES} bytes, the most a sealed token holds")]
    ValueTooLong,
    #[error("not a token: expected PHI__<CATEGORY>__<base62>")]
    NotAToken,
    #[error("unknown category `{0}`")]
    UnknownCategory(String),
    #[error("token collision: the token is already mapped to another value; nothing was stored")]
    Collision,
    #[error("the token store was created under another key")]
    WrongKey,
    #[error("a stored value does not open (wrong key or tampered store)")]
    Unseal,
    #[error("{0}")]
    Store(StoreError),
}

impl From<StoreError> for TokenError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Collision => TokenError::Collision,
            other => TokenError::Store(other),
        }
    }
}

/// Where and for whom one request tokenizes: backend, the caller's
/// namespace and the record. Built by [`TokenService::target`].
#[derive(Clone)]
pub struct Target {
    backend: Backend,
    /// Keyed hash of the caller's `secret_key`; `None` without one.
    namespace: Option<[u8; 32]>,
    record_id: Option<String>,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("backend", &self.backend)
            .field("namespace", &self.namespace.map(|_| "<hidden>"))
            .finish_non_exhaustive()
    }
}

impl Target {
    pub fn backend(&self) -> Backend {
        self.backend
    }
}

/// Length-prefixed concatenation, so that no two part lists encode alike.
fn encode_parts(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for part in parts {
        out.extend_from_slice(&(part.len() as u64).to_be_bytes());
        out.extend_from_slice(part);
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The token backends and their keys. Cheap to share (`Arc`).
pub struct TokenService {
    store: Arc<dyn TokenStore>,
    file: Option<Arc<dyn TokenStore>>,
    /// The service's root key, derived from the node key; every key below
    /// is derived from it with its own label.
    root: NodeKey,
}

impl std::fmt::Debug for TokenService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenService")
            .field("file_backend", &self.file.is_some())
            .finish_non_exhaustive()
    }
}

const KEY_CHECK_CONTEXT: &[u8] = b"deid-tokens/key-check";

impl TokenService {
    /// The service over `store` (token-based and grouped mappings) and, if
    /// given, `file` for the development backend (values in clear: pass
    /// `None` unless the operator enabled it). Keys are derived from
    /// `node_key`. Fails with [`TokenError::WrongKey`] if a store was
    /// created under another key.
    pub fn new(
        store: Arc<dyn TokenStore>,
        file: Option<Arc<dyn TokenStore>>,
        node_key: &NodeKey,
    ) -> Result<TokenService, TokenError> {
        let root = NodeKey::from_bytes(&node_key.mac(b"sel-node/deid-tokens/v1", b"root"));
        let fresh = root.seal(KEY_CHECK_CONTEXT, b"deid-tokens");
        for s in std::iter::once(&store).chain(file.iter()) {
            let stored = s.key_check(&fresh)?;
            root.open(KEY_CHECK_CONTEXT, &stored)
                .map_err(|_| TokenError::WrongKey)?;
        }
        Ok(TokenService { store, file, root })
    }

    /// The service on files in `data_dir`: `deid-tokens.redb`, and
    /// `deid-tokens-dev.json` only if `enable_file_backend`.
    pub fn open_in(
        data_dir: &Path,
        node_key: &NodeKey,
        enable_file_backend: bool,
    ) -> Result<TokenService, TokenError> {
        let store: Arc<dyn TokenStore> =
            Arc::new(RedbTokenStore::open(&data_dir.join(TOKENS_DB_FILE))?);
        Self::open_on(store, data_dir, node_key, enable_file_backend)
    }

    /// The service over `store` (the embedded file or the shared
    /// database), with the development file in `data_dir` only if
    /// `enable_file_backend`.
    pub fn open_on(
        store: Arc<dyn TokenStore>,
        data_dir: &Path,
        node_key: &NodeKey,
        enable_file_backend: bool,
    ) -> Result<TokenService, TokenError> {
        let file: Option<Arc<dyn TokenStore>> = if enable_file_backend {
            tracing::warn!(
                "the File token backend is enabled: it stores PHI values in clear (development only)"
            );
            Some(Arc::new(FileTokenStore::open(
                &data_dir.join(FILE_BACKEND_FILE),
            )?))
        } else {
            None
        };
        Self::new(store, file, node_key)
    }

    /// Checks what a request asks for and names its namespace.
    /// `secret_key` is the caller's optional secret (empty counts as none);
    /// `record_id` is required (1..=256 characters) for the grouped backend.
    pub fn target(
        &self,
        backend: Backend,
        secret_key: Option<&str>,
        record_id: Option<&str>,
    ) -> Result<Target, TokenError> {
        if backend == Backend::File && self.file.is_none() {
            return Err(TokenError::FileBackendDisabled);
        }
        if let Some(id) = record_id {
            let n = id.chars().count();
            if n == 0 || n > MAX_RECORD_ID_CHARS {
                return Err(TokenError::InvalidRecordId);
            }
        }
        if backend == Backend::GroupedByRecord && record_id.is_none() {
            return Err(TokenError::RecordIdRequired);
        }
        let namespace = secret_key
            .filter(|s| !s.is_empty())
            .map(|s| self.root.mac(b"deid-tokens/caller-secret", s.as_bytes()));
        Ok(Target {
            backend,
            namespace,
            record_id: record_id.map(str::to_owned),
        })
    }

    fn namespace_bytes(target: &Target) -> &[u8] {
        target.namespace.as_ref().map_or(&[][..], |n| &n[..])
    }

    /// The store and scope of a stored backend; `None` for sealed.
    fn scoped(&self, target: &Target) -> Result<Option<(&dyn TokenStore, String)>, TokenError> {
        let ns = Self::namespace_bytes(target);
        let (store, parts): (&dyn TokenStore, Vec<&[u8]>) = match target.backend {
            Backend::Sealed => return Ok(None),
            Backend::TokenBased => (self.store.as_ref(), vec![b"token", ns]),
            Backend::GroupedByRecord => {
                let record = target
                    .record_id
                    .as_deref()
                    .ok_or(TokenError::RecordIdRequired)?;
                (self.store.as_ref(), vec![b"record", ns, record.as_bytes()])
            }
            Backend::File => (
                self.file
                    .as_deref()
                    .ok_or(TokenError::FileBackendDisabled)?,
                vec![b"file", ns],
            ),
        };
        let id = self.root.mac(b"deid-tokens/scope", &encode_parts(&parts));
        Ok(Some((store, hex(&id[..16]))))
    }

    /// The deterministic stored token of `value` in `category`.
    fn stored_token(&self, target: &Target, category: &str, normalised: &str) -> String {
        let secret = Zeroizing::new(
            self.root
                .mac(b"deid-tokens/token-secret", Self::namespace_bytes(target)),
        );
        let mut mac = <HmacSha256 as hmac::KeyInit>::new_from_slice(&secret[..])
            .expect("HMAC takes keys of any length");
        mac.update(category.as_bytes());
        mac.update(&[0]);
        mac.update(normalised.as_bytes());
        let digest: [u8; 32] = mac.finalize().into_bytes().into();
        format::assemble(category, &format::stored_tail(&digest))
    }

    fn value_index(&self, scope: &str, normalised: &str) -> [u8; 32] {
        self.root.mac(
            b"deid-tokens/value-index",
            &encode_parts(&[scope.as_bytes(), normalised.as_bytes()]),
        )
    }

    fn value_context(scope: &str, token: &str) -> Vec<u8> {
        let mut out = b"deid-tokens/value".to_vec();
        out.extend_from_slice(&encode_parts(&[scope.as_bytes(), token.as_bytes()]));
        out
    }

    fn sealed_key(&self, target: &Target) -> NodeKey {
        NodeKey::from_bytes(&self.root.mac(
            b"deid-tokens/sealed-token-key",
            Self::namespace_bytes(target),
        ))
    }

    fn sealed_context(category_upper: &str) -> Vec<u8> {
        let mut out = b"deid-tokens/sealed-token/".to_vec();
        out.extend_from_slice(category_upper.as_bytes());
        out
    }

    /// Tokens for `(category, value)` pairs, in order, stored in one atomic
    /// write. Within one call equal (category, normalised value) pairs get
    /// one token on every backend, the sealed one included (it seals each
    /// distinct pair once). A token restores the form of its value first
    /// stored (or, sealed, the form sealed).
    pub fn tokenize_many(
        &self,
        target: &Target,
        items: &[(String, String)],
    ) -> Result<Vec<String>, TokenError> {
        let scoped = self.scoped(target)?;
        let sealed_key = match scoped {
            Some(_) => None,
            None => Some(self.sealed_key(target)),
        };
        let mut by_value: HashMap<(&str, String), String> = HashMap::new();
        let mut mappings = Vec::new();
        let mut out = Vec::with_capacity(items.len());
        for (category, value) in items {
            if !crate::deid::category::valid_name(category) {
                return Err(TokenError::UnknownCategory(category.clone()));
            }
            let normalised = format::normalise(value);
            if normalised.is_empty() {
                return Err(TokenError::EmptyValue);
            }
            let key = (category.as_str(), normalised);
            if let Some(token) = by_value.get(&key) {
                out.push(token.clone());
                continue;
            }
            let token = match (&scoped, &sealed_key) {
                (Some((_, scope)), _) => {
                    let token = self.stored_token(target, category, &key.1);
                    let stored_value = match target.backend {
                        Backend::File => value.as_bytes().to_vec(),
                        _ => self
                            .root
                            .seal(&Self::value_context(scope, &token), value.as_bytes()),
                    };
                    mappings.push(Mapping {
                        token: token.clone(),
                        value_index: self.value_index(scope, &key.1),
                        stored_value,
                    });
                    token
                }
                (None, Some(k)) => {
                    if value.len() > MAX_SEALED_VALUE_BYTES {
                        return Err(TokenError::ValueTooLong);
                    }
                    let upper = category.to_ascii_uppercase();
                    let sealed = k.seal(&Self::sealed_context(&upper), value.as_bytes());
                    format::assemble(category, &format::base62_encode(&sealed))
                }
                // `sealed_key` is set exactly when `scoped` is not.
                (None, None) => return Err(TokenError::Unseal),
            };
            by_value.insert(key, token.clone());
            out.push(token);
        }
        if let Some((store, scope)) = &scoped
            && !mappings.is_empty()
        {
            store.insert(scope, &mappings)?;
        }
        Ok(out)
    }

    /// `/tokenize/tokenize`: one value's token, stored. Not for the sealed
    /// backend (the reference: "Not supported for KMS").
    pub fn tokenize(
        &self,
        target: &Target,
        category: &str,
        value: &str,
    ) -> Result<String, TokenError> {
        if target.backend == Backend::Sealed {
            return Err(TokenError::Unsupported {
                backend: Backend::Sealed.name(),
                operation: "tokenize",
            });
        }
        let mut tokens = self.tokenize_many(target, &[(category.into(), value.into())])?;
        Ok(tokens.pop().expect("one token per item"))
    }

    /// `/lookup/value2token`: the token stored for `value` (any category:
    /// the first one stored). 501 for the sealed backend.
    pub fn value_to_token(
        &self,
        target: &Target,
        value: &str,
    ) -> Result<Option<String>, TokenError> {
        let Some((store, scope)) = self.scoped(target)? else {
            return Err(TokenError::Unsupported {
                backend: Backend::Sealed.name(),
                operation: "value2token",
            });
        };
        let normalised = format::normalise(value);
        if normalised.is_empty() {
            return Err(TokenError::EmptyValue);
        }
        Ok(store.token(&scope, &self.value_index(&scope, &normalised))?)
    }

    /// `/lookup/token2value`: the value of `token`, `None` if this target
    /// does not know it (or, sealed, it does not open: tampered, another
    /// key, another `secret_key`). [`TokenError::NotAToken`] if `token` does
    /// not have the grammar.
    pub fn token_to_value(
        &self,
        target: &Target,
        token: &str,
    ) -> Result<Option<Zeroizing<String>>, TokenError> {
        let parts = format::parse(token).ok_or(TokenError::NotAToken)?;
        self.resolve(target, token, parts)
    }

    fn resolve(
        &self,
        target: &Target,
        token: &str,
        parts: TokenParts<'_>,
    ) -> Result<Option<Zeroizing<String>>, TokenError> {
        match self.scoped(target)? {
            Some((store, scope)) => {
                if parts.kind != TokenKind::Stored {
                    return Ok(None);
                }
                let Some(stored) = store.value(&scope, token)? else {
                    return Ok(None);
                };
                let plain = match target.backend {
                    Backend::File => Zeroizing::new(stored),
                    _ => Zeroizing::new(
                        self.root
                            .open(&Self::value_context(&scope, token), &stored)
                            .map_err(|_| TokenError::Unseal)?
                            .to_vec(),
                    ),
                };
                let text = String::from_utf8(plain.to_vec()).map_err(|_| TokenError::Unseal)?;
                Ok(Some(Zeroizing::new(text)))
            }
            None => {
                if parts.kind != TokenKind::Sealed {
                    return Ok(None);
                }
                let Some(sealed) = format::base62_decode(parts.tail) else {
                    return Ok(None);
                };
                let key = self.sealed_key(target);
                let Ok(plain) = key.open(&Self::sealed_context(parts.category), &sealed) else {
                    return Ok(None);
                };
                Ok(String::from_utf8(plain.to_vec()).ok().map(Zeroizing::new))
            }
        }
    }

    /// `/anonymize/phi`: `text` with every finding replaced by its token.
    /// Findings must not overlap (the engine's never do).
    pub fn anonymize(
        &self,
        target: &Target,
        text: &str,
        findings: &[Finding],
    ) -> Result<String, TokenError> {
        let mut spans: Vec<(usize, usize, &str)> = findings
            .iter()
            .map(|f| {
                (
                    char_to_byte(text, f.start),
                    char_to_byte(text, f.end),
                    f.label.as_str(),
                )
            })
            .collect();
        spans.sort_by_key(|s| s.0);
        let items: Vec<(String, String)> = spans
            .iter()
            .map(|&(s, e, label)| (category_of(label), text[s..e].to_string()))
            .collect();
        let items = Zeroizing::new(items);
        let tokens = self.tokenize_many(target, &items)?;
        let mut out = String::with_capacity(text.len() + tokens.len() * 24);
        let mut at = 0;
        for ((start, end, _), token) in spans.iter().zip(&tokens) {
            if *start < at {
                continue; // an overlapping finding: the first one won
            }
            out.push_str(&text[at..*start]);
            out.push_str(token);
            at = *end;
        }
        out.push_str(&text[at..]);
        Ok(out)
    }

    /// `/deanonymize/phi`: `text` with every token this target resolves
    /// replaced by its value. Tokens it does not resolve (unknown, another
    /// backend's, tampered) stay as they are; their number is returned.
    pub fn deanonymize(&self, target: &Target, text: &str) -> Result<(String, usize), TokenError> {
        let mut out = String::with_capacity(text.len());
        let mut cache: HashMap<&str, Option<Zeroizing<String>>> = HashMap::new();
        let mut unresolved = 0;
        let mut at = 0;
        for range in format::find(text) {
            let token = &text[range.clone()];
            if !cache.contains_key(token) {
                let parts = format::parse(token).expect("find returns tokens only");
                cache.insert(token, self.resolve(target, token, parts)?);
            }
            out.push_str(&text[at..range.start]);
            match &cache[token] {
                Some(value) => out.push_str(value),
                None => {
                    unresolved += 1;
                    out.push_str(token);
                }
            }
            at = range.end;
        }
        out.push_str(&text[at..]);
        Ok((out, unresolved))
    }

    /// The token-based backend's token for one finding, for the "token"
    /// policy of `/pii/deidentify`: `label` is the engine label, mapped to
    /// its category; with `record_id` the mapping is grouped under it.
    /// Uses the server-side secret only (no caller namespace).
    pub fn token_for(
        &self,
        label: &str,
        value: &str,
        record_id: Option<&str>,
    ) -> Result<String, TokenError> {
        let backend = if record_id.is_some() {
            Backend::GroupedByRecord
        } else {
            Backend::TokenBased
        };
        let target = self.target(backend, None, record_id)?;
        self.tokenize(&target, &category_of(label), value)
    }

    /// [`TokenService::token_for`] for all findings of one document at
    /// once: `(label, value)` pairs, tokens in the same order, stored in one
    /// write (one commit instead of one per finding).
    pub fn tokens_for(
        &self,
        items: &[(&str, &str)],
        record_id: Option<&str>,
    ) -> Result<Vec<String>, TokenError> {
        let backend = if record_id.is_some() {
            Backend::GroupedByRecord
        } else {
            Backend::TokenBased
        };
        let target = self.target(backend, None, record_id)?;
        let items: Zeroizing<Vec<(String, String)>> = Zeroizing::new(
            items
                .iter()
                .map(|(label, value)| (category_of(label), (*value).to_string()))
                .collect(),
        );
        self.tokenize_many(&target, &items)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service() -> TokenService {
        TokenService::new(
            Arc::new(MemoryTokenStore::new()),
            Some(Arc::new(MemoryTokenStore::new())),
            &NodeKey::from_bytes(&[7; 32]),
        )
        .unwrap()
    }

    #[test]
    fn stored_tokens_are_deterministic_per_secret_and_category() {
        let s = service();
        let t = s.target(Backend::TokenBased, None, None).unwrap();
        let a = s.tokenize(&t, "name", "John Smith").unwrap();
        assert_eq!(a, s.tokenize(&t, "name", "  John \n Smith ").unwrap());
        assert!(a.starts_with("PHI__NAME__"));
        assert_eq!(format::parse(&a).unwrap().kind, TokenKind::Stored);
        // The same value and key in a fresh service (fresh store) gives the
        // same token: the token depends on key, category and value only.
        assert_eq!(a, service().tokenize(&t, "name", "John Smith").unwrap());
        assert_ne!(a, s.tokenize(&t, "name", "JOHN SMITH").unwrap());
        assert_ne!(
            &a["PHI__NAME__".len()..],
            &s.tokenize(&t, "email", "John Smith").unwrap()["PHI__EMAIL__".len()..]
        );
        let other = s
            .target(Backend::TokenBased, Some("caller secret"), None)
            .unwrap();
        assert_ne!(a, s.tokenize(&other, "name", "John Smith").unwrap());
        let other_key = TokenService::new(
            Arc::new(MemoryTokenStore::new()),
            None,
            &NodeKey::from_bytes(&[8; 32]),
        )
        .unwrap();
        assert_ne!(a, other_key.tokenize(&t, "name", "John Smith").unwrap());
        // The token is the documented HMAC: recompute it independently.
        let root = NodeKey::from_bytes(
            &NodeKey::from_bytes(&[7; 32]).mac(b"sel-node/deid-tokens/v1", b"root"),
        );
        let secret = root.mac(b"deid-tokens/token-secret", b"");
        let mut mac = <HmacSha256 as hmac::KeyInit>::new_from_slice(&secret).unwrap();
        mac.update(b"name\0John Smith");
        let digest: [u8; 32] = mac.finalize().into_bytes().into();
        assert_eq!(a, format!("PHI__NAME__{}", format::stored_tail(&digest)));
    }

    #[test]
    fn sealed_tokens_open_only_unchanged_and_under_their_namespace() {
        let s = service();
        let t = s.target(Backend::Sealed, None, None).unwrap();
        let items = vec![("name".to_string(), "Zoë Ångström".to_string()); 2];
        let tokens = s.tokenize_many(&t, &items).unwrap();
        assert_eq!(tokens[0], tokens[1]);
        let token = &tokens[0];
        assert_eq!(format::parse(token).unwrap().kind, TokenKind::Sealed);
        assert_eq!(
            &*s.token_to_value(&t, token).unwrap().unwrap(),
            "Zoë Ångström"
        );
        // Another category in the token, or any changed character: refused.
        let swapped = token.replacen("PHI__NAME__", "PHI__SSN__", 1);
        assert_eq!(s.token_to_value(&t, &swapped).unwrap(), None);
        let mut chars: Vec<char> = token.chars().collect();
        let last = chars.len() - 1;
        chars[last] = if chars[last] == 'a' { 'b' } else { 'a' };
        let tampered: String = chars.into_iter().collect();
        assert_eq!(s.token_to_value(&t, &tampered).unwrap(), None);
        let other = s.target(Backend::Sealed, Some("x"), None).unwrap();
        assert_eq!(s.token_to_value(&other, token).unwrap(), None);
        assert_eq!(
            s.tokenize(&t, "name", "x"),
            Err(TokenError::Unsupported {
                backend: "KMS",
                operation: "tokenize"
            })
        );
        assert!(matches!(
            s.value_to_token(&t, "x"),
            Err(TokenError::Unsupported { .. })
        ));
        // The longest value still makes a token of the grammar.
        let max = s
            .tokenize_many(
                &t,
                &[("name".into(), "\u{ff}".repeat(MAX_SEALED_VALUE_BYTES / 2))],
            )
            .unwrap();
        assert_eq!(format::parse(&max[0]).unwrap().kind, TokenKind::Sealed);
        assert_eq!(
            s.token_to_value(&t, &max[0]).unwrap().unwrap().len(),
            MAX_SEALED_VALUE_BYTES
        );
        let long = "x".repeat(MAX_SEALED_VALUE_BYTES + 1);
        assert_eq!(
            s.tokenize_many(&t, &[("name".into(), long)]),
            Err(TokenError::ValueTooLong)
        );
    }

    #[test]
    fn targets_check_record_ids_and_the_file_switch() {
        let s = service();
        assert_eq!(
            s.target(Backend::GroupedByRecord, None, None).unwrap_err(),
            TokenError::RecordIdRequired
        );
        assert_eq!(
            s.target(Backend::TokenBased, None, Some("")).unwrap_err(),
            TokenError::InvalidRecordId
        );
        let no_file = TokenService::new(
            Arc::new(MemoryTokenStore::new()),
            None,
            &NodeKey::from_bytes(&[7; 32]),
        )
        .unwrap();
        assert_eq!(
            no_file.target(Backend::File, None, None).unwrap_err(),
            TokenError::FileBackendDisabled
        );
        assert_eq!(Backend::parse("KMS"), Some(Backend::Sealed));
        assert_eq!(Backend::parse("kms"), None);
    }

    #[test]
    fn a_store_opened_under_another_key_is_refused() {
        let store: Arc<dyn TokenStore> = Arc::new(MemoryTokenStore::new());
        TokenService::new(Arc::clone(&store), None, &NodeKey::from_bytes(&[1; 32])).unwrap();
        assert_eq!(
            TokenService::new(store, None, &NodeKey::from_bytes(&[2; 32])).unwrap_err(),
            TokenError::WrongKey
        );
    }

    #[test]
    fn token_for_uses_the_token_based_or_grouped_backend() {
        let s = service();
        let a = s.token_for("PERSON", "Ann Lee", None).unwrap();
        let t = s.target(Backend::TokenBased, None, None).unwrap();
        assert_eq!(&*s.token_to_value(&t, &a).unwrap().unwrap(), "Ann Lee");
        let b = s.token_for("PERSON", "Ann Lee", Some("r1")).unwrap();
        let r1 = s
            .target(Backend::GroupedByRecord, None, Some("r1"))
            .unwrap();
        let r2 = s
            .target(Backend::GroupedByRecord, None, Some("r2"))
            .unwrap();
        assert_eq!(&*s.token_to_value(&r1, &b).unwrap().unwrap(), "Ann Lee");
        assert_eq!(s.token_to_value(&r2, &b).unwrap(), None);
        let batch = s
            .tokens_for(
                &[
                    ("PERSON", "Ann Lee"),
                    ("SSN", "123-45-6789"),
                    ("PERSON", "Ann  Lee"),
                ],
                None,
            )
            .unwrap();
        assert_eq!(batch[0], a);
        assert_eq!(batch[2], a);
        assert!(batch[1].starts_with("PHI__SSN__"));
        assert_eq!(
            &*s.token_to_value(&t, &batch[1]).unwrap().unwrap(),
            "123-45-6789"
        );
        assert_eq!(
            s.token_for("PERSON", " ", None),
            Err(TokenError::EmptyValue)
        );
    }
}
