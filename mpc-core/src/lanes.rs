//! Bit-packed SIMD lanes: the value of one wire across many records (or
//! any packed bit vector), shared by every layer without importing circuits.
//!
//! A circuit is evaluated for many database records at once; every wire then
//! carries one bit per record ("lane"). Packing 64 lanes into a `u64` lets one
//! word operation evaluate a gate for 64 records, which is what makes the
//! plaintext backend and the GMW online phase cheap per gate.

use std::fmt;

/// Why bytes do not decode as a bit vector ([`Lanes::from_bytes`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LanesError {
    /// The wrong number of bytes for the bit count.
    #[error("a bit vector needs {expected} bytes, got {actual}")]
    ByteLength {
        /// `ceil(len / 8)`.
        expected: usize,
        /// Bytes given.
        actual: usize,
    },
    /// Non-zero padding bits (SPEC §6 1.1: they must be zero).
    #[error("a bit vector of {len} bits has non-zero padding bits")]
    Padding {
        /// Bits of the vector.
        len: usize,
    },
}

/// A vector of `len` bits packed little-endian into `u64` words.
///
/// Invariant: bits at positions `>= len` in the last word are zero, so word
/// equality is value equality and word-wise operations never leak garbage
/// into a later `concat` or `count_ones`.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Lanes {
    words: Vec<u64>,
    len: usize,
}

/// Number of `u64` words needed for `len` bits.
pub const fn words_for(len: usize) -> usize {
    len.div_ceil(64)
}

impl Lanes {
    /// `len` zero bits.
    pub fn zeros(len: usize) -> Self {
        Lanes {
            words: vec![0; words_for(len)],
            len,
        }
    }

    /// `len` one bits.
    pub fn ones(len: usize) -> Self {
        Self::splat(true, len)
    }

    /// `len` copies of `bit`.
    pub fn splat(bit: bool, len: usize) -> Self {
        let fill = if bit { u64::MAX } else { 0 };
        let mut l = Lanes {
            words: vec![fill; words_for(len)],
            len,
        };
        l.mask_tail();
        l
    }

    /// Packs a slice of booleans.
    pub fn from_bools(bits: &[bool]) -> Self {
        let mut l = Self::zeros(bits.len());
        for (i, &b) in bits.iter().enumerate() {
            if b {
                l.words[i / 64] |= 1 << (i % 64);
            }
        }
        l
    }

    /// Takes packed words; bits beyond `len` are cleared. Missing words read
    /// as zero, surplus words are dropped.
    pub fn from_words(mut words: Vec<u64>, len: usize) -> Self {
        words.resize(words_for(len), 0);
        let mut l = Lanes { words, len };
        l.mask_tail();
        l
    }

    /// Unpacks exactly `ceil(len / 8)` little-endian bytes (bit `i` is bit
    /// `i % 8` of byte `i / 8`). Bytes usually come from the peer, so a
    /// wrong length or a set padding bit is an error (SPEC §6 1.1), never
    /// silently dropped: a peer must not be able to smuggle bits past the
    /// receiver's view of a message.
    pub fn from_bytes(bytes: &[u8], len: usize) -> Result<Self, LanesError> {
        let expected = len.div_ceil(8);
        if bytes.len() != expected {
            return Err(LanesError::ByteLength {
                expected,
                actual: bytes.len(),
            });
        }
        let mut words = vec![0u64; words_for(len)];
        for (i, chunk) in bytes.chunks(8).enumerate() {
            let mut buf = [0u8; 8];
            buf[..chunk.len()].copy_from_slice(chunk);
            words[i] = u64::from_le_bytes(buf);
        }
        let rem = len % 64;
        if rem != 0
            && let Some(last) = words.last()
            && last >> rem != 0
        {
            return Err(LanesError::Padding { len });
        }
        Ok(Lanes { words, len })
    }

    /// Appends the bits as `ceil(len / 8)` little-endian bytes to `out`.
    pub fn write_bytes(&self, out: &mut Vec<u8>) {
        let n = self.len.div_ceil(8);
        let start = out.len();
        for w in &self.words {
            out.extend_from_slice(&w.to_le_bytes());
        }
        out.truncate(start + n);
    }

    /// Number of bytes [`Lanes::write_bytes`] produces.
    pub const fn byte_len(&self) -> usize {
        self.len.div_ceil(8)
    }

    fn mask_tail(&mut self) {
        let rem = self.len % 64;
        if rem != 0
            && let Some(last) = self.words.last_mut()
        {
            *last &= (1u64 << rem) - 1;
        }
    }

    /// Number of lanes.
    pub const fn len(&self) -> usize {
        self.len
    }

    /// True if there are no lanes.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The packed words (tail bits are zero).
    pub fn words(&self) -> &[u64] {
        &self.words
    }

    /// Bit of lane `i`; `None` if out of range.
    pub fn get(&self, i: usize) -> Option<bool> {
        (i < self.len).then(|| self.words[i / 64] >> (i % 64) & 1 == 1)
    }

    /// Sets lane `i`; ignored if out of range (callers index within `len`).
    pub fn set(&mut self, i: usize, bit: bool) {
        if i < self.len {
            let m = 1u64 << (i % 64);
            if bit {
                self.words[i / 64] |= m;
            } else {
                self.words[i / 64] &= !m;
            }
        }
    }

    /// The bits as booleans.
    pub fn to_bools(&self) -> Vec<bool> {
        (0..self.len)
            .map(|i| self.words[i / 64] >> (i % 64) & 1 == 1)
            .collect()
    }

    /// Number of set lanes.
    pub fn count_ones(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// `self ^= other`; lengths must match (checked by callers).
    pub fn xor_assign(&mut self, other: &Lanes) {
        debug_assert_eq!(self.len, other.len);
        for (a, b) in self.words.iter_mut().zip(&other.words) {
            *a ^= b;
        }
    }

    /// `self &= other`; lengths must match (checked by callers).
    pub fn and_assign(&mut self, other: &Lanes) {
        debug_assert_eq!(self.len, other.len);
        for (a, b) in self.words.iter_mut().zip(&other.words) {
            *a &= b;
        }
    }

    /// Flips every lane.
    pub fn not_assign(&mut self) {
        for w in &mut self.words {
            *w = !*w;
        }
        self.mask_tail();
    }

    /// `self ^ other`.
    pub fn xor(&self, other: &Lanes) -> Lanes {
        let mut r = self.clone();
        r.xor_assign(other);
        r
    }

    /// `self & other`.
    pub fn and(&self, other: &Lanes) -> Lanes {
        let mut r = self.clone();
        r.and_assign(other);
        r
    }

    /// `!self`.
    pub fn not(&self) -> Lanes {
        let mut r = self.clone();
        r.not_assign();
        r
    }

    /// Lanes `start .. start + len`; `None` if out of range.
    pub fn slice(&self, start: usize, len: usize) -> Option<Lanes> {
        if start.checked_add(len)? > self.len {
            return None;
        }
        let mut out = vec![0u64; words_for(len)];
        let shift = start % 64;
        let first = start / 64;
        for (k, o) in out.iter_mut().enumerate() {
            let lo = self.words.get(first + k).copied().unwrap_or(0);
            *o = if shift == 0 {
                lo
            } else {
                let hi = self.words.get(first + k + 1).copied().unwrap_or(0);
                (lo >> shift) | (hi << (64 - shift))
            };
        }
        Some(Lanes::from_words(out, len))
    }

    /// Appends `other` after the last lane.
    pub fn extend(&mut self, other: &Lanes) {
        let shift = self.len % 64;
        if shift == 0 {
            self.words.extend_from_slice(&other.words);
        } else {
            for &w in &other.words {
                if let Some(last) = self.words.last_mut() {
                    *last |= w << shift;
                }
                self.words.push(w >> (64 - shift));
            }
        }
        self.len += other.len;
        self.words.truncate(words_for(self.len));
        self.mask_tail();
    }

    /// Concatenation of `parts` in order.
    pub fn concat<'a>(parts: impl IntoIterator<Item = &'a Lanes>) -> Lanes {
        let mut out = Lanes::zeros(0);
        for p in parts {
            out.extend(p);
        }
        out
    }

    /// Lane `i` of the result is lane `indices[i]` of `self`; `None` if an
    /// index is out of range.
    pub fn gather(&self, indices: &[u32]) -> Option<Lanes> {
        let mut out = Lanes::zeros(indices.len());
        for (i, &src) in indices.iter().enumerate() {
            if self.get(src as usize)? {
                out.words[i / 64] |= 1 << (i % 64);
            }
        }
        Some(out)
    }
}

/// Wipes the bits (the length stays): for owners of secret lanes (OT
/// material, triples) to call on drop. Lanes themselves are not wiped on
/// every drop, which would cost a memory pass per gate layer.
impl zeroize::Zeroize for Lanes {
    fn zeroize(&mut self) {
        self.words.zeroize();
    }
}

/// Redacted: lanes hold shares, wire values and record bits, none of which
/// may reach a log. Only the length is shown.
impl fmt::Debug for Lanes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Lanes[{} bits, redacted]", self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(len: usize, seed: u64) -> Vec<bool> {
        (0..len)
            .map(|i| {
                (i as u64)
                    .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                    .wrapping_add(seed)
                    >> 61
                    & 1
                    == 1
            })
            .collect()
    }

    #[test]
    fn slice_concat_roundtrip_at_odd_offsets() {
        let bits = pattern(300, 7);
        let l = Lanes::from_bools(&bits);
        for (start, len) in [(0, 300), (1, 64), (63, 130), (64, 64), (100, 0), (299, 1)] {
            let s = l.slice(start, len).expect("in range");
            assert_eq!(s.to_bools(), bits[start..start + len].to_vec());
        }
        assert!(l.slice(250, 51).is_none());
        let a = l.slice(0, 77).expect("in range");
        let b = l.slice(77, 223).expect("in range");
        assert_eq!(Lanes::concat([&a, &b]), l);
    }

    #[test]
    fn bytes_roundtrip_and_tail_is_masked() {
        let bits = pattern(77, 3);
        let l = Lanes::from_bools(&bits);
        let mut buf = Vec::new();
        l.write_bytes(&mut buf);
        assert_eq!(buf.len(), 10);
        assert_eq!(Lanes::from_bytes(&buf, 77), Ok(l));
        let ones = Lanes::ones(70);
        assert_eq!(ones.count_ones(), 70);
        assert_eq!(ones.not().count_ones(), 0);
    }

    #[test]
    fn from_bytes_rejects_wrong_length_and_padding() {
        // 77 bits = 10 bytes; bits 5..8 of the last byte (77..80) are padding.
        let mut buf = vec![0u8; 10];
        buf[9] = 0b0010_0000;
        assert_eq!(
            Lanes::from_bytes(&buf, 77),
            Err(LanesError::Padding { len: 77 })
        );
        buf[9] = 0b0001_1111;
        assert!(Lanes::from_bytes(&buf, 77).is_ok());
        assert_eq!(
            Lanes::from_bytes(&buf[..9], 77),
            Err(LanesError::ByteLength {
                expected: 10,
                actual: 9
            })
        );
        assert_eq!(
            Lanes::from_bytes(&[0u8; 11], 77),
            Err(LanesError::ByteLength {
                expected: 10,
                actual: 11
            })
        );
        // A whole number of bytes has no padding; 64 bits, no tail.
        assert!(Lanes::from_bytes(&[0xff; 8], 64).is_ok());
        assert_eq!(
            Lanes::from_bytes(&[0xff; 8], 63),
            Err(LanesError::Padding { len: 63 })
        );
    }

    #[test]
    fn debug_shows_no_bits() {
        let l = Lanes::from_bools(&[true, false, true, true]);
        let s = format!("{l:?}");
        assert_eq!(s, "Lanes[4 bits, redacted]");
    }

    #[test]
    fn gather_permutes_and_checks_range() {
        let l = Lanes::from_bools(&[true, false, true, true]);
        let g = l.gather(&[3, 1, 0, 1, 2]).expect("in range");
        assert_eq!(g.to_bools(), vec![true, false, true, false, true]);
        assert!(l.gather(&[4]).is_none());
    }
}
