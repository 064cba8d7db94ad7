//! The Boolean parts of the EpiLink computation, written once against
//! [`Builder`]: the same code evaluates in the clear (tests), counts its
//! cost, and records the netlist the two parties evaluate with GMW.
//!
//! Lanes are (query, database record) pairs of one chunk: lane
//! `q·records + r` compares query `q` of the block with record `first + r`.
//!
//! Three circuits:
//! * [`similarities`] (once per chunk): per compared pair `δ` and the
//!   similarity — for Dice the `F + 1`-bit `floor(2^(F+1)·c / (|a|+|b|))`
//!   (`F` = [`Plan::fraction_bits`]) from the
//!   two parties' count shares, for binary fields `δ ∧ [a = b]` — and per
//!   pairing the denominator `D'` (`D`, or 1 when `D = 0`);
//! * [`select`] (once per comparison layer): the sign of a difference of
//!   cross products held as additive shares, and the multiplexer that keeps
//!   the winner's Boolean words;
//! * [`decide`] (once per query block): the two threshold decisions.
//!
//! Sums, weights and cross products are arithmetic (additive shares, free
//! additions, see [`super::pipeline`]); only what needs bits is Boolean.
//!
//! Knowledge matters for cost: values one party knows (its Hamming weights,
//! emptiness flags, binary field bits, its share of a count or of an
//! arithmetic value) enter as that party's private inputs, so an AND
//! between a client value and a server value is one OT, and gates among one
//! party's values are free.

use super::gadgets::{Sparse, const_product_rows, sign_of_sum, sum_rows};
use super::plan::Plan;
use crate::circuit::gadgets::{add, add_with_carry, and_all, divide_nonrestoring, ge, mux_word};
use crate::circuit::word::gather_word;
use crate::circuit::{Builder, CResult, CircuitError, Word};
use protocol_spec::config::Comparator;

/// The inputs of the score part, indexed by field or pair; entries that do
/// not apply to a field's comparator are `None`.
///
/// Lane layout: as built from the records ([`super::inputs`]), client words
/// have one lane per query and server words one lane per record; after
/// [`spread`] every word has one lane per (query, record) pair, the layout
/// the similarity circuit works on. Counts have one lane per pair in both.
#[derive(Clone, Debug)]
pub struct ScoreInputs<W> {
    /// Per pair: the client's and the server's additive share of the
    /// intersection count `|a_i ∧ b_j|` mod `2^count_width` (Dice pairs).
    pub counts: Vec<Option<(Word<W>, Word<W>)>>,
    /// Per field: the query field is non-empty (client).
    pub client_present: Vec<W>,
    /// Per field: the database field is non-empty (server).
    pub server_present: Vec<W>,
    /// Per Dice field: the query filter's Hamming weight (client; 0 if
    /// empty).
    pub client_weight: Vec<Option<Word<W>>>,
    /// Per Dice field: the database filter's Hamming weight (server).
    pub server_weight: Vec<Option<Word<W>>>,
    /// Per binary field: the query value's bits (client; zeros if empty).
    pub client_value: Vec<Option<Word<W>>>,
    /// Per binary field: the database value's bits (server).
    pub server_value: Vec<Option<Word<W>>>,
}

/// Where a chunk sits in the whole job: which queries and records it holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkShape {
    /// Queries in the block (segments).
    pub queries: usize,
    /// Records in the chunk (lanes per segment).
    pub records: usize,
    /// Global index of the chunk's first record.
    pub first_record: usize,
    /// Bits of a global record index (`bits_for(N − 1)`).
    pub index_width: usize,
}

impl ChunkShape {
    /// Lanes of the per-pair part.
    pub fn lanes(&self) -> usize {
        self.queries * self.records
    }
}

fn spread_word<B: Builder>(
    b: &mut B,
    w: &Option<Word<B::Wire>>,
    idx: &[u32],
) -> CResult<Option<Word<B::Wire>>> {
    w.as_ref().map(|w| gather_word(b, w, idx)).transpose()
}

/// Spreads per-query values over the query's lanes and per-record values
/// over every query's lanes (free lane moves).
pub fn spread<B: Builder>(
    b: &mut B,
    shape: &ChunkShape,
    inp: &ScoreInputs<B::Wire>,
) -> CResult<ScoreInputs<B::Wire>> {
    let (q, r) = (shape.queries, shape.records);
    let by_query: Vec<u32> = (0..q * r).map(|l| (l / r) as u32).collect();
    let by_record: Vec<u32> = (0..q * r).map(|l| (l % r) as u32).collect();
    Ok(ScoreInputs {
        counts: inp.counts.clone(),
        client_present: inp
            .client_present
            .iter()
            .map(|w| b.gather_lanes(w, &by_query))
            .collect::<CResult<_>>()?,
        server_present: inp
            .server_present
            .iter()
            .map(|w| b.gather_lanes(w, &by_record))
            .collect::<CResult<_>>()?,
        client_weight: inp
            .client_weight
            .iter()
            .map(|w| spread_word(b, w, &by_query))
            .collect::<CResult<_>>()?,
        server_weight: inp
            .server_weight
            .iter()
            .map(|w| spread_word(b, w, &by_record))
            .collect::<CResult<_>>()?,
        client_value: inp
            .client_value
            .iter()
            .map(|w| spread_word(b, w, &by_query))
            .collect::<CResult<_>>()?,
        server_value: inp
            .server_value
            .iter()
            .map(|w| spread_word(b, w, &by_record))
            .collect::<CResult<_>>()?,
    })
}

fn missing(what: &'static str) -> CircuitError {
    CircuitError::Empty {
        op: "epilink",
        what,
    }
}

/// The similarity of one Dice pair, `F + 1` bits: `floor(2^(F+1)·c / s)`
/// `= floor(2^F·2c / s)` with `s = |a| + |b|`, and 0 when `s = 0`; exactly
/// the reference's value. Since `2c ≤ s` the quotient is at most `2^F`, so
/// `F + 1` quotient bits (one division step each) are exact: at `F = 8` the
/// division is 9 steps instead of 17.
///
/// `c` is the sum of the two count shares (an adder whose operands belong
/// to different parties: its first-level ANDs are single OTs). An empty
/// field enters as an all-zero filter of weight 0, so `c = 0` and the
/// similarity is 0 without an extra gate; only `s = 0` needs care, since the
/// divider would return all ones: then the divisor's low bit is set
/// (`[|a| = 0] ∧ [|b| = 0]`, one OT), and `0 / 1 = 0`.
pub fn dice_similarity<B: Builder>(
    b: &mut B,
    plan: &Plan,
    count: &(Word<B::Wire>, Word<B::Wire>),
    weight_a: &Word<B::Wire>,
    weight_b: &Word<B::Wire>,
) -> CResult<Word<B::Wire>> {
    let c = add(b, plan.carries.similarity, &count.0, &count.1)?;
    let s = add_with_carry(b, plan.carries.similarity, weight_a, weight_b)?;
    let a_zero = is_zero(b, weight_a)?;
    let b_zero = is_zero(b, weight_b)?;
    let both_zero = b.and(&a_zero, &b_zero)?;
    let mut s_bits = s.into_bits();
    s_bits[0] = b.xor(&s_bits[0], &both_zero)?;
    let divisor = Word::from_bits(s_bits);
    // Dividend c · 2^(F+1): the F + 1 low bits are known zeros, and the
    // precondition c < s holds (c ≤ s/2 for s > 0; c = 0 < 1 for s = 0).
    let mut dividend: Vec<Sparse<B::Wire>> = vec![None; plan.sim_width];
    dividend.extend(c.bits().iter().cloned().map(Some));
    divide_nonrestoring(
        b,
        plan.carries.similarity,
        &dividend,
        &divisor,
        plan.sim_width,
    )
}

/// `w == 0` (free when `w` is one party's private value: its ANDs are
/// local).
fn is_zero<B: Builder>(b: &mut B, w: &Word<B::Wire>) -> CResult<B::Wire> {
    let inv: Vec<B::Wire> = w.bits().iter().map(|x| b.not(x)).collect::<CResult<_>>()?;
    and_all(b, &inv)?.ok_or(missing("weight bit"))
}

/// A compared pair's similarity before weighting.
enum Similarity<W> {
    /// Dice: the `F + 1`-bit similarity word.
    Dice(Word<W>),
    /// Binary: `δ ∧ [a = b]` (the similarity is this bit times 2^F).
    Binary(W),
}

/// `δ(i, j)` and the similarity of pair `t`.
fn similarity<B: Builder>(
    b: &mut B,
    plan: &Plan,
    t: usize,
    inp: &ScoreInputs<B::Wire>,
) -> CResult<(B::Wire, Similarity<B::Wire>)> {
    let pair = &plan.pairs[t];
    let (i, j) = (pair.query, pair.database);
    let delta = b.and(&inp.client_present[i], &inp.server_present[j])?;
    let sim = match pair.comparator {
        Comparator::Dice => {
            let count = inp.counts[t].as_ref().ok_or(missing("count share"))?;
            let wa = inp.client_weight[i]
                .as_ref()
                .ok_or(missing("client weight"))?;
            let wb = inp.server_weight[j]
                .as_ref()
                .ok_or(missing("server weight"))?;
            Similarity::Dice(dice_similarity(b, plan, count, wa, wb)?)
        }
        Comparator::Binary => {
            // δ ∧ [a = b]: one table lookup per 4-bit block (`lookup`).
            let va = inp.client_value[i]
                .as_ref()
                .ok_or(missing("client value"))?;
            let vb = inp.server_value[j]
                .as_ref()
                .ok_or(missing("server value"))?;
            Similarity::Binary(super::lookup::present_equal(
                b,
                &inp.client_present[i],
                &inp.server_present[j],
                va,
                vb,
            )?)
        }
    };
    Ok((delta, sim))
}

/// `bit · weight · 2^shift` as rows: one copy of the bit per set bit of
/// the weight (no AND gates).
fn bit_rows<W: Clone>(bit: &W, weight: u64, shift: usize, width: usize) -> Vec<Vec<Sparse<W>>> {
    (0..64)
        .filter(|s| weight >> s & 1 == 1 && s + shift < width)
        .map(|s| {
            let mut r = vec![None; width];
            r[s + shift] = Some(bit.clone());
            r
        })
        .collect()
}

/// What [`similarities`] computes for every lane.
#[derive(Clone, Debug)]
pub struct Similarities<W> {
    /// Per pair: the `F + 1`-bit Dice similarity (Dice pairs).
    pub dice: Vec<Option<Word<W>>>,
    /// Per pair: `δ ∧ [a = b]` (binary pairs).
    pub equal: Vec<Option<W>>,
    /// Per pairing: `D'` (`d_width` bits).
    pub denominators: Vec<Word<W>>,
}

/// Per pair the similarity, per pairing the denominator `D' = Σ δ·w`
/// (1 if every term is empty, the rational 0/1 of the reference).
pub fn similarities<B: Builder>(
    b: &mut B,
    plan: &Plan,
    inp: &ScoreInputs<B::Wire>,
) -> CResult<Similarities<B::Wire>> {
    let lanes = inp
        .client_present
        .first()
        .map(|w| b.lanes(w))
        .ok_or(missing("field"))?;
    let mut deltas = Vec::with_capacity(plan.pairs.len());
    let mut dice = vec![None; plan.pairs.len()];
    let mut equal = vec![None; plan.pairs.len()];
    for t in 0..plan.pairs.len() {
        let (delta, sim) = similarity(b, plan, t, inp)?;
        deltas.push(delta);
        match sim {
            Similarity::Dice(w) => dice[t] = Some(w),
            Similarity::Binary(e) => equal[t] = Some(e),
        }
    }
    let dw = plan.d_width;
    // The part every pairing shares, summed once.
    let mut common_d = Vec::new();
    let mut common_empty = Vec::new();
    for &t in &plan.common {
        common_d.extend(bit_rows(&deltas[t], plan.pairs[t].weight, 0, dw));
        common_empty.push(b.not(&deltas[t])?);
    }
    let grouped = plan.pairings.first().is_some_and(|p| !p.is_empty());
    if grouped && common_d.len() > 1 {
        let d = sum_rows(b, plan.carries.similarity, &common_d, dw, lanes)?;
        common_d = vec![d.bits().iter().cloned().map(Some).collect()];
    }
    let common_empty = and_all(b, &common_empty)?;
    let mut denominators = Vec::with_capacity(plan.pairings.len());
    for pairing in &plan.pairings {
        let mut d_rows = common_d.clone();
        let mut empty: Vec<B::Wire> = common_empty.iter().cloned().collect();
        for &t in pairing {
            d_rows.extend(bit_rows(&deltas[t], plan.pairs[t].weight, 0, dw));
            empty.push(b.not(&deltas[t])?);
        }
        let d = sum_rows(b, plan.carries.similarity, &d_rows, dw, lanes)?;
        // D = 0 exactly when no term has both values: D' = 1 (N is 0).
        let all_empty = and_all(b, &empty)?.ok_or(missing("term"))?;
        let mut d_bits = d.into_bits();
        d_bits[0] = b.xor(&d_bits[0], &all_empty)?;
        denominators.push(Word::from_bits(d_bits));
    }
    Ok(Similarities {
        dice,
        equal,
        denominators,
    })
}

/// The sign bit of a comparison and the multiplexed words.
pub type Selected<W> = (W, Vec<Word<W>>);

/// One comparison layer's Boolean part. `y_client + y_server` (mod
/// `2^arith_width`, each a party's private share) is `N_L·D_R − N_R·D_L`,
/// negative exactly when the right candidate's ratio is strictly greater;
/// its sign bit `s` is computed with one adder, and the words of `left`
/// and `right` (denominator bits, index bits) are multiplexed by it.
/// Returns `s` (1 = right wins) and the selected words.
pub fn select<B: Builder>(
    b: &mut B,
    plan: &Plan,
    y_client: &Word<B::Wire>,
    y_server: &Word<B::Wire>,
    left: &[Word<B::Wire>],
    right: &[Word<B::Wire>],
) -> CResult<Selected<B::Wire>> {
    let s = sign_of_sum(b, plan.carries.comparison, y_client, y_server)?;
    let mut out = Vec::with_capacity(left.len());
    for (l, r) in left.iter().zip(right) {
        out.push(mux_word(b, &s, r, l)?);
    }
    Ok((s, out))
}

/// Index of pair `(i, j)`, `i < j < size`, in the lexicographic order of
/// all pairs of a group.
pub fn pair_index(size: usize, i: usize, j: usize) -> usize {
    i * size - i * (i + 1) / 2 + (j - i - 1)
}

/// The Boolean part of a wide tournament layer: every group of `size`
/// candidates is decided at once from all its `size·(size−1)/2` pairwise
/// comparisons.
///
/// `classes` are `(size, groups)`: classes of equally large groups.
/// `y_client + y_server` holds, class after class, pair `(i, j)` (`i < j`,
/// lexicographic, [`pair_index`]) after pair, one lane per group,
/// `N_i·D_j − N_j·D_i`: negative exactly when slot `j`'s ratio is strictly
/// greater than slot `i`'s. With `s_ij` that sign, slot `p` wins iff it is
/// strictly greater than every earlier slot and no later slot is strictly
/// greater than it:
///
/// ```text
/// win_p = AND_{i<p} s_ip  ∧  AND_{j>p} ¬s_pj
/// ```
///
/// which is the reference's rule (largest ratio, lowest index among equal
/// ratios); exactly one slot wins since ratios are totally preordered.
/// Returns per class the winner bits of slots `1..size` (slot 0 wins when
/// none of them does); the caller multiplexes the candidates with them.
pub fn select_groups<B: Builder>(
    b: &mut B,
    plan: &Plan,
    y_client: &Word<B::Wire>,
    y_server: &Word<B::Wire>,
    classes: &[(usize, usize)],
) -> CResult<Vec<Vec<B::Wire>>> {
    let s = sign_of_sum(b, plan.carries.comparison, y_client, y_server)?;
    let mut out = Vec::with_capacity(classes.len());
    let mut offset = 0usize;
    for &(k, g) in classes {
        if k < 2 {
            return Err(CircuitError::Parameter {
                op: "select_groups",
                detail: format!("a group class of size {k}"),
            });
        }
        let sign =
            |b: &mut B, i: usize, j: usize| b.slice_lanes(&s, offset + pair_index(k, i, j) * g, g);
        let mut onehot = Vec::with_capacity(k - 1);
        for p in 1..k {
            let mut conds = Vec::with_capacity(k - 1);
            for i in 0..p {
                conds.push(sign(b, i, p)?);
            }
            for j in p + 1..k {
                let sj = sign(b, p, j)?;
                conds.push(b.not(&sj)?);
            }
            onehot.push(and_all(b, &conds)?.ok_or(missing("comparison"))?);
        }
        out.push(onehot);
        offset += k * (k - 1) / 2 * g;
    }
    Ok(out)
}

/// The threshold decisions for the best record: `2^(16−F)·N ≥ T·D'` for
/// the match and the tentative threshold (`N / 2^F ≥ T / 2^16` exactly; the
/// thresholds keep 16 fractional bits and are never re-quantised), with
/// `N = n_client + n_server` (mod `2^n_width`; N is below it) and `D'` as
/// bits. `D' ≥ 1` and `T ≥ 1`, so the rational 0/1 of an all-empty
/// comparison never reaches a threshold.
pub fn decide<B: Builder>(
    b: &mut B,
    plan: &Plan,
    n_client: &Word<B::Wire>,
    n_server: &Word<B::Wire>,
    denominator: &Word<B::Wire>,
) -> CResult<(B::Wire, B::Wire)> {
    let lanes = denominator.lanes(b).ok_or(missing("denominator bit"))?;
    let n = add(b, plan.carries.similarity, n_client, n_server)?;
    // 2^(16−F)·N: the shifted-in low bits are public zeros.
    let shift = plan.threshold_shift();
    let width = plan.n_width + shift;
    let mut shifted = Vec::with_capacity(width);
    if shift > 0 {
        let zero = b.splat(false, lanes)?;
        shifted.resize(shift, zero);
    }
    shifted.extend(n.bits().iter().cloned());
    let n = Word::from_bits(shifted);
    let mut decisions = Vec::with_capacity(2);
    for t in [plan.threshold_match, plan.threshold_tentative] {
        // T·D' ≤ 2^16 · d_max < 2^(n_width + 16 − F): no overflow.
        let rows = const_product_rows(b, denominator, u128::from(t), width)?;
        let td = sum_rows(b, plan.carries.similarity, &rows, width, lanes)?;
        decisions.push(ge(b, &n, &td)?);
    }
    let tentative = decisions.pop().ok_or(missing("decision"))?;
    let is_match = decisions.pop().ok_or(missing("decision"))?;
    Ok((is_match, tentative))
}
