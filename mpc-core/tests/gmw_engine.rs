//! The GMW engine itself: rounds per level, reveal modes, sessions serving
//! several circuits, and precise errors for bad inputs and bad peers.

use mpc_core::channel::{Bytes, Channel, MemoryChannel, memory_pair};
use mpc_core::circuit::gadgets::{self, AdderKind};
use mpc_core::circuit::netlist::{NetWire, NetlistBuilder, Reveal};
use mpc_core::circuit::{Builder, Word};
use mpc_core::gmw::{self, GmwError, GmwSession, Inputs, Netlist, Outputs};
use mpc_core::ot::ExtensionConfig;
use mpc_core::{Lanes, Party};

struct Cmp {
    net: Netlist,
    x: Word<NetWire>,
    y: Word<NetWire>,
    outs: Vec<usize>,
}

/// x (client) vs y (server), 16 bits, 50 lanes: lt revealed to both, to
/// the client only, to the server only, and as shares; the sum as shares.
fn cmp_circuit() -> Cmp {
    let mut b = NetlistBuilder::new();
    let x = b.input_word(Party::Client, 16, 50).expect("input");
    let y = b.input_word(Party::Server, 16, 50).expect("input");
    let lt = gadgets::lt(&mut b, &x, &y).expect("lt");
    let sum = gadgets::add(&mut b, AdderKind::LogDepth, &x, &y).expect("add");
    let public = b.constant(public_lanes()).expect("constant");
    let outs = vec![
        b.output(&lt, Reveal::Both).expect("out"),
        b.output(&lt, Reveal::To(Party::Client)).expect("out"),
        b.output(&lt, Reveal::To(Party::Server)).expect("out"),
        b.output(&lt, Reveal::Shares).expect("out"),
        b.output_word(&sum, Reveal::Shares).expect("out"),
        // A wire only the client knows, revealed to the server.
        b.output(&x.bits()[0], Reveal::To(Party::Server))
            .expect("out"),
        // A public constant handed out as fresh shares (it used to make both
        // parties wait for a mask nobody sent).
        b.output(&public, Reveal::Shares).expect("out"),
    ];
    Cmp {
        net: b.finish(),
        x,
        y,
        outs,
    }
}

fn public_lanes() -> Lanes {
    Lanes::from_bools(&(0..50).map(|i| i % 3 == 0).collect::<Vec<_>>())
}

fn xs() -> Vec<u128> {
    (0..50).map(|i| (i * 1361) % 65536).collect()
}
fn ys() -> Vec<u128> {
    (0..50).map(|i| (i * 2719 + 5) % 65536).collect()
}

async fn both<F, G>(f: F, g: G) -> (Outputs, Outputs)
where
    F: FnOnce(Cmp, MemoryChannel) -> tokio::task::JoinHandle<Outputs>,
    G: FnOnce(Cmp, MemoryChannel) -> tokio::task::JoinHandle<Outputs>,
{
    let (a, b) = memory_pair();
    let ta = f(cmp_circuit(), a);
    let tb = g(cmp_circuit(), b);
    (ta.await.expect("client"), tb.await.expect("server"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reveal_modes_and_online_rounds() {
    let (oc, os) = both(
        |c, mut ch| {
            tokio::spawn(async move {
                let mut s = GmwSession::setup(Party::Client, &mut ch, ExtensionConfig::IKNP, b"t")
                    .await
                    .expect("setup");
                let mat = s.preprocess(&mut ch, &c.net).await.expect("pre");
                let mut inputs = Inputs::new();
                inputs.set_word(&c.x, &xs()).expect("fits");
                let before = ch.stats();
                let out = gmw::run_online(&c.net, Party::Client, &mut ch, &mat, inputs)
                    .await
                    .expect("run");
                // One message per interactive level plus the output exchange.
                assert_eq!(
                    ch.stats().since(&before).messages_sent,
                    u64::from(c.net.depth()) + 1
                );
                out
            })
        },
        |c, mut ch| {
            tokio::spawn(async move {
                let mut s = GmwSession::setup(Party::Server, &mut ch, ExtensionConfig::IKNP, b"t")
                    .await
                    .expect("setup");
                let mut inputs = Inputs::new();
                inputs.set_word(&c.y, &ys()).expect("fits");
                s.evaluate(&mut ch, &c.net, inputs).await.expect("run")
            })
        },
    )
    .await;
    let c = cmp_circuit();
    let lt: Vec<bool> = xs().iter().zip(ys()).map(|(x, y)| *x < y).collect();
    let lt = Lanes::from_bools(&lt);
    assert_eq!(oc.get(c.outs[0]), Some(&lt));
    assert_eq!(os.get(c.outs[0]), Some(&lt));
    assert_eq!((oc.get(c.outs[1]), os.get(c.outs[1])), (Some(&lt), None));
    assert_eq!((oc.get(c.outs[2]), os.get(c.outs[2])), (None, Some(&lt)));
    // Shares: XOR to the value; neither share alone equals it (50 random
    // lanes: a false alarm has probability 2^-50).
    let (sc, ss) = (
        oc.get(c.outs[3]).expect("share"),
        os.get(c.outs[3]).expect("share"),
    );
    assert_eq!(sc.xor(ss), lt);
    assert_ne!(sc, &lt);
    let sums: Vec<u128> = xs()
        .iter()
        .zip(ys())
        .map(|(x, y)| (x + y) % 65536)
        .collect();
    let wc = oc.word_lanes(c.outs[4], 16).expect("shares");
    let ws = os.word_lanes(c.outs[4], 16).expect("shares");
    let xored: Vec<Lanes> = wc.iter().zip(&ws).map(|(a, b)| a.xor(b)).collect();
    assert_eq!(
        mpc_core::circuit::word::lanes_to_values(&xored).expect("bits"),
        sums
    );
    // The sum is computable from the two private inputs' XOR at bit 0;
    // re-sharing must hide the client's input bit in its share.
    let x0: Vec<bool> = xs().iter().map(|x| x & 1 == 1).collect();
    assert_ne!(wc[0], Lanes::from_bools(&x0));
    assert_eq!(os.get(c.outs[5]), Some(&Lanes::from_bools(&x0)));
    assert!(matches!(
        oc.word(c.outs[2], 1),
        Err(GmwError::NotRevealed { .. })
    ));
    let (pc, ps) = (
        oc.get(c.outs[6]).expect("share"),
        os.get(c.outs[6]).expect("share"),
    );
    assert_eq!(pc.xor(ps), public_lanes());
    assert_ne!(pc, &public_lanes());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preprocessed_triples_are_valid_and_random() {
    // More than one preprocessing chunk per direction.
    let n = gmw::PREPROCESS_CHUNK + 1000;
    let mut b = NetlistBuilder::new();
    let x = b.shared_input(n).expect("input");
    let y = b.shared_input(n).expect("input");
    let z = b.and(&x, &y).expect("and");
    b.output(&z, Reveal::Shares).expect("out");
    let net = std::sync::Arc::new(b.finish());
    let (mut ca, mut cb) = memory_pair();
    let (na, nb) = (net.clone(), net.clone());
    let ta = tokio::spawn(async move {
        let mut s = GmwSession::setup(Party::Client, &mut ca, ExtensionConfig::default(), b"tri")
            .await
            .expect("setup");
        s.preprocess(&mut ca, &na).await.expect("pre")
    });
    let tb = tokio::spawn(async move {
        let mut s = GmwSession::setup(Party::Server, &mut cb, ExtensionConfig::default(), b"tri")
            .await
            .expect("setup");
        s.preprocess(&mut cb, &nb).await.expect("pre")
    });
    let (ma, mb) = (ta.await.expect("client"), tb.await.expect("server"));
    assert_eq!((ma.triples(), mb.triples()), (n, n));
    let (ta, tb) = (ma.triple_shares(), mb.triple_shares());
    let a = ta.a.xor(&tb.a);
    let b = ta.b.xor(&tb.b);
    assert_eq!(ta.c.xor(&tb.c), a.and(&b), "c = a & b on every triple");
    // Shares and values are balanced bits, not constants.
    for v in [&ta.a, &ta.b, &ta.c, &tb.a, &tb.b, &a, &b] {
        let ones = v.count_ones() as f64 / n as f64;
        assert!((0.49..0.51).contains(&ones), "fraction of ones {ones}");
    }
    assert_ne!(ta.a, tb.a);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_session_many_circuits() {
    let (a, b) = memory_pair();
    let run = |me: Party, mut ch: MemoryChannel| {
        tokio::spawn(async move {
            let mut s = GmwSession::setup(me, &mut ch, ExtensionConfig::default(), b"many")
                .await
                .expect("setup");
            let mut results = Vec::new();
            for round in 0..3u128 {
                let c = cmp_circuit();
                let mut inputs = Inputs::new();
                match me {
                    Party::Client => inputs.set_word(
                        &c.x,
                        &xs().iter().map(|v| (v + round) % 65536).collect::<Vec<_>>(),
                    ),
                    Party::Server => inputs.set_word(&c.y, &ys()),
                }
                .expect("fits");
                let out = s.evaluate(&mut ch, &c.net, inputs).await.expect("run");
                results.push(out.get(c.outs[0]).cloned().expect("revealed"));
            }
            results
        })
    };
    let (ta, tb) = (run(Party::Client, a), run(Party::Server, b));
    let (ra, rb) = (ta.await.expect("client"), tb.await.expect("server"));
    assert_eq!(ra, rb);
    for (round, r) in ra.iter().enumerate() {
        let want: Vec<bool> = xs()
            .iter()
            .zip(ys())
            .map(|(x, y)| (x + round as u128) % 65536 < y)
            .collect();
        assert_eq!(r, &Lanes::from_bools(&want));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_only_circuits_need_no_interaction() {
    let mut b = NetlistBuilder::new();
    let x = b.input_word(Party::Client, 8, 4).expect("input");
    let y = b.input_word(Party::Client, 8, 4).expect("input");
    let p = gadgets::mul(&mut b, AdderKind::Ripple, &x, &y, 16).expect("mul");
    let first = b.output_word(&p, Reveal::To(Party::Client)).expect("out");
    let net = b.finish();
    assert_eq!((net.depth(), net.requirements().triples), (0, 0));
    let (mut a, _peer) = memory_pair();
    let mut inputs = Inputs::new();
    inputs.set_word(&x, &[3, 255, 0, 17]).expect("fits");
    inputs.set_word(&y, &[5, 255, 9, 1]).expect("fits");
    let material = gmw::Material::default();
    let out = gmw::run_online(&net, Party::Client, &mut a, &material, inputs)
        .await
        .expect("local run");
    assert_eq!(
        out.word(first, 16).expect("revealed"),
        vec![15, 65025, 0, 17]
    );
    assert_eq!(a.stats().messages_sent, 0);
}

#[tokio::test]
async fn input_mistakes_are_precise_errors() {
    let c = cmp_circuit();
    let mat = gmw::Material::default();
    let (mut a, _b) = memory_pair();
    // Missing.
    let r = gmw::run_online(&c.net, Party::Client, &mut a, &mat, Inputs::new()).await;
    assert!(matches!(r, Err(GmwError::MissingInput { input: 0 })));
    // The other party's input.
    let mut inputs = Inputs::new();
    inputs.set_word(&c.x, &xs()).expect("fits");
    inputs.set_word(&c.y, &ys()).expect("fits");
    let r = gmw::run_online(&c.net, Party::Client, &mut a, &mat, inputs).await;
    assert!(matches!(r, Err(GmwError::ForeignInput { input: 16 })));
    // Wrong lane count.
    let mut inputs = Inputs::new();
    inputs.set_word(&c.x, &xs()[..10]).expect("fits");
    let r = gmw::run_online(&c.net, Party::Client, &mut a, &mat, inputs).await;
    assert!(matches!(
        r,
        Err(GmwError::InputLanes {
            expected: 50,
            got: 10,
            ..
        })
    ));
    // Too wide.
    let mut inputs = Inputs::new();
    assert!(matches!(
        inputs.set_word(&c.x, &[1 << 16]),
        Err(GmwError::Circuit(_))
    ));
    // Not enough material for an interactive circuit.
    let mut inputs = Inputs::new();
    inputs.set_word(&c.x, &xs()).expect("fits");
    let r = gmw::run_online(&c.net, Party::Client, &mut a, &mat, inputs).await;
    assert!(matches!(r, Err(GmwError::MaterialShort { .. })));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_sending_the_wrong_length_is_an_error() {
    let (a, mut b) = memory_pair();
    let client = tokio::spawn(async move {
        let mut a = a;
        let c = cmp_circuit();
        let mut s =
            GmwSession::setup(Party::Client, &mut a, ExtensionConfig::default(), b"bad").await?;
        let mat = s.preprocess(&mut a, &c.net).await?;
        let mut inputs = Inputs::new();
        inputs.set_word(&c.x, &xs()).expect("fits");
        gmw::run_online(&c.net, Party::Client, &mut a, &mat, inputs).await
    });
    // A server that does the OT part honestly, then sends garbage.
    let c = cmp_circuit();
    let mut s = GmwSession::setup(Party::Server, &mut b, ExtensionConfig::default(), b"bad")
        .await
        .expect("setup");
    s.preprocess(&mut b, &c.net).await.expect("pre");
    b.send(Bytes::from_static(b"short")).await.expect("send");
    let r = client.await.expect("task");
    assert!(matches!(r, Err(GmwError::Channel(_))), "{r:?}");
}
