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
}
