//! Netlist-recording backend: the circuit both parties evaluate with GMW.
//!
//! Both parties run the same gadget code against a [`NetlistBuilder`] and get
//! the same [`Netlist`]. Every wire carries its lane count, who knows it in
//! the clear ([`Knowledge`]) and its interactive AND-depth ("level"). The
//! GMW engine evaluates level by level: all interactive ANDs of a level go
//! into one message per party, so rounds grow with depth, not width.

use serde::Serialize;

use super::cost::Cost;
use super::word::Word;
use super::{
    AndKind, Builder, CResult, CircuitError, Knowledge, Lanes, Party, check_gather, check_range,
    same_lanes,
};

/// Handle to a wire of a netlist under construction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NetWire {
    id: u32,
    lanes: u32,
}

impl NetWire {
    /// Index of the wire (= index of the gate that defines it).
    pub fn id(&self) -> u32 {
        self.id
    }
}

/// The gate that defines a wire. Operands are wire indices.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Gate {
    /// Input number `.0` (see [`Netlist::inputs`]).
    Input(u32),
    /// Constant number `.0` (see [`Netlist::constants`]).
    Const(u32),
    /// XOR of two wires.
    Xor(u32, u32),
    /// AND of two wires; how it is evaluated is in [`WireInfo::and_kind`].
    And(u32, u32),
    /// Negation.
    Not(u32),
    /// Lanes `start ..` of a wire (length = the output's lane count).
    Slice {
        /// Source wire.
        src: u32,
        /// First lane.
        start: u32,
    },
    /// Concatenation of the wires `concat_parts[from .. to]`.
    Concat {
        /// Start in [`Netlist::concat_parts`].
        from: u32,
        /// End in [`Netlist::concat_parts`].
        to: u32,
    },
    /// Lane gather by index list number `indices`.
    Gather {
        /// Source wire.
        src: u32,
        /// Index into [`Netlist::gathers`].
        indices: u32,
    },
}

/// Static facts about one wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WireInfo {
    /// Lanes of the wire.
    pub lanes: u32,
    /// Who knows it in the clear.
    pub knowledge: Knowledge,
    /// Interactive AND-depth (0 = computable before any interaction).
    pub level: u32,
    /// For AND gates: how the AND is evaluated.
    pub and_kind: Option<AndKind>,
}

/// Who provides an input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum InputSource {
    /// One party knows the value and provides it; the other provides nothing.
    Private(Party),
    /// Both parties provide an XOR share (e.g. the output of an earlier
    /// circuit or of a conversion).
    Shared,
}

/// One input of the netlist.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InputSpec {
    /// The wire it defines.
    pub wire: u32,
    /// Who provides it.
    pub source: InputSource,
    /// Lanes expected.
    pub lanes: u32,
}

/// What happens to an output wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Reveal {
    /// Both parties learn the value.
    Both,
    /// Only this party learns the value.
    To(Party),
    /// Each party gets a fresh XOR share (re-randomised, so a share on its
    /// own is uniform even where the wire was computable by one party).
    Shares,
}

/// One output of the netlist.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutputSpec {
    /// The wire read.
    pub wire: u32,
    /// Who learns what.
    pub reveal: Reveal,
}

/// What the GMW preprocessing phase must produce for a netlist, per lane.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Requirements {
    /// Beaver triples (each from one bit-ROT in each direction).
    pub triples: u64,
    /// Mixed-owner ANDs where the client is the ROT receiver.
    pub ot_ands_client_receives: u64,
    /// Mixed-owner ANDs where the server is the ROT receiver.
    pub ot_ands_server_receives: u64,
}

impl Requirements {
    /// Bit-ROTs with `receiver` as receiver.
    pub fn rots_received_by(&self, receiver: Party) -> u64 {
        self.triples
            + match receiver {
                Party::Client => self.ot_ands_client_receives,
                Party::Server => self.ot_ands_server_receives,
            }
    }
}

/// A finished circuit: gates in topological (creation) order.
#[derive(Clone, Debug, Default)]
pub struct Netlist {
    gates: Vec<Gate>,
    info: Vec<WireInfo>,
    inputs: Vec<InputSpec>,
    outputs: Vec<OutputSpec>,
    constants: Vec<Lanes>,
    concat_parts: Vec<u32>,
    gathers: Vec<Vec<u32>>,
}

/// The gates of one level, in evaluation order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Layer {
    /// Interactive ANDs of this level: evaluated together, one message each
    /// way. Their inputs are all of lower levels.
    pub interactive: Vec<u32>,
    /// Gates evaluated locally after the interactive ones, in creation order.
    pub local: Vec<u32>,
}

impl Netlist {
    /// All gates; gate `i` defines wire `i`.
    pub fn gates(&self) -> &[Gate] {
        &self.gates
    }

    /// Facts about wire `i`.
    pub fn info(&self) -> &[WireInfo] {
        &self.info
    }

    /// Inputs in declaration order.
    pub fn inputs(&self) -> &[InputSpec] {
        &self.inputs
    }

    /// Outputs in declaration order.
    pub fn outputs(&self) -> &[OutputSpec] {
        &self.outputs
    }

    /// Constant lane vectors referenced by [`Gate::Const`].
    pub fn constants(&self) -> &[Lanes] {
        &self.constants
    }

    /// Operand lists of [`Gate::Concat`].
    pub fn concat_parts(&self) -> &[u32] {
        &self.concat_parts
    }

    /// Index lists of [`Gate::Gather`].
    pub fn gathers(&self) -> &[Vec<u32>] {
        &self.gathers
    }

    /// Interactive AND-depth: online rounds before the output exchange.
    pub fn depth(&self) -> u32 {
        self.info.iter().map(|i| i.level).max().unwrap_or(0)
    }

    /// Triples and OTs the preprocessing phase must generate.
    pub fn requirements(&self) -> Requirements {
        let mut r = Requirements::default();
        for i in &self.info {
            let n = u64::from(i.lanes);
            match i.and_kind {
                Some(AndKind::Triple) => r.triples += n,
                Some(AndKind::OneOt {
                    receiver: Party::Client,
                }) => r.ot_ands_client_receives += n,
                Some(AndKind::OneOt {
                    receiver: Party::Server,
                }) => r.ot_ands_server_receives += n,
                Some(AndKind::Local) | None => {}
            }
        }
        r
    }

    /// The cost summary; agrees with [`super::cost::CostCounter`] run on
    /// the same gadget code.
    pub fn cost(&self) -> Cost {
        let mut c = Cost {
            depth: self.depth(),
            ..Cost::default()
        };
        for (g, i) in self.gates.iter().zip(&self.info) {
            let n = u64::from(i.lanes);
            match (g, i.and_kind) {
                (Gate::And(..), Some(AndKind::Triple)) => c.triple_ands += n,
                (Gate::And(..), Some(AndKind::OneOt { .. })) => c.ot_ands += n,
                (Gate::And(..), _) => c.local_ands += n,
                (Gate::Xor(..) | Gate::Not(_), _) => c.xors += n,
                _ => {}
            }
        }
        c
    }

    /// Gates grouped by level, in the order the GMW engine evaluates them.
    pub fn layers(&self) -> Vec<Layer> {
        let mut layers = vec![Layer::default(); self.depth() as usize + 1];
        for (id, (g, i)) in self.gates.iter().zip(&self.info).enumerate() {
            let layer = &mut layers[i.level as usize];
            let interactive = matches!(g, Gate::And(..))
                && matches!(i.and_kind, Some(AndKind::Triple | AndKind::OneOt { .. }));
            if interactive {
                layer.interactive.push(id as u32);
            } else {
                layer.local.push(id as u32);
            }
        }
        layers
    }

    /// For each wire, the index of the last gate (or `u32::MAX` for an
    /// output) that reads it, in evaluation order; lets an evaluator free
    /// values early.
    pub fn last_use(&self, layers: &[Layer]) -> Vec<u32> {
        let mut last = vec![0u32; self.gates.len()];
        let mut step = 0u32;
        for layer in layers {
            for &id in layer.interactive.iter().chain(&layer.local) {
                step += 1;
                self.for_each_operand(id, |op| last[op as usize] = step);
            }
        }
        for o in &self.outputs {
            last[o.wire as usize] = u32::MAX;
        }
        last
    }

    /// Calls `f` on every operand wire of gate `id`.
    pub fn for_each_operand(&self, id: u32, mut f: impl FnMut(u32)) {
        match &self.gates[id as usize] {
            Gate::Input(_) | Gate::Const(_) => {}
            Gate::Xor(a, b) | Gate::And(a, b) => {
                f(*a);
                f(*b);
            }
            Gate::Not(a) | Gate::Slice { src: a, .. } | Gate::Gather { src: a, .. } => f(*a),
            Gate::Concat { from, to } => {
                for &p in &self.concat_parts[*from as usize..*to as usize] {
                    f(p);
                }
            }
        }
    }
}

/// Records a [`Netlist`]; both parties must build it identically.
#[derive(Clone, Debug, Default)]
pub struct NetlistBuilder {
    net: Netlist,
}

impl NetlistBuilder {
    /// An empty circuit.
    pub fn new() -> Self {
        Self::default()
    }

    fn check(&self, w: &NetWire) -> CResult<&WireInfo> {
        match self.net.info.get(w.id as usize) {
            Some(i) if i.lanes == w.lanes => Ok(i),
            _ => Err(CircuitError::UnknownWire(w.id)),
        }
    }

    fn push(&mut self, gate: Gate, info: WireInfo) -> CResult<NetWire> {
        let id = u32::try_from(self.net.gates.len())
            .ok()
            .filter(|&id| id < u32::MAX)
            .ok_or(CircuitError::TooLarge(u32::MAX))?;
        self.net.gates.push(gate);
        self.net.info.push(info);
        Ok(NetWire {
            id,
            lanes: info.lanes,
        })
    }

    fn lanes_u32(lanes: usize) -> CResult<u32> {
        u32::try_from(lanes).map_err(|_| CircuitError::Parameter {
            op: "netlist",
            detail: format!("{lanes} lanes exceed the u32 range"),
        })
    }

    fn add_input(&mut self, source: InputSource, lanes: usize) -> CResult<NetWire> {
        let lanes = Self::lanes_u32(lanes)?;
        let idx = self.net.inputs.len() as u32;
        let knowledge = match source {
            InputSource::Private(p) => Knowledge::Private(p),
            InputSource::Shared => Knowledge::Shared,
        };
        let w = self.push(
            Gate::Input(idx),
            WireInfo {
                lanes,
                knowledge,
                level: 0,
                and_kind: None,
            },
        )?;
        self.net.inputs.push(InputSpec {
            wire: w.id,
            source,
            lanes,
        });
        Ok(w)
    }

    /// An input bit provided by `owner` at evaluation time.
    pub fn input(&mut self, owner: Party, lanes: usize) -> CResult<NetWire> {
        self.add_input(InputSource::Private(owner), lanes)
    }

    /// An input bit both parties provide as XOR shares.
    pub fn shared_input(&mut self, lanes: usize) -> CResult<NetWire> {
        self.add_input(InputSource::Shared, lanes)
    }

    /// A `width`-bit input word of `owner` (inputs numbered from bit 0 up).
    pub fn input_word(
        &mut self,
        owner: Party,
        width: usize,
        lanes: usize,
    ) -> CResult<Word<NetWire>> {
        Ok(Word::from_bits(
            (0..width)
                .map(|_| self.input(owner, lanes))
                .collect::<CResult<_>>()?,
        ))
    }

    /// A `width`-bit XOR-shared input word.
    pub fn shared_input_word(&mut self, width: usize, lanes: usize) -> CResult<Word<NetWire>> {
        Ok(Word::from_bits(
            (0..width)
                .map(|_| self.shared_input(lanes))
                .collect::<CResult<_>>()?,
        ))
    }

    /// Marks `w` as an output; returns its output index.
    pub fn output(&mut self, w: &NetWire, reveal: Reveal) -> CResult<usize> {
        self.check(w)?;
        self.net.outputs.push(OutputSpec { wire: w.id, reveal });
        Ok(self.net.outputs.len() - 1)
    }

    /// Marks every bit of a word as an output (bit 0 first); returns the
    /// output index of bit 0.
    pub fn output_word(&mut self, w: &Word<NetWire>, reveal: Reveal) -> CResult<usize> {
        let first = self.net.outputs.len();
        for b in w.bits() {
            self.output(b, reveal)?;
        }
        Ok(first)
    }

    /// Facts about a wire.
    pub fn info(&self, w: &NetWire) -> CResult<WireInfo> {
        self.check(w).copied()
    }

    /// The finished netlist.
    pub fn finish(self) -> Netlist {
        self.net
    }

    fn unary(&mut self, gate: Gate, src: &NetWire, lanes: usize) -> CResult<NetWire> {
        let i = *self.check(src)?;
        let lanes = Self::lanes_u32(lanes)?;
        self.push(
            gate,
            WireInfo {
                lanes,
                and_kind: None,
                ..i
            },
        )
    }
}

impl Builder for NetlistBuilder {
    type Wire = NetWire;

    fn lanes(&self, w: &NetWire) -> usize {
        w.lanes as usize
    }

    fn constant(&mut self, bits: Lanes) -> CResult<NetWire> {
        let lanes = Self::lanes_u32(bits.len())?;
        let idx = self.net.constants.len() as u32;
        self.net.constants.push(bits);
        self.push(
            Gate::Const(idx),
            WireInfo {
                lanes,
                knowledge: Knowledge::Public,
                level: 0,
                and_kind: None,
            },
        )
    }

    fn xor(&mut self, a: &NetWire, b: &NetWire) -> CResult<NetWire> {
        let (ia, ib) = (*self.check(a)?, *self.check(b)?);
        same_lanes(a.lanes as usize, b.lanes as usize)?;
        self.push(
            Gate::Xor(a.id, b.id),
            WireInfo {
                lanes: a.lanes,
                knowledge: Knowledge::xor(ia.knowledge, ib.knowledge),
                level: ia.level.max(ib.level),
                and_kind: None,
            },
        )
    }

    fn and(&mut self, a: &NetWire, b: &NetWire) -> CResult<NetWire> {
        let (ia, ib) = (*self.check(a)?, *self.check(b)?);
        same_lanes(a.lanes as usize, b.lanes as usize)?;
        let (knowledge, kind) = Knowledge::and(ia.knowledge, ib.knowledge);
        let level = ia.level.max(ib.level) + u32::from(kind != AndKind::Local);
        self.push(
            Gate::And(a.id, b.id),
            WireInfo {
                lanes: a.lanes,
                knowledge,
                level,
                and_kind: Some(kind),
            },
        )
    }

    fn not(&mut self, a: &NetWire) -> CResult<NetWire> {
        self.unary(Gate::Not(a.id), a, a.lanes as usize)
    }

    fn slice_lanes(&mut self, a: &NetWire, start: usize, len: usize) -> CResult<NetWire> {
        check_range(start, len, a.lanes as usize)?;
        self.unary(
            Gate::Slice {
                src: a.id,
                start: start as u32,
            },
            a,
            len,
        )
    }

    fn concat_lanes(&mut self, parts: &[NetWire]) -> CResult<NetWire> {
        let mut lanes = 0usize;
        let mut level = 0;
        let mut knowledge = Knowledge::Public;
        for p in parts {
            let i = *self.check(p)?;
            lanes += p.lanes as usize;
            level = level.max(i.level);
            knowledge = Knowledge::xor(knowledge, i.knowledge);
        }
        let lanes = Self::lanes_u32(lanes)?;
        let from = self.net.concat_parts.len() as u32;
        self.net.concat_parts.extend(parts.iter().map(|p| p.id));
        let to = self.net.concat_parts.len() as u32;
        self.push(
            Gate::Concat { from, to },
            WireInfo {
                lanes,
                knowledge,
                level,
                and_kind: None,
            },
        )
    }

    fn gather_lanes(&mut self, a: &NetWire, indices: &[u32]) -> CResult<NetWire> {
        check_gather(indices, a.lanes as usize)?;
        let idx = self.net.gathers.len() as u32;
        self.net.gathers.push(indices.to_vec());
        self.unary(
            Gate::Gather {
                src: a.id,
                indices: idx,
            },
            a,
            indices.len(),
        )
    }
}
