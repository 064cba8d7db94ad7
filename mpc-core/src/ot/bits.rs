//! Bit vectors packed 64 per `u64` (bit `i` is bit `i % 64` of word `i / 64`),
//! the layout used for choice bits and 1-bit OT messages throughout.

/// Packs booleans.
pub fn pack_bools(bits: &[bool]) -> Vec<u64> {
    let mut out = vec![0u64; bits.len().div_ceil(64)];
    for (i, &b) in bits.iter().enumerate() {
        out[i / 64] |= (b as u64) << (i % 64);
    }
    out
}

/// Unpacks the first `n` bits.
pub fn unpack_bools(words: &[u64], n: usize) -> Vec<bool> {
    (0..n).map(|i| get_bit(words, i)).collect()
}

/// Bit `i`; `false` beyond the end.
#[inline]
pub fn get_bit(words: &[u64], i: usize) -> bool {
    words.get(i / 64).is_some_and(|w| (w >> (i % 64)) & 1 == 1)
}

/// Copies bits `start .. start + n` of `words` into a fresh packed vector
/// (bit `start` becomes bit 0); bits beyond the end of `words` read as zero,
/// padding bits of the result are zero.
pub fn extract_bits(words: &[u64], start: usize, n: usize) -> Vec<u64> {
    let mut out = vec![0u64; n.div_ceil(64)];
    let word_off = start / 64;
    let shift = start % 64;
    for (k, o) in out.iter_mut().enumerate() {
        let lo = words.get(word_off + k).copied().unwrap_or(0);
        *o = if shift == 0 {
            lo
        } else {
            let hi = words.get(word_off + k + 1).copied().unwrap_or(0);
            (lo >> shift) | (hi << (64 - shift))
        };
    }
    clear_padding(&mut out, n);
    out
}

/// Appends the first `n` bits of `src` to `dst`, which holds `have` bits
/// (its padding bits zero). Afterwards `dst` holds `have + n` bits in
/// `ceil((have + n) / 64)` words, padding zero. Word-wise: no per-bit loop.
pub fn append_bits(dst: &mut Vec<u64>, have: usize, src: &[u64], n: usize) {
    dst.truncate(have.div_ceil(64));
    dst.resize(have.div_ceil(64), 0);
    clear_padding(dst, have);
    let shift = have % 64;
    let words = n.div_ceil(64);
    if shift == 0 {
        dst.extend((0..words).map(|k| src.get(k).copied().unwrap_or(0)));
    } else {
        for k in 0..words {
            let w = src.get(k).copied().unwrap_or(0);
            // The low part fills the open top of the last word; the high
            // part starts a new word.
            if let Some(last) = dst.last_mut() {
                *last |= w << shift;
            }
            dst.push(w >> (64 - shift));
        }
    }
    dst.truncate((have + n).div_ceil(64));
    clear_padding(dst, have + n);
}

/// Zeroes the bits at positions `n..` of a packed vector.
pub fn clear_padding(words: &mut [u64], n: usize) {
    let full = n / 64;
    if full < words.len() {
        if !n.is_multiple_of(64) {
            words[full] &= (1u64 << (n % 64)) - 1;
            for w in &mut words[full + 1..] {
                *w = 0;
            }
        } else {
            for w in &mut words[full..] {
                *w = 0;
            }
        }
    }
}

/// Bitwise XOR of two packed vectors (length of the shorter).
pub fn xor_bits(a: &[u64], b: &[u64]) -> Vec<u64> {
    a.iter().zip(b).map(|(x, y)| x ^ y).collect()
}

/// Number of set bits among the first `n`.
pub fn count_ones(words: &[u64], n: usize) -> usize {
    let mut v = words[..n.div_ceil(64).min(words.len())].to_vec();
    clear_padding(&mut v, n);
    v.iter().map(|w| w.count_ones() as usize).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn pack_unpack_round_trip(bits in proptest::collection::vec(any::<bool>(), 0..300)) {
            let w = pack_bools(&bits);
            prop_assert_eq!(w.len(), bits.len().div_ceil(64));
            prop_assert_eq!(unpack_bools(&w, bits.len()), bits.clone());
            prop_assert_eq!(count_ones(&w, bits.len()), bits.iter().filter(|b| **b).count());
        }

        #[test]
        fn append_matches_concatenation(a in proptest::collection::vec(any::<bool>(), 0..300), b in proptest::collection::vec(any::<bool>(), 0..300), junk in any::<u64>()) {
            let mut dst = pack_bools(&a);
            // Bits of `src` beyond the appended `n` must not leak in.
            let mut src = pack_bools(&b);
            src.push(junk);
            if !b.len().is_multiple_of(64) {
                let last = b.len() / 64;
                src[last] |= junk << (b.len() % 64);
            }
            append_bits(&mut dst, a.len(), &src, b.len());
            let all: Vec<bool> = a.iter().chain(&b).copied().collect();
            prop_assert_eq!(dst, pack_bools(&all));
        }

        #[test]
        fn extract_matches_slicing(bits in proptest::collection::vec(any::<bool>(), 0..400), a in 0usize..400, n in 0usize..400) {
            let w = pack_bools(&bits);
            let got = extract_bits(&w, a, n);
            prop_assert_eq!(got.len(), n.div_ceil(64));
            for i in 0..n {
                let expect = bits.get(a + i).copied().unwrap_or(false);
                prop_assert_eq!(get_bit(&got, i), expect);
            }
            if !n.is_multiple_of(64) {
                prop_assert_eq!(got[got.len() - 1] >> (n % 64), 0);
            }
        }
    }
}
