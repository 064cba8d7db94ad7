//! The cost-counting [`Engine`]: the very chunk pipeline the two-party and
//! plaintext engines run (`pipeline::drive`), on an engine that sends
//! nothing and instead tallies, per party, every message the two-party run
//! would send and receive, in the order it would.
//!
//! Why an engine and not formulas: the pipeline decides how many
//! comparison layers, conversions and circuits a job takes, and the
//! circuits decide how many ANDs and levels each has. Formulas written
//! beside that code drift from it; running the code itself cannot. What
//! this module states by hand is only the message layout of each
//! primitive (OT extension, choice fixing, GMW layers and outputs, bit
//! products, vector products, handshake, job framing), each taken from the
//! constants of the module that sends it. The test
//! `tests/epilink_cost_engine.rs` compares the prediction with the
//! counters of real runs, so a change of any primitive's messages shows up
//! there as a difference, not as a silently wrong table.
//!
//! The tally mirrors [`crate::channel::Counters`] exactly: payload bytes
//! plus the job channel's kind byte per message, and a *round* per flight
//! of sends (a send that follows a receive). Both parties are counted
//! separately because their flights differ (e.g. one-way OT batches).

use protocol_spec::config::{Comparator, LinkageConfig};
use serde::Serialize;

use super::circuit::{ChunkShape, decide, select, select_groups, similarities, spread};
use super::control::KIND_BYTES;
use super::error::ProtocolError;
use super::handshake::{HANDSHAKE_LEN, Mode};
use super::inputs::{InputSink, Owner, PartyChunk, chunk_inputs};
use super::ots::BIT_ROT_BATCH;
use super::pipeline::{CountShares, Driver, Engine, SimilarityShares, drive};
use super::plan::{Carries, Plan};
use super::protocol::count_circuit;
use super::schedule::{Chunk, Schedule};
use crate::block::Block;
use crate::channel::{ChannelStats, Counters};
use crate::circuit::netlist::{NetWire, Netlist, NetlistBuilder, Reveal};
use crate::circuit::{AndKind, Builder, CResult, Knowledge, Word};
use crate::gmw::{CHUNK_BYTES, FixedPlan};
use crate::ot::ExtensionConfig;
use crate::ot::derive::MSG_OTS;
use crate::ot::extension::BATCH_OTS;
use crate::ot::softspoken::{ROWS, correction_len};
use crate::{Lanes, Party};

/// What a job's run looks like from the outside: everything its messages
/// depend on (never the values).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunShape {
    /// Linkage or matching.
    pub mode: Mode,
    /// M, the client's query records.
    pub queries: usize,
    /// N, the server's database records.
    pub records: usize,
    /// Carry structures of the circuits.
    pub carries: Carries,
    /// (query, record) pairs per chunk.
    pub lanes_per_chunk: usize,
    /// The OT extension (its correction words are most of the bytes). The
    /// engine models SoftSpokenOT/IKNP streams; Ferret
    /// ([`super::OtBackend::Ferret`]) is not modelled (its bytes are
    /// measured: BENCHMARKS.md).
    pub ot: ExtensionConfig,
    /// Candidates per group of the record tournament (2, 4 or 8).
    pub record_arity: usize,
}

/// One part of the protocol and what it cost over the whole job.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PartTally {
    /// What the part computes.
    pub part: &'static str,
    /// Random OTs extended for it (both directions).
    pub ots: u64,
    /// Bytes on the job channel, both directions (kind bytes included).
    pub bytes: u64,
    /// Messages, both directions.
    pub messages: u64,
    /// Flights (rounds) started during the part, the larger of the two
    /// parties' counts.
    pub rounds: u64,
    #[serde(skip)]
    party_rounds: [u64; 2],
}

/// The predicted counters of one job.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Prediction {
    /// What the client's job channel will count.
    #[serde(serialize_with = "stats_json")]
    pub client: ChannelStats,
    /// What the server's job channel will count.
    #[serde(serialize_with = "stats_json")]
    pub server: ChannelStats,
    /// Random OTs extended, both directions.
    pub ots: u64,
    /// The same, per part, in the order the parts first occur.
    pub parts: Vec<PartTally>,
}

fn stats_json<S: serde::Serializer>(s: &ChannelStats, ser: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeStruct;
    let mut st = ser.serialize_struct("ChannelStats", 5)?;
    st.serialize_field("bytes_sent", &s.bytes_sent)?;
    st.serialize_field("bytes_received", &s.bytes_received)?;
    st.serialize_field("messages_sent", &s.messages_sent)?;
    st.serialize_field("messages_received", &s.messages_received)?;
    st.serialize_field("rounds", &s.rounds)?;
    st.end()
}

impl Prediction {
    /// Bytes on the wire, both directions.
    pub fn total_bytes(&self) -> u64 {
        self.client.bytes_sent + self.server.bytes_sent
    }

    /// Flights of the party with more of them (what a WAN waits for).
    pub fn rounds(&self) -> u64 {
        self.client.rounds.max(self.server.rounds)
    }
}

/// Part names, one word for one thing across the table.
mod part {
    pub const HANDSHAKE: &str = "handshake";
    pub const VECTOR_PRODUCTS: &str = "vector products: intersection counts";
    pub const SIMILARITY: &str =
        "similarity circuit: A2B of counts, |a|+|b|, Dice division, equality, δ, D' per pairing";
    pub const B2A: &str = "B2A of similarities (bit × public weight)";
    pub const PRODUCTS: &str = "comparison products (bit × integer: cross products, numerator mux)";
    pub const SELECT: &str = "comparison select circuit (sign + mux of D' and index)";
    pub const DECIDE: &str = "threshold decisions (once per query block)";
    pub const COUNT: &str = "matching count (once per job)";
}

/// The per-party message tally.
struct Tape {
    ot: ExtensionConfig,
    counters: [Counters; 2],
    parts: Vec<PartTally>,
    current: usize,
}

fn slot(p: Party) -> usize {
    match p {
        Party::Client => 0,
        Party::Server => 1,
    }
}

impl Tape {
    fn new(ot: ExtensionConfig) -> Self {
        Tape {
            ot,
            counters: [Counters::default(), Counters::default()],
            parts: Vec::new(),
            current: 0,
        }
    }

    fn part(&mut self, name: &'static str) {
        self.current = match self.parts.iter().position(|p| p.part == name) {
            Some(i) => i,
            None => {
                self.parts.push(PartTally {
                    part: name,
                    ..PartTally::default()
                });
                self.parts.len() - 1
            }
        };
    }

    fn send(&mut self, p: Party, payload: usize) {
        let len = payload + KIND_BYTES;
        let c = &mut self.counters[slot(p)];
        let before = c.stats().rounds;
        c.on_send(len);
        let started = c.stats().rounds - before;
        let part = &mut self.parts[self.current];
        part.bytes += len as u64;
        part.messages += 1;
        part.party_rounds[slot(p)] += started;
        part.rounds = part.party_rounds[0].max(part.party_rounds[1]);
    }

    fn recv(&mut self, p: Party, payload: usize) {
        self.counters[slot(p)].on_recv(payload + KIND_BYTES);
    }

    /// `send_payload`/`recv_payload` of `len` bytes: messages of at most
    /// [`CHUNK_BYTES`], none for an empty payload.
    fn payload(&mut self, from: Party, len: usize, receiving: bool) {
        let mut left = len;
        while left > 0 {
            let m = left.min(CHUNK_BYTES);
            if receiving {
                self.recv(from, m);
            } else {
                self.send(from, m);
            }
            left -= m;
        }
    }

    fn send_payload(&mut self, p: Party, len: usize) {
        self.payload(p, len, false);
    }

    fn recv_payload(&mut self, p: Party, len: usize) {
        self.payload(p, len, true);
    }

    /// The correction messages of `n` OTs: one per batch of
    /// [`BATCH_OTS`], `correction_len` blocks each (the extension's own
    /// constants: `128/k − 1` blocks per 128 OTs for SoftSpokenOT).
    fn corrections(&self, n: usize) -> Vec<usize> {
        let batch_words = BATCH_OTS / ROWS;
        let mut left = n.div_ceil(ROWS);
        let mut out = Vec::new();
        while left > 0 {
            let bw = batch_words.min(left);
            out.push(correction_len(self.ot.k(), bw) * Block::BYTES);
            left -= bw;
        }
        out
    }

    /// `CotReceiver::extend` of `n` OTs at party `p`: sends corrections.
    fn extend_receiver(&mut self, p: Party, n: usize) {
        for len in self.corrections(n) {
            self.send(p, len);
        }
        self.parts[self.current].ots += n as u64;
    }

    /// `CotSender::extend` of `n` OTs at party `p`: receives them.
    fn extend_sender(&mut self, p: Party, n: usize) {
        for len in self.corrections(n) {
            self.recv(p, len);
        }
    }

    /// `OtStreams::extend` at `p`: its receiver side first, then its
    /// sender side.
    fn extend(&mut self, p: Party, n_send: usize, n_recv: usize) {
        self.extend_receiver(p, n_recv);
        self.extend_sender(p, n_send);
    }

    /// `OtStreams::extend_one` at `p`.
    fn extend_one(&mut self, p: Party, n: usize, i_send: bool) {
        if i_send {
            self.extend_sender(p, n);
        } else {
            self.extend_receiver(p, n);
        }
    }

    /// `fix_choices` of `n` OTs: the receiver sends the masked choices in
    /// messages of at most [`MSG_OTS`] bits; the sender receives them.
    fn fix_choices(&mut self, p: Party, n: usize, i_receive_ots: bool) {
        let mut left = n;
        while left > 0 {
            let bits = left.min(MSG_OTS);
            if i_receive_ots {
                self.send(p, bits.div_ceil(8));
            } else {
                self.recv(p, bits.div_ceil(8));
            }
            left -= bits;
        }
    }

    /// `OtStreams::product_pair` of `n` OTs each way at `p` (SoftSpokenOT):
    /// the receiver side's corrections and masked choices go out first,
    /// then the peer's are read.
    fn product_pair(&mut self, p: Party, n: usize) {
        self.extend_receiver(p, n);
        self.fix_choices(p, n, true);
        self.extend_sender(p, n);
        self.fix_choices(p, n, false);
    }

    /// `bitmul::bit_times_arith` of `n` products at `width` bits, both
    /// parties.
    fn bit_times_arith(&mut self, n: usize, width: u32) {
        if n == 0 {
            return;
        }
        let tau = (n * width as usize).div_ceil(8);
        for p in [Party::Client, Party::Server] {
            self.product_pair(p, n);
            self.send_payload(p, tau);
            self.recv_payload(p, tau);
        }
    }

    /// `muxprod::bit_times_mixed` of `n` products: an integer of `width`
    /// bits and a word of `word_width` bits per product, both parties.
    fn bit_times_mixed(&mut self, n: usize, width: u32, word_width: usize) {
        if n == 0 {
            return;
        }
        let tau = (n * width as usize).div_ceil(8) + (n * word_width).div_ceil(8);
        for p in [Party::Client, Party::Server] {
            self.product_pair(p, n);
            self.send_payload(p, tau);
            self.recv_payload(p, tau);
        }
    }

    /// `bitmul::bit_times_public`: one OT per element, client sends.
    fn bit_times_public(&mut self, n: usize, width: u32) {
        if n == 0 {
            return;
        }
        let tau = (n * width as usize).div_ceil(8);
        // Client: OT sender.
        self.extend_one(Party::Client, n, true);
        self.fix_choices(Party::Client, n, false);
        self.send_payload(Party::Client, tau);
        // Server: OT receiver.
        self.extend_one(Party::Server, n, false);
        self.fix_choices(Party::Server, n, true);
        self.recv_payload(Party::Server, tau);
    }

    /// A GMW evaluation of `net` as the two-party engine runs it
    /// (`twoparty::fixed_material`, then `run_online`): bit-ROTs in batches
    /// of [`BIT_ROT_BATCH`], the fixed-choice ANDs' key OTs riding in the
    /// first batch ([`FixedPlan`]); then one message each way per level
    /// with interactive ANDs (a fixed AND's chooser sends one bit per
    /// class, the other party one per lane), then the output exchange.
    fn gmw(&mut self, net: &Netlist) {
        let plan = FixedPlan::new(net);
        let req = plan.bit_requirements();
        let layers = net.layers();
        let and_bits = |id: u32, party: Party| -> usize {
            let info = net.info()[id as usize];
            plan.bits_sent(id, party, info.lanes as usize)
                .unwrap_or(match info.and_kind {
                    Some(AndKind::Triple) => 2 * info.lanes as usize,
                    _ => info.lanes as usize,
                })
        };
        for p in [Party::Client, Party::Server] {
            let n_recv = req.rots_received_by(p) as usize;
            let n_send = req.rots_received_by(p.other()) as usize;
            let key_r = plan.keys_received_by(p) as usize;
            let key_s = plan.keys_received_by(p.other()) as usize;
            let mut keys_due = key_r + key_s > 0;
            let (mut done_recv, mut done_send) = (0, 0);
            while keys_due || done_recv < n_recv || done_send < n_send {
                let r = BIT_ROT_BATCH.min(n_recv - done_recv);
                let s = BIT_ROT_BATCH.min(n_send - done_send);
                let (kr, ks) = if keys_due { (key_r, key_s) } else { (0, 0) };
                self.extend(p, s + ks, r + kr);
                keys_due = false;
                done_recv += r;
                done_send += s;
            }
            for layer in &layers {
                if layer.interactive.is_empty() {
                    continue;
                }
                let mine: usize = layer.interactive.iter().map(|&g| and_bits(g, p)).sum();
                let theirs: usize = layer
                    .interactive
                    .iter()
                    .map(|&g| and_bits(g, p.other()))
                    .sum();
                self.send_payload(p, mine.div_ceil(8));
                self.recv_payload(p, theirs.div_ceil(8));
            }
            let (mut out_bits, mut in_bits) = (0usize, 0usize);
            for o in net.outputs() {
                let info = net.info()[o.wire as usize];
                let (send, recv) = output_flow(info.knowledge, o.reveal, p);
                if send {
                    out_bits += info.lanes as usize;
                }
                if recv {
                    in_bits += info.lanes as usize;
                }
            }
            if out_bits > 0 {
                self.send_payload(p, out_bits.div_ceil(8));
            }
            if in_bits > 0 {
                self.recv_payload(p, in_bits.div_ceil(8));
            }
        }
    }
}

/// Who sends and who receives in the GMW output exchange (as `run_online`
/// does): `(p sends, p receives)`.
fn output_flow(k: Knowledge, reveal: Reveal, me: Party) -> (bool, bool) {
    let other = me.other();
    match (reveal, k) {
        (Reveal::Shares, _) => (me == Party::Client, me == Party::Server),
        (_, Knowledge::Public) => (false, false),
        (Reveal::Both, Knowledge::Shared) => (true, true),
        (Reveal::Both, Knowledge::Private(p)) => (p == me, p == other),
        (Reveal::To(q), Knowledge::Shared) => (q == other, q == me),
        (Reveal::To(q), Knowledge::Private(p)) => (p == me && q == other, p == other && q == me),
    }
}

/// A netlist builder that takes no values: the two-party engine's
/// `NetInputs` without the inputs, so the netlist is gate for gate the one
/// both parties evaluate.
struct Shapes(NetlistBuilder);

impl Builder for Shapes {
    type Wire = NetWire;
    fn lanes(&self, w: &NetWire) -> usize {
        self.0.lanes(w)
    }
    fn constant(&mut self, bits: Lanes) -> CResult<NetWire> {
        self.0.constant(bits)
    }
    fn xor(&mut self, a: &NetWire, b: &NetWire) -> CResult<NetWire> {
        self.0.xor(a, b)
    }
    fn and(&mut self, a: &NetWire, b: &NetWire) -> CResult<NetWire> {
        self.0.and(a, b)
    }
    fn not(&mut self, a: &NetWire) -> CResult<NetWire> {
        self.0.not(a)
    }
    fn slice_lanes(&mut self, a: &NetWire, start: usize, len: usize) -> CResult<NetWire> {
        self.0.slice_lanes(a, start, len)
    }
    fn concat_lanes(&mut self, parts: &[NetWire]) -> CResult<NetWire> {
        self.0.concat_lanes(parts)
    }
    fn gather_lanes(&mut self, a: &NetWire, indices: &[u32]) -> CResult<NetWire> {
        self.0.gather_lanes(a, indices)
    }
}

impl InputSink for Shapes {
    fn declare(
        &mut self,
        owner: Owner,
        width: usize,
        lanes: usize,
        _value: Option<Vec<Lanes>>,
    ) -> CResult<Word<NetWire>> {
        match owner {
            Owner::Private(p) => self.0.input_word(p, width, lanes),
            Owner::Shared => self.0.shared_input_word(width, lanes),
        }
    }
}

impl Shapes {
    fn new() -> Self {
        Shapes(NetlistBuilder::new())
    }

    /// Marks `words` as share outputs, as the two-party engine does.
    fn finish(mut self, words: &[Word<NetWire>]) -> CResult<Netlist> {
        for w in words {
            self.0.output_word(w, Reveal::Shares)?;
        }
        Ok(self.0.finish())
    }
}

fn zeros(width: usize, lanes: usize) -> Vec<Lanes> {
    vec![Lanes::zeros(lanes); width]
}

/// The cost-counting [`Engine`]: returns all-zero "shares" of the right
/// shapes (the pipeline's message sizes never depend on values) and tallies
/// the messages the two-party engine would exchange.
struct CostEngine {
    tape: Tape,
}

impl Engine for CostEngine {
    fn party(&self) -> Party {
        Party::Client
    }

    async fn similarities(
        &mut self,
        plan: &Plan,
        shape: &ChunkShape,
        _client: Option<PartyChunk<'_>>,
        _server: Option<PartyChunk<'_>>,
    ) -> Result<SimilarityShares, ProtocolError> {
        self.tape.part(part::SIMILARITY);
        let mut b = Shapes::new();
        let inputs = chunk_inputs(&mut b, plan, shape, None, None)?;
        let lanes = spread(&mut b, shape, &inputs)?;
        let sims = similarities(&mut b, plan, &lanes)?;
        let mut words = Vec::new();
        for w in sims.dice.iter().flatten() {
            words.push(w.clone());
        }
        for e in sims.equal.iter().flatten() {
            words.push(Word::from_bits(vec![*e]));
        }
        words.extend(sims.denominators.iter().cloned());
        let n = shape.lanes();
        let out = SimilarityShares {
            dice: sims
                .dice
                .iter()
                .map(|w| w.as_ref().map(|w| zeros(w.width(), n)))
                .collect(),
            equal: sims
                .equal
                .iter()
                .map(|e| e.as_ref().map(|_| Lanes::zeros(n)))
                .collect(),
            denominators: sims
                .denominators
                .iter()
                .map(|w| zeros(w.width(), n))
                .collect(),
        };
        let net = b.finish(&words)?;
        self.tape.gmw(&net);
        Ok(out)
    }

    async fn b2a(&mut self, bits: &[Lanes], width: u32) -> Result<Vec<u64>, ProtocolError> {
        self.tape.part(part::B2A);
        let lanes = bits.first().map_or(0, Lanes::len);
        self.tape.bit_times_public(lanes * bits.len(), width);
        Ok(vec![0; lanes])
    }

    async fn bit_mul(
        &mut self,
        bits: &Lanes,
        x: &[u64],
        width: u32,
    ) -> Result<Vec<u64>, ProtocolError> {
        self.tape.part(part::PRODUCTS);
        self.tape.bit_times_arith(bits.len(), width);
        Ok(vec![0; x.len()])
    }

    async fn select(
        &mut self,
        plan: &Plan,
        y: &[u64],
        left: &[Vec<Lanes>],
        right: &[Vec<Lanes>],
    ) -> Result<(Lanes, Vec<Vec<Lanes>>), ProtocolError> {
        self.tape.part(part::SELECT);
        let lanes = y.len();
        let w = plan.arith_width as usize;
        let mut b = Shapes::new();
        let yc = b.declare(Owner::Private(Party::Client), w, lanes, None)?;
        let ys = b.declare(Owner::Private(Party::Server), w, lanes, None)?;
        let declare = |b: &mut Shapes, words: &[Vec<Lanes>]| -> CResult<Vec<Word<NetWire>>> {
            words
                .iter()
                .map(|w| b.declare(Owner::Shared, w.len(), lanes, None))
                .collect()
        };
        let l = declare(&mut b, left)?;
        let r = declare(&mut b, right)?;
        let (s, words) = select(&mut b, plan, &yc, &ys, &l, &r)?;
        let mut all = vec![Word::from_bits(vec![s])];
        all.extend(words);
        let net = b.finish(&all)?;
        self.tape.gmw(&net);
        Ok((
            Lanes::zeros(lanes),
            left.iter().map(|w| zeros(w.len(), lanes)).collect(),
        ))
    }

    async fn select_groups(
        &mut self,
        plan: &Plan,
        y: &[u64],
        classes: &[(usize, usize)],
    ) -> Result<Vec<Vec<Lanes>>, ProtocolError> {
        self.tape.part(part::SELECT);
        let lanes = y.len();
        let w = plan.arith_width as usize;
        let mut b = Shapes::new();
        let yc = b.declare(Owner::Private(Party::Client), w, lanes, None)?;
        let ys = b.declare(Owner::Private(Party::Server), w, lanes, None)?;
        let winners = select_groups(&mut b, plan, &yc, &ys, classes)?;
        let all: Vec<Word<NetWire>> = winners
            .iter()
            .flatten()
            .map(|bit| Word::from_bits(vec![*bit]))
            .collect();
        let net = b.finish(&all)?;
        self.tape.gmw(&net);
        Ok(classes
            .iter()
            .map(|&(k, g)| (1..k).map(|_| Lanes::zeros(g)).collect())
            .collect())
    }

    async fn bit_mul_mixed(
        &mut self,
        bits: &Lanes,
        x: &[u64],
        width: u32,
        words: &[u64],
        word_width: usize,
    ) -> Result<(Vec<u64>, Vec<u64>), ProtocolError> {
        self.tape.part(part::PRODUCTS);
        self.tape.bit_times_mixed(bits.len(), width, word_width);
        Ok((vec![0; x.len()], vec![0; words.len()]))
    }

    async fn decide(
        &mut self,
        plan: &Plan,
        numerator: &[u64],
        denominator: &[Lanes],
    ) -> Result<(Lanes, Lanes), ProtocolError> {
        self.tape.part(part::DECIDE);
        let lanes = numerator.len();
        let mut b = Shapes::new();
        let nc = b.declare(Owner::Private(Party::Client), plan.n_width, lanes, None)?;
        let ns = b.declare(Owner::Private(Party::Server), plan.n_width, lanes, None)?;
        let d = b.declare(Owner::Shared, denominator.len(), lanes, None)?;
        let (m, t) = decide(&mut b, plan, &nc, &ns, &d)?;
        let net = b.finish(&[Word::from_bits(vec![m]), Word::from_bits(vec![t])])?;
        self.tape.gmw(&net);
        Ok((Lanes::zeros(lanes), Lanes::zeros(lanes)))
    }
}

/// The driver of the cost run: the vector products of `protocol.rs`'s
/// `Run` (one setup per query block, corrections per chunk), no records.
struct CostDriver {
    engine: CostEngine,
}

impl Driver for CostDriver {
    type E = CostEngine;

    async fn prepare(
        &mut self,
        plan: &Plan,
        chunk: &Chunk,
    ) -> Result<(Option<CountShares>, Option<CountShares>), ProtocolError> {
        let tape = &mut self.engine.tape;
        tape.part(part::VECTOR_PRODUCTS);
        if chunk.first_of_block {
            // One OT per query bit of every Dice field, client receives.
            let per_query: usize = plan
                .fields
                .iter()
                .filter(|f| f.comparator == Comparator::Dice)
                .map(|f| f.bitlength)
                .sum();
            let total = per_query * chunk.queries;
            tape.extend_one(Party::Client, total, false);
            tape.fix_choices(Party::Client, total, true);
            tape.extend_one(Party::Server, total, true);
            tape.fix_choices(Party::Server, total, false);
        }
        for _ in 0..chunk.queries {
            for t in plan.dice_pairs() {
                let f = &plan.fields[plan.pairs[t].query];
                let len = (f.bitlength * chunk.records * f.count_width).div_ceil(8);
                tape.send_payload(Party::Server, len);
                tape.recv_payload(Party::Client, len);
            }
        }
        Ok((None, None))
    }

    fn parts(
        &mut self,
    ) -> (
        &mut Self::E,
        Option<&[protocol_spec::config::Record]>,
        Option<&[protocol_spec::config::Record]>,
    ) {
        (&mut self.engine, None, None)
    }
}

/// Predicts the job channel's counters of both parties for a job of
/// `shape` on a connection whose OTs are already set up (the job API,
/// [`super::job::run_job`]; a standalone run adds the OT extension setup).
pub fn predict(config: &LinkageConfig, shape: &RunShape) -> Result<Prediction, ProtocolError> {
    let plan = Plan::new(config, shape.carries)?;
    let mut tape = Tape::new(shape.ot);
    tape.part(part::HANDSHAKE);
    for p in [Party::Client, Party::Server] {
        tape.send(p, HANDSHAKE_LEN);
        tape.recv(p, HANDSHAKE_LEN);
    }
    let (m, n) = (shape.queries, shape.records);
    if m > 0 && n > 0 {
        let schedule =
            Schedule::new(m, n, shape.lanes_per_chunk).with_record_arity(shape.record_arity);
        let mut driver = CostDriver {
            engine: CostEngine { tape },
        };
        let decisions = run_now(drive(&mut driver, &plan, &schedule))?;
        tape = driver.engine.tape;
        if shape.mode == Mode::Matching {
            tape.part(part::COUNT);
            let mut b = Shapes::new();
            let (mc, tc) = count_circuit(&mut b, &plan, decisions.len(), None)?;
            b.0.output_word(&mc, Reveal::To(Party::Client))?;
            b.0.output_word(&tc, Reveal::To(Party::Client))?;
            tape.gmw(&b.0.finish());
        }
    }
    let ots = tape.parts.iter().map(|p| p.ots).sum();
    Ok(Prediction {
        client: tape.counters[0].stats(),
        server: tape.counters[1].stats(),
        ots,
        parts: tape.parts,
    })
}

/// Runs a future that never waits (the cost engine does no I/O) in one
/// poll; a future that would wait is a bug, reported as such.
fn run_now<T>(
    fut: impl std::future::Future<Output = Result<T, ProtocolError>>,
) -> Result<T, ProtocolError> {
    use std::task::{Context, Poll, Waker};
    let mut fut = std::pin::pin!(fut);
    match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => Err(ProtocolError::Internal(
            "the cost engine waited for I/O".into(),
        )),
    }
}
