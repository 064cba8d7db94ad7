//! The node key and sealing (AES-256-GCM) of everything secret at rest.
//!
//! The node key (32 bytes, base64 in a file or in `SEL_NODE_KEY`) never
//! touches data itself: two purpose-bound subkeys are derived from it with
//! HMAC-SHA256 over fixed labels, one that seals (AES-256-GCM) and one that
//! MACs (HMAC-SHA256). A sealed value cannot be mistaken for a MAC input and
//! vice versa, and a value sealed under one `context` (what it is and whose)
//! does not open under another, so a sealed remote cannot be swapped for
//! another remote's record in the store.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

use aes_gcm::aead::{Aead, Generate, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

/// The environment variable that may hold the node key (base64).
pub const NODE_KEY_ENV: &str = "SEL_NODE_KEY";

const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 12;
/// First byte of every sealed value: the format (nonce ‖ ciphertext ‖ tag
/// under the v1 seal subkey). A later format (key rotation) gets another byte.
const FORMAT_V1: u8 = 1;

type HmacSha256 = Hmac<Sha256>;

/// Why sealing or opening failed. Never contains the key or the plaintext.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("node key: {0}")]
    Key(String),
    #[error("sealed data does not open (wrong node key, or tampered)")]
    Open,
}

/// The node key: 32 bytes, from a file or `SEL_NODE_KEY`, zeroised on drop.
pub struct NodeKey {
    /// AES-256-GCM key for [`NodeKey::seal`].
    seal: Zeroizing<[u8; KEY_LEN]>,
    /// HMAC-SHA256 key for [`NodeKey::mac`].
    mac: Zeroizing<[u8; KEY_LEN]>,
}

impl std::fmt::Debug for NodeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NodeKey(<redacted>)")
    }
}

/// HMAC-SHA256(node key, "sel-node/v1/" ‖ label): a subkey for one purpose.
fn derive(key: &[u8; KEY_LEN], label: &str) -> Zeroizing<[u8; KEY_LEN]> {
    let mut mac =
        <HmacSha256 as hmac::KeyInit>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(b"sel-node/v1/");
    mac.update(label.as_bytes());
    let mut out = Zeroizing::new([0u8; KEY_LEN]);
    out.copy_from_slice(&mac.finalize().into_bytes());
    out
}

impl NodeKey {
    /// The key from its 32 raw bytes.
    pub fn from_bytes(bytes: &[u8; KEY_LEN]) -> NodeKey {
        NodeKey {
            seal: derive(bytes, "seal"),
            mac: derive(bytes, "mac"),
        }
    }

    /// The key from its base64 form; surrounding white space (a trailing
    /// newline) is ignored.
    pub fn from_base64(text: &str) -> Result<NodeKey, SealError> {
        let raw = Zeroizing::new(
            STANDARD
                .decode(text.trim())
                .map_err(|_| SealError::Key("not valid base64".into()))?,
        );
        let bytes: &[u8; KEY_LEN] = raw
            .as_slice()
            .try_into()
            .map_err(|_| SealError::Key(format!("must be {KEY_LEN} bytes, found {}", raw.len())))?;
        Ok(NodeKey::from_bytes(bytes))
    }

    /// The key from `file` (base64) if given, else from `SEL_NODE_KEY`.
    pub fn load(file: Option<&Path>) -> Result<NodeKey, SealError> {
        match file {
            Some(path) => {
                let text =
                    Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
                        SealError::Key(format!("cannot read {}: {e}", path.display()))
                    })?);
                NodeKey::from_base64(&text)
                    .map_err(|e| SealError::Key(format!("{}: {e}", path.display())))
            }
            None => match std::env::var(NODE_KEY_ENV) {
                Ok(text) => {
                    let text = Zeroizing::new(text);
                    NodeKey::from_base64(&text)
                        .map_err(|e| SealError::Key(format!("{NODE_KEY_ENV}: {e}")))
                }
                Err(_) => Err(SealError::Key(format!(
                    "none given: set node_key_file (--node-key-file) or {NODE_KEY_ENV}"
                ))),
            },
        }
    }

    /// Writes a fresh random key (base64) to `path`, readable only by its
    /// owner. Refuses to overwrite: losing the old key makes every sealed
    /// value in the store unreadable.
    pub fn generate_file(path: &Path) -> Result<(), SealError> {
        let err =
            |e: std::io::Error| SealError::Key(format!("cannot create {}: {e}", path.display()));
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

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(&Key::<Aes256Gcm>::from(*self.seal))
    }

    /// Seals `plaintext` bound to `context` (associated data: what the value
    /// is and whose, e.g. `b"remote:TUD"`), with a fresh random nonce.
    /// The result is `1 ‖ nonce ‖ ciphertext ‖ tag`.
    pub fn seal(&self, context: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let nonce = Nonce::generate();
        let ct = self
            .cipher()
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad: context,
                },
            )
            .expect("AES-GCM encrypts messages far below its length limit");
        let mut out = Vec::with_capacity(1 + NONCE_LEN + ct.len());
        out.push(FORMAT_V1);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        out
    }

    /// Opens a value sealed by [`NodeKey::seal`] under the same `context`.
    /// A wrong key, a wrong context or any changed byte gives
    /// [`SealError::Open`], never garbage.
    pub fn open(
        &self,
        context: &[u8],
        sealed: &[u8],
    ) -> Result<zeroize::Zeroizing<Vec<u8>>, SealError> {
        let Some((&FORMAT_V1, rest)) = sealed.split_first() else {
            return Err(SealError::Open);
        };
        if rest.len() < NONCE_LEN {
            return Err(SealError::Open);
        }
        let (nonce, ct) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_from(nonce).map_err(|_| SealError::Open)?;
        self.cipher()
            .decrypt(
                &nonce,
                Payload {
                    msg: ct,
                    aad: context,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| SealError::Open)
    }

    /// A keyed hash (HMAC-SHA256 under a subkey), e.g. for idempotency keys.
    /// The context's length is hashed first, so `(context, data)` pairs that
    /// concatenate to the same bytes still differ.
    pub fn mac(&self, context: &[u8], data: &[u8]) -> [u8; 32] {
        let mut mac = <HmacSha256 as hmac::KeyInit>::new_from_slice(&self.mac[..])
            .expect("HMAC takes keys of any length");
        mac.update(&(context.len() as u64).to_be_bytes());
        mac.update(context);
        mac.update(data);
        mac.finalize().into_bytes().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> NodeKey {
        NodeKey::from_bytes(&[byte; KEY_LEN])
    }

    #[test]
    fn sealed_values_open_only_with_their_key_and_context() {
        let sealed = key(1).seal(b"remote:A", b"secret api key");
        assert_eq!(
            &key(1).open(b"remote:A", &sealed).unwrap()[..],
            b"secret api key"
        );
        assert_eq!(key(1).open(b"remote:B", &sealed), Err(SealError::Open));
        assert_eq!(key(2).open(b"remote:A", &sealed), Err(SealError::Open));
        let mut flipped = sealed.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert_eq!(key(1).open(b"remote:A", &flipped), Err(SealError::Open));
        assert_eq!(key(1).open(b"remote:A", &sealed[..5]), Err(SealError::Open));
        assert_eq!(key(1).open(b"remote:A", &[]), Err(SealError::Open));
        assert!(
            !sealed
                .windows(b"secret".len())
                .any(|w| w == b"secret".as_slice())
        );
    }

    #[test]
    fn every_seal_uses_a_fresh_nonce() {
        let k = key(3);
        assert_ne!(k.seal(b"c", b"same"), k.seal(b"c", b"same"));
    }

    #[test]
    fn mac_depends_on_key_context_and_data_and_is_not_ambiguous() {
        let k = key(4);
        assert_eq!(k.mac(b"idem", b"x"), key(4).mac(b"idem", b"x"));
        assert_ne!(k.mac(b"idem", b"x"), key(5).mac(b"idem", b"x"));
        assert_ne!(k.mac(b"idem", b"x"), k.mac(b"idem", b"y"));
        assert_ne!(k.mac(b"ab", b"c"), k.mac(b"a", b"bc"));
    }

    #[test]
    fn key_parsing_reports_bad_input_without_the_key() {
        assert!(matches!(
            NodeKey::from_base64("not base64!"),
            Err(SealError::Key(_))
        ));
        let short = STANDARD.encode([7u8; 16]);
        match NodeKey::from_base64(&short) {
            Err(SealError::Key(msg)) => {
                assert!(msg.contains("16"));
                assert!(!msg.contains(&short));
            }
            other => panic!("expected a key error, got {other:?}"),
        }
        assert!(NodeKey::from_base64(&format!("{}\n", STANDARD.encode([9u8; 32]))).is_ok());
        assert_eq!(format!("{:?}", key(1)), "NodeKey(<redacted>)");
    }

    #[test]
    fn generated_key_file_is_private_loads_and_is_never_overwritten() {
        let dir = std::env::temp_dir().join(format!("sel-node-seal-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("node.key");
        NodeKey::generate_file(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let before = std::fs::read(&path).unwrap();
        assert!(matches!(
            NodeKey::generate_file(&path),
            Err(SealError::Key(_))
        ));
        assert_eq!(std::fs::read(&path).unwrap(), before);
        let a = NodeKey::load(Some(&path)).unwrap();
        let b = NodeKey::load(Some(&path)).unwrap();
        assert_eq!(&b.open(b"c", &a.seal(b"c", b"v")).unwrap()[..], b"v");
        assert!(matches!(
            NodeKey::load(Some(&dir.join("missing"))),
            Err(SealError::Key(_))
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
