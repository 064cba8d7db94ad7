//! Argmax tournaments and fraction comparison.
//!
//! A tournament over N candidates runs in ⌈log2 N⌉ layers. Each layer pairs
//! neighbours (left = lower index, right = higher index) and keeps the right
//! one only if it is *strictly* better, so on ties the lower index wins: by
//! induction every subtree's winner is the lowest-indexed maximum of that
//! subtree. An odd candidate out moves up unchanged, to the end of the next
//! layer, which keeps neighbours in index order.
//!
//! Two shapes:
//! * [`argmax_by`]/[`argmax`]: the candidates are separate words (e.g. the 6
//!   permutations of an exchange group), every lane an independent
//!   tournament.
//! * [`argmax_lanes_by`]/[`argmax_lanes`]: the candidates are the lanes of
//!   one word (e.g. one score per database record); each layer gathers the
//!   even and odd lanes (free) and compares them in one SIMD step, so the
//!   whole argmax costs ⌈log2 N⌉ × (comparator depth + 1) rounds.
//!
//! A candidate is a list of words (e.g. `[numerator, denominator, index]`);
//! the caller's comparator decides "right strictly better than left" and the
//! selection multiplexes every word (1 AND per bit per pair).

use super::adder::AdderKind;
use super::compare::{gt, mux_word};
use super::lanes_of;
use super::multiply::mul;
use crate::circuit::word::{bits_for, concat_words, constant_splat, constant_word, gather_word};
use crate::circuit::{Builder, CResult, CircuitError, Word, same_lanes};

/// A tournament candidate: the words carried along (value, index, …).
pub type Candidate<W> = Vec<Word<W>>;

/// `(maximum, index of its first occurrence)`.
pub type MaxIndex<W> = (Word<W>, Word<W>);

fn select<B: Builder>(
    b: &mut B,
    right_wins: &B::Wire,
    left: &Candidate<B::Wire>,
    right: &Candidate<B::Wire>,
) -> CResult<Candidate<B::Wire>> {
    if left.len() != right.len() {
        return Err(CircuitError::WidthMismatch {
            op: "argmax",
            left: left.len(),
            right: right.len(),
        });
    }
    left.iter()
        .zip(right)
        .map(|(l, r)| mux_word(b, right_wins, r, l))
        .collect()
}

/// Tournament over separate candidates. `right_better(b, left, right)` must
/// return 1 where `right` is strictly better. Returns the winner.
pub fn argmax_by<B: Builder>(
    b: &mut B,
    candidates: Vec<Candidate<B::Wire>>,
    mut right_better: impl FnMut(&mut B, &Candidate<B::Wire>, &Candidate<B::Wire>) -> CResult<B::Wire>,
) -> CResult<Candidate<B::Wire>> {
    if candidates.is_empty() {
        return Err(CircuitError::Empty {
            op: "argmax",
            what: "candidate",
        });
    }
    let mut layer = candidates;
    while layer.len() > 1 {
        let mut next = Vec::with_capacity(layer.len().div_ceil(2));
        let mut it = layer.into_iter();
        while let Some(left) = it.next() {
            match it.next() {
                Some(right) => {
                    let s = right_better(b, &left, &right)?;
                    next.push(select(b, &s, &left, &right)?);
                }
                None => next.push(left),
            }
        }
        layer = next;
    }
    // Non-empty by the check above.
    layer.pop().ok_or(CircuitError::Empty {
        op: "argmax",
        what: "candidate",
    })
}

/// Maximum of `values` and the index of its first occurrence (width
/// `bits_for(N − 1)`), per lane. Returns `(max, index)`.
pub fn argmax<B: Builder>(b: &mut B, values: &[Word<B::Wire>]) -> CResult<MaxIndex<B::Wire>> {
    let first = values.first().ok_or(CircuitError::Empty {
        op: "argmax",
        what: "candidate",
    })?;
    let lanes = lanes_of(b, first, "argmax")?;
    let iw = bits_for(values.len() as u128 - 1);
    let mut cands = Vec::with_capacity(values.len());
    for (i, v) in values.iter().enumerate() {
        same_lanes(lanes, lanes_of(b, v, "argmax")?)?;
        let idx = constant_splat(b, i as u128, iw, lanes)?;
        cands.push(vec![v.clone(), idx]);
    }
    let mut win = argmax_by(b, cands, |b, l, r| gt(b, &r[0], &l[0]))?;
    let idx = win.pop().ok_or(CircuitError::Empty {
        op: "argmax",
        what: "candidate",
    })?;
    let max = win.pop().ok_or(CircuitError::Empty {
        op: "argmax",
        what: "candidate",
    })?;
    Ok((max, idx))
}

/// Tournament across the lanes of one candidate (lane i = candidate i).
/// Returns the single-lane winner.
pub fn argmax_lanes_by<B: Builder>(
    b: &mut B,
    candidate: Candidate<B::Wire>,
    mut right_better: impl FnMut(&mut B, &Candidate<B::Wire>, &Candidate<B::Wire>) -> CResult<B::Wire>,
) -> CResult<Candidate<B::Wire>> {
    let first = candidate.first().ok_or(CircuitError::Empty {
        op: "argmax_lanes",
        what: "word",
    })?;
    let mut n = lanes_of(b, first, "argmax_lanes")?;
    if n == 0 {
        return Err(CircuitError::Empty {
            op: "argmax_lanes",
            what: "lane",
        });
    }
    let mut cur = candidate;
    while n > 1 {
        let pairs = n / 2;
        let even: Vec<u32> = (0..pairs as u32).map(|i| 2 * i).collect();
        let odd: Vec<u32> = (0..pairs as u32).map(|i| 2 * i + 1).collect();
        let left = cur
            .iter()
            .map(|w| gather_word(b, w, &even))
            .collect::<CResult<Vec<_>>>()?;
        let right = cur
            .iter()
            .map(|w| gather_word(b, w, &odd))
            .collect::<CResult<Vec<_>>>()?;
        let s = right_better(b, &left, &right)?;
        let mut winners = select(b, &s, &left, &right)?;
        if n % 2 == 1 {
            let last = [n as u32 - 1];
            for (wi, w) in winners.iter_mut().enumerate() {
                let rest = gather_word(b, &cur[wi], &last)?;
                *w = concat_words(b, &[w.clone(), rest])?;
            }
        }
        cur = winners;
        n = pairs + n % 2;
    }
    Ok(cur)
}

/// Maximum over the lanes of `value` and the lowest lane index holding it.
/// Returns single-lane `(max, index)`; the index has `bits_for(N − 1)` bits.
pub fn argmax_lanes<B: Builder>(b: &mut B, value: &Word<B::Wire>) -> CResult<MaxIndex<B::Wire>> {
    let n = lanes_of(b, value, "argmax_lanes")?;
    let indices: Vec<u128> = (0..n as u128).collect();
    let idx = constant_word(b, &indices, bits_for(n.saturating_sub(1) as u128))?;
    let mut win = argmax_lanes_by(b, vec![value.clone(), idx], |b, l, r| gt(b, &r[0], &l[0]))?;
    let idx = win.pop().ok_or(CircuitError::Empty {
        op: "argmax_lanes",
        what: "word",
    })?;
    let max = win.pop().ok_or(CircuitError::Empty {
        op: "argmax_lanes",
        what: "word",
    })?;
    Ok((max, idx))
}

/// `a_num / a_den > c_num / c_den` for positive denominators, without
/// division: compares the exact cross products `a_num·c_den > c_num·a_den`
/// (two multiplications, one comparison). With a zero denominator the
/// result is whatever the cross products give.
pub fn fraction_gt<B: Builder>(
    b: &mut B,
    kind: AdderKind,
    a_num: &Word<B::Wire>,
    a_den: &Word<B::Wire>,
    c_num: &Word<B::Wire>,
    c_den: &Word<B::Wire>,
) -> CResult<B::Wire> {
    let w = (a_num.width() + c_den.width()).max(c_num.width() + a_den.width());
    let left = mul(b, kind, a_num, c_den, w)?;
    let right = mul(b, kind, c_num, a_den, w)?;
    gt(b, &left, &right)
}
