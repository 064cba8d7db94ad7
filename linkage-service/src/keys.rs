//! Key material of the linkage service and how it is kept.
//!
//! * The **master key** (32 bytes, from a file or `LS_MASTER_KEY`) never
//!   encrypts data directly. Purpose-bound subkeys are derived from it with
//!   HMAC-SHA256 over a fixed label, so a key that wraps site keys can never be
//!   confused with the key that MACs API keys.
//! * Each site has a **LID key** (AES-256-GCM) that seals its linkage IDs and an
//!   **API key** that authenticates it. Both are printed once at registration;
//!   the store keeps the LID key wrapped under the master key and only a MAC of
//!   the API key.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

use aes_gcm::aead::{Aead, Generate, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

/// Name of the environment variable that may hold the master key (base64).
pub const MASTER_KEY_ENV: &str = "LS_MASTER_KEY";

const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 12;

type HmacSha256 = Hmac<Sha256>;

/// What can go wrong with key material.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("master key is not valid base64: {0}")]
    MasterKeyNotBase64(base64::DecodeError),
    #[error("master key must be {KEY_LEN} bytes, found {0}")]
    MasterKeyLength(usize),
    #[error("cannot read master key file {path}: {source}")]
    ReadMasterKeyFile {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot create master key file {path}: {source}")]
    WriteMasterKeyFile {
        path: String,
        source: std::io::Error,
    },
    #[error("LID key is not valid base64: {0}")]
    LidKeyNotBase64(base64::DecodeError),
    #[error("LID key must be {KEY_LEN} bytes, found {0}")]
    LidKeyLength(usize),
    #[error("no master key: pass --master-key-file or set {MASTER_KEY_ENV}")]
    NoMasterKey,
    #[error(
        "the wrapped key of site {0} failed its integrity check (wrong master key or corrupted store)"
    )]
    UnwrapFailed(String),
    #[error("the wrapped key of site {site} has length {len}, expected {expected}")]
    WrappedKeyLength {
        site: String,
        len: usize,
        expected: usize,
    },
}

/// Derives a purpose-bound 32-byte subkey: HMAC-SHA256(master, label).
fn derive(master: &[u8; KEY_LEN], label: &str) -> Zeroizing<[u8; KEY_LEN]> {
    let mut mac = <HmacSha256 as hmac::KeyInit>::new_from_slice(master)
        .expect("HMAC accepts keys of any length");
    mac.update(b"linkage-service/v1/");
    mac.update(label.as_bytes());
    let mut out = Zeroizing::new([0u8; KEY_LEN]);
    out.copy_from_slice(&mac.finalize().into_bytes());
    out
}

/// The service's master key and the subkeys derived from it.
pub struct MasterKey {
    /// Wraps (AES-256-GCM) the sites' LID keys at rest.
    wrap: Zeroizing<[u8; KEY_LEN]>,
    /// Keys the MAC under which API keys are stored.
    api_mac: Zeroizing<[u8; KEY_LEN]>,
    /// Keys the MAC under which issued LIDs are indexed in the store.
    lid_index: Zeroizing<[u8; KEY_LEN]>,
    /// Seals clerical-review records (they hold LIDs) at rest.
    review: Zeroizing<[u8; KEY_LEN]>,
    /// A value stored once so that a wrong master key is reported as such.
    check: Zeroizing<[u8; KEY_LEN]>,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

impl MasterKey {
    /// Builds the key from its 32 raw bytes.
    pub fn from_bytes(bytes: &[u8; KEY_LEN]) -> Self {
        MasterKey {
            wrap: derive(bytes, "site-key-wrap"),
            api_mac: derive(bytes, "api-key-mac"),
            lid_index: derive(bytes, "lid-index"),
            review: derive(bytes, "review-seal"),
            check: derive(bytes, "key-check"),
        }
    }

    /// Parses the base64 form used by the key file and `LS_MASTER_KEY`.
    /// Surrounding whitespace (a trailing newline) is ignored.
    pub fn from_base64(text: &str) -> Result<Self, KeyError> {
        let mut raw = Zeroizing::new(
            STANDARD
                .decode(text.trim())
                .map_err(KeyError::MasterKeyNotBase64)?,
        );
        if raw.len() != KEY_LEN {
            let len = raw.len();
            raw.zeroize();
            return Err(KeyError::MasterKeyLength(len));
        }
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        bytes.copy_from_slice(&raw);
        Ok(Self::from_bytes(&bytes))
    }

    /// Reads the key from a file holding its base64 form.
    pub fn from_file(path: &Path) -> Result<Self, KeyError> {
        let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|source| {
            KeyError::ReadMasterKeyFile {
                path: path.display().to_string(),
                source,
            }
        })?);
        Self::from_base64(&text)
    }

    /// The key from `--master-key-file` if given, else from `LS_MASTER_KEY`.
    pub fn load(file: Option<&Path>) -> Result<Self, KeyError> {
        match file {
            Some(path) => Self::from_file(path),
            None => match std::env::var(MASTER_KEY_ENV) {
                Ok(text) => {
                    let text = Zeroizing::new(text);
                    Self::from_base64(&text)
                }
                Err(_) => Err(KeyError::NoMasterKey),
            },
        }
    }

    /// Value the store keeps to recognise this master key later.
    pub(crate) fn check_value(&self) -> &[u8; KEY_LEN] {
        &self.check
    }

    /// Whether `stored` is this key's check value (constant time).
    pub(crate) fn matches_check_value(&self, stored: &[u8]) -> bool {
        bool::from(stored.ct_eq(&self.check[..]))
    }

    /// MAC of an API key as kept in the store.
    pub fn api_key_mac(&self, api_key: &str) -> [u8; 32] {
        let mut mac = <HmacSha256 as hmac::KeyInit>::new_from_slice(&self.api_mac[..])
            .expect("HMAC accepts keys of any length");
        mac.update(api_key.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// Index recording that `site` holds `lid` because the LS handed it to
    /// the site as another site's LID (a re-sealed match). Domain-separated
    /// from [`MasterKey::lid_index`] by its prefix.
    pub fn held_lid_index(&self, site: &str, lid: &[u8]) -> [u8; 32] {
        let mut mac = <HmacSha256 as hmac::KeyInit>::new_from_slice(&self.lid_index[..])
            .expect("HMAC accepts keys of any length");
        mac.update(b"held\0");
        mac.update(site.as_bytes());
        mac.update(b"\0");
        mac.update(lid);
        mac.finalize().into_bytes().into()
    }

    /// Index under which an issued LID is recorded; the store never holds a
    /// LID in the clear.
    pub fn lid_index(&self, lid: &[u8]) -> [u8; 32] {
        let mut mac = <HmacSha256 as hmac::KeyInit>::new_from_slice(&self.lid_index[..])
            .expect("HMAC accepts keys of any length");
        mac.update(lid);
        mac.finalize().into_bytes().into()
    }

    /// Wraps a site's LID key for storage; the site id is bound as associated
    /// data so a wrapped key cannot be moved to another site's record.
    pub fn wrap_site_key(&self, site: &str, key: &SiteKey) -> Vec<u8> {
        seal(&self.wrap, &wrap_aad(site), &key.0[..])
    }

    /// Reverses [`Self::wrap_site_key`].
    pub fn unwrap_site_key(&self, site: &str, wrapped: &[u8]) -> Result<SiteKey, KeyError> {
        let plain = Zeroizing::new(
            open(&self.wrap, &wrap_aad(site), wrapped)
                .ok_or_else(|| KeyError::UnwrapFailed(site.to_string()))?,
        );
        if plain.len() != KEY_LEN {
            return Err(KeyError::WrappedKeyLength {
                site: site.to_string(),
                len: plain.len(),
                expected: KEY_LEN,
            });
        }
        let mut key = [0u8; KEY_LEN];
        key.copy_from_slice(&plain);
        Ok(SiteKey(Zeroizing::new(key)))
    }

    /// Seals a clerical-review record for storage.
    pub(crate) fn seal_review(&self, id: u64, plain: &[u8]) -> Vec<u8> {
        seal(&self.review, &review_aad(id), plain)
    }

    /// Opens a clerical-review record; `None` if it fails its integrity check.
    pub(crate) fn open_review(&self, id: u64, sealed: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        open(&self.review, &review_aad(id), sealed).map(Zeroizing::new)
    }
}

fn wrap_aad(site: &str) -> Vec<u8> {
    format!("lid-key:{site}").into_bytes()
}

fn review_aad(id: u64) -> Vec<u8> {
    format!("review:{id}").into_bytes()
}

/// AES-256-GCM with a random 96-bit nonce: nonce ‖ ciphertext ‖ tag.
fn seal(key: &[u8; KEY_LEN], aad: &[u8], plain: &[u8]) -> Vec<u8> {
    let cipher = Aes256Gcm::new(&Key::<Aes256Gcm>::from(*key));
    let nonce = Nonce::generate();
    let ct = cipher
        .encrypt(&nonce, Payload { msg: plain, aad })
        .expect("AES-GCM encrypts messages far below its length limit");
    let mut out = Vec::with_capacity(NONCE_LEN + ct.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    out
}

fn open(key: &[u8; KEY_LEN], aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
    if sealed.len() < NONCE_LEN {
        return None;
    }
    let (nonce, ct) = sealed.split_at(NONCE_LEN);
    let nonce = Nonce::try_from(nonce).ok()?;
    let cipher = Aes256Gcm::new(&Key::<Aes256Gcm>::from(*key));
    cipher.decrypt(&nonce, Payload { msg: ct, aad }).ok()
}

/// A site's AES-256 key for sealing its LIDs.
#[derive(Clone)]
pub struct SiteKey(pub(crate) Zeroizing<[u8; KEY_LEN]>);

impl std::fmt::Debug for SiteKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SiteKey(..)")
    }
}

impl SiteKey {
    /// A fresh random key.
    pub fn generate() -> Self {
        SiteKey(Zeroizing::new(<[u8; KEY_LEN]>::generate()))
    }

    /// Parses the base64 form printed by `register`.
    pub fn from_base64(text: &str) -> Result<Self, KeyError> {
        let raw = Zeroizing::new(
            STANDARD
                .decode(text.trim())
                .map_err(KeyError::LidKeyNotBase64)?,
        );
        let bytes: [u8; KEY_LEN] = raw
            .as_slice()
            .try_into()
            .map_err(|_| KeyError::LidKeyLength(raw.len()))?;
        Ok(SiteKey(Zeroizing::new(bytes)))
    }

    /// Base64 form, printed once at registration.
    pub fn to_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(STANDARD.encode(&self.0[..]))
    }

    pub(crate) fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(&Key::<Aes256Gcm>::from(*self.0))
    }
}

/// A fresh API key: 32 random bytes, URL-safe base64 so it fits a header
/// unquoted.
pub fn generate_api_key() -> Zeroizing<String> {
    let raw = Zeroizing::new(<[u8; KEY_LEN]>::generate());
    Zeroizing::new(URL_SAFE_NO_PAD.encode(&raw[..]))
}

/// Writes a new random master key (base64) to `path`, readable only by its
/// owner. Refuses to overwrite an existing file: losing the old key would make
/// every stored site key unreadable.
pub fn create_master_key_file(path: &Path) -> Result<(), KeyError> {
    let err = |source| KeyError::WriteMasterKeyFile {
        path: path.display().to_string(),
        source,
    };
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(err)?;
    let raw = Zeroizing::new(<[u8; KEY_LEN]>::generate());
    let mut text = Zeroizing::new(STANDARD.encode(&raw[..]));
    text.push('\n');
    file.write_all(text.as_bytes()).map_err(err)?;
    file.sync_all().map_err(err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn master(byte: u8) -> MasterKey {
        MasterKey::from_bytes(&[byte; KEY_LEN])
    }

    #[test]
    fn wrapped_site_key_round_trips_only_for_its_site_and_master() {
        let key = SiteKey::generate();
        let wrapped = master(1).wrap_site_key("A", &key);
        let back = master(1).unwrap_site_key("A", &wrapped).unwrap();
        assert_eq!(*back.0, *key.0);
        assert!(matches!(
            master(1).unwrap_site_key("B", &wrapped),
            Err(KeyError::UnwrapFailed(_))
        ));
        assert!(matches!(
            master(2).unwrap_site_key("A", &wrapped),
            Err(KeyError::UnwrapFailed(_))
        ));
        assert!(master(1).unwrap_site_key("A", &wrapped[..5]).is_err());
    }

    #[test]
    fn subkeys_are_distinct_and_depend_on_the_master() {
        let m = master(7);
        assert_ne!(m.api_key_mac("k"), m.lid_index(b"k"));
        assert_ne!(m.api_key_mac("k"), master(8).api_key_mac("k"));
        assert!(m.matches_check_value(master(7).check_value()));
        assert!(!m.matches_check_value(master(8).check_value()));
    }

    #[test]
    fn master_key_parsing_reports_bad_input() {
        assert!(matches!(
            MasterKey::from_base64("not base64!"),
            Err(KeyError::MasterKeyNotBase64(_))
        ));
        assert!(matches!(
            MasterKey::from_base64(&STANDARD.encode([0u8; 16])),
            Err(KeyError::MasterKeyLength(16))
        ));
        assert!(MasterKey::from_base64(&format!("{}\n", STANDARD.encode([3u8; 32]))).is_ok());
    }

    #[test]
    fn api_keys_are_random_and_header_safe() {
        let a = generate_api_key();
        let b = generate_api_key();
        assert_ne!(*a, *b);
        assert_eq!(a.len(), 43);
        assert!(
            a.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
    }
}
