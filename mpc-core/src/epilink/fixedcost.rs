//! What the fixed-operand levers save, counted on the very netlists the
//! two-party engine evaluates: the similarity circuit of a chunk with and
//! without fixed-choice ANDs ([`crate::gmw::fixed`]), and the binary-field
//! equality by table lookup ([`super::lookup`]) against the AND tree it
//! replaced.
//!
//! Bytes count both directions: `ot_bits` per random OT (31 for
//! SoftSpokenOT k = 4) plus the online bits of every interactive AND, as
//! the GMW engine sends them (a triple 2 bits per lane per party, a
//! per-lane mixed AND 1, a fixed AND 1 per lane from the non-chooser and 1
//! per class from the chooser). Output masks are left out (the same before
//! and after).

use protocol_spec::config::LinkageConfig;
use serde::Serialize;

use super::circuit::{ChunkShape, similarities, spread};
use super::cost::CostError;
use super::inputs::chunk_inputs;
use super::plan::{Carries, Plan};
use crate::Party;
use crate::circuit::netlist::{Gate, Netlist, NetlistBuilder};
use crate::circuit::word::bits_for;
use crate::circuit::{AndKind, Builder, CResult, Word};
use crate::gmw::FixedPlan;

/// The interactive cost of one netlist, per comparison.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct WireCost {
    /// Beaver triples (two random OTs each).
    pub triples: f64,
    /// Mixed ANDs evaluated per lane (one random OT each).
    pub ot_ands: f64,
    /// Mixed ANDs evaluated as fixed-choice ANDs (no OT per lane).
    pub fixed_ands: f64,
    /// Random OTs: bit-ROTs plus the key-ROTs of the fixed ANDs.
    pub ots: f64,
    /// Online bits both parties send, in the AND layers.
    pub online_bits: f64,
    /// Bytes on the wire, both directions (OT extension and AND layers).
    pub bytes: f64,
    /// Interactive AND-depth (GMW rounds).
    pub depth: u32,
}

/// How the mixed ANDs of a netlist are evaluated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Evaluation {
    /// One random OT per lane for every mixed AND, every triple a triple.
    PerLane,
    /// Fixed-choice ANDs, triples kept.
    Fixed,
    /// Fixed-choice ANDs and split carries (what the 2PC runs).
    FixedAndSplit,
}

/// Counts `net` evaluated as `how`, divided by `per` comparisons.
pub fn netlist_cost(net: &Netlist, how: Evaluation, per: f64, ot_bits: f64) -> WireCost {
    let plan = match how {
        Evaluation::PerLane => None,
        Evaluation::Fixed => Some(FixedPlan::with_splits(net, false)),
        Evaluation::FixedAndSplit => Some(FixedPlan::new(net)),
    };
    let mut c = WireCost {
        depth: net.depth(),
        ..WireCost::default()
    };
    let mut keys = 0u64;
    for (id, (g, i)) in net.gates().iter().zip(net.info()).enumerate() {
        let n = f64::from(i.lanes);
        if !matches!(g, Gate::And(..)) {
            continue;
        }
        if let Some(f) = plan.as_ref().and_then(|p| p.gate(id as u32)) {
            let k = f.classes.count() as f64;
            c.fixed_ands += n;
            c.online_bits += n + k;
            if f.split.is_some() {
                // A split carry: plus one per-lane mixed AND.
                c.ot_ands += n;
                c.online_bits += 2.0 * n;
            }
            keys += f.classes.count() as u64;
            continue;
        }
        match i.and_kind {
            Some(AndKind::Triple) => {
                c.triples += n;
                c.online_bits += 4.0 * n;
            }
            Some(AndKind::OneOt { .. }) => {
                c.ot_ands += n;
                c.online_bits += 2.0 * n;
            }
            _ => {}
        }
    }
    c.ots = 2.0 * c.triples + c.ot_ands + keys as f64;
    c.bytes = (c.ots * ot_bits + c.online_bits) / 8.0;
    for v in [
        &mut c.triples,
        &mut c.ot_ands,
        &mut c.fixed_ands,
        &mut c.ots,
        &mut c.online_bits,
        &mut c.bytes,
    ] {
        *v /= per;
    }
    c
}

/// The similarity netlist of one chunk of `queries × records` lanes, as
/// the two-party engine builds it.
pub fn similarity_netlist(
    config: &LinkageConfig,
    carries: Carries,
    queries: usize,
    records: usize,
) -> Result<Netlist, CostError> {
    let plan = Plan::new(config, carries)?;
    let shape = ChunkShape {
        queries,
        records,
        first_record: 0,
        index_width: bits_for(records.max(2) as u128 - 1),
    };
    let mut b = NetlistBuilder::new();
    let inputs = chunk_inputs(&mut b, &plan, &shape, None, None)?;
    let lanes = spread(&mut b, &shape, &inputs)?;
    similarities(&mut b, &plan, &lanes)?;
    Ok(b.finish())
}

/// The binary-field equality `δ ∧ [a = b]` of one `width`-bit field
/// over a chunk of `records` lanes (one query): by table lookup
/// (`lookup`), or by the AND tree over `δ` and the bitwise equalities that
/// it replaced (`!lookup`).
pub fn equality_netlist(width: usize, records: usize, lookup: bool) -> CResult<Netlist> {
    let mut b = NetlistBuilder::new();
    let by_record: Vec<u32> = (0..records as u32).collect();
    let by_query = vec![0u32; records];
    let pa = b.input(Party::Client, 1)?;
    let pa = b.gather_lanes(&pa, &by_query)?;
    let pb = b.input(Party::Server, records)?;
    let pb = b.gather_lanes(&pb, &by_record)?;
    let mut va = Vec::new();
    let mut vb = Vec::new();
    for _ in 0..width {
        let x = b.input(Party::Client, 1)?;
        va.push(b.gather_lanes(&x, &by_query)?);
        let y = b.input(Party::Server, records)?;
        vb.push(b.gather_lanes(&y, &by_record)?);
    }
    let (va, vb) = (Word::from_bits(va), Word::from_bits(vb));
    let e = if lookup {
        super::lookup::present_equal(&mut b, &pa, &pb, &va, &vb)?
    } else {
        let delta = b.and(&pa, &pb)?;
        let mut leaves = vec![delta];
        for (x, y) in va.bits().iter().zip(vb.bits()) {
            let d = b.xor(x, y)?;
            leaves.push(b.not(&d)?);
        }
        crate::circuit::gadgets::and_all(&mut b, &leaves)?.ok_or(
            crate::circuit::CircuitError::Empty {
                op: "equality",
                what: "bit",
            },
        )?
    };
    b.output(&e, crate::circuit::netlist::Reveal::Shares)?;
    Ok(b.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn default_config() -> LinkageConfig {
        let text = include_str!("../../../examples/default-config.json");
        let alg: protocol_spec::messages::mainsel::AlgorithmConfig =
            serde_json::from_str(text).expect("default configuration");
        LinkageConfig::from_wire(&alg).expect("valid configuration")
    }

    /// The before/after figures of BENCHMARKS.md "Issue 12: fixed
    /// operands" (`cargo test -p mpc-core --lib fixedcost -- --nocapture`),
    /// and the savings they claim.
    #[test]
    fn fixed_operands_save_ots_and_bytes() {
        let config = default_config();
        let records = 10_000;
        let net = similarity_netlist(&config, Carries::BALANCED, 1, records).expect("netlist");
        let per = records as f64;
        let before = netlist_cost(&net, Evaluation::PerLane, per, 31.0);
        let fixed = netlist_cost(&net, Evaluation::Fixed, per, 31.0);
        let after = netlist_cost(&net, Evaluation::FixedAndSplit, per, 31.0);
        println!("similarity circuit, per-lane mixed ANDs: {before:?}");
        println!("similarity circuit, fixed-choice ANDs:   {fixed:?}");
        println!("similarity circuit, and split carries:   {after:?}");
        // Every mixed AND on a query bit becomes fixed; what stays per
        // lane is the count adder's (both count shares differ per lane).
        assert!(fixed.fixed_ands > 0.0);
        assert!(fixed.ots < before.ots && fixed.bytes < before.bytes);
        assert_eq!(fixed.triples, before.triples);
        assert_eq!(fixed.depth, before.depth);
        // The split carries of |a| + |b|: every saved triple becomes one
        // fixed AND and one per-lane mixed AND.
        let saved = fixed.triples - after.triples;
        assert!(saved > 0.0);
        assert_eq!(after.fixed_ands - fixed.fixed_ands, saved);
        assert_eq!(after.ot_ands - fixed.ot_ands, saved);
        assert!(after.ots < fixed.ots && after.bytes < fixed.bytes);
        assert_eq!(after.depth, before.depth);
        // With 4 queries per chunk the classes are the queries: still one
        // OT per query, not per lane.
        let net4 = similarity_netlist(&config, Carries::BALANCED, 4, 2_500).expect("netlist");
        let four = netlist_cost(&net4, Evaluation::FixedAndSplit, per, 31.0);
        assert_eq!(
            (four.ot_ands, four.fixed_ands),
            (after.ot_ands, after.fixed_ands)
        );
        assert!(four.ots - after.ots < 0.1, "{four:?}");

        let mut total = [WireCost::default(); 2];
        for width in [5, 4, 12, 17] {
            let tree = equality_netlist(width, records, false).expect("tree");
            let table = equality_netlist(width, records, true).expect("table");
            let t = netlist_cost(&tree, Evaluation::FixedAndSplit, per, 31.0);
            let l = netlist_cost(&table, Evaluation::FixedAndSplit, per, 31.0);
            println!("binary equality, {width:2} bits: AND tree {t:?}");
            println!("binary equality, {width:2} bits: lookup   {l:?}");
            assert!(l.triples < t.triples && l.bytes < t.bytes, "{width}");
            for (acc, c) in total.iter_mut().zip([t, l]) {
                acc.triples += c.triples;
                acc.ots += c.ots;
                acc.fixed_ands += c.fixed_ands;
                acc.online_bits += c.online_bits;
                acc.bytes += c.bytes;
                acc.depth = acc.depth.max(c.depth);
            }
        }
        println!("binary equality, default fields: AND tree {:?}", total[0]);
        println!("binary equality, default fields: lookup   {:?}", total[1]);
    }
}
