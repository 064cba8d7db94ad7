//! Transcript tests of the full EpiLink protocol: record every message each
//! party sends; no plaintext input of either party (distinctive Bloom
//! filters and string values) appears in them; and two runs with different
//! inputs — other values, other empty fields, other Hamming weights — but
//! the same output send messages of identical lengths in identical rounds.

mod epilink_support;

use epilink_support::{bits_from_bytes, field};
use mpc_core::channel::{Channel, RecordingChannel, memory_pair};
use mpc_core::epilink::{Options, ResultShare, run_client, run_server};
use protocol_spec::config::{Comparator, FieldType, LinkageConfig, Record};
use protocol_spec::epilink::{LinkResult, link_records};

/// Two 256-bit Bloom-filter fields in an exchange group, a 128-bit string
/// field and a 12-bit integer.
fn config() -> LinkageConfig {
    let fields = vec![
        field(
            "first",
            0.001,
            0.01,
            Comparator::Dice,
            FieldType::Bitmask,
            256,
        ),
        field(
            "last",
            0.0005,
            0.01,
            Comparator::Dice,
            FieldType::Bitmask,
            256,
        ),
        field(
            "code",
            0.01,
            0.01,
            Comparator::Binary,
            FieldType::String,
            128,
        ),
        field(
            "year",
            0.03,
            0.0,
            Comparator::Binary,
            FieldType::Integer,
            12,
        ),
    ];
    LinkageConfig::new(fields, &[vec!["first".into(), "last".into()]], 0.85, 0.6).expect("valid")
}

/// A 32-byte filter spelling `tag` twice (distinctive, 16 bytes each).
fn filter(tag: &[u8; 16]) -> Vec<u8> {
    [tag.as_slice(), tag.as_slice()].concat()
}

fn record(
    first: Option<&[u8; 16]>,
    last: Option<&[u8; 16]>,
    code: Option<&[u8; 16]>,
    year: Option<u16>,
) -> Record {
    vec![
        first.map(|t| bits_from_bytes(256, &filter(t))),
        last.map(|t| bits_from_bytes(256, &filter(t))),
        code.map(|t| bits_from_bytes(128, t)),
        year.map(|y| bits_from_bytes(12, &(y & 0xfff).to_le_bytes())),
    ]
}

struct Transcript {
    sent: Vec<Vec<u8>>,
    rounds: u64,
    shares: Vec<ResultShare>,
}

async fn run(queries: Vec<Record>, database: Vec<Record>) -> (Transcript, Transcript) {
    let cfg = config();
    let (a, b) = memory_pair();
    let opts = Options {
        lanes_per_chunk: 4,
        ..Options::default()
    };
    let (c1, c2) = (cfg.clone(), cfg);
    let (o1, o2) = (opts.clone(), opts);
    let client = tokio::spawn(async move {
        let mut ch = RecordingChannel::new(a);
        let shares = run_client(&mut ch, &c1, &queries, &o1)
            .await
            .expect("client");
        Transcript {
            sent: ch.sent().iter().map(|m| m.to_vec()).collect(),
            rounds: ch.stats().rounds,
            shares,
        }
    });
    let server = tokio::spawn(async move {
        let mut ch = RecordingChannel::new(b);
        let shares = run_server(&mut ch, &c2, &database, &o2)
            .await
            .expect("server");
        Transcript {
            sent: ch.sent().iter().map(|m| m.to_vec()).collect(),
            rounds: ch.stats().rounds,
            shares,
        }
    });
    (
        client.await.expect("client task"),
        server.await.expect("server task"),
    )
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

const CLIENT_TAGS: [&[u8; 16]; 3] = [
    b"CLIENT-FIRSTNAME",
    b"client-lastname!",
    b"CLIENT-CODE-0042",
];
const SERVER_TAGS: [&[u8; 16]; 3] = [
    b"SERVER-FIRSTNAME",
    b"server-lastname!",
    b"SERVER-CODE-0077",
];

fn first_inputs() -> (Vec<Record>, Vec<Record>) {
    let [cf, cl, cc] = CLIENT_TAGS;
    let [sf, sl, sc] = SERVER_TAGS;
    let query = record(Some(cf), Some(cl), Some(cc), Some(1970));
    let database = vec![
        record(Some(sf), Some(sl), Some(sc), Some(1980)),
        record(Some(sl), None, Some(sc), Some(1971)),
        // The query's person at index 2, first and last name swapped.
        record(Some(cl), Some(cf), Some(cc), Some(1970)),
        record(None, Some(sf), None, None),
        record(Some(sf), Some(sf), Some(sl), Some(1970)),
    ];
    (vec![query], database)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_plaintext_input_appears_in_any_message() {
    let (q, d) = first_inputs();
    let want = link_records(&config(), &q, &d).expect("reference");
    let (c, s) = run(q, d).await;
    let got: Vec<LinkResult> = c
        .shares
        .iter()
        .zip(&s.shares)
        .map(|(a, b)| a.combine(b))
        .collect();
    assert_eq!(got, want);
    assert!(got[0].is_match && got[0].best_index == 2, "the case links");
    for (who, t) in [("client", &c), ("server", &s)] {
        let all: Vec<u8> = t.sent.concat();
        assert!(all.len() > 10_000, "{who} sent something substantial");
        for tag in CLIENT_TAGS.iter().chain(&SERVER_TAGS) {
            assert!(
                !contains(&all, &tag[..]),
                "{who} sent {:?}",
                String::from_utf8_lossy(&tag[..])
            );
            // Nor half of it (8 bytes) anywhere.
            assert!(
                !contains(&all, &tag[..8]),
                "{who} sent part of {:?}",
                String::from_utf8_lossy(&tag[..])
            );
            for m in &t.sent {
                assert!(!contains(m, &tag[..8]));
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_pattern_is_independent_of_the_inputs() {
    let (q1, d1) = first_inputs();
    // Other values, other empty fields, other Hamming weights, same
    // outcome: match at index 2.
    let x: &[u8; 16] = &[0xff; 16];
    let y: &[u8; 16] = b"\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00";
    let z: &[u8; 16] = b"zzzzzzzzzzzzzzzz";
    let q2 = vec![record(Some(x), None, Some(z), None)];
    let d2 = vec![
        record(None, None, None, None),
        record(Some(y), Some(y), Some(y), Some(5)),
        record(Some(x), Some(y), Some(z), Some(4095)),
        record(Some(z), Some(z), Some(z), Some(7)),
        record(Some(y), None, None, Some(1)),
    ];
    let want1 = link_records(&config(), &q1, &d1).expect("reference");
    let want2 = link_records(&config(), &q2, &d2).expect("reference");
    assert_eq!(want1, want2, "the two runs have the same output");
    let (c1, s1) = run(q1, d1).await;
    let (c2, s2) = run(q2, d2).await;
    for (who, a, b) in [("client", &c1, &c2), ("server", &s1, &s2)] {
        let la: Vec<usize> = a.sent.iter().map(Vec::len).collect();
        let lb: Vec<usize> = b.sent.iter().map(Vec::len).collect();
        assert_eq!(la, lb, "{who}: message lengths");
        assert_eq!(a.rounds, b.rounds, "{who}: rounds");
    }
    // Both runs combine to the same result.
    let r1: Vec<LinkResult> = c1
        .shares
        .iter()
        .zip(&s1.shares)
        .map(|(a, b)| a.combine(b))
        .collect();
    let r2: Vec<LinkResult> = c2
        .shares
        .iter()
        .zip(&s2.shares)
        .map(|(a, b)| a.combine(b))
        .collect();
    assert_eq!(r1, r2);
    assert!(c1.rounds > 20, "the run has many rounds ({})", c1.rounds);
}
