//! The cost counter against hand-computed AND counts and depths, and
//! against the netlist the GMW engine evaluates.

mod circuit_support;

use circuit_support::{any_case, build, netlist};
use mpc_core::Party;
use mpc_core::circuit::cost::{Cost, CostCounter, CostWire};
use mpc_core::circuit::gadgets::{self, AdderKind};
use mpc_core::circuit::netlist::Reveal;
use mpc_core::circuit::{Builder, Word};
use proptest::prelude::*;

fn shared(c: &mut CostCounter, width: usize) -> Word<CostWire> {
    Word::from_bits((0..width).map(|_| c.shared_input(1)).collect())
}

fn cost_of(f: impl FnOnce(&mut CostCounter)) -> Cost {
    let mut c = CostCounter::new();
    f(&mut c);
    c.cost()
}

fn ceil_log2(k: usize) -> u32 {
    usize::BITS - (k - 1).leading_zeros()
}

#[test]
fn ripple_adder_has_k_minus_1_ands_and_depth_k_minus_1() {
    for k in 1..=64 {
        let c = cost_of(|c| {
            let (x, y) = (shared(c, k), shared(c, k));
            gadgets::add(c, AdderKind::Ripple, &x, &y).expect("adds");
        });
        assert_eq!(c.triple_ands, k as u64 - 1, "k = {k}");
        assert_eq!(c.depth, k as u32 - 1, "k = {k}");
        let c = cost_of(|c| {
            let (x, y) = (shared(c, k), shared(c, k));
            gadgets::add_with_carry(c, AdderKind::Ripple, &x, &y).expect("adds");
        });
        assert_eq!(
            (c.triple_ands, c.depth),
            (k as u64, k as u32),
            "k = {k} with carry"
        );
    }
}

#[test]
fn log_adder_depth_is_logarithmic() {
    for k in [2usize, 4, 8, 16, 32, 64] {
        let c = cost_of(|c| {
            let (x, y) = (shared(c, k), shared(c, k));
            gadgets::add_with_carry(c, AdderKind::LogDepth, &x, &y).expect("adds");
        });
        // generate bits (depth 1) then log2 k prefix levels.
        assert_eq!(c.depth, 1 + ceil_log2(k), "k = {k}");
    }
    // Sklansky on 8 bits with carry out: 8 generates, 12 G-combines (4 per
    // level) and the propagate combines of groups not reaching bit 0
    // (level 1: positions 3,5,7 -> 3... see below).
    let c = cost_of(|c| {
        let (x, y) = (shared(c, 8), shared(c, 8));
        gadgets::add_with_carry(c, AdderKind::LogDepth, &x, &y).expect("adds");
    });
    // Level span 1: i in {1,3,5,7}: 4 G-ANDs, P-ANDs for groups starting
    // above 0: {3,5,7} = 3. Span 2: i in {2,3,6,7}: 4 G, P for {6,7} = 2.
    // Span 4: i in {4..7}: 4 G, none. Total 8 + 12 + 5 = 25.
    assert_eq!(c.triple_ands, 25);
}

#[test]
fn comparator_counts() {
    for k in [1usize, 2, 4, 8, 16, 32, 64] {
        let c = cost_of(|c| {
            let (x, y) = (shared(c, k), shared(c, k));
            gadgets::lt(c, &x, &y).expect("compares");
        });
        let expect = k + (k - 1) + (k - 1 - ceil_log2(k) as usize);
        assert_eq!(c.triple_ands, expect as u64, "k = {k}");
        assert_eq!(c.depth, ceil_log2(k) + 1, "k = {k}");
    }
}

#[test]
fn equality_and_mux_counts() {
    for k in [1usize, 2, 3, 8, 17, 32] {
        let c = cost_of(|c| {
            let (x, y) = (shared(c, k), shared(c, k));
            gadgets::eq(c, &x, &y).expect("compares");
        });
        assert_eq!(
            (c.triple_ands, c.depth),
            (k as u64 - 1, ceil_log2(k)),
            "eq k = {k}"
        );
        let c = cost_of(|c| {
            let (x, y) = (shared(c, k), shared(c, k));
            let s = c.shared_input(1);
            gadgets::mux_word(c, &s, &x, &y).expect("muxes");
        });
        assert_eq!((c.triple_ands, c.depth), (k as u64, 1), "mux k = {k}");
    }
}

#[test]
fn multiplier_depth_is_logarithmic_with_the_log_adder() {
    for k in [8usize, 16, 32, 64] {
        let c = cost_of(|c| {
            let (x, y) = (shared(c, k), shared(c, k));
            gadgets::mul(c, AdderKind::LogDepth, &x, &y, 2 * k).expect("multiplies");
        });
        // Partial products (1) + Dadda stages (< log_{3/2} k) + prefix adder.
        assert!(
            c.depth <= 3 * ceil_log2(k) + 2,
            "k = {k}: depth {}",
            c.depth
        );
        // Shift-add: k^2 partial products plus about as many adder ANDs.
        assert!(
            c.triple_ands >= (k * k) as u64 && c.triple_ands <= 3 * (k * k) as u64,
            "k = {k}"
        );
    }
}

#[test]
fn popcount_is_close_to_n() {
    for n in [1usize, 2, 3, 7, 8, 15, 16, 100, 500] {
        let c = cost_of(|c| {
            let bits: Vec<_> = (0..n).map(|_| c.shared_input(1)).collect();
            gadgets::popcount(c, &bits).expect("counts");
        });
        // Lower bound n - HW(n); the carry-save tree stays within log2 n of it.
        let lower = n as u64 - u64::from((n as u64).count_ones());
        assert!(
            c.triple_ands >= lower && c.triple_ands <= lower + ceil_log2(n.max(2)) as u64,
            "n = {n}: {} ANDs",
            c.triple_ands
        );
    }
    let c = cost_of(|c| {
        let bits: Vec<_> = (0..7).map(|_| c.shared_input(1)).collect();
        gadgets::popcount(c, &bits).expect("counts");
    });
    assert_eq!(c.triple_ands, 4, "7 bits: four full adders");
}

#[test]
fn division_counts_epilink_shape() {
    // 10-bit x <= y, 8 bits of precision, 9 quotient bits.
    let c = cost_of(|c| {
        let (x, y) = (shared(c, 10), shared(c, 10));
        gadgets::divide_fixed(c, AdderKind::Ripple, &x, &y, 8, 9).expect("divides");
    });
    // Per quotient bit: 11 borrow-chain ANDs + 10 remainder muxes, the
    // first step muxing only the 10 live bits: at most 9 * 21 = 189.
    assert!(c.triple_ands <= 189, "{}", c.triple_ands);
    assert!(c.triple_ands >= 9 * 20, "{}", c.triple_ands);
}

#[test]
fn ownership_makes_gates_local_or_single_ot() {
    // Both inputs of the client: everything is local.
    let c = cost_of(|c| {
        let x = Word::from_bits((0..8).map(|_| c.input(Party::Client, 4)).collect());
        let y = Word::from_bits((0..8).map(|_| c.input(Party::Client, 4)).collect());
        gadgets::add(c, AdderKind::Ripple, &x, &y).expect("adds");
    });
    assert_eq!(
        (c.triple_ands, c.ot_ands, c.local_ands, c.depth),
        (0, 0, 7 * 4, 0)
    );
    // Bitwise AND of a client bit and a server bit (a Bloom-filter bit):
    // one OT per lane, no triple, one round.
    let c = cost_of(|c| {
        let x = c.input(Party::Client, 500);
        let y = c.input(Party::Server, 500);
        c.and(&x, &y).expect("ands");
    });
    assert_eq!(
        (c.triple_ands, c.ot_ands, c.depth, c.random_ots()),
        (0, 500, 1, 500)
    );
    // Ripple adder of a client word and a server word: the first carry is
    // a mixed AND, the rest need triples.
    let c = cost_of(|c| {
        let x = Word::from_bits((0..8).map(|_| c.input(Party::Client, 1)).collect());
        let y = Word::from_bits((0..8).map(|_| c.input(Party::Server, 1)).collect());
        gadgets::add(c, AdderKind::Ripple, &x, &y).expect("adds");
    });
    assert_eq!((c.ot_ands, c.triple_ands), (1, 6));
    // Public constants cost nothing.
    let c = cost_of(|c| {
        let x = shared(c, 16);
        gadgets::mul_const(c, AdderKind::Ripple, &x, 1, 16).expect("multiplies");
    });
    assert_eq!(c.interactive_ands(), 0);
}

#[test]
fn counts_scale_with_lanes_and_bytes_follow() {
    let c = cost_of(|c| {
        let x = Word::from_bits((0..16).map(|_| c.shared_input(1000)).collect());
        let y = Word::from_bits((0..16).map(|_| c.shared_input(1000)).collect());
        gadgets::add(c, AdderKind::Ripple, &x, &y).expect("adds");
    });
    assert_eq!(c.triple_ands, 15_000);
    assert_eq!(c.random_ots(), 30_000);
    assert_eq!(c.online_bits(), 60_000);
    assert_eq!(c.total_bytes(0), 7_500);
    assert_eq!(c.total_bytes(16), (60_000 + 30_000 * 16) / 8);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// The counter and the netlist the GMW engine runs agree on every gadget.
    #[test]
    fn counter_agrees_with_netlist(c in any_case(20)) {
        let (net, _, _) = netlist(&c, Reveal::Both);
        let mut counter = CostCounter::new();
        let ins: Vec<_> = c.widths.iter().zip(&c.owners).map(|(&w, o)| {
            Word::from_bits((0..w).map(|_| match o {
                circuit_support::Owner::Client => counter.input(Party::Client, c.lanes()),
                circuit_support::Owner::Server => counter.input(Party::Server, c.lanes()),
                circuit_support::Owner::Shared => counter.shared_input(c.lanes()),
            }).collect())
        }).collect();
        build(&mut counter, &c.op, &ins).expect("builds");
        prop_assert_eq!(counter.cost(), net.cost());
        let req = net.requirements();
        let cost = net.cost();
        prop_assert_eq!(req.triples, cost.triple_ands);
        prop_assert_eq!(req.ot_ands_client_receives + req.ot_ands_server_receives, cost.ot_ands);
    }
}
