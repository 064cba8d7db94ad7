//! Property tests of the plaintext EpiLink reference over random
//! configurations (Dice and binary fields, exchange groups of 2 and 3) and
//! random records with empty fields.

use std::cmp::Ordering;

use proptest::prelude::*;
use protocol_spec::config::{Comparator, FieldBits, FieldSpec, FieldType, LinkageConfig, Record};
use protocol_spec::epilink::{
    best_record, binary_similarity, dice_similarity, link_record, link_records, match_records,
    pairings, record_score,
};

/// The kinds of field the generator uses. Bit lengths that are not a multiple
/// of 8 exercise the padding rule of `FieldBits`.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Dice(u32),
    Binary(u32),
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        Just(Kind::Dice(12)),
        Just(Kind::Dice(20)),
        Just(Kind::Binary(2)),
        Just(Kind::Binary(9)),
    ]
}

/// A block of fields of one kind; a block of two or three fields is an
/// exchange group when `grouped`.
#[derive(Debug, Clone)]
struct Block {
    kind: Kind,
    size: usize,
    grouped: bool,
}

/// Builds the configuration; with `equal_group_weights` every field of an
/// exchange group gets the frequency and error rate of the group's first
/// field, hence the same weight.
fn build_config(
    blocks: &[Block],
    params: &[(f64, f64)],
    thresholds: (f64, f64),
    equal_group_weights: bool,
    fraction_bits: u32,
) -> LinkageConfig {
    let mut fields = Vec::new();
    let mut groups = Vec::new();
    for block in blocks {
        let mut names = Vec::new();
        let first = fields.len();
        for _ in 0..block.size {
            let same = equal_group_weights && block.grouped;
            let (frequency, error_rate) =
                params[if same { first } else { fields.len() } % params.len()];
            let name = format!("f{}", fields.len());
            let (comparator, field_type, bitlength) = match block.kind {
                Kind::Dice(bits) => (Comparator::Dice, FieldType::Bitmask, bits),
                Kind::Binary(bits) => (Comparator::Binary, FieldType::Integer, bits),
            };
            fields.push(FieldSpec {
                name: name.clone(),
                frequency,
                error_rate,
                comparator,
                field_type,
                bitlength,
            });
            names.push(name);
        }
        if block.grouped && block.size >= 2 {
            groups.push(names);
        }
    }
    LinkageConfig::new(fields, &groups, thresholds.0, thresholds.1)
        .and_then(|c| c.with_dice_fraction_bits(fraction_bits))
        .expect("generated configuration is valid")
}

fn config() -> impl Strategy<Value = LinkageConfig> {
    config_with(false)
}

fn config_with(equal_group_weights: bool) -> impl Strategy<Value = LinkageConfig> {
    let block = (kind(), 1usize..=3, any::<bool>()).prop_map(|(kind, size, grouped)| Block {
        kind,
        size,
        grouped,
    });
    (
        prop::collection::vec(block, 1..=4),
        // frequency ≤ 0.5 and error rate < 0.1 keep every weight positive.
        prop::collection::vec((0.001f64..0.5, 0.0f64..0.1), 12),
        0.05f64..=1.0,
        0.05f64..=1.0,
        // The default 8, the finest 16, and any precision between.
        prop_oneof![Just(8u32), Just(16u32), 8u32..=16],
    )
        .prop_map(move |(blocks, params, tm, tt, bits)| {
            build_config(&blocks, &params, (tm, tt), equal_group_weights, bits)
        })
}

/// A value for a field of `spec`: random filter bits, or a small integer so
/// that binary fields are often equal.
fn value(spec: &FieldSpec) -> BoxedStrategy<FieldBits> {
    let bits = spec.bitlength;
    match spec.comparator {
        Comparator::Dice => prop::collection::vec(any::<u8>(), bits.div_ceil(8) as usize)
            .prop_map(move |mut bytes| {
                if !bits.is_multiple_of(8) {
                    let last = bytes.len() - 1;
                    bytes[last] &= (1u8 << (bits % 8)) - 1;
                }
                FieldBits::from_le_bytes(bits, &bytes).expect("masked to the bit length")
            })
            .boxed(),
        Comparator::Binary => (0u8..3)
            .prop_map(move |v| FieldBits::from_le_bytes(bits, &[v]).expect("fits in 2 bits"))
            .boxed(),
    }
}

/// A record with each field empty with probability 1/5.
fn record(config: &LinkageConfig) -> impl Strategy<Value = Record> + use<> {
    let fields: Vec<_> = config
        .fields()
        .iter()
        .map(|spec| prop::option::weighted(0.8, value(spec)))
        .collect();
    fields
}

/// A record without empty fields whose Bloom filters all have a set bit.
fn full_record(config: &LinkageConfig) -> impl Strategy<Value = Record> + use<> {
    let fields: Vec<_> = config
        .fields()
        .iter()
        .map(|spec| {
            value(spec)
                .prop_filter("a Bloom filter with a set bit", |v| v.count_ones() > 0)
                .prop_map(Some)
        })
        .collect();
    fields
}

#[derive(Debug, Clone)]
struct Case {
    config: LinkageConfig,
    queries: Vec<Record>,
    database: Vec<Record>,
    /// One random key per field, to build permutations of exchange groups.
    keys: Vec<u32>,
}

fn case() -> impl Strategy<Value = Case> {
    case_with(false)
}

fn case_with(equal_group_weights: bool) -> impl Strategy<Value = Case> {
    config_with(equal_group_weights).prop_flat_map(|config| {
        let n = config.fields().len();
        (
            prop::collection::vec(record(&config), 1..4),
            prop::collection::vec(record(&config), 0..6),
            prop::collection::vec(any::<u32>(), n),
            Just(config),
        )
            .prop_map(|(queries, database, keys, config)| Case {
                config,
                queries,
                database,
                keys,
            })
    })
}

fn bloom_pair() -> impl Strategy<Value = (FieldBits, FieldBits)> {
    (1u32..40).prop_flat_map(|bits| {
        let bytes = bits.div_ceil(8) as usize;
        let filter = prop::collection::vec(any::<u8>(), bytes).prop_map(move |mut b| {
            if !bits.is_multiple_of(8) {
                b[bytes - 1] &= (1u8 << (bits % 8)) - 1;
            }
            FieldBits::from_le_bytes(bits, &b).unwrap()
        });
        (filter.clone(), filter)
    })
}

/// All permutations of `0..k`, by plain recursion (independent of the
/// reference's odometer).
fn all_permutations(k: usize) -> Vec<Vec<usize>> {
    if k == 0 {
        return vec![vec![]];
    }
    let mut out = Vec::new();
    for smaller in all_permutations(k - 1) {
        for pos in 0..=smaller.len() {
            let mut p = smaller.clone();
            p.insert(pos, k - 1);
            out.push(p);
        }
    }
    out
}

/// An independent floating-point model of the score: real Dice values, the
/// same integer weights, the maximum over every joint permutation.
fn real_score(config: &LinkageConfig, query: &Record, db: &Record) -> f64 {
    let mut partner_tables: Vec<Vec<usize>> = vec![(0..config.fields().len()).collect()];
    for group in config.exchange_groups() {
        let mut next = Vec::new();
        for table in &partner_tables {
            for p in all_permutations(group.len()) {
                let mut t = table.clone();
                for (m, &pm) in p.iter().enumerate() {
                    t[group[m]] = group[pm];
                }
                next.push(t);
            }
        }
        partner_tables = next;
    }
    let mut best = 0.0f64;
    for partners in partner_tables {
        let (mut num, mut den) = (0.0f64, 0.0f64);
        for (i, &j) in partners.iter().enumerate() {
            let (Some(a), Some(b)) = (&query[i], &db[j]) else {
                continue;
            };
            let sim = match config.fields()[i].comparator {
                Comparator::Dice => {
                    let common: u32 = a
                        .as_bytes()
                        .iter()
                        .zip(b.as_bytes())
                        .map(|(x, y)| (x & y).count_ones())
                        .sum();
                    let total = a.count_ones() + b.count_ones();
                    if total == 0 {
                        0.0
                    } else {
                        2.0 * f64::from(common) / f64::from(total)
                    }
                }
                Comparator::Binary => f64::from(u8::from(a == b)),
            };
            let w = config.pair_weight(i, j) as f64;
            num += w * sim;
            den += w;
        }
        if den > 0.0 {
            best = best.max(num / den);
        }
    }
    best
}

/// `db` with the values of every exchange group permuted by the order of
/// `keys` on the group's fields.
fn permute_groups(config: &LinkageConfig, db: &Record, keys: &[u32]) -> Record {
    let mut out = db.clone();
    for group in config.exchange_groups() {
        let mut order = group.clone();
        order.sort_by_key(|&f| (keys[f], f));
        for (&target, &source) in group.iter().zip(&order) {
            out[target] = db[source].clone();
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn dice_is_symmetric_bounded_and_one_on_itself((a, b) in bloom_pair(), f in 8u32..=16) {
        let one = 1u64 << f;
        prop_assert_eq!(dice_similarity(&a, &b, f), dice_similarity(&b, &a, f));
        prop_assert!(dice_similarity(&a, &b, f) <= one);
        if a.count_ones() > 0 {
            prop_assert_eq!(dice_similarity(&a, &a, f), one);
        } else {
            prop_assert_eq!(dice_similarity(&a, &a, f), 0);
        }
        prop_assert_eq!(binary_similarity(&a, &a, f), one);
        prop_assert_eq!(binary_similarity(&a, &b, f) == one, a == b);
        // Fewer fractional bits: the 16-bit value with the low bits cut off
        // (floor of a floor), so never larger, less than 2^-f below.
        prop_assert_eq!(dice_similarity(&a, &b, f), dice_similarity(&a, &b, 16) >> (16 - f));
    }

    #[test]
    fn score_is_a_fraction_in_zero_one_within_the_error_bound(case in case()) {
        let cfg = &case.config;
        for query in &case.queries {
            for db in &case.database {
                let s = record_score(cfg, query, db).unwrap();
                // 0 ≤ N/D ≤ 2^F, and N = 0 when D = 0.
                let one = cfg.similarity_one();
                prop_assert!(u128::from(s.numerator) <= u128::from(one) * u128::from(s.denominator));
                if s.denominator == 0 {
                    prop_assert_eq!(s.numerator, 0);
                }
                // Floor of each similarity: fp ≤ real < fp + 2^-F (float slack 1e-9).
                let (n, d) = s.ratio();
                let fp = n as f64 / d as f64 / one as f64;
                let real = real_score(cfg, query, db);
                prop_assert!(fp <= real + 1e-9, "fp {} above real {}", fp, real);
                prop_assert!(real - fp < 1.0 / one as f64 + 1e-9, "fp {} too far below real {}", fp, real);
            }
        }
    }

    #[test]
    fn pairings_are_all_distinct_and_their_number_is_the_product_of_factorials(cfg in config()) {
        let all: Vec<_> = pairings(&cfg).map(|p| p.permutations().to_vec()).collect();
        let expected: usize = cfg
            .exchange_groups()
            .iter()
            .map(|g| (1..=g.len()).product::<usize>())
            .product();
        prop_assert_eq!(all.len(), expected);
        prop_assert!(all.windows(2).all(|w| w[0] < w[1]));
    }

    /// Holds when the fields of each group weigh the same. With different
    /// weights it does not: a cross pair weighs the mean of both weights
    /// (see the hand-computed case in epilink_cases.rs).
    #[test]
    fn permuting_a_group_in_the_database_record_keeps_the_best_score(case in case_with(true)) {
        let cfg = &case.config;
        for group in cfg.exchange_groups() {
            prop_assert!(group.iter().all(|&f| cfg.weight(f) == cfg.weight(group[0])));
        }
        for query in &case.queries {
            for db in &case.database {
                let permuted = permute_groups(cfg, db, &case.keys);
                let a = record_score(cfg, query, db).unwrap();
                let b = record_score(cfg, query, &permuted).unwrap();
                prop_assert_eq!(a.cmp_ratio(&b), Ordering::Equal, "{:?} vs {:?}", a, b);
            }
        }
    }

    #[test]
    fn appending_a_record_changes_the_best_only_if_strictly_better(
        (case, extra) in case().prop_flat_map(|c| { let r = record(&c.config); (Just(c), r) })
    ) {
        let cfg = &case.config;
        let query = &case.queries[0];
        let before = best_record(cfg, query, &case.database).unwrap();
        let mut longer = case.database.clone();
        longer.push(extra.clone());
        let after = link_record(cfg, query, &longer).unwrap();
        let extra_score = record_score(cfg, query, &extra).unwrap();
        match before {
            None => prop_assert_eq!(after.best_index, 0),
            Some(best) => {
                let expected = if extra_score.cmp_ratio(&best.score) == Ordering::Greater {
                    case.database.len()
                } else {
                    best.index
                };
                prop_assert_eq!(after.best_index, expected);
                if extra_score.cmp_ratio(&best.score) == Ordering::Less {
                    prop_assert_eq!(after, link_record(cfg, query, &case.database).unwrap());
                }
            }
        }
    }

    #[test]
    fn many_queries_equal_separate_runs_and_counts_equal_the_bits(case in case()) {
        let cfg = &case.config;
        let results = link_records(cfg, &case.queries, &case.database).unwrap();
        prop_assert_eq!(results.len(), case.queries.len());
        for (query, result) in case.queries.iter().zip(&results) {
            prop_assert_eq!(*result, link_record(cfg, query, &case.database).unwrap());
            prop_assert!(result.best_index < case.database.len().max(1));
        }
        let counts = match_records(cfg, &case.queries, &case.database).unwrap();
        prop_assert_eq!(counts.matches, results.iter().filter(|r| r.is_match).count() as u64);
        prop_assert_eq!(counts.tentative, results.iter().filter(|r| r.tentative).count() as u64);
    }

    #[test]
    fn a_record_equal_to_the_query_always_matches(
        (case, query, position) in case().prop_flat_map(|c| {
            let q = full_record(&c.config);
            let len = c.database.len();
            (Just(c), q, 0..=len)
        })
    ) {
        let cfg = &case.config;
        let mut database = case.database.clone();
        database.insert(position, query.clone());
        let result = link_record(cfg, &query, &database).unwrap();
        prop_assert!(result.is_match && result.tentative);
        // Score 1 is the maximum, so the best is the first record scoring 1.
        prop_assert!(result.best_index <= position);
        let best = record_score(cfg, &query, &database[result.best_index]).unwrap();
        prop_assert_eq!(best.numerator, cfg.similarity_one() * best.denominator);
    }
}
