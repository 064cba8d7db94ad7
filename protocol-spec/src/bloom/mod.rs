//! The Mainzelliste-compatible Bloom-filter encoder and its keyed variant.
//!
//! A text field is normalised ([`normalize`]), cut into space-padded bigrams
//! ([`bigrams`]), and every bigram sets `hash_functions` bits of a
//! `bitlength`-bit filter. Two ways of choosing those bits exist:
//!
//! * **Mainzelliste (unkeyed)**: the double hashing of Mainzelliste's
//!   `BloomFilterTransformer` (MD5/SHA-1, 500 bits, 15 functions). Needed to
//!   link against filters that Mainzelliste already produced; anyone can
//!   recompute the filter of a candidate name, so a leaked filter file is open
//!   to dictionary and frequency attacks.
//! * **Keyed**: positions from HMAC-SHA256 under a secret shared by the
//!   linking sites ([`SiteKey`]). Without the key no filter can be
//!   recomputed, and the positions of one bigram are independent rather than
//!   an arithmetic progression, which removes the structure that published
//!   attacks on double-hashed filters exploit. Recommended for new
//!   deployments.
//!
//! The filter is a [`FieldBits`]; [`to_base64`] gives the wire form (base64 of
//! Java's `BitSet.toByteArray()`). SPEC.md §4 is the written
//! specification.
mod hashing;
mod ngram;
mod normalize;
mod wire;

pub use hashing::{KEYED_LABEL, KeyError, MIN_KEY_BYTES, SiteKey, mainzelliste_sign_bytes};
pub use ngram::{NGRAM_LEN, bigrams};
pub use normalize::{DELIMITERS, normalize};
pub use wire::{java_bitset_bytes, to_base64};

use crate::config::{FieldBits, MAX_BITMASK_BITS};
use hmac::Hmac;
use sha2::Sha256;

/// Mainzelliste's filter length (`BloomFilterTransformer.hashLength`).
pub const MAINZELLISTE_BITLENGTH: u32 = 500;
/// Mainzelliste's number of hash functions per bigram.
pub const MAINZELLISTE_HASH_FUNCTIONS: u32 = 15;

/// Why an encoder could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BloomError {
    #[error("Bloom filter bit length {0} is outside 1..={MAX_BITMASK_BITS}")]
    Bitlength(u32),
    #[error("a Bloom filter needs at least one hash function")]
    NoHashFunctions,
}

/// How bigrams are mapped to bit positions.
#[derive(Clone)]
enum Hashing {
    Mainzelliste,
    /// The site key with `label ‖ domain` already absorbed.
    Keyed(Hmac<Sha256>),
}

/// Encodes text values of one field into Bloom filters.
///
/// One encoder per field (the keyed variant binds the field's domain); it is
/// cheap to clone and holds no per-value state.
#[derive(Clone)]
pub struct BloomEncoder {
    bitlength: u32,
    hash_functions: u32,
    hashing: Hashing,
}

impl std::fmt::Debug for BloomEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BloomEncoder")
            .field("bitlength", &self.bitlength)
            .field("hash_functions", &self.hash_functions)
            .field("keyed", &self.is_keyed())
            .finish()
    }
}

fn check(bitlength: u32, hash_functions: u32) -> Result<(), BloomError> {
    if bitlength == 0 || bitlength > MAX_BITMASK_BITS {
        return Err(BloomError::Bitlength(bitlength));
    }
    if hash_functions == 0 {
        return Err(BloomError::NoHashFunctions);
    }
    Ok(())
}

impl BloomEncoder {
    /// Exactly Mainzelliste's encoder: unkeyed, 500 bits, 15 hash functions.
    pub fn mainzelliste() -> BloomEncoder {
        BloomEncoder {
            bitlength: MAINZELLISTE_BITLENGTH,
            hash_functions: MAINZELLISTE_HASH_FUNCTIONS,
            hashing: Hashing::Mainzelliste,
        }
    }

    /// Mainzelliste's double hashing for another filter length. For lengths
    /// other than 500 the number of digest bytes follows
    /// [`mainzelliste_sign_bytes`]; only 500 is what Mainzelliste itself ships.
    pub fn unkeyed(bitlength: u32, hash_functions: u32) -> Result<BloomEncoder, BloomError> {
        check(bitlength, hash_functions)?;
        Ok(BloomEncoder {
            bitlength,
            hash_functions,
            hashing: Hashing::Mainzelliste,
        })
    }

    /// The keyed variant for one comparison domain.
    ///
    /// `domain` separates fields: the same bigram lands on unrelated bits in
    /// different domains, so filters of different fields cannot be correlated.
    /// Fields that are compared with each other (an exchange group) must share
    /// a domain; SPEC.md §4 fixes the rule (the group's first field name).
    pub fn keyed(
        key: &SiteKey,
        domain: &str,
        bitlength: u32,
        hash_functions: u32,
    ) -> Result<BloomEncoder, BloomError> {
        check(bitlength, hash_functions)?;
        Ok(BloomEncoder {
            bitlength,
            hash_functions,
            hashing: Hashing::Keyed(key.domain_prefix(domain)),
        })
    }

    pub fn bitlength(&self) -> u32 {
        self.bitlength
    }

    pub fn hash_functions(&self) -> u32 {
        self.hash_functions
    }

    pub fn is_keyed(&self) -> bool {
        matches!(self.hashing, Hashing::Keyed(_))
    }

    /// Normalises `raw` and encodes it; `None` when nothing is left after
    /// normalisation (an empty field, sent as JSON `null`).
    ///
    /// Mainzelliste never encodes empty values either: it sends them as null,
    /// rather than the filter of the lone bigram `"  "`.
    pub fn encode(&self, raw: &str) -> Option<FieldBits> {
        let normalized = normalize(raw);
        if normalized.is_empty() {
            None
        } else {
            Some(self.encode_normalized(&normalized))
        }
    }

    /// Encodes an already normalised value as it is (no trimming, no case
    /// folding). An empty string gives the filter of the bigram `"  "`.
    pub fn encode_normalized(&self, normalized: &str) -> FieldBits {
        let mut bytes = vec![0u8; self.bitlength.div_ceil(8) as usize];
        let mut positions = Vec::with_capacity(self.hash_functions as usize);
        for bigram in bigrams(normalized) {
            positions.clear();
            self.positions(&bigram, &mut positions);
            for &p in &positions {
                bytes[(p / 8) as usize] |= 1 << (p % 8);
            }
        }
        FieldBits::from_le_bytes(self.bitlength, &bytes)
            .expect("every position is below the bit length by construction")
    }

    /// The bit positions one bigram sets (with repetitions, in hash order).
    pub fn positions(&self, bigram: &str, out: &mut Vec<u32>) {
        match &self.hashing {
            Hashing::Mainzelliste => {
                hashing::mainzelliste_positions(bigram, self.bitlength, self.hash_functions, out)
            }
            Hashing::Keyed(prefix) => {
                hashing::keyed_positions(prefix, bigram, self.bitlength, self.hash_functions, out)
            }
        }
    }
}
