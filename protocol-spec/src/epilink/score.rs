//! The EpiLink score of one query record against one database record.
//!
//! For a pairing `P` (see [`super::pairing`]) every query field `i` is
//! compared with its partner `j = P(i)` in a *term* with
//!
//! * `δ(i, j) = 1` iff both values are present (an empty field on either side
//!   drops out of numerator and denominator alike),
//! * `weight(i, j) = W_i + W_j` ([`LinkageConfig::pair_weight`], the doubled
//!   mean weight, `2·W_i` for a field outside exchange groups),
//! * `sim(i, j)` in fixed point ([`super::similarity`]),
//!
//! and the pairing scores `N_P / D_P` with `N_P = Σ δ·weight·sim` and
//! `D_P = Σ δ·weight`. The record's score is the maximum of `N_P / D_P` over
//! all pairings, compared as rationals by cross-multiplication; a pairing with
//! `D_P = 0` scores the rational `0/1`.
//!
//! **Bounds.** `weight ≤ 2·1023 < 2^11` and `sim ≤ 2^F ≤ 2^16`, so each term adds
//! less than 2^27 to `N`; `N` and `D` fit `u64` for any record that fits in
//! memory (fewer than 2^37 fields), and a cross product `N_1·D_2` fits `u128`.

use std::cmp::Ordering;

use crate::config::{LinkageConfig, Record, THRESHOLD_FRAC_BITS};

use super::pairing::{Pairing, pairings};
use super::similarity::pair_similarity;
use super::{EpilinkError, check_pair};

/// A score as the exact rational `numerator / denominator`, scaled by 2^F
/// (`F` = [`LinkageConfig::dice_fraction_bits`]):
/// `numerator = Σ δ·weight·sim` and `denominator = Σ δ·weight`, so
/// `numerator / denominator ∈ [0, 2^F]`. Scores of one configuration share
/// `F`, so [`Score::cmp_ratio`] needs no scale.
///
/// `Score` has no `Ord`: two scores can be equal as rationals but differ as
/// pairs. Compare them with [`Score::cmp_ratio`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Score {
    pub numerator: u64,
    pub denominator: u64,
}

impl Score {
    /// The rational this score stands for: `(N, D)`, or `(0, 1)` when
    /// `D = 0` (every compared field was empty on one side: no evidence, so
    /// score 0).
    pub fn ratio(&self) -> (u64, u64) {
        if self.denominator == 0 {
            (0, 1)
        } else {
            (self.numerator, self.denominator)
        }
    }

    /// Compares two scores as rationals, `N_1·D_2` against `N_2·D_1` in
    /// `u128`. No division, so no rounding: the comparison is exact.
    pub fn cmp_ratio(&self, other: &Score) -> Ordering {
        let (n1, d1) = self.ratio();
        let (n2, d2) = other.ratio();
        (u128::from(n1) * u128::from(d2)).cmp(&(u128::from(n2) * u128::from(d1)))
    }

    /// The threshold decision for a score with `fraction_bits` (`F`)
    /// fractional bits: `D > 0` and `N / 2^F ≥ T / 2^16`, decided exactly as
    /// `2^(16−F) · N ≥ T · D`, with `T = round(t · 2^16)` the quantised
    /// threshold. `T` is never re-quantised to `F` bits: the only rounding
    /// is in the similarities, which errs downwards.
    ///
    /// Non-strict (`≥`), unlike MainSEL's strict `>`: a score exactly at the
    /// threshold is a match, as in the Java Mainzelliste. For `T ≥ 1` the
    /// decision depends only on the rational (a score `0/1` never reaches it).
    /// `F` above 16 is treated as 16 (a validated configuration has 8..=16).
    pub fn reaches(&self, threshold_fp: u64, fraction_bits: u32) -> bool {
        let shift = THRESHOLD_FRAC_BITS - fraction_bits.min(THRESHOLD_FRAC_BITS);
        self.denominator > 0
            && u128::from(self.numerator) << shift
                >= u128::from(threshold_fp) * u128::from(self.denominator)
    }
}

/// One compared pair of fields under a pairing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Term {
    pub query_field: usize,
    pub database_field: usize,
    /// `W_i + W_j`.
    pub weight: u64,
    /// `None` when `δ = 0` (a value is empty); the term then adds nothing.
    pub similarity: Option<u64>,
}

/// A pairing together with the score it yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScoredPairing {
    pub score: Score,
    pub pairing: Pairing,
}

/// Every term of `pairing`, in query field order (for tests and debugging).
pub fn pairing_terms(
    config: &LinkageConfig,
    query: &Record,
    database: &Record,
    pairing: &Pairing,
) -> Result<Vec<Term>, EpilinkError> {
    check_pair(config, query, database)?;
    check_pairing(config, pairing)?;
    Ok(terms(config, query, database, pairing))
}

/// The score `(N_P, D_P)` of one given pairing.
pub fn pairing_score(
    config: &LinkageConfig,
    query: &Record,
    database: &Record,
    pairing: &Pairing,
) -> Result<Score, EpilinkError> {
    check_pair(config, query, database)?;
    check_pairing(config, pairing)?;
    Ok(sum_terms(config, query, database, pairing))
}

/// The best pairing and its score: the maximum of `N_P / D_P` over all
/// pairings, and among the pairings that reach it the first in
/// lexicographic order (identity first), so the representative `(N, D)` is
/// deterministic.
pub fn best_pairing(
    config: &LinkageConfig,
    query: &Record,
    database: &Record,
) -> Result<ScoredPairing, EpilinkError> {
    check_pair(config, query, database)?;
    Ok(best_pairing_checked(config, query, database))
}

/// The record's score `(N, D)`: [`best_pairing`] without the pairing.
pub fn record_score(
    config: &LinkageConfig,
    query: &Record,
    database: &Record,
) -> Result<Score, EpilinkError> {
    Ok(best_pairing(config, query, database)?.score)
}

/// [`best_pairing`] for records already checked against `config`.
pub(crate) fn best_pairing_checked(
    config: &LinkageConfig,
    query: &Record,
    database: &Record,
) -> ScoredPairing {
    // The identity pairing comes first in the enumeration; start with it.
    let identity = Pairing::identity(config);
    let mut best = ScoredPairing {
        score: sum_terms(config, query, database, &identity),
        pairing: identity,
    };
    for pairing in pairings(config).skip(1) {
        let score = sum_terms(config, query, database, &pairing);
        // Replace only on a strictly greater score, so the first pairing
        // that reaches the maximum stays.
        if score.cmp_ratio(&best.score) == Ordering::Greater {
            best = ScoredPairing { score, pairing };
        }
    }
    best
}

fn check_pairing(config: &LinkageConfig, pairing: &Pairing) -> Result<(), EpilinkError> {
    let expected = config.fields().len();
    let actual = pairing.partners().len();
    if expected == actual {
        Ok(())
    } else {
        Err(EpilinkError::PairingMismatch { expected, actual })
    }
}

fn terms(
    config: &LinkageConfig,
    query: &Record,
    database: &Record,
    pairing: &Pairing,
) -> Vec<Term> {
    pairing
        .partners()
        .iter()
        .enumerate()
        .map(|(i, &j)| Term {
            query_field: i,
            database_field: j,
            weight: config.pair_weight(i, j),
            similarity: pair_similarity(config, query, database, i, j),
        })
        .collect()
}

/// `(N_P, D_P) = (Σ δ·weight·sim, Σ δ·weight)`.
fn sum_terms(
    config: &LinkageConfig,
    query: &Record,
    database: &Record,
    pairing: &Pairing,
) -> Score {
    let mut score = Score {
        numerator: 0,
        denominator: 0,
    };
    for term in terms(config, query, database, pairing) {
        // δ = 0 (an empty value) leaves both sums untouched.
        if let Some(sim) = term.similarity {
            score.numerator += term.weight * sim;
            score.denominator += term.weight;
        }
    }
    score
}
