//! The node key and sealing (AES-256-GCM) of everything secret at rest.
//!
//! (Signatures fixed for the rest of the node; the implementation is being built.)

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
    _private: (),
}

impl NodeKey {
    /// Seals `plaintext` bound to `context` (associated data: what the value
    /// is and whose, e.g. `b"remote:TUD"`), with a fresh random nonce.
    pub fn seal(&self, _context: &[u8], _plaintext: &[u8]) -> Vec<u8> {
        unimplemented!("seal")
    }

    pub fn open(
        &self,
        _context: &[u8],
        _sealed: &[u8],
    ) -> Result<zeroize::Zeroizing<Vec<u8>>, SealError> {
        unimplemented!("seal")
    }

    /// A keyed hash (HMAC-SHA256 under a subkey), e.g. for idempotency keys.
    pub fn mac(&self, _context: &[u8], _data: &[u8]) -> [u8; 32] {
        unimplemented!("seal")
    }
}
