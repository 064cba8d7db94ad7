//! Boolean → arithmetic conversion with one random OT per bit.
//!
//! A shared bit `b = b_C ^ b_S` equals `b_C + b_S − 2·b_C·b_S` over the
//! integers, so only the cross product needs interaction. The client is the
//! OT sender (holding `b_C` as a ring element), the server the receiver
//! (holding `b_S`). From one random OT (server: random choice `c` and
//! `s_c`; client: `s0`, `s1`, as ring elements, `Δ = s1 − s0`, so
//! `c·Δ = s_c − s0`), simultaneously:
//!
//! * server → client: `d = b_S ^ c` (masked by the random `c`);
//! * client → server: `e = b_C − Δ` (masked by `Δ`, of which the server
//!   knows neither `s0` nor `s1 − s_c`).
//!
//! With `b_S = d + (1 − 2d)·c`: `b_C·b_S = d·b_C + (1 − 2d)·(c·e + s_c − s0)`,
//! so `u_C = d·b_C − (1 − 2d)·s0` and `u_S = (1 − 2d)·(c·e + s_c)` are
//! additive shares of the product. Cost per bit: one random OT, one bit
//! and `width` bits on the wire, one round.
//!
//! For a word `x = Σ 2^i x_i`, bit `i` only matters mod `2^(width − i)`, so
//! its `e` is sent with `width − i` bits: `width·(width + 1)/2` payload bits
//! per word.

use super::ring::{Ring, pack, packed_len, unpack};
use super::{ArithError, check_width};
use crate::channel::Channel;
use crate::gmw::{recv_payload, send_payload};
use crate::ot::OtPool;
use crate::{Lanes, Party};

/// Converts XOR-shared bits (one per lane) to additive shares mod
/// `2^width`. Both parties call it with their shares.
pub async fn b2a_bits<R: Ring, C: Channel>(
    me: Party,
    ch: &mut C,
    pool: &mut OtPool,
    bits: &Lanes,
    width: u32,
) -> Result<Vec<R>, ArithError> {
    check_width::<R>(width)?;
    let mut out = b2a_core::<R, C>(me, ch, pool, &[(bits, width)]).await?;
    Ok(out.pop().unwrap_or_default())
}

/// Converts an XOR-shared word (bit `i` = `bits[i]`, one value per lane) to
/// additive shares of its value mod `2^width`.
pub async fn b2a_word<R: Ring, C: Channel>(
    me: Party,
    ch: &mut C,
    pool: &mut OtPool,
    bits: &[Lanes],
    width: u32,
) -> Result<Vec<R>, ArithError> {
    check_width::<R>(width)?;
    let lanes = bits.first().map_or(0, Lanes::len);
    if bits.iter().any(|b| b.len() != lanes) {
        return Err(ArithError::Shape(
            "word bits have different lane counts".into(),
        ));
    }
    // Bits at or above `width` vanish mod 2^width.
    let items: Vec<(&Lanes, u32)> = bits
        .iter()
        .take(width as usize)
        .enumerate()
        .map(|(i, b)| (b, width - i as u32))
        .collect();
    let per_bit = b2a_core::<R, C>(me, ch, pool, &items).await?;
    let mut acc = vec![R::ZERO; lanes];
    for (i, shares) in per_bit.iter().enumerate() {
        let weight = R::ONE.mul(R::from_u128(1u128 << i));
        for (a, s) in acc.iter_mut().zip(shares) {
            *a = a.add(s.mul(weight));
        }
    }
    Ok(acc.into_iter().map(|v| v.reduce(width)).collect())
}

/// Converts each `(bits, width)` item; returns per item per lane shares.
async fn b2a_core<R: Ring, C: Channel>(
    me: Party,
    ch: &mut C,
    pool: &mut OtPool,
    items: &[(&Lanes, u32)],
) -> Result<Vec<Vec<R>>, ArithError> {
    let n: usize = items.iter().map(|(b, _)| b.len()).sum();
    match me {
        Party::Client => {
            pool.sender.reserve(ch, n).await?;
            let keys = pool.sender.take(n)?.random_ot();
            // e = b_C − Δ per item, packed at the item's width.
            let mut payload = Vec::new();
            let mut s0s = Vec::with_capacity(items.len());
            let mut k = 0;
            for (bits, width) in items {
                let mut e = Vec::with_capacity(bits.len());
                let mut s0 = Vec::with_capacity(bits.len());
                for l in 0..bits.len() {
                    let (a, b) = (R::from_block(keys[k][0]), R::from_block(keys[k][1]));
                    k += 1;
                    let bc = R::ONE.select(bits.get(l).unwrap_or(false));
                    e.push(bc.sub(b.sub(a)));
                    s0.push(a);
                }
                payload.extend(pack(&e, *width));
                s0s.push(s0);
            }
            send_payload(ch, payload).await?;
            let d = recv_payload(ch, n.div_ceil(8), "B2A flips").await?;
            let d = Lanes::from_bytes(&d, n).map_err(|e| crate::gmw::peer_bits("B2A flips", e))?;
            let mut out = Vec::with_capacity(items.len());
            let mut k = 0;
            for ((bits, width), s0) in items.iter().zip(s0s) {
                let mut shares = Vec::with_capacity(bits.len());
                for (l, s0) in s0.into_iter().enumerate() {
                    let di = d.get(k).unwrap_or(false);
                    k += 1;
                    let bc = R::ONE.select(bits.get(l).unwrap_or(false));
                    // u_C = d·b_C − (1 − 2d)·s0
                    let u = if di { bc.add(s0) } else { s0.neg() };
                    // share of b: b_C − 2·u_C
                    shares.push(bc.sub(u.add(u)).reduce(*width));
                }
                out.push(shares);
            }
            Ok(out)
        }
        Party::Server => {
            pool.receiver.reserve(ch, n).await?;
            let batch = pool.receiver.take(n)?;
            let keys = batch.random_ot();
            let choices = Lanes::from_words(batch.choices.clone(), n);
            let mut d = Lanes::zeros(0);
            for (bits, _) in items {
                d.extend(bits);
            }
            d.xor_assign(&choices);
            let mut bytes = Vec::with_capacity(d.byte_len());
            d.write_bytes(&mut bytes);
            send_payload(ch, bytes).await?;
            let total: usize = items
                .iter()
                .map(|(b, w)| packed_len::<R>(b.len(), *w))
                .sum();
            let payload = recv_payload(ch, total, "B2A corrections").await?;
            let mut out = Vec::with_capacity(items.len());
            let (mut k, mut off) = (0, 0);
            for (bits, width) in items {
                let len = packed_len::<R>(bits.len(), *width);
                let e: Vec<R> = unpack(&payload[off..off + len], bits.len(), *width);
                off += len;
                let mut shares = Vec::with_capacity(bits.len());
                for (l, e) in e.into_iter().enumerate() {
                    let c = choices.get(k).unwrap_or(false);
                    let di = d.get(k).unwrap_or(false);
                    let sc = R::from_block(keys[k]);
                    k += 1;
                    // u_S = (1 − 2d)·(c·e + s_c)
                    let t = e.select(c).add(sc);
                    let u = if di { t.neg() } else { t };
                    let bs = R::ONE.select(bits.get(l).unwrap_or(false));
                    shares.push(bs.sub(u.add(u)).reduce(*width));
                }
                out.push(shares);
            }
            Ok(out)
        }
    }
}
