//! Products of XOR-shared bits with additively shared integers, one random
//! OT per direction and element: the ratio comparisons and multiplexers
//! of the EpiLink pipeline, and (with a public factor, one direction only)
//! the Boolean-to-arithmetic conversion of the similarities.
//!
//! With `b = b_C ⊕ b_S = b_C + b_S − 2·b_C·b_S` and `x = x_C + x_S`:
//!
//! ```text
//! b·x = b_C·x_C + b_S·x_S + b_S·[x_C·(1 − 2b_C)] + b_C·[x_S·(1 − 2b_S)]
//! ```
//!
//! The first two terms are local. Each bracket is a value one party knows,
//! times a bit the other party knows: a correlated OT where the bit's owner
//! is the receiver with that bit as its choice. From a random OT fixed to
//! the choice `c` (receiver holds key `k_c`, sender `k_0, k_1`), with pads
//! `P_i = H(k_i) mod 2^w`, the sender sends `τ = P_1 − P_0 − Δ` and keeps
//! `−P_0`; the receiver keeps `P_c − c·τ = P_0 + c·Δ`. The sum is `c·Δ`.
//!
//! Messages, simultaneous in both directions: the choice bits masked by the
//! random OT choices (one bit each), then the corrections `τ` (`w` bits
//! each). The receiver sees `τ` masked by the pad of the key it does not
//! hold; the sender sees only masked choices.
//!
//! For a public `x` (B2A: `x = 2^k` for bit `k` of a word) the second
//! bracket vanishes into the first, `b·x = x·b_C + x·b_S − 2x·b_C·b_S`, and
//! one OT (client sends `Δ = −2x·b_C`, server chooses `b_S`) suffices.

use super::error::ProtocolError;
use super::ots::{OneWay, OtStreams};
use crate::arith::ring::{self, Ring};
use crate::channel::Channel;
use crate::gmw::{recv_payload, send_payload};
use crate::{Lanes, Party};

/// `x mod 2^width` for `width ≤ 64`.
pub fn reduce(x: u64, width: u32) -> u64 {
    if width >= 64 {
        x
    } else {
        x & ((1u64 << width) - 1)
    }
}

fn check(bits: &Lanes, x: usize, width: u32) -> Result<(), ProtocolError> {
    if x != bits.len() {
        return Err(ProtocolError::Internal(format!(
            "bit product: {} bits but {} values",
            bits.len(),
            x
        )));
    }
    if width == 0 || width > 64 {
        return Err(ProtocolError::Internal(format!(
            "bit product: width {width}"
        )));
    }
    Ok(())
}

/// This party's additive shares (mod `2^width`) of `b_j · x_j`, from its
/// XOR shares `bits` and additive shares `x`. Both parties call it at the
/// same point with equally long inputs.
pub async fn bit_times_arith<C: Channel>(
    ch: &mut C,
    ots: &mut OtStreams,
    bits: &Lanes,
    x: &[u64],
    width: u32,
) -> Result<Vec<u64>, ProtocolError> {
    check(bits, x.len(), width)?;
    let n = bits.len();
    if n == 0 {
        return Ok(Vec::new());
    }
    // Everyone sends before receiving (sends never wait for the peer), so
    // the two directions cannot deadlock; two flights per product batch
    // (`OtStreams::product_pair`).
    let (recv, send) = ots.product_pair(ch, n, bits.words()).await?;
    let my_keys = recv.random_ot();
    let pair_keys = send.random_ot();
    let mut share = Vec::with_capacity(n);
    let mut tau = Vec::with_capacity(n);
    for (j, (&xj, pair)) in x.iter().zip(&pair_keys).enumerate() {
        let b = bits.get(j).unwrap_or(false);
        let xj = reduce(xj, width);
        // Δ = x·(1 − 2b): x or −x.
        let delta = if b { xj.wrapping_neg() } else { xj };
        let p0 = u64::from_block(pair[0]);
        let p1 = u64::from_block(pair[1]);
        tau.push(p1.wrapping_sub(p0).wrapping_sub(delta));
        // The local term b·x plus the sender's −P_0.
        share.push(if b { xj } else { 0 }.wrapping_sub(p0));
    }
    send_payload(ch, ring::pack(&tau, width)).await?;
    let got = recv_payload(
        ch,
        (n * width as usize).div_ceil(8),
        "bit-product corrections",
    )
    .await?;
    let tau_peer = ring::unpack::<u64>(&got, n, width);
    for (j, (s, key)) in share.iter_mut().zip(&my_keys).enumerate() {
        let pc = u64::from_block(*key);
        let mine = if bits.get(j).unwrap_or(false) {
            pc.wrapping_sub(tau_peer[j])
        } else {
            pc
        };
        *s = reduce(s.wrapping_add(mine), width);
    }
    Ok(share)
}

/// This party's additive shares (mod `2^width`) of `b_j · x_j` for XOR
/// shares `bits` and a public `x` (one OT per element, client → server).
pub async fn bit_times_public<C: Channel>(
    ch: &mut C,
    ots: &mut OtStreams,
    bits: &Lanes,
    x: &[u64],
    width: u32,
) -> Result<Vec<u64>, ProtocolError> {
    check(bits, x.len(), width)?;
    let n = bits.len();
    if n == 0 {
        return Ok(Vec::new());
    }
    let me = ots.party();
    let batch = ots.extend_one(ch, n, me == Party::Client).await?;
    let local = |j: usize, xj: u64| if bits.get(j).unwrap_or(false) { xj } else { 0 };
    match batch {
        OneWay::Sent(send) => {
            let send = send.fix_choices(ch).await?;
            let keys = send.random_ot();
            let mut share = Vec::with_capacity(n);
            let mut tau = Vec::with_capacity(n);
            for (j, (&xj, pair)) in x.iter().zip(&keys).enumerate() {
                let xj = reduce(xj, width);
                // Δ = −2x·b_C.
                let delta = local(j, xj).wrapping_mul(2).wrapping_neg();
                let p0 = u64::from_block(pair[0]);
                let p1 = u64::from_block(pair[1]);
                tau.push(p1.wrapping_sub(p0).wrapping_sub(delta));
                share.push(reduce(local(j, xj).wrapping_sub(p0), width));
            }
            send_payload(ch, ring::pack(&tau, width)).await?;
            Ok(share)
        }
        OneWay::Received(recv) => {
            let recv = recv.fix_choices(ch, bits.words()).await?;
            let keys = recv.random_ot();
            let got = recv_payload(
                ch,
                (n * width as usize).div_ceil(8),
                "conversion corrections",
            )
            .await?;
            let tau = ring::unpack::<u64>(&got, n, width);
            Ok(x.iter()
                .zip(&keys)
                .enumerate()
                .map(|(j, (&xj, key))| {
                    let pc = u64::from_block(*key);
                    let c = bits.get(j).unwrap_or(false);
                    let mine = if c { pc.wrapping_sub(tau[j]) } else { pc };
                    reduce(local(j, reduce(xj, width)).wrapping_add(mine), width)
                })
                .collect())
        }
    }
}
