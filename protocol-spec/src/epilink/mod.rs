//! The plaintext EpiLink reference: the oracle for every two-party result.
//!
//! Every linkage decision the two nodes compute jointly must equal what this
//! module computes in the clear, bit for bit. It is therefore written for
//! readability, not speed, and uses exact integer arithmetic only: the one
//! place where floating point appears is the quantisation of weights and
//! thresholds in [`crate::config`]. SPEC.md §5
//! states the same rules with their reasons.
//!
//! The rules, in the order the code applies them:
//!
//! 1. **Similarity** of a query field `a_i` and a database field `b_j`, fixed
//!    point with `F` fractional bits, `F` = 8 by default, configurable up to
//!    16 ([`similarity`]).
//! 2. **Pairing**: which database field each query field is compared with.
//!    Fields outside exchange groups are compared with the same field; the
//!    fields of an exchange group may be permuted ([`pairing`]).
//! 3. **Score** of a pairing: `N / D` with `N = Σ δ·weight·sim` and
//!    `D = Σ δ·weight`; the record's score is the maximum over all pairings
//!    ([`score`]).
//! 4. **Decisions and linkage**: thresholds, the best database record, 1×N,
//!    M×N and matching (counting) mode ([`linkage`]).
//!
//! Inputs are checked against the configuration first (field count and bit
//! lengths), so a malformed record yields an [`EpilinkError`], never a panic.

pub mod linkage;
pub mod pairing;
pub mod score;
pub mod similarity;

pub use linkage::{
    BestRecord, LinkResult, MatchCounts, best_record, link_record, link_records, match_records,
};
pub use pairing::{Pairing, Pairings, pairings};
pub use score::{
    Score, ScoredPairing, Term, best_pairing, pairing_score, pairing_terms, record_score,
};
pub use similarity::{binary_similarity, dice_similarity, field_similarities, field_similarity};

use crate::config::{LinkageConfig, Record};

/// What is wrong with one record, relative to the configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("has {actual} fields, but the configuration has {expected}")]
    FieldCount { expected: usize, actual: usize },
    #[error("field {field:?} has {actual} bits, but the configuration says {expected}")]
    Bitlength {
        field: String,
        expected: u32,
        actual: u32,
    },
}

/// A record handed to the reference does not fit the configuration.
///
/// The index says which record: for single-pair functions the query and the
/// database record both have index 0.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EpilinkError {
    #[error("query record {index} {source}")]
    Query {
        index: usize,
        #[source]
        source: RecordError,
    },
    #[error("database record {index} {source}")]
    Database {
        index: usize,
        #[source]
        source: RecordError,
    },
    #[error(
        "the pairing covers {actual} fields, but the configuration has {expected}; \
         it was built for another configuration"
    )]
    PairingMismatch { expected: usize, actual: usize },
}

/// Checks that `record` has one entry per configured field and that every
/// non-empty field has the configured bit length.
///
/// Equal bit lengths are what make the similarity of two fields well defined
/// (members of an exchange group share their bit length, see
/// [`LinkageConfig::new`]).
pub fn check_record(config: &LinkageConfig, record: &Record) -> Result<(), RecordError> {
    let fields = config.fields();
    if record.len() != fields.len() {
        return Err(RecordError::FieldCount {
            expected: fields.len(),
            actual: record.len(),
        });
    }
    for (spec, value) in fields.iter().zip(record) {
        if let Some(bits) = value
            && bits.bitlength() != spec.bitlength
        {
            return Err(RecordError::Bitlength {
                field: spec.name.clone(),
                expected: spec.bitlength,
                actual: bits.bitlength(),
            });
        }
    }
    Ok(())
}

/// [`check_record`] for a query record, reporting its index.
pub(crate) fn check_query(
    config: &LinkageConfig,
    index: usize,
    record: &Record,
) -> Result<(), EpilinkError> {
    check_record(config, record).map_err(|source| EpilinkError::Query { index, source })
}

/// [`check_query`] and [`check_record`] for a single pair (both index 0).
pub(crate) fn check_pair(
    config: &LinkageConfig,
    query: &Record,
    database: &Record,
) -> Result<(), EpilinkError> {
    check_query(config, 0, query)?;
    check_record(config, database).map_err(|source| EpilinkError::Database { index: 0, source })
}

/// [`check_record`] for every database record, reporting the first bad index.
pub(crate) fn check_database(
    config: &LinkageConfig,
    database: &[Record],
) -> Result<(), EpilinkError> {
    for (index, record) in database.iter().enumerate() {
        check_record(config, record).map_err(|source| EpilinkError::Database { index, source })?;
    }
    Ok(())
}
