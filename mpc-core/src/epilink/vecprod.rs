//! Intersection counts `|a ∧ b_r|` of the client's fixed query filter `a`
//! with every database filter `b_r`, as additive shares mod `2^w`, with one
//! OT per query bit for the whole run — the vector-product protocol of
//! [`crate::arith::vector`] (MOTIF-style), specialised for speed: one OT
//! batch and one choice message per query block, pads generated a record
//! slice at a time, corrections packed with a 64-bit accumulator.
//!
//! Per query bit `i` the client holds the key `k_{a_i}` of a random OT
//! fixed to its choice `a_i`, the server `k_0, k_1`; both expand keys with
//! AES-CTR into pad streams `P_{·}[i][r]` (one `w`-bit pad per record, the
//! streams continue across chunks and paired fields, so no pad is used
//! twice). For a database field the server sends `τ[i][r] = P_1 − P_0 −
//! b_r[i]` and keeps `−Σ_i P_0[i][r]`; the client keeps `Σ_i (P_{a_i}[i][r] −
//! a_i·τ[i][r]) = Σ_i P_0[i][r] + a_i·b_r[i]`. The client sees each `τ`
//! masked by the pad of the key it lacks; the server sees only the masked
//! choices. Cost: `bitlength · w` bits per (record, compared database
//! field), no OT per record.

use super::bitmul::{pack_bits, unpack_bits};
use super::ots::{OneWay, OtStreams};
use super::protocol::ProtocolError;
use crate::channel::Channel;
use crate::circuit::{Lanes, Party};
use crate::gmw::{recv_payload, send_payload};
use crate::prg::AesPrg;

/// One party's pad streams for one query field.
pub enum FieldPads {
    /// Client: the query bits and one stream per bit.
    Client {
        /// The query filter (zeros for an empty field).
        bits: Lanes,
        /// `P_{a_i}` streams.
        pads: Vec<AesPrg>,
    },
    /// Server: both streams per bit.
    Server {
        /// `(P_0, P_1)` streams.
        pads: Vec<[AesPrg; 2]>,
    },
}

/// Sets up the pad streams of several query fields at once (one OT per
/// bit; the client's choices go in one message). `fields` are the client's
/// filters (the server passes only their lengths via `lens`).
pub async fn setup<C: Channel>(
    ch: &mut C,
    ots: &mut OtStreams,
    fields: Option<&[Lanes]>,
    lens: &[usize],
) -> Result<Vec<FieldPads>, ProtocolError> {
    let total: usize = lens.iter().sum();
    let me = ots.party();
    // The client receives (its bits are the choices), the server sends.
    match ots.extend_one(ch, total, me == Party::Server).await? {
        OneWay::Received(batch) => {
            let fields =
                fields.ok_or_else(|| ProtocolError::Internal("client filters missing".into()))?;
            let mut all = Lanes::zeros(0);
            for (f, &len) in fields.iter().zip(lens) {
                if f.len() != len {
                    return Err(ProtocolError::Internal("filter length".into()));
                }
                all.extend(f);
            }
            let keys = batch.fix_choices(ch, all.words()).await?.random_ot();
            let mut keys = keys.into_iter();
            Ok(fields
                .iter()
                .map(|f| FieldPads::Client {
                    bits: f.clone(),
                    pads: keys.by_ref().take(f.len()).map(AesPrg::new).collect(),
                })
                .collect())
        }
        OneWay::Sent(batch) => {
            let keys = batch.fix_choices(ch).await?.random_ot();
            let mut keys = keys.into_iter();
            Ok(lens
                .iter()
                .map(|&len| FieldPads::Server {
                    pads: keys
                        .by_ref()
                        .take(len)
                        .map(|[k0, k1]| [AesPrg::new(k0), AesPrg::new(k1)])
                        .collect(),
                })
                .collect())
        }
    }
}

/// The next `n` pads of `width` bits from a stream (whole AES blocks are
/// consumed, identically on both sides).
fn draw(prg: &mut AesPrg, n: usize, width: u32, buf: &mut Vec<u8>, out: &mut Vec<u64>) {
    let per = (width as usize).div_ceil(8);
    buf.resize(n * per, 0);
    prg.fill_bytes_blocks(buf);
    out.clear();
    let mask = if width >= 64 {
        u64::MAX
    } else {
        (1u64 << width) - 1
    };
    match per {
        1 => out.extend(buf.iter().map(|&b| u64::from(b) & mask)),
        2 => out.extend(
            buf.chunks_exact(2)
                .map(|c| u64::from(u16::from_le_bytes([c[0], c[1]])) & mask),
        ),
        _ => out.extend(buf.chunks_exact(per).map(|c| {
            let mut b = [0u8; 8];
            b[..per.min(8)].copy_from_slice(&c[..per.min(8)]);
            u64::from_le_bytes(b) & mask
        })),
    }
}

/// Server: the transposed database field, bit `i` of every record of the
/// chunk in `columns[i]`.
pub fn columns(values: &[Option<&[u8]>], bitlength: usize) -> Vec<Lanes> {
    let mut cols: Vec<Vec<u64>> = vec![vec![0u64; values.len().div_ceil(64)]; bitlength];
    for (r, v) in values.iter().enumerate() {
        if let Some(bytes) = v {
            for (byte_i, &byte) in bytes.iter().enumerate() {
                let mut rest = byte;
                while rest != 0 {
                    let bit = byte_i * 8 + rest.trailing_zeros() as usize;
                    if bit < bitlength {
                        cols[bit][r / 64] |= 1 << (r % 64);
                    }
                    rest &= rest - 1;
                }
            }
        }
    }
    cols.into_iter()
        .map(|w| Lanes::from_words(w, values.len()))
        .collect()
}

/// One field pairing of one chunk: this party's shares (mod `2^width`) of
/// the counts for `records` records. The server passes the database
/// field's `columns`; the client receives its corrections.
pub async fn counts<C: Channel>(
    ch: &mut C,
    pads: &mut FieldPads,
    records: usize,
    columns: Option<&[Lanes]>,
    width: u32,
) -> Result<Vec<u64>, ProtocolError> {
    let mask = if width >= 64 {
        u64::MAX
    } else {
        (1u64 << width) - 1
    };
    let mut share = vec![0u64; records];
    let (mut buf, mut p0, mut p1) = (Vec::new(), Vec::new(), Vec::new());
    match pads {
        FieldPads::Server { pads } => {
            let cols = columns
                .ok_or_else(|| ProtocolError::Internal("database columns missing".into()))?;
            if cols.len() != pads.len() {
                return Err(ProtocolError::Internal("column count".into()));
            }
            let mut tau = Vec::with_capacity(records * pads.len());
            for ([g0, g1], col) in pads.iter_mut().zip(cols) {
                draw(g0, records, width, &mut buf, &mut p0);
                draw(g1, records, width, &mut buf, &mut p1);
                for (r, (s, (a, b))) in share.iter_mut().zip(p0.iter().zip(&p1)).enumerate() {
                    let y = u64::from(col.get(r).unwrap_or(false));
                    tau.push(b.wrapping_sub(*a).wrapping_sub(y));
                    *s = s.wrapping_sub(*a);
                }
            }
            send_payload(ch, pack_bits(&tau, width)).await?;
        }
        FieldPads::Client { bits, pads } => {
            let n = pads.len();
            let got = recv_payload(
                ch,
                (n * records * width as usize).div_ceil(8),
                "vector-product corrections",
            )
            .await?;
            let tau = unpack_bits(&got, n * records, width);
            for (i, g) in pads.iter_mut().enumerate() {
                draw(g, records, width, &mut buf, &mut p0);
                let row = &tau[i * records..(i + 1) * records];
                if bits.get(i).unwrap_or(false) {
                    for ((s, p), t) in share.iter_mut().zip(&p0).zip(row) {
                        *s = s.wrapping_add(p.wrapping_sub(*t));
                    }
                } else {
                    for (s, p) in share.iter_mut().zip(&p0) {
                        *s = s.wrapping_add(*p);
                    }
                }
            }
        }
    }
    for s in &mut share {
        *s &= mask;
    }
    Ok(share)
}
