//! Linkage decisions: thresholds, the best database record, and the three
//! modes of the protocol (one query against N records, M queries against N
//! records, and matching mode, which only counts).

use std::cmp::Ordering;

use crate::config::{LinkageConfig, Record};

use super::score::{Score, best_pairing_checked};
use super::{EpilinkError, check_database, check_query};

/// The result for one query record: exactly what the two-party protocol
/// outputs (as XOR shares) for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LinkResult {
    /// The best record's score reaches the match threshold.
    pub is_match: bool,
    /// The best record's score reaches the tentative threshold
    /// (`threshold_non_match`); also true for matches whenever `T_t ≤ T_m`.
    pub tentative: bool,
    /// Index of the best database record (0 for an empty database).
    pub best_index: usize,
}

/// The best database record for a query and its score.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BestRecord {
    pub index: usize,
    pub score: Score,
}

/// Matching (counting) mode: how many query records have a match, and how
/// many a tentative match. Nothing else is revealed in this mode.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct MatchCounts {
    pub matches: u64,
    pub tentative: u64,
}

/// The database record with the maximal score for `query`, or `None` for an
/// empty database.
///
/// Ties go to the smallest index: records are scanned in order and a later
/// record replaces the best only if its score is strictly greater (as a
/// rational). The best record's representative `(N, D)` is that of its
/// lexicographically first best pairing.
pub fn best_record(
    config: &LinkageConfig,
    query: &Record,
    database: &[Record],
) -> Result<Option<BestRecord>, EpilinkError> {
    check_query(config, 0, query)?;
    check_database(config, database)?;
    Ok(best_record_checked(config, query, database))
}

/// Links one query record against the database (1×N).
///
/// `is_match` and `tentative` are the threshold decisions ([`Score::reaches`])
/// for the best record. An empty database gives `(false, false, 0)`; so does
/// a query whose every field is empty (every score is `0/1`, the first record
/// wins the tie, and a zero denominator reaches no threshold).
pub fn link_record(
    config: &LinkageConfig,
    query: &Record,
    database: &[Record],
) -> Result<LinkResult, EpilinkError> {
    check_query(config, 0, query)?;
    check_database(config, database)?;
    Ok(link_checked(config, query, database))
}

/// Links every query record independently against the whole database (M×N);
/// the result for query `k` is `link_record(queries[k], database)`.
pub fn link_records(
    config: &LinkageConfig,
    queries: &[Record],
    database: &[Record],
) -> Result<Vec<LinkResult>, EpilinkError> {
    for (index, query) in queries.iter().enumerate() {
        check_query(config, index, query)?;
    }
    check_database(config, database)?;
    Ok(queries
        .iter()
        .map(|query| link_checked(config, query, database))
        .collect())
}

/// Matching mode: the number of query records whose [`LinkResult`] has
/// `is_match`, and the number with `tentative`.
pub fn match_records(
    config: &LinkageConfig,
    queries: &[Record],
    database: &[Record],
) -> Result<MatchCounts, EpilinkError> {
    let mut counts = MatchCounts::default();
    for result in link_records(config, queries, database)? {
        counts.matches += u64::from(result.is_match);
        counts.tentative += u64::from(result.tentative);
    }
    Ok(counts)
}

fn best_record_checked(
    config: &LinkageConfig,
    query: &Record,
    database: &[Record],
) -> Option<BestRecord> {
    let mut best: Option<BestRecord> = None;
    for (index, record) in database.iter().enumerate() {
        let score = best_pairing_checked(config, query, record).score;
        let better = match &best {
            None => true,
            Some(b) => score.cmp_ratio(&b.score) == Ordering::Greater,
        };
        if better {
            best = Some(BestRecord { index, score });
        }
    }
    best
}

fn link_checked(config: &LinkageConfig, query: &Record, database: &[Record]) -> LinkResult {
    match best_record_checked(config, query, database) {
        None => LinkResult {
            is_match: false,
            tentative: false,
            best_index: 0,
        },
        Some(best) => LinkResult {
            is_match: best
                .score
                .reaches(config.threshold_match_fp(), config.dice_fraction_bits()),
            tentative: best
                .score
                .reaches(config.threshold_tentative_fp(), config.dice_fraction_bits()),
            best_index: best.index,
        },
    }
}
