//! The cost table of the EpiLink protocol: it is consistent with itself
//! and with the netlist the 2PC evaluates, and it is printed (run with
//! `--nocapture` to see it).

mod epilink_support;

use epilink_support::{default_config, with_bits};
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

#[test]
fn eight_fraction_bits_shrink_the_similarity_circuit_and_every_ring() {
    let eight = default_config();
    assert_eq!(eight.dice_fraction_bits(), 8);
    let sixteen = with_bits(&eight, 16);
    for carries in [Carries::MIN_GATES, Carries::BALANCED, Carries::MIN_ROUNDS] {
        let r8 = cost_report(&eight, carries, 10_000, 31).expect("costs");
        let r16 = cost_report(&sixteen, carries, 10_000, 31).expect("costs");
        // Division: 9 quotient bits instead of 17, so fewer ANDs and a
        // shallower similarity circuit.
        assert!(r8.parts[1].ots < r16.parts[1].ots, "{r8:?}\n{r16:?}");
        assert!(r8.parts[1].depth < r16.parts[1].depth);
        // B2A: 9 instead of 17 bits per Dice similarity, into a smaller ring.
        assert!(r8.parts[2].ots < r16.parts[2].ots);
        assert!(r8.parts[2].bytes < r16.parts[2].bytes);
        // Comparisons: the ring loses 8 bits, so the sign adders shrink.
        assert!(r8.parts[3].ots < r16.parts[3].ots);
        assert!(r8.total_bytes < r16.total_bytes);
        // The vector products do not depend on F.
        assert_eq!(r8.parts[0].bytes, r16.parts[0].bytes);
        println!(
            "{carries:?}: F = 8 {:.0} OTs {:.0} bytes {} rounds; F = 16 {:.0} OTs {:.0} bytes {} rounds",
            r8.total_ots,
            r8.total_bytes,
            r8.rounds_estimate,
            r16.total_ots,
            r16.total_bytes,
            r16.rounds_estimate
        );
    }
}
