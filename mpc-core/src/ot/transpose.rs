//! Bit-matrix transposition for OT extension.
//!
//! OT extension computes 128 *rows* of n bits (one per base OT) but hands
//! out n *columns* of 128 bits (one block per extended OT). We transpose in
//! 128 × 128 tiles with Eklundh's recursive block swap on whole `u128` words:
//! 7 levels, each swapping the off-diagonal halves of 2s × 2s sub-blocks with
//! one shift-xor-mask per row pair. No table lookups, no allocation, no
//! unsafe code.
//!
//! Convention: element (r, c) of a tile is bit `c` of word `r`.

use crate::block::Block;

/// Masks selecting the columns `c` with `c & s == 0`, for s = 64, 32, …, 1.
const MASKS: [(usize, u128); 7] = [
    (64, 0x0000_0000_0000_0000_FFFF_FFFF_FFFF_FFFF),
    (32, 0x0000_0000_FFFF_FFFF_0000_0000_FFFF_FFFF),
    (16, 0x0000_FFFF_0000_FFFF_0000_FFFF_0000_FFFF),
    (8, 0x00FF_00FF_00FF_00FF_00FF_00FF_00FF_00FF),
    (4, 0x0F0F_0F0F_0F0F_0F0F_0F0F_0F0F_0F0F_0F0F),
    (2, 0x3333_3333_3333_3333_3333_3333_3333_3333),
    (1, 0x5555_5555_5555_5555_5555_5555_5555_5555),
];

/// Transposes a 128 × 128 bit tile in place: afterwards bit `c` of word `r`
/// is the former bit `r` of word `c`.
pub fn transpose128(m: &mut [Block; 128]) {
    for &(s, mask) in &MASKS {
        let mut base = 0;
        while base < 128 {
            for r in base..base + s {
                let a = m[r].0;
                let b = m[r + s].0;
                // Swap element (r, c+s) with (r+s, c) for every c with c & s == 0.
                let t = ((a >> s) ^ b) & mask;
                m[r].0 = a ^ (t << s);
                m[r + s].0 = b ^ t;
            }
            base += 2 * s;
        }
    }
}

/// Transposes every consecutive 128-block tile of `blocks` in place.
/// `blocks.len()` must be a multiple of 128; a trailing partial tile is left
/// untouched.
pub fn transpose_tiles(blocks: &mut [Block]) {
    for tile in blocks.chunks_exact_mut(128) {
        if let Ok(tile) = <&mut [Block; 128]>::try_from(tile) {
            transpose128(tile);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn naive(m: &[Block; 128]) -> [Block; 128] {
        let mut out = [Block::ZERO; 128];
        for (r, row) in m.iter().enumerate() {
            for (c, o) in out.iter_mut().enumerate() {
                if row.bit(c) {
                    o.0 |= 1u128 << r;
                }
            }
        }
        out
    }

    proptest! {
        #[test]
        fn matches_naive_transpose(words in proptest::collection::vec(any::<u128>(), 128)) {
            let mut m = [Block::ZERO; 128];
            for (d, w) in m.iter_mut().zip(&words) {
                *d = Block(*w);
            }
            let expect = naive(&m);
            let orig = m;
            transpose128(&mut m);
            prop_assert_eq!(m, expect);
            transpose128(&mut m);
            prop_assert_eq!(m, orig);
        }
    }

    #[test]
    fn identity_and_single_bit() {
        let mut m = [Block::ZERO; 128];
        m[3] = Block(1u128 << 100);
        transpose128(&mut m);
        for (r, w) in m.iter().enumerate() {
            assert_eq!(w.0, if r == 100 { 1u128 << 3 } else { 0 });
        }
    }
}
