//! Every gadget on the plaintext backend against plain Rust integer
//! arithmetic, on random inputs (proptest) and on edge cases.

mod circuit_support;

use circuit_support::{Case, Op, Owner, any_case, case, reference, run_plain};
use mpc_core::Lanes;
use mpc_core::circuit::gadgets::{self, AdderKind};
use mpc_core::circuit::plain::PlainBuilder;
use mpc_core::circuit::{Builder, CircuitError};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, ..ProptestConfig::default() })]

    #[test]
    fn gadgets_match_integer_arithmetic(c in any_case(70)) {
        prop_assert_eq!(run_plain(&c), reference(&c), "case {:?}", c);
    }

    /// The EpiLink shape: Dice-style quotient x/y <= 1 with only
    /// precision + 1 quotient bits computed.
    #[test]
    fn bounded_fixed_point_division(
        k in adder(),
        pairs in proptest::collection::vec((0u128..1024, 1u128..1024), 1..70),
        p in 0usize..=12,
    ) {
        let values = vec![
            pairs.iter().map(|&(x, y)| x.min(y)).collect(),
            pairs.iter().map(|&(x, y)| x.max(y)).collect(),
        ];
        let c = Case { op: Op::DivFixed(k, p, p + 1), widths: vec![10, 10], owners: vec![Owner::Client; 2], values };
        prop_assert_eq!(run_plain(&c), reference(&c));
    }

    #[test]
    fn wide_words(k in adder(), c in (1usize..=5).prop_flat_map(|l| case(Op::Add(AdderKind::Ripple), vec![128, 128], l))) {
        let c = Case { op: Op::Add(k), ..c };
        prop_assert_eq!(run_plain(&c), reference(&c));
        let s = Case { op: Op::Lt, ..c.clone() };
        prop_assert_eq!(run_plain(&s), reference(&s));
    }
}

fn adder() -> impl Strategy<Value = AdderKind> {
    prop_oneof![Just(AdderKind::Ripple), Just(AdderKind::LogDepth)]
}

fn fixed(op: Op, widths: Vec<usize>, values: Vec<Vec<u128>>) -> Case {
    let owners = vec![Owner::Client; widths.len()];
    Case {
        op,
        widths,
        owners,
        values,
    }
}

#[test]
fn edge_cases_zeros_max_and_ties() {
    let m = u128::from(u16::MAX);
    let a = vec![0, m, m, 0, 7, 12345];
    let b = vec![0, m, 0, m, 7, 12346];
    for op in [
        Op::Add(AdderKind::Ripple),
        Op::Add(AdderKind::LogDepth),
        Op::AddCarry(AdderKind::LogDepth),
        Op::Sub(AdderKind::Ripple),
        Op::SubBorrow(AdderKind::LogDepth),
        Op::Lt,
        Op::Gt,
        Op::Le,
        Op::Ge,
        Op::Eq,
        Op::Ne,
        Op::Mul(AdderKind::Ripple, 32),
        Op::Mul(AdderKind::LogDepth, 16),
        Op::Div(AdderKind::Ripple, 16),
        Op::DivFixed(AdderKind::LogDepth, 8, 24),
    ] {
        let c = fixed(op, vec![16, 16], vec![a.clone(), b.clone()]);
        assert_eq!(run_plain(&c), reference(&c), "{:?}", c.op);
    }
}

#[test]
fn argmax_edge_cases() {
    // N = 1.
    let c = fixed(Op::ArgmaxLanes, vec![8], vec![vec![42]]);
    assert_eq!(run_plain(&c), vec![vec![42], vec![0]]);
    let c = fixed(Op::Argmax, vec![8], vec![vec![42, 0]]);
    assert_eq!(run_plain(&c), vec![vec![42, 0], vec![0, 0]]);
    // All equal: the lowest index wins.
    let c = fixed(Op::ArgmaxLanes, vec![8], vec![vec![9; 13]]);
    assert_eq!(run_plain(&c), vec![vec![9], vec![0]]);
    // Ties at the maximum across subtrees, non-power-of-two N.
    let c = fixed(Op::ArgmaxLanes, vec![8], vec![vec![1, 5, 5, 5, 0, 5, 2]]);
    assert_eq!(run_plain(&c), vec![vec![5], vec![1]]);
    // Maximum in the odd leftover.
    let c = fixed(Op::ArgmaxLanes, vec![8], vec![vec![1, 2, 3, 4, 200]]);
    assert_eq!(run_plain(&c), vec![vec![200], vec![4]]);
    // Separate candidates with ties per lane.
    let c = fixed(
        Op::Argmax,
        vec![4; 5],
        vec![vec![3, 0], vec![7, 0], vec![7, 0], vec![1, 0], vec![7, 1]],
    );
    assert_eq!(run_plain(&c), vec![vec![7, 1], vec![1, 4]]);
    for n in [1usize, 2, 3, 7, 64, 65, 100] {
        let vals: Vec<u128> = (0..n as u128).map(|i| (i * 37) % 11).collect();
        let c = fixed(Op::ArgmaxLanes, vec![4], vec![vals]);
        assert_eq!(run_plain(&c), reference(&c), "N = {n}");
    }
}

#[test]
fn division_by_zero_gives_all_ones() {
    let c = fixed(
        Op::Div(AdderKind::Ripple, 6),
        vec![6, 4],
        vec![vec![0, 63, 5], vec![0, 0, 0]],
    );
    assert_eq!(run_plain(&c), vec![vec![63, 63, 63]]);
}

#[test]
fn popcount_edges() {
    for n in [1usize, 2, 3, 4, 7, 8, 63, 64, 65, 127] {
        let all = if n == 128 {
            u128::MAX
        } else {
            (1u128 << n) - 1
        };
        let c = fixed(Op::Popcount, vec![n], vec![vec![0, all, 1, all >> 1]]);
        assert_eq!(run_plain(&c), reference(&c), "n = {n}");
    }
}

#[test]
fn mistakes_are_errors_not_panics() {
    let mut b = PlainBuilder::new();
    let x = b.input_word(&[1, 2, 3], 4).expect("fits");
    let y = b.input_word(&[1, 2], 4).expect("fits");
    assert_eq!(
        gadgets::lt(&mut b, &x, &y),
        Err(CircuitError::LaneMismatch { left: 3, right: 2 })
    );
    assert!(matches!(
        b.input_word(&[16], 4),
        Err(CircuitError::ConstantTooWide { value: 16, bits: 4 })
    ));
    let s = b.splat(true, 3).expect("constant");
    let narrow = b.input_word(&[1, 1, 1], 2).expect("fits");
    assert!(matches!(
        gadgets::mux_word(&mut b, &s, &x, &narrow),
        Err(CircuitError::WidthMismatch { .. })
    ));
    assert!(matches!(
        gadgets::divide(&mut b, AdderKind::Ripple, &x, &x, 5),
        Err(CircuitError::Parameter { .. })
    ));
    assert!(matches!(
        gadgets::popcount(&mut b, &[]),
        Err(CircuitError::Empty { .. })
    ));
    assert!(matches!(
        gadgets::argmax(&mut b, &[]),
        Err(CircuitError::Empty { .. })
    ));
    let w = b.input(Lanes::zeros(3));
    assert!(matches!(
        b.slice_lanes(&w, 2, 2),
        Err(CircuitError::LaneRange { .. })
    ));
    assert!(matches!(
        b.gather_lanes(&w, &[3]),
        Err(CircuitError::LaneRange { .. })
    ));
    assert!(matches!(
        b.broadcast(&w, 5),
        Err(CircuitError::BroadcastWidth { lanes: 3 })
    ));
}

#[test]
fn lane_moves_on_words() {
    use mpc_core::circuit::word::{broadcast_word, concat_words, gather_word, slice_word};
    let mut b = PlainBuilder::new();
    let x = b.input_word(&[5, 6, 7, 8], 4).expect("fits");
    let s = slice_word(&mut b, &x, 1, 2).expect("in range");
    assert_eq!(b.word_values(&s).expect("values"), vec![6, 7]);
    let g = gather_word(&mut b, &x, &[3, 0, 0]).expect("in range");
    assert_eq!(b.word_values(&g).expect("values"), vec![8, 5, 5]);
    let one = slice_word(&mut b, &x, 2, 1).expect("in range");
    let br = broadcast_word(&mut b, &one, 3).expect("single lane");
    assert_eq!(b.word_values(&br).expect("values"), vec![7, 7, 7]);
    let cat = concat_words(&mut b, &[s, br]).expect("same width");
    assert_eq!(b.word_values(&cat).expect("values"), vec![6, 7, 7, 7, 7]);
}
