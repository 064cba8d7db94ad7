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
//! once, then `ceil(n · N · width / 8)` bytes in one message (all τ packed
//! back to back, bit `i` major), no OT per row.
//!
//! The work per batch is I/O-free ([`RowsSender::corrections`],
//! [`FixedBitsReceiver::apply`]) and runs a bit of x at a time over all
//! rows: pads are drawn for a whole batch per stream, and row sources
//! supply whole columns ([`Rows::sub_column`]), so there is no per-element
//! call into the PRG or the source. The OT keys can come from an
//! [`OtReceiverPool`]/[`OtSenderPool`] (`setup`) or from any other random-OT
//! source (`from_keys`, e.g. EpiLink's one batch for all fields of a query).

use super::ring::{Ring, pack, packed_len, unpack};
use super::{ArithError, check_width};
use crate::Lanes;
use crate::block::Block;
use crate::channel::Channel;
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
    /// `out[j] -= y_j[col]` for every row j (`out.len() == rows()`): the
    /// sender's inner loop. The default goes through [`Rows::get`];
    /// sources with a faster column walk override it.
    fn sub_column(&self, col: usize, out: &mut [R]) {
        for (j, o) in out.iter_mut().enumerate() {
            *o = o.sub(self.get(j, col));
        }
    }
}

/// A dense row-major matrix of ring elements.
#[derive(Clone, PartialEq, Eq)]
pub struct Matrix<R> {
    data: Vec<R>,
    cols: usize,
}

/// Redacted: the elements are shares or private values.
impl<R> std::fmt::Debug for Matrix<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Matrix({} × {}, redacted)",
            self.data.len() / self.cols.max(1),
            self.cols
        )
    }
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
    fn sub_column(&self, col: usize, out: &mut [R]) {
        for (o, row) in out.iter_mut().zip(self.data.chunks_exact(self.cols)) {
            *o = o.sub(row[col]);
        }
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

/// Bit rows stored transposed: `columns[i]` holds bit i of every row (e.g.
/// a chunk of database filters, transposed once). The sender walks only
/// the set bits of each column.
#[derive(Clone, Debug)]
pub struct BitColumns<'a> {
    columns: &'a [Lanes],
    rows: usize,
}

impl<'a> BitColumns<'a> {
    /// Every column must have length `rows`.
    pub fn new(columns: &'a [Lanes], rows: usize) -> Result<Self, ArithError> {
        if let Some(c) = columns.iter().find(|c| c.len() != rows) {
            return Err(ArithError::Shape(format!(
                "a bit column of length {}, expected {rows}",
                c.len()
            )));
        }
        Ok(BitColumns { columns, rows })
    }
}

impl<R: Ring> Rows<R> for BitColumns<'_> {
    fn rows(&self) -> usize {
        self.rows
    }
    fn cols(&self) -> usize {
        self.columns.len()
    }
    fn get(&self, row: usize, col: usize) -> R {
        R::ONE.select(self.columns[col].get(row).unwrap_or(false))
    }
    fn sub_column(&self, col: usize, out: &mut [R]) {
        for (w, &word) in self.columns[col].words().iter().enumerate() {
            let mut rest = word;
            while rest != 0 {
                let j = w * 64 + rest.trailing_zeros() as usize;
                if let Some(o) = out.get_mut(j) {
                    *o = o.sub(R::ONE);
                }
                rest &= rest - 1;
            }
        }
    }
}

/// The next `n` pads of `width` bits from a stream into `out`:
/// `ceil(width/8)` bytes each, so narrow rings cost proportionally less AES
/// (whole AES blocks are consumed per call, identically on both sides).
fn draw<R: Ring>(prg: &mut AesPrg, n: usize, width: u32, buf: &mut Vec<u8>, out: &mut Vec<R>) {
    let per = (width as usize).div_ceil(8);
    buf.resize(n * per, 0);
    prg.fill_bytes_blocks(buf);
    out.clear();
    match per {
        1 => out.extend(
            buf.iter()
                .map(|&b| R::from_u128(u128::from(b)).reduce(width)),
        ),
        2 => out.extend(
            buf.chunks_exact(2)
                .map(|c| R::from_u128(u128::from(u16::from_le_bytes([c[0], c[1]]))).reduce(width)),
        ),
        _ => out.extend(
            buf.chunks_exact(per)
                .map(|c| R::from_le_slice(c).reduce(width)),
        ),
    }
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
        let keys = pool.take(n)?.fix_choices(ch, x.words()).await?.random_ot();
        Self::from_keys(x.clone(), keys)
    }

    /// From random-OT keys already fixed to the choices `x` (`keys[i]` is
    /// `k_i^{x_i}`), e.g. one OT batch shared by several vectors.
    pub fn from_keys(x: Lanes, keys: Vec<Block>) -> Result<Self, ArithError> {
        if keys.len() != x.len() {
            return Err(ArithError::Shape(format!(
                "{} OT keys for a vector of {} bits",
                keys.len(),
                x.len()
            )));
        }
        let pads = keys.into_iter().map(AesPrg::new).collect();
        Ok(FixedBitsReceiver { x, pads })
    }

    /// Length n of x.
    pub fn len(&self) -> usize {
        self.x.len()
    }

    /// True for an empty x.
    pub fn is_empty(&self) -> bool {
        self.x.is_empty()
    }

    /// Bytes of B's corrections for `rows` rows of `width` bits.
    pub fn corrections_len<R: Ring>(&self, rows: usize, width: u32) -> usize {
        packed_len::<R>(self.x.len() * rows, width)
    }

    /// A's shares of `<x, y_j>` mod `2^width` for `rows` rows, from B's
    /// corrections (I/O-free; advances the pad streams).
    pub fn apply<R: Ring>(
        &mut self,
        corrections: &[u8],
        rows: usize,
        width: u32,
    ) -> Result<Vec<R>, ArithError> {
        check_width::<R>(width)?;
        let expected = self.corrections_len::<R>(rows, width);
        if corrections.len() != expected {
            return Err(ArithError::Shape(format!(
                "{} bytes of corrections, expected {expected}",
                corrections.len()
            )));
        }
        let tau: Vec<R> = unpack(corrections, self.x.len() * rows, width);
        let mut acc = vec![R::ZERO; rows];
        let (mut buf, mut p) = (Vec::new(), Vec::<R>::new());
        for (i, prg) in self.pads.iter_mut().enumerate() {
            draw(prg, rows, width, &mut buf, &mut p);
            if self.x.get(i).unwrap_or(false) {
                let t = &tau[i * rows..(i + 1) * rows];
                for ((a, p), t) in acc.iter_mut().zip(&p).zip(t) {
                    *a = a.add(p.sub(*t));
                }
            } else {
                for (a, p) in acc.iter_mut().zip(&p) {
                    *a = a.add(*p);
                }
            }
        }
        Ok(acc.into_iter().map(|v| v.reduce(width)).collect())
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
        let len = self.corrections_len::<R>(rows, width);
        let payload = recv_payload(ch, len, "inner-product corrections").await?;
        self.apply(&payload, rows, width)
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
        let keys = pool.take(n)?.fix_choices(ch).await?.random_ot();
        Ok(Self::from_keys(keys))
    }

    /// From random-OT key pairs already relabelled to A's choices
    /// (`keys[i] = [k_i^0, k_i^1]`).
    pub fn from_keys(keys: Vec<[Block; 2]>) -> Self {
        let pads = keys
            .into_iter()
            .map(|[k0, k1]| [AesPrg::new(k0), AesPrg::new(k1)])
            .collect();
        RowsSender { pads }
    }

    /// Length n of A's vector.
    pub fn len(&self) -> usize {
        self.pads.len()
    }

    /// True for an empty vector.
    pub fn is_empty(&self) -> bool {
        self.pads.is_empty()
    }

    /// The corrections for A (packed, `width` bits each) and B's shares of
    /// `<x, y_j>` mod `2^width`, one per row of `y` (I/O-free; advances the
    /// pad streams).
    pub fn corrections<R: Ring, M: Rows<R>>(
        &mut self,
        y: &M,
        width: u32,
    ) -> Result<(Vec<u8>, Vec<R>), ArithError> {
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
        let mut tau: Vec<R> = Vec::with_capacity(n * rows);
        let (mut buf, mut p0, mut p1) = (Vec::new(), Vec::<R>::new(), Vec::<R>::new());
        for (i, [g0, g1]) in self.pads.iter_mut().enumerate() {
            draw(g0, rows, width, &mut buf, &mut p0);
            draw(g1, rows, width, &mut buf, &mut p1);
            let start = tau.len();
            for ((a, p0), p1) in acc.iter_mut().zip(&p0).zip(&p1) {
                *a = a.sub(*p0);
                tau.push(p1.sub(*p0));
            }
            y.sub_column(i, &mut tau[start..]);
        }
        let shares = acc.into_iter().map(|v| v.reduce(width)).collect();
        Ok((pack(&tau, width), shares))
    }

    /// B's shares of `<x, y_j>` mod `2^width`, one per row of `y`.
    pub async fn inner_products<R: Ring, C: Channel, M: Rows<R>>(
        &mut self,
        ch: &mut C,
        y: &M,
        width: u32,
    ) -> Result<Vec<R>, ArithError> {
        let (payload, shares) = self.corrections(y, width)?;
        send_payload(ch, payload).await?;
        Ok(shares)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bits(v: &[bool]) -> Lanes {
        let mut l = Lanes::zeros(v.len());
        for (i, &b) in v.iter().enumerate() {
            l.set(i, b);
        }
        l
    }

    /// The fast column walks agree with the element-wise definition.
    #[test]
    fn column_walks_agree_with_get() {
        let (rows, cols) = (131, 7);
        let bit = |j: usize, i: usize| (j * 31 + i * 17) % 5 < 2;
        let by_row: Vec<Lanes> = (0..rows)
            .map(|j| bits(&(0..cols).map(|i| bit(j, i)).collect::<Vec<_>>()))
            .collect();
        let by_col: Vec<Lanes> = (0..cols)
            .map(|i| bits(&(0..rows).map(|j| bit(j, i)).collect::<Vec<_>>()))
            .collect();
        let dense: Vec<u64> = (0..rows * cols).map(|k| (k as u64) << 40 | 7).collect();
        let r = BitRows::new(&by_row).expect("rows");
        let c = BitColumns::new(&by_col, rows).expect("columns");
        let m = Matrix::new(dense.clone(), cols).expect("matrix");
        for i in 0..cols {
            let start: Vec<u64> = (0..rows as u64).map(|j| j * 3).collect();
            let (mut a, mut b, mut d) = (start.clone(), start.clone(), start.clone());
            Rows::<u64>::sub_column(&r, i, &mut a);
            Rows::<u64>::sub_column(&c, i, &mut b);
            m.sub_column(i, &mut d);
            for j in 0..rows {
                let y = u64::from(bit(j, i));
                assert_eq!(a[j], start[j].wrapping_sub(y), "rows ({j}, {i})");
                assert_eq!(b[j], start[j].wrapping_sub(y), "columns ({j}, {i})");
                assert_eq!(d[j], start[j].wrapping_sub(dense[j * cols + i]));
                assert_eq!(Rows::<u64>::get(&c, j, i), y);
            }
        }
    }

    #[test]
    fn bad_shapes_are_errors() {
        let cols = [Lanes::zeros(4), Lanes::zeros(5)];
        assert!(matches!(
            BitColumns::new(&cols, 4),
            Err(ArithError::Shape(_))
        ));
        let keys = vec![Block::ZERO; 2];
        assert!(matches!(
            FixedBitsReceiver::from_keys(Lanes::zeros(3), keys),
            Err(ArithError::Shape(_))
        ));
        // A correction message of the wrong size is an error, not a panic.
        let mut r =
            FixedBitsReceiver::from_keys(Lanes::zeros(2), vec![Block::ZERO; 2]).expect("receiver");
        assert_eq!(r.corrections_len::<u32>(3, 9), 7);
        assert!(matches!(
            r.apply::<u32>(&[0u8; 6], 3, 9),
            Err(ArithError::Shape(_))
        ));
        assert!(matches!(
            r.apply::<u32>(&[0u8; 7], 3, 33),
            Err(ArithError::Width { .. })
        ));
    }
}
