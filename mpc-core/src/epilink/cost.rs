//! The cost table of the EpiLink protocol: one query against a database of
//! `records` records, per comparison, from the cost engine
//! ([`super::cost_engine`]) — the real chunk pipeline run on an engine
//! that counts the messages the two-party engine sends. Nothing here is a
//! formula: OTs, bytes and rounds are what a run of that shape sends
//! (tested against real runs in `tests/epilink_cost_engine.rs`).

use protocol_spec::config::LinkageConfig;
use serde::Serialize;

use super::cost_engine::{Prediction, RunShape, predict};
use super::error::ProtocolError;
use super::handshake::Mode;
use super::plan::Carries;
use super::schedule::DEFAULT_LANES_PER_CHUNK;
use crate::ot::ExtensionConfig;

/// One part of the protocol and what it costs.
#[derive(Clone, Debug, Serialize)]
pub struct Part {
    /// What the part computes.
    pub part: &'static str,
    /// Random OTs per comparison (both directions).
    pub ots: f64,
    /// Bytes per comparison, both directions (kind bytes included).
    pub bytes: f64,
    /// Flights of the job spent in the part (the larger party's count).
    pub rounds: u64,
}

/// The cost table of a configuration.
#[derive(Clone, Debug, Serialize)]
pub struct CostReport {
    /// Database records (one query).
    pub records: usize,
    /// The carry structures.
    pub carries: String,
    /// The OT extension.
    pub ot: String,
    /// Per part.
    pub parts: Vec<Part>,
    /// Random OTs per comparison.
    pub total_ots: f64,
    /// Bytes per comparison, both directions.
    pub total_bytes: f64,
    /// Rounds of the whole job (the party with more flights).
    pub rounds: u64,
    /// The exact prediction the table is made from.
    pub prediction: Prediction,
}

/// The cost table for one query against `records` records.
pub fn cost_report(
    config: &LinkageConfig,
    carries: Carries,
    records: usize,
    ot: ExtensionConfig,
) -> Result<CostReport, ProtocolError> {
    let records = records.max(1);
    let prediction = predict(
        config,
        &RunShape {
            mode: Mode::Linkage,
            queries: 1,
            records,
            carries,
            lanes_per_chunk: DEFAULT_LANES_PER_CHUNK,
            ot,
            record_arity: super::schedule::DEFAULT_RECORD_ARITY,
        },
    )?;
    let n = records as f64;
    let parts: Vec<Part> = prediction
        .parts
        .iter()
        .map(|p| Part {
            part: p.part,
            ots: p.ots as f64 / n,
            bytes: p.bytes as f64 / n,
            rounds: p.rounds,
        })
        .collect();
    Ok(CostReport {
        records,
        carries: format!("{carries:?}"),
        ot: ot.to_string(),
        total_ots: prediction.ots as f64 / n,
        total_bytes: prediction.total_bytes() as f64 / n,
        rounds: prediction.rounds(),
        parts,
        prediction,
    })
}

/// The table as Markdown (the form SPEC §8 6.1 shows).
pub fn markdown(r: &CostReport) -> String {
    let mut out = format!(
        "carries {}, {}, 1 × {} records:\n\n| part | OTs / comparison | bytes / comparison | rounds |\n|---|---:|---:|---:|\n",
        r.carries, r.ot, r.records
    );
    for p in &r.parts {
        out.push_str(&format!(
            "| {} | {:.1} | {:.1} | {} |\n",
            p.part.replace('|', "\\|"),
            p.ots,
            p.bytes,
            p.rounds
        ));
    }
    out.push_str(&format!(
        "| **total** | **{:.1}** | **{:.1}** | **{}** |\n",
        r.total_ots, r.total_bytes, r.rounds
    ));
    out
}

/// Why a cost table or netlist could not be made ([`super::fixedcost`]).
#[derive(Debug, thiserror::Error)]
pub enum CostError {
    /// The configuration is not supported.
    #[error(transparent)]
    Plan(#[from] super::plan::PlanError),
    /// A circuit could not be built (a bug).
    #[error(transparent)]
    Circuit(#[from] crate::circuit::CircuitError),
}
