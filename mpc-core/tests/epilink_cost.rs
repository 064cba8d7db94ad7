//! The cost table of the EpiLink protocol (SPEC §8 6.1): it is consistent
//! with itself and with the cost engine it is made from, and it is printed
//! (run with `--nocapture` to see it, as Markdown).

mod epilink_support;

use epilink_support::default_config;
use mpc_core::epilink::Carries;
use mpc_core::epilink::cost::{cost_report, markdown};
use mpc_core::ot::ExtensionConfig;

#[test]
fn cost_table_is_consistent_and_printed() {
    let config = default_config();
    let records = 10_000;
    for carries in [Carries::MIN_GATES, Carries::BALANCED, Carries::MIN_ROUNDS] {
        let r =
            cost_report(&config, carries, records, ExtensionConfig::SOFTSPOKEN4).expect("costs");
        let ots: f64 = r.parts.iter().map(|p| p.ots).sum();
        assert!((ots - r.total_ots).abs() < 1e-6);
        let bytes: f64 = r.parts.iter().map(|p| p.bytes).sum();
        assert!((bytes - r.total_bytes).abs() < 1e-6);
        assert_eq!(
            (r.total_bytes * records as f64).round() as u64,
            r.prediction.total_bytes()
        );
        // The handshake takes no OT; every other part does (the vector
        // products one per query bit, not per record: below one per
        // comparison).
        for p in &r.parts {
            assert_eq!(p.ots == 0.0, p.part == "handshake", "{p:?}");
            if p.part.starts_with("vector") {
                assert!(p.ots < 1.0, "{p:?}");
            }
        }
        println!("{}", markdown(&r));
    }
}

#[test]
fn fewer_rounds_cost_more_ots() {
    let config = default_config();
    let table = |c| cost_report(&config, c, 1000, ExtensionConfig::SOFTSPOKEN4).expect("costs");
    let (gates, balanced, rounds) = (
        table(Carries::MIN_GATES),
        table(Carries::BALANCED),
        table(Carries::MIN_ROUNDS),
    );
    assert!(gates.total_ots < balanced.total_ots);
    assert!(balanced.total_ots < rounds.total_ots);
    assert!(gates.rounds > balanced.rounds);
    assert!(balanced.rounds > rounds.rounds);
}
