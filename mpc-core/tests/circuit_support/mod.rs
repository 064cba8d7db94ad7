//! Shared harness for the circuit, GMW and transcript tests: a catalogue of
//! gadget test cases, their plain-Rust reference results, and runners for
//! the plaintext backend and the two-party GMW backend.
#![allow(dead_code)]

use mpc_core::channel::{Channel, StreamChannel, memory_pair, tcp_pair};
use mpc_core::circuit::gadgets::{self, AdderKind};
use mpc_core::circuit::netlist::{NetlistBuilder, Reveal};
use mpc_core::circuit::plain::PlainBuilder;
use mpc_core::circuit::word::{bits_for, values_to_lanes};
use mpc_core::circuit::{Builder, CResult, Word};
use mpc_core::gmw::{self, Inputs};
use mpc_core::{Lanes, Party};
use proptest::prelude::*;

/// Who provides an input in a test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner {
    Client,
    Server,
    /// XOR-shared between the parties (random split).
    Shared,
}

/// A gadget under test.
#[derive(Clone, Debug)]
pub enum Op {
    Add(AdderKind),
    AddCarry(AdderKind),
    Sub(AdderKind),
    SubBorrow(AdderKind),
    Lt,
    Gt,
    Le,
    Ge,
    Eq,
    Ne,
    /// inputs: s (1 bit), t, f
    Mux,
    Mul(AdderKind, usize),
    MulConst(AdderKind, u128, usize),
    /// dividend, divisor; quotient bits
    Div(AdderKind, usize),
    /// x, y; precision, quotient bits
    DivFixed(AdderKind, usize, usize),
    /// a_num, a_den, c_num, c_den
    FractionGt(AdderKind),
    /// one word; the popcount of its bits
    Popcount,
    /// n candidate words
    Argmax,
    /// one word, candidates in lanes
    ArgmaxLanes,
}

/// One test case: an op, input widths, owners, per-input per-lane values.
#[derive(Clone, Debug)]
pub struct Case {
    pub op: Op,
    pub widths: Vec<usize>,
    pub owners: Vec<Owner>,
    pub values: Vec<Vec<u128>>,
}

impl Case {
    pub fn lanes(&self) -> usize {
        self.values.first().map_or(0, Vec::len)
    }
}

fn mask(w: usize) -> u128 {
    if w >= 128 {
        u128::MAX
    } else {
        (1u128 << w) - 1
    }
}

/// The circuit of a case, generic over the backend.
pub fn build<B: Builder>(b: &mut B, op: &Op, ins: &[Word<B::Wire>]) -> CResult<Vec<Word<B::Wire>>> {
    let one = |w: B::Wire| Word::from_bits(vec![w]);
    Ok(match op {
        Op::Add(k) => vec![gadgets::add(b, *k, &ins[0], &ins[1])?],
        Op::AddCarry(k) => vec![gadgets::add_with_carry(b, *k, &ins[0], &ins[1])?],
        Op::Sub(k) => vec![gadgets::sub(b, *k, &ins[0], &ins[1])?],
        Op::SubBorrow(k) => {
            let (d, br) = gadgets::sub_with_borrow(b, *k, &ins[0], &ins[1])?;
            vec![d, one(br)]
        }
        Op::Lt => vec![one(gadgets::lt(b, &ins[0], &ins[1])?)],
        Op::Gt => vec![one(gadgets::gt(b, &ins[0], &ins[1])?)],
        Op::Le => vec![one(gadgets::le(b, &ins[0], &ins[1])?)],
        Op::Ge => vec![one(gadgets::ge(b, &ins[0], &ins[1])?)],
        Op::Eq => vec![one(gadgets::eq(b, &ins[0], &ins[1])?)],
        Op::Ne => vec![one(gadgets::ne(b, &ins[0], &ins[1])?)],
        Op::Mux => {
            let s = ins[0].bits()[0].clone();
            vec![gadgets::mux_word(b, &s, &ins[1], &ins[2])?]
        }
        Op::Mul(k, w) => vec![gadgets::mul(b, *k, &ins[0], &ins[1], *w)?],
        Op::MulConst(k, c, w) => vec![gadgets::mul_const(b, *k, &ins[0], *c, *w)?],
        Op::Div(k, q) => vec![gadgets::divide(b, *k, &ins[0], &ins[1], *q)?],
        Op::DivFixed(k, p, q) => vec![gadgets::divide_fixed(b, *k, &ins[0], &ins[1], *p, *q)?],
        Op::FractionGt(k) => vec![one(gadgets::fraction_gt(
            b, *k, &ins[0], &ins[1], &ins[2], &ins[3],
        )?)],
        Op::Popcount => vec![gadgets::popcount(b, ins[0].bits())?],
        Op::Argmax => {
            let (m, i) = gadgets::argmax(b, ins)?;
            vec![m, i]
        }
        Op::ArgmaxLanes => {
            let (m, i) = gadgets::argmax_lanes(b, &ins[0])?;
            vec![m, i]
        }
    })
}

/// Plain-Rust reference: per output word, per lane.
pub fn reference(case: &Case) -> Vec<Vec<u128>> {
    let v = &case.values;
    let w = &case.widths;
    let lanes = case.lanes();
    let per_lane = |f: &dyn Fn(usize) -> Vec<u128>| -> Vec<Vec<u128>> {
        let rows: Vec<Vec<u128>> = (0..lanes).map(f).collect();
        let n = rows.first().map_or(0, Vec::len);
        (0..n)
            .map(|o| rows.iter().map(|r| r[o]).collect())
            .collect()
    };
    let b = |x: bool| u128::from(x);
    match &case.op {
        Op::Add(_) => {
            let k = w[0].max(w[1]);
            per_lane(&|l| vec![v[0][l].wrapping_add(v[1][l]) & mask(k)])
        }
        Op::AddCarry(_) => per_lane(&|l| vec![v[0][l] + v[1][l]]),
        Op::Sub(_) => {
            let k = w[0].max(w[1]);
            per_lane(&|l| vec![v[0][l].wrapping_sub(v[1][l]) & mask(k)])
        }
        Op::SubBorrow(_) => {
            let k = w[0].max(w[1]);
            per_lane(&|l| {
                vec![
                    v[0][l].wrapping_sub(v[1][l]) & mask(k),
                    b(v[0][l] < v[1][l]),
                ]
            })
        }
        Op::Lt => per_lane(&|l| vec![b(v[0][l] < v[1][l])]),
        Op::Gt => per_lane(&|l| vec![b(v[0][l] > v[1][l])]),
        Op::Le => per_lane(&|l| vec![b(v[0][l] <= v[1][l])]),
        Op::Ge => per_lane(&|l| vec![b(v[0][l] >= v[1][l])]),
        Op::Eq => per_lane(&|l| vec![b(v[0][l] == v[1][l])]),
        Op::Ne => per_lane(&|l| vec![b(v[0][l] != v[1][l])]),
        Op::Mux => per_lane(&|l| vec![if v[0][l] & 1 == 1 { v[1][l] } else { v[2][l] }]),
        Op::Mul(_, ow) => per_lane(&|l| vec![v[0][l].wrapping_mul(v[1][l]) & mask(*ow)]),
        Op::MulConst(_, c, ow) => per_lane(&|l| vec![v[0][l].wrapping_mul(*c) & mask(*ow)]),
        // Division by zero: the circuit's quotient is all ones.
        Op::Div(_, q) => {
            per_lane(&|l| vec![v[0][l].checked_div(v[1][l]).unwrap_or(u128::MAX) & mask(*q)])
        }
        Op::DivFixed(_, p, q) => {
            per_lane(&|l| vec![(v[0][l] << p).checked_div(v[1][l]).unwrap_or(u128::MAX) & mask(*q)])
        }
        Op::FractionGt(_) => per_lane(&|l| vec![b(v[0][l] * v[3][l] > v[2][l] * v[1][l])]),
        Op::Popcount => per_lane(&|l| vec![u128::from(v[0][l].count_ones())]),
        Op::Argmax => per_lane(&|l| {
            let mut best = 0;
            for i in 1..v.len() {
                if v[i][l] > v[best][l] {
                    best = i;
                }
            }
            vec![v[best][l], best as u128]
        }),
        Op::ArgmaxLanes => {
            let mut best = 0;
            for i in 1..lanes {
                if v[0][i] > v[0][best] {
                    best = i;
                }
            }
            vec![vec![v[0][best]], vec![best as u128]]
        }
    }
}

/// Runs a case on the plaintext backend.
pub fn run_plain(case: &Case) -> Vec<Vec<u128>> {
    let mut b = PlainBuilder::new();
    let ins: Vec<_> = case
        .values
        .iter()
        .zip(&case.widths)
        .map(|(vals, &w)| b.input_word(vals, w).expect("values fit"))
        .collect();
    let outs = build(&mut b, &case.op, &ins).expect("circuit builds");
    outs.iter()
        .map(|o| b.word_values(o).expect("decodes"))
        .collect()
}

/// Builds the netlist of a case; returns the builder output words and input
/// words.
pub fn netlist(
    case: &Case,
    reveal: Reveal,
) -> (
    gmw::Netlist,
    Vec<Word<mpc_core::circuit::netlist::NetWire>>,
    Vec<(usize, usize)>,
) {
    let mut nb = NetlistBuilder::new();
    let lanes = case.lanes();
    let ins: Vec<_> = case
        .widths
        .iter()
        .zip(&case.owners)
        .map(|(&w, o)| match o {
            Owner::Client => nb.input_word(Party::Client, w, lanes),
            Owner::Server => nb.input_word(Party::Server, w, lanes),
            Owner::Shared => nb.shared_input_word(w, lanes),
        })
        .collect::<CResult<_>>()
        .expect("inputs");
    let outs = build(&mut nb, &case.op, &ins).expect("circuit builds");
    let mut out_pos = Vec::new();
    for o in &outs {
        let first = nb.output_word(o, reveal).expect("output");
        out_pos.push((first, o.width()));
    }
    (nb.finish(), ins, out_pos)
}

/// Random XOR split of every input value, deterministic per case so both
/// tasks agree.
fn split(case: &Case, seed: u64) -> Vec<(Vec<Lanes>, Vec<Lanes>)> {
    let mut state = seed | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    case.values
        .iter()
        .zip(&case.widths)
        .map(|(vals, &w)| {
            let bits = values_to_lanes(vals, w).expect("fits");
            let mut c = Vec::new();
            let mut s = Vec::new();
            for l in bits {
                let words = (0..l.len().div_ceil(64)).map(|_| next()).collect();
                let r = Lanes::from_words(words, l.len());
                s.push(l.xor(&r));
                c.push(r);
            }
            (c, s)
        })
        .collect()
}

/// One party's inputs for a case.
pub fn party_inputs(
    case: &Case,
    ins: &[Word<mpc_core::circuit::netlist::NetWire>],
    me: Party,
) -> Inputs {
    let shares = split(case, 0x5eed_1234_abcd_0001);
    let mut inputs = Inputs::new();
    for (i, (word, owner)) in ins.iter().zip(&case.owners).enumerate() {
        match (owner, me) {
            (Owner::Client, Party::Client) | (Owner::Server, Party::Server) => {
                inputs.set_word(word, &case.values[i]).expect("fits");
            }
            (Owner::Shared, Party::Client) => {
                inputs
                    .set_word_lanes(word, shares[i].0.clone())
                    .expect("width");
            }
            (Owner::Shared, Party::Server) => {
                inputs
                    .set_word_lanes(word, shares[i].1.clone())
                    .expect("width");
            }
            _ => {}
        }
    }
    inputs
}

/// Runs one party of a case over `ch`, revealing all outputs to both.
pub async fn run_party<C: Channel>(case: &Case, me: Party, ch: &mut C) -> Vec<Vec<u128>> {
    let (net, ins, outs) = netlist(case, Reveal::Both);
    let inputs = party_inputs(case, &ins, me);
    let res = gmw::evaluate(&net, me, ch, inputs).await.expect("GMW run");
    outs.iter()
        .map(|&(first, w)| res.word(first, w).expect("revealed"))
        .collect()
}

/// Which transport a 2PC test uses.
#[derive(Clone, Copy, Debug)]
pub enum Transport {
    Memory,
    Tcp,
}

/// Runs a case with both parties as tokio tasks; asserts they agree and
/// returns the result.
pub async fn run_gmw(case: &Case, transport: Transport) -> Vec<Vec<u128>> {
    let (rc, rs) = match transport {
        Transport::Memory => {
            let (mut a, mut b) = memory_pair();
            let (c1, c2) = (case.clone(), case.clone());
            let ta = tokio::spawn(async move { run_party(&c1, Party::Client, &mut a).await });
            let tb = tokio::spawn(async move { run_party(&c2, Party::Server, &mut b).await });
            (
                ta.await.expect("client task"),
                tb.await.expect("server task"),
            )
        }
        Transport::Tcp => {
            let (sa, sb) = tcp_pair().await.expect("loopback TCP");
            let (c1, c2) = (case.clone(), case.clone());
            let ta = tokio::spawn(async move {
                let mut ch = StreamChannel::new(sa);
                run_party(&c1, Party::Client, &mut ch).await
            });
            let tb = tokio::spawn(async move {
                let mut ch = StreamChannel::new(sb);
                run_party(&c2, Party::Server, &mut ch).await
            });
            (
                ta.await.expect("client task"),
                tb.await.expect("server task"),
            )
        }
    };
    assert_eq!(rc, rs, "both parties must learn the same outputs");
    rc
}

/// A runtime for tests that drive async code from proptest bodies.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

// ---------------------------------------------------------------- strategies

pub fn owner() -> impl Strategy<Value = Owner> {
    prop_oneof![
        Just(Owner::Client),
        Just(Owner::Server),
        Just(Owner::Shared)
    ]
}

pub fn adder_kind() -> impl Strategy<Value = AdderKind> {
    prop_oneof![Just(AdderKind::Ripple), Just(AdderKind::LogDepth)]
}

/// Values of `width` bits biased towards edge cases (0, max, equal).
pub fn value(width: usize) -> BoxedStrategy<u128> {
    let m = mask(width);
    prop_oneof![
        2 => Just(0u128),
        2 => Just(m),
        1 => Just(m >> 1),
        6 => any::<u128>().prop_map(move |v| v & m),
    ]
    .boxed()
}

/// `n` inputs of the given widths over `lanes` lanes; with probability
/// about 1/4 the second input copies the first (ties).
pub fn values(widths: Vec<usize>, lanes: usize) -> BoxedStrategy<Vec<Vec<u128>>> {
    let per: Vec<_> = widths
        .iter()
        .map(|&w| proptest::collection::vec(value(w), lanes))
        .collect();
    (per, any::<u8>(), any::<u64>())
        .prop_map(move |(mut vs, tie, pattern)| {
            if vs.len() >= 2 && tie % 4 == 0 {
                let m = mask(widths[1]);
                for l in 0..vs[0].len() {
                    if pattern >> (l % 64) & 1 == 1 {
                        vs[1][l] = vs[0][l] & m;
                    }
                }
            }
            vs
        })
        .boxed()
}

/// Builds a case strategy for an op and its input widths.
pub fn case(op: Op, widths: Vec<usize>, lanes: usize) -> BoxedStrategy<Case> {
    let n = widths.len();
    (
        values(widths.clone(), lanes),
        proptest::collection::vec(owner(), n),
    )
        .prop_map(move |(values, owners)| Case {
            op: op.clone(),
            widths: widths.clone(),
            owners,
            values,
        })
        .boxed()
}

/// Every gadget with random widths and lanes (1..=70 lanes straddles a
/// word boundary).
pub fn any_case(max_lanes: usize) -> BoxedStrategy<Case> {
    let lanes = 1..=max_lanes;
    let w = 1usize..=20;
    prop_oneof![
        (adder_kind(), w.clone(), w.clone(), lanes.clone()).prop_flat_map(|(k, a, b, l)| case(
            Op::Add(k),
            vec![a, b],
            l
        )),
        (adder_kind(), w.clone(), w.clone(), lanes.clone()).prop_flat_map(|(k, a, b, l)| case(
            Op::AddCarry(k),
            vec![a, b],
            l
        )),
        (adder_kind(), w.clone(), w.clone(), lanes.clone()).prop_flat_map(|(k, a, b, l)| case(
            Op::Sub(k),
            vec![a, b],
            l
        )),
        (adder_kind(), w.clone(), w.clone(), lanes.clone()).prop_flat_map(|(k, a, b, l)| case(
            Op::SubBorrow(k),
            vec![a, b],
            l
        )),
        (w.clone(), w.clone(), lanes.clone()).prop_flat_map(|(a, b, l)| case(
            Op::Lt,
            vec![a, b],
            l
        )),
        (w.clone(), w.clone(), lanes.clone()).prop_flat_map(|(a, b, l)| case(
            Op::Gt,
            vec![a, b],
            l
        )),
        (w.clone(), lanes.clone()).prop_flat_map(|(a, l)| case(Op::Le, vec![a, a], l)),
        (w.clone(), lanes.clone()).prop_flat_map(|(a, l)| case(Op::Ge, vec![a, a], l)),
        (w.clone(), w.clone(), lanes.clone()).prop_flat_map(|(a, b, l)| case(
            Op::Eq,
            vec![a, b],
            l
        )),
        (w.clone(), lanes.clone()).prop_flat_map(|(a, l)| case(Op::Ne, vec![a, a], l)),
        (w.clone(), lanes.clone()).prop_flat_map(|(a, l)| case(Op::Mux, vec![1, a, a], l)),
        (
            adder_kind(),
            1usize..=12,
            1usize..=12,
            1usize..=24,
            lanes.clone()
        )
            .prop_flat_map(|(k, a, b, o, l)| case(Op::Mul(k, o), vec![a, b], l)),
        (
            adder_kind(),
            1usize..=16,
            any::<u16>(),
            1usize..=32,
            lanes.clone()
        )
            .prop_flat_map(|(k, a, c, o, l)| case(
                Op::MulConst(k, u128::from(c), o),
                vec![a],
                l
            )),
        (adder_kind(), 1usize..=14, 1usize..=10, lanes.clone()).prop_flat_map(|(k, a, b, l)| case(
            Op::Div(k, a),
            vec![a, b],
            l
        )),
        (adder_kind(), 1usize..=10, 0usize..=8, lanes.clone())
            .prop_flat_map(|(k, a, p, l)| { case(Op::DivFixed(k, p, a + p), vec![a, a], l) }),
        (adder_kind(), 1usize..=8, 1usize..=8, lanes.clone()).prop_flat_map(|(k, a, b, l)| case(
            Op::FractionGt(k),
            vec![a, b, a, b],
            l
        )),
        (1usize..=100, lanes.clone()).prop_flat_map(|(n, l)| case(
            Op::Popcount,
            vec![n.min(127)],
            l
        )),
        (1usize..=9, w.clone(), lanes.clone()).prop_flat_map(|(n, a, l)| case(
            Op::Argmax,
            vec![a; n],
            l
        )),
        (w.clone(), 1usize..=70).prop_flat_map(|(a, n)| case(Op::ArgmaxLanes, vec![a], n)),
    ]
    .boxed()
}

/// Width of the index output of an argmax over `n` candidates.
pub fn index_width(n: usize) -> usize {
    bits_for(n.saturating_sub(1) as u128)
}
