//! Hand-computed cases for the plaintext EpiLink reference.
//!
//! Weights are chosen so that the quantisation is exact: with error rate 0
//! and frequency 2^-k the real weight is exactly k, so fields of real weight
//! 3, 2, 1 quantise to W = 1023, 682, 341 (the ratios 3:2:1 scaled to
//! WEIGHT_MAX = 1023). Every test first asserts the weights it relies on.
//!
//! The hand computations use 16 fractional bits (`config` selects them);
//! the default of 8 has its own cases at the end.

use std::cmp::Ordering;

use protocol_spec::config::{
    Comparator, ConfigError, FieldBits, FieldSpec, FieldType, LinkageConfig, Record,
};
use protocol_spec::epilink::{
    EpilinkError, LinkResult, MatchCounts, RecordError, Score, best_pairing, best_record,
    binary_similarity, dice_similarity, field_similarities, link_record, link_records,
    match_records, pairing_score, pairing_terms, pairings, record_score,
};

/// A field of real weight `log2(1 / frequency)` (error rate 0).
fn field(name: &str, frequency: f64, comparator: Comparator, bitlength: u32) -> FieldSpec {
    FieldSpec {
        name: name.into(),
        frequency,
        error_rate: 0.0,
        comparator,
        field_type: match comparator {
            Comparator::Dice => FieldType::Bitmask,
            Comparator::Binary => FieldType::Integer,
        },
        bitlength,
    }
}

/// A 16-bit Bloom filter with the given bits set.
fn bloom(bits: u16) -> Option<FieldBits> {
    FieldBits::from_le_bytes(16, &bits.to_le_bytes())
}

/// An 8-bit binary (integer) value.
fn int8(value: u8) -> Option<FieldBits> {
    FieldBits::from_le_bytes(8, &[value])
}

fn config(fields: Vec<FieldSpec>, groups: &[&[&str]], t_match: f64, t_tent: f64) -> LinkageConfig {
    let groups: Vec<Vec<String>> = groups
        .iter()
        .map(|g| g.iter().map(|s| s.to_string()).collect())
        .collect();
    LinkageConfig::new(fields, &groups, t_match, t_tent)
        .and_then(|c| c.with_dice_fraction_bits(16))
        .expect("valid test configuration")
}

/// 1.0 with 16 fractional bits.
const SIM_ONE: u64 = 1 << 16;

/// Two Dice fields of real weights 3 and 1: W = 1023 and 341, pair weights
/// 2046 and 682. Thresholds 0.9 / 0.7: T_m = 58982, T_t = 45875.
fn two_dice() -> LinkageConfig {
    let cfg = config(
        vec![
            field("a", 1.0 / 8.0, Comparator::Dice, 16),
            field("b", 1.0 / 2.0, Comparator::Dice, 16),
        ],
        &[],
        0.9,
        0.7,
    );
    assert_eq!((cfg.weight(0), cfg.weight(1)), (1023, 341));
    assert_eq!((cfg.pair_weight(0, 0), cfg.pair_weight(1, 1)), (2046, 682));
    assert_eq!(cfg.threshold_match_fp(), 58982);
    assert_eq!(cfg.threshold_tentative_fp(), 45875);
    cfg
}

fn score(numerator: u64, denominator: u64) -> Score {
    Score {
        numerator,
        denominator,
    }
}

#[test]
fn dice_and_binary_similarity_by_hand() {
    // |1111 ∧ 0111| = 3, |a| + |b| = 7: floor(65536 · 6/7) = floor(56173.71).
    assert_eq!(
        dice_similarity(&bloom(0b1111).unwrap(), &bloom(0b0111).unwrap(), 16),
        56173
    );
    // |11 ∧ 01| = 1, sum 3: floor(65536 · 2/3) = floor(43690.67).
    assert_eq!(
        dice_similarity(&bloom(0b11).unwrap(), &bloom(0b01).unwrap(), 16),
        43690
    );
    // Disjoint filters: 0. Identical non-zero filters: exactly 1.0.
    assert_eq!(
        dice_similarity(&bloom(0b1100).unwrap(), &bloom(0b0011).unwrap(), 16),
        0
    );
    assert_eq!(
        dice_similarity(&bloom(0xf0f0).unwrap(), &bloom(0xf0f0).unwrap(), 16),
        SIM_ONE
    );
    // Both filters without a set bit: 0, not 1 (no evidence).
    assert_eq!(
        dice_similarity(&bloom(0).unwrap(), &bloom(0).unwrap(), 16),
        0
    );
    assert_eq!(
        binary_similarity(&int8(7).unwrap(), &int8(7).unwrap(), 16),
        SIM_ONE
    );
    assert_eq!(
        binary_similarity(&int8(7).unwrap(), &int8(6).unwrap(), 16),
        0
    );
    assert_eq!(
        binary_similarity(&int8(0).unwrap(), &int8(0).unwrap(), 16),
        SIM_ONE
    );
}

#[test]
fn two_dice_fields_weighted_mean() {
    let cfg = two_dice();
    let query: Record = vec![bloom(0b1111), bloom(0b11)];
    let db: Record = vec![bloom(0b0111), bloom(0b01)];
    assert_eq!(
        field_similarities(&cfg, &query, &db).unwrap(),
        vec![Some(56173), Some(43690)]
    );
    // N = 2046·56173 + 682·43690 = 114929958 + 29796580 = 144726538
    // D = 2046 + 682 = 2728; N/D = 53052.25 (0.8095): tentative, not a match.
    assert_eq!(
        record_score(&cfg, &query, &db).unwrap(),
        score(144726538, 2728)
    );
    assert_eq!(
        link_record(&cfg, &query, std::slice::from_ref(&db)).unwrap(),
        LinkResult {
            is_match: false,
            tentative: true,
            best_index: 0
        }
    );
}

#[test]
fn empty_field_drops_out_of_numerator_and_denominator() {
    let cfg = two_dice();
    let db: Record = vec![bloom(0b0111), bloom(0b01)];
    // Empty on the query side: only field a counts.
    // N = 2046·56173 = 114929958, D = 2046; N/D = 56173 (0.857).
    let query: Record = vec![bloom(0b1111), None];
    assert_eq!(
        field_similarities(&cfg, &query, &db).unwrap(),
        vec![Some(56173), None]
    );
    assert_eq!(
        record_score(&cfg, &query, &db).unwrap(),
        score(114929958, 2046)
    );
    // Empty on the database side: the same.
    let query: Record = vec![bloom(0b1111), bloom(0b11)];
    let db_missing: Record = vec![bloom(0b0111), None];
    assert_eq!(
        record_score(&cfg, &query, &db_missing).unwrap(),
        score(114929958, 2046)
    );
}

#[test]
fn two_zero_filters_count_in_the_denominator_with_similarity_zero() {
    let cfg = two_dice();
    let query: Record = vec![bloom(0b1111), bloom(0)];
    let db: Record = vec![bloom(0b0111), bloom(0)];
    // δ = 1 for field b (both present) but sim = 0:
    // N = 2046·56173 = 114929958, D = 2728 (not 2046).
    assert_eq!(
        field_similarities(&cfg, &query, &db).unwrap(),
        vec![Some(56173), Some(0)]
    );
    assert_eq!(
        record_score(&cfg, &query, &db).unwrap(),
        score(114929958, 2728)
    );
}

/// First/last name as an exchange group, real weights 3 and 1
/// (W 1023 and 341); the cross pairs weigh 1023 + 341 = 1364.
fn names_group(t_match: f64) -> LinkageConfig {
    let cfg = config(
        vec![
            field("first", 1.0 / 8.0, Comparator::Dice, 16),
            field("last", 1.0 / 2.0, Comparator::Dice, 16),
        ],
        &[&["first", "last"]],
        t_match,
        0.7,
    );
    assert_eq!(cfg.pair_weight(0, 1), 1364);
    assert_eq!(cfg.pair_weight(1, 0), 1364);
    cfg
}

#[test]
fn exchange_group_of_two_swapped_names_score_higher() {
    let cfg = names_group(0.9);
    let (x, y) = (0b1111_0000_0000_1111u16, 0b0000_1111_1111_0000u16); // disjoint
    let query: Record = vec![bloom(x), bloom(y)];
    let db: Record = vec![bloom(y), bloom(x)]; // first and last name swapped
    let all: Vec<_> = pairings(&cfg).collect();
    assert_eq!(all.len(), 2);
    // Identity: sim(x, y) = sim(y, x) = 0, so N = 0, D = 2046 + 682 = 2728.
    assert_eq!(
        pairing_score(&cfg, &query, &db, &all[0]).unwrap(),
        score(0, 2728)
    );
    // Swapped: both pairs identical: N = 2·1364·65536 = 178782208, D = 2728.
    assert_eq!(
        pairing_score(&cfg, &query, &db, &all[1]).unwrap(),
        score(178782208, 2728)
    );
    let best = best_pairing(&cfg, &query, &db).unwrap();
    assert_eq!(best.pairing.permutations(), &[vec![1, 0]]);
    assert_eq!(best.pairing.partners(), &[1, 0]);
    assert_eq!(best.score, score(178782208, 2728));
    let result = link_record(&cfg, &query, &[db]).unwrap();
    assert!(result.is_match && result.tentative);
}

#[test]
fn permuting_a_group_with_unequal_weights_changes_the_score() {
    // The weight of a compared pair is the mean of both fields' weights, so
    // moving a value to the other field of the group changes its weight.
    let cfg = names_group(0.9);
    let (x, y) = (0x00ffu16, 0xff00u16);
    let y_half = 0x0ff0u16; // sim(y, y_half) = 2·4/(8+8) = 0.5 → 32768
    let query: Record = vec![bloom(x), bloom(y)];
    // In place: identity, N = 2046·65536 + 682·32768 = 134086656 + 22347776
    // = 156434432, D = 2728 → 57344 (0.875).
    let in_place: Record = vec![bloom(x), bloom(y_half)];
    assert_eq!(
        record_score(&cfg, &query, &in_place).unwrap(),
        score(156434432, 2728)
    );
    // Swapped in the database: the best pairing is the swap, with cross
    // weights 1364: N = 1364·65536 + 1364·32768 = 134086656, D = 2728
    // → 49152 (0.75). (The identity gives sim(x, y_half) = 2·4/16 = 0.5 and
    // sim(y, x) = 0: N = 2046·32768 = 67043328, lower.)
    let swapped: Record = vec![bloom(y_half), bloom(x)];
    assert_eq!(
        record_score(&cfg, &query, &swapped).unwrap(),
        score(134086656, 2728)
    );
}

#[test]
fn exchange_group_of_three_finds_the_rotation() {
    // Real weights 3, 2, 1: W = 1023, 682, 341.
    let cfg = config(
        vec![
            field("vorname", 1.0 / 8.0, Comparator::Dice, 16),
            field("nachname", 1.0 / 4.0, Comparator::Dice, 16),
            field("geburtsname", 1.0 / 2.0, Comparator::Dice, 16),
        ],
        &[&["vorname", "nachname", "geburtsname"]],
        0.9,
        0.7,
    );
    assert_eq!(
        (cfg.weight(0), cfg.weight(1), cfg.weight(2)),
        (1023, 682, 341)
    );
    let (x, y, z) = (0x000fu16, 0x00f0u16, 0x0f00u16); // pairwise disjoint
    let query: Record = vec![bloom(x), bloom(y), bloom(z)];
    // Rotated: the database's vorname holds y, nachname z, geburtsname x.
    let db: Record = vec![bloom(y), bloom(z), bloom(x)];
    assert_eq!(pairings(&cfg).count(), 6);
    // Query vorname (x) must meet database position 2, nachname (y) position
    // 0, geburtsname (z) position 1: permutation [2, 0, 1].
    // Weights: (0,2) 1023+341 = 1364, (1,0) 682+1023 = 1705,
    // (2,1) 341+682 = 1023; D = 4092 = 2·(1023+682+341), N = 4092·65536.
    let best = best_pairing(&cfg, &query, &db).unwrap();
    assert_eq!(best.pairing.permutations(), &[vec![2, 0, 1]]);
    assert_eq!(best.pairing.partners(), &[2, 0, 1]);
    let terms = pairing_terms(&cfg, &query, &db, &best.pairing).unwrap();
    let weights: Vec<u64> = terms.iter().map(|t| t.weight).collect();
    assert_eq!(weights, vec![1364, 1705, 1023]);
    assert_eq!(best.score, score(4092 * 65536, 4092));

    // When all pairings tie, the representative is the first one: identity.
    let same: Record = vec![bloom(x), bloom(x), bloom(x)];
    let best = best_pairing(&cfg, &same, &same).unwrap();
    assert_eq!(best.pairing.permutations(), &[vec![0, 1, 2]]);
}

#[test]
fn empty_field_in_group_maximises_the_whole_record_not_the_group() {
    // Group {a (W 1023), b (W 341)} plus an ungrouped field c (W 1023).
    let cfg = config(
        vec![
            field("a", 1.0 / 8.0, Comparator::Dice, 16),
            field("b", 1.0 / 2.0, Comparator::Dice, 16),
            field("c", 1.0 / 8.0, Comparator::Dice, 16),
        ],
        &[&["a", "b"]],
        0.9,
        0.7,
    );
    let y = 0b1111u16;
    // sim(y, p) = 2·3/(4+6) = 0.6 → floor(39321.6) = 39321
    let p = 0b111_0000_0111u16;
    // sim(y, q) = 2·2/(4+4) = 0.5 → 32768
    let q = 0b11_0000_0011u16;
    let query: Record = vec![None, bloom(y), bloom(0xff00)];
    let db: Record = vec![bloom(p), bloom(q), bloom(0xff00)];
    let all: Vec<_> = pairings(&cfg).collect();
    // Identity: (a,a) δ=0; (b,b) 682·32768 = 22347776; (c,c) 2046·65536 = 134086656.
    // N = 156434432, D = 682 + 2046 = 2728; N/D = 57344 (0.875).
    assert_eq!(
        pairing_score(&cfg, &query, &db, &all[0]).unwrap(),
        score(156434432, 2728)
    );
    // Swap: (a,b) δ=0; (b,a) 1364·39321 = 53633844; (c,c) 134086656.
    // N = 187720500, D = 1364 + 2046 = 3410; N/D = 55050 (0.84).
    assert_eq!(
        pairing_score(&cfg, &query, &db, &all[1]).unwrap(),
        score(187720500, 3410)
    );
    // The group alone would prefer the swap (0.6 > 0.5, MainSEL's per-group
    // quotient), the whole record prefers the identity: the reference takes
    // the whole record's maximum.
    let best = best_pairing(&cfg, &query, &db).unwrap();
    assert_eq!(best.pairing.permutations(), &[vec![0, 1]]);
    assert_eq!(best.score, score(156434432, 2728));
}

/// Two binary fields of real weights 3 and 1 (pair weights 2046, 682).
fn two_binary(t_match: f64, t_tent: f64) -> LinkageConfig {
    let cfg = config(
        vec![
            field("year", 1.0 / 8.0, Comparator::Binary, 8),
            field("sex", 1.0 / 2.0, Comparator::Binary, 8),
        ],
        &[],
        t_match,
        t_tent,
    );
    assert_eq!((cfg.pair_weight(0, 0), cfg.pair_weight(1, 1)), (2046, 682));
    cfg
}

#[test]
fn score_exactly_at_the_threshold_matches_one_unit_above_does_not() {
    // Year equal, sex differs: N = 2046·65536 = 134086656, D = 2728,
    // N/D = 49152 = 0.75 · 2^16 exactly.
    let query: Record = vec![int8(80), int8(1)];
    let db: Record = vec![int8(80), int8(2)];
    let at = two_binary(0.75, 0.75);
    assert_eq!(at.threshold_match_fp(), 49152);
    assert_eq!(
        record_score(&at, &query, &db).unwrap(),
        score(134086656, 2728)
    );
    // N = T·D: 49152 · 2728 = 134086656. Non-strict ≥, so a match.
    assert_eq!(49152u64 * 2728, 134086656);
    let result = link_record(&at, &query, std::slice::from_ref(&db)).unwrap();
    assert!(result.is_match && result.tentative);

    // T = 49153 (one fixed-point unit above the score): T·D = N + 2728 > N.
    let above = two_binary(49153.0 / 65536.0, 49153.0 / 65536.0);
    assert_eq!(above.threshold_match_fp(), 49153);
    let result = link_record(&above, &query, std::slice::from_ref(&db)).unwrap();
    assert!(!result.is_match && !result.tentative);

    // The decision itself, one unit of N below the boundary.
    assert!(score(49152 * 2728, 2728).reaches(49152, 16));
    assert!(!score(49152 * 2728 - 1, 2728).reaches(49152, 16));
    // A zero denominator reaches no threshold, not even T = 0.
    assert!(!score(0, 0).reaches(0, 16));
    assert!(score(0, 5).reaches(0, 16));
}

#[test]
fn tentative_is_set_for_matches_and_follows_its_own_threshold() {
    let query: Record = vec![int8(80), int8(1)];
    let same: Record = vec![int8(80), int8(1)]; // score 1.0
    let half: Record = vec![int8(80), int8(2)]; // score 0.75
    // T_t ≤ T_m: a match is also tentative.
    let cfg = two_binary(0.9, 0.7);
    assert_eq!(
        link_record(&cfg, &query, std::slice::from_ref(&same)).unwrap(),
        LinkResult {
            is_match: true,
            tentative: true,
            best_index: 0
        }
    );
    // T_t > T_m: 0.75 reaches the match threshold 0.7 but not 0.8.
    let cfg = two_binary(0.7, 0.8);
    assert_eq!(
        link_record(&cfg, &query, std::slice::from_ref(&half)).unwrap(),
        LinkResult {
            is_match: true,
            tentative: false,
            best_index: 0
        }
    );
}

#[test]
fn ties_between_database_records_go_to_the_lowest_index() {
    let cfg = two_binary(0.9, 0.7);
    let query: Record = vec![int8(80), int8(1)];
    let poor: Record = vec![int8(81), int8(1)]; // 682·65536 / 2728 = 0.25
    let full: Record = vec![int8(80), int8(1)]; // 1.0, D = 2728
    let partial: Record = vec![int8(80), None]; // 1.0 as well, D = 2046
    let db = vec![poor.clone(), partial.clone(), full.clone(), full.clone()];
    // Records 1, 2 and 3 all score 1; the first of them wins even though
    // record 2 has the larger denominator (MainSEL would prefer it).
    let best = best_record(&cfg, &query, &db).unwrap().unwrap();
    assert_eq!(best.index, 1);
    assert_eq!(best.score, score(2046 * 65536, 2046));
    assert_eq!(
        best.score.cmp_ratio(&score(2728 * 65536, 2728)),
        Ordering::Equal
    );
    assert_eq!(link_record(&cfg, &query, &db).unwrap().best_index, 1);
    // A later record replaces the best only when strictly better.
    let db = vec![poor.clone(), poor, full];
    assert_eq!(link_record(&cfg, &query, &db).unwrap().best_index, 2);
}

#[test]
fn empty_database_gives_no_match_and_index_zero() {
    let cfg = two_binary(0.9, 0.7);
    let query: Record = vec![int8(80), int8(1)];
    assert_eq!(best_record(&cfg, &query, &[]).unwrap(), None);
    let expected = LinkResult {
        is_match: false,
        tentative: false,
        best_index: 0,
    };
    assert_eq!(link_record(&cfg, &query, &[]).unwrap(), expected);
    assert_eq!(
        match_records(&cfg, &[query.clone(), query], &[]).unwrap(),
        MatchCounts {
            matches: 0,
            tentative: 0
        }
    );
}

#[test]
fn all_empty_query_scores_zero_everywhere() {
    let cfg = two_binary(0.9, 0.7);
    let query: Record = vec![None, None];
    let db = vec![vec![int8(1), int8(2)], vec![int8(80), int8(1)]];
    // D = 0 for every record: every score is 0/1, the first record wins.
    let best = best_record(&cfg, &query, &db).unwrap().unwrap();
    assert_eq!(best.index, 0);
    assert_eq!(best.score, score(0, 0));
    assert_eq!(
        link_record(&cfg, &query, &db).unwrap(),
        LinkResult {
            is_match: false,
            tentative: false,
            best_index: 0
        }
    );
}

#[test]
fn only_binary_fields() {
    // Year (W 1023), month (W 682), day (W 341): pair weights 2046, 1364, 682.
    let cfg = config(
        vec![
            field("year", 1.0 / 8.0, Comparator::Binary, 8),
            field("month", 1.0 / 4.0, Comparator::Binary, 8),
            field("day", 1.0 / 2.0, Comparator::Binary, 8),
        ],
        &[],
        0.9,
        0.5,
    );
    let query: Record = vec![int8(84), int8(3), int8(17)];
    let db = vec![
        // Day differs: N = (2046 + 1364)·65536 = 223477760, D = 4092 → 0.833.
        vec![int8(84), int8(3), int8(18)],
        // Year differs: N = (1364 + 682)·65536 = 134086656, D = 4092 → 0.5.
        vec![int8(85), int8(3), int8(17)],
    ];
    assert_eq!(
        record_score(&cfg, &query, &db[0]).unwrap(),
        score(223477760, 4092)
    );
    assert_eq!(
        record_score(&cfg, &query, &db[1]).unwrap(),
        score(134086656, 4092)
    );
    // 0.833 is below 0.9 but above 0.5.
    assert_eq!(
        link_record(&cfg, &query, &db).unwrap(),
        LinkResult {
            is_match: false,
            tentative: true,
            best_index: 0
        }
    );
}

#[test]
fn only_dice_fields_many_queries() {
    let cfg = two_dice();
    let db: Vec<Record> = vec![
        vec![bloom(0x00ff), bloom(0xff00)],
        vec![bloom(0x0f0f), bloom(0xf0f0)],
    ];
    let queries: Vec<Record> = vec![
        // Equal to record 1: score 1 → match.
        vec![bloom(0x0f0f), bloom(0xf0f0)],
        // Against record 0: sim(0x00ff, 0x00ff) = 1, sim(0x00f0, 0xff00) = 2·0/(4+8) = 0.
        //   N = 2046·65536 = 134086656, D = 2728 → 49152 (0.75): tentative.
        // Against record 1: sim(0x00ff, 0x0f0f) = 2·4/16 = 0.5 → 32768,
        //   sim(0x00f0, 0xf0f0) = 2·4/(4+8) = 0.667 → 43690.
        //   N = 2046·32768 + 682·43690 = 67043328 + 29796580 = 96839908 → 35498.5 (0.54).
        vec![bloom(0x00ff), bloom(0x00f0)],
        // Nothing in common with anything: every score 0, index 0.
        vec![bloom(0xf000), bloom(0x000f)],
    ];
    assert_eq!(
        record_score(&cfg, &queries[1], &db[0]).unwrap(),
        score(134086656, 2728)
    );
    assert_eq!(
        record_score(&cfg, &queries[1], &db[1]).unwrap(),
        score(96839908, 2728)
    );
    let results = link_records(&cfg, &queries, &db).unwrap();
    let expected = [(true, true, 1), (false, true, 0), (false, false, 0)];
    for (result, (m, t, i)) in results.iter().zip(expected) {
        assert_eq!(
            *result,
            LinkResult {
                is_match: m,
                tentative: t,
                best_index: i
            }
        );
    }
    assert_eq!(
        match_records(&cfg, &queries, &db).unwrap(),
        MatchCounts {
            matches: 1,
            tentative: 2
        }
    );
}

#[test]
fn records_that_do_not_fit_the_configuration_are_rejected() {
    let cfg = two_dice();
    let good: Record = vec![bloom(1), bloom(1)];
    let short: Record = vec![bloom(1)];
    let wrong_bits: Record = vec![FieldBits::from_le_bytes(8, &[1]), bloom(1)];
    assert_eq!(
        link_record(&cfg, &good, &[good.clone(), good.clone(), short]),
        Err(EpilinkError::Database {
            index: 2,
            source: RecordError::FieldCount {
                expected: 2,
                actual: 1
            }
        })
    );
    assert_eq!(
        link_records(
            &cfg,
            &[good.clone(), wrong_bits],
            std::slice::from_ref(&good)
        ),
        Err(EpilinkError::Query {
            index: 1,
            source: RecordError::Bitlength {
                field: "a".into(),
                expected: 16,
                actual: 8
            }
        })
    );
    // A pairing of another configuration is refused, not misapplied.
    let three = config(
        vec![
            field("a", 1.0 / 8.0, Comparator::Dice, 16),
            field("b", 1.0 / 2.0, Comparator::Dice, 16),
            field("c", 1.0 / 2.0, Comparator::Dice, 16),
        ],
        &[],
        0.9,
        0.7,
    );
    let foreign = pairings(&three).next().unwrap();
    assert_eq!(
        pairing_score(&cfg, &good, &good, &foreign),
        Err(EpilinkError::PairingMismatch {
            expected: 2,
            actual: 3
        })
    );
    let message = link_record(&cfg, &good, &[vec![bloom(1)]])
        .unwrap_err()
        .to_string();
    assert_eq!(
        message,
        "database record 0 has 1 fields, but the configuration has 2"
    );
}

#[test]
fn pairings_enumerate_the_cartesian_product_in_lexicographic_order() {
    let cfg = config(
        vec![
            field("a", 1.0 / 8.0, Comparator::Dice, 16),
            field("b", 1.0 / 2.0, Comparator::Dice, 16),
            field("x", 1.0 / 8.0, Comparator::Binary, 8),
            field("c", 1.0 / 4.0, Comparator::Dice, 16),
            field("y", 1.0 / 4.0, Comparator::Binary, 8),
            field("z", 1.0 / 2.0, Comparator::Binary, 8),
        ],
        // Groups need not be contiguous nor in field order.
        &[&["c", "a", "b"], &["z", "x"]],
        0.9,
        0.7,
    );
    let all: Vec<Vec<Vec<usize>>> = pairings(&cfg).map(|p| p.permutations().to_vec()).collect();
    assert_eq!(all.len(), 12); // 3! · 2!
    assert!(all.windows(2).all(|w| w[0] < w[1]), "strictly increasing");
    assert_eq!(all[0], vec![vec![0, 1, 2], vec![0, 1]]);
    assert_eq!(all[1], vec![vec![0, 1, 2], vec![1, 0]]);
    assert_eq!(all[11], vec![vec![2, 1, 0], vec![1, 0]]);
    // Group 0 is [c, a, b] = fields [3, 0, 1]; permutation [1, 2, 0] pairs
    // query c with database a, query a with database b, query b with
    // database c. Group 1 is [z, x] = [5, 2]; [1, 0] swaps them.
    let p = pairings(&cfg)
        .find(|p| p.permutations() == [vec![1, 2, 0], vec![1, 0]])
        .unwrap();
    assert_eq!(p.partners(), &[1, 3, 5, 0, 4, 2]);
}

/// [`two_dice`] at the default precision, 8 fractional bits.
fn two_dice_8() -> LinkageConfig {
    let groups: [Vec<String>; 0] = [];
    let cfg = LinkageConfig::new(
        vec![
            field("a", 1.0 / 8.0, Comparator::Dice, 16),
            field("b", 1.0 / 2.0, Comparator::Dice, 16),
        ],
        &groups,
        0.9,
        0.7,
    )
    .expect("valid");
    assert_eq!(cfg.dice_fraction_bits(), 8);
    assert_eq!(cfg.similarity_one(), 256);
    // Thresholds keep 16 fractional bits at every precision.
    assert_eq!(cfg.threshold_match_fp(), 58982);
    cfg
}

#[test]
fn eight_bit_similarities_by_hand() {
    // floor(256 · 6/7) = floor(219.43); floor(256 · 2/3) = floor(170.67).
    assert_eq!(
        dice_similarity(&bloom(0b1111).unwrap(), &bloom(0b0111).unwrap(), 8),
        219
    );
    assert_eq!(
        dice_similarity(&bloom(0b11).unwrap(), &bloom(0b01).unwrap(), 8),
        170
    );
    assert_eq!(
        dice_similarity(&bloom(0xf0f0).unwrap(), &bloom(0xf0f0).unwrap(), 8),
        256
    );
    assert_eq!(
        dice_similarity(&bloom(0).unwrap(), &bloom(0).unwrap(), 8),
        0
    );
    assert_eq!(
        binary_similarity(&int8(7).unwrap(), &int8(7).unwrap(), 8),
        256
    );
    // Every precision between is the floor of the same quotient.
    for bits in 8..=16u32 {
        let expected = (6u64 << bits) / 7;
        assert_eq!(
            dice_similarity(&bloom(0b1111).unwrap(), &bloom(0b0111).unwrap(), bits),
            expected
        );
    }
    let cfg = two_dice_8();
    let query: Record = vec![bloom(0b1111), bloom(0b11)];
    let db: Record = vec![bloom(0b0111), bloom(0b01)];
    assert_eq!(
        field_similarities(&cfg, &query, &db).unwrap(),
        vec![Some(219), Some(170)]
    );
    // N = 2046·219 + 682·170 = 448074 + 115940 = 564014, D = 2728:
    // 206.75 / 256 = 0.8076, tentative, not a match (as at 16 bits).
    assert_eq!(
        record_score(&cfg, &query, &db).unwrap(),
        score(564014, 2728)
    );
    let result = link_record(&cfg, &query, std::slice::from_ref(&db)).unwrap();
    assert!(!result.is_match && result.tentative);
}

#[test]
fn eight_bit_decisions_compare_with_the_16_bit_threshold_exactly() {
    // 2^8 · N ≥ T · D: at N/D = 0.75 exactly (N = 2046·256, D = 2728),
    // 2^8 · 523776 = 134086656 = 49152 · 2728, so T = 49152 reaches and
    // T = 49153 does not: the threshold is not rounded to 8 bits (which
    // would make both 192/256).
    assert_eq!(2046u64 * 256 * 256, 49152 * 2728);
    assert!(score(2046 * 256, 2728).reaches(49152, 8));
    assert!(!score(2046 * 256, 2728).reaches(49153, 8));
    assert!(!score(2046 * 256 - 1, 2728).reaches(49152, 8));
    assert!(!score(0, 0).reaches(0, 8));
    // The same rational at 16 bits decides the same.
    assert!(score(2046 * 65536, 2728).reaches(49152, 16));
    assert!(!score(2046 * 65536, 2728).reaches(49153, 16));
}

#[test]
fn eight_bits_can_only_demote_a_score_just_above_the_threshold() {
    // One Dice field, sim 6/7 = 0.857142…; threshold 0.857 → T = 56164.
    // Exact: 6/7 · 65536 = 56173.7 ≥ 56164, a match; 16 bits: 56173 ≥
    // 56164, a match; 8 bits: 219 · 256 = 56064 < 56164, demoted (the
    // exact score lies in [T, T + 2^-8), where the floor may drop it).
    let groups: [Vec<String>; 0] = [];
    let fields = vec![field("a", 1.0 / 8.0, Comparator::Dice, 16)];
    let eight = LinkageConfig::new(fields, &groups, 0.857, 0.5).expect("valid");
    assert_eq!(eight.threshold_match_fp(), 56164);
    let sixteen = eight.clone().with_dice_fraction_bits(16).expect("valid");
    let query: Record = vec![bloom(0b1111)];
    let db = vec![vec![bloom(0b0111)]];
    let r16 = link_record(&sixteen, &query, &db).unwrap();
    let r8 = link_record(&eight, &query, &db).unwrap();
    assert!(r16.is_match && r16.tentative);
    assert!(!r8.is_match && r8.tentative);
}

#[test]
fn dice_fraction_bits_outside_8_to_16_are_rejected() {
    let cfg = two_dice_8();
    assert_eq!(
        cfg.clone().with_dice_fraction_bits(7),
        Err(ConfigError::DiceFractionBits { value: 7 })
    );
    assert_eq!(
        cfg.with_dice_fraction_bits(17),
        Err(ConfigError::DiceFractionBits { value: 17 })
    );
}
