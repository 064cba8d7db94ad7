//! The multiplexer of a wide tournament layer as one product per select
//! bit: an XOR-shared bit `b` times an additively shared integer `x` *and*
//! an XOR-shared bit word `w` (up to 64 bits) at once, one random OT per
//! direction and element, instead of one Beaver triple per bit of `w`.
//!
//! The integer part is [`super::bitmul::bit_times_arith`]'s protocol. The
//! word part uses the same OT: with `b = b_C ⊕ b_S` and `w = w_C ⊕ w_S`,
//!
//! ```text
//! b·w = b_C·w_C ⊕ b_S·w_S ⊕ b_C·w_S ⊕ b_S·w_C
//! ```
//!
//! The first two terms are local; for a cross term the owner of `w_S`
//! (sender, keys `K_0, K_1`) sends `τ' = Q_0 ⊕ Q_1 ⊕ w_S` and keeps `Q_0`, the
//! receiver (choice `b_C`) keeps `Q_{b_C} ⊕ b_C·τ'`, where `Q_i` are the high
//! 64 bits of `K_i` and the integer pad `P_i` the low 64 bits. `K_i` is the
//! output of the random OT's correlation-robust hash, so its two halves are
//! independent pads, each used once. The receiver sees both corrections
//! masked by the halves of the key it lacks; the sender sees only the
//! masked choice bit.
//!
//! Cost per element: 2 random OTs and `2·(width + word_width)` correction
//! bits, in two flights (extension corrections and masked choices; then the
//! corrections `τ`), against `word_width` AND gates (2 OTs and an AND level
//! each) for a Boolean multiplexer.

use super::bitmul::reduce;
use super::error::ProtocolError;
use super::ots::OtStreams;
use crate::Lanes;
use crate::arith::ring::{self, Ring};
use crate::channel::Channel;
use crate::gmw::{recv_payload, send_payload};

/// `w mod 2^width` for `width ≤ 64`.
fn low_bits(w: u64, width: usize) -> u64 {
    reduce(w, width as u32)
}

/// This party's shares of `b_j·x_j` (additive, mod `2^width`) and of
/// `b_j·w_j` (XOR, `word_width` bits), from its XOR shares `bits`, additive
/// shares `x` and XOR shares `words`. Both parties call it at the same point
/// with equally long inputs.
pub async fn bit_times_mixed<C: Channel>(
    ch: &mut C,
    ots: &mut OtStreams,
    bits: &Lanes,
    x: &[u64],
    width: u32,
    words: &[u64],
    word_width: usize,
) -> Result<(Vec<u64>, Vec<u64>), ProtocolError> {
    let n = bits.len();
    if x.len() != n || words.len() != n || width == 0 || width > 64 || word_width > 64 {
        return Err(ProtocolError::Internal(format!(
            "mixed product: {n} bits, {} integers of {width} bits, {} words of {word_width} bits",
            x.len(),
            words.len()
        )));
    }
    if n == 0 {
        return Ok((Vec::new(), Vec::new()));
    }
    // Receiver side first: its extension corrections and masked choices in
    // one flight; then the sender side.
    let (recv, send) = ots.product_pair(ch, n, bits.words()).await?;
    let my_keys = recv.random_ot();
    let pair_keys = send.random_ot();
    let mut arith = Vec::with_capacity(n);
    let mut xor = Vec::with_capacity(n);
    let mut tau_a = Vec::with_capacity(n);
    let mut tau_x = Vec::with_capacity(n);
    for (j, pair) in pair_keys.iter().enumerate() {
        let b = bits.get(j).unwrap_or(false);
        let xj = reduce(x[j], width);
        let wj = low_bits(words[j], word_width);
        let (p0, p1) = (u64::from_block(pair[0]), u64::from_block(pair[1]));
        let (q0, q1) = (
            low_bits((pair[0].0 >> 64) as u64, word_width),
            low_bits((pair[1].0 >> 64) as u64, word_width),
        );
        // Integer: Δ = x·(1 − 2b); word: Δ' = w.
        let delta = if b { xj.wrapping_neg() } else { xj };
        tau_a.push(reduce(p1.wrapping_sub(p0).wrapping_sub(delta), width));
        tau_x.push(q0 ^ q1 ^ wj);
        arith.push(if b { xj } else { 0 }.wrapping_sub(p0));
        xor.push(if b { wj } else { 0 } ^ q0);
    }
    let mut msg = ring::pack(&tau_a, width);
    msg.extend_from_slice(&ring::pack(&tau_x, word_width as u32));
    send_payload(ch, msg).await?;
    let (la, lx) = (
        (n * width as usize).div_ceil(8),
        (n * word_width).div_ceil(8),
    );
    let got = recv_payload(ch, la + lx, "multiplexer corrections").await?;
    let peer_a = ring::unpack::<u64>(&got[..la], n, width);
    let peer_x = ring::unpack::<u64>(&got[la..], n, word_width as u32);
    for (j, key) in my_keys.iter().enumerate() {
        let c = bits.get(j).unwrap_or(false);
        let pc = u64::from_block(*key);
        let qc = low_bits((key.0 >> 64) as u64, word_width);
        let (ma, mx) = if c {
            (pc.wrapping_sub(peer_a[j]), qc ^ peer_x[j])
        } else {
            (pc, qc)
        };
        arith[j] = reduce(arith[j].wrapping_add(ma), width);
        xor[j] = low_bits(xor[j] ^ mx, word_width);
    }
    Ok((arith, xor))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Party;
    use crate::channel::memory_pair;
    use crate::epilink::peer_ot::PeerOt;
    use rand::RngExt;

    /// Random XOR / additive splits of the values, both parties' products,
    /// and the combined results against the clear products.
    async fn party(
        ch: crate::channel::MemoryChannel,
        me: Party,
        bits: Lanes,
        x: Vec<u64>,
        w: Vec<u64>,
        width: u32,
        word_width: usize,
    ) -> (Vec<u64>, Vec<u64>) {
        let mut ch = ch;
        let ot = PeerOt::establish(&mut ch, me, b"muxprod test")
            .await
            .expect("ot");
        let mut ots = ot.streams(me, &[7; 32]);
        bit_times_mixed(&mut ch, &mut ots, &bits, &x, width, &w, word_width)
            .await
            .expect("products")
    }

    #[test]
    fn mixed_products_combine_to_the_clear_products() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let mut rng = rand::rng();
        for (n, width, word_width) in [(1, 45, 28), (200, 64, 64), (130, 1, 1), (77, 33, 14)] {
            let b: Vec<bool> = (0..n).map(|_| rng.random()).collect();
            let x: Vec<u64> = (0..n).map(|_| reduce(rng.random(), width)).collect();
            let w: Vec<u64> = (0..n)
                .map(|_| reduce(rng.random(), word_width as u32))
                .collect();
            // Shares: b = b_C ⊕ b_S, x = x_C + x_S, w = w_C ⊕ w_S.
            let bc: Vec<bool> = (0..n).map(|_| rng.random()).collect();
            let xc: Vec<u64> = (0..n).map(|_| reduce(rng.random(), width)).collect();
            let wc: Vec<u64> = (0..n)
                .map(|_| reduce(rng.random(), word_width as u32))
                .collect();
            let bs: Vec<bool> = b.iter().zip(&bc).map(|(v, c)| v ^ c).collect();
            let xs: Vec<u64> = x
                .iter()
                .zip(&xc)
                .map(|(v, c)| reduce(v.wrapping_sub(*c), width))
                .collect();
            let ws: Vec<u64> = w.iter().zip(&wc).map(|(v, c)| v ^ c).collect();
            let (a, s) = memory_pair();
            let client = rt.spawn(party(
                a,
                Party::Client,
                Lanes::from_bools(&bc),
                xc,
                wc,
                width,
                word_width,
            ));
            let server = rt.spawn(party(
                s,
                Party::Server,
                Lanes::from_bools(&bs),
                xs,
                ws,
                width,
                word_width,
            ));
            let (c, s) = rt.block_on(async { (client.await, server.await) });
            let ((ca, cx), (sa, sx)) = (c.expect("client"), s.expect("server"));
            for j in 0..n {
                let want_a = if b[j] { x[j] } else { 0 };
                let want_x = if b[j] { w[j] } else { 0 };
                assert_eq!(
                    reduce(ca[j].wrapping_add(sa[j]), width),
                    want_a,
                    "n {n} lane {j}"
                );
                assert_eq!(cx[j] ^ sx[j], want_x, "n {n} lane {j}");
            }
        }
    }
}
