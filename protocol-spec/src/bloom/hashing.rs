//! Where one bigram lands in the filter: the bit positions of the unkeyed
//! Mainzelliste double hashing and of the keyed (HMAC-SHA256) variant.
//!
//! Both functions are pure: bigram in, positions out. The encoder ORs the
//! positions of all bigrams into one filter.
use hmac::{Hmac, KeyInit, Mac};
use md5::{Digest, Md5};
use sha1::Sha1;
use sha2::Sha256;

/// Domain-separation label that starts every keyed-hash message. Changing the
/// construction requires a new label so old and new filters never mix
/// silently.
pub const KEYED_LABEL: &[u8] = b"sel-bloom-v1\0";

/// Shortest accepted site key (128 bits). 32 bytes are recommended.
pub const MIN_KEY_BYTES: usize = 16;

/// Why a site key was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error(
        "the Bloom-filter key has {len} bytes; at least {MIN_KEY_BYTES} are required (32 recommended)"
    )]
    TooShort { len: usize },
}

/// The site-shared secret of the keyed variant.
///
/// Holds only the HMAC state already keyed with the secret, never the raw
/// bytes, and prints as `SiteKey(<redacted>)` so it cannot leak through
/// `Debug` into logs.
#[derive(Clone)]
pub struct SiteKey {
    mac: Hmac<Sha256>,
}

impl SiteKey {
    /// A key from raw bytes (at least [`MIN_KEY_BYTES`]).
    pub fn from_bytes(key: &[u8]) -> Result<SiteKey, KeyError> {
        if key.len() < MIN_KEY_BYTES {
            return Err(KeyError::TooShort { len: key.len() });
        }
        // HMAC accepts keys of any length, so this cannot fail; map the
        // impossible error instead of unwrapping all the same.
        let mac = Hmac::<Sha256>::new_from_slice(key)
            .map_err(|_| KeyError::TooShort { len: key.len() })?;
        Ok(SiteKey { mac })
    }

    /// The HMAC state with `KEYED_LABEL ‖ u32be(len(domain)) ‖ domain`
    /// already absorbed: the per-field prefix of every keyed-hash message.
    pub(crate) fn domain_prefix(&self, domain: &str) -> Hmac<Sha256> {
        let mut mac = self.mac.clone();
        mac.update(KEYED_LABEL);
        mac.update(&len_prefix(domain.len()));
        mac.update(domain.as_bytes());
        mac
    }
}

impl std::fmt::Debug for SiteKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SiteKey(<redacted>)")
    }
}

fn len_prefix(len: usize) -> [u8; 4] {
    // Field names and bigrams are far below 4 GiB; saturate rather than wrap
    // so an absurd length can never alias a short one.
    u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes()
}

/// The number of trailing digest bytes Mainzelliste uses for a filter of
/// `bitlength` bits: the smallest n ≥ 1 with 256^n ≥ bitlength (2 for 500).
///
/// Mainzelliste computes `ceil(log(500)/log(256))` in floating point; the
/// integer form agrees with it for 500 and avoids its rounding risk at exact
/// powers of 256.
pub fn mainzelliste_sign_bytes(bitlength: u32) -> usize {
    let mut n = 1;
    while 256u64.pow(n as u32) < u64::from(bitlength) {
        n += 1;
    }
    n
}

/// Mainzelliste's `h` from one digest: `Σ_{b<n} 256^b · (digest[len−1−b] + 128)`
/// with Java's signed bytes, i.e. each unsigned byte XOR 0x80.
fn java_tail_hash(digest: &[u8], sign_bytes: usize) -> u64 {
    digest
        .iter()
        .rev()
        .take(sign_bytes)
        .enumerate()
        .map(|(b, &byte)| 256u64.pow(b as u32) * u64::from(byte ^ 0x80))
        .sum()
}

/// Positions of one bigram under Mainzelliste's unkeyed double hashing:
/// `(h1 + i·h2) mod bitlength` for `i = 0..hash_functions`, h1 from MD5 and
/// h2 from SHA-1 of the bigram's UTF-8 bytes.
pub fn mainzelliste_positions(
    bigram: &str,
    bitlength: u32,
    hash_functions: u32,
    out: &mut Vec<u32>,
) {
    let n = mainzelliste_sign_bytes(bitlength);
    let h1 = java_tail_hash(&Md5::digest(bigram.as_bytes()), n);
    let h2 = java_tail_hash(&Sha1::digest(bigram.as_bytes()), n);
    let m = u64::from(bitlength);
    out.extend((0..u64::from(hash_functions)).map(|i| ((h1 + i * h2) % m) as u32));
}

/// Positions of one bigram under the keyed variant: `hash_functions`
/// independent, uniform positions drawn from an HMAC-SHA256 stream.
///
/// Block `j` (j = 0, 1, ...) is
/// `HMAC-SHA256(K, KEYED_LABEL ‖ u32be(len d) ‖ d ‖ u32be(len g) ‖ g ‖ u32be(j))`
/// for domain `d` and bigram `g` (UTF-8). Each block is read as four
/// big-endian 64-bit words `w`; a word is used iff
/// `w < bitlength · floor(2^64 / bitlength)` (rejection sampling, so every
/// position is exactly uniform) and gives position `w mod bitlength`. The
/// first `hash_functions` accepted words are the positions; two of them may
/// coincide, as in any Bloom filter with independent hash functions.
///
/// `prefix` is [`SiteKey::domain_prefix`] for `d`.
pub(crate) fn keyed_positions(
    prefix: &Hmac<Sha256>,
    bigram: &str,
    bitlength: u32,
    hash_functions: u32,
    out: &mut Vec<u32>,
) {
    let m = u128::from(bitlength);
    let zone = (1u128 << 64) / m * m;
    let mut per_bigram = prefix.clone();
    per_bigram.update(&len_prefix(bigram.len()));
    per_bigram.update(bigram.as_bytes());
    let mut wanted = hash_functions as usize;
    let mut block: u32 = 0;
    while wanted > 0 {
        let digest = per_bigram
            .clone()
            .chain_update(block.to_be_bytes())
            .finalize()
            .into_bytes();
        for word in digest.chunks_exact(8) {
            let mut be = [0u8; 8];
            be.copy_from_slice(word);
            let w = u128::from(u64::from_be_bytes(be));
            if w < zone && wanted > 0 {
                out.push((w % m) as u32);
                wanted -= 1;
            }
        }
        block = block.wrapping_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_bytes_match_mainzelliste() {
        assert_eq!(mainzelliste_sign_bytes(500), 2);
        assert_eq!(mainzelliste_sign_bytes(256), 1);
        assert_eq!(mainzelliste_sign_bytes(257), 2);
        assert_eq!(mainzelliste_sign_bytes(65536), 2);
    }

    #[test]
    fn java_tail_hash_flips_the_sign_bit() {
        // Bytes ..., 0x01, 0xff: (0xff ^ 0x80) + 256 · (0x01 ^ 0x80) = 127 + 256·129.
        assert_eq!(java_tail_hash(&[0xaa, 0x01, 0xff], 2), 127 + 256 * 129);
        assert_eq!(java_tail_hash(&[0x00], 1), 128);
    }

    #[test]
    fn short_keys_are_rejected_and_keys_never_print() {
        assert_eq!(
            SiteKey::from_bytes(&[0u8; 15]).unwrap_err(),
            KeyError::TooShort { len: 15 }
        );
        let key = SiteKey::from_bytes(&[7u8; 32]).unwrap();
        assert_eq!(format!("{key:?}"), "SiteKey(<redacted>)");
    }

    #[test]
    fn keyed_positions_are_in_range_and_complete() {
        let key = SiteKey::from_bytes(&[1u8; 32]).unwrap();
        let prefix = key.domain_prefix("vorname");
        for m in [1u32, 7, 500, 1024, 65536] {
            let mut out = Vec::new();
            keyed_positions(&prefix, " J", m, 15, &mut out);
            assert_eq!(out.len(), 15);
            assert!(out.iter().all(|&p| p < m));
        }
        let mut many = Vec::new();
        keyed_positions(&prefix, "JA", 500, 100, &mut many);
        assert_eq!(many.len(), 100);
    }
}
