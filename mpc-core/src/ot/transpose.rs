//! Bit-matrix transposition for OT extension.
//!
//! OT extension computes 128 *rows* of n bits (one per base OT) but hands
//! out n *columns* of 128 bits (one block per extended OT). We transpose in
//! 128 × 128 tiles with Eklundh's recursive block swap: 7 levels, each
//! swapping the off-diagonal halves of 2s × 2s sub-blocks with one
//! shift-xor-mask per row pair. No table lookups, no allocation, no unsafe
//! code.
//!
//! **Why it is fast without intrinsics:** each tile is split into 64-bit
//! lanes (row r = lanes 2r, 2r+1). For s ≤ 32 the swapped bits of a row
//! never cross a lane boundary (the mask keeps only bits whose partner lies
//! in the same 2s-bit group), so a level is a plain shift-xor-and on u64
//! lanes with a *constant* shift over contiguous runs of lanes — the shape
//! LLVM vectorises into SSE2 (always present on x86-64) or NEON. The s = 64
//! level is a swap of the high lane of row r with the low lane of row r+64.
//! The levels commute (each swaps one row-index bit with the same
//! column-index bit), so their order is free.
//!
//! Convention: element (r, c) of a tile is bit `c` of word `r`.

use crate::block::Block;

/// Lanes of one tile: row r is `lanes[2r]` (bits 0..64) and
/// `lanes[2r + 1]` (bits 64..128).
type Lanes = [u64; 256];

/// One Eklundh level for s ≤ 32: for every row pair (r, r+s) with
/// `r & s == 0`, swaps element (r, c+s) with (r+s, c) for `c & s == 0`.
#[inline(always)]
fn level<const S: usize>(w: &mut Lanes, mask: u64) {
    let mut base = 0;
    while base < 128 {
        // Rows base..base+S against rows base+S..base+2S: 2S lanes each.
        let (lo, hi) = w[2 * base..2 * (base + 2 * S)].split_at_mut(2 * S);
        for (a, b) in lo.iter_mut().zip(hi.iter_mut()) {
            let t = ((*a >> S) ^ *b) & mask;
            *a ^= t << S;
            *b ^= t;
        }
        base += 2 * S;
    }
}

/// Transposes a 128 × 128 bit tile in place: afterwards bit `c` of word `r`
/// is the former bit `r` of word `c`.
pub fn transpose128(m: &mut [Block; 128]) {
    let mut w: Lanes = [0; 256];
    // Load, doing the s = 64 level on the way: the high lane of row r
    // (r < 64) trades places with the low lane of row r + 64.
    for r in 0..64 {
        let (a, b) = (m[r].0, m[r + 64].0);
        w[2 * r] = a as u64;
        w[2 * r + 1] = b as u64;
        w[2 * (r + 64)] = (a >> 64) as u64;
        w[2 * (r + 64) + 1] = (b >> 64) as u64;
    }
    level::<32>(&mut w, 0x0000_0000_FFFF_FFFF);
    level::<16>(&mut w, 0x0000_FFFF_0000_FFFF);
    level::<8>(&mut w, 0x00FF_00FF_00FF_00FF);
    level::<4>(&mut w, 0x0F0F_0F0F_0F0F_0F0F);
    level::<2>(&mut w, 0x3333_3333_3333_3333);
    level::<1>(&mut w, 0x5555_5555_5555_5555);
    for (r, d) in m.iter_mut().enumerate() {
        d.0 = u128::from(w[2 * r]) | (u128::from(w[2 * r + 1]) << 64);
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

    /// Every tile count the extension uses (1 word up to a full 64-word
    /// tile and a partial one), on pseudorandom input, against the naive
    /// transpose tile by tile.
    #[test]
    fn tiles_match_naive_for_all_sizes() {
        let mut prg = crate::prg::AesPrg::new(Block(0x5eed));
        for ntiles in [1usize, 2, 3, 16, 17, 64, 70] {
            let input = prg.blocks(128 * ntiles);
            let mut got = input.clone();
            transpose_tiles(&mut got);
            for (tin, tout) in input.chunks_exact(128).zip(got.chunks_exact(128)) {
                let tin: &[Block; 128] = tin.try_into().expect("tile");
                assert_eq!(&naive(tin)[..], tout, "ntiles={ntiles}");
            }
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
