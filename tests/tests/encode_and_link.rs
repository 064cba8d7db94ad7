//! End to end through the real binaries: two sites encode their patients
//! with `sel-node encode`, the two parties of `epilink-bench` link them over
//! loopback TCP, and the combined result equals the plaintext reference run
//! on the same encoded records.

use std::path::{Path, PathBuf};
use std::process::Command;

use protocol_spec::config::{LinkageConfig, Record};
use protocol_spec::epilink::link_records;
use protocol_spec::messages::mainsel::{AlgorithmConfig, WireRecord};
use protocol_spec::value::record_from_wire;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ lives in the workspace")
        .to_path_buf()
}

/// A workspace binary of the profile this test was built with; built on
/// demand when `cargo test -p e2e-tests` ran alone.
fn binary(name: &str, package: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps/<test>");
    let path = profile_dir.join(name);
    if !path.exists() {
        let mut build = Command::new(env!("CARGO"));
        build
            .current_dir(workspace_root())
            .args(["build", "--quiet", "-p", package, "--bin", name]);
        if profile_dir.file_name().is_some_and(|p| p == "release") {
            build.arg("--release");
        }
        assert!(
            build.status().expect("cargo build").success(),
            "building {name}"
        );
    }
    path
}

fn encode(config: &Path, csv: &Path, out: &Path) {
    let output = Command::new(binary("sel-node", "sel-node"))
        .args(["encode", "--config"])
        .arg(config)
        .arg("--input")
        .arg(csv)
        .output()
        .expect("run sel-node encode");
    assert!(
        output.status.success(),
        "encode failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    std::fs::write(out, &output.stdout).expect("write records");
}

fn load_records(config: &LinkageConfig, path: &Path) -> Vec<Record> {
    std::fs::read_to_string(path)
        .expect("records file")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let wire: WireRecord = serde_json::from_str(line).expect("record line");
            record_from_wire(config, &wire.fields).expect("record fits the config")
        })
        .collect()
}

#[test]
fn two_sites_encode_link_and_agree_with_the_reference() {
    let root = workspace_root();
    let config_path = root.join("examples/mainzelliste-config.json");
    let sample = std::fs::read_to_string(root.join("examples/sample-patients.csv")).unwrap();
    let mut lines = sample.lines();
    let header = lines.next().unwrap();
    let patients: Vec<&str> = lines.filter(|l| !l.trim().is_empty()).collect();

    let dir = std::env::temp_dir().join(format!("sel-e2e-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // Site B (server) holds every sample patient; site A (client) every third
    // one, plus two patients B has never seen.
    let server_csv = dir.join("site-b.csv");
    std::fs::write(&server_csv, format!("{header}\n{}\n", patients.join("\n"))).unwrap();
    let mut client_rows: Vec<&str> = patients.iter().step_by(3).copied().collect();
    client_rows.push("Zacharias,Quellmalz,,2,2,1902,99998,Zwickau");
    client_rows.push("Olivia,Thornbury,Ashcombe,30,11,2001,10115,Berlin");
    let client_csv = dir.join("site-a.csv");
    std::fs::write(
        &client_csv,
        format!("{header}\n{}\n", client_rows.join("\n")),
    )
    .unwrap();

    let (client_jsonl, server_jsonl) = (dir.join("a.jsonl"), dir.join("b.jsonl"));
    encode(&config_path, &client_csv, &client_jsonl);
    encode(&config_path, &server_csv, &server_jsonl);

    let out = dir.join("result.jsonl");
    let run = Command::new(binary("epilink-bench", "mpc-core"))
        .arg("--config")
        .arg(&config_path)
        .arg("--client")
        .arg(&client_jsonl)
        .arg("--server")
        .arg(&server_jsonl)
        .arg("--out")
        .arg(&out)
        .output()
        .expect("run epilink-bench");
    assert!(
        run.status.success(),
        "epilink-bench failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let summary: serde_json::Value =
        serde_json::from_slice(run.stdout.split(|&b| b == b'\n').next().unwrap()).unwrap();
    assert_eq!(summary["db"], patients.len());
    assert_eq!(summary["queries"], client_rows.len());

    let algorithm: AlgorithmConfig =
        serde_json::from_str(&std::fs::read_to_string(&config_path).unwrap()).unwrap();
    let config = LinkageConfig::from_wire(&algorithm).unwrap();
    let queries = load_records(&config, &client_jsonl);
    let database = load_records(&config, &server_jsonl);
    let want = link_records(&config, &queries, &database).unwrap();

    let got: Vec<serde_json::Value> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g["query"], i);
        assert_eq!(g["match"], w.is_match, "query {i}");
        assert_eq!(g["tentative"], w.tentative, "query {i}");
        assert_eq!(g["best_index"], w.best_index, "query {i}");
    }
    // The copied patients are found, the two strangers are not.
    let matched = want.iter().filter(|r| r.is_match).count();
    assert!(matched >= client_rows.len() - 2, "{matched} matches");
    assert!(!want[want.len() - 1].is_match && !want[want.len() - 2].is_match);
    std::fs::remove_dir_all(&dir).ok();
}
