//! The two-party EpiLink run: handshake, OT instances, then per chunk the
//! vector products (intersection counts as additive shares) and the
//! `pipeline` on the two-party `Engine`; the best
//! candidate so far travels between chunks as shares.
//!
//! Message sequence (both parties, same order; SPEC.md §8, part 4
//! says what each message reveals). Every message travels on the job
//! channel (`control.rs`): one kind byte (data or cancelled) first.
//!
//! 1. handshake (one message each way, [`super::handshake`]); the peer's
//!    count is checked against the maximum before anything else;
//! 2. if M = 0 or N = 0: done (results (0, 0, 0), counts 0);
//! 3. the OT streams: with a [`PeerOt`] (the job API, [`super::job`]) fresh
//!    extension instances derived locally, without a message; standalone
//!    ([`run_client`] and friends) base OTs and extension setup for both
//!    streams, bound to the handshake transcript; with
//!    [`OtBackend::Ferret`] (handshake byte 13) Ferret generators on top of
//!    them, bootstrapped on first use (SPEC §6 2.7);
//! 4. per query block: one vector-product setup (the client's query bits
//!    masked by random OT choices);
//! 5. per chunk: the server's vector-product corrections, one message per
//!    (query, compared Dice pair); the similarity circuit (OT extension, one
//!    message each way per AND level, the output masks); the B2A of the
//!    similarities; per comparison layer the bit × integer products, the
//!    select circuit and the numerator multiplexer; at the end of a query
//!    block the decision circuit;
//! 6. matching mode: a final counting circuit whose output goes to the
//!    client only.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use protocol_spec::config::{Comparator, LinkageConfig, Record};
use protocol_spec::epilink::{LinkResult, MatchCounts};

use super::control::JobChannel;
pub use super::error::ProtocolError;
use super::gadgets::sum_lanes;
use super::handshake::{
    Agreement, HANDSHAKE_LEN, HandshakeError, Hello, Mode, context_digest, fingerprint, fresh_nonce,
};
use super::inputs::{InputSink, NetInputs, Owner};
use super::ots::OtBackend;
use super::peer_ot::PeerOt;
use super::pipeline::{CountShares, Driver, drive};
use super::plain::check_records;
use super::plan::{Carries, Plan};
use super::schedule::{
    Chunk, DEFAULT_LANES_PER_CHUNK, DEFAULT_RECORD_ARITY, MAX_LANES_PER_CHUNK, MAX_RECORDS,
    RECORD_ARITIES, Schedule, valid_record_arity,
};
use super::twoparty::TwoParty;
use super::vecprod::{self, FieldPads};
use crate::channel::{Channel, ChannelStats};
use crate::circuit::Word;
use crate::circuit::netlist::Reveal;
use crate::circuit::word::bits_for;
use crate::gmw::run_online;
use crate::ot::ExtensionConfig;
use crate::{Lanes, Party};
use tokio_util::sync::CancellationToken;

/// A progress callback: called with the fraction of chunks done (0..=1).
pub type ProgressFn = Arc<dyn Fn(f64) + Send + Sync>;

/// Default of the largest record count a peer may announce (2^24): the
/// node sets its own ([`Options::max_peer_records`],
/// [`JobOptions::max_peer_records`](super::job::JobOptions)).
pub const DEFAULT_MAX_PEER_RECORDS: u64 = 1 << 24;

/// How to run; both parties must agree on `adder`, `lanes_per_chunk` and
/// `ot` (checked in the handshake) and use the same `context`.
#[derive(Clone)]
pub struct Options {
    /// Carry structures of the circuits (fewest OTs or fewest rounds).
    pub carries: Carries,
    /// (query, record) pairs per chunk: bounds memory.
    pub lanes_per_chunk: usize,
    /// Candidates per group of the record tournament (2, 4 or 8; SPEC §8):
    /// fewer layers (rounds) for more comparisons.
    pub record_arity: usize,
    /// OT extension.
    pub ot: ExtensionConfig,
    /// Where the random OTs come from (SoftSpokenOT or Ferret on top).
    pub ot_backend: OtBackend,
    /// The peer's record count, if known (N for the client, M for the
    /// server): a mismatch fails in the handshake.
    pub expected_peer_records: Option<usize>,
    /// The most records the peer may announce; more fails in the handshake
    /// ([`HandshakeError::TooManyRecords`]) before any OT setup or
    /// allocation.
    pub max_peer_records: u64,
    /// Context of the run, identical on both sides (e.g. the job id). The
    /// OT setup is bound to it and to both parties' handshake nonces, so
    /// every run is unique even with a repeated context.
    pub context: Vec<u8>,
    /// Called after every chunk with the fraction done.
    pub progress: Option<ProgressFn>,
    /// Set to stop the run at the next chunk boundary; both parties then
    /// return an error ([`ProtocolError::Cancelled`] here,
    /// [`ProtocolError::PeerCancelled`] at the peer).
    pub cancel: Option<Arc<AtomicBool>>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            carries: Carries::default(),
            lanes_per_chunk: DEFAULT_LANES_PER_CHUNK,
            record_arity: DEFAULT_RECORD_ARITY,
            ot: ExtensionConfig::default(),
            ot_backend: OtBackend::default(),
            expected_peer_records: None,
            max_peer_records: DEFAULT_MAX_PEER_RECORDS,
            context: b"epilink".to_vec(),
            progress: None,
            cancel: None,
        }
    }
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("carries", &self.carries)
            .field("lanes_per_chunk", &self.lanes_per_chunk)
            .field("record_arity", &self.record_arity)
            .field("ot", &self.ot)
            .field("ot_backend", &self.ot_backend)
            .field("expected_peer_records", &self.expected_peer_records)
            .field("max_peer_records", &self.max_peer_records)
            .field("progress", &self.progress.is_some())
            .field("cancel", &self.cancel.is_some())
            .finish()
    }
}

/// One party's XOR share of the result for one query record.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct ResultShare {
    /// Share of the match bit.
    pub is_match: bool,
    /// Share of the tentative-match bit.
    pub tentative: bool,
    /// Share of the best index (its low `bits_for(N − 1)` bits).
    pub best_index: u64,
}

/// Redacted: a share is half of a secret.
impl std::fmt::Debug for ResultShare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ResultShare(redacted)")
    }
}

impl ResultShare {
    /// XOR of the two parties' shares: the result. Only the linkage
    /// service (or a test) ever holds both.
    pub fn combine(&self, other: &ResultShare) -> LinkResult {
        LinkResult {
            is_match: self.is_match ^ other.is_match,
            tentative: self.tentative ^ other.tentative,
            best_index: (self.best_index ^ other.best_index) as usize,
        }
    }
}

/// Links the client's query records against the server's database: the
/// client's shares, one per query.
pub async fn run_client<C: Channel>(
    ch: C,
    config: &LinkageConfig,
    queries: &[Record],
    opts: &Options,
) -> Result<Vec<ResultShare>, ProtocolError> {
    match run_standalone(ch, Party::Client, Mode::Linkage, config, queries, opts).await? {
        Outcome::Shares(s) => Ok(s),
        Outcome::Counts(_) | Outcome::Nothing => {
            Err(ProtocolError::Internal("wrong outcome".into()))
        }
    }
}

/// The server side of [`run_client`]: the server's shares, one per query.
pub async fn run_server<C: Channel>(
    ch: C,
    config: &LinkageConfig,
    database: &[Record],
    opts: &Options,
) -> Result<Vec<ResultShare>, ProtocolError> {
    match run_standalone(ch, Party::Server, Mode::Linkage, config, database, opts).await? {
        Outcome::Shares(s) => Ok(s),
        Outcome::Counts(_) | Outcome::Nothing => {
            Err(ProtocolError::Internal("wrong outcome".into()))
        }
    }
}

/// Matching mode, client side: the number of queries with a match and with
/// a tentative match. Nothing else is revealed to the client.
pub async fn run_client_matching<C: Channel>(
    ch: C,
    config: &LinkageConfig,
    queries: &[Record],
    opts: &Options,
) -> Result<MatchCounts, ProtocolError> {
    match run_standalone(ch, Party::Client, Mode::Matching, config, queries, opts).await? {
        Outcome::Counts(c) => Ok(c),
        Outcome::Shares(_) | Outcome::Nothing => {
            Err(ProtocolError::Internal("wrong outcome".into()))
        }
    }
}

/// Matching mode, server side: the server learns nothing.
pub async fn run_server_matching<C: Channel>(
    ch: C,
    config: &LinkageConfig,
    database: &[Record],
    opts: &Options,
) -> Result<(), ProtocolError> {
    match run_standalone(ch, Party::Server, Mode::Matching, config, database, opts).await? {
        Outcome::Nothing => Ok(()),
        Outcome::Shares(_) | Outcome::Counts(_) => {
            Err(ProtocolError::Internal("wrong outcome".into()))
        }
    }
}

/// What a run produced for this party.
pub(crate) enum Outcome {
    Shares(Vec<ResultShare>),
    Counts(MatchCounts),
    Nothing,
}

/// Where a run's OTs come from.
pub(crate) enum OtSource<'a> {
    /// The connection's [`PeerOt`]: fresh instances, no setup messages.
    Shared(&'a PeerOt),
    /// A setup of its own on the run's channel, after the handshake.
    PerRun(ExtensionConfig),
}

impl OtSource<'_> {
    fn config(&self) -> ExtensionConfig {
        match self {
            OtSource::Shared(p) => p.config(),
            OtSource::PerRun(c) => *c,
        }
    }
}

/// Everything a run needs besides its channel, records and OT source.
pub(crate) struct RunParams<'a> {
    pub(crate) carries: Carries,
    pub(crate) lanes_per_chunk: usize,
    pub(crate) record_arity: usize,
    pub(crate) ot_backend: OtBackend,
    pub(crate) expected_peer_records: Option<u64>,
    pub(crate) max_peer_records: u64,
    pub(crate) context: &'a [u8],
    pub(crate) progress: Option<ProgressFn>,
    /// The legacy flag of [`Options::cancel`], read at chunk boundaries.
    pub(crate) cancel_flag: Option<Arc<AtomicBool>>,
}

/// What a finished run returns.
pub(crate) struct Finished {
    pub(crate) outcome: Outcome,
    pub(crate) agreement: Agreement,
    pub(crate) stats: ChannelStats,
    pub(crate) comparisons: u64,
}

/// The API of [`Options`]: OT setup on the run's own channel.
async fn run_standalone<C: Channel>(
    ch: C,
    me: Party,
    mode: Mode,
    config: &LinkageConfig,
    records: &[Record],
    opts: &Options,
) -> Result<Outcome, ProtocolError> {
    let params = RunParams {
        carries: opts.carries,
        lanes_per_chunk: opts.lanes_per_chunk,
        record_arity: opts.record_arity,
        ot_backend: opts.ot_backend,
        expected_peer_records: opts.expected_peer_records.map(|n| n as u64),
        max_peer_records: opts.max_peer_records,
        context: &opts.context,
        progress: opts.progress.clone(),
        cancel_flag: opts.cancel.clone(),
    };
    let ch = JobChannel::new(ch, CancellationToken::new());
    let done = execute(
        ch,
        me,
        mode,
        config,
        records,
        &params,
        OtSource::PerRun(opts.ot),
    )
    .await?;
    Ok(done.outcome)
}

/// One run: handshake, OTs, chunks. Cancellation errors are named as such
/// whatever step noticed them.
pub(crate) async fn execute<C: Channel>(
    ch: JobChannel<C>,
    me: Party,
    mode: Mode,
    config: &LinkageConfig,
    records: &[Record],
    params: &RunParams<'_>,
    source: OtSource<'_>,
) -> Result<Finished, ProtocolError> {
    let status = ch.status();
    execute_inner(ch, me, mode, config, records, params, source)
        .await
        .map_err(|e| status.explain(e))
}

async fn execute_inner<C: Channel>(
    mut ch: JobChannel<C>,
    me: Party,
    mode: Mode,
    config: &LinkageConfig,
    records: &[Record],
    params: &RunParams<'_>,
    source: OtSource<'_>,
) -> Result<Finished, ProtocolError> {
    match me {
        Party::Client => check_records(config, records, &[])?,
        Party::Server => check_records(config, &[], records)?,
    }
    let plan = Plan::new(config, params.carries)?;
    if params.lanes_per_chunk == 0 || params.lanes_per_chunk > MAX_LANES_PER_CHUNK {
        return Err(ProtocolError::InvalidOptions(format!(
            "lanes_per_chunk = {} is outside 1..={MAX_LANES_PER_CHUNK}",
            params.lanes_per_chunk
        )));
    }
    if !valid_record_arity(params.record_arity) {
        return Err(ProtocolError::InvalidOptions(format!(
            "record_arity = {} is not one of {RECORD_ARITIES:?}",
            params.record_arity
        )));
    }
    if records.len() > MAX_RECORDS {
        return Err(ProtocolError::InvalidOptions(format!(
            "{} records exceed {MAX_RECORDS}",
            records.len()
        )));
    }
    let max_peer = params.max_peer_records.min(MAX_RECORDS as u64);
    let hello = Hello {
        role: me,
        mode,
        carries: params.carries,
        ot_k: source.config().k() as u8,
        record_arity: params.record_arity as u8,
        ot_backend: params.ot_backend,
        records: records.len() as u64,
        lanes_per_chunk: params.lanes_per_chunk as u64,
        fingerprint: fingerprint(config),
        context: context_digest(params.context),
        nonce: fresh_nonce(),
    };
    ch.send(Bytes::copy_from_slice(&hello.encode())).await?;
    let msg = ch.recv().await?;
    if msg.len() != HANDSHAKE_LEN {
        return Err(HandshakeError::Malformed("wrong length").into());
    }
    let peer = Hello::decode(&msg)?;
    // The peer's count is checked before anything is sized by it.
    hello.check_peer(&peer, max_peer, params.expected_peer_records)?;
    let agreement = Agreement::derive(&hello, &peer);
    let peer_records = usize::try_from(peer.records)
        .map_err(|_| ProtocolError::PeerGarbage("record count".into()))?;
    let (m, n) = match me {
        Party::Client => (records.len(), peer_records),
        Party::Server => (peer_records, records.len()),
    };
    let comparisons = (m as u64).saturating_mul(n as u64);
    let schedule =
        Schedule::new(m, n, params.lanes_per_chunk).with_record_arity(params.record_arity);
    if m == 0 || n == 0 {
        // Nothing to compare: (0, 0, 0) per query, counts zero. Both
        // parties know this from the handshake, so zero shares hide
        // nothing.
        if let Some(p) = &params.progress {
            p(1.0);
        }
        let outcome = match (mode, me) {
            (Mode::Linkage, _) => Outcome::Shares(vec![ResultShare::default(); m]),
            (Mode::Matching, Party::Client) => Outcome::Counts(MatchCounts::default()),
            (Mode::Matching, Party::Server) => Outcome::Nothing,
        };
        return Ok(Finished {
            outcome,
            agreement,
            stats: ch.stats(),
            comparisons,
        });
    }
    let ots = match source {
        OtSource::Shared(p) => p.streams(me, &agreement.ot_tweak),
        OtSource::PerRun(cfg) => {
            // The setup's context is the transcript: unique per run.
            let mut ctx = b"mpc-core/epilink/".to_vec();
            ctx.extend_from_slice(&agreement.ot_tweak);
            PeerOt::establish_with(&mut ch, me, &ctx, cfg)
                .await?
                .streams(me, &agreement.ot_tweak)
        }
    };
    let ots = ots.with_backend(params.ot_backend, &agreement.ot_tweak);
    let mut run = Run {
        engine: TwoParty { ch, me, ots },
        plan: &plan,
        params,
        mine: records,
        vp: None,
    };
    let shares: Vec<ResultShare> = drive(&mut run, &plan, &schedule)
        .await?
        .into_iter()
        .map(|d| ResultShare {
            is_match: d.is_match,
            tentative: d.tentative,
            best_index: d.index,
        })
        .collect();
    let outcome = match (mode, me) {
        (Mode::Linkage, _) => Outcome::Shares(shares),
        (Mode::Matching, _) => {
            let counts = run.count(&shares).await?;
            match me {
                Party::Client => Outcome::Counts(counts.unwrap_or_default()),
                Party::Server => Outcome::Nothing,
            }
        }
    };
    Ok(Finished {
        outcome,
        agreement,
        stats: run.engine.ch.stats(),
        comparisons,
    })
}

/// State of one run: the two-party side of the chunk driver.
struct Run<'a, C: Channel> {
    engine: TwoParty<JobChannel<C>>,
    plan: &'a Plan,
    params: &'a RunParams<'a>,
    /// This party's records (queries or database).
    mine: &'a [Record],
    /// The vector-product pads of the current query block.
    vp: Option<VectorProducts>,
}

impl<C: Channel> Driver for Run<'_, C> {
    type E = TwoParty<JobChannel<C>>;

    /// Cancellation check, the block's vector-product setup on its first
    /// chunk, then this party's count shares by vector products.
    async fn prepare(
        &mut self,
        _plan: &Plan,
        chunk: &Chunk,
    ) -> Result<(Option<CountShares>, Option<CountShares>), ProtocolError> {
        self.control().await?;
        if chunk.first_of_block {
            self.vp = Some(self.setup_block(chunk.first_query, chunk.queries).await?);
        }
        let mut vp = self
            .vp
            .take()
            .ok_or_else(|| ProtocolError::Internal("no vector products".into()))?;
        let counts = self.counts(&mut vp, chunk).await;
        self.vp = Some(vp);
        let counts = counts?;
        Ok(match self.engine.me {
            Party::Client => (Some(counts), None),
            Party::Server => (None, Some(counts)),
        })
    }

    fn parts(&mut self) -> (&mut Self::E, Option<&[Record]>, Option<&[Record]>) {
        let me = self.engine.me;
        let mine = Some(self.mine);
        match me {
            Party::Client => (&mut self.engine, mine, None),
            Party::Server => (&mut self.engine, None, mine),
        }
    }

    fn block_done(&mut self) {
        self.vp = None;
    }

    fn chunk_done(&mut self, done: u64, total: u64) {
        if let Some(p) = &self.params.progress {
            let f = if total == 0 {
                1.0
            } else {
                done as f64 / total as f64
            };
            p(f.min(1.0));
        }
    }
}

/// Per query of the block, per field: the vector-product pad streams
/// (Dice fields only).
type VectorProducts = Vec<Vec<Option<FieldPads>>>;

impl<C: Channel> Run<'_, C> {
    /// At a chunk boundary: the legacy flag of [`Options::cancel`] cancels
    /// the job like its token would; either way the peer is told (the job
    /// channel's cancel message) and both stop.
    async fn control(&mut self) -> Result<(), ProtocolError> {
        if self
            .params
            .cancel_flag
            .as_ref()
            .is_some_and(|c| c.load(Ordering::Relaxed))
        {
            self.engine.ch.cancel();
        }
        self.engine.ch.check_cancelled().await
    }

    fn dice_fields(&self) -> Vec<usize> {
        (0..self.plan.fields.len())
            .filter(|&f| self.plan.fields[f].comparator == Comparator::Dice)
            .collect()
    }

    /// Vector-product setup for the queries of one block: one OT per query
    /// bit, with the client's bits as choices, in one batch.
    async fn setup_block(
        &mut self,
        first: usize,
        count: usize,
    ) -> Result<VectorProducts, ProtocolError> {
        let fields = self.dice_fields();
        let nf = self.plan.fields.len();
        let mut lens = Vec::with_capacity(count * fields.len());
        let mut filters = Vec::new();
        for q in first..first + count {
            for &f in &fields {
                let bits = self.plan.fields[f].bitlength;
                lens.push(bits);
                if self.engine.me == Party::Client {
                    filters.push(match &self.mine[q][f] {
                        // Checked against the configuration (bit length,
                        // zero padding) by `check_records`.
                        Some(v) => Lanes::from_bytes(v.as_bytes(), bits).map_err(|e| {
                            ProtocolError::Internal(format!("a checked record: {e}"))
                        })?,
                        None => Lanes::zeros(bits),
                    });
                }
            }
        }
        let client_filters = (self.engine.me == Party::Client).then_some(filters.as_slice());
        let TwoParty { ch, ots, .. } = &mut self.engine;
        let mut pads = vecprod::setup(ch, ots, client_filters, &lens)
            .await?
            .into_iter();
        let mut out = Vec::with_capacity(count);
        for _ in 0..count {
            let mut row: Vec<Option<FieldPads>> = (0..nf).map(|_| None).collect();
            for &f in &fields {
                row[f] = Some(
                    pads.next()
                        .ok_or_else(|| ProtocolError::Internal("pads".into()))?,
                );
            }
            out.push(row);
        }
        Ok(out)
    }

    /// This party's additive shares of every Dice pair's intersection
    /// count for the chunk, lane `q·records + r`.
    async fn counts(
        &mut self,
        vp: &mut VectorProducts,
        chunk: &Chunk,
    ) -> Result<Vec<Option<Vec<u32>>>, ProtocolError> {
        let lanes = chunk.queries * chunk.records;
        let mut counts: Vec<Option<Vec<u32>>> = vec![None; self.plan.pairs.len()];
        let dice: Vec<usize> = self.plan.dice_pairs().collect();
        for &t in &dice {
            counts[t] = Some(Vec::with_capacity(lanes));
        }
        // The server's database fields, transposed once per chunk.
        let mut columns: Vec<Option<Vec<Lanes>>> = vec![None; self.plan.fields.len()];
        if self.engine.me == Party::Server {
            let slice = &self.mine[chunk.first_record..chunk.first_record + chunk.records];
            for &t in &dice {
                let j = self.plan.pairs[t].database;
                if columns[j].is_none() {
                    let values: Vec<Option<&[u8]>> = slice
                        .iter()
                        .map(|r| r[j].as_ref().map(|v| v.as_bytes()))
                        .collect();
                    columns[j] = Some(vecprod::columns(&values, self.plan.fields[j].bitlength));
                }
            }
        }
        let ch = &mut self.engine.ch;
        for pads in vp.iter_mut().take(chunk.queries) {
            for &t in &dice {
                let pair = &self.plan.pairs[t];
                let width = self.plan.fields[pair.query].count_width as u32;
                let field = pads[pair.query]
                    .as_mut()
                    .ok_or_else(|| ProtocolError::Internal("pads".into()))?;
                let shares = vecprod::counts(
                    ch,
                    field,
                    chunk.records,
                    columns[pair.database].as_deref(),
                    width,
                )
                .await?;
                if let Some(c) = counts[t].as_mut() {
                    c.extend(shares.into_iter().map(|v| v as u32));
                }
            }
        }
        Ok(counts)
    }

    /// Matching mode: counts the match and tentative shares in a circuit
    /// whose output only the client learns.
    async fn count(
        &mut self,
        shares: &[ResultShare],
    ) -> Result<Option<MatchCounts>, ProtocolError> {
        self.control().await?;
        let m = shares.len();
        let width = bits_for(m as u128);
        let me = self.engine.me;
        let mut ni = NetInputs::new(me);
        let (mc, tc) = count_circuit(&mut ni, self.plan, m, Some(shares))?;
        let mo = ni.net.output_word(&mc, Reveal::To(Party::Client))?;
        let to = ni.net.output_word(&tc, Reveal::To(Party::Client))?;
        let NetInputs { net, inputs, .. } = ni;
        let net = net.finish();
        let e = &mut self.engine;
        let material = e.ots.material(&mut e.ch, &net).await?;
        let outputs = run_online(&net, me, &mut e.ch, &material, inputs).await?;
        Ok(match me {
            Party::Client => {
                let matches = outputs.word(mo, width)?.first().copied().unwrap_or(0) as u64;
                let tentative = outputs.word(to, width)?.first().copied().unwrap_or(0) as u64;
                Some(MatchCounts { matches, tentative })
            }
            Party::Server => None,
        })
    }
}

/// The match and tentative count words of the matching-mode circuit.
pub(crate) type CountWords<W> = (Word<W>, Word<W>);

/// The matching-mode counting circuit over the `m` queries' shared match
/// and tentative bits: the two count words (`bits_for(m)` bits each).
/// `shares` are this party's shares (`None` when only the shape matters,
/// as in the cost engine).
pub(crate) fn count_circuit<B: InputSink>(
    b: &mut B,
    plan: &Plan,
    m: usize,
    shares: Option<&[ResultShare]>,
) -> Result<CountWords<B::Wire>, ProtocolError> {
    let width = bits_for(m as u128);
    let bits = |f: fn(&ResultShare) -> bool| {
        shares.map(|s| vec![Lanes::from_bools(&s.iter().map(f).collect::<Vec<_>>())])
    };
    let mw = b.declare(Owner::Shared, 1, m, bits(|s| s.is_match))?;
    let tw = b.declare(Owner::Shared, 1, m, bits(|s| s.tentative))?;
    let mc = sum_lanes(b, plan.carries.similarity, &mw, width)?;
    let tc = sum_lanes(b, plan.carries.similarity, &tw, width)?;
    Ok((mc, tc))
}
