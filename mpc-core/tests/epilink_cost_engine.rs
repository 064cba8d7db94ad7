//! The cost engine's prediction equals what real runs send: for several
//! sizes, both modes and two carry structures, a real two-party job over
//! in-memory channels is measured (each party's job-channel counters) and
//! compared with `cost_engine::predict` — bytes and messages per
//! direction and rounds (flights) per party, exactly. The comparison is
//! against a run, never against constants, so any change of a message
//! format shows up here.

mod epilink_support;

use epilink_support::default_config;
use mpc_core::Party;
use mpc_core::channel::{ChannelStats, memory_pair};
use mpc_core::epilink::cost_engine::{RunShape, predict};
use mpc_core::epilink::synth::{Population, SynthOptions};
use mpc_core::epilink::{Carries, JobOptions, Mode, PeerOt, run_job};
use mpc_core::ot::ExtensionConfig;
use protocol_spec::config::LinkageConfig;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Runs one job for real on a synthetic population and returns the
/// (client, server) job-channel counters.
async fn measure(config: &LinkageConfig, shape: &RunShape) -> (ChannelStats, ChannelStats) {
    let pop = Population::generate(
        config,
        &SynthOptions {
            database: shape.records,
            queries: shape.queries,
            seed: 7,
            ..SynthOptions::default()
        },
    )
    .expect("population");
    let (a, b) = memory_pair();
    let (oa, ob) = tokio::join!(
        PeerOt::establish_with(a, Party::Client, b"cost-engine", shape.ot),
        PeerOt::establish_with(b, Party::Server, b"cost-engine", shape.ot),
    );
    let (oa, ob) = (oa.expect("client OT"), ob.expect("server OT"));
    let (ca, cb) = memory_pair();
    let opts = JobOptions {
        job_id: "cost-engine".into(),
        carries: shape.carries,
        lanes_per_chunk: shape.lanes_per_chunk,
        record_arity: shape.record_arity,
        ..JobOptions::default()
    };
    let (rc, rs) = tokio::join!(
        run_job(
            ca,
            &oa,
            Party::Client,
            shape.mode,
            config,
            &pop.queries,
            &opts
        ),
        run_job(
            cb,
            &ob,
            Party::Server,
            shape.mode,
            config,
            &pop.database,
            &opts
        ),
    );
    let (rc, rs) = (rc.expect("client job"), rs.expect("server job"));
    assert_eq!(rc.stats.bytes_sent, rs.stats.bytes_received);
    assert_eq!(rs.stats.bytes_sent, rc.stats.bytes_received);
    (rc.stats, rs.stats)
}

fn shapes() -> Vec<RunShape> {
    let mut out = Vec::new();
    for (queries, records, lanes) in [(1, 1, 16), (1, 7, 16), (3, 7, 4), (2, 300, 128)] {
        for mode in [Mode::Linkage, Mode::Matching] {
            for carries in [Carries::MIN_GATES, Carries::BALANCED] {
                for record_arity in [2, 8] {
                    if record_arity == 8 && (records < 7 || carries == Carries::MIN_GATES) {
                        continue;
                    }
                    out.push(RunShape {
                        mode,
                        queries,
                        records,
                        carries,
                        lanes_per_chunk: lanes,
                        ot: ExtensionConfig::SOFTSPOKEN4,
                        record_arity,
                    });
                }
            }
        }
    }
    out
}

#[test]
fn prediction_equals_measured_bytes_messages_and_rounds() {
    let config = default_config();
    let rt = runtime();
    for shape in shapes() {
        let predicted = predict(&config, &shape).expect("prediction");
        let (client, server) = rt.block_on(measure(&config, &shape));
        assert_eq!(predicted.client, client, "client, {shape:?}");
        assert_eq!(predicted.server, server, "server, {shape:?}");
        // The parts add up to the totals.
        let part_bytes: u64 = predicted.parts.iter().map(|p| p.bytes).sum();
        assert_eq!(part_bytes, predicted.total_bytes(), "{shape:?}");
        assert!(predicted.ots > 0, "{shape:?}");
    }
}

#[test]
fn prediction_follows_the_ot_extension() {
    // IKNP sends 127 bits per OT instead of 31: the prediction changes by
    // what the extension's own constants say, and still matches a run.
    let config = default_config();
    let shape = RunShape {
        mode: Mode::Linkage,
        queries: 1,
        records: 7,
        carries: Carries::BALANCED,
        lanes_per_chunk: 16,
        ot: ExtensionConfig::IKNP,
        record_arity: 2,
    };
    let soft = predict(
        &config,
        &RunShape {
            ot: ExtensionConfig::SOFTSPOKEN4,
            ..shape
        },
    )
    .expect("prediction");
    let iknp = predict(&config, &shape).expect("prediction");
    assert_eq!(soft.ots, iknp.ots);
    assert!(iknp.total_bytes() > soft.total_bytes());
    let rt = runtime();
    let (client, server) = rt.block_on(measure(&config, &shape));
    assert_eq!(iknp.client, client);
    assert_eq!(iknp.server, server);
}

#[test]
fn empty_sides_cost_only_the_handshake() {
    let config = default_config();
    for (queries, records) in [(0, 5), (4, 0)] {
        let shape = RunShape {
            mode: Mode::Linkage,
            queries,
            records,
            carries: Carries::BALANCED,
            lanes_per_chunk: 16,
            ot: ExtensionConfig::SOFTSPOKEN4,
            record_arity: 4,
        };
        let p = predict(&config, &shape).expect("prediction");
        assert_eq!(p.ots, 0);
        assert_eq!(p.client.messages_sent, 1);
        let rt = runtime();
        let (client, server) = rt.block_on(measure(&config, &shape));
        assert_eq!((p.client, p.server), (client, server));
    }
}
