//! The fixed-operand paths of the two-party run against the reference, bit
//! for bit: binary equality by 4-bit table lookups (values that differ in
//! exactly one bit of every block position, widths 1 to 20, empty values
//! on either side) and fixed-choice ANDs with one or several queries per
//! chunk (one OT class per query), in linkage and matching mode.

mod epilink_support;

use epilink_support::*;
use mpc_core::channel::memory_pair;
use mpc_core::epilink::{
    Options, run_client, run_client_matching, run_server, run_server_matching,
};
use protocol_spec::config::{Comparator, FieldType, LinkageConfig, Record};
use protocol_spec::epilink::{link_records, match_records};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn opts(lanes: usize) -> Options {
    Options {
        lanes_per_chunk: lanes,
        ..Options::default()
    }
}

async fn check(config: &LinkageConfig, queries: &[Record], database: &[Record], lanes: usize) {
    let want = link_records(config, queries, database).expect("reference");
    let (a, b) = memory_pair();
    let (cc, sc) = (config.clone(), config.clone());
    let (q, d) = (queries.to_vec(), database.to_vec());
    let (oc, os) = (opts(lanes), opts(lanes));
    let client = tokio::spawn(async move { run_client(a, &cc, &q, &oc).await });
    let server = tokio::spawn(async move { run_server(b, &sc, &d, &os).await });
    let c = client.await.expect("task").expect("client");
    let s = server.await.expect("task").expect("server");
    let got: Vec<_> = c.iter().zip(&s).map(|(x, y)| x.combine(y)).collect();
    assert_eq!(got, want, "lanes {lanes}");
    let want = match_records(config, queries, database).expect("reference");
    let (a, b) = memory_pair();
    let (cc, sc) = (config.clone(), config.clone());
    let (q, d) = (queries.to_vec(), database.to_vec());
    let (oc, os) = (opts(lanes), opts(lanes));
    let client = tokio::spawn(async move { run_client_matching(a, &cc, &q, &oc).await });
    let server = tokio::spawn(async move { run_server_matching(b, &sc, &d, &os).await });
    let got = client.await.expect("task").expect("client");
    server.await.expect("task").expect("server");
    assert_eq!(got, want, "matching, lanes {lanes}");
}

/// One binary field of every width class (one block, several blocks,
/// uneven blocks): the query value against itself, against values that
/// differ in one bit (each bit position), against the all-ones and zero
/// values, and against empty fields; several queries per chunk.
#[test]
fn binary_equality_by_lookup_matches_the_reference() {
    let rt = runtime();
    rt.block_on(async {
        for width in [1u32, 3, 4, 5, 8, 12, 17, 20] {
            let fields = vec![
                field(
                    "v",
                    0.05,
                    0.0,
                    Comparator::Binary,
                    FieldType::Integer,
                    width,
                ),
                field("w", 0.2, 0.0, Comparator::Binary, FieldType::Integer, 2),
            ];
            let config = LinkageConfig::new(fields, &[], 0.9, 0.5).expect("valid");
            let mask = (1u64 << width) - 1;
            let q = 0x5_a5a5 & mask;
            let v = |x: u64| Some(bits_from_u64(width, x));
            let w = |x: u64| Some(bits_from_u64(2, x));
            let mut db: Vec<Record> = vec![vec![v(q), w(1)], vec![None, w(1)], vec![v(q), None]];
            for bit in 0..width {
                db.push(vec![v(q ^ 1 << bit), w(1)]);
            }
            db.push(vec![v(mask), w(1)]);
            db.push(vec![v(0), w(2)]);
            db.push(vec![v(q), w(1)]);
            let queries = vec![
                vec![v(q), w(1)],
                vec![None, w(1)],
                vec![v(q ^ 1), None],
                vec![None, None],
                vec![v(mask), w(1)],
            ];
            // One query per chunk, several queries per chunk, tiny chunks.
            for lanes in [db.len(), 4 * db.len(), 3] {
                check(&config, &queries, &db, lanes).await;
            }
        }
    });
}

/// The default configuration with many records and several queries per
/// chunk: the query's presence bits, weights and values are fixed operands
/// with one class per query; a chunk holding all queries and one holding a
/// few lanes of one query both agree with the reference.
#[test]
fn default_configuration_many_records_several_queries_per_chunk() {
    let rt = runtime();
    rt.block_on(async {
        let config = default_config();
        let s = Scenario {
            pools: pools_for(&config, 12),
            config,
        };
        let db: Vec<Record> = (0u32..120)
            .map(|x| {
                let c = |k: u32| ((x * (k + 3) + x / 7) % 4) as u8;
                let mut r = record_from_choices(&s, &(0..8).map(c).collect::<Vec<_>>());
                if x % 11 == 0 {
                    r[(x % 8) as usize] = None;
                }
                r
            })
            .collect();
        let mut queries: Vec<Record> = vec![db[5].clone(), db[77].clone(), empty_record(&s.config)];
        let mut partial = db[40].clone();
        partial[3] = None;
        partial[0] = None;
        queries.push(partial);
        for lanes in [4 * db.len(), 2 * db.len(), 50] {
            check(&s.config, &queries, &db, lanes).await;
        }
    });
}
