//! The study's score copy must be the reference at 8 and at 16 bits, and its
//! exact scores must respect the error bound at every precision.

use std::cmp::Ordering;

use mpc_core::epilink::synth::{Population, SynthOptions};
use protocol_spec::config::{Comparator, FieldBits, LinkageConfig, Record};
use protocol_spec::epilink::{link_records, record_score};
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

use super::febrl::{FebrlOptions, FebrlSet};
use super::score::{Scorer, cmp_continued, cmp_fraction, prepare};
use super::{FRAC_BITS, load_config, within_bound};

fn config() -> LinkageConfig {
    load_config(None).expect("the default configuration loads")
}

/// Random records: random Bloom filters of random density (sometimes all
/// zero), binary values from a small range so that equality happens, and
/// empty fields.
fn random_records(config: &LinkageConfig, rng: &mut ChaCha8Rng, count: usize) -> Vec<Record> {
    (0..count)
        .map(|_| {
            config
                .fields()
                .iter()
                .map(|spec| {
                    if rng.next_u32().is_multiple_of(8) {
                        return None;
                    }
                    let len = spec.bitlength.div_ceil(8) as usize;
                    let mut bytes = vec![0u8; len];
                    match spec.comparator {
                        Comparator::Dice => {
                            let density = rng.next_u32() % 5;
                            for b in bytes.iter_mut() {
                                let mut v = 0xffu8;
                                for _ in 0..density {
                                    v &= rng.next_u32() as u8;
                                }
                                *b = if density == 0 { 0 } else { v };
                            }
                        }
                        Comparator::Binary => bytes[0] = (rng.next_u32() % 3) as u8,
                    }
                    if spec.bitlength % 8 != 0 {
                        bytes[len - 1] &= (1u8 << (spec.bitlength % 8)) - 1;
                    }
                    FieldBits::from_le_bytes(spec.bitlength, &bytes)
                })
                .collect()
        })
        .collect()
}

/// Data sets for the tests: synthetic, FEBRL-like and random records.
fn data(config: &LinkageConfig) -> Vec<(Vec<Record>, Vec<Record>)> {
    let mut sets = Vec::new();
    for seed in [3, 11] {
        let p = Population::generate(
            config,
            &SynthOptions {
                database: 60,
                queries: 12,
                seed,
                ..SynthOptions::default()
            },
        )
        .expect("synthetic population");
        sets.push((p.queries, p.database));
    }
    let f = FebrlSet::generate(
        config,
        &FebrlOptions {
            database: 60,
            queries: 12,
            seed: 5,
            duplicates_in_database: 0.2,
            linked_fraction: 0.8,
            max_modifications: 3,
        },
    )
    .expect("FEBRL-like set");
    sets.push((f.queries, f.database));
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let queries = random_records(config, &mut rng, 12);
    // Near-copies of the queries make high scores and ties likely.
    let mut database = random_records(config, &mut rng, 40);
    database.extend(queries.iter().cloned());
    sets.push((queries, database));
    sets
}

#[test]
fn every_precision_reproduces_the_reference_bit_for_bit() {
    let base = config();
    let scorer = Scorer::new(&base, &FRAC_BITS);
    let (tm, tt) = (base.threshold_match_fp(), base.threshold_tentative_fp());
    let mut checked = 0;
    for (queries, database) in data(&base) {
        for (k, &bits) in FRAC_BITS.iter().enumerate() {
            let config = base
                .clone()
                .with_dice_fraction_bits(bits)
                .expect("8 and 16 are valid precisions");
            let reference = link_records(&config, &queries, &database).expect("valid records");
            for (query, expected) in queries.iter().zip(reference) {
                let q = prepare(query);
                let mut best: Option<(usize, super::score::Fixed)> = None;
                for (index, record) in database.iter().enumerate() {
                    let ours = scorer.score(&q, &prepare(record)).expect("fits").fixed[k];
                    let theirs = record_score(&config, query, record).expect("valid pair");
                    assert_eq!(
                        (ours.numerator, ours.denominator),
                        (theirs.numerator, theirs.denominator),
                        "record {index} at {bits} bits"
                    );
                    checked += 1;
                    if best.is_none_or(|(_, b)| ours.cmp_ratio(&b) == Ordering::Greater) {
                        best = Some((index, ours));
                    }
                }
                let (index, score) = best.expect("non-empty database");
                assert_eq!(index, expected.best_index);
                assert_eq!(score.reaches(tm, bits), expected.is_match);
                assert_eq!(score.reaches(tt, bits), expected.tentative);
            }
        }
    }
    assert!(checked > 2_000, "only {checked} pairs compared");
}

#[test]
fn exact_scores_lie_within_the_floor_bound_at_every_precision() {
    let config = config();
    let scorer = Scorer::new(&config, &FRAC_BITS);
    let mut strictly_above = [0usize; FRAC_BITS.len()];
    for (queries, database) in data(&config) {
        for query in &queries {
            let q = prepare(query);
            for record in &database {
                let scores = scorer.score(&q, &prepare(record)).expect("fits");
                for (k, f) in scores.fixed.iter().enumerate() {
                    assert!(within_bound(&scores.exact, f, FRAC_BITS[k]));
                    let (n, d) = f.as_fraction(FRAC_BITS[k]);
                    if cmp_fraction(scores.exact.n, scores.exact.d, n, d) == Ordering::Greater {
                        strictly_above[k] += 1;
                    }
                }
            }
        }
    }
    // The floor really loses something, more often at 8 bits than at 16.
    assert!(strictly_above[0] > 0 && strictly_above[0] >= strictly_above[1]);
}

#[test]
fn continued_fraction_comparison_agrees_with_cross_multiplication() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    for _ in 0..20_000 {
        let mut small = || u128::from(rng.next_u32() % 1_000);
        let (an, ad, bn, bd) = (small(), small() + 1, small(), small() + 1);
        assert_eq!(cmp_continued(an, ad, bn, bd), (an * bd).cmp(&(bn * ad)));
    }
    // Values whose cross products overflow 128 bits still compare exactly.
    let big = u128::MAX / 3;
    assert_eq!(cmp_fraction(big, big - 1, big - 1, big - 2), Ordering::Less);
    assert_eq!(cmp_fraction(2 * 7, 2 * 9, 7, 9), Ordering::Equal);
}
