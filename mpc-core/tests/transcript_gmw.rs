//! Transcript tests: what each party sends never contains either party's
//! plaintext inputs, and the message pattern (lengths, rounds) does not
//! depend on the inputs.

use mpc_core::arith::{BitRows, FixedBitsReceiver, RowsSender};
use mpc_core::channel::{Channel, MemoryChannel, RecordingChannel, memory_pair};
use mpc_core::circuit::gadgets::{self, AdderKind};
use mpc_core::circuit::netlist::{NetWire, NetlistBuilder, Reveal};
use mpc_core::circuit::{Builder, Word};
use mpc_core::gmw::{self, Inputs, Netlist, setup_pool};
use mpc_core::ot::ExtensionConfig;
use mpc_core::{Lanes, Party};

/// Distinctive 16-byte values.
const CLIENT_SECRETS: [[u8; 16]; 2] = [*b"CLIENT-SECRET-01", *b"client:a1b2c3d4e"];
const SERVER_SECRETS: [[u8; 16]; 2] = [*b"SERVER-SECRET-02", *b"server#9f8e7d6c5"];

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

struct Circuit {
    net: Netlist,
    /// Per party: 128-lane wires whose lanes spell a secret, and 1-lane
    /// 128-bit words whose bits spell a secret.
    client_lanes: NetWire,
    server_lanes: NetWire,
    client_word: Word<NetWire>,
    server_word: Word<NetWire>,
    lt_out: usize,
}

/// A Dice-like mix: bitwise AND of the two parties' 128-lane vectors
/// (mixed ANDs), a popcount over two secret words per side, a comparison of
/// the 128-bit words (revealed), and a sum output as shares.
fn circuit() -> Circuit {
    let mut b = NetlistBuilder::new();
    let client_lanes = b.input(Party::Client, 128).expect("input");
    let server_lanes = b.input(Party::Server, 128).expect("input");
    let client_word = b.input_word(Party::Client, 128, 1).expect("input");
    let server_word = b.input_word(Party::Server, 128, 1).expect("input");
    let both = b.and(&client_lanes, &server_lanes).expect("and");
    let either = b.or(&client_lanes, &server_lanes).expect("or");
    let count = gadgets::popcount(&mut b, &[both, either]).expect("popcount");
    let lt = gadgets::lt(&mut b, &client_word, &server_word).expect("lt");
    let sum = gadgets::add(&mut b, AdderKind::Ripple, &client_word, &server_word).expect("add");
    let lt_out = b.output(&lt, Reveal::Both).expect("output");
    b.output_word(&sum, Reveal::Shares).expect("output");
    b.output_word(&count, Reveal::Shares).expect("output");
    Circuit {
        net: b.finish(),
        client_lanes,
        server_lanes,
        client_word,
        server_word,
        lt_out,
    }
}

fn bytes_lanes(bytes: &[u8; 16]) -> Lanes {
    Lanes::from_bytes(bytes, 128).expect("128 bits, no padding")
}

fn bytes_value(bytes: &[u8; 16]) -> u128 {
    u128::from_le_bytes(*bytes)
}

struct Transcript {
    sent: Vec<Vec<u8>>,
    rounds: u64,
    lt: bool,
}

/// One party's run: its two 16-byte inputs into the circuit, everything it
/// sends recorded.
async fn party(me: Party, ch: MemoryChannel, values: [[u8; 16]; 2]) -> Transcript {
    let c = circuit();
    let (lanes, word) = match me {
        Party::Client => (&c.client_lanes, &c.client_word),
        Party::Server => (&c.server_lanes, &c.server_word),
    };
    let mut ch = RecordingChannel::new(ch);
    let mut inputs = Inputs::new();
    inputs.set(lanes, bytes_lanes(&values[0]));
    inputs
        .set_word(word, &[bytes_value(&values[1])])
        .expect("fits");
    let out = gmw::evaluate(&c.net, me, &mut ch, inputs)
        .await
        .expect("party run");
    let lt = out
        .get(c.lt_out)
        .expect("revealed")
        .get(0)
        .expect("one lane");
    Transcript {
        sent: ch.sent().iter().map(|m| m.to_vec()).collect(),
        rounds: ch.stats().rounds,
        lt,
    }
}

async fn run(client: [[u8; 16]; 2], server: [[u8; 16]; 2]) -> (Transcript, Transcript) {
    let (a, b) = memory_pair();
    let ta = tokio::spawn(party(Party::Client, a, client));
    let tb = tokio::spawn(party(Party::Server, b, server));
    (ta.await.expect("client"), tb.await.expect("server"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inputs_never_appear_in_any_message() {
    let (c, s) = run(CLIENT_SECRETS, SERVER_SECRETS).await;
    assert_eq!(
        c.lt,
        bytes_value(&CLIENT_SECRETS[1]) < bytes_value(&SERVER_SECRETS[1])
    );
    for (who, t) in [("client", &c), ("server", &s)] {
        let all: Vec<u8> = t.sent.concat();
        assert!(all.len() > 1000, "{who} sent something substantial");
        for secret in CLIENT_SECRETS.iter().chain(&SERVER_SECRETS) {
            assert!(
                !contains(&all, secret),
                "{who} sent {:?}",
                String::from_utf8_lossy(secret)
            );
            // Nor inside a single message, framed differently.
            for m in &t.sent {
                assert!(!contains(m, secret));
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_pattern_is_independent_of_inputs() {
    // Different inputs with the same revealed output (client word greater,
    // so lt = 0, in both runs).
    let other_client = [*b"another-client-X", *b"\xff\xffZZZZZZZZZZZZZZ"];
    let other_server = [*b"another-server-Y", *b"\x00\x00AAAAAAAAAAAAAA"];
    let (c1, s1) = run(CLIENT_SECRETS, SERVER_SECRETS).await;
    let (c2, s2) = run(other_client, other_server).await;
    assert!(!c1.lt && !c2.lt);
    for (a, b) in [(&c1, &c2), (&s1, &s2)] {
        let la: Vec<usize> = a.sent.iter().map(Vec::len).collect();
        let lb: Vec<usize> = b.sent.iter().map(Vec::len).collect();
        assert_eq!(la, lb, "message lengths");
        assert_eq!(a.rounds, b.rounds, "rounds");
    }
    // Online rounds: one per interactive level plus the output exchange,
    // on top of the OT setup and extension flights.
    assert!(c1.rounds > u64::from(circuit().net.depth()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inner_product_transcript_hides_both_vectors() {
    let x = Lanes::from_bytes(&CLIENT_SECRETS[0], 128).expect("128 bits");
    let rows: Vec<Lanes> = SERVER_SECRETS
        .iter()
        .map(|s| Lanes::from_bytes(s, 128).expect("128 bits"))
        .collect();
    let (a, b) = memory_pair();
    let ta = tokio::spawn(async move {
        let mut ch = RecordingChannel::new(a);
        let mut pool = setup_pool(Party::Client, &mut ch, ExtensionConfig::default(), b"t")
            .await
            .expect("pool");
        let mut r = FixedBitsReceiver::setup(&mut ch, &mut pool.receiver, &x)
            .await
            .expect("setup");
        let _: Vec<u32> = r.inner_products(&mut ch, 2, 8).await.expect("products");
        ch.sent_bytes()
    });
    let tb = tokio::spawn(async move {
        let mut ch = RecordingChannel::new(b);
        let mut pool = setup_pool(Party::Server, &mut ch, ExtensionConfig::default(), b"t")
            .await
            .expect("pool");
        let mut s = RowsSender::setup(&mut ch, &mut pool.sender, 128)
            .await
            .expect("setup");
        let _: Vec<u32> = s
            .inner_products(&mut ch, &BitRows::new(&rows).expect("rows"), 8)
            .await
            .expect("products");
        ch.sent_bytes()
    });
    let (sa, sb) = (ta.await.expect("client"), tb.await.expect("server"));
    for secret in CLIENT_SECRETS.iter().chain(&SERVER_SECRETS) {
        assert!(!contains(&sa, secret));
        assert!(!contains(&sb, secret));
    }
}
