//! The public local linear code of primal LPN: output i adds
//! [`CODE_WEIGHT`] entries of the k-vector, at indices drawn from a public
//! AES-CTR stream. Both parties draw the same indices in the same order
//! (output 0, 1, 2, … of an iteration), so the code is never stored.
//!
//! **Why a public seed is fine:** LPN hardness is stated for a *public*
//! random code; the secret is the k-vector u and the noise e. The seed is
//! derived from the job's agreed OT tweak so each job (and iteration) gets
//! its own code without a constant shared across deployments.

use super::CODE_WEIGHT;
use crate::block::Block;
use crate::prg::AesPrg;

/// Outputs whose indices are drawn per PRG call.
const CHUNK: usize = 512;
/// 32-bit index words per chunk (4 per AES block).
const WORDS: usize = CHUNK * CODE_WEIGHT;

/// The index stream of one iteration's code.
pub struct Code {
    k: u64,
    prg: AesPrg,
    blocks: Vec<Block>,
    words: Vec<u32>,
}

impl Code {
    /// The code over a k-vector, from the public `seed`.
    pub fn new(k: usize, seed: Block) -> Self {
        Code {
            k: k as u64,
            prg: AesPrg::new(seed),
            blocks: vec![Block::ZERO; WORDS / 4],
            words: vec![0; WORDS],
        }
    }

    /// Draws the indices of the next `m ≤ CHUNK` outputs into
    /// `self.words` (as indices below k, by multiply-shift).
    fn draw(&mut self, m: usize) {
        let nb = (m * CODE_WEIGHT).div_ceil(4);
        self.prg.fill_blocks(&mut self.blocks[..nb]);
        for (w, b) in self.words.chunks_exact_mut(4).zip(&self.blocks[..nb]) {
            for (i, slot) in w.iter_mut().enumerate() {
                let r = (b.0 >> (32 * i)) as u32 as u64;
                *slot = ((r * self.k) >> 32) as u32;
            }
        }
    }

    /// Sender: `out[i] ^= Σ_j base[c_ij]` for the next `out.len()` outputs.
    pub fn encode(&mut self, base: &[Block], out: &mut [Block]) {
        for chunk in out.chunks_mut(CHUNK) {
            self.draw(chunk.len());
            for (o, idx) in chunk.iter_mut().zip(self.words.chunks_exact(CODE_WEIGHT)) {
                let mut acc = *o;
                for &c in idx {
                    acc ^= base[c as usize];
                }
                *o = acc;
            }
        }
    }

    /// Receiver: as [`Code::encode`] on the messages, and the choice bits
    /// (`bits[i]` 0 or 1) get `⊕_j u[c_ij]`, where `u` holds the k-vector's
    /// choice bits packed 64 per word (74 KB for the main set, so it stays
    /// in L2 while the 9 MB block table does not: a separate pass over the
    /// same indices keeps the block gather as lean as the sender's).
    pub fn encode_with_bits(
        &mut self,
        base: &[Block],
        u: &[u64],
        out: &mut [Block],
        bits: &mut [u8],
    ) {
        for (chunk, bchunk) in out.chunks_mut(CHUNK).zip(bits.chunks_mut(CHUNK)) {
            self.draw(chunk.len());
            for (o, idx) in chunk.iter_mut().zip(self.words.chunks_exact(CODE_WEIGHT)) {
                let mut acc = *o;
                for &c in idx {
                    acc ^= base[c as usize];
                }
                *o = acc;
            }
            for (b, idx) in bchunk.iter_mut().zip(self.words.chunks_exact(CODE_WEIGHT)) {
                let mut bit = u64::from(*b);
                for &c in idx {
                    bit ^= u[(c >> 6) as usize] >> (c & 63);
                }
                *b = (bit & 1) as u8;
            }
        }
    }
}

impl Drop for Code {
    fn drop(&mut self) {
        // Public indices, but keep the habit of not leaving buffers around.
        zeroize::Zeroize::zeroize(&mut self.words);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_is_linear_and_indices_cover_the_vector() {
        let k = 1000;
        let base: Vec<Block> = (0..k as u128)
            .map(|i| Block(1u128 << (i % 128) | i << 64))
            .collect();
        let mut a = Code::new(k, Block(5));
        let mut out = vec![Block::ZERO; 1500];
        a.encode(&base, &mut out);
        // Same seed, piecewise: same outputs.
        let mut b = Code::new(k, Block(5));
        let mut out2 = vec![Block::ZERO; 1500];
        b.encode(&base, &mut out2[..700]);
        b.encode(&base, &mut out2[700..]);
        assert_eq!(out, out2);
        // A different seed is a different code.
        let mut c = Code::new(k, Block(6));
        let mut out3 = vec![Block::ZERO; 1500];
        c.encode(&base, &mut out3);
        assert_ne!(out, out3);
        // Bits follow the same indices: with u = lsb of base, bit = lsb of out.
        let u: Vec<u64> =
            crate::ot::bits::pack_bools(&base.iter().map(|b| b.0 & 1 == 1).collect::<Vec<_>>());
        let mut d = Code::new(k, Block(5));
        let mut out4 = vec![Block::ZERO; 1500];
        let mut bits = vec![0u8; 1500];
        d.encode_with_bits(&base, &u, &mut out4, &mut bits);
        assert_eq!(out4, out);
        for (o, b) in out4.iter().zip(&bits) {
            assert_eq!(o.0 as u8 & 1, *b);
        }
        // Every index is drawn (1500·10 draws over 1000 slots).
        let mut seen = vec![false; k];
        let mut e = Code::new(k, Block(5));
        e.draw(CHUNK);
        for &w in &e.words {
            assert!((w as usize) < k);
            seen[w as usize] = true;
        }
        assert!(seen.iter().filter(|s| **s).count() > 900);
    }
}
