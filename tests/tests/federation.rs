//! The whole federation on loopback, with real processes and verified TLS:
//! a local CA (`sel-node ca`), the linkage service with both sites
//! registered, two registries holding synthetic patients
//! (`scripts/synth_patients.py`), and two nodes (`sel-node serve`).
//!
//! Over HTTPS the test configures both nodes (initLocal, initRemote both
//! ways, test, testLS), triggers linkMN and matchMN from registry A, waits
//! for the jobs, and checks the outcome against the plaintext reference
//! (`protocol_spec::epilink::link_records`) run on the very records the
//! registries serve:
//!
//! * every patient of A received a LID;
//! * the match and tentative counts of matchMN are the reference's;
//! * for every patient of A the reference matches with B's record `b`, A's
//!   LID opens (under A's LID key) to the same 128 bits as the LID node B
//!   holds for `b` (read from node B's sealed store under its node key, and
//!   opened under B's LID key). That is the observable of "the same patient
//!   gets the same LID at both sites": B's registry never learns B's LIDs
//!   (node B obtains them from `freshIDs` for its database and posts them to
//!   the linkage service as the 2PC server), so the comparison is made where
//!   they live;
//! * every other patient of A got a LID that no record of B has, and no two
//!   of them share one.
//!
//! Then node A is killed and restarted: its configuration, remotes and jobs
//! are still there. Last, no process's log holds a key, a sealed LID or an
//! encoded field value.
//!
//! Every process is stopped when the test ends, also when it fails; a
//! failing run prints the tail of each process's log and keeps its scratch
//! directory.
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::process::Command;

use e2e_tests::federation::{
    Federation, FederationOptions, SITE_A, SITE_B, Site, Which, auth, expect, run,
};
use e2e_tests::{node_lids, read_simple_csv};
use linkage_service::lid::{Lid, open_lid};
use protocol_spec::config::{LinkageConfig, Record};
use protocol_spec::epilink::link_records;
use protocol_spec::value::record_from_wire;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

/// Patients per site and how many are at both (small: the test runs in CI
/// in a debug build).
const PATIENTS_A: usize = 30;
const PATIENTS_B: usize = 40;
const OVERLAP: usize = 10;
const SEED: u64 = 11;

/// The records a registry serves (one page), as the nodes see them.
async fn served_records(http: &Client, site: &Site, requester: &str) -> Vec<(String, Value)> {
    let url = site.registry(&format!("/getAllRecords/{requester}?pagesize=10000&page=1"));
    let body = expect(
        "getAllRecords",
        http.get(&url).header("Authorization", site.registry_auth()),
        StatusCode::OK,
    )
    .await;
    let page: Value = serde_json::from_str(&body).expect("page is JSON");
    page["records"]
        .as_array()
        .expect("page has records")
        .iter()
        .map(|r| {
            let id = r["id"].as_str().expect("record id").to_owned();
            (id, r["fields"].clone())
        })
        .collect()
}

fn to_records(config: &LinkageConfig, served: &[(String, Value)]) -> Vec<Record> {
    served
        .iter()
        .map(|(id, fields)| {
            let fields = serde_json::from_value(fields.clone()).expect("fields map");
            record_from_wire(config, &fields)
                .unwrap_or_else(|e| panic!("record {id} does not fit the configuration: {e}"))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_sites_link_and_match_over_tls_and_agree_with_the_reference() {
    let mut fed = Federation::start(FederationOptions {
        label: "federation",
        patients_a: PATIENTS_A,
        patients_b: PATIENTS_B,
        overlap: OVERLAP,
        seed: SEED,
        ..FederationOptions::default()
    })
    .await;
    let http = fed.http.clone();
    let (a, b) = (fed.a.clone(), fed.b.clone());
    let ls_url = fed.ls_url.clone();
    let data = fed.data_dir.clone();
    let sel = fed.sel.clone();

    // The plaintext reference on the records the registries serve: A's
    // patients as queries, B's as the database, in the order node B fetches.
    let config = LinkageConfig::from_wire(&fed.algorithm).expect("example configuration");
    let served_a = served_records(&http, &a, SITE_B).await;
    let served_b = served_records(&http, &b, SITE_A).await;
    assert_eq!(
        served_a.len(),
        PATIENTS_A,
        "registry A serves every patient"
    );
    assert_eq!(
        served_b.len(),
        PATIENTS_B,
        "registry B serves every patient"
    );
    let want = link_records(
        &config,
        &to_records(&config, &served_a),
        &to_records(&config, &served_b),
    )
    .expect("reference linkage");
    let reference_matches: BTreeMap<&str, &str> = served_a
        .iter()
        .zip(&want)
        .filter(|(_, r)| r.is_match)
        .map(|((id_a, _), r)| (id_a.as_str(), served_b[r.best_index].0.as_str()))
        .collect();
    let want_tentative = want.iter().filter(|r| r.tentative || r.is_match).count();

    eprintln!(
        "reference: {} matches, {want_tentative} tentative (matches included), {OVERLAP} true pairs",
        reference_matches.len()
    );
    // The data is what the test claims: the reference links only true pairs,
    // and most of them (the rest carry too much noise).
    let (_, truth_rows) = read_simple_csv(&data.join("truth.csv"));
    let truth: HashMap<String, String> = truth_rows
        .into_iter()
        .map(|r| (r[0].clone(), r[1].clone()))
        .collect();
    assert_eq!(truth.len(), OVERLAP);
    for (id_a, id_b) in &reference_matches {
        assert_eq!(
            truth.get(*id_a).map(String::as_str),
            Some(*id_b),
            "the reference links {id_a} with {id_b}, which the truth file does not pair"
        );
    }
    assert!(
        reference_matches.len() * 2 >= OVERLAP,
        "the reference finds only {} of {OVERLAP} true pairs",
        reference_matches.len()
    );

    fed.configure().await;

    // linkMN and matchMN from registry A.
    let mut job_paths = Vec::new();
    for mode in ["linkMN", "matchMN"] {
        let reply = fed.trigger(Which::A, mode).await;
        assert_eq!(reply["records"], PATIENTS_A, "{mode} sends every patient");
        job_paths.push(reply["job"].as_str().expect("job path").to_owned());
    }
    let linked = fed.wait_for_batch(Which::A, "linkMN").await;
    assert_eq!(linked["lidsReceived"], PATIENTS_A, "{linked}");
    let matched = fed.wait_for_batch(Which::A, "matchMN").await;
    assert_eq!(
        matched["result"]["matches"],
        reference_matches.len(),
        "matchMN count vs the reference: {matched}"
    );
    assert_eq!(
        matched["result"]["tentativeMatches"], want_tentative,
        "matchMN tentative count vs the reference: {matched}"
    );

    // A's LIDs, as the registry exports them.
    let export = run(
        "registry export",
        Command::new(&sel)
            .args(["registry", "export", "--data-dir"])
            .arg(&a.registry_dir)
            .args(["--remote", SITE_B]),
    );
    let lids_a: HashMap<String, Lid> = export
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (id, sealed) = l.split_once(',').expect("patient_id,lid");
            let lid = open_lid(&a.lid_key, SITE_A, sealed)
                .unwrap_or_else(|e| panic!("A's LID of {id} does not open under A's key: {e}"));
            (id.to_owned(), lid)
        })
        .collect();
    for (id, _) in &served_a {
        assert!(lids_a.contains_key(id), "patient {id} of A has no LID");
    }

    // Restart node A: configuration, remotes and jobs survive.
    fed.kill_node(Which::A);
    fed.start_node(Which::A).await;
    expect(
        "initLocal without the key after the restart (configuration kept)",
        http.put(a.api("/initLocal")).json(&json!({})),
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let text = expect(
        "test after the restart (remote kept)",
        http.get(a.api(&format!("/test/{SITE_B}")))
            .header("Authorization", auth(&a.local_key)),
        StatusCode::OK,
    )
    .await;
    assert_eq!(text, "Remotes Connected");
    let list = expect(
        "jobs/list after the restart",
        http.get(a.api("/jobs/list"))
            .header("Authorization", auth(&a.local_key)),
        StatusCode::OK,
    )
    .await;
    let list: Value = serde_json::from_str(&list).expect("jobs/list is JSON");
    for path in &job_paths {
        let id = path.rsplit('/').next().expect("job id");
        assert_eq!(list[id], "DONE", "job {id} after the restart: {list}");
        let status = expect(
            "job status after the restart",
            http.get(a.api(&format!("/jobs/{id}")))
                .header("Authorization", auth(&a.local_key)),
            StatusCode::OK,
        )
        .await;
        assert_eq!(status, "DONE");
    }

    // B's LIDs live in node B's store, sealed under its node key: stop node
    // B and read them with the node's own store code.
    fed.kill_node(Which::B);
    let ids_b: Vec<String> = served_b.iter().map(|(id, _)| id.clone()).collect();
    let lids_b = node_lids::read(
        &b.node_dir,
        &b.node_key_file,
        &ls_url,
        SITE_B,
        &b.lid_key,
        &ids_b,
    )
    .unwrap_or_else(|e| panic!("node B's LIDs: {e}"));
    let b_lid_set: HashSet<[u8; 16]> = lids_b.values().map(|l| *l.as_bytes()).collect();
    assert_eq!(
        b_lid_set.len(),
        PATIENTS_B,
        "B's records have distinct LIDs"
    );

    for (id_a, lid) in &lids_a {
        match reference_matches.get(id_a.as_str()) {
            Some(id_b) => assert!(
                *lid == lids_b[*id_b],
                "{id_a} matches {id_b}, but their LIDs differ"
            ),
            None => assert!(
                !b_lid_set.contains(lid.as_bytes()),
                "{id_a} has no match but got a LID of B"
            ),
        }
    }
    let unmatched: Vec<[u8; 16]> = lids_a
        .iter()
        .filter(|(id, _)| !reference_matches.contains_key(id.as_str()))
        .map(|(_, l)| *l.as_bytes())
        .collect();
    let distinct: HashSet<_> = unmatched.iter().collect();
    assert_eq!(distinct.len(), unmatched.len(), "fresh LIDs are distinct");

    // No process logged a key, a sealed LID or an encoded field value.
    let mut secrets: Vec<(String, String)> = vec![
        ("A's local key".into(), a.local_key.clone()),
        ("B's local key".into(), b.local_key.clone()),
        ("A's registry key".into(), a.registry_key.clone()),
        ("B's registry key".into(), b.registry_key.clone()),
        ("the pair key".into(), fed.pair_key.clone()),
        ("A's linkage-service key".into(), a.ls_api_key.clone()),
        ("B's linkage-service key".into(), b.ls_api_key.clone()),
    ];
    for line in export.lines().skip(1) {
        if let Some((id, sealed)) = line.split_once(',') {
            secrets.push((format!("the LID of {id}"), sealed.to_owned()));
        }
    }
    for (id, fields) in served_a.iter().chain(&served_b) {
        for field in ["vorname", "nachname", "ort"] {
            if let Some(value) = fields[field].as_str().filter(|v| v.len() > 16) {
                secrets.push((format!("{field} of {id}"), value.to_owned()));
            }
        }
    }
    let mut logs: Vec<PathBuf> = std::fs::read_dir(fed.dir())
        .expect("scratch dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    logs.sort();
    assert!(logs.len() >= 5, "every process has a log");
    for log in &logs {
        let text = std::fs::read_to_string(log).expect("read log");
        for (what, secret) in &secrets {
            assert!(
                !text.contains(secret.as_str()),
                "{} contains {what}",
                log.display()
            );
        }
    }

    drop(fed);
}
