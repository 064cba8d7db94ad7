//! Inner products of one party's fixed bit vector with many rows of the
//! other party, with one OT per bit of the vector in total.
//!
//! Party A holds `x ∈ {0,1}^n` (e.g. the query record's Bloom filter), party
//! B holds rows `y_j ∈ (Z_2^width)^n`, j = 1..N (e.g. the database's
//! filters). They obtain additive shares of `<x, y_j>` for every j:
//!
//! 1. **Setup, once per x**: n random OTs with A as receiver, fixed to A's
//!    choices `x_i` (A sends `x ^ r`, one bit per OT). B holds keys
//!    `k_i^0, k_i^1`, A holds `k_i^{x_i}`.
//! 2. **Per batch of rows**: both expand each key with an AES-CTR PRG into
//!    a stream of `width`-bit pads, one per row: `P_b[i][j]`. B sends
//!    `τ[i][j] = P_1[i][j] − P_0[i][j] − y_j[i]` and keeps
//!    `−Σ_i P_0[i][j]`; A keeps `Σ_i (P_{x_i}[i][j] − x_i·τ[i][j])`, which
//!    is `Σ_i P_0[i][j] + x_i·y_j[i]`.
//!
//! A sees τ masked by the pad it cannot compute (`P_1` if `x_i = 0`, `P_0`
//! if `x_i = 1`); B sees only `x ^ r`. The streams continue across calls,
//! so several batches (or several matrices against the same x, e.g. the
//! cross comparisons of an exchange group) never reuse a pad. Cost: n OTs
//! once, then `n · N · width` bits, no OT per row.

use super::ring::{Ring, pack, packed_len, unpack};
use super::{ArithError, check_width};
use crate::block::Block;
use crate::channel::Channel;
use crate::circuit::Lanes;
use crate::gmw::{recv_payload, send_payload};
use crate::ot::{OtReceiverPool, OtSenderPool};
use crate::prg::AesPrg;

/// Row source for [`RowsSender::inner_products`].
pub trait Rows<R: Ring> {
    /// N, the number of rows.
    fn rows(&self) -> usize;
    /// n, the length of every row.
    fn cols(&self) -> usize;
    /// Element `col` of row `row`.
    fn get(&self, row: usize, col: usize) -> R;
}

/// A dense row-major matrix of ring elements.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Matrix<R> {
    data: Vec<R>,
    cols: usize,
}

impl<R: Ring> Matrix<R> {
    /// A matrix from row-major data; `data.len()` must be a multiple of
    /// `cols`.
    pub fn new(data: Vec<R>, cols: usize) -> Result<Self, ArithError> {
        if cols == 0 || !data.len().is_multiple_of(cols) {
            return Err(ArithError::Shape(format!(
                "{} elements do not form rows of {cols}",
                data.len()
            )));
        }
        Ok(Matrix { data, cols })
    }
}

impl<R: Ring> Rows<R> for Matrix<R> {
    fn rows(&self) -> usize {
        self.data.len() / self.cols
    }
    fn cols(&self) -> usize {
        self.cols
    }
    fn get(&self, row: usize, col: usize) -> R {
        self.data[row * self.cols + col]
    }
}

/// Rows of bits (e.g. Bloom filters), each as one [`Lanes`] of length n.
#[derive(Clone, Debug)]
pub struct BitRows<'a> {
    rows: &'a [Lanes],
    cols: usize,
}

impl<'a> BitRows<'a> {
    /// All rows must have the same length.
    pub fn new(rows: &'a [Lanes]) -> Result<Self, ArithError> {
        let cols = rows.first().map_or(0, Lanes::len);
        if rows.iter().any(|r| r.len() != cols) {
            return Err(ArithError::Shape("bit rows of different lengths".into()));
        }
        Ok(BitRows { rows, cols })
    }
}

impl<R: Ring> Rows<R> for BitRows<'_> {
    fn rows(&self) -> usize {
        self.rows.len()
    }
    fn cols(&self) -> usize {
        self.cols
    }
    fn get(&self, row: usize, col: usize) -> R {
        R::ONE.select(self.rows[row].get(col).unwrap_or(false))
    }
}

/// Draws `n` pads of `width` bits from a PRG (`ceil(width/8)` bytes each,
/// so narrow rings cost proportionally less AES).
fn draw<R: Ring>(prg: &mut AesPrg, n: usize, width: u32, buf: &mut Vec<u8>) -> Vec<R> {
    let per = (width as usize).div_ceil(8);
    buf.resize(n * per, 0);
    prg.fill_bytes_blocks(buf);
    buf.chunks_exact(per)
        .map(|c| R::from_le_slice(c).reduce(width))
        .collect()
}

fn prg_of(key: Block) -> AesPrg {
    AesPrg::new(key)
}

/// Party A: holds the fixed bit vector x; OT receiver.
pub struct FixedBitsReceiver {
    x: Lanes,
    pads: Vec<AesPrg>,
}

impl FixedBitsReceiver {
    /// n OTs from `pool` fixed to the choices `x` (one message to B).
    pub async fn setup<C: Channel>(
        ch: &mut C,
        pool: &mut OtReceiverPool,
        x: &Lanes,
    ) -> Result<Self, ArithError> {
        let n = x.len();
        pool.reserve(ch, n).await?;
        let batch = pool.take(n)?.fix_choices(ch, x.words()).await?;
        let pads = batch.random_ot().into_iter().map(prg_of).collect();
        Ok(FixedBitsReceiver { x: x.clone(), pads })
    }

    /// Length n of x.
    pub fn len(&self) -> usize {
        self.x.len()
    }

    /// True for an empty x.
    pub fn is_empty(&self) -> bool {
        self.x.is_empty()
    }

    /// A's shares of `<x, y_j>` mod `2^width` for the `rows` rows B
    /// supplies in its matching call.
    pub async fn inner_products<R: Ring, C: Channel>(
        &mut self,
        ch: &mut C,
        rows: usize,
        width: u32,
    ) -> Result<Vec<R>, ArithError> {
        check_width::<R>(width)?;
        let n = self.x.len();
        let row_bytes = packed_len::<R>(rows, width);
        let payload = recv_payload(ch, n * row_bytes, "inner-product corrections").await?;
        let mut acc = vec![R::ZERO; rows];
        let mut buf = Vec::new();
        for (i, prg) in self.pads.iter_mut().enumerate() {
            let p: Vec<R> = draw(prg, rows, width, &mut buf);
            let xi = self.x.get(i).unwrap_or(false);
            let tau: Vec<R> = unpack(&payload[i * row_bytes..(i + 1) * row_bytes], rows, width);
            for ((a, p), t) in acc.iter_mut().zip(p).zip(tau) {
                *a = a.add(p.sub(t.select(xi)));
            }
        }
        Ok(acc.into_iter().map(|v| v.reduce(width)).collect())
    }
}

/// Party B: holds the rows; OT sender.
pub struct RowsSender {
    pads: Vec<[AesPrg; 2]>,
}

impl RowsSender {
    /// n OTs from `pool`, relabelled to A's choices.
    pub async fn setup<C: Channel>(
        ch: &mut C,
        pool: &mut OtSenderPool,
        n: usize,
    ) -> Result<Self, ArithError> {
        pool.reserve(ch, n).await?;
        let batch = pool.take(n)?.fix_choices(ch).await?;
        let pads = batch
            .random_ot()
            .into_iter()
            .map(|[k0, k1]| [prg_of(k0), prg_of(k1)])
            .collect();
        Ok(RowsSender { pads })
    }

    /// Length n of A's vector.
    pub fn len(&self) -> usize {
        self.pads.len()
    }

    /// True for an empty vector.
    pub fn is_empty(&self) -> bool {
        self.pads.is_empty()
    }

    /// B's shares of `<x, y_j>` mod `2^width`, one per row of `y`.
    pub async fn inner_products<R: Ring, C: Channel, M: Rows<R>>(
        &mut self,
        ch: &mut C,
        y: &M,
        width: u32,
    ) -> Result<Vec<R>, ArithError> {
        check_width::<R>(width)?;
        let n = self.pads.len();
        if y.cols() != n && y.rows() > 0 {
            return Err(ArithError::Shape(format!(
                "rows have {} columns, the vector has {n}",
                y.cols()
            )));
        }
        let rows = y.rows();
        let mut acc = vec![R::ZERO; rows];
        let mut payload = Vec::with_capacity(n * packed_len::<R>(rows, width));
        let mut tau = Vec::with_capacity(rows);
        let (mut b0, mut b1) = (Vec::new(), Vec::new());
        for (i, [g0, g1]) in self.pads.iter_mut().enumerate() {
            let p0: Vec<R> = draw(g0, rows, width, &mut b0);
            let p1: Vec<R> = draw(g1, rows, width, &mut b1);
            tau.clear();
            for (j, (a, (p0, p1))) in acc.iter_mut().zip(p0.into_iter().zip(p1)).enumerate() {
                *a = a.sub(p0);
                tau.push(p1.sub(p0).sub(y.get(j, i)));
            }
            payload.extend(pack(&tau, width));
        }
        send_payload(ch, payload).await?;
        Ok(acc.into_iter().map(|v| v.reduce(width)).collect())
    }
}
