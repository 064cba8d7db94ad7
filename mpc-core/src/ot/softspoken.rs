//! I/O-free core of SoftSpokenOT (Roy, CRYPTO 2022), semi-honest, with the
//! repetition-code ("small-field VOLE") instantiation; `k = 1` is exactly
//! IKNP (Ishai–Kilian–Nissim–Petrank 2003).
//!
//! Roles: the **COT receiver** (random choice bits r, outputs t_j) knows all
//! 2^k seeds of each of the 128/k chunks; the **COT sender** (global Δ,
//! outputs q_j with q_j = t_j ⊕ r_j·Δ) knows all seeds but one per chunk,
//! the missing index α_i being its k-bit slice of Δ.
//!
//! Per chunk i and each batch of OTs, with G_x the PRG stream of seed x:
//! * receiver: u_i = ⊕_x G_x (n bits) and v_i = Σ_x x·G_x (k rows of n bits);
//! * sender: w_i = Σ_x (x ⊕ α_i)·G_x, computable without G_{α_i} because
//!   its coefficient is zero, and w_i = v_i ⊕ α_i·u_i.
//!
//! All chunks must use the same choice vector r, so r := u_0 and the
//! receiver sends c_i = u_i ⊕ r for i ≥ 1; the sender adds α_i·c_i and gets
//! w_i' = v_i ⊕ α_i·r. Stacking the 128 rows and transposing gives
//! q_j = t_j ⊕ r_j·Δ. **Why it is secure (semi-honest):** the sender lacks
//! G_{α_i}, so u_i, and hence c_i, is pseudorandom to it and hides r; the
//! receiver never learns α (GGM puncturing, see [`super::ggm`]), so Δ stays
//! hidden. Traffic: (128/k − 1) bits per OT; PRG work: 2^k/k AES blocks
//! per OT per party — k = 4 gives 31 bits and 4 AES calls per OT.

use super::transpose::transpose_tiles;
use crate::block::Block;
use crate::prg::AesPrg;

/// Rows of the OT-extension matrix (the computational security parameter).
pub const ROWS: usize = 128;

/// Supported bits per base OT.
pub const SUPPORTED_K: [usize; 4] = [1, 2, 4, 8];

/// Words (of 128 OTs) processed per tile: keeps the 2^k seed streams of one
/// chunk (2^k × tile × 16 bytes) in L1/L2.
fn tile_words(k: usize) -> usize {
    if k <= 4 { 64 } else { 16 }
}

/// Number of chunks (128 / k).
pub fn chunks(k: usize) -> usize {
    ROWS / k
}

/// Correction blocks the receiver sends for `nwords` words of OTs.
pub fn correction_len(k: usize, nwords: usize) -> usize {
    (chunks(k) - 1) * nwords
}

/// Scratch buffers reused across batches (no allocation per batch).
struct Scratch {
    g: Vec<Block>,
    v: Vec<Block>,
    r: Vec<Block>,
}

impl Scratch {
    fn new(k: usize) -> Self {
        let tile = tile_words(k);
        Scratch {
            g: vec![Block::ZERO; (1 << k) * tile],
            v: vec![Block::ZERO; k * tile],
            r: vec![Block::ZERO; tile],
        }
    }
}

/// After return: `v[b*tile + w] = ⊕_{x: bit b of x} g_x[w]` and
/// `g_0[w] = ⊕_x g_x[w]` (binary-tree reduction, ~2·2^k XORs per word).
fn reduce(k: usize, g: &mut [Block], tile: usize, tw: usize, v: &mut [Block]) {
    let n = 1usize << k;
    for b in 0..k {
        let step = 1usize << b;
        let vb = &mut v[b * tile..b * tile + tw];
        vb.fill(Block::ZERO);
        let mut x = 0;
        while x < n {
            let (lo, hi) = g.split_at_mut((x + step) * tile);
            let gx = &mut lo[x * tile..x * tile + tw];
            let gy = &hi[..tw];
            for ((acc, a), y) in vb.iter_mut().zip(gx.iter_mut()).zip(gy) {
                *acc ^= *y;
                *a ^= *y;
            }
            x += 2 * step;
        }
    }
}

/// The COT receiver's state: every seed of every chunk, as PRG streams.
pub struct ReceiverCore {
    k: usize,
    /// Chunk-major: chunk i, seed x at `i * 2^k + x`.
    leaves: Vec<AesPrg>,
    scratch: Scratch,
}

impl ReceiverCore {
    /// `seeds[i * 2^k + x]` is seed x of chunk i.
    pub fn new(k: usize, seeds: &[Block]) -> Self {
        debug_assert_eq!(seeds.len(), chunks(k) << k);
        ReceiverCore {
            k,
            leaves: seeds.iter().map(|s| AesPrg::new(*s)).collect(),
            scratch: Scratch::new(k),
        }
    }

    /// Produces `nwords * 128` random COTs: choice bits (2 words per 128
    /// OTs) into `choices`, the t_j into `t`, and the message for the
    /// sender into `corr`. Slice lengths: `2 * nwords`, `128 * nwords`,
    /// [`correction_len`].
    pub fn extend(
        &mut self,
        nwords: usize,
        choices: &mut [u64],
        t: &mut [Block],
        corr: &mut [Block],
    ) {
        let k = self.k;
        let nl = 1usize << k;
        let tile = tile_words(k);
        let Scratch { g, v, r } = &mut self.scratch;
        for w0 in (0..nwords).step_by(tile) {
            let tw = tile.min(nwords - w0);
            for i in 0..chunks(k) {
                for x in 0..nl {
                    self.leaves[i * nl + x].fill_blocks(&mut g[x * tile..x * tile + tw]);
                }
                reduce(k, g, tile, tw, v);
                for b in 0..k {
                    let row = i * k + b;
                    for (w, val) in v[b * tile..b * tile + tw].iter().enumerate() {
                        t[(w0 + w) * ROWS + row] = *val;
                    }
                }
                if i == 0 {
                    r[..tw].copy_from_slice(&g[..tw]);
                } else {
                    let dst = &mut corr[(i - 1) * nwords + w0..(i - 1) * nwords + w0 + tw];
                    for ((d, u), rr) in dst.iter_mut().zip(&g[..tw]).zip(&r[..tw]) {
                        *d = *u ^ *rr;
                    }
                }
            }
            for (w, rr) in r[..tw].iter().enumerate() {
                choices[2 * (w0 + w)] = rr.0 as u64;
                choices[2 * (w0 + w) + 1] = (rr.0 >> 64) as u64;
            }
            transpose_tiles(&mut t[w0 * ROWS..(w0 + tw) * ROWS]);
        }
    }
}

/// The COT sender's state: Δ and all seeds but the α_i-th of each chunk.
/// α (hence Δ) is wiped on drop; the seeds live in AES key schedules,
/// which the `aes` crate wipes.
pub struct SenderCore {
    k: usize,
    alphas: Vec<usize>,
    /// Chunk i, seed y ⊕ α_i for y = 1..2^k at `i * (2^k − 1) + y − 1`.
    leaves: Vec<AesPrg>,
    scratch: Scratch,
}

impl Drop for SenderCore {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.alphas);
    }
}

impl SenderCore {
    /// `alphas[i]` is the punctured index of chunk i (k bits of Δ);
    /// `seeds[i * 2^k + x]` is seed x of chunk i (the punctured one ignored).
    pub fn new(k: usize, alphas: &[usize], seeds: &[Block]) -> Self {
        let nl = 1usize << k;
        let mut leaves = Vec::with_capacity(chunks(k) * (nl - 1));
        for (i, &alpha) in alphas.iter().enumerate() {
            for y in 1..nl {
                leaves.push(AesPrg::new(seeds[i * nl + (y ^ alpha)]));
            }
        }
        SenderCore {
            k,
            alphas: alphas.to_vec(),
            leaves,
            scratch: Scratch::new(k),
        }
    }

    /// Δ: bit `i*k + b` is bit b of α_i.
    pub fn delta(&self) -> Block {
        let mut d = 0u128;
        for (i, &a) in self.alphas.iter().enumerate() {
            d |= (a as u128) << (i * self.k);
        }
        Block(d)
    }

    /// Consumes the receiver's corrections for `nwords` words and writes
    /// the q_j into `q` (`128 * nwords` blocks).
    pub fn extend(&mut self, nwords: usize, corr: &[Block], q: &mut [Block]) {
        let k = self.k;
        let nl = 1usize << k;
        let tile = tile_words(k);
        let Scratch { g, v, .. } = &mut self.scratch;
        for w0 in (0..nwords).step_by(tile) {
            let tw = tile.min(nwords - w0);
            for i in 0..chunks(k) {
                g[..tw].fill(Block::ZERO);
                for y in 1..nl {
                    self.leaves[i * (nl - 1) + y - 1].fill_blocks(&mut g[y * tile..y * tile + tw]);
                }
                reduce(k, g, tile, tw, v);
                let alpha = self.alphas[i];
                for b in 0..k {
                    let row = i * k + b;
                    // Branch-free: Δ's bits must not steer control flow.
                    let take = i > 0 && (alpha >> b) & 1 == 1;
                    let mask = Block((take as u128).wrapping_neg());
                    let c_base = if i > 0 { (i - 1) * nwords + w0 } else { 0 };
                    for (w, val) in v[b * tile..b * tile + tw].iter().enumerate() {
                        let c = if i > 0 { corr[c_base + w] } else { Block::ZERO };
                        q[(w0 + w) * ROWS + row] = *val ^ (c & mask);
                    }
                }
            }
            transpose_tiles(&mut q[w0 * ROWS..(w0 + tw) * ROWS]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ot::bits::get_bit;

    fn run(k: usize, nwords: usize) {
        let nl = 1usize << k;
        let seeds: Vec<Block> = (0..(chunks(k) * nl) as u128)
            .map(|i| Block(i * 0x9e37_79b9 + 1))
            .collect();
        let alphas: Vec<usize> = (0..chunks(k)).map(|i| (i * 7 + 3) % nl).collect();
        let mut rx = ReceiverCore::new(k, &seeds);
        let mut tx = SenderCore::new(k, &alphas, &seeds);
        let delta = tx.delta();
        for _round in 0..2 {
            let mut choices = vec![0u64; 2 * nwords];
            let mut t = vec![Block::ZERO; 128 * nwords];
            let mut corr = vec![Block::ZERO; correction_len(k, nwords)];
            rx.extend(nwords, &mut choices, &mut t, &mut corr);
            let mut q = vec![Block::ZERO; 128 * nwords];
            tx.extend(nwords, &corr, &mut q);
            let mut ones = 0;
            for j in 0..128 * nwords {
                let r = get_bit(&choices, j);
                ones += r as usize;
                assert_eq!(t[j], q[j] ^ delta.and_bit(r), "k={k} j={j}");
            }
            let n = 128 * nwords;
            assert!(
                ones > n / 3 && ones < 2 * n / 3,
                "choices unbalanced: {ones}/{n}"
            );
        }
    }

    #[test]
    fn correlation_holds_for_all_k() {
        for k in SUPPORTED_K {
            run(k, 1);
            run(k, 70); // crosses a tile boundary
        }
    }
}
