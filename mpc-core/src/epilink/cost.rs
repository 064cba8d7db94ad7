//! The cost of the EpiLink protocol per comparison (one query × one
//! database record), from the cost-counting backend for every Boolean
//! circuit (the same code the 2PC evaluates) and from the message formats
//! for the OT-based parts.
//!
//! Bytes assume SoftSpokenOT with k = 4 (31 bits per random OT on the
//! wire), the engine's default; `ot_bits` changes that.

use protocol_spec::config::LinkageConfig;
use serde::Serialize;

use super::circuit::{ChunkShape, decide, select, similarities, spread};
use super::inputs::{InputSink, Owner, chunk_inputs};
use super::plan::{Carries, Plan, PlanError};
use crate::Party;
use crate::circuit::CircuitError;
use crate::circuit::cost::{Cost, CostCounter};
use crate::circuit::word::bits_for;

/// Why a cost table could not be made.
#[derive(Debug, thiserror::Error)]
pub enum CostError {
    /// The configuration is not supported.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// A circuit could not be built (a bug).
    #[error(transparent)]
    Circuit(#[from] CircuitError),
}

/// One part of the protocol and what it costs per comparison.
#[derive(Clone, Debug, Serialize)]
pub struct Part {
    /// What the part computes.
    pub part: &'static str,
    /// Interactive AND gates (Beaver triples) per comparison.
    pub triple_ands: f64,
    /// AND gates with one input known to a party (one OT each).
    pub ot_ands: f64,
    /// Random OTs per comparison (triples take two).
    pub ots: f64,
    /// Bytes per comparison, both directions.
    pub bytes: f64,
    /// Interactive AND-depth of one evaluation of the part's circuit
    /// (GMW rounds); for OT-only parts the message flights.
    pub depth: u32,
    /// How often the part runs sequentially per chunk (its rounds add up
    /// that many times).
    pub sequential_times: usize,
}

/// The cost table of a configuration.
#[derive(Clone, Debug, Serialize)]
pub struct CostReport {
    /// Records per chunk used for the per-record figures.
    pub records: usize,
    /// The carry structures.
    pub carries: String,
    /// Per part.
    pub parts: Vec<Part>,
    /// Sum over parts.
    pub total_ots: f64,
    /// Sum over parts.
    pub total_bytes: f64,
    /// Sum over parts of interactive ANDs.
    pub total_ands: f64,
    /// Estimated online rounds of a chunk of `records` records: every
    /// part's depth times its sequential repetitions (OT extension and the
    /// per-chunk control message add a few more; the benchmark measures
    /// the real count).
    pub rounds_estimate: u64,
}

fn gmw_part(
    part: &'static str,
    cost: Cost,
    per: f64,
    ot_bits: f64,
    extra_bits: f64,
    times: usize,
) -> Part {
    let ots = cost.random_ots() as f64 / per;
    let bits = cost.online_bits() as f64 / per + ots * ot_bits + extra_bits;
    Part {
        part,
        triple_ands: cost.triple_ands as f64 / per,
        ot_ands: cost.ot_ands as f64 / per,
        ots,
        bytes: bits / 8.0,
        depth: cost.depth,
        sequential_times: times,
    }
}

/// The cost table for one query against a chunk of `records` records.
pub fn cost_report(
    config: &LinkageConfig,
    carries: Carries,
    records: usize,
    ot_bits: u64,
) -> Result<CostReport, CostError> {
    let plan = Plan::new(config, carries)?;
    let records = records.max(2);
    let n = records as f64;
    let ot_bits = ot_bits as f64;
    let a = f64::from(plan.arith_width);
    let index_width = bits_for(records as u128 - 1);
    let shape = ChunkShape {
        queries: 1,
        records,
        first_record: 0,
        index_width,
    };
    let mut parts = Vec::new();

    // Vector products: one `count_width`-bit correction per query bit and
    // compared database field; no OT per record.
    let vp_bits: f64 = plan
        .dice_pairs()
        .map(|t| {
            let f = &plan.fields[plan.pairs[t].query];
            (f.bitlength * f.count_width) as f64
        })
        .sum();
    parts.push(Part {
        part: "vector products: intersection counts",
        triple_ands: 0.0,
        ot_ands: 0.0,
        ots: 0.0,
        bytes: vp_bits / 8.0,
        depth: 1,
        sequential_times: 1,
    });

    // The similarity circuit.
    let mut b = CostCounter::new();
    let inputs = chunk_inputs(&mut b, &plan, &shape, None, None)?;
    let lanes = spread(&mut b, &shape, &inputs)?;
    let sims = similarities(&mut b, &plan, &lanes)?;
    let out_bits = sims.dice.iter().flatten().count() * plan.sim_width
        + sims.equal.iter().flatten().count()
        + sims.denominators.len() * plan.d_width;
    // The output exchange: the client's re-randomising mask per output bit.
    parts.push(gmw_part(
        "similarity circuit: A2B of counts, |a|+|b|, Dice division, equality, δ, D' per pairing",
        b.cost(),
        n,
        ot_bits,
        out_bits as f64,
        1,
    ));

    // B2A of similarities: one OT per bit, `arith_width`-bit correction.
    let b2a_ots = (sims.dice.iter().flatten().count() * plan.sim_width
        + sims.equal.iter().flatten().count()) as f64;
    parts.push(Part {
        part: "B2A of similarities (bit × public weight)",
        triple_ands: 0.0,
        ot_ands: 0.0,
        ots: b2a_ots,
        bytes: b2a_ots * (ot_bits + 1.0 + a) / 8.0,
        depth: 2,
        sequential_times: 1,
    });

    // One comparison layer per lane: 2·d_width bit×integer products, the
    // select circuit, one product for the numerator multiplexer.
    let layer = |b: &mut CostCounter, lanes: usize, idx: usize| -> Result<Cost, CircuitError> {
        let w = plan.arith_width as usize;
        let yc = b.declare(Owner::Private(Party::Client), w, lanes, None)?;
        let ys = b.declare(Owner::Private(Party::Server), w, lanes, None)?;
        let l = vec![
            b.declare(Owner::Shared, plan.d_width, lanes, None)?,
            b.declare(Owner::Shared, idx, lanes, None)?,
        ];
        let r = vec![
            b.declare(Owner::Shared, plan.d_width, lanes, None)?,
            b.declare(Owner::Shared, idx, lanes, None)?,
        ];
        select(b, &plan, &yc, &ys, &l, &r)?;
        Ok(b.cost())
    };
    let product_ots = (2 * plan.d_width + 1) as f64 * 2.0;
    let product_bytes = product_ots * (ot_bits + 1.0 + a) / 8.0;
    let pairing_layers = bits_for(plan.pairings.len() as u128 - 1).min(plan.pairings.len() - 1);
    let pairing_comparisons = (plan.pairings.len() - 1) as f64;
    let mut b = CostCounter::new();
    let c = layer(&mut b, 1024, 0)?;
    let mut p = gmw_part(
        "pairing tournament: ratio comparisons (products + sign + mux)",
        c,
        1024.0 / pairing_comparisons,
        ot_bits,
        0.0,
        pairing_layers,
    );
    p.ots += product_ots * pairing_comparisons;
    p.bytes += product_bytes * pairing_comparisons;
    parts.push(p);
    let mut b = CostCounter::new();
    let c = layer(&mut b, records / 2, index_width)?;
    let record_layers = bits_for(records as u128 - 1);
    let comparisons = (records - 1) as f64 / n;
    let mut p = gmw_part(
        "record tournament: argmax with index (lowest on ties)",
        c,
        (records / 2) as f64 / comparisons,
        ot_bits,
        0.0,
        record_layers,
    );
    p.ots += product_ots * comparisons;
    p.bytes += product_bytes * comparisons;
    parts.push(p);

    // Decisions: once per query, i.e. 1/records per comparison.
    let mut b = CostCounter::new();
    let nc = b.declare(Owner::Private(Party::Client), plan.n_width, 1, None)?;
    let ns = b.declare(Owner::Private(Party::Server), plan.n_width, 1, None)?;
    let d = b.declare(Owner::Shared, plan.d_width, 1, None)?;
    decide(&mut b, &plan, &nc, &ns, &d)?;
    parts.push(gmw_part(
        "threshold decisions (once per query)",
        b.cost(),
        n,
        ot_bits,
        0.0,
        1,
    ));

    let total_ots = parts.iter().map(|p| p.ots).sum();
    let total_bytes = parts.iter().map(|p| p.bytes).sum();
    let total_ands = parts.iter().map(|p| p.triple_ands + p.ot_ands).sum();
    // Per layer of OT-based products: two flights for the products of the
    // ratio, two for the multiplexer product.
    let rounds_estimate = parts
        .iter()
        .map(|p| {
            let extra = if p.part.contains("tournament") { 4 } else { 0 };
            u64::from(p.depth + 1 + extra) * p.sequential_times as u64
        })
        .sum();
    Ok(CostReport {
        records,
        carries: format!("{carries:?}"),
        parts,
        total_ots,
        total_bytes,
        total_ands,
        rounds_estimate,
    })
}
