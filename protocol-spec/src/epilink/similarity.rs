//! Similarity of two field values, fixed point with `F` fractional bits
//! (the configuration's [`LinkageConfig::dice_fraction_bits`], 8 to 16):
//! `2^F` is "identical", 0 is "nothing in common".
//!
//! The values are floored, never rounded: a Boolean division circuit computes
//! the floor of a quotient directly, and the floor keeps every similarity in
//! `[0, 2^F]` and less than 2^-F below its real value, never above it
//! (SPEC.md §5, "error bound"): a threshold decision can only be demoted by
//! the rounding, never promoted to a false match.

use crate::config::{Comparator, FieldBits, LinkageConfig, MAX_DICE_FRACTION_BITS, Record};

use super::{EpilinkError, check_pair};

/// `|a ∧ b|`: the number of bit positions set in both values.
///
/// Bytes beyond the shorter value count as zero, so values of different
/// lengths behave as if the shorter one were zero-padded.
fn common_ones(a: &FieldBits, b: &FieldBits) -> u64 {
    a.as_bytes()
        .iter()
        .zip(b.as_bytes())
        .map(|(x, y)| u64::from((x & y).count_ones()))
        .sum()
}

/// Dice coefficient of two Bloom filters with `fraction_bits` (`F`)
/// fractional bits: `floor(2^F · 2|a∧b| / (|a| + |b|))`, and 0 when neither
/// filter has a bit set (`|a| + |b| = 0`).
///
/// Two all-zero filters are *not* similar: an empty Bloom filter carries no
/// evidence. (The field still counts in the denominator of the score, since it
/// is present on both sides; only a missing field drops out.)
///
/// Exact in `u64`: `|a∧b| ≤ 2^16` (the largest bit length) and
/// `F ≤ 16`, so the dividend is at most 2^33. `F` is expected in
/// `0..=16` (a validated configuration has 8 to 16); larger values are
/// clamped to 16 so the function cannot overflow.
pub fn dice_similarity(a: &FieldBits, b: &FieldBits, fraction_bits: u32) -> u64 {
    let common = common_ones(a, b);
    let total = u64::from(a.count_ones()) + u64::from(b.count_ones());
    if total == 0 {
        return 0;
    }
    // 2c ≤ total because c ≤ min(|a|, |b|), so the result is at most 2^F.
    ((2 * common) << fraction_bits.min(MAX_DICE_FRACTION_BITS)) / total
}

/// Binary comparator: `2^fraction_bits` (one) if every bit is equal,
/// otherwise 0. Exact at any `F`: the only error of the fixed point is in
/// Dice quotients.
///
/// Bits beyond the shorter value count as zero (a checked record always has
/// equal lengths within a compared pair).
pub fn binary_similarity(a: &FieldBits, b: &FieldBits, fraction_bits: u32) -> u64 {
    let len = a.as_bytes().len().max(b.as_bytes().len());
    let byte = |v: &FieldBits, k: usize| v.as_bytes().get(k).copied().unwrap_or(0);
    if (0..len).all(|k| byte(a, k) == byte(b, k)) {
        1 << fraction_bits.min(MAX_DICE_FRACTION_BITS)
    } else {
        0
    }
}

/// Similarity of two non-empty values under `comparator`, with `F =
/// fraction_bits` fractional bits.
pub fn field_similarity(
    comparator: Comparator,
    a: &FieldBits,
    b: &FieldBits,
    fraction_bits: u32,
) -> u64 {
    match comparator {
        Comparator::Dice => dice_similarity(a, b, fraction_bits),
        Comparator::Binary => binary_similarity(a, b, fraction_bits),
    }
}

/// Similarity of query field `i` and database field `j`, or `None` when
/// `δ(i, j) = 0`, i.e. either value is empty.
///
/// The comparator is the query field's; the fields of an exchange group share
/// their comparator, so it is the same on both sides for every compared pair.
/// The caller guarantees that both records were checked and `i`, `j` are
/// field indices.
pub(crate) fn pair_similarity(
    config: &LinkageConfig,
    query: &Record,
    database: &Record,
    i: usize,
    j: usize,
) -> Option<u64> {
    let a = query[i].as_ref()?;
    let b = database[j].as_ref()?;
    Some(field_similarity(
        config.fields()[i].comparator,
        a,
        b,
        config.dice_fraction_bits(),
    ))
}

/// The similarity of every field with the same field of the other record
/// (the identity pairing), `None` where the field is empty on either side.
///
/// Meant for tests and debugging: it shows what each field contributes before
/// exchange groups are considered. For the terms of any pairing see
/// [`super::score::pairing_terms`].
pub fn field_similarities(
    config: &LinkageConfig,
    query: &Record,
    database: &Record,
) -> Result<Vec<Option<u64>>, EpilinkError> {
    check_pair(config, query, database)?;
    Ok((0..config.fields().len())
        .map(|i| pair_similarity(config, query, database, i, i))
        .collect())
}
