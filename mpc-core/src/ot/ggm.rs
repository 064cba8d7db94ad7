//! GGM-tree puncturable PRF: the "all but one of 2^k seeds" OT used by
//! SoftSpokenOT.
//!
//! The holder expands a random root into 2^k leaves with a length-doubling
//! PRG (children of node s are `AES_s(0)`, `AES_s(1)`). For each level l it
//! forms the XOR of all left children and of all right children. The
//! puncturer, who wants every leaf except leaf α, obtains for each level the
//! sum on the side *off* its path through one base OT; from the nodes it
//! already knows it can then peel off the one missing sibling per level.
//! **Why it hides leaf α:** every value the puncturer sees is a PRG output
//! of a node off α's path, or a sum that includes the on-path child masked
//! by the base OT it did not choose, so leaf α stays pseudorandom to it.
//!
//! Leaf index bits are read most-significant first: level 1 decides bit
//! k−1 of the leaf index.

use std::sync::OnceLock;

use aes::Aes128Enc;
use aes::cipher::consts::U16;
use aes::cipher::{Array, BlockCipherEncrypt, KeyInit};
use zeroize::Zeroize;

use crate::block::Block;
use crate::prg::AesPrg;

fn children(s: Block) -> [Block; 2] {
    let mut out = [Block::ZERO; 2];
    AesPrg::new(s).fill_blocks(&mut out);
    out
}

/// Expands `root` into `2^k` leaves; also returns, per level, the XOR of
/// all left children (`[0]`) and of all right children (`[1]`).
pub fn expand(root: Block, k: usize) -> (Vec<Block>, Vec<[Block; 2]>) {
    let mut level = vec![root];
    let mut sums = Vec::with_capacity(k);
    for _ in 0..k {
        let mut next = Vec::with_capacity(level.len() * 2);
        let mut s = [Block::ZERO; 2];
        for node in &level {
            let c = children(*node);
            s[0] ^= c[0];
            s[1] ^= c[1];
            next.extend_from_slice(&c);
        }
        sums.push(s);
        level = next;
    }
    (level, sums)
}

/// Reconstructs all leaves except leaf `alpha` (returned as zero), given for
/// each level `l` the sum of the children on the side off the path,
/// i.e. `sums[l][1 - a_l]` where `a_l` is the path bit at that level.
pub fn reconstruct(alpha: usize, k: usize, sums_off: &[Block]) -> Vec<Block> {
    let mut level = vec![Block::ZERO];
    let mut path = 0usize;
    for (l, &sum_off) in sums_off.iter().enumerate().take(k) {
        let a = (alpha >> (k - 1 - l)) & 1;
        let mut next = vec![Block::ZERO; level.len() * 2];
        let mut sibling = sum_off;
        for (j, node) in level.iter().enumerate() {
            if j == path {
                continue;
            }
            let c = children(*node);
            next[2 * j] = c[0];
            next[2 * j + 1] = c[1];
            sibling ^= c[1 - a];
        }
        next[2 * path + (1 - a)] = sibling;
        path = 2 * path + a;
        level = next;
    }
    level
}

/// Public fixed keys of the tree PRG of [`expand_tree`]: further digits of
/// π (after the 128 bits [`super::crhash`] uses). Fixed-key AES needs no
/// secret key; two keys give the two children.
const TREE_KEYS: [u128; 2] = [
    0xA409_3822_299F_31D0_082E_FA98_EC4E_6C89,
    0x4528_21E6_38D0_1377_BE54_66CF_34E9_0C6C,
];
/// Nodes encrypted per `encrypt_blocks` call.
const TREE_BATCH: usize = 128;

fn tree_aes() -> &'static [Aes128Enc; 2] {
    static CIPHERS: OnceLock<[Aes128Enc; 2]> = OnceLock::new();
    CIPHERS.get_or_init(|| TREE_KEYS.map(|k| Aes128Enc::new(&Array::from(k.to_le_bytes()))))
}

/// Reused buffers of [`expand_tree`]/[`reconstruct_tree`] (one level of
/// parents), so trees are expanded without allocating.
#[derive(Default)]
pub struct TreeScratch {
    parents: Vec<Block>,
}

impl Drop for TreeScratch {
    fn drop(&mut self) {
        self.parents.zeroize();
    }
}

/// Expands level `l` (the first `2^l` entries of `nodes`) into level
/// `l + 1` (the first `2^(l+1)`), children of s being
/// `(π_0(s) ⊕ s, π_1(s) ⊕ s)`; returns the XOR of all left and of all
/// right children.
fn expand_level(nodes: &mut [Block], width: usize, scratch: &mut TreeScratch) -> [Block; 2] {
    let aes = tree_aes();
    scratch.parents.clear();
    scratch.parents.extend_from_slice(&nodes[..width]);
    let mut a0 = [Array::<u8, U16>::default(); TREE_BATCH];
    let mut a1 = [Array::<u8, U16>::default(); TREE_BATCH];
    let mut sums = [Block::ZERO; 2];
    for (c, chunk) in scratch.parents.chunks(TREE_BATCH).enumerate() {
        let m = chunk.len();
        for ((x0, x1), p) in a0[..m].iter_mut().zip(a1[..m].iter_mut()).zip(chunk) {
            *x0 = Array::from(p.to_bytes());
            *x1 = *x0;
        }
        aes[0].encrypt_blocks(&mut a0[..m]);
        aes[1].encrypt_blocks(&mut a1[..m]);
        let out = &mut nodes[2 * c * TREE_BATCH..2 * (c * TREE_BATCH + m)];
        for (j, p) in chunk.iter().enumerate() {
            let l = Block::from_bytes(a0[j].0) ^ *p;
            let r = Block::from_bytes(a1[j].0) ^ *p;
            sums[0] ^= l;
            sums[1] ^= r;
            out[2 * j] = l;
            out[2 * j + 1] = r;
        }
    }
    a0.zeroize_arrays();
    a1.zeroize_arrays();
    sums
}

/// Small helper: wipe AES input/output buffers that held tree nodes.
trait ZeroizeArrays {
    fn zeroize_arrays(&mut self);
}

impl ZeroizeArrays for [Array<u8, U16>; TREE_BATCH] {
    fn zeroize_arrays(&mut self) {
        for a in self.iter_mut() {
            a.0.zeroize();
        }
    }
}

/// The fixed-key variant of [`expand`] used by silent OT: expands `root`
/// into `leaves.len() = 2^depth` leaves in place and writes, per level
/// `l` (1-based level `l + 1`), the XOR of all left children and of all
/// right children to `sums[l]`. The PRG is `s ↦ (π_0(s) ⊕ s, π_1(s) ⊕ s)`
/// with π_b fixed-key AES (Davies–Meyer/MMO style, a PRG when AES is
/// modelled as a random permutation, as in the TCCR hash): two pipelined
/// AES calls per node and no key schedule per node, which keeps the tree
/// cost near 2 AES blocks per leaf.
pub fn expand_tree(
    root: Block,
    leaves: &mut [Block],
    sums: &mut [[Block; 2]],
    scratch: &mut TreeScratch,
) {
    let depth = sums.len();
    debug_assert_eq!(leaves.len(), 1 << depth);
    leaves[0] = root;
    for (l, s) in sums.iter_mut().enumerate() {
        *s = expand_level(leaves, 1 << l, scratch);
    }
}

/// The puncturer's side of [`expand_tree`]: every leaf except leaf
/// `alpha` (left zero), given per level the XOR `sums_off[l]` of the
/// children on the side off α's path (`1 − a_l`, where `a_l` is bit
/// `depth − 1 − l` of `alpha`). `leaves.len()` must be `2^depth` with
/// `depth = sums_off.len() ≥ 1`.
pub fn reconstruct_tree(
    alpha: usize,
    sums_off: &[Block],
    leaves: &mut [Block],
    scratch: &mut TreeScratch,
) {
    let depth = sums_off.len();
    debug_assert_eq!(leaves.len(), 1 << depth);
    leaves[0] = Block::ZERO;
    let mut path = 0usize;
    for (l, &sum_off) in sums_off.iter().enumerate() {
        let a = (alpha >> (depth - 1 - l)) & 1;
        // The path node is unknown (zero); its children come out as
        // garbage and are replaced below.
        let sums = expand_level(leaves, 1 << l, scratch);
        let off = 2 * path + (1 - a);
        leaves[off] = sum_off ^ sums[1 - a] ^ leaves[off];
        leaves[2 * path + a] = Block::ZERO;
        path = 2 * path + a;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn puncturer_gets_all_leaves_but_alpha() {
        for k in 1..=5 {
            let (leaves, sums) = expand(Block(0x1234 + k as u128), k);
            assert_eq!(leaves.len(), 1 << k);
            for alpha in 0..(1usize << k) {
                let off: Vec<Block> = (0..k)
                    .map(|l| sums[l][1 - ((alpha >> (k - 1 - l)) & 1)])
                    .collect();
                let rec = reconstruct(alpha, k, &off);
                for x in 0..(1usize << k) {
                    if x == alpha {
                        assert_eq!(rec[x], Block::ZERO);
                    } else {
                        assert_eq!(rec[x], leaves[x], "k={k} alpha={alpha} x={x}");
                    }
                }
            }
        }
    }

    #[test]
    fn fixed_key_tree_puncturer_gets_all_leaves_but_alpha() {
        let mut scratch = TreeScratch::default();
        for depth in 1..=7 {
            let root = Block(0xfeed_0000 + depth as u128);
            let mut leaves = vec![Block::ZERO; 1 << depth];
            let mut sums = vec![[Block::ZERO; 2]; depth];
            expand_tree(root, &mut leaves, &mut sums, &mut scratch);
            // Leaves are distinct and the sums are what they claim.
            let mut sorted: Vec<u128> = leaves.iter().map(|b| b.0).collect();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(sorted.len(), 1 << depth);
            let last = sums[depth - 1];
            let (l, r) = leaves
                .chunks(2)
                .fold((Block::ZERO, Block::ZERO), |(l, r), c| (l ^ c[0], r ^ c[1]));
            assert_eq!(last, [l, r]);
            for alpha in 0..(1usize << depth) {
                let off: Vec<Block> = (0..depth)
                    .map(|l| sums[l][1 - ((alpha >> (depth - 1 - l)) & 1)])
                    .collect();
                let mut rec = vec![Block(7); 1 << depth];
                reconstruct_tree(alpha, &off, &mut rec, &mut scratch);
                for x in 0..(1usize << depth) {
                    let want = if x == alpha { Block::ZERO } else { leaves[x] };
                    assert_eq!(rec[x], want, "depth={depth} alpha={alpha} x={x}");
                }
            }
        }
    }
}
