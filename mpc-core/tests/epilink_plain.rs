//! The EpiLink circuit on the plaintext backend against the reference
//! `protocol_spec::epilink`, bit for bit: thousands of random
//! configurations and records, every edge family, several chunk sizes.

mod epilink_support;

use epilink_support::*;
use mpc_core::epilink::Carries;
use mpc_core::epilink::plain::{PlainOptions, link_records_plain, match_records_plain};
use proptest::prelude::*;
use protocol_spec::config::{Comparator, FieldType, LinkageConfig, Record};
use protocol_spec::epilink::{LinkResult, link_records, match_records};

fn check(
    config: &LinkageConfig,
    queries: &[Record],
    database: &[Record],
    lanes: usize,
    carries: Carries,
) {
    let opts = PlainOptions {
        carries,
        lanes_per_chunk: lanes,
        seed: 7,
        ..PlainOptions::default()
    };
    let want = link_records(config, queries, database).expect("reference");
    let got = link_records_plain(config, queries, database, &opts).expect("plaintext circuit");
    assert_eq!(
        got, want,
        "config {config:?}\nqueries {queries:?}\ndatabase {database:?}"
    );
    let counts = match_records_plain(config, queries, database, &opts).expect("matching");
    assert_eq!(
        counts,
        match_records(config, queries, database).expect("reference")
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, ..ProptestConfig::default() })]

    #[test]
    fn random_cases_match_the_reference(
        s in scenario(Mix::Any),
        qs in prop::collection::vec(prop::collection::vec(any::<u8>(), 5), 1..4),
        ds in prop::collection::vec(prop::collection::vec(any::<u8>(), 5), 0..10),
        lanes in 1usize..24,
        style in 0usize..3,
    ) {
        let carries = [Carries::MIN_GATES, Carries::BALANCED, Carries::MIN_ROUNDS][style];
        check(&s.config, &records(&s, &qs), &records(&s, &ds), lanes, carries);
    }

    #[test]
    fn dice_only_configurations(
        s in scenario(Mix::DiceOnly),
        qs in prop::collection::vec(prop::collection::vec(any::<u8>(), 5), 1..3),
        ds in prop::collection::vec(prop::collection::vec(any::<u8>(), 5), 1..8),
    ) {
        check(&s.config, &records(&s, &qs), &records(&s, &ds), 64, Carries::MIN_GATES);
    }

    #[test]
    fn binary_only_configurations(
        s in scenario(Mix::BinaryOnly),
        qs in prop::collection::vec(prop::collection::vec(any::<u8>(), 5), 1..3),
        ds in prop::collection::vec(prop::collection::vec(any::<u8>(), 5), 1..8),
    ) {
        check(&s.config, &records(&s, &qs), &records(&s, &ds), 5, Carries::MIN_GATES);
    }
}

#[test]
fn empty_database_gives_zero_results() {
    let config = default_config();
    let q = vec![empty_record(&config), empty_record(&config)];
    let got = link_records_plain(&config, &q, &[], &PlainOptions::default()).expect("runs");
    assert_eq!(
        got,
        vec![
            LinkResult {
                is_match: false,
                tentative: false,
                best_index: 0
            };
            2
        ]
    );
}

#[test]
fn all_empty_records_on_either_side() {
    let s = Scenario {
        config: default_config(),
        pools: vec![],
    };
    let pools = pools_for(&s.config, 99);
    let s = Scenario { pools, ..s };
    let full = record_from_choices(&s, &[0, 1, 2, 0, 1, 0, 1, 0]);
    let empty = empty_record(&s.config);
    for (q, d) in [
        (vec![empty.clone()], vec![full.clone(), full.clone()]),
        (
            vec![full.clone()],
            vec![empty.clone(), empty.clone(), full.clone()],
        ),
        (vec![empty.clone(), full.clone()], vec![empty.clone()]),
    ] {
        check(&s.config, &q, &d, 3, Carries::MIN_GATES);
        check(&s.config, &q, &d, 1000, Carries::MIN_ROUNDS);
    }
}

#[test]
fn exact_ties_take_the_lowest_index() {
    let s = Scenario {
        config: default_config(),
        pools: vec![],
    };
    let s = Scenario {
        pools: pools_for(&s.config, 5),
        ..s
    };
    let a = record_from_choices(&s, &[0, 1, 2, 0, 1, 0, 1, 0]);
    let b = record_from_choices(&s, &[1, 0, 2, 1, 1, 0, 0, 1]);
    // Duplicates of the best record at indices 2, 5 and 6, across chunks.
    let db = vec![
        b.clone(),
        b.clone(),
        a.clone(),
        b.clone(),
        b.clone(),
        a.clone(),
        a.clone(),
    ];
    for lanes in [1, 2, 3, 4, 7, 100] {
        check(
            &s.config,
            std::slice::from_ref(&a),
            &db,
            lanes,
            Carries::MIN_GATES,
        );
        let got = link_records_plain(
            &s.config,
            std::slice::from_ref(&a),
            &db,
            &PlainOptions {
                lanes_per_chunk: lanes,
                ..PlainOptions::default()
            },
        )
        .expect("runs");
        assert_eq!(got[0].best_index, 2);
    }
}

#[test]
fn scores_exactly_at_the_thresholds() {
    // Two binary fields of equal weight: one agreeing gives exactly 1/2,
    // both give 1; thresholds at exactly 0.5 and 1.0.
    let fields = vec![
        field("a", 0.1, 0.0, Comparator::Binary, FieldType::Integer, 4),
        field("b", 0.1, 0.0, Comparator::Binary, FieldType::Integer, 4),
    ];
    let config = LinkageConfig::new(fields, &[], 1.0, 0.5).expect("valid");
    let v = |x| Some(bits_from_u64(4, x));
    let query = vec![v(3), v(5)];
    for db in [
        vec![vec![v(3), v(6)]],
        vec![vec![v(3), v(5)]],
        vec![vec![v(1), v(6)]],
        vec![vec![v(3), None]],
    ] {
        check(
            &config,
            std::slice::from_ref(&query),
            &db,
            4,
            Carries::MIN_GATES,
        );
    }
    // A Dice pair at exactly the threshold: filters 0b0011 vs 0b0001,
    // Dice = 2·1/3 → floor(2^F·2/3): 170 at F = 8 (170·2^8 = 43520 on the
    // thresholds' 2^16 scale), 43690 at F = 16. Thresholds one unit below,
    // at and above that boundary; and the exact 2/3 (43690.67), which the
    // 8-bit floor demotes.
    let fields = vec![field(
        "d",
        0.01,
        0.0,
        Comparator::Dice,
        FieldType::Bitmask,
        8,
    )];
    for bits in PRECISIONS {
        let boundary = ((2u32 << bits) / 3) << (16 - bits);
        for t in [boundary - 1, boundary, boundary + 1, 43690, 43691] {
            let config = with_bits(
                &LinkageConfig::new(fields.clone(), &[], f64::from(t) / 65536.0, 0.5)
                    .expect("valid"),
                bits,
            );
            let q = vec![Some(bits_from_u64(8, 0b0011))];
            let d = vec![vec![Some(bits_from_u64(8, 0b0001))]];
            check(&config, std::slice::from_ref(&q), &d, 4, Carries::MIN_GATES);
            let got = link_records_plain(
                &config,
                std::slice::from_ref(&q),
                &d,
                &PlainOptions::default(),
            )
            .expect("runs");
            assert_eq!(got[0].is_match, t <= boundary, "t = {t}, F = {bits}");
        }
    }
}

#[test]
fn dice_edges_at_both_precisions() {
    for (config, queries, database) in dice_edge_cases() {
        for lanes in [3, 64] {
            check(&config, &queries, &database, lanes, Carries::MIN_GATES);
        }
        check(&config, &queries, &database, 5, Carries::MIN_ROUNDS);
    }
}

#[test]
fn exchange_groups_of_two_and_three() {
    for size in [2usize, 3] {
        let mut fields: Vec<_> = (0..size)
            .map(|i| {
                field(
                    &format!("n{i}"),
                    0.001 * (i + 1) as f64,
                    0.01,
                    Comparator::Dice,
                    FieldType::Bitmask,
                    32,
                )
            })
            .collect();
        fields.push(field(
            "y",
            0.03,
            0.0,
            Comparator::Binary,
            FieldType::Integer,
            12,
        ));
        let group: Vec<String> = (0..size).map(|i| format!("n{i}")).collect();
        let config = LinkageConfig::new(fields, &[group], 0.8, 0.6).expect("valid");
        let pools = pools_for(&config, 11 + size as u64);
        let s = Scenario { config, pools };
        let mut db = Vec::new();
        for x in 0u8..16 {
            db.push(record_from_choices(&s, &[x, x / 4, x / 2, x]));
        }
        for x in 0u8..12 {
            let q = record_from_choices(&s, &[x / 3, x, x / 2, 1]);
            check(
                &s.config,
                std::slice::from_ref(&q),
                &db,
                5,
                Carries::MIN_GATES,
            );
        }
    }
}

#[test]
fn default_configuration_with_random_values() {
    let config = default_config();
    let pools = pools_for(&config, 2024);
    let s = Scenario { config, pools };
    let mut state = 12345u64;
    let mut next = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) as u8
    };
    let db: Vec<Record> = (0..40)
        .map(|_| record_from_choices(&s, &(0..8).map(|_| next()).collect::<Vec<_>>()))
        .collect();
    let qs: Vec<Record> = (0..5)
        .map(|_| record_from_choices(&s, &(0..8).map(|_| next()).collect::<Vec<_>>()))
        .collect();
    for bits in PRECISIONS {
        let config = with_bits(&s.config, bits);
        check(&config, &qs, &db, 64, Carries::MIN_GATES);
        check(&config, &qs, &db, 7, Carries::MIN_ROUNDS);
    }
}
