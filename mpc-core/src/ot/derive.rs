//! Everything derived from random correlated OTs (RCOTs): random OT, 1-bit
//! random OT packed 64 per word, correlated OT with chosen choice bits and
//! chosen-message OT.
//!
//! Local derivations (no messages) hash with the tweakable
//! correlation-robust hash of [`super::crhash`], tweaked by the OT's global
//! index in its stream, so both parties must feed the same batch (same
//! `first_index`). **Why hashing gives independent keys:** the receiver
//! knows `m_r = m0 ⊕ r·Δ` but not Δ, and TCCR makes `H(j, m_r ⊕ Δ)` look
//! random given everything it knows.
//!
//! Derandomisation (Beaver's trick), one extra message each:
//! * chosen choices: the receiver sends `e = b ⊕ r` (1 bit per OT, a
//!   one-time pad of b under the random r); the sender re-labels its pair
//!   as `m0' = m0 ⊕ e·Δ`, so the receiver now holds `m_b'`;
//! * chosen messages: after that, the sender sends `x0 ⊕ H(m0')` and
//!   `x1 ⊕ H(m0' ⊕ Δ)`; the receiver can unmask only `x_b`.

use super::OtError;
use super::bits::{clear_padding, get_bit};
use super::crhash::{tccr_hash, tccr_hash_offset};
use crate::block::Block;
use crate::channel::{Channel, ChannelExt};
use zeroize::Zeroize;

/// The sender's side of a batch of random correlated OTs: pairs
/// `(m0[j], m0[j] ⊕ delta)` for OT number `first_index + j` of the stream.
#[derive(Clone)]
pub struct RcotSenderBatch {
    /// Stream index of `m0[0]` (the hash tweak).
    pub first_index: u128,
    /// The global correlation.
    pub delta: Block,
    /// The zero-messages.
    pub m0: Vec<Block>,
}

/// The receiver's side: random choice bits `r` (packed) and `m_r`.
#[derive(Clone)]
pub struct RcotReceiverBatch {
    /// Stream index of `mb[0]` (the hash tweak).
    pub first_index: u128,
    /// Choice bits, packed 64 per word; padding bits are zero.
    pub choices: Vec<u64>,
    /// The chosen messages `m_r`.
    pub mb: Vec<Block>,
}

/// OTs hashed per step: large enough for AES pipelining, small enough that
/// the key buffers stay in L1/L2 and no n-sized temporary is allocated.
/// A multiple of 64 so packed bits stay word-aligned.
const HASH_CHUNK: usize = 1024;

/// OTs per message in the derandomisation steps: keeps every message far
/// below the channel's frame limit (2^20 chosen-message OTs = 32 MiB)
/// whatever the batch size. Both parties split identically.
pub const MSG_OTS: usize = 1 << 20;

/// Packs the least significant bit of each block into `out` (which must
/// hold `ceil(blocks.len() / 64)` words).
fn pack_lsbs_into(blocks: &[Block], out: &mut [u64]) {
    for (o, chunk) in out.iter_mut().zip(blocks.chunks(64)) {
        let mut w = 0u64;
        for (i, b) in chunk.iter().enumerate() {
            w |= (b.0 as u64 & 1) << i;
        }
        *o = w;
    }
}

/// OT material is wiped when a batch is dropped.
impl Drop for RcotSenderBatch {
    fn drop(&mut self) {
        self.delta.zeroize();
        self.m0.zeroize();
    }
}

/// OT material is wiped when a batch is dropped.
impl Drop for RcotReceiverBatch {
    fn drop(&mut self) {
        self.choices.zeroize();
        self.mb.zeroize();
    }
}

impl std::fmt::Debug for RcotSenderBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RcotSenderBatch({} OTs, redacted)", self.m0.len())
    }
}

impl std::fmt::Debug for RcotReceiverBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RcotReceiverBatch({} OTs, redacted)", self.mb.len())
    }
}

impl RcotSenderBatch {
    /// Number of OTs.
    pub fn len(&self) -> usize {
        self.m0.len()
    }

    /// Whether the batch is empty.
    pub fn is_empty(&self) -> bool {
        self.m0.is_empty()
    }

    /// The one-message of OT `j`.
    pub fn m1(&self, j: usize) -> Block {
        self.m0[j] ^ self.delta
    }

    /// Random OT: independent random pairs `(H(i, m0), H(i, m0 ⊕ Δ))`.
    pub fn random_ot(&self) -> Vec<[Block; 2]> {
        let mut out = Vec::with_capacity(self.len());
        self.for_each_hashed(|_, k0, k1| out.extend(k0.iter().zip(k1).map(|(a, b)| [*a, *b])));
        out
    }

    /// 1-bit random OT: LSBs of the random-OT keys, packed 64 per word
    /// (`(m0_bits, m1_bits)`), padding bits zero.
    pub fn random_bits(&self) -> (Vec<u64>, Vec<u64>) {
        let words = self.len().div_ceil(64);
        let (mut b0, mut b1) = (vec![0u64; words], vec![0u64; words]);
        self.for_each_hashed(|start, k0, k1| {
            pack_lsbs_into(k0, &mut b0[start / 64..]);
            pack_lsbs_into(k1, &mut b1[start / 64..]);
        });
        (b0, b1)
    }

    /// Calls `f(start, keys0, keys1)` for consecutive chunks of the random-OT
    /// keys `H(j, m0_j)`, `H(j, m0_j ⊕ Δ)`, starting at OT `start`.
    fn for_each_hashed(&self, f: impl FnMut(usize, &[Block], &[Block])) {
        hash_pairs(self.first_index, self.delta, &self.m0, f);
    }

    /// Splits off the first `n` OTs into their own batch.
    pub fn take_front(&mut self, n: usize) -> RcotSenderBatch {
        let rest = self.m0.split_off(n.min(self.m0.len()));
        let front = std::mem::replace(&mut self.m0, rest);
        let b = RcotSenderBatch {
            first_index: self.first_index,
            delta: self.delta,
            m0: front,
        };
        self.first_index += b.len() as u128;
        b
    }

    /// Correlated OT with the receiver's chosen bits: receives `e = b ⊕ r`
    /// from [`RcotReceiverBatch::fix_choices`] and relabels, so afterwards
    /// the receiver holds `m0 ⊕ b·Δ`.
    pub async fn fix_choices<C: Channel>(mut self, ch: &mut C) -> Result<RcotSenderBatch, OtError> {
        let delta = self.delta;
        for chunk in self.m0.chunks_mut(MSG_OTS) {
            let e = ch.recv_bits(chunk.len()).await?;
            for (j, m) in chunk.iter_mut().enumerate() {
                *m ^= delta.and_bit(get_bit(&e, j));
            }
        }
        Ok(self)
    }

    /// Chosen-message OT: the receiver (running
    /// [`RcotReceiverBatch::receive_chosen`]) learns `msgs[j][b_j]`.
    pub async fn send_chosen<C: Channel>(
        self,
        ch: &mut C,
        msgs: &[[Block; 2]],
    ) -> Result<(), OtError> {
        check_len(msgs.len(), self.len())?;
        let fixed = self.fix_choices(ch).await?;
        let mut out = Vec::with_capacity(2 * msgs.len().min(MSG_OTS));
        for (ci, part) in msgs.chunks(MSG_OTS).enumerate() {
            let start = ci * MSG_OTS;
            let m0 = &fixed.m0[start..start + part.len()];
            out.clear();
            hash_pairs(
                fixed.first_index + start as u128,
                fixed.delta,
                m0,
                |off, k0, k1| {
                    for ((m, a), b) in part[off..].iter().zip(k0).zip(k1) {
                        out.push(m[0] ^ *a);
                        out.push(m[1] ^ *b);
                    }
                },
            );
            ch.send_blocks(&out).await?;
        }
        Ok(())
    }

    /// Chosen-message OT of single bits (packed): the receiver learns bit j
    /// of `m1_bits` if its choice is 1, else of `m0_bits`. Two bits per OT
    /// on the wire plus the receiver's one.
    pub async fn send_chosen_bits<C: Channel>(
        self,
        ch: &mut C,
        m0_bits: &[u64],
        m1_bits: &[u64],
    ) -> Result<(), OtError> {
        let n = self.len();
        check_len(m0_bits.len(), n.div_ceil(64))?;
        check_len(m1_bits.len(), n.div_ceil(64))?;
        let fixed = self.fix_choices(ch).await?;
        let (p0, p1) = fixed.random_bits();
        let mut y0: Vec<u64> = m0_bits.iter().zip(&p0).map(|(a, b)| a ^ b).collect();
        let mut y1: Vec<u64> = m1_bits.iter().zip(&p1).map(|(a, b)| a ^ b).collect();
        clear_padding(&mut y0, n);
        clear_padding(&mut y1, n);
        // Per chunk of MSG_OTS OTs (a multiple of 64): y0 words then y1 words.
        let wchunk = MSG_OTS / 64;
        for (a, b) in y0.chunks(wchunk).zip(y1.chunks(wchunk)) {
            ch.send_u64s(&[a, b].concat()).await?;
        }
        Ok(())
    }
}

impl RcotReceiverBatch {
    /// Number of OTs.
    pub fn len(&self) -> usize {
        self.mb.len()
    }

    /// Whether the batch is empty.
    pub fn is_empty(&self) -> bool {
        self.mb.is_empty()
    }

    /// Random OT: `H(i, m_r)`, equal to the sender's key of index r.
    pub fn random_ot(&self) -> Vec<Block> {
        let mut k = vec![Block::ZERO; self.len()];
        tccr_hash(self.first_index, &self.mb, &mut k);
        k
    }

    /// 1-bit random OT: `(choices, m_r bits)`, packed, padding zero.
    pub fn random_bits(&self) -> (Vec<u64>, Vec<u64>) {
        let mut bits = vec![0u64; self.len().div_ceil(64)];
        let mut k = vec![Block::ZERO; HASH_CHUNK.min(self.len())];
        for (ci, chunk) in self.mb.chunks(HASH_CHUNK).enumerate() {
            let start = ci * HASH_CHUNK;
            let k = &mut k[..chunk.len()];
            tccr_hash(self.first_index + start as u128, chunk, k);
            pack_lsbs_into(k, &mut bits[start / 64..]);
        }
        (self.choices.clone(), bits)
    }

    /// Splits off the first `n` OTs into their own batch.
    pub fn take_front(&mut self, n: usize) -> RcotReceiverBatch {
        let n = n.min(self.len());
        let rest_mb = self.mb.split_off(n);
        let front_mb = std::mem::replace(&mut self.mb, rest_mb);
        let front_choices = super::bits::extract_bits(&self.choices, 0, n);
        self.choices = super::bits::extract_bits(&self.choices, n, self.mb.len());
        let b = RcotReceiverBatch {
            first_index: self.first_index,
            choices: front_choices,
            mb: front_mb,
        };
        self.first_index += n as u128;
        b
    }

    /// Correlated OT with chosen bits `b` (packed): sends `e = b ⊕ r`, after
    /// which `choices == b` and `mb[j] = m0'[j] ⊕ b_j·Δ` for the sender's
    /// relabelled `m0'`.
    pub async fn fix_choices<C: Channel>(
        mut self,
        ch: &mut C,
        b: &[u64],
    ) -> Result<RcotReceiverBatch, OtError> {
        let n = self.len();
        check_len(b.len(), n.div_ceil(64))?;
        let mut e: Vec<u64> = b.iter().zip(&self.choices).map(|(x, r)| x ^ r).collect();
        clear_padding(&mut e, n);
        for (ci, words) in e.chunks(MSG_OTS / 64).enumerate() {
            let bits = (n - ci * MSG_OTS).min(MSG_OTS);
            ch.send_bits(words, bits).await?;
        }
        self.choices = b.to_vec();
        clear_padding(&mut self.choices, n);
        Ok(self)
    }

    /// Chosen-message OT, receiver side: returns `msgs[j][b_j]`.
    pub async fn receive_chosen<C: Channel>(
        self,
        ch: &mut C,
        b: &[u64],
    ) -> Result<Vec<Block>, OtError> {
        let fixed = self.fix_choices(ch, b).await?;
        let keys = fixed.random_ot();
        let mut out = Vec::with_capacity(keys.len());
        for (ci, kc) in keys.chunks(MSG_OTS).enumerate() {
            let y = ch.recv_blocks(2 * kc.len()).await?;
            for (i, k) in kc.iter().enumerate() {
                let c = get_bit(&fixed.choices, ci * MSG_OTS + i);
                // Branch-free select of y[2i + c].
                out.push(
                    (y[2 * i] & Block::ONES.and_bit(!c))
                        ^ (y[2 * i + 1] & Block::ONES.and_bit(c))
                        ^ *k,
                );
            }
        }
        Ok(out)
    }

    /// Chosen-message bit OT, receiver side: returns the chosen bits packed.
    pub async fn receive_chosen_bits<C: Channel>(
        self,
        ch: &mut C,
        b: &[u64],
    ) -> Result<Vec<u64>, OtError> {
        let n = self.len();
        let fixed = self.fix_choices(ch, b).await?;
        let (choices, mb) = fixed.random_bits();
        let words = n.div_ceil(64);
        let wchunk = MSG_OTS / 64;
        let mut out = Vec::with_capacity(words);
        for start in (0..words).step_by(wchunk) {
            let cw = wchunk.min(words - start);
            let y = ch.recv_u64s(2 * cw).await?;
            let (y0, y1) = y.split_at(cw);
            for w in 0..cw {
                let (c, m) = (choices[start + w], mb[start + w]);
                out.push(((y0[w] & !c) | (y1[w] & c)) ^ m);
            }
        }
        clear_padding(&mut out, n);
        Ok(out)
    }
}

/// Hashes `m0` and `m0 ⊕ delta` chunk-wise with tweaks from `first_index`
/// and hands each chunk of keys to `f(offset, keys0, keys1)`.
fn hash_pairs(
    first_index: u128,
    delta: Block,
    m0: &[Block],
    mut f: impl FnMut(usize, &[Block], &[Block]),
) {
    let cap = HASH_CHUNK.min(m0.len());
    let (mut k0, mut k1) = (vec![Block::ZERO; cap], vec![Block::ZERO; cap]);
    for (ci, chunk) in m0.chunks(HASH_CHUNK).enumerate() {
        let start = ci * HASH_CHUNK;
        let tweak = first_index + start as u128;
        let (k0, k1) = (&mut k0[..chunk.len()], &mut k1[..chunk.len()]);
        tccr_hash(tweak, chunk, k0);
        tccr_hash_offset(tweak, chunk, delta, k1);
        f(start, k0, k1);
    }
}

fn check_len(got: usize, expected: usize) -> Result<(), OtError> {
    if got == expected {
        Ok(())
    } else {
        Err(OtError::InvalidParameter(format!(
            "input has {got} elements, the OT batch needs {expected}"
        )))
    }
}
