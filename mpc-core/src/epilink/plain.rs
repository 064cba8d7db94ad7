//! The EpiLink pipeline evaluated in the clear: the same Boolean circuit
//! code (on the plaintext backend), the same per-chunk pipeline and the same
//! chunking as the two-party run, with clear integers where the 2PC holds
//! additive shares.
//!
//! It exists to test the computation against the reference
//! (`protocol_spec::epilink`) cheaply and on many cases before any 2PC runs.
//! Values the 2PC holds as two private shares (intersection counts, sign
//! operands, numerators) are split at random here, so the in-circuit adders
//! see carries as in the 2PC.

use protocol_spec::config::{LinkageConfig, Record};
use protocol_spec::epilink::{EpilinkError, LinkResult, MatchCounts, RecordError, check_record};
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

use super::bitmul::reduce;
use super::circuit::{
    ChunkShape, ScoreInputs, decide, select, select_groups, similarities, spread,
};
use super::error::ProtocolError;
use super::inputs::{InputSink, Owner, PartyChunk, chunk_inputs};
use super::pipeline::{CountShares, Driver, Engine, SimilarityShares, drive};
use super::plan::{Carries, Plan};
use super::schedule::{Chunk, Schedule};
use crate::circuit::Word;
use crate::circuit::plain::PlainBuilder;
use crate::circuit::word::{lanes_to_values, values_to_lanes};
use crate::{Lanes, Party};

/// Knobs of the plaintext evaluation (the same as the 2PC's).
#[derive(Clone, Copy, Debug)]
pub struct PlainOptions {
    /// Carry structures of the circuits.
    pub carries: Carries,
    /// (query, record) pairs per chunk.
    pub lanes_per_chunk: usize,
    /// Seed of the random count shares.
    pub seed: u64,
    /// Candidates per group of the record tournament (2, 4 or 8).
    pub record_arity: usize,
}

impl Default for PlainOptions {
    fn default() -> Self {
        PlainOptions {
            carries: Carries::default(),
            lanes_per_chunk: super::schedule::DEFAULT_LANES_PER_CHUNK,
            seed: 1,
            record_arity: super::schedule::DEFAULT_RECORD_ARITY,
        }
    }
}

/// Why a plaintext evaluation failed.
#[derive(Debug, thiserror::Error)]
pub enum PlainError {
    /// A record does not fit the configuration.
    #[error(transparent)]
    Record(#[from] EpilinkError),
    /// The computation failed (a bug, reported instead of a panic).
    #[error(transparent)]
    Internal(#[from] ProtocolError),
}

/// Checks every record against the configuration.
pub fn check_records(
    config: &LinkageConfig,
    queries: &[Record],
    database: &[Record],
) -> Result<(), EpilinkError> {
    let wrap_q = |index, source: RecordError| EpilinkError::Query { index, source };
    let wrap_d = |index, source: RecordError| EpilinkError::Database { index, source };
    for (i, r) in queries.iter().enumerate() {
        check_record(config, r).map_err(|e| wrap_q(i, e))?;
    }
    for (i, r) in database.iter().enumerate() {
        check_record(config, r).map_err(|e| wrap_d(i, e))?;
    }
    Ok(())
}

/// `|a ∧ b|` of two optional values (0 if either is empty).
pub fn intersection(
    a: Option<&protocol_spec::config::FieldBits>,
    b: Option<&protocol_spec::config::FieldBits>,
) -> u32 {
    match (a, b) {
        (Some(a), Some(b)) => a
            .as_bytes()
            .iter()
            .zip(b.as_bytes())
            .map(|(x, y)| (x & y).count_ones())
            .sum(),
        _ => 0,
    }
}

/// Links every query against the database through the plaintext
/// pipeline; must equal `protocol_spec::epilink::link_records`.
pub fn link_records_plain(
    config: &LinkageConfig,
    queries: &[Record],
    database: &[Record],
    opts: &PlainOptions,
) -> Result<Vec<LinkResult>, PlainError> {
    check_records(config, queries, database)?;
    let plan = Plan::new(config, opts.carries).map_err(ProtocolError::from)?;
    if !super::schedule::valid_record_arity(opts.record_arity) {
        return Err(ProtocolError::InvalidOptions(format!(
            "record_arity = {} is not one of {:?}",
            opts.record_arity,
            super::schedule::RECORD_ARITIES
        ))
        .into());
    }
    let schedule = Schedule::new(queries.len(), database.len(), opts.lanes_per_chunk)
        .with_record_arity(opts.record_arity);
    let mut driver = PlainDriver {
        engine: PlainEngine {
            rng: ChaCha8Rng::seed_from_u64(opts.seed),
        },
        queries,
        database,
    };
    let decisions = block_on(drive(&mut driver, &plan, &schedule))?;
    Ok(decisions
        .into_iter()
        .map(|d| LinkResult {
            is_match: d.is_match,
            tentative: d.tentative,
            best_index: d.index as usize,
        })
        .collect())
}

/// The plaintext side of the chunk driver: both parties' records, counts
/// computed in the clear and split at random.
struct PlainDriver<'a> {
    engine: PlainEngine,
    queries: &'a [Record],
    database: &'a [Record],
}

impl Driver for PlainDriver<'_> {
    type E = PlainEngine;

    async fn prepare(
        &mut self,
        plan: &Plan,
        chunk: &Chunk,
    ) -> Result<(Option<CountShares>, Option<CountShares>), ProtocolError> {
        let qs = &self.queries[chunk.first_query..chunk.first_query + chunk.queries];
        let rs = &self.database[chunk.first_record..chunk.first_record + chunk.records];
        let (c, s) = split_counts(plan, chunk, qs, rs, &mut self.engine.rng);
        Ok((Some(c), Some(s)))
    }

    fn parts(&mut self) -> (&mut PlainEngine, Option<&[Record]>, Option<&[Record]>) {
        (&mut self.engine, Some(self.queries), Some(self.database))
    }
}

/// Polls a future that never waits (the plaintext engine does no I/O) to
/// completion without a runtime.
fn block_on<F: std::future::Future>(fut: F) -> F::Output {
    use std::task::{Context, Poll, Waker};
    let mut fut = std::pin::pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

/// The engine of the plaintext pipeline: Boolean parts on [`PlainBuilder`]
/// (the same circuit code as the 2PC), arithmetic on clear integers.
/// Values that the 2PC holds as two private shares (count shares, the
/// operands of the sign adder, the numerator) are split at random here, so
/// the adders see the same carries they see in the 2PC.
struct PlainEngine {
    rng: ChaCha8Rng,
}

impl PlainEngine {
    /// A random split `(v − r, r)` of `v` mod `2^width`, as input words.
    fn split(
        &mut self,
        b: &mut PlainBuilder,
        v: &[u64],
        width: usize,
    ) -> Result<(Word<Lanes>, Word<Lanes>), ProtocolError> {
        let r: Vec<u64> = v
            .iter()
            .map(|_| reduce(self.rng.next_u64(), width as u32))
            .collect();
        let c: Vec<u128> = v
            .iter()
            .zip(&r)
            .map(|(x, r)| u128::from(reduce(x.wrapping_sub(*r), width as u32)))
            .collect();
        let s: Vec<u128> = r.iter().map(|&x| u128::from(x)).collect();
        let lanes = v.len();
        let wc = b.declare(
            Owner::Private(Party::Client),
            width,
            lanes,
            Some(values_to_lanes(&c, width)?),
        )?;
        let ws = b.declare(
            Owner::Private(Party::Server),
            width,
            lanes,
            Some(values_to_lanes(&s, width)?),
        )?;
        Ok((wc, ws))
    }
}

fn words_of(
    b: &mut PlainBuilder,
    words: &[Vec<Lanes>],
    lanes: usize,
) -> Result<Vec<Word<Lanes>>, ProtocolError> {
    words
        .iter()
        .map(|w| Ok(b.declare(Owner::Shared, w.len(), lanes, Some(w.clone()))?))
        .collect()
}

impl Engine for PlainEngine {
    fn party(&self) -> Party {
        Party::Client
    }

    async fn similarities(
        &mut self,
        plan: &Plan,
        shape: &ChunkShape,
        client: Option<PartyChunk<'_>>,
        server: Option<PartyChunk<'_>>,
    ) -> Result<SimilarityShares, ProtocolError> {
        let mut b = PlainBuilder::new();
        let inputs = chunk_inputs(&mut b, plan, shape, client, server)?;
        let lanes: ScoreInputs<Lanes> = spread(&mut b, shape, &inputs)?;
        let sims = similarities(&mut b, plan, &lanes)?;
        Ok(SimilarityShares {
            dice: sims
                .dice
                .into_iter()
                .map(|w| w.map(Word::into_bits))
                .collect(),
            equal: sims.equal,
            denominators: sims.denominators.into_iter().map(Word::into_bits).collect(),
        })
    }

    async fn b2a(&mut self, bits: &[Lanes], width: u32) -> Result<Vec<u64>, ProtocolError> {
        Ok(lanes_to_values(bits)?
            .into_iter()
            .map(|v| reduce(v as u64, width))
            .collect())
    }

    async fn bit_mul(
        &mut self,
        bits: &Lanes,
        x: &[u64],
        width: u32,
    ) -> Result<Vec<u64>, ProtocolError> {
        Ok(x.iter()
            .enumerate()
            .map(|(j, &v)| {
                if bits.get(j).unwrap_or(false) {
                    reduce(v, width)
                } else {
                    0
                }
            })
            .collect())
    }

    async fn select(
        &mut self,
        plan: &Plan,
        y: &[u64],
        left: &[Vec<Lanes>],
        right: &[Vec<Lanes>],
    ) -> Result<(Lanes, Vec<Vec<Lanes>>), ProtocolError> {
        let mut b = PlainBuilder::new();
        let lanes = y.len();
        let (yc, ys) = self.split(&mut b, y, plan.arith_width as usize)?;
        let l = words_of(&mut b, left, lanes)?;
        let r = words_of(&mut b, right, lanes)?;
        let (s, out) = select(&mut b, plan, &yc, &ys, &l, &r)?;
        Ok((s, out.into_iter().map(Word::into_bits).collect()))
    }

    async fn select_groups(
        &mut self,
        plan: &Plan,
        y: &[u64],
        classes: &[(usize, usize)],
    ) -> Result<Vec<Vec<Lanes>>, ProtocolError> {
        let mut b = PlainBuilder::new();
        let (yc, ys) = self.split(&mut b, y, plan.arith_width as usize)?;
        Ok(select_groups(&mut b, plan, &yc, &ys, classes)?)
    }

    async fn bit_mul_mixed(
        &mut self,
        bits: &Lanes,
        x: &[u64],
        width: u32,
        words: &[u64],
        word_width: usize,
    ) -> Result<(Vec<u64>, Vec<u64>), ProtocolError> {
        let on = |j: usize| bits.get(j).unwrap_or(false);
        Ok((
            x.iter()
                .enumerate()
                .map(|(j, &v)| if on(j) { reduce(v, width) } else { 0 })
                .collect(),
            words
                .iter()
                .enumerate()
                .map(|(j, &w)| {
                    if on(j) {
                        reduce(w, word_width as u32)
                    } else {
                        0
                    }
                })
                .collect(),
        ))
    }

    async fn decide(
        &mut self,
        plan: &Plan,
        numerator: &[u64],
        denominator: &[Lanes],
    ) -> Result<(Lanes, Lanes), ProtocolError> {
        let mut b = PlainBuilder::new();
        let lanes = numerator.len();
        let (nc, ns) = self.split(&mut b, numerator, plan.n_width)?;
        let d = b.declare(
            Owner::Shared,
            denominator.len(),
            lanes,
            Some(denominator.to_vec()),
        )?;
        Ok(decide(&mut b, plan, &nc, &ns, &d)?)
    }
}

/// Matching mode through the plaintext circuit: the two counts.
pub fn match_records_plain(
    config: &LinkageConfig,
    queries: &[Record],
    database: &[Record],
    opts: &PlainOptions,
) -> Result<MatchCounts, PlainError> {
    let results = link_records_plain(config, queries, database, opts)?;
    Ok(MatchCounts {
        matches: results.iter().filter(|r| r.is_match).count() as u64,
        tentative: results.iter().filter(|r| r.tentative).count() as u64,
    })
}

/// Random additive shares of every Dice pair's intersection count, lane
/// `q·records + r`.
fn split_counts(
    plan: &Plan,
    chunk: &Chunk,
    queries: &[Record],
    records: &[Record],
    rng: &mut ChaCha8Rng,
) -> (CountShares, CountShares) {
    let mut client = vec![None; plan.pairs.len()];
    let mut server = vec![None; plan.pairs.len()];
    for t in plan.dice_pairs() {
        let pair = &plan.pairs[t];
        let width = plan.fields[pair.query].count_width as u32;
        let mask = if width >= 32 {
            u32::MAX
        } else {
            (1u32 << width) - 1
        };
        let mut cs = Vec::with_capacity(chunk.queries * chunk.records);
        let mut ss = Vec::with_capacity(chunk.queries * chunk.records);
        for q in queries {
            for r in records {
                let c = intersection(q[pair.query].as_ref(), r[pair.database].as_ref());
                let share = rng.next_u32() & mask;
                cs.push(share);
                ss.push(c.wrapping_sub(share) & mask);
            }
        }
        client[t] = Some(cs);
        server[t] = Some(ss);
    }
    (client, server)
}
