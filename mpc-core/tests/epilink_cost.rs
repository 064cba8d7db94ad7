//! The cost table of the EpiLink protocol: it is consistent with itself
//! and with the netlist the 2PC evaluates, and it is printed (run with
//! `--nocapture` to see it).

mod epilink_support;

use epilink_support::default_config;
use mpc_core::epilink::Carries;
use mpc_core::epilink::cost::cost_report;

#[test]
fn cost_table_is_consistent_and_printed() {
    let config = default_config();
    for carries in [Carries::MIN_GATES, Carries::BALANCED, Carries::MIN_ROUNDS] {
        let r = cost_report(&config, carries, 10_000, 31).expect("costs");
        let ots: f64 = r.parts.iter().map(|p| p.ots).sum();
        assert!((ots - r.total_ots).abs() < 1e-6);
        // Every part but the vector products uses OTs; the vector
        // products use none per comparison.
        assert_eq!(r.parts[0].ots, 0.0);
        assert!(r.parts[1..5].iter().all(|p| p.ots > 0.0), "{r:?}");
        // Triples take two OTs, mixed ANDs one.
        let sim = &r.parts[1];
        assert!((sim.ots - (2.0 * sim.triple_ands + sim.ot_ands)).abs() < 1e-6);
        println!("{}", serde_json::to_string_pretty(&r).expect("json"));
    }
}
