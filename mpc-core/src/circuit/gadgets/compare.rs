//! Comparison, equality and multiplexers.
//!
//! | gadget | ANDs (k bits, shared inputs) | AND-depth |
//! |---|---|---|
//! | [`lt`]/[`gt`]/[`le`]/[`ge`] | k + (k − 1) + (k − 1 − ⌈log2 k⌉) (≤ 3k) | ⌈log2 k⌉ + 1 |
//! | [`eq`]/[`ne`] | k − 1 | ⌈log2 k⌉ |
//! | [`mux_word`] | k | 1 |
//!
//! The comparator is a balanced tree over bit positions: a leaf is
//! `(lt_i, eq_i) = (!x_i & y_i, !(x_i ^ y_i))`, and a node combines a high
//! and a low group as `lt = lt_hi ^ (eq_hi & lt_lo)`, `eq = eq_hi & eq_lo`
//! (the two terms of `lt` are exclusive, so XOR is OR). The group holding
//! bit 0 never needs its `eq`, which saves one AND per tree level.

use super::{lanes_of, sparse};
use crate::circuit::{Builder, CResult, CircuitError, Word, same_lanes};

fn operands<B: Builder>(
    b: &B,
    x: &Word<B::Wire>,
    y: &Word<B::Wire>,
    op: &'static str,
) -> CResult<(usize, usize)> {
    let lanes = same_lanes(lanes_of(b, x, op)?, lanes_of(b, y, op)?)?;
    Ok((x.width().max(y.width()), lanes))
}

/// `x < y` (unsigned), log-depth.
pub fn lt<B: Builder>(b: &mut B, x: &Word<B::Wire>, y: &Word<B::Wire>) -> CResult<B::Wire> {
    let (k, lanes) = operands(b, x, y, "lt")?;
    let (xs, ys) = (sparse(x, k), sparse(y, k));
    // Leaves: (lt, eq) per bit, eq as Option (None = not needed / known).
    struct Node<W> {
        lt: Option<W>,
        eq: W,
    }
    let mut nodes = Vec::with_capacity(k);
    for i in 0..k {
        let (lt_i, eq_i) = match (&xs[i], &ys[i]) {
            (Some(xi), Some(yi)) => {
                let nx = b.not(xi)?;
                let lt_i = b.and(&nx, yi)?;
                let d = b.xor(xi, yi)?;
                (Some(lt_i), b.not(&d)?)
            }
            (None, Some(yi)) => (Some(yi.clone()), b.not(yi)?),
            (Some(xi), None) => (None, b.not(xi)?),
            (None, None) => (None, b.splat(true, lanes)?),
        };
        nodes.push(Node { lt: lt_i, eq: eq_i });
    }
    // Combine adjacent pairs (low at even index) until one node is left.
    while nodes.len() > 1 {
        let mut next = Vec::with_capacity(nodes.len().div_ceil(2));
        let mut it = nodes.into_iter();
        let mut first = true;
        while let Some(lo) = it.next() {
            match it.next() {
                Some(hi) => {
                    let t = match &lo.lt {
                        Some(l) => Some(b.and(&hi.eq, l)?),
                        None => None,
                    };
                    let lt = match (hi.lt, t) {
                        (Some(h), Some(t)) => Some(b.xor(&h, &t)?),
                        (h, t) => h.or(t),
                    };
                    // The group containing bit 0 is always a low child
                    // later on, so its eq is never read.
                    let eq = if first { hi.eq } else { b.and(&hi.eq, &lo.eq)? };
                    next.push(Node { lt, eq });
                }
                None => next.push(lo),
            }
            first = false;
        }
        nodes = next;
    }
    match nodes.pop().and_then(|n| n.lt) {
        Some(w) => Ok(w),
        // x, y both known zero or y known zero: never less.
        None if k > 0 => b.splat(false, lanes),
        None => Err(CircuitError::Empty {
            op: "lt",
            what: "bit",
        }),
    }
}

/// `x > y` (unsigned).
pub fn gt<B: Builder>(b: &mut B, x: &Word<B::Wire>, y: &Word<B::Wire>) -> CResult<B::Wire> {
    lt(b, y, x)
}

/// `x >= y` (unsigned).
pub fn ge<B: Builder>(b: &mut B, x: &Word<B::Wire>, y: &Word<B::Wire>) -> CResult<B::Wire> {
    let l = lt(b, x, y)?;
    b.not(&l)
}

/// `x <= y` (unsigned).
pub fn le<B: Builder>(b: &mut B, x: &Word<B::Wire>, y: &Word<B::Wire>) -> CResult<B::Wire> {
    let g = lt(b, y, x)?;
    b.not(&g)
}

/// `x == y`: a balanced AND tree over the bitwise equalities.
pub fn eq<B: Builder>(b: &mut B, x: &Word<B::Wire>, y: &Word<B::Wire>) -> CResult<B::Wire> {
    let (k, lanes) = operands(b, x, y, "eq")?;
    let (xs, ys) = (sparse(x, k), sparse(y, k));
    let mut level = Vec::with_capacity(k);
    for i in 0..k {
        let d = match (&xs[i], &ys[i]) {
            (Some(u), Some(v)) => b.xor(u, v)?,
            (Some(v), None) | (None, Some(v)) => v.clone(),
            (None, None) => continue,
        };
        level.push(b.not(&d)?);
    }
    match and_all(b, &level)? {
        Some(w) => Ok(w),
        None => b.splat(true, lanes),
    }
}

/// AND of all `bits` as a balanced tree (depth ⌈log2 n⌉); `None` for none.
pub fn and_all<B: Builder>(b: &mut B, bits: &[B::Wire]) -> CResult<Option<B::Wire>> {
    let mut level: Vec<B::Wire> = bits.to_vec();
    while level.len() > 1 {
        let mut next = Vec::with_capacity(level.len().div_ceil(2));
        for pair in level.chunks(2) {
            match pair {
                [u, v] => next.push(b.and(u, v)?),
                [u] => next.push(u.clone()),
                _ => {}
            }
        }
        level = next;
    }
    Ok(level.pop())
}

/// `x != y`.
pub fn ne<B: Builder>(b: &mut B, x: &Word<B::Wire>, y: &Word<B::Wire>) -> CResult<B::Wire> {
    let e = eq(b, x, y)?;
    b.not(&e)
}

/// `if s { t } else { f }` bitwise (words of equal width; k ANDs).
pub fn mux_word<B: Builder>(
    b: &mut B,
    s: &B::Wire,
    t: &Word<B::Wire>,
    f: &Word<B::Wire>,
) -> CResult<Word<B::Wire>> {
    if t.width() != f.width() {
        return Err(CircuitError::WidthMismatch {
            op: "mux_word",
            left: t.width(),
            right: f.width(),
        });
    }
    let bits = t
        .bits()
        .iter()
        .zip(f.bits())
        .map(|(tb, fb)| b.mux(s, tb, fb))
        .collect::<CResult<_>>()?;
    Ok(Word::from_bits(bits))
}
