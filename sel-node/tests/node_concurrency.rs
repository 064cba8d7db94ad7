//! Several jobs at once between two nodes: the asking node runs two at a
//! time, the answering node accepts only one at a time (the other is
//! refused as busy, waits in HOLD and retries). Every job must still end
//! DONE with the reference's counts.

mod node_support;

use std::collections::HashMap;

use mpc_core::epilink::synth::{Population, SynthOptions};
use protocol_spec::config::LinkageConfig;
use protocol_spec::messages::mainsel::{AlgorithmConfig, JobStatus};
use sel_node::node::start;
use sel_node::settings::Settings;
use serde_json::json;

use node_support::{
    Pki, Rest, TempDir, default_algorithm, init_local, init_remote, node_settings, start_callbacks,
    start_data_service, with_ids,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_jobs_complete_correctly_when_the_remote_is_at_capacity() {
    let root = TempDir::new("busy");
    let pki = Pki::new(root.path());
    let alg: AlgorithmConfig = serde_json::from_value(default_algorithm()).unwrap();
    let config = LinkageConfig::from_wire(&alg).unwrap();
    let pop = Population::generate(
        &config,
        &SynthOptions {
            database: 30,
            queries: 8,
            seed: 5,
            linked_fraction: 0.6,
            error_rate: 0.1,
        },
    )
    .unwrap();
    let data_b = start_data_service(with_ids(&config, &pop.database), 10).await;
    let mut callbacks = start_callbacks().await;
    let (dir_a, dir_b) = (root.path().join("a"), root.path().join("b"));
    std::fs::create_dir_all(&dir_a).unwrap();
    std::fs::create_dir_all(&dir_b).unwrap();
    let b = start(Settings {
        max_incoming_jobs: 1,
        ..node_settings(&dir_b, &pki)
    })
    .await
    .unwrap();
    let a = start(Settings {
        workers: 2,
        workers_per_remote: 2,
        ..node_settings(&dir_a, &pki)
    })
    .await
    .unwrap();
    let (rest_a, rest_b) = (
        Rest::new(&pki, &a, "key-of-A"),
        Rest::new(&pki, &b, "key-of-B"),
    );
    let none = "http://127.0.0.1:9/none";
    assert_eq!(
        rest_a
            .put("/initLocal", &init_local("A", "key-of-A", none))
            .await,
        204
    );
    assert_eq!(
        rest_b
            .put("/initLocal", &init_local("B", "key-of-B", &data_b.url))
            .await,
        204
    );
    assert_eq!(
        rest_a
            .put("/initRemote/B", &init_remote(&b, None, true))
            .await,
        204
    );
    assert_eq!(
        rest_b
            .put("/initRemote/A", &init_remote(&a, None, true))
            .await,
        204
    );

    // Four jobs over different slices of the queries, submitted together.
    let slices: Vec<&[protocol_spec::config::Record]> = pop.queries.chunks(2).collect();
    let mut jobs = HashMap::new();
    for (k, slice) in slices.iter().enumerate() {
        let records: Vec<_> = slice
            .iter()
            .map(|r| json!({"fields": protocol_spec::value::record_to_wire(&config, r).unwrap()}))
            .collect();
        let id = rest_a
            .submit(
                "/matchRecords/B",
                &json!({"callback": {"url": callbacks.url(&k.to_string())}, "records": records}),
            )
            .await;
        jobs.insert(k.to_string(), id);
    }
    for _ in 0..slices.len() {
        let got = callbacks.next().await;
        let k: usize = got.tag.parse().unwrap();
        let want =
            protocol_spec::epilink::match_records(&config, slices[k], &pop.database).unwrap();
        assert_eq!(
            got.body,
            json!({"result": {"matches": want.matches, "tentativeMatches": want.tentative}}),
            "job {k}"
        );
    }
    for id in jobs.values() {
        assert_eq!(a.manager().job(id).unwrap().status, JobStatus::Done);
    }
    a.shutdown().await;
    b.shutdown().await;
}
