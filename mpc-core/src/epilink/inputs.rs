//! Turning records into circuit inputs, for every backend.
//!
//! [`InputSink`] is the one thing the three backends do differently: the
//! plaintext backend takes the clear value, the cost counter only the
//! shape, and the netlist backend declares the input and, if this party
//! provides it, records its value for the GMW evaluation. [`chunk_inputs`]
//! declares the inputs of a chunk in a fixed order, so both parties build
//! identical netlists.

use protocol_spec::config::{Comparator, Record};

use super::circuit::{ChunkShape, ScoreInputs};
use super::plan::Plan;
use crate::circuit::cost::CostCounter;
use crate::circuit::netlist::{NetWire, NetlistBuilder};
use crate::circuit::plain::PlainBuilder;
use crate::circuit::word::values_to_lanes;
use crate::circuit::{Builder, CResult, CircuitError, Word};
use crate::gmw::Inputs;
use crate::{Lanes, Party};

/// Who provides an input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner {
    /// One party knows the value in the clear.
    Private(Party),
    /// Both parties hold XOR shares (e.g. the running best).
    Shared,
}

/// A backend that can declare input words.
pub trait InputSink: Builder {
    /// Declares a `width`-bit input word on `lanes` lanes. `value` (bit `k`
    /// of every lane in element `k`) is the clear value, or this party's
    /// share of a shared input; `None` where this party does not provide
    /// the input.
    fn declare(
        &mut self,
        owner: Owner,
        width: usize,
        lanes: usize,
        value: Option<Vec<Lanes>>,
    ) -> CResult<Word<Self::Wire>>;
}

fn missing_value() -> CircuitError {
    CircuitError::Parameter {
        op: "input",
        detail: "the plaintext backend needs every input value".into(),
    }
}

fn check_value(value: &[Lanes], width: usize, lanes: usize) -> CResult<()> {
    if value.len() != width {
        return Err(CircuitError::WidthMismatch {
            op: "input",
            left: width,
            right: value.len(),
        });
    }
    for l in value {
        crate::circuit::same_lanes(lanes, l.len())?;
    }
    Ok(())
}

impl InputSink for PlainBuilder {
    fn declare(
        &mut self,
        _owner: Owner,
        width: usize,
        lanes: usize,
        value: Option<Vec<Lanes>>,
    ) -> CResult<Word<Lanes>> {
        let value = value.ok_or_else(missing_value)?;
        check_value(&value, width, lanes)?;
        Ok(Word::from_bits(
            value.into_iter().map(|l| self.input(l)).collect(),
        ))
    }
}

impl InputSink for CostCounter {
    fn declare(
        &mut self,
        owner: Owner,
        width: usize,
        lanes: usize,
        _value: Option<Vec<Lanes>>,
    ) -> CResult<Word<<CostCounter as Builder>::Wire>> {
        Ok(Word::from_bits(
            (0..width)
                .map(|_| match owner {
                    Owner::Private(p) => self.input(p, lanes),
                    Owner::Shared => self.shared_input(lanes),
                })
                .collect(),
        ))
    }
}

/// A bare netlist declares every input without a value (for counting the
/// netlist both parties would build; nothing is evaluated).
impl InputSink for NetlistBuilder {
    fn declare(
        &mut self,
        owner: Owner,
        width: usize,
        lanes: usize,
        _value: Option<Vec<Lanes>>,
    ) -> CResult<Word<NetWire>> {
        match owner {
            Owner::Private(p) => self.input_word(p, width, lanes),
            Owner::Shared => self.shared_input_word(width, lanes),
        }
    }
}

/// A [`NetlistBuilder`] that also collects this party's input values for
/// the GMW evaluation.
pub struct NetInputs {
    /// The netlist under construction.
    pub net: NetlistBuilder,
    /// This party.
    pub me: Party,
    /// The values this party provides.
    pub inputs: Inputs,
}

impl NetInputs {
    /// An empty circuit for party `me`.
    pub fn new(me: Party) -> Self {
        NetInputs {
            net: NetlistBuilder::new(),
            me,
            inputs: Inputs::new(),
        }
    }
}

impl Builder for NetInputs {
    type Wire = NetWire;
    fn lanes(&self, w: &NetWire) -> usize {
        self.net.lanes(w)
    }
    fn constant(&mut self, bits: Lanes) -> CResult<NetWire> {
        self.net.constant(bits)
    }
    fn xor(&mut self, a: &NetWire, b: &NetWire) -> CResult<NetWire> {
        self.net.xor(a, b)
    }
    fn and(&mut self, a: &NetWire, b: &NetWire) -> CResult<NetWire> {
        self.net.and(a, b)
    }
    fn not(&mut self, a: &NetWire) -> CResult<NetWire> {
        self.net.not(a)
    }
    fn slice_lanes(&mut self, a: &NetWire, start: usize, len: usize) -> CResult<NetWire> {
        self.net.slice_lanes(a, start, len)
    }
    fn concat_lanes(&mut self, parts: &[NetWire]) -> CResult<NetWire> {
        self.net.concat_lanes(parts)
    }
    fn gather_lanes(&mut self, a: &NetWire, indices: &[u32]) -> CResult<NetWire> {
        self.net.gather_lanes(a, indices)
    }
}

impl InputSink for NetInputs {
    fn declare(
        &mut self,
        owner: Owner,
        width: usize,
        lanes: usize,
        value: Option<Vec<Lanes>>,
    ) -> CResult<Word<NetWire>> {
        let word = match owner {
            Owner::Private(p) => self.net.input_word(p, width, lanes)?,
            Owner::Shared => self.net.shared_input_word(width, lanes)?,
        };
        let provides = match owner {
            Owner::Private(p) => p == self.me,
            Owner::Shared => true,
        };
        if provides {
            let value = value.ok_or_else(|| CircuitError::Parameter {
                op: "input",
                detail: "a value this party provides is missing".into(),
            })?;
            check_value(&value, width, lanes)?;
            for (w, l) in word.bits().iter().zip(value) {
                self.inputs.set(w, l);
            }
        }
        Ok(word)
    }
}

/// One party's records of a chunk (the client's query block or the
/// server's database slice) and its count shares.
#[derive(Clone, Copy)]
pub struct PartyChunk<'a> {
    /// The records, in configuration field order.
    pub records: &'a [Record],
    /// Per pair: this party's additive count share per lane
    /// (`queries · records` values), `None` for binary pairs.
    pub counts: &'a [Option<Vec<u32>>],
}

/// Redacted: records and count shares.
impl std::fmt::Debug for PartyChunk<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PartyChunk({} records, redacted)", self.records.len())
    }
}

fn present_lanes(records: &[Record], f: usize) -> Lanes {
    Lanes::from_bools(&records.iter().map(|r| r[f].is_some()).collect::<Vec<_>>())
}

fn weight_lanes(records: &[Record], f: usize, width: usize) -> CResult<Vec<Lanes>> {
    let w: Vec<u128> = records
        .iter()
        .map(|r| r[f].as_ref().map_or(0, |v| u128::from(v.count_ones())))
        .collect();
    values_to_lanes(&w, width)
}

fn value_lanes(records: &[Record], f: usize, width: usize) -> Vec<Lanes> {
    (0..width)
        .map(|k| {
            Lanes::from_bools(
                &records
                    .iter()
                    .map(|r| r[f].as_ref().is_some_and(|v| v.bit(k as u32)))
                    .collect::<Vec<_>>(),
            )
        })
        .collect()
}

/// Declares every input of a chunk: per field the client's presence,
/// weight or value (one lane per query), the same for the server (one lane
/// per record), then per Dice pair the two count shares (one lane per pair
/// of query and record). `client`/`server` are the data this backend knows
/// (`None` for the other party in a 2PC, both for plaintext, neither for
/// costing).
pub fn chunk_inputs<B: InputSink>(
    b: &mut B,
    plan: &Plan,
    shape: &ChunkShape,
    client: Option<PartyChunk<'_>>,
    server: Option<PartyChunk<'_>>,
) -> CResult<ScoreInputs<B::Wire>> {
    let nf = plan.fields.len();
    let mut inp = ScoreInputs {
        counts: vec![None; plan.pairs.len()],
        client_present: Vec::with_capacity(nf),
        server_present: Vec::with_capacity(nf),
        client_weight: vec![None; nf],
        server_weight: vec![None; nf],
        client_value: vec![None; nf],
        server_value: vec![None; nf],
    };
    for (side, data, lanes) in [
        (Party::Client, client, shape.queries),
        (Party::Server, server, shape.records),
    ] {
        let owner = Owner::Private(side);
        if let Some(d) = &data
            && d.records.len() != lanes
        {
            return Err(CircuitError::LaneMismatch {
                left: lanes,
                right: d.records.len(),
            });
        }
        for (f, fp) in plan.fields.iter().enumerate() {
            let present = b.declare(
                owner,
                1,
                lanes,
                data.map(|d| vec![present_lanes(d.records, f)]),
            )?;
            let present = present.into_bits().pop().ok_or(CircuitError::Empty {
                op: "input",
                what: "bit",
            })?;
            let (weight, value) = match fp.comparator {
                Comparator::Dice => {
                    let v = data
                        .map(|d| weight_lanes(d.records, f, fp.count_width))
                        .transpose()?;
                    (Some(b.declare(owner, fp.count_width, lanes, v)?), None)
                }
                Comparator::Binary => {
                    let v = data.map(|d| value_lanes(d.records, f, fp.bitlength));
                    (None, Some(b.declare(owner, fp.bitlength, lanes, v)?))
                }
            };
            match side {
                Party::Client => {
                    inp.client_present.push(present);
                    inp.client_weight[f] = weight;
                    inp.client_value[f] = value;
                }
                Party::Server => {
                    inp.server_present.push(present);
                    inp.server_weight[f] = weight;
                    inp.server_value[f] = value;
                }
            }
        }
    }
    let lanes = shape.lanes();
    for t in plan.dice_pairs() {
        let width = plan.fields[plan.pairs[t].query].count_width;
        let share =
            |d: Option<PartyChunk<'_>>| -> CResult<Option<Vec<Lanes>>> {
                d.map(|d| {
                    let v = d.counts.get(t).and_then(Option::as_ref).ok_or(
                        CircuitError::Parameter {
                            op: "input",
                            detail: format!("count shares of pair {t} missing"),
                        },
                    )?;
                    crate::circuit::same_lanes(lanes, v.len())?;
                    let vals: Vec<u128> = v.iter().map(|&x| u128::from(x)).collect();
                    values_to_lanes(&vals, width)
                })
                .transpose()
            };
        let c = b.declare(Owner::Private(Party::Client), width, lanes, share(client)?)?;
        let s = b.declare(Owner::Private(Party::Server), width, lanes, share(server)?)?;
        inp.counts[t] = Some((c, s));
    }
    Ok(inp)
}
