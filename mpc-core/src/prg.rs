//! AES-CTR pseudorandom generator seeded by a [`Block`].
//!
//! Used wherever both parties (or one party at two times) must expand the
//! same short seed into the same long stream: OT-extension seeds and GGM
//! tree nodes. Each seed is used as an AES-128 key and the output is
//! `AES_seed(counter)` for counter = 0, 1, 2, … — a PRG under the standard
//! assumption that AES is a pseudorandom permutation (no fixed-key or
//! random-permutation idealisation needed here). Blocks are produced in
//! batches through `encrypt_blocks`, which lets the `aes` crate use
//! AES-NI/VAES pipelining.
//!
//! Randomness that only one party needs (seeds, Δ, scalars) comes from the
//! operating-system-seeded `rand::rng()`; an `AesPrg` implements
//! [`rand::TryRng`]/`TryCryptoRng` so it can also serve as a fast local CSPRNG.

use std::convert::Infallible;

use aes::Aes128Enc;
use aes::cipher::{Array, BlockCipherEncrypt, KeyInit};

use crate::block::Block;

/// Blocks encrypted per `encrypt_blocks` call (a multiple of the 64 blocks
/// the VAES-512 backend processes in parallel).
const BATCH: usize = 128;

/// AES-128 in counter mode, keyed by a 128-bit seed.
#[derive(Clone)]
pub struct AesPrg {
    cipher: Aes128Enc,
    counter: u128,
}

impl AesPrg {
    /// A generator whose output is fully determined by `seed`.
    pub fn new(seed: Block) -> Self {
        let key = Array::from(seed.to_bytes());
        AesPrg {
            cipher: Aes128Enc::new(&key),
            counter: 0,
        }
    }

    /// A generator with a fresh seed from the thread-local CSPRNG.
    pub fn from_entropy() -> Self {
        AesPrg::new(Block::random(&mut rand::rng()))
    }

    /// Fills `out` with the next `out.len()` output blocks.
    pub fn fill_blocks(&mut self, out: &mut [Block]) {
        let mut buf = [Array::<u8, aes::cipher::consts::U16>::default(); BATCH];
        for chunk in out.chunks_mut(BATCH) {
            let bufs = &mut buf[..chunk.len()];
            for b in bufs.iter_mut() {
                *b = Array::from(self.counter.to_le_bytes());
                self.counter = self.counter.wrapping_add(1);
            }
            self.cipher.encrypt_blocks(bufs);
            for (o, b) in chunk.iter_mut().zip(bufs.iter()) {
                *o = Block::from_bytes(b.0);
            }
        }
    }

    /// The next output block.
    pub fn next_block(&mut self) -> Block {
        let mut b = [Block::ZERO];
        self.fill_blocks(&mut b);
        b[0]
    }

    /// `n` output blocks.
    pub fn blocks(&mut self, n: usize) -> Vec<Block> {
        let mut v = vec![Block::ZERO; n];
        self.fill_blocks(&mut v);
        v
    }

    /// Fills `out` with output bytes (whole blocks are consumed).
    pub fn fill_bytes_blocks(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(16 * BATCH) {
            let mut blocks = [Block::ZERO; BATCH];
            let nb = chunk.len().div_ceil(16);
            self.fill_blocks(&mut blocks[..nb]);
            for (c, b) in chunk.chunks_mut(16).zip(blocks.iter()) {
                c.copy_from_slice(&b.to_bytes()[..c.len()]);
            }
        }
    }
}

impl rand::TryRng for AesPrg {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok(self.next_block().0 as u32)
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        Ok(self.next_block().0 as u64)
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        self.fill_bytes_blocks(dst);
        Ok(())
    }
}

impl rand::TryCryptoRng for AesPrg {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_matches_single_block_aes() {
        let seed = Block(0x0f0e_0d0c_0b0a_0908_0706_0504_0302_0100);
        let mut a = AesPrg::new(seed);
        let mut b = AesPrg::new(seed);
        let va = a.blocks(100);
        let mut vb = vec![Block::ZERO; 100];
        // Same stream whether drawn in one call or piecewise.
        b.fill_blocks(&mut vb[..7]);
        b.fill_blocks(&mut vb[7..]);
        assert_eq!(va, vb);
        // Block i is AES_seed(i).
        let cipher = Aes128Enc::new(&Array::from(seed.to_bytes()));
        let mut x = Array::from(5u128.to_le_bytes());
        cipher.encrypt_block(&mut x);
        assert_eq!(va[5], Block::from_bytes(x.0));
        // FIPS-197 C.1 vector: key 000102..0f, plaintext 00112233..ff.
        let mut p = Array::from([
            0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd,
            0xee, 0xff,
        ]);
        cipher.encrypt_block(&mut p);
        assert_eq!(p.0[..4], [0x69, 0xc4, 0xe0, 0xd8]);
        assert_ne!(
            AesPrg::new(Block(1)).next_block(),
            AesPrg::new(Block(2)).next_block()
        );
    }
}
