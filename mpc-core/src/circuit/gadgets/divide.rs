//! Restoring division.
//!
//! Quotient bits are produced from the most significant down. With the
//! remainder `r < y` kept in `m = width(y)` bits, each step forms
//! `t = 2r + next dividend bit` (m + 1 bits), subtracts `y` (m + 1 ANDs for
//! the borrow chain with a ripple adder), takes the quotient bit as "no
//! borrow" and keeps either `t − y` or `t` (m ANDs of multiplexing): about
//! `2m + 1` ANDs per quotient bit. Early steps, where the remainder is known
//! to be narrower than `m`, are cheaper because known-zero bits cost
//! nothing.
//!
//! Division by zero is not an error inside a circuit (the divisor is
//! secret): every step then succeeds and the quotient is all ones
//! (`2^quotient_bits − 1`). Callers that must treat `y = 0` specially test
//! for it separately.

use super::adder::{AdderKind, add_sparse, sub_core};
use super::{Sparse, lanes_of};
use crate::circuit::{Builder, CResult, CircuitError, Word, same_lanes};

/// The low `quotient_bits` bits of `floor(dividend / divisor)`.
///
/// Precondition (not checked, the values are secret): the full quotient is
/// below `2^quotient_bits`, equivalently `dividend >> quotient_bits <
/// divisor`. Pass `quotient_bits = width(dividend)` for the exact quotient
/// of any dividend.
pub fn divide<B: Builder>(
    b: &mut B,
    kind: AdderKind,
    dividend: &Word<B::Wire>,
    divisor: &Word<B::Wire>,
    quotient_bits: usize,
) -> CResult<Word<B::Wire>> {
    let d: Vec<Sparse<B::Wire>> = dividend.bits().iter().cloned().map(Some).collect();
    divide_sparse(b, kind, &d, divisor, quotient_bits)
}

/// `floor(x · 2^precision / y)` (fixed-point quotient), low `quotient_bits`
/// bits. If `x <= y`, `quotient_bits = precision + 1` suffices; the exact
/// quotient for any `x` needs `width(x) + precision`.
pub fn divide_fixed<B: Builder>(
    b: &mut B,
    kind: AdderKind,
    x: &Word<B::Wire>,
    y: &Word<B::Wire>,
    precision: usize,
    quotient_bits: usize,
) -> CResult<Word<B::Wire>> {
    // The shifted-in low bits are known zeros: free in every backend.
    let mut d: Vec<Sparse<B::Wire>> = vec![None; precision];
    d.extend(x.bits().iter().cloned().map(Some));
    divide_sparse(b, kind, &d, y, quotient_bits)
}

fn divide_sparse<B: Builder>(
    b: &mut B,
    kind: AdderKind,
    dividend: &[Sparse<B::Wire>],
    divisor: &Word<B::Wire>,
    quotient_bits: usize,
) -> CResult<Word<B::Wire>> {
    let lanes = lanes_of(b, divisor, "divide")?;
    for w in dividend.iter().flatten() {
        same_lanes(lanes, b.lanes(w))?;
    }
    if quotient_bits == 0 || quotient_bits > dividend.len() {
        return Err(CircuitError::Parameter {
            op: "divide",
            detail: format!(
                "quotient_bits must be in 1..={} (the dividend width), got {quotient_bits}",
                dividend.len()
            ),
        });
    }
    let m = divisor.width();
    let y: Vec<Sparse<B::Wire>> = divisor.bits().iter().cloned().map(Some).collect();
    // By the precondition the bits above the computed quotient bits form a
    // remainder below y, so they fit in m bits.
    let mut r: Vec<Sparse<B::Wire>> = dividend[quotient_bits..].to_vec();
    r.resize(m, None);
    if dividend.len() - quotient_bits > m {
        // Bits above m are zero by the precondition; dropping them keeps
        // the remainder m bits wide.
        r.truncate(m);
    }
    // Bits of r that may be non-zero: r only grows by one bit per step.
    let mut live = r.iter().rposition(Option::is_some).map_or(0, |p| p + 1);
    let mut q = Vec::with_capacity(quotient_bits);
    for i in (0..quotient_bits).rev() {
        // t = 2r + dividend bit i, m + 1 bits.
        let mut t = Vec::with_capacity(m + 1);
        t.push(dividend[i].clone());
        t.extend(r.iter().cloned());
        let (diff, no_borrow) = sub_core(b, kind, &t, &y, true, lanes)?;
        let qi = match no_borrow {
            Some(w) => w,
            None => b.splat(false, lanes)?,
        };
        // New remainder: low m bits of (qi ? t - y : t); it is at most t,
        // so bits at or above t's live width stay known zeros.
        live = (live + 1).min(m);
        let mut next = vec![None; m];
        for (j, slot) in next.iter_mut().enumerate().take(live) {
            *slot = Some(match &t[j] {
                Some(tj) => b.mux(&qi, &diff[j], tj)?,
                None => b.and(&qi, &diff[j])?,
            });
        }
        r = next;
        q.push(qi);
    }
    q.reverse();
    Ok(Word::from_bits(q))
}

/// `floor(dividend / divisor)`, its low `quotient_bits` bits, by
/// non-restoring division.
///
/// Restoring division spends per quotient bit one subtraction *and* a
/// multiplexer to restore the remainder (about `2m` AND gates for an `m`-bit
/// divisor). Non-restoring division keeps the remainder `R ∈ [−y, y)` signed
/// and adds or subtracts `y` depending on the previous quotient bit, which
/// is one `(m+1)`-bit addition (`m` AND gates with a ripple adder) and no
/// multiplexer: `y ⊕ ctrl` is free. With `t = 2R + d_i`, both branches give
/// `R' = t_restoring − y`, so `q_i = [R' ≥ 0]` is exactly the restoring
/// quotient bit and no final correction is needed for the quotient.
///
/// Precondition (values are secret, so not checked): `dividend >>
/// quotient_bits < divisor`. A zero divisor gives an all-ones quotient;
/// callers that can see one replace it first.
pub fn divide_nonrestoring<B: Builder>(
    b: &mut B,
    kind: AdderKind,
    dividend: &[Sparse<B::Wire>],
    divisor: &Word<B::Wire>,
    quotient_bits: usize,
) -> CResult<Word<B::Wire>> {
    let m = divisor.width();
    let lanes = divisor.lanes(b).ok_or(CircuitError::Empty {
        op: "divide_nonrestoring",
        what: "divisor bit",
    })?;
    for w in dividend.iter().flatten() {
        same_lanes(lanes, b.lanes(w))?;
    }
    if quotient_bits == 0 || quotient_bits > dividend.len() {
        return Err(CircuitError::Parameter {
            op: "divide_nonrestoring",
            detail: format!(
                "quotient_bits must be in 1..={} (the dividend width), got {quotient_bits}",
                dividend.len()
            ),
        });
    }
    // Initial remainder: the dividend above the quotient bits, below the
    // divisor by the precondition, so m bits (higher bits are zero).
    let mut r: Vec<Sparse<B::Wire>> = dividend[quotient_bits..].iter().take(m).cloned().collect();
    r.resize(m + 1, None);
    let one = b.splat(true, lanes)?;
    // `ctrl` = previous quotient bit (1: subtract y, 0: add y); the
    // initial remainder is non-negative, so the first step subtracts.
    let mut ctrl: Option<B::Wire> = None;
    let mut q = Vec::with_capacity(quotient_bits);
    for i in (0..quotient_bits).rev() {
        let mut t = Vec::with_capacity(m + 1);
        t.push(dividend[i].clone());
        t.extend(r[..m].iter().cloned());
        // Second operand: y ⊕ ctrl on m + 1 bits (y's bit m is zero), and
        // carry-in ctrl: `t − y` when ctrl = 1, `t + y` when ctrl = 0.
        let mut y = Vec::with_capacity(m + 1);
        let cin = match &ctrl {
            None => {
                for bit in divisor.bits() {
                    y.push(Some(b.not(bit)?));
                }
                y.push(Some(one.clone()));
                one.clone()
            }
            Some(c) => {
                for bit in divisor.bits() {
                    y.push(Some(b.xor(bit, c)?));
                }
                y.push(Some(c.clone()));
                c.clone()
            }
        };
        let (sum, _) = add_sparse(b, kind, &t, &y, Some(cin), false, lanes)?;
        let sign = sum.get(m).ok_or(CircuitError::Empty {
            op: "divide_nonrestoring",
            what: "sum bit",
        })?;
        let qi = b.not(sign)?;
        r = sum.into_iter().map(Some).collect();
        ctrl = Some(qi.clone());
        q.push(qi);
    }
    q.reverse();
    Ok(Word::from_bits(q))
}
