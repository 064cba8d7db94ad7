//! Fixed-choice ANDs in the GMW engine (`gmw::fixed`): a netlist whose
//! clear operands are broadcast over many lanes — by either party, against
//! the other party's private wires and against shared wires, through
//! gathers, slices, concatenations and local gates — evaluated by both
//! parties and compared with the plaintext result; plus the plan's counts.

use mpc_core::channel::memory_pair;
use mpc_core::circuit::gadgets::{AdderKind, add_with_carry};
use mpc_core::circuit::netlist::{NetWire, NetlistBuilder, Reveal};
use mpc_core::circuit::{Builder, Word};
use mpc_core::gmw::{FixedPlan, GmwSession, Inputs, Netlist};
use mpc_core::ot::ExtensionConfig;
use mpc_core::{Lanes, Party};

const Q: usize = 3;
const R: usize = 37;

struct Circuit {
    net: Netlist,
    cq: NetWire,
    sq: NetWire,
    cr: NetWire,
    sr: NetWire,
    outs: Vec<usize>,
}

/// Client and server each have a per-"query" bit (Q lanes) and a
/// per-"record" bit (R lanes); lanes are (query, record) pairs.
fn circuit() -> Circuit {
    let mut b = NetlistBuilder::new();
    let cq = b.input(Party::Client, Q).expect("input");
    let sq = b.input(Party::Server, Q).expect("input");
    let cr = b.input(Party::Client, R).expect("input");
    let sr = b.input(Party::Server, R).expect("input");
    let by_q: Vec<u32> = (0..Q * R).map(|l| (l / R) as u32).collect();
    let by_r: Vec<u32> = (0..Q * R).map(|l| (l % R) as u32).collect();
    let cqs = b.gather_lanes(&cq, &by_q).expect("gather");
    let sqs = b.gather_lanes(&sq, &by_q).expect("gather");
    let crs = b.gather_lanes(&cr, &by_r).expect("gather");
    let srs = b.gather_lanes(&sr, &by_r).expect("gather");
    // Client-fixed × server-distinct: the client chooses (3 classes).
    let a1 = b.and(&cqs, &srs).expect("and");
    // Server-fixed × client-distinct: the server chooses.
    let a2 = b.and(&crs, &sqs).expect("and");
    // A shared wire (a1 ^ a2) times a client-fixed local function.
    let shared = b.xor(&a1, &a2).expect("xor");
    let ncq = b.not(&cqs).expect("not");
    let a3 = b.and(&shared, &ncq).expect("and");
    // Shared × server-fixed wire after a slice and a concatenation.
    let head = b.slice_lanes(&sqs, 0, R).expect("slice");
    let tail = b.slice_lanes(&sqs, R, (Q - 1) * R).expect("slice");
    let rejoined = b.concat_lanes(&[head, tail]).expect("concat");
    let a4 = b.and(&a3, &rejoined).expect("and");
    // Client-fixed × client-distinct is local; fixed × shared again with a
    // uniform (single-query) operand.
    let c0 = b.slice_lanes(&cq, 0, 1).expect("slice");
    let c0s = b.broadcast(&c0, Q * R).expect("broadcast");
    let a5 = b.and(&c0s, &a4).expect("and");
    let outs = [a1, a2, a3, a4, a5]
        .iter()
        .map(|w| b.output(w, Reveal::Both).expect("out"))
        .collect();
    Circuit {
        net: b.finish(),
        cq,
        sq,
        cr,
        sr,
        outs,
    }
}

fn bits(n: usize, seed: usize) -> Lanes {
    Lanes::from_bools(
        &(0..n)
            .map(|i| (i * 7 + seed * 13 + i / 3) % 5 < 2)
            .collect::<Vec<_>>(),
    )
}

#[test]
fn plan_chooses_the_operand_with_fewer_classes() {
    let c = circuit();
    let plan = FixedPlan::new(&c.net);
    let (gates, lanes) = plan.fixed_gates(&c.net);
    assert_eq!(gates, 5);
    assert_eq!(lanes, (5 * Q * R) as u64);
    // a1, a3, a5 chosen by the client (3 + 3 + 1 classes), a2, a4 by the
    // server (3 + 3).
    assert_eq!(plan.keys_received_by(Party::Client), 7);
    assert_eq!(plan.keys_received_by(Party::Server), 6);
    let r = plan.bit_requirements();
    assert_eq!(
        (r.ot_ands_client_receives, r.ot_ands_server_receives),
        (0, 0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixed_ands_equal_the_plaintext_values() {
    for seed in 0..4 {
        let (cq, sq, cr, sr) = (
            bits(Q, seed),
            bits(Q, seed + 1),
            bits(R, seed + 2),
            bits(R, seed + 3),
        );
        let (mut a, mut b) = memory_pair();
        let (cq2, cr2) = (cq.clone(), cr.clone());
        let client = tokio::spawn(async move {
            let c = circuit();
            let mut s = GmwSession::setup(Party::Client, &mut a, ExtensionConfig::default(), b"f")
                .await
                .expect("setup");
            let mut inputs = Inputs::new();
            inputs.set(&c.cq, cq2).set(&c.cr, cr2);
            let out = s.evaluate(&mut a, &c.net, inputs).await.expect("run");
            c.outs
                .iter()
                .map(|&o| out.get(o).cloned().expect("revealed"))
                .collect::<Vec<_>>()
        });
        let (sq2, sr2) = (sq.clone(), sr.clone());
        let server = tokio::spawn(async move {
            let c = circuit();
            let mut s = GmwSession::setup(Party::Server, &mut b, ExtensionConfig::default(), b"f")
                .await
                .expect("setup");
            let mut inputs = Inputs::new();
            inputs.set(&c.sq, sq2).set(&c.sr, sr2);
            let out = s.evaluate(&mut b, &c.net, inputs).await.expect("run");
            c.outs
                .iter()
                .map(|&o| out.get(o).cloned().expect("revealed"))
                .collect::<Vec<_>>()
        });
        let got_c = client.await.expect("client");
        let got_s = server.await.expect("server");
        assert_eq!(got_c, got_s);
        for l in 0..Q * R {
            let (q, r) = (l / R, l % R);
            let g = |v: &Lanes, i: usize| v.get(i).expect("in range");
            let a1 = g(&cq, q) & g(&sr, r);
            let a2 = g(&cr, r) & g(&sq, q);
            let a3 = (a1 ^ a2) & !g(&cq, q);
            let a4 = a3 & g(&sq, q);
            let a5 = g(&cq, 0) & a4;
            for (k, want) in [a1, a2, a3, a4, a5].into_iter().enumerate() {
                assert_eq!(got_c[k].get(l), Some(want), "seed {seed} gate {k} lane {l}");
            }
        }
    }
}

/// A ripple adder of a per-query client word and a per-record server word:
/// its first carry is a fixed AND, every later carry `(x ⊕ c) ∧ (y ⊕ c)`
/// is split into a fixed AND and one per-lane OT; the sums equal the
/// plaintext sums, and the plan holds no triple.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_ripple_carries_add_correctly() {
    const W: usize = 6;
    let build = || {
        let mut b = NetlistBuilder::new();
        let x = b.input_word(Party::Client, W, Q).expect("input");
        let y = b.input_word(Party::Server, W, R).expect("input");
        let by_q: Vec<u32> = (0..Q * R).map(|l| (l / R) as u32).collect();
        let by_r: Vec<u32> = (0..Q * R).map(|l| (l % R) as u32).collect();
        let xs = Word::from_bits(
            x.bits()
                .iter()
                .map(|w| b.gather_lanes(w, &by_q).expect("gather"))
                .collect(),
        );
        let ys = Word::from_bits(
            y.bits()
                .iter()
                .map(|w| b.gather_lanes(w, &by_r).expect("gather"))
                .collect(),
        );
        let sum = add_with_carry(&mut b, AdderKind::Ripple, &xs, &ys).expect("add");
        let first = b.output_word(&sum, Reveal::Both).expect("out");
        (b.finish(), x, y, first)
    };
    let (net, ..) = build();
    let plan = FixedPlan::new(&net);
    assert_eq!(plan.bit_requirements().triples, 0);
    // W carries, each with one key-ROT per query for the client.
    assert_eq!(plan.keys_received_by(Party::Client), (W * Q) as u64);
    let xv: Vec<u128> = (0..Q as u128).map(|q| (q * 23 + 40) % 64).collect();
    let yv: Vec<u128> = (0..R as u128).map(|r| (r * 37 + 5) % 64).collect();
    let (mut a, mut b) = memory_pair();
    let xc = xv.clone();
    let client = tokio::spawn(async move {
        let (net, x, _, first) = build();
        let mut s = GmwSession::setup(Party::Client, &mut a, ExtensionConfig::default(), b"c")
            .await
            .expect("setup");
        let mut inputs = Inputs::new();
        inputs.set_word(&x, &xc).expect("fits");
        let out = s.evaluate(&mut a, &net, inputs).await.expect("run");
        out.word(first, W + 1).expect("sum")
    });
    let yc = yv.clone();
    let server = tokio::spawn(async move {
        let (net, _, y, first) = build();
        let mut s = GmwSession::setup(Party::Server, &mut b, ExtensionConfig::default(), b"c")
            .await
            .expect("setup");
        let mut inputs = Inputs::new();
        inputs.set_word(&y, &yc).expect("fits");
        let out = s.evaluate(&mut b, &net, inputs).await.expect("run");
        out.word(first, W + 1).expect("sum")
    });
    let got = client.await.expect("client");
    assert_eq!(got, server.await.expect("server"));
    for l in 0..Q * R {
        assert_eq!(got[l], xv[l / R] + yv[l % R], "lane {l}");
    }
}

/// Material whose key-ROTs do not match the plan is refused with a precise
/// error instead of being consumed out of step with the peer.
#[test]
fn material_with_the_wrong_key_count_is_refused() {
    use mpc_core::block::Block;
    use mpc_core::gmw::{GmwError, Material, ReceivedBitRots, ReceivedKeyRots, SentBitRots};
    use std::sync::Arc;
    let c = circuit();
    let plan = Arc::new(FixedPlan::new(&c.net));
    let r = plan.bit_requirements();
    let n_recv = r.rots_received_by(Party::Client) as usize;
    let n_send = r.rots_received_by(Party::Server) as usize;
    let received = ReceivedBitRots {
        choices: Lanes::zeros(n_recv),
        messages: Lanes::zeros(n_recv),
    };
    let sent = SentBitRots {
        m0: Lanes::zeros(n_send),
        m1: Lanes::zeros(n_send),
    };
    let short = ReceivedKeyRots {
        choices: Lanes::zeros(6),
        keys: vec![Block::ZERO; 6],
    };
    let pairs = vec![[Block::ZERO; 2]; 6];
    let err = match Material::with_fixed(
        Party::Client,
        Arc::clone(&plan),
        &received,
        &sent,
        short,
        pairs.clone(),
    ) {
        Err(e) => e,
        Ok(_) => panic!("7 keys are needed"),
    };
    assert!(
        matches!(err, GmwError::MaterialShort { needed: 7, have: 6 }),
        "{err:?}"
    );
    let right = ReceivedKeyRots {
        choices: Lanes::zeros(7),
        keys: vec![Block::ZERO; 7],
    };
    assert!(Material::with_fixed(Party::Client, plan, &received, &sent, right, pairs).is_ok());
}
