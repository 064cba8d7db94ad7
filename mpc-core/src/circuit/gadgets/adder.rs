//! Adders and subtractors.
//!
//! | adder | ANDs (k bits, mod 2^k) | with carry-out | AND-depth |
//! |---|---|---|---|
//! | [`AdderKind::Ripple`] | k − 1 | k | k − 1 (k with carry) |
//! | [`AdderKind::LogDepth`] (Sklansky prefix) | 19 / 57 / 151 / 373 for k = 8 / 16 / 32 / 64 | 25 / 65 / 161 / 385 | ⌈log2 k⌉ + 1 |
//!
//! Ripple is cheapest in ANDs, log-depth in rounds. Because the GMW engine
//! batches all records of a layer into one message, ANDs cost bandwidth and
//! OTs while depth costs round trips; gadgets that use an adder take the
//! kind as a parameter so the caller chooses.

use serde::{Deserialize, Serialize};

use super::{Sparse, and_opt, dense, lanes_of, sparse, xor_opt};
use crate::circuit::{Builder, CResult, Word};

/// Sum bits and the carry out (`None` = known zero or not computed).
pub(crate) type SumCarry<W> = (Vec<W>, Sparse<W>);

/// Which carry-propagation structure an adder uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum AdderKind {
    /// Carry ripples bit by bit: fewest ANDs, depth linear in the width.
    #[default]
    Ripple,
    /// Sklansky parallel prefix: depth logarithmic in the width.
    LogDepth,
}

/// Sum bits (`width` of them) and, if asked for, the carry out, of
/// `x + y + cin`.
pub(crate) fn add_sparse<B: Builder>(
    b: &mut B,
    kind: AdderKind,
    x: &[Sparse<B::Wire>],
    y: &[Sparse<B::Wire>],
    cin: Sparse<B::Wire>,
    carry_out: bool,
    lanes: usize,
) -> CResult<SumCarry<B::Wire>> {
    let width = x.len().max(y.len());
    let bit = |v: &[Sparse<B::Wire>], i: usize| v.get(i).cloned().flatten();
    // carries[i] = carry into bit i.
    let carries = match kind {
        AdderKind::Ripple => {
            let mut carries = Vec::with_capacity(width + 1);
            let mut c = cin;
            carries.push(c.clone());
            for i in 0..width {
                if i + 1 == width && !carry_out {
                    break;
                }
                let (xi, yi) = (bit(x, i), bit(y, i));
                c = match (&xi, &yi, &c) {
                    (_, _, None) => and_opt(b, &xi, &yi)?,
                    (None, _, _) => and_opt(b, &yi, &c)?,
                    (_, None, _) => and_opt(b, &xi, &c)?,
                    (Some(xv), Some(yv), Some(cv)) => {
                        let xc = b.xor(xv, cv)?;
                        let yc = b.xor(yv, cv)?;
                        let t = b.and(&xc, &yc)?;
                        Some(b.xor(cv, &t)?)
                    }
                };
                carries.push(c.clone());
            }
            carries
        }
        AdderKind::LogDepth => {
            let needed = if carry_out {
                width
            } else {
                width.saturating_sub(1)
            };
            let mut g = Vec::with_capacity(needed);
            let mut p = Vec::with_capacity(needed);
            for i in 0..needed {
                g.push(and_opt(b, &bit(x, i), &bit(y, i))?);
                p.push(xor_opt(b, &bit(x, i), &bit(y, i))?);
            }
            if needed > 0 {
                // Fold the carry-in into the generate bit of position 0.
                let pc = and_opt(b, &p[0], &cin)?;
                g[0] = xor_opt(b, &g[0], &pc)?;
            }
            prefix_carries(b, &mut g, &mut p)?;
            let mut carries = Vec::with_capacity(needed + 1);
            carries.push(cin);
            carries.extend(g);
            carries
        }
    };
    let mut sum = Vec::with_capacity(width);
    for (i, carry) in carries.iter().enumerate().take(width) {
        let p = xor_opt(b, &bit(x, i), &bit(y, i))?;
        let s = xor_opt(b, &p, carry)?;
        sum.push(dense(b, s, lanes)?);
    }
    let cout = if carry_out {
        carries.get(width).cloned().flatten()
    } else {
        None
    };
    Ok((sum, cout))
}

/// Sklansky prefix over (generate, propagate) pairs: afterwards `g[i]` is the
/// carry out of bit `i`. Group generate and propagate are mutually
/// exclusive, so `g_hi | (p_hi & g_lo)` is computed with an XOR.
fn prefix_carries<B: Builder>(
    b: &mut B,
    g: &mut [Sparse<B::Wire>],
    p: &mut [Sparse<B::Wire>],
) -> CResult<()> {
    let n = g.len();
    let mut span = 1;
    while span < n {
        for i in 0..n {
            if i & span == 0 {
                continue;
            }
            // The group ending at i currently covers [i & !(span-1) .. i];
            // combine it with the group ending just below it.
            let j = (i & !(span - 1)) - 1;
            let t = and_opt(b, &p[i], &g[j])?;
            g[i] = xor_opt(b, &g[i], &t)?;
            // A group reaching bit 0 has its final carry; its propagate is
            // never read again, so skip that AND.
            let start = i & !(2 * span - 1);
            if start > 0 {
                p[i] = and_opt(b, &p[i], &p[j])?;
            }
        }
        span *= 2;
    }
    Ok(())
}

fn checked_lanes<B: Builder>(
    b: &B,
    x: &Word<B::Wire>,
    y: &Word<B::Wire>,
    op: &'static str,
) -> CResult<usize> {
    let l = lanes_of(b, x, op)?;
    crate::circuit::same_lanes(l, lanes_of(b, y, op)?)
}

/// `(x + y) mod 2^k`, `k = max(width(x), width(y))` (the narrower operand
/// is zero-extended).
pub fn add<B: Builder>(
    b: &mut B,
    kind: AdderKind,
    x: &Word<B::Wire>,
    y: &Word<B::Wire>,
) -> CResult<Word<B::Wire>> {
    let lanes = checked_lanes(b, x, y, "add")?;
    let k = x.width().max(y.width());
    let (sum, _) = add_sparse(b, kind, &sparse(x, k), &sparse(y, k), None, false, lanes)?;
    Ok(Word::from_bits(sum))
}

/// `x + y` without overflow: `k + 1` bits.
pub fn add_with_carry<B: Builder>(
    b: &mut B,
    kind: AdderKind,
    x: &Word<B::Wire>,
    y: &Word<B::Wire>,
) -> CResult<Word<B::Wire>> {
    let lanes = checked_lanes(b, x, y, "add_with_carry")?;
    let k = x.width().max(y.width());
    let (mut sum, c) = add_sparse(b, kind, &sparse(x, k), &sparse(y, k), None, true, lanes)?;
    sum.push(dense(b, c, lanes)?);
    Ok(Word::from_bits(sum))
}

/// `x + !y + 1` on `k` bits: the difference and the carry out
/// (carry = 1 iff `x >= y`).
pub(crate) fn sub_core<B: Builder>(
    b: &mut B,
    kind: AdderKind,
    x: &[Sparse<B::Wire>],
    y: &[Sparse<B::Wire>],
    carry_out: bool,
    lanes: usize,
) -> CResult<SumCarry<B::Wire>> {
    let k = x.len().max(y.len());
    let mut ny = Vec::with_capacity(k);
    let mut one = None;
    for i in 0..k {
        ny.push(Some(match y.get(i).cloned().flatten() {
            Some(v) => b.not(&v)?,
            None => match &one {
                Some(o) => Clone::clone(o),
                None => {
                    let o = b.splat(true, lanes)?;
                    one = Some(o.clone());
                    o
                }
            },
        }));
    }
    let cin = b.splat(true, lanes)?;
    let mut xs = x.to_vec();
    xs.resize(k, None);
    add_sparse(b, kind, &xs, &ny, Some(cin), carry_out, lanes)
}

/// `(x - y) mod 2^k`.
pub fn sub<B: Builder>(
    b: &mut B,
    kind: AdderKind,
    x: &Word<B::Wire>,
    y: &Word<B::Wire>,
) -> CResult<Word<B::Wire>> {
    let lanes = checked_lanes(b, x, y, "sub")?;
    let k = x.width().max(y.width());
    let (d, _) = sub_core(b, kind, &sparse(x, k), &sparse(y, k), false, lanes)?;
    Ok(Word::from_bits(d))
}

/// `(x - y) mod 2^k` and the borrow bit (1 iff `x < y`).
pub fn sub_with_borrow<B: Builder>(
    b: &mut B,
    kind: AdderKind,
    x: &Word<B::Wire>,
    y: &Word<B::Wire>,
) -> CResult<(Word<B::Wire>, B::Wire)> {
    let lanes = checked_lanes(b, x, y, "sub_with_borrow")?;
    let k = x.width().max(y.width());
    let (d, c) = sub_core(b, kind, &sparse(x, k), &sparse(y, k), true, lanes)?;
    let c = dense(b, c, lanes)?;
    let borrow = b.not(&c)?;
    Ok((Word::from_bits(d), borrow))
}
