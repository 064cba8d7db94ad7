//! The full two-party protocol (vector products + GMW, both parties as
//! tokio tasks over an in-memory channel) against the reference, bit for
//! bit, on random cases and every edge family; plus matching mode, the
//! handshake checks, progress and cancellation. N stays small here; large
//! runs are the benchmark's job.

mod epilink_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use epilink_support::*;
use mpc_core::channel::memory_pair;
use mpc_core::epilink::{
    Carries, HandshakeError, Options, ProtocolError, run_client, run_client_matching, run_server,
    run_server_matching,
};
use proptest::prelude::*;
use protocol_spec::config::{Comparator, FieldType, LinkageConfig, Record};
use protocol_spec::epilink::{LinkResult, MatchCounts, link_records, match_records};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

async fn check(config: &LinkageConfig, queries: &[Record], database: &[Record], opts: Options) {
    let want = link_records(config, queries, database).expect("reference");
    let (c, s) = link_2pc(config, config, queries, database, opts.clone(), opts).await;
    let (c, s) = (c.expect("client"), s.expect("server"));
    assert_eq!(combine(&c, &s), want, "config {config:?}");
}

fn opts(lanes: usize) -> Options {
    Options {
        lanes_per_chunk: lanes,
        ..Options::default()
    }
}

proptest! {
    // 160 random configurations with up to 3 × 11 comparisons each: thousands of
    // (query, record) comparisons checked bit for bit in every CI run.
    #![proptest_config(ProptestConfig { cases: 160, ..ProptestConfig::default() })]

    #[test]
    fn random_cases_match_the_reference(
        s in scenario(Mix::Any),
        qs in prop::collection::vec(prop::collection::vec(any::<u8>(), 5), 1..4),
        ds in prop::collection::vec(prop::collection::vec(any::<u8>(), 5), 1..12),
        lanes in 1usize..16,
        style in 0usize..3,
    ) {
        let carries = [Carries::MIN_GATES, Carries::BALANCED, Carries::MIN_ROUNDS][style];
        let o = Options { carries, ..opts(lanes) };
        runtime().block_on(check(&s.config, &records(&s, &qs), &records(&s, &ds), o));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn dice_only_and_binary_only_configurations(
        dice in scenario(Mix::DiceOnly),
        binary in scenario(Mix::BinaryOnly),
        qs in prop::collection::vec(prop::collection::vec(any::<u8>(), 5), 1..3),
        ds in prop::collection::vec(prop::collection::vec(any::<u8>(), 5), 1..6),
    ) {
        let rt = runtime();
        rt.block_on(check(&dice.config, &records(&dice, &qs), &records(&dice, &ds), opts(4)));
        rt.block_on(check(&binary.config, &records(&binary, &qs), &records(&binary, &ds), opts(4)));
    }
}

#[test]
fn edge_families_match_the_reference() {
    let rt = runtime();
    rt.block_on(async {
        for bits in PRECISIONS {
            let config = with_bits(&default_config(), bits);
            let s = Scenario {
                pools: pools_for(&config, 77),
                config,
            };
            let full = record_from_choices(&s, &[0, 1, 2, 0, 1, 0, 1, 0]);
            let other = record_from_choices(&s, &[1, 0, 2, 1, 1, 0, 0, 1]);
            let empty = empty_record(&s.config);
            // All-empty records on either side.
            check(
                &s.config,
                std::slice::from_ref(&empty),
                &[full.clone(), other.clone()],
                opts(64),
            )
            .await;
            check(
                &s.config,
                std::slice::from_ref(&full),
                &[empty.clone(), empty.clone(), other.clone()],
                opts(64),
            )
            .await;
            // Exact ties across chunk boundaries: lowest index wins.
            let db = vec![
                other.clone(),
                full.clone(),
                other.clone(),
                full.clone(),
                full.clone(),
            ];
            check(&s.config, &[full.clone(), other.clone()], &db, opts(2)).await;
            check(
                &s.config,
                &[full.clone(), other.clone(), empty.clone()],
                &db,
                opts(3),
            )
            .await;
        }
    });
}

#[test]
fn thresholds_groups_and_field_mixes() {
    let rt = runtime();
    rt.block_on(async {
        // Scores exactly at both thresholds.
        let fields = vec![
            field("a", 0.1, 0.0, Comparator::Binary, FieldType::Integer, 4),
            field("b", 0.1, 0.0, Comparator::Binary, FieldType::Integer, 4),
        ];
        let config = LinkageConfig::new(fields, &[], 1.0, 0.5).expect("valid");
        let v = |x| Some(bits_from_u64(4, x));
        let db = vec![
            vec![v(3), v(6)],
            vec![v(1), v(6)],
            vec![v(3), v(5)],
            vec![v(3), None],
        ];
        check(&config, &[vec![v(3), v(5)], vec![v(1), v(5)]], &db, opts(8)).await;
        // Dice exactly at the threshold: 2/3 → floor(2^F·2/3), i.e. 170·2^8
        // = 43520 at F = 8 and 43690 at F = 16 on the thresholds' scale;
        // one unit either side; and the exact 2/3 (43690.67).
        let fields = vec![field(
            "d",
            0.01,
            0.0,
            Comparator::Dice,
            FieldType::Bitmask,
            8,
        )];
        for bits in PRECISIONS {
            let boundary = ((2u32 << bits) / 3) << (16 - bits);
            for t in [boundary - 1, boundary, boundary + 1, 43690, 43691] {
                let config = with_bits(
                    &LinkageConfig::new(fields.clone(), &[], f64::from(t) / 65536.0, 0.5)
                        .expect("valid"),
                    bits,
                );
                check(
                    &config,
                    &[vec![Some(bits_from_u64(8, 3))]],
                    &[vec![Some(bits_from_u64(8, 1))]],
                    opts(8),
                )
                .await;
            }
        }
        // Exchange groups of 2 and 3, Dice and binary.
        for (size, comparator, ty, bits) in [
            (2, Comparator::Dice, FieldType::Bitmask, 40),
            (3, Comparator::Dice, FieldType::Bitmask, 24),
            (3, Comparator::Binary, FieldType::Integer, 6),
        ] {
            let mut fields: Vec<_> = (0..size)
                .map(|i| {
                    field(
                        &format!("n{i}"),
                        0.001 * (i + 1) as f64,
                        0.01,
                        comparator,
                        ty,
                        bits,
                    )
                })
                .collect();
            fields.push(field(
                "y",
                0.03,
                0.0,
                Comparator::Binary,
                FieldType::Integer,
                12,
            ));
            let group: Vec<String> = (0..size).map(|i| format!("n{i}")).collect();
            let config = LinkageConfig::new(fields, &[group], 0.8, 0.6).expect("valid");
            let s = Scenario {
                pools: pools_for(&config, 3 + size as u64),
                config,
            };
            let db: Vec<Record> = (0u8..9)
                .map(|x| record_from_choices(&s, &[x, x / 3, x / 2, x]))
                .collect();
            let qs: Vec<Record> = (0u8..3)
                .map(|x| record_from_choices(&s, &[x / 2, x, 2, 1]))
                .collect();
            check(&s.config, &qs, &db, opts(10)).await;
        }
    });
}

#[test]
fn dice_edges_at_both_precisions() {
    let rt = runtime();
    rt.block_on(async {
        for (k, (config, queries, database)) in dice_edge_cases().into_iter().enumerate() {
            let carries = [Carries::MIN_GATES, Carries::BALANCED, Carries::MIN_ROUNDS][k % 3];
            let o = Options {
                carries,
                ..opts(3 + k % 5)
            };
            check(&config, &queries, &database, o).await;
        }
    });
}

#[test]
fn synthetic_population_with_the_default_configuration() {
    use mpc_core::epilink::synth::{Population, SynthOptions};
    let rt = runtime();
    rt.block_on(async {
        let config = default_config();
        let pop = Population::generate(
            &config,
            &SynthOptions {
                database: 256,
                queries: 8,
                seed: 42,
                ..SynthOptions::default()
            },
        )
        .expect("synthetic population");
        // 2,048 realistic comparisons, in chunks that split the database;
        // at the default 8 bits and at 16.
        check(&config, &pop.queries, &pop.database, opts(1000)).await;
        let sixteen = with_bits(&config, 16);
        check(&sixteen, &pop.queries, &pop.database, opts(1000)).await;
    });
}

#[test]
fn empty_database_is_a_well_formed_exchange() {
    let rt = runtime();
    rt.block_on(async {
        let config = default_config();
        let q = vec![empty_record(&config); 3];
        let (c, s) = link_2pc(
            &config,
            &config,
            &q,
            &[],
            Options::default(),
            Options::default(),
        )
        .await;
        let (c, s) = (c.expect("client"), s.expect("server"));
        assert_eq!(
            combine(&c, &s),
            vec![
                LinkResult {
                    is_match: false,
                    tentative: false,
                    best_index: 0
                };
                3
            ]
        );
    });
}

#[test]
fn matching_mode_reveals_counts_to_the_client_only() {
    let rt = runtime();
    rt.block_on(async {
        let config = default_config();
        let s = Scenario {
            pools: pools_for(&config, 8),
            config,
        };
        let db: Vec<Record> = (0u8..6)
            .map(|x| record_from_choices(&s, &[x, x, x, x % 2, x, 0, 1, x]))
            .collect();
        let qs: Vec<Record> = vec![
            db[1].clone(),
            db[4].clone(),
            record_from_choices(&s, &[3; 8]),
            db[0].clone(),
        ];
        let want = match_records(&s.config, &qs, &db).expect("reference");
        assert!(want.matches >= 2, "the case has matches");
        let (a, b) = memory_pair();
        let (cfg_c, cfg_s) = (s.config.clone(), s.config.clone());
        let (q2, d2) = (qs.clone(), db.clone());
        let o = opts(5);
        let o2 = o.clone();
        let client = tokio::spawn(async move { run_client_matching(a, &cfg_c, &q2, &o).await });
        let server = tokio::spawn(async move { run_server_matching(b, &cfg_s, &d2, &o2).await });
        let got: MatchCounts = client.await.expect("task").expect("client");
        server.await.expect("task").expect("server");
        assert_eq!(got, want);
    });
}

#[test]
fn handshake_rejects_mismatches() {
    let rt = runtime();
    rt.block_on(async {
        let config = default_config();
        let q = vec![empty_record(&config)];
        // Different thresholds: different quantised configuration.
        let other = LinkageConfig::new(
            config.fields().to_vec(),
            &[vec![
                "firstname".into(),
                "lastname".into(),
                "birthname".into(),
            ]],
            0.95,
            0.7,
        )
        .expect("valid");
        let (c, s) = link_2pc(
            &config,
            &other,
            &q,
            &q,
            Options::default(),
            Options::default(),
        )
        .await;
        assert!(
            matches!(c, Err(ProtocolError::Mismatch(HandshakeError::Config))),
            "{c:?}"
        );
        assert!(
            matches!(s, Err(ProtocolError::Mismatch(HandshakeError::Config))),
            "{s:?}"
        );
        // Only the similarity precision differs: the fingerprints differ too.
        let finer = with_bits(&config, 16);
        let (c, s) = link_2pc(
            &config,
            &finer,
            &q,
            &q,
            Options::default(),
            Options::default(),
        )
        .await;
        assert!(
            matches!(c, Err(ProtocolError::Mismatch(HandshakeError::Config))),
            "{c:?}"
        );
        assert!(
            matches!(s, Err(ProtocolError::Mismatch(HandshakeError::Config))),
            "{s:?}"
        );
        // The client expects 5 database records, the server has 1.
        let expect5 = Options {
            expected_peer_records: Some(5),
            ..Options::default()
        };
        let (c, _) = link_2pc(&config, &config, &q, &q, expect5, Options::default()).await;
        assert!(
            matches!(
                c,
                Err(ProtocolError::Mismatch(HandshakeError::Count {
                    expected: 5,
                    got: 1
                }))
            ),
            "{c:?}"
        );
        // Different chunk sizes.
        let (c, _) = link_2pc(&config, &config, &q, &q, opts(8), opts(16)).await;
        assert!(
            matches!(c, Err(ProtocolError::Mismatch(HandshakeError::Options(_)))),
            "{c:?}"
        );
        // A record with a wrong bit length is rejected before anything is sent.
        let mut bad = empty_record(&config);
        bad[3] = Some(bits_from_u64(7, 1));
        let (c, _) = link_2pc(
            &config,
            &config,
            &[bad],
            &q,
            Options::default(),
            Options::default(),
        )
        .await;
        assert!(matches!(c, Err(ProtocolError::Record(_))), "{c:?}");
    });
}

#[test]
fn garbage_closed_peers_and_bad_options_are_errors() {
    use mpc_core::channel::{Bytes, Channel};
    let rt = runtime();
    rt.block_on(async {
        let config = default_config();
        let q = vec![empty_record(&config)];
        // A peer that answers the handshake with garbage (a data message
        // of the job channel: kind byte 0).
        let (a, mut b) = memory_pair();
        let peer = tokio::spawn(async move {
            let _ = b.recv().await;
            b.send(Bytes::from_static(b"\0not an epilink handshake"))
                .await
                .expect("send");
            b
        });
        let got = run_client(a, &config, &q, &Options::default()).await;
        assert!(
            matches!(
                got,
                Err(ProtocolError::Mismatch(HandshakeError::Malformed(_)))
            ),
            "{got:?}"
        );
        drop(peer.await.expect("peer"));
        // A peer whose message is not even a job message (no kind byte).
        let (a, mut b) = memory_pair();
        let peer = tokio::spawn(async move {
            let _ = b.recv().await;
            b.send(Bytes::from_static(b"garbage")).await.expect("send");
            b
        });
        let got = run_client(a, &config, &q, &Options::default()).await;
        assert!(matches!(got, Err(ProtocolError::PeerGarbage(_))), "{got:?}");
        drop(peer.await.expect("peer"));
        // A peer that hangs up at once.
        let (a, b) = memory_pair();
        drop(b);
        let got = run_server(a, &config, &q, &Options::default()).await;
        assert!(matches!(got, Err(ProtocolError::ChannelClosed)), "{got:?}");
        // A chunk size of zero is refused before anything is sent.
        let (a, _b) = memory_pair();
        let got = run_client(a, &config, &q, &opts(0)).await;
        assert!(
            matches!(got, Err(ProtocolError::InvalidOptions(_))),
            "{got:?}"
        );
    });
}

#[test]
fn progress_is_reported_and_cancellation_stops_both() {
    let rt = runtime();
    rt.block_on(async {
        let config = default_config();
        let s = Scenario {
            pools: pools_for(&config, 9),
            config,
        };
        let db: Vec<Record> = (0u8..8).map(|x| record_from_choices(&s, &[x; 8])).collect();
        let q = vec![db[3].clone()];
        // Progress: called per chunk (4 chunks of 2), ending at 1.0.
        let calls = Arc::new(AtomicUsize::new(0));
        let last = Arc::new(std::sync::Mutex::new(0.0f64));
        let (c2, l2) = (calls.clone(), last.clone());
        let progress: mpc_core::epilink::ProgressFn = Arc::new(move |f| {
            c2.fetch_add(1, Ordering::SeqCst);
            *l2.lock().expect("lock") = f;
        });
        let with_progress = Options {
            progress: Some(progress),
            ..opts(2)
        };
        let (c, s2) = link_2pc(&s.config, &s.config, &q, &db, with_progress, opts(2)).await;
        let want = link_records(&s.config, &q, &db).expect("reference");
        assert_eq!(combine(&c.expect("client"), &s2.expect("server")), want);
        assert!(calls.load(Ordering::SeqCst) >= 4);
        assert_eq!(*last.lock().expect("lock"), 1.0);
        // Cancellation set before the run: the canceller gets Cancelled, the
        // peer PeerCancelled, at the first chunk boundary.
        let flag = Arc::new(AtomicBool::new(true));
        let cancelling = Options {
            cancel: Some(flag),
            ..opts(2)
        };
        let (c, s2) = link_2pc(&s.config, &s.config, &q, &db, opts(2), cancelling).await;
        assert!(matches!(c, Err(ProtocolError::PeerCancelled)), "{c:?}");
        assert!(matches!(s2, Err(ProtocolError::Cancelled)), "{s2:?}");
    });
}
