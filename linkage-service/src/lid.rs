//! Linkage IDs (LIDs) and their sealed wire form.
//!
//! A LID is 128 random bits. On the wire it only ever travels sealed for one
//! site: `base64(nonce(12) ‖ AES-256-GCM(LID) ‖ tag(16))` under the site's LID
//! key, with the site id as associated data. Binding the site id means a LID
//! sealed for site A fails to open as a LID of site B even if the two keys were
//! equal, so a LID cannot be replayed across sites.
//!
//! Nonces are random (96 bits). NIST SP 800-38D bounds random-nonce GCM to
//! 2^32 encryptions per key, so one site key may seal about four billion LIDs
//! over its lifetime; re-register the site (new key) long before that.

use aes_gcm::Nonce;
use aes_gcm::aead::{Aead, Generate, Payload};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_PAD_INDIFFERENT};
use protocol_spec::messages::linkage::{LID_LEN, LID_NONCE_LEN, SEALED_LID_LEN};
use rand::CryptoRng;
use zeroize::Zeroizing;

use crate::keys::SiteKey;

/// Why a sealed LID could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LidError {
    #[error("not valid base64: {0}")]
    NotBase64(String),
    #[error("decodes to {len} bytes; a sealed LID has {SEALED_LID_LEN}")]
    WrongLength { len: usize },
    #[error("fails the AES-GCM check under this site's key and id")]
    AuthenticationFailed,
}

/// A linkage ID in the clear. Wiped from memory when dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct Lid(Zeroizing<[u8; LID_LEN]>);

impl std::fmt::Debug for Lid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print a LID: logs must not carry them.
        f.write_str("Lid(..)")
    }
}

impl Lid {
    /// A fresh random LID.
    pub fn random(rng: &mut impl CryptoRng) -> Self {
        Lid(Zeroizing::new(<[u8; LID_LEN]>::generate_from_rng(rng)))
    }

    /// The raw 128 bits.
    pub fn as_bytes(&self) -> &[u8; LID_LEN] {
        &self.0
    }
}

/// Seals `lid` for `site` under that site's key.
pub fn seal_lid(key: &SiteKey, site: &str, lid: &Lid, rng: &mut impl CryptoRng) -> String {
    let nonce = Nonce::generate_from_rng(rng);
    let ct = key
        .cipher()
        .encrypt(
            &nonce,
            Payload {
                msg: &lid.0[..],
                aad: site.as_bytes(),
            },
        )
        .expect("AES-GCM encrypts 16 bytes");
    let mut sealed = Vec::with_capacity(SEALED_LID_LEN);
    sealed.extend_from_slice(&nonce);
    sealed.extend_from_slice(&ct);
    STANDARD.encode(sealed)
}

/// Opens a LID sealed for `site`. Accepts base64 with or without padding.
pub fn open_lid(key: &SiteKey, site: &str, sealed: &str) -> Result<Lid, LidError> {
    let raw = STANDARD_PAD_INDIFFERENT
        .decode(sealed.trim())
        .map_err(|e| LidError::NotBase64(e.to_string()))?;
    if raw.len() != SEALED_LID_LEN {
        return Err(LidError::WrongLength { len: raw.len() });
    }
    let (nonce, ct) = raw.split_at(LID_NONCE_LEN);
    let nonce = Nonce::try_from(nonce).map_err(|_| LidError::WrongLength { len: raw.len() })?;
    let plain = Zeroizing::new(
        key.cipher()
            .decrypt(
                &nonce,
                Payload {
                    msg: ct,
                    aad: site.as_bytes(),
                },
            )
            .map_err(|_| LidError::AuthenticationFailed)?,
    );
    let mut lid = [0u8; LID_LEN];
    lid.copy_from_slice(&plain);
    Ok(Lid(Zeroizing::new(lid)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_lid_opens_only_for_its_site_key_and_id() {
        let mut rng = rand::rng();
        let (ka, kb) = (SiteKey::generate(), SiteKey::generate());
        let lid = Lid::random(&mut rng);
        let sealed = seal_lid(&ka, "A", &lid, &mut rng);
        assert_eq!(open_lid(&ka, "A", &sealed).unwrap(), lid);
        assert_eq!(
            open_lid(&kb, "A", &sealed),
            Err(LidError::AuthenticationFailed)
        );
        // Same key, other site id: the associated data no longer matches.
        assert_eq!(
            open_lid(&ka, "B", &sealed),
            Err(LidError::AuthenticationFailed)
        );
    }

    #[test]
    fn sealing_is_randomised_and_has_the_documented_size() {
        let mut rng = rand::rng();
        let k = SiteKey::generate();
        let lid = Lid::random(&mut rng);
        let (s1, s2) = (
            seal_lid(&k, "A", &lid, &mut rng),
            seal_lid(&k, "A", &lid, &mut rng),
        );
        assert_ne!(s1, s2);
        assert_eq!(STANDARD.decode(&s1).unwrap().len(), SEALED_LID_LEN);
        assert_eq!(open_lid(&k, "A", s1.trim_end_matches('=')).unwrap(), lid);
    }

    #[test]
    fn malformed_sealed_lids_get_precise_errors() {
        let k = SiteKey::generate();
        assert!(matches!(
            open_lid(&k, "A", "***"),
            Err(LidError::NotBase64(_))
        ));
        assert_eq!(
            open_lid(&k, "A", &STANDARD.encode([0u8; 10])),
            Err(LidError::WrongLength { len: 10 })
        );
        let mut rng = rand::rng();
        let sealed = seal_lid(&k, "A", &Lid::random(&mut rng), &mut rng);
        let mut raw = STANDARD.decode(&sealed).unwrap();
        raw[20] ^= 1;
        assert_eq!(
            open_lid(&k, "A", &STANDARD.encode(raw)),
            Err(LidError::AuthenticationFailed)
        );
    }
}
