//! Base OT: Chou–Orlandi "simplest OT" (CO15) on the Ristretto group.
//!
//! Random 1-out-of-2 OT of 128-bit keys, used once per session pair to seed
//! OT extension (128 instances, so the cost — about 128 scalar
//! multiplications per party and one round trip — is paid once).
//!
//! Protocol, for n OTs with receiver choices c_i:
//! 1. Sender: a ← Z_ℓ, sends A = a·G.
//! 2. Receiver: checks A; for each i, b_i ← Z_ℓ, sends B_i = b_i·G + c_i·A;
//!    outputs k_i = KDF(i, b_i·A).
//! 3. Sender: checks each B_i; outputs k_i^0 = KDF(i, a·B_i) and
//!    k_i^1 = KDF(i, a·B_i − a·A).
//!
//! Correctness: a·B_i − c_i·a·A = a·b_i·G = b_i·A. **Why it is secure
//! (semi-honest):** B_i is uniformly distributed whatever c_i is, so the
//! sender learns nothing about the choices; the key the receiver did not
//! choose is KDF of a·b_i·G ± a²·G, which it cannot compute without solving
//! CDH, so in the random-oracle model it looks random.
//!
//! What the checks and the KDF binding protect:
//! * A and every B_i are decoded as Ristretto points, which rejects
//!   non-canonical encodings and leaves no small-order components. On
//!   cofactor curves the known CO15 pitfall is a sender who picks A with a
//!   small-order part and then tests which subgroup B_i lands in, learning
//!   c_i; Ristretto is a prime-order group, so that attack has no foothold.
//! * A must not be the identity: with A = 0 both sender keys coincide and
//!   the receiver's "private" key is a public constant.
//! * The KDF (BLAKE3 in derive-key mode) hashes the caller's session
//!   context, A, B_i and the index i together with the shared point. This
//!   binds every key to this session and this instance, so keys cannot be
//!   replayed across sessions or indices, and a receiver cannot relate
//!   different instances by reusing B values (the fix later analyses of
//!   CO15 recommend).
//!
//! The receiver's choice-dependent point is chosen by a constant-time byte
//! select, so the choice bit does not leak through timing.

use curve25519_dalek::constants::RISTRETTO_BASEPOINT_TABLE;
use curve25519_dalek::ristretto::{CompressedRistretto, RistrettoBasepointTable, RistrettoPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::Identity;
use zeroize::Zeroize;

use super::OtError;
use crate::block::Block;
use crate::channel::{Bytes, Channel, ChannelError};

const KDF_CONTEXT: &str = "mpc-core 2025 CO15 base OT key v1";

fn kdf(ctx: &[u8], a: &[u8; 32], b: &[u8; 32], index: usize, point: &RistrettoPoint) -> Block {
    let mut h = blake3::Hasher::new_derive_key(KDF_CONTEXT);
    h.update(&(ctx.len() as u64).to_le_bytes());
    h.update(ctx);
    h.update(a);
    h.update(b);
    h.update(&(index as u64).to_le_bytes());
    h.update(point.compress().as_bytes());
    let out = h.finalize();
    let mut k = [0u8; 16];
    k.copy_from_slice(&out.as_bytes()[..16]);
    Block::from_bytes(k)
}

fn decode_point(bytes: &[u8], what: &'static str, index: usize) -> Result<RistrettoPoint, OtError> {
    let p = CompressedRistretto::from_slice(bytes)
        .ok()
        .and_then(|c| c.decompress())
        .ok_or(OtError::InvalidPoint { what, index })?;
    if p == RistrettoPoint::identity() {
        return Err(OtError::InvalidPoint { what, index });
    }
    Ok(p)
}

/// Sender state between its first message and the receiver's reply
/// (I/O-free half of the protocol).
pub struct BaseOtSender {
    a: Scalar,
    a_point: [u8; 32],
    a_a: RistrettoPoint,
}

impl Drop for BaseOtSender {
    fn drop(&mut self) {
        self.a.zeroize();
        self.a_a.zeroize();
    }
}

impl BaseOtSender {
    /// Draws the secret scalar; returns the state and the first message (A).
    pub fn start() -> (Self, [u8; 32]) {
        let a = Scalar::random(&mut rand::rng());
        let a_pt = RistrettoPoint::mul_base(&a);
        let a_bytes = a_pt.compress().to_bytes();
        (
            BaseOtSender {
                a,
                a_point: a_bytes,
                a_a: a_pt * a,
            },
            a_bytes,
        )
    }

    /// Consumes the receiver's message (n points) and returns the key pairs.
    pub fn finish(self, ctx: &[u8], reply: &[u8], n: usize) -> Result<Vec<[Block; 2]>, OtError> {
        if reply.len() != 32 * n {
            return Err(ChannelError::UnexpectedLength {
                what: "base OT receiver points",
                expected: 32 * n,
                actual: reply.len(),
            }
            .into());
        }
        reply
            .chunks_exact(32)
            .enumerate()
            .map(|(i, chunk)| {
                let b = decode_point(chunk, "receiver point B", i)?;
                let mut b_bytes = [0u8; 32];
                b_bytes.copy_from_slice(chunk);
                let ab = b * self.a;
                let k0 = kdf(ctx, &self.a_point, &b_bytes, i, &ab);
                let k1 = kdf(ctx, &self.a_point, &b_bytes, i, &(ab - self.a_a));
                Ok([k0, k1])
            })
            .collect()
    }
}

/// Receiver side (I/O-free): from the sender's A and the choices, the reply
/// message and the chosen keys.
pub fn receiver_respond(
    ctx: &[u8],
    a_msg: &[u8],
    choices: &[bool],
) -> Result<(Vec<u8>, Vec<Block>), OtError> {
    if a_msg.len() != 32 {
        return Err(ChannelError::UnexpectedLength {
            what: "base OT sender point",
            expected: 32,
            actual: a_msg.len(),
        }
        .into());
    }
    let a = decode_point(a_msg, "sender point A", 0)?;
    let mut a_bytes = [0u8; 32];
    a_bytes.copy_from_slice(a_msg);
    let a_table = RistrettoBasepointTable::create(&a);
    let mut rng = rand::rng();
    let mut reply = Vec::with_capacity(32 * choices.len());
    let mut keys = Vec::with_capacity(choices.len());
    for (i, &c) in choices.iter().enumerate() {
        let mut b = Scalar::random(&mut rng);
        let bg = &b * RISTRETTO_BASEPOINT_TABLE;
        let p0 = bg.compress().to_bytes();
        let p1 = (bg + a).compress().to_bytes();
        let chosen = ct_select(c, &p0, &p1);
        let mut shared = &b * &a_table;
        let key = kdf(ctx, &a_bytes, &chosen, i, &shared);
        b.zeroize();
        shared.zeroize();
        reply.extend_from_slice(&chosen);
        keys.push(key);
    }
    Ok((reply, keys))
}

/// `if c { p1 } else { p0 }` without a data-dependent branch.
fn ct_select(c: bool, p0: &[u8; 32], p1: &[u8; 32]) -> [u8; 32] {
    let mask = (c as u8).wrapping_neg();
    let mut out = [0u8; 32];
    for ((o, x), y) in out.iter_mut().zip(p0).zip(p1) {
        *o = (x & !mask) | (y & mask);
    }
    out
}

/// Runs the sender side of `n` random base OTs; returns `(k0, k1)` pairs.
/// `ctx` must equal the receiver's (e.g. session id and direction).
pub async fn base_ot_send<C: Channel>(
    ch: &mut C,
    ctx: &[u8],
    n: usize,
) -> Result<Vec<[Block; 2]>, OtError> {
    let (state, a) = BaseOtSender::start();
    ch.send(Bytes::copy_from_slice(&a)).await?;
    let reply = ch.recv().await?;
    state.finish(ctx, &reply, n)
}

/// Runs the receiver side of random base OTs with the given choices;
/// returns the chosen keys.
pub async fn base_ot_receive<C: Channel>(
    ch: &mut C,
    ctx: &[u8],
    choices: &[bool],
) -> Result<Vec<Block>, OtError> {
    let a = ch.recv().await?;
    let (reply, keys) = receiver_respond(ctx, &a, choices)?;
    ch.send(Bytes::from(reply)).await?;
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_free_round_gives_chosen_keys() {
        let (s, a) = BaseOtSender::start();
        let choices: Vec<bool> = (0..16).map(|i| i % 3 == 0).collect();
        let (reply, keys) = receiver_respond(b"ctx", &a, &choices).unwrap();
        let pairs = s.finish(b"ctx", &reply, 16).unwrap();
        for ((pair, key), &c) in pairs.iter().zip(&keys).zip(&choices) {
            assert_eq!(*key, pair[c as usize]);
            assert_ne!(*key, pair[!c as usize]);
        }
    }

    #[test]
    fn bad_points_are_rejected() {
        let (s, _a) = BaseOtSender::start();
        let garbage = [0xffu8; 32];
        assert!(matches!(
            s.finish(b"", &garbage, 1),
            Err(OtError::InvalidPoint { .. })
        ));
        let identity = RistrettoPoint::identity().compress().to_bytes();
        assert!(matches!(
            receiver_respond(b"", &identity, &[true]),
            Err(OtError::InvalidPoint { .. })
        ));
        assert!(matches!(
            receiver_respond(b"", &[1, 2, 3], &[true]),
            Err(OtError::Channel(_))
        ));
    }

    #[test]
    fn context_binds_keys() {
        let (s, a) = BaseOtSender::start();
        let (reply, keys) = receiver_respond(b"session-1", &a, &[false]).unwrap();
        let pairs = s.finish(b"session-2", &reply, 1).unwrap();
        assert_ne!(pairs[0][0], keys[0]);
    }
}
