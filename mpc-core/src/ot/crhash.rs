//! Tweakable correlation-robust hash from fixed-key AES.
//!
//! OT extension turns correlated pairs `(q, q ⊕ Δ)` into independent random
//! keys by hashing. The receiver knows `q ⊕ r·Δ` but not Δ, so the hash must
//! make `H(j, q ⊕ Δ)` look random even given many such correlated inputs:
//! *tweakable correlation robustness* (TCCR). We use the construction of
//! Guo–Katz–Wang–Yu (S&P 2020), proven TCCR when the fixed-key AES
//! permutation π is modelled as a random permutation:
//!
//! `H(i, x) = π(π(x) ⊕ i) ⊕ π(x)`
//!
//! The tweak `i` is the global index of the OT in its stream, so equal
//! inputs at different positions never give equal outputs. Two AES calls per
//! hash, batched for pipelining. The key is a public constant (digits of π)
//! — fixed-key AES needs no secret key, and one key schedule serves all.

use std::sync::OnceLock;

use aes::Aes128Enc;
use aes::cipher::consts::U16;
use aes::cipher::{Array, BlockCipherEncrypt, KeyInit};

use crate::block::Block;

/// Public fixed key: the first 128 bits of the fractional part of π.
const FIXED_KEY: u128 = 0x243F_6A88_85A3_08D3_1319_8A2E_0370_7344;
const BATCH: usize = 128;

fn fixed_aes() -> &'static Aes128Enc {
    static CIPHER: OnceLock<Aes128Enc> = OnceLock::new();
    CIPHER.get_or_init(|| Aes128Enc::new(&Array::from(FIXED_KEY.to_le_bytes())))
}

/// `out[j] = H(first_tweak + j, xs[j])` for all `j`. `out.len()` must equal
/// `xs.len()` (extra elements of the longer slice are ignored).
pub fn tccr_hash(first_tweak: u128, xs: &[Block], out: &mut [Block]) {
    let aes = fixed_aes();
    let mut a = [Array::<u8, U16>::default(); BATCH];
    let mut pi = [0u128; BATCH];
    let mut tweak = first_tweak;
    for (xc, oc) in xs.chunks(BATCH).zip(out.chunks_mut(BATCH)) {
        let n = xc.len().min(oc.len());
        for (slot, x) in a[..n].iter_mut().zip(xc) {
            *slot = Array::from(x.to_bytes());
        }
        aes.encrypt_blocks(&mut a[..n]);
        for j in 0..n {
            pi[j] = u128::from_le_bytes(a[j].0);
            a[j] = Array::from((pi[j] ^ tweak.wrapping_add(j as u128)).to_le_bytes());
        }
        aes.encrypt_blocks(&mut a[..n]);
        for j in 0..n {
            oc[j] = Block(u128::from_le_bytes(a[j].0) ^ pi[j]);
        }
        tweak = tweak.wrapping_add(n as u128);
    }
}

/// Like [`tccr_hash`] on `xs[j] ⊕ offset` (used for `H(j, q ⊕ Δ)` without
/// materialising the XORed vector).
pub fn tccr_hash_offset(first_tweak: u128, xs: &[Block], offset: Block, out: &mut [Block]) {
    let mut tmp = [Block::ZERO; BATCH];
    let mut tweak = first_tweak;
    for (xc, oc) in xs.chunks(BATCH).zip(out.chunks_mut(BATCH)) {
        let n = xc.len().min(oc.len());
        for (t, x) in tmp[..n].iter_mut().zip(xc) {
            *t = *x ^ offset;
        }
        tccr_hash(tweak, &tmp[..n], &mut oc[..n]);
        tweak = tweak.wrapping_add(n as u128);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tweak_and_input_change_output_and_batching_is_consistent() {
        let xs: Vec<Block> = (0..100u128).map(|i| Block(i * 0x1234_5678_9abc)).collect();
        let mut all = vec![Block::ZERO; 100];
        tccr_hash(7, &xs, &mut all);
        let mut piece = vec![Block::ZERO; 1];
        tccr_hash(7 + 50, &xs[50..51], &mut piece);
        assert_eq!(piece[0], all[50]);
        // Same input, different tweak: different output.
        let mut other = vec![Block::ZERO; 1];
        tccr_hash(8 + 50, &xs[50..51], &mut other);
        assert_ne!(other[0], all[50]);
        let d = Block(0xdead_beef);
        let mut off = vec![Block::ZERO; 100];
        tccr_hash_offset(7, &xs, d, &mut off);
        let xored: Vec<Block> = xs.iter().map(|x| *x ^ d).collect();
        let mut direct = vec![Block::ZERO; 100];
        tccr_hash(7, &xored, &mut direct);
        assert_eq!(off, direct);
    }
}
