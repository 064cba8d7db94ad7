//! The EpiLink score of one record pair at a chosen number of fractional
//! bits, and exactly, for the precision study (issue 12).
//!
//! A fast copy of `protocol_spec::epilink` (SPEC.md §5) that scores one pair
//! at several precisions at once, not a replacement: at every `frac_bits`
//! it must give the reference's `(N, D)` and decisions bit for bit with
//! `dice_fraction_bits = frac_bits` (the unit test checks 8 and 16), and the
//! threshold decision is the reference's own [`Score::reaches`]. The exact
//! variant uses the real Dice quotients `2c/s` as rationals, so the study
//! can count which decisions the floor changes.
//!
//! Thresholds stay at the reference's 2^16 scale in every variant: a
//! `frac_bits`-bit score decides `2^(16−frac_bits)·N ≥ T·D`, never a
//! re-quantised `T`.

use std::cmp::Ordering;

use protocol_spec::config::{Comparator, LinkageConfig, Record, THRESHOLD_FRAC_BITS};
use protocol_spec::epilink::{Score, pairings};

/// The study could not represent an exact score in 128 bits (only possible
/// for configurations far beyond the default: many huge Bloom filters).
#[derive(Debug, thiserror::Error)]
#[error("an exact score overflows 128 bits (too many or too long Dice fields)")]
pub struct Overflow;

/// One field value prepared for fast comparison: its bits as words and, for
/// Dice, its population count.
#[derive(Clone, Debug)]
pub struct Prepared {
    words: Vec<u64>,
    ones: u64,
}

/// A record with every present value prepared.
pub type PreparedRecord = Vec<Option<Prepared>>;

pub fn prepare(record: &Record) -> PreparedRecord {
    record
        .iter()
        .map(|value| {
            value.as_ref().map(|bits| {
                let words: Vec<u64> = bits
                    .as_bytes()
                    .chunks(8)
                    .map(|chunk| {
                        let mut b = [0u8; 8];
                        b[..chunk.len()].copy_from_slice(chunk);
                        u64::from_le_bytes(b)
                    })
                    .collect();
                let ones = words.iter().map(|w| u64::from(w.count_ones())).sum();
                Prepared { words, ones }
            })
        })
        .collect()
}

/// What a similarity is made of, before any rounding.
#[derive(Clone, Copy, Debug)]
enum Raw {
    /// `δ = 0`: a value is empty.
    Empty,
    /// Dice: `c = |a∧b|`, `s = |a| + |b|`.
    Dice { common: u64, total: u64 },
    /// Binary: all bits equal or not.
    Binary(bool),
}

fn raw(comparator: Comparator, a: &Option<Prepared>, b: &Option<Prepared>) -> Raw {
    let (Some(a), Some(b)) = (a, b) else {
        return Raw::Empty;
    };
    match comparator {
        Comparator::Dice => Raw::Dice {
            common: a
                .words
                .iter()
                .zip(&b.words)
                .map(|(x, y)| u64::from((x & y).count_ones()))
                .sum(),
            total: a.ones + b.ones,
        },
        Comparator::Binary => Raw::Binary(a.words == b.words),
    }
}

/// A fixed-point score `N / D` whose similarities have `frac_bits`
/// fractional bits: the real score is `N / (2^frac_bits · D)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fixed {
    pub numerator: u64,
    pub denominator: u64,
}

impl Fixed {
    /// `(N, D)`, or `(0, 1)` for `D = 0` (SPEC §5: no evidence, score 0).
    fn ratio(&self) -> (u64, u64) {
        if self.denominator == 0 {
            (0, 1)
        } else {
            (self.numerator, self.denominator)
        }
    }

    /// Rational comparison by cross-multiplication (same `frac_bits` on
    /// both sides).
    pub fn cmp_ratio(&self, other: &Fixed) -> Ordering {
        let (n1, d1) = self.ratio();
        let (n2, d2) = other.ratio();
        (u128::from(n1) * u128::from(d2)).cmp(&(u128::from(n2) * u128::from(d1)))
    }

    /// `D > 0` and `2^(16−frac_bits)·N ≥ T·D`, with `T` at the 2^16 scale:
    /// the reference's decision ([`Score::reaches`]).
    pub fn reaches(&self, threshold_fp: u64, frac_bits: u32) -> bool {
        Score {
            numerator: self.numerator,
            denominator: self.denominator,
        }
        .reaches(threshold_fp, frac_bits)
    }

    /// The score as an exact fraction of 1: `(N, 2^frac_bits · D)`.
    pub fn as_fraction(&self, frac_bits: u32) -> (u128, u128) {
        let (n, d) = self.ratio();
        (u128::from(n), u128::from(d) << frac_bits)
    }
}

/// An exact score as a fraction `n / d` of 1 (`d > 0`).
#[derive(Clone, Copy, Debug)]
pub struct Exact {
    pub n: u128,
    pub d: u128,
}

impl Exact {
    pub fn cmp(&self, other: &Exact) -> Ordering {
        cmp_fraction(self.n, self.d, other.n, other.d)
    }

    /// The score reaches `T / 2^16`, decided exactly.
    pub fn reaches(&self, threshold_fp: u64) -> bool {
        cmp_fraction(
            self.n,
            self.d,
            u128::from(threshold_fp),
            1 << THRESHOLD_FRAC_BITS,
        ) != Ordering::Less
    }

    /// For display only (maximal differences); never used for a decision.
    pub fn to_f64(self) -> f64 {
        self.n as f64 / self.d as f64
    }
}

/// Compares `an/ad` with `bn/bd` exactly (`ad, bd > 0`): by
/// cross-multiplication when it fits in 128 bits, else by comparing the
/// continued-fraction expansions, which needs no wider integers.
pub fn cmp_fraction(an: u128, ad: u128, bn: u128, bd: u128) -> Ordering {
    if let (Some(x), Some(y)) = (an.checked_mul(bd), bn.checked_mul(ad)) {
        return x.cmp(&y);
    }
    cmp_continued(an, ad, bn, bd)
}

/// Exact comparison of `an/ad` and `bn/bd` via their continued fractions:
/// equal integer parts leave the fractional parts `ra/ad` and `rb/bd`,
/// which compare the other way round than their reciprocals `ad/ra` and
/// `bd/rb`.
pub fn cmp_continued(mut an: u128, mut ad: u128, mut bn: u128, mut bd: u128) -> Ordering {
    let mut flipped = false;
    loop {
        let (qa, ra) = (an / ad, an % ad);
        let (qb, rb) = (bn / bd, bn % bd);
        let order = match qa.cmp(&qb) {
            Ordering::Equal => match (ra == 0, rb == 0) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Less,
                (false, true) => Ordering::Greater,
                (false, false) => {
                    (an, ad, bn, bd) = (ad, ra, bd, rb);
                    flipped = !flipped;
                    continue;
                }
            },
            other => other,
        };
        return if flipped { order.reverse() } else { order };
    }
}

/// The record score of one pair in every variant: exact, and fixed point at
/// each requested number of fractional bits.
#[derive(Clone, Debug)]
pub struct PairScores {
    pub exact: Exact,
    /// Parallel to the `frac_bits` the [`Scorer`] was made with.
    pub fixed: Vec<Fixed>,
}

/// Precomputed pairings of a configuration, and the compared field pairs.
pub struct Scorer {
    comparators: Vec<Comparator>,
    /// Distinct `(i, j)` compared by any pairing.
    slots: Vec<(usize, usize)>,
    /// Per pairing (reference order, identity first): `(slot, weight)`.
    pairings: Vec<Vec<(usize, u64)>>,
    frac_bits: Vec<u32>,
}

impl Scorer {
    /// Every entry of `frac_bits` must lie in `1..=16`.
    pub fn new(config: &LinkageConfig, frac_bits: &[u32]) -> Scorer {
        assert!(
            frac_bits
                .iter()
                .all(|&b| (1..=THRESHOLD_FRAC_BITS).contains(&b)),
            "fractional bits must lie in 1..=16"
        );
        let mut slots: Vec<(usize, usize)> = Vec::new();
        let pairings = pairings(config)
            .map(|pairing| {
                pairing
                    .partners()
                    .iter()
                    .enumerate()
                    .map(|(i, &j)| {
                        let slot = slots.iter().position(|&s| s == (i, j)).unwrap_or_else(|| {
                            slots.push((i, j));
                            slots.len() - 1
                        });
                        (slot, config.pair_weight(i, j))
                    })
                    .collect()
            })
            .collect();
        Scorer {
            comparators: config.fields().iter().map(|f| f.comparator).collect(),
            slots,
            pairings,
            frac_bits: frac_bits.to_vec(),
        }
    }

    /// The record's score in every variant: the maximum over all pairings,
    /// the first maximal pairing's `(N, D)` as representative (as the
    /// reference does).
    pub fn score(&self, a: &PreparedRecord, b: &PreparedRecord) -> Result<PairScores, Overflow> {
        let raws: Vec<Raw> = self
            .slots
            .iter()
            .map(|&(i, j)| raw(self.comparators[i], &a[i], &b[j]))
            .collect();
        let mut best: Option<PairScores> = None;
        for terms in &self.pairings {
            let exact = exact_score(&raws, terms)?;
            let fixed: Vec<Fixed> = self
                .frac_bits
                .iter()
                .map(|&bits| fixed_score(&raws, terms, bits))
                .collect();
            match &mut best {
                None => best = Some(PairScores { exact, fixed }),
                Some(best) => {
                    if exact.cmp(&best.exact) == Ordering::Greater {
                        best.exact = exact;
                    }
                    for (b, f) in best.fixed.iter_mut().zip(fixed) {
                        if f.cmp_ratio(b) == Ordering::Greater {
                            *b = f;
                        }
                    }
                }
            }
        }
        Ok(best.expect("every configuration has at least the identity pairing"))
    }
}

/// `floor(2^bits · 2c / s)` (0 for `s = 0`), or `2^bits`/0 for binary.
fn fixed_similarity(raw: Raw, bits: u32) -> Option<u64> {
    match raw {
        Raw::Empty => None,
        // s = 0 (both filters all zero) is similarity 0, as in the reference.
        Raw::Dice { common, total } => Some(((2 * common) << bits).checked_div(total).unwrap_or(0)),
        Raw::Binary(equal) => Some(if equal { 1 << bits } else { 0 }),
    }
}

fn fixed_score(raws: &[Raw], terms: &[(usize, u64)], bits: u32) -> Fixed {
    let mut score = Fixed {
        numerator: 0,
        denominator: 0,
    };
    for &(slot, weight) in terms {
        if let Some(sim) = fixed_similarity(raws[slot], bits) {
            score.numerator += weight * sim;
            score.denominator += weight;
        }
    }
    score
}

/// `Σ w·r / Σ w` with the real similarities `r = 2c/s` (0 for `s = 0`, as
/// the reference defines it), as one fraction; `0/1` when `Σ w = 0`.
fn exact_score(raws: &[Raw], terms: &[(usize, u64)]) -> Result<Exact, Overflow> {
    // The weighted sum so far is acc_n / acc_d.
    let (mut acc_n, mut acc_d, mut weights) = (0u128, 1u128, 0u128);
    for &(slot, weight) in terms {
        let (p, q) = match raws[slot] {
            Raw::Empty => continue,
            Raw::Dice { common, total } if total > 0 => (2 * common, total),
            Raw::Dice { .. } | Raw::Binary(false) => (0, 1),
            Raw::Binary(true) => (1, 1),
        };
        let weight = u128::from(weight);
        weights += weight;
        let (p, q) = (u128::from(p), u128::from(q));
        let added = weight
            .checked_mul(p)
            .and_then(|x| x.checked_mul(acc_d))
            .ok_or(Overflow)?;
        if q == 1 {
            acc_n = acc_n.checked_add(added).ok_or(Overflow)?;
        } else {
            acc_n = acc_n
                .checked_mul(q)
                .and_then(|x| x.checked_add(added))
                .ok_or(Overflow)?;
            acc_d = acc_d.checked_mul(q).ok_or(Overflow)?;
        }
    }
    if weights == 0 {
        return Ok(Exact { n: 0, d: 1 });
    }
    Ok(Exact {
        n: acc_n,
        d: acc_d.checked_mul(weights).ok_or(Overflow)?,
    })
}
