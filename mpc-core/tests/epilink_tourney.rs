//! The wide record tournament (`record_arity` 4 and 8, and the binary 2)
//! against the reference, bit for bit: database sizes that are not powers
//! of the arity (1, 2, k − 1, k, k + 1, odd sizes, several layers), ties of
//! the best score at many positions, all-equal scores, chunk boundaries,
//! linkage and matching mode, on the plaintext pipeline (many cases) and in
//! the two-party run; and the handshake refusing an arity mismatch.

mod epilink_support;

use epilink_support::*;
use mpc_core::channel::memory_pair;
use mpc_core::epilink::plain::{PlainOptions, link_records_plain, match_records_plain};
use mpc_core::epilink::{
    HandshakeError, Options, ProtocolError, run_client_matching, run_server_matching,
};
use proptest::prelude::*;
use protocol_spec::config::{LinkageConfig, Record};
use protocol_spec::epilink::{LinkResult, link_records, match_records};

const ARITIES: [usize; 3] = [2, 4, 8];

fn plain_check(
    config: &LinkageConfig,
    queries: &[Record],
    database: &[Record],
    lanes: usize,
    arity: usize,
) {
    let opts = PlainOptions {
        lanes_per_chunk: lanes,
        record_arity: arity,
        seed: 11,
        ..PlainOptions::default()
    };
    let want = link_records(config, queries, database).expect("reference");
    let got = link_records_plain(config, queries, database, &opts).expect("plaintext pipeline");
    assert_eq!(
        got,
        want,
        "arity {arity}, lanes {lanes}, N = {}",
        database.len()
    );
    let counts = match_records_plain(config, queries, database, &opts).expect("matching");
    assert_eq!(
        counts,
        match_records(config, queries, database).expect("reference")
    );
}

/// The default configuration with value pools, and a few records whose
/// scores against `query` differ: `best` equals the query.
fn family() -> (Scenario, Record, Vec<Record>) {
    let config = default_config();
    let s = Scenario {
        pools: pools_for(&config, 5),
        config,
    };
    let query = record_from_choices(&s, &[0, 1, 2, 0, 1, 0, 1, 0]);
    let others = vec![
        record_from_choices(&s, &[1, 0, 2, 1, 1, 0, 0, 1]),
        record_from_choices(&s, &[0, 1, 0, 0, 1, 1, 1, 0]),
        record_from_choices(&s, &[2, 2, 1, 2, 0, 1, 0, 2]),
        empty_record(&s.config),
    ];
    (s, query, others)
}

/// A database of `n` records where the best score (the query itself) sits
/// at the positions where `best_at(i)` holds and the others cycle through
/// lower scores.
fn database(
    query: &Record,
    others: &[Record],
    n: usize,
    best_at: impl Fn(usize) -> bool,
) -> Vec<Record> {
    (0..n)
        .map(|i| {
            if best_at(i) {
                query.clone()
            } else {
                others[(i * 7 + 3) % others.len()].clone()
            }
        })
        .collect()
}

/// The sizes every arity is checked at: 1, 2, k − 1, k, k + 1, odd sizes
/// and sizes of several layers.
fn sizes(k: usize) -> Vec<usize> {
    let mut v = vec![
        1,
        2,
        k - 1,
        k,
        k + 1,
        2 * k - 1,
        2 * k + 3,
        k * k - 1,
        k * k + 1,
        37,
    ];
    v.sort_unstable();
    v.dedup();
    v.retain(|&n| n >= 1);
    v
}

#[test]
fn plain_sizes_ties_and_chunks_match_the_reference() {
    let (s, query, others) = family();
    let empty = empty_record(&s.config);
    for k in ARITIES {
        for n in sizes(k) {
            let patterns: [&dyn Fn(usize) -> bool; 5] = [
                &|_| false,      // best among the others
                &|i| i == n - 1, // only the last
                &|i| i % 3 == 2, // ties at many positions
                &|i| i >= n / 2, // ties in the second half
                &|_| true,       // all equal
            ];
            for best_at in patterns {
                let db = database(&query, &others, n, best_at);
                for lanes in [1, 3, 5, 64] {
                    plain_check(
                        &s.config,
                        &[query.clone(), others[0].clone(), empty.clone()],
                        &db,
                        lanes,
                        k,
                    );
                }
            }
        }
    }
}

#[test]
fn plain_rejects_an_unknown_arity() {
    let (s, query, others) = family();
    for k in [0, 1, 3, 16] {
        let opts = PlainOptions {
            record_arity: k,
            ..PlainOptions::default()
        };
        assert!(
            link_records_plain(&s.config, std::slice::from_ref(&query), &others, &opts).is_err(),
            "arity {k}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn plain_random_cases_match_the_reference(
        s in scenario(Mix::Any),
        qs in prop::collection::vec(prop::collection::vec(any::<u8>(), 5), 1..4),
        ds in prop::collection::vec(prop::collection::vec(any::<u8>(), 5), 0..40),
        lanes in 1usize..48,
        arity in 0usize..3,
    ) {
        plain_check(&s.config, &records(&s, &qs), &records(&s, &ds), lanes, ARITIES[arity]);
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn opts(lanes: usize, arity: usize) -> Options {
    Options {
        lanes_per_chunk: lanes,
        record_arity: arity,
        ..Options::default()
    }
}

async fn check_2pc(config: &LinkageConfig, queries: &[Record], database: &[Record], o: Options) {
    let want = link_records(config, queries, database).expect("reference");
    let (c, s) = link_2pc(config, config, queries, database, o.clone(), o.clone()).await;
    let (c, s) = (c.expect("client"), s.expect("server"));
    let got: Vec<LinkResult> = c.iter().zip(&s).map(|(a, b)| a.combine(b)).collect();
    assert_eq!(
        got,
        want,
        "arity {}, lanes {}, N = {}",
        o.record_arity,
        o.lanes_per_chunk,
        database.len()
    );
    // Matching mode: the counts to the client.
    let (a, b) = memory_pair();
    let (cc, sc) = (config.clone(), config.clone());
    let (q, d) = (queries.to_vec(), database.to_vec());
    let (co, so) = (o.clone(), o);
    let client = tokio::spawn(async move { run_client_matching(a, &cc, &q, &co).await });
    let server = tokio::spawn(async move { run_server_matching(b, &sc, &d, &so).await });
    let counts = client.await.expect("client task").expect("client");
    server.await.expect("server task").expect("server");
    assert_eq!(
        counts,
        match_records(config, queries, database).expect("reference")
    );
}

#[test]
fn two_party_wide_tournaments_match_the_reference() {
    let rt = runtime();
    let (s, query, others) = family();
    rt.block_on(async {
        for k in [4, 8] {
            for n in [1, 2, k - 1, k, k + 1, 2 * k + 3, k * k + 1] {
                let ties = database(&query, &others, n, |i| i % 3 == 2 || i == n - 1);
                check_2pc(&s.config, std::slice::from_ref(&query), &ties, opts(64, k)).await;
            }
            // All equal scores, several queries, chunks cutting the groups.
            let same = database(&query, &others, 2 * k + 1, |_| true);
            let qs = [query.clone(), others[1].clone()];
            check_2pc(&s.config, &qs, &same, opts(5, k)).await;
            let mixed = database(&query, &others, 3 * k - 1, |i| i % 4 == 1);
            check_2pc(&s.config, &qs, &mixed, opts(7, k)).await;
        }
        // The binary tree through the same entry point.
        let mixed = database(&query, &others, 11, |i| i % 4 == 1);
        check_2pc(&s.config, std::slice::from_ref(&query), &mixed, opts(64, 2)).await;
    });
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn two_party_random_cases_match_the_reference(
        s in scenario(Mix::Any),
        qs in prop::collection::vec(prop::collection::vec(any::<u8>(), 5), 1..3),
        ds in prop::collection::vec(prop::collection::vec(any::<u8>(), 5), 1..20),
        lanes in 1usize..32,
        wide in any::<bool>(),
    ) {
        let k = if wide { 8 } else { 4 };
        runtime().block_on(check_2pc(&s.config, &records(&s, &qs), &records(&s, &ds), opts(lanes, k)));
    }
}

#[test]
fn an_arity_mismatch_is_refused_in_the_handshake() {
    let rt = runtime();
    let (s, query, others) = family();
    rt.block_on(async {
        let (c, srv) = link_2pc(
            &s.config,
            &s.config,
            std::slice::from_ref(&query),
            &others,
            opts(64, 4),
            opts(64, 8),
        )
        .await;
        for r in [c.map(|_| ()), srv.map(|_| ())] {
            assert!(
                matches!(
                    r,
                    Err(ProtocolError::Mismatch(HandshakeError::Options(
                        "the record-tournament arity"
                    )))
                ),
                "{r:?}"
            );
        }
        let (c, _) = link_2pc(
            &s.config,
            &s.config,
            std::slice::from_ref(&query),
            &others,
            opts(64, 3),
            opts(64, 3),
        )
        .await;
        assert!(matches!(c, Err(ProtocolError::InvalidOptions(_))), "{c:?}");
    });
}
