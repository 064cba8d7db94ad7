//! Multiplication by shift-and-add.
//!
//! The shifted partial products `x · y_j · 2^j` are summed column by column
//! with a Dadda carry-save tree of full and half adders (one AND each, depth
//! one per stage, about log_{3/2} k stages) down to two rows, then one carry-propagate
//! adder of the caller's [`AdderKind`]. For a k×k product truncated to
//! `width` bits that is the `Σ min(k, width − j)` partial-product ANDs plus
//! roughly as many full-adder ANDs, at depth O(log k) + the final adder.

use super::adder::{AdderKind, add_sparse};
use super::{Sparse, full_adder, lanes_of};
use crate::circuit::{Builder, CResult, CircuitError, Word, same_lanes};

/// Sums bit columns (column `c` has weight 2^c) into a `width`-bit word:
/// Dadda reduction to height two, then one adder.
///
/// Dadda's schedule bounds every column of stage `j` by `d_j` (2, 3, 4, 6,
/// 9, 13, …, each 3/2 of the previous) counting the carries that arrive from
/// the column below in the same stage, so a carry never has to ripple
/// through later stages and the depth is the number of targets below the
/// tallest column (O(log k)), plus the final adder.
pub(crate) fn sum_columns<B: Builder>(
    b: &mut B,
    kind: AdderKind,
    cols: Vec<Vec<B::Wire>>,
    lanes: usize,
) -> CResult<Word<B::Wire>> {
    let cols = dadda(b, cols)?;
    let row =
        |i: usize| -> Vec<Sparse<B::Wire>> { cols.iter().map(|c| c.get(i).cloned()).collect() };
    let (x, y) = (row(0), row(1));
    let (sum, _) = add_sparse(b, kind, &x, &y, None, false, lanes)?;
    Ok(Word::from_bits(sum))
}

/// Reduces every column to at most two bits (carries out of the top
/// column are dropped: the sum is taken mod 2^width).
fn dadda<B: Builder>(b: &mut B, mut cols: Vec<Vec<B::Wire>>) -> CResult<Vec<Vec<B::Wire>>> {
    let width = cols.len();
    let tallest = cols.iter().map(Vec::len).max().unwrap_or(0);
    let mut targets = vec![2usize];
    while let Some(&d) = targets.last() {
        if d >= tallest {
            break;
        }
        targets.push(d * 3 / 2);
    }
    targets.pop();
    for &d in targets.iter().rev() {
        let mut next: Vec<Vec<B::Wire>> = vec![Vec::new(); width];
        for c in 0..width {
            let bits = std::mem::take(&mut cols[c]);
            // Height of this column in the next stage: carries already
            // placed there by column c - 1, plus every bit not yet reduced.
            let mut h = next[c].len() + bits.len();
            let mut rest = bits.as_slice();
            while h > d && rest.len() >= 2 {
                if h - d >= 2 && rest.len() >= 3 {
                    let (s, carry) = full_adder(b, &rest[0], &rest[1], &rest[2])?;
                    next[c].push(s);
                    if c + 1 < width {
                        next[c + 1].push(carry);
                    }
                    rest = &rest[3..];
                    h -= 2;
                } else {
                    let s = b.xor(&rest[0], &rest[1])?;
                    let carry = b.and(&rest[0], &rest[1])?;
                    next[c].push(s);
                    if c + 1 < width {
                        next[c + 1].push(carry);
                    }
                    rest = &rest[2..];
                    h -= 1;
                }
            }
            next[c].extend(rest.iter().cloned());
        }
        cols = next;
    }
    Ok(cols)
}

/// `(x · y) mod 2^width`. Use `width = width(x) + width(y)` for the exact
/// product.
pub fn mul<B: Builder>(
    b: &mut B,
    kind: AdderKind,
    x: &Word<B::Wire>,
    y: &Word<B::Wire>,
    width: usize,
) -> CResult<Word<B::Wire>> {
    let lanes = same_lanes(lanes_of(b, x, "mul")?, lanes_of(b, y, "mul")?)?;
    if width == 0 {
        return Err(CircuitError::Empty {
            op: "mul",
            what: "output bit",
        });
    }
    let mut cols: Vec<Vec<B::Wire>> = vec![Vec::new(); width];
    for (j, yj) in y.bits().iter().enumerate() {
        for (i, xi) in x.bits().iter().enumerate() {
            if i + j < width {
                let p = b.and(xi, yj)?;
                cols[i + j].push(p);
            }
        }
    }
    sum_columns(b, kind, cols, lanes)
}

/// `(x · c) mod 2^width` for a public constant `c`: shifted copies of `x`
/// for every set bit of `c`, no partial-product ANDs.
pub fn mul_const<B: Builder>(
    b: &mut B,
    kind: AdderKind,
    x: &Word<B::Wire>,
    c: u128,
    width: usize,
) -> CResult<Word<B::Wire>> {
    let lanes = lanes_of(b, x, "mul_const")?;
    if width == 0 {
        return Err(CircuitError::Empty {
            op: "mul_const",
            what: "output bit",
        });
    }
    let mut cols: Vec<Vec<B::Wire>> = vec![Vec::new(); width];
    for j in (0..128).filter(|j| c >> j & 1 == 1) {
        for (i, xi) in x.bits().iter().enumerate() {
            if i + j < width {
                cols[i + j].push(xi.clone());
            }
        }
    }
    sum_columns(b, kind, cols, lanes)
}
