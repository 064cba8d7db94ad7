//! The I/O-free Ferret iteration: single-point COTs by GGM trees (regular
//! noise) and the primal-LPN encoding, piece by piece (a piece is a run of
//! whole trees, one message from sender to receiver).
//!
//! Message of a piece, per tree (2·depth + 1 blocks): for level l =
//! 0..depth, `sum_l^0 ⊕ H(τ_l, K_l)` and `sum_l^1 ⊕ H(τ_l, K_l ⊕ Δ)`, then
//! `ψ = Δ ⊕ ⊕ leaves`. **What it reveals (semi-honest):** to the receiver,
//! the side `b_l` of each level (it cannot compute `H(τ_l, K_l ⊕ b̄_l·Δ)`
//! without Δ, by TCCR), hence every leaf but α; ψ is one-time-padded by the
//! unknown leaf α. The sender receives nothing.

use zeroize::Zeroize;

use super::LpnParams;
use super::lpn::Code;
use crate::block::Block;
use crate::ot::crhash::{tccr_hash, tccr_hash_offset};
use crate::ot::ggm::{TreeScratch, expand_tree, reconstruct_tree};
use crate::prg::AesPrg;

/// Packs 0/1 bytes 64 per word.
fn pack_bytes(bits: &[u8]) -> Vec<u64> {
    bits.chunks(64)
        .map(|c| {
            c.iter()
                .enumerate()
                .fold(0u64, |acc, (i, b)| acc | (u64::from(*b & 1) << i))
        })
        .collect()
}

/// Blocks of the message for `trees` trees of `depth` levels.
pub fn message_len(depth: usize, trees: usize) -> usize {
    trees * (2 * depth + 1)
}

/// The sender's state of one iteration: Δ, the k-vector K and the tree
/// COTs' zero-messages.
pub struct SenderIteration {
    params: LpnParams,
    delta: Block,
    /// `k` blocks of K, then `t · depth` tree-COT keys.
    base: Vec<Block>,
    next_tree: usize,
    code: Code,
    /// TCCR tweak of the next tree COT.
    tweak: u128,
    roots: AesPrg,
    scratch: TreeScratch,
    sums: Vec<[Block; 2]>,
    h0: Vec<Block>,
    h1: Vec<Block>,
}

impl Drop for SenderIteration {
    fn drop(&mut self) {
        self.delta.zeroize();
        self.base.zeroize();
        self.sums.iter_mut().for_each(|s| s.zeroize());
        self.h0.zeroize();
        self.h1.zeroize();
    }
}

impl SenderIteration {
    /// An iteration over `base` (`params.base_cots()` zero-messages of
    /// COTs with correlation `delta`), code seed `code_seed` and tree-COT
    /// tweaks from `first_tweak` on (unique across iterations).
    pub fn new(
        params: LpnParams,
        delta: Block,
        base: Vec<Block>,
        code_seed: Block,
        first_tweak: u128,
    ) -> Self {
        debug_assert_eq!(base.len(), params.base_cots());
        SenderIteration {
            params,
            delta,
            base,
            next_tree: 0,
            code: Code::new(params.k, code_seed),
            tweak: first_tweak,
            roots: AesPrg::from_entropy(),
            scratch: TreeScratch::default(),
            sums: vec![[Block::ZERO; 2]; params.depth],
            h0: vec![Block::ZERO; params.depth],
            h1: vec![Block::ZERO; params.depth],
        }
    }

    /// Trees not yet expanded.
    pub fn trees_left(&self) -> usize {
        self.params.t - self.next_tree
    }

    /// Expands the next `trees` trees: `out` (`trees · 2^depth` blocks)
    /// gets the zero-messages z, `msg` is replaced by the piece's message.
    pub fn piece(&mut self, trees: usize, out: &mut [Block], msg: &mut Vec<Block>) {
        let d = self.params.depth;
        debug_assert!(trees <= self.trees_left());
        debug_assert_eq!(out.len(), trees << d);
        msg.clear();
        for (b, leaves) in out.chunks_exact_mut(1 << d).enumerate() {
            let root = self.roots.next_block();
            expand_tree(root, leaves, &mut self.sums, &mut self.scratch);
            let at = self.params.k + (self.next_tree + b) * d;
            let keys = &self.base[at..at + d];
            tccr_hash(self.tweak, keys, &mut self.h0);
            tccr_hash_offset(self.tweak, keys, self.delta, &mut self.h1);
            self.tweak = self.tweak.wrapping_add(d as u128);
            for l in 0..d {
                msg.push(self.sums[l][0] ^ self.h0[l]);
                msg.push(self.sums[l][1] ^ self.h1[l]);
            }
            let psi = leaves.iter().fold(self.delta, |a, x| a ^ *x);
            msg.push(psi);
        }
        self.next_tree += trees;
        self.code.encode(&self.base[..self.params.k], out);
    }
}

/// The receiver's state of one iteration: the k-vector (u, M) and the
/// tree COTs' choice bits and messages.
pub struct ReceiverIteration {
    params: LpnParams,
    /// `k` blocks of M, then `t · depth` tree-COT messages.
    base: Vec<Block>,
    /// The choice bits of `base`, one per byte (0 or 1).
    bits: Vec<u8>,
    /// The choice bits of the k-vector, packed (for the code).
    u: Vec<u64>,
    next_tree: usize,
    code: Code,
    tweak: u128,
    scratch: TreeScratch,
    sums_off: Vec<Block>,
    hm: Vec<Block>,
    /// Per-output choice bits of a piece, one per byte.
    piece_bits: Vec<u8>,
}

impl Drop for ReceiverIteration {
    fn drop(&mut self) {
        self.base.zeroize();
        self.bits.zeroize();
        self.u.zeroize();
        self.sums_off.zeroize();
        self.hm.zeroize();
        self.piece_bits.zeroize();
    }
}

impl ReceiverIteration {
    /// An iteration over `base` (`params.base_cots()` messages `m_r`) with
    /// choice bits `bits` (one per byte), the peer's code seed and tweak.
    pub fn new(
        params: LpnParams,
        base: Vec<Block>,
        bits: Vec<u8>,
        code_seed: Block,
        first_tweak: u128,
    ) -> Self {
        debug_assert_eq!(base.len(), params.base_cots());
        debug_assert_eq!(bits.len(), params.base_cots());
        let u = pack_bytes(&bits[..params.k]);
        ReceiverIteration {
            params,
            base,
            bits,
            u,
            next_tree: 0,
            code: Code::new(params.k, code_seed),
            tweak: first_tweak,
            scratch: TreeScratch::default(),
            sums_off: vec![Block::ZERO; params.depth],
            hm: vec![Block::ZERO; params.depth],
            piece_bits: Vec::new(),
        }
    }

    /// Trees not yet reconstructed.
    pub fn trees_left(&self) -> usize {
        self.params.t - self.next_tree
    }

    /// Consumes the sender's message for the next `trees` trees (length
    /// [`message_len`], checked by the caller): `out` gets the messages
    /// `m_x`, `choices` (packed, `out.len() / 64` words) the choice bits x.
    pub fn piece(&mut self, trees: usize, msg: &[Block], out: &mut [Block], choices: &mut [u64]) {
        let d = self.params.depth;
        let leaves_per_tree = 1usize << d;
        debug_assert!(trees <= self.trees_left());
        debug_assert_eq!(out.len(), trees << d);
        debug_assert_eq!(msg.len(), message_len(d, trees));
        self.piece_bits.clear();
        self.piece_bits.resize(out.len(), 0);
        for (b, (leaves, m)) in out
            .chunks_exact_mut(leaves_per_tree)
            .zip(msg.chunks_exact(2 * d + 1))
            .enumerate()
        {
            let at = self.params.k + (self.next_tree + b) * d;
            tccr_hash(self.tweak, &self.base[at..at + d], &mut self.hm);
            self.tweak = self.tweak.wrapping_add(d as u128);
            // The punctured leaf: level l goes to the side not received.
            let mut alpha = 0usize;
            for l in 0..d {
                let bit = self.bits[at + l] as usize;
                alpha = (alpha << 1) | (1 - bit);
                self.sums_off[l] = m[2 * l + bit] ^ self.hm[l];
            }
            reconstruct_tree(alpha, &self.sums_off, leaves, &mut self.scratch);
            let psi = m[2 * d];
            leaves[alpha] = leaves.iter().fold(psi, |a, x| a ^ *x);
            self.piece_bits[b * leaves_per_tree + alpha] = 1;
        }
        self.next_tree += trees;
        let k = self.params.k;
        self.code
            .encode_with_bits(&self.base[..k], &self.u, out, &mut self.piece_bits);
        for (w, bits) in choices.iter_mut().zip(self.piece_bits.chunks(64)) {
            *w = bits
                .iter()
                .enumerate()
                .fold(0u64, |acc, (i, b)| acc | (u64::from(*b & 1) << i));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ot::bits::get_bit;

    /// Base COTs as the extension would give them: Δ, K, u, M = K ⊕ u·Δ.
    fn base(n: usize, delta: Block, seed: u128) -> (Vec<Block>, Vec<Block>, Vec<u8>) {
        let mut prg = AesPrg::new(Block(seed));
        let k = prg.blocks(n);
        let u: Vec<u8> = prg.blocks(n).iter().map(|b| (b.0 & 1) as u8).collect();
        let m = k
            .iter()
            .zip(&u)
            .map(|(k, u)| *k ^ delta.and_bit(*u == 1))
            .collect();
        (k, m, u)
    }

    #[test]
    fn pieces_of_odd_sizes_are_correlated_and_regular() {
        let p = LpnParams {
            k: 777,
            t: 11,
            depth: 6,
        };
        let delta = Block(0x5555_aaaa_0123_4567_89ab_cdef_1357_9bdf);
        let (k, m, u) = base(p.base_cots(), delta, 3);
        let mut tx = SenderIteration::new(p, delta, k, Block(9), 1 << 64);
        let mut rx = ReceiverIteration::new(p, m, u, Block(9), 1 << 64);
        let mut seen = std::collections::HashSet::new();
        let mut ones = 0;
        for trees in [1, 3, 7] {
            let n = trees << p.depth;
            let mut z = vec![Block::ZERO; n];
            let mut msg = Vec::new();
            tx.piece(trees, &mut z, &mut msg);
            assert_eq!(msg.len(), message_len(p.depth, trees));
            // Δ is never sent in the clear.
            assert!(msg.iter().all(|b| *b != delta));
            let mut mx = vec![Block::ZERO; n];
            let mut x = vec![0u64; n / 64];
            rx.piece(trees, &msg, &mut mx, &mut x);
            for j in 0..n {
                let bit = get_bit(&x, j);
                ones += bit as usize;
                assert_eq!(mx[j], z[j] ^ delta.and_bit(bit), "OT {j}");
                assert!(seen.insert(z[j].0), "repeated output");
            }
        }
        assert_eq!(tx.trees_left(), 0);
        assert_eq!(rx.trees_left(), 0);
        let n = 11 << 6;
        assert!(
            ones > n / 3 && ones < 2 * n / 3,
            "choices unbalanced: {ones}/{n}"
        );
    }

    #[test]
    fn a_different_code_seed_breaks_the_correlation() {
        // The code is part of the protocol: both parties must derive it
        // alike, and a mismatch is visible (this test could fail).
        let p = LpnParams {
            k: 300,
            t: 2,
            depth: 6,
        };
        let delta = Block(0x77);
        let (k, m, u) = base(p.base_cots(), delta, 4);
        let mut tx = SenderIteration::new(p, delta, k, Block(1), 0);
        let mut rx = ReceiverIteration::new(p, m, u, Block(2), 0);
        let mut z = vec![Block::ZERO; 128];
        let mut msg = Vec::new();
        tx.piece(2, &mut z, &mut msg);
        let mut mx = vec![Block::ZERO; 128];
        let mut x = vec![0u64; 2];
        rx.piece(2, &msg, &mut mx, &mut x);
        let bad = (0..128)
            .filter(|&j| mx[j] != z[j] ^ delta.and_bit(get_bit(&x, j)))
            .count();
        assert!(bad > 100);
    }
}
