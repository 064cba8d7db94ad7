//! The two-party EpiLink run with its OTs from Ferret silent OT
//! ([`OtBackend::Ferret`]): equal to the plaintext reference on the edge
//! families, a synthetic population large enough to run several Ferret
//! iterations, matching mode and the job API over a multiplexed
//! connection; a backend mismatch is refused in the handshake.

mod epilink_support;

use epilink_support::*;
use mpc_core::Party;
use mpc_core::channel::{Mux, memory_pair};
use mpc_core::epilink::synth::{Population, SynthOptions};
use mpc_core::epilink::{
    HandshakeError, JobOptions, JobOutput, Mode, Options, OtBackend, PeerOt, ProtocolError,
    run_client_matching, run_job, run_server_matching,
};
use protocol_spec::config::{LinkageConfig, Record};
use protocol_spec::epilink::{link_records, match_records};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn ferret(lanes: usize) -> Options {
    Options {
        lanes_per_chunk: lanes,
        ot_backend: OtBackend::Ferret,
        ..Options::default()
    }
}

async fn check(config: &LinkageConfig, queries: &[Record], database: &[Record], opts: Options) {
    let want = link_records(config, queries, database).expect("reference");
    let (c, s) = link_2pc(config, config, queries, database, opts.clone(), opts).await;
    let (c, s) = (c.expect("client"), s.expect("server"));
    assert_eq!(combine(&c, &s), want);
}

#[test]
fn edge_families_match_the_reference_with_ferret() {
    runtime().block_on(async {
        let config = default_config();
        let s = Scenario {
            pools: pools_for(&config, 77),
            config,
        };
        let full = record_from_choices(&s, &[0, 1, 2, 0, 1, 0, 1, 0]);
        let other = record_from_choices(&s, &[1, 0, 2, 1, 1, 0, 0, 1]);
        let empty = empty_record(&s.config);
        check(
            &s.config,
            std::slice::from_ref(&empty),
            &[full.clone(), other.clone()],
            ferret(64),
        )
        .await;
        let db = vec![
            other.clone(),
            full.clone(),
            other.clone(),
            full.clone(),
            full.clone(),
        ];
        check(
            &s.config,
            &[full.clone(), other.clone(), empty.clone()],
            &db,
            ferret(3),
        )
        .await;
    });
}

#[test]
fn synthetic_population_runs_several_ferret_iterations() {
    runtime().block_on(async {
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
        // 2,048 comparisons ≈ 12 M OTs: past the bootstrap iteration into
        // the main ones, in both directions.
        check(&config, &pop.queries, &pop.database, ferret(1000)).await;
    });
}

#[test]
fn matching_mode_with_ferret() {
    runtime().block_on(async {
        let config = default_config();
        let s = Scenario {
            pools: pools_for(&config, 8),
            config,
        };
        let db: Vec<Record> = (0u8..6)
            .map(|x| record_from_choices(&s, &[x, x, x, x % 2, x, 0, 1, x]))
            .collect();
        let qs = vec![
            db[1].clone(),
            db[4].clone(),
            record_from_choices(&s, &[3; 8]),
        ];
        let want = match_records(&s.config, &qs, &db).expect("reference");
        let (a, b) = memory_pair();
        let (cc, sc) = (s.config.clone(), s.config.clone());
        let (q2, d2) = (qs.clone(), db.clone());
        let client =
            tokio::spawn(async move { run_client_matching(a, &cc, &q2, &ferret(5)).await });
        let server =
            tokio::spawn(async move { run_server_matching(b, &sc, &d2, &ferret(5)).await });
        assert_eq!(client.await.expect("task").expect("client"), want);
        server.await.expect("task").expect("server");
    });
}

#[test]
fn a_backend_mismatch_is_refused_in_the_handshake() {
    runtime().block_on(async {
        let config = default_config();
        let q = vec![empty_record(&config)];
        let (c, s) = link_2pc(&config, &config, &q, &q, ferret(64), Options::default()).await;
        for r in [c, s] {
            assert!(
                matches!(
                    r,
                    Err(ProtocolError::Mismatch(HandshakeError::Options(what))) if what.contains("OT backend")
                ),
                "{r:?}"
            );
        }
    });
}

#[test]
fn jobs_over_a_shared_connection_with_ferret() {
    runtime().block_on(async {
        let config = default_config();
        let pop = Population::generate(
            &config,
            &SynthOptions {
                database: 40,
                queries: 3,
                seed: 9,
                ..SynthOptions::default()
            },
        )
        .expect("synthetic population");
        let (x, y) = tokio::io::duplex(1 << 16);
        let (dialer, acceptor) = (Mux::new(x), Mux::new(y));
        let (ot_a, ot_b) = tokio::join!(
            PeerOt::establish(dialer.open(0).expect("open"), Party::Client, b"conn"),
            PeerOt::establish(acceptor.open(0).expect("open"), Party::Server, b"conn"),
        );
        let (ot_a, ot_b) = (ot_a.expect("dialer OT"), ot_b.expect("acceptor OT"));
        let want = link_records(&config, &pop.queries, &pop.database).expect("reference");
        // Two jobs in turn, each with its own Ferret generators from the
        // connection's SoftSpokenOT seeds.
        for id in 1..=2u64 {
            let opts = JobOptions {
                job_id: format!("ferret-job-{id}"),
                ot_backend: OtBackend::Ferret,
                lanes_per_chunk: 50,
                ..JobOptions::default()
            };
            let (sa, sb) = (
                dialer.open(id).expect("open"),
                acceptor.open(id).expect("open"),
            );
            let (c, s) = tokio::join!(
                run_job(
                    sa,
                    &ot_a,
                    Party::Client,
                    Mode::Linkage,
                    &config,
                    &pop.queries,
                    &opts
                ),
                run_job(
                    sb,
                    &ot_b,
                    Party::Server,
                    Mode::Linkage,
                    &config,
                    &pop.database,
                    &opts
                ),
            );
            let (c, s) = (c.expect("client job"), s.expect("server job"));
            assert_eq!(c.job_tag, s.job_tag);
            match (c.output, s.output) {
                (JobOutput::Shares(c), JobOutput::Shares(s)) => {
                    assert_eq!(combine(&c, &s), want)
                }
                other => panic!("unexpected outputs {other:?}"),
            }
        }
    });
}
