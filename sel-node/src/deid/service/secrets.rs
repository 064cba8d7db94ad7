//! The service's secrets: the salt of the hash action and the secret the
//! token service derives tokens from. Both come from one root: a secret
//! file given in the settings, or else the node key, each derived for its
//! purpose so that one never stands in for the other.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::seal::NodeKey;

/// Shortest secret file accepted (decoded bytes).
pub const MIN_SECRET_BYTES: usize = 32;

/// Derived secrets, zeroised on drop, never printed.
pub struct DeidSecrets {
    hash_salt: Zeroizing<[u8; 32]>,
    token_secret: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for DeidSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DeidSecrets(<hidden>)")
    }
}

fn hmac(key: &[u8], label: &str) -> Zeroizing<[u8; 32]> {
    let mut mac = <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(key)
        .expect("HMAC takes keys of any length");
    mac.update(b"sel-node/deid/v1/");
    mac.update(label.as_bytes());
    Zeroizing::new(mac.finalize().into_bytes().into())
}

impl DeidSecrets {
    /// Derived from the node key (keyed hash under purpose labels).
    pub fn from_node_key(key: &NodeKey) -> DeidSecrets {
        DeidSecrets {
            hash_salt: Zeroizing::new(key.mac(b"sel-node/deid/v1/hash-salt", b"")),
            token_secret: Zeroizing::new(key.mac(b"sel-node/deid/v1/token-secret", b"")),
        }
    }

    /// Derived from a root secret of at least [`MIN_SECRET_BYTES`] bytes.
    pub fn from_root(root: &[u8]) -> Result<DeidSecrets, String> {
        if root.len() < MIN_SECRET_BYTES {
            return Err(format!(
                "the de-id secret must be at least {MIN_SECRET_BYTES} bytes, found {}",
                root.len()
            ));
        }
        Ok(DeidSecrets {
            hash_salt: hmac(root, "hash-salt"),
            token_secret: hmac(root, "token-secret"),
        })
    }

    /// Read from `path`: base64 of at least 32 bytes (white space ignored).
    pub fn from_file(path: &Path) -> Result<DeidSecrets, String> {
        let text = Zeroizing::new(
            std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?,
        );
        let root = Zeroizing::new(
            STANDARD
                .decode(text.trim())
                .map_err(|_| format!("{}: not valid base64", path.display()))?,
        );
        DeidSecrets::from_root(&root).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// The salt of the hash action (`LABEL_HASH:` + SHA-256 of salt‖value).
    pub fn hash_salt(&self) -> &[u8] {
        &self.hash_salt[..]
    }

    /// The secret the token service derives deterministic tokens from.
    pub fn token_secret(&self) -> &[u8; 32] {
        &self.token_secret
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purposes_and_roots_give_different_secrets() {
        let a = DeidSecrets::from_node_key(&NodeKey::from_bytes(&[1; 32]));
        let b = DeidSecrets::from_node_key(&NodeKey::from_bytes(&[2; 32]));
        assert_ne!(a.hash_salt(), &a.token_secret()[..]);
        assert_ne!(a.hash_salt(), b.hash_salt());
        let r = DeidSecrets::from_root(&[3; 32]).unwrap();
        assert_ne!(r.hash_salt(), a.hash_salt());
        assert!(DeidSecrets::from_root(&[3; 31]).is_err());
        assert!(!format!("{r:?}").contains('3'));
    }
}
