//! `sel-node deid` run as a real process: detect and redact over JSON
//! Lines, malformed lines reported by number without their text, policies
//! with a salt from the environment, user categories, and eval --json.
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn scratch(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("deid_cli-{test}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn deid(args: &[&str], stdin: Option<&str>, env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sel-node"));
    cmd.arg("deid").args(args).env_remove("SEL_DEID_SALT");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("run sel-node");
    let mut pipe = child.stdin.take().unwrap();
    // A process that refuses its arguments exits before reading: a broken
    // pipe here is expected then, and the exit status is what is checked.
    let _ = pipe.write_all(stdin.unwrap_or("").as_bytes());
    drop(pipe);
    child.wait_with_output().unwrap()
}

fn lines(out: &Output) -> Vec<Value> {
    String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

const NOTE: &str = "Patient: Zoë Quillfeather, SSN 412-55-7891, seen 04/02/2026.";

#[test]
fn detect_reports_char_offsets_and_bad_lines_by_number() {
    let dir = scratch("detect");
    let input = dir.join("in.jsonl");
    let good = serde_json::json!({"id": "a1", "text": NOTE}).to_string();
    let secret_line = "{\"id\": \"b\", \"text\": \"Jane Roe 412-55-7891\""; // truncated JSON
    let missing = r#"{"id": 7, "txt": "Jane Roe"}"#;
    std::fs::write(
        &input,
        format!(
            "{good}\n{secret_line}\n\n{missing}\n{{\"id\": 8, \"text\": \"call 617-555-0134\"}}\n"
        ),
    )
    .unwrap();
    let out = deid(&["detect", "--input", input.to_str().unwrap()], None, &[]);
    assert_eq!(out.status.code(), Some(1), "malformed lines give exit 1");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("line 2: not valid JSON"), "{stderr}");
    assert!(stderr.contains("line 4: missing field `text`"), "{stderr}");
    assert!(
        !stderr.contains("Roe") && !stderr.contains("412-55"),
        "stderr must not echo input: {stderr}"
    );

    let rows = lines(&out);
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["id"], "a1");
    assert_eq!(rows[1]["id"], 8);
    let spans = rows[0]["spans"].as_array().unwrap();
    let chars: Vec<char> = NOTE.chars().collect();
    let got: Vec<(String, String)> = spans
        .iter()
        .map(|s| {
            let (a, b) = (
                s["start"].as_u64().unwrap() as usize,
                s["end"].as_u64().unwrap() as usize,
            );
            (
                s["label"].as_str().unwrap().to_string(),
                chars[a..b].iter().collect(),
            )
        })
        .collect();
    assert!(
        got.contains(&("PERSON".into(), "Zoë Quillfeather".into())),
        "{got:?}"
    );
    assert!(
        got.contains(&("SSN".into(), "412-55-7891".into())),
        "{got:?}"
    );
    assert!(
        got.contains(&("DATE".into(), "04/02/2026".into())),
        "{got:?}"
    );
    for s in spans {
        assert!(s["confidence"].as_f64().unwrap() > 0.0);
        assert!(!s["recognizer"].as_str().unwrap().is_empty());
    }
}

#[test]
fn redact_applies_policies_and_requires_a_salt_for_hash() {
    let input = format!("{}\n", serde_json::json!({"id": 1, "text": NOTE}));
    let salt = "a-salt-of-sixteen-bytes";
    let out = deid(
        &["redact", "--policy", "SSN=hash", "--policy", "DATE=mask"],
        Some(&input),
        &[("SEL_DEID_SALT", salt)],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows = lines(&out);
    let hex: String = Sha256::new()
        .chain_update(salt.as_bytes())
        .chain_update(b"412-55-7891")
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(
        rows[0]["text"],
        format!("Patient: [REDACTED:PERSON], SSN SSN_HASH:{hex}, seen **********.")
    );

    let no_salt = deid(&["redact", "--policy", "SSN=hash"], Some(&input), &[]);
    assert_eq!(no_salt.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&no_salt.stderr).contains("salt"));
    assert!(no_salt.stdout.is_empty());

    let bad = deid(&["redact", "--policy", "SSN=shred"], Some(&input), &[]);
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn user_categories_extend_detection() {
    let dir = scratch("categories");
    let cats = dir.join("cats.json");
    std::fs::write(
        &cats,
        r#"[{"name": "study_id", "regex": "STU-[0-9]{6}", "context": ["study"]}]"#,
    )
    .unwrap();
    let input = format!(
        "{}\n",
        serde_json::json!({"id": "x", "text": "Enrolled in study as STU-004211."})
    );
    let out = deid(
        &["redact", "--categories", cats.to_str().unwrap()],
        Some(&input),
        &[],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        lines(&out)[0]["text"],
        "Enrolled in study as [REDACTED:STUDY_ID]."
    );

    std::fs::write(&cats, r#"[{"name": "Bad-Name", "regex": "x"}]"#).unwrap();
    let out = deid(
        &["detect", "--categories", cats.to_str().unwrap()],
        Some(&input),
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn eval_json_reports_every_label() {
    let out = deid(
        &["eval", "--generate", "30", "--seed", "5", "--json"],
        None,
        &[],
    );
    assert_eq!(out.status.code(), Some(0));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["documents"], 30);
    let labels: Vec<&str> = v["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["label"].as_str().unwrap())
        .collect();
    for l in [
        "PERSON",
        "SSN",
        "NPI",
        "IBAN",
        "MBI",
        "POSTAL_CODE_CA",
        "VIN",
        "ALL",
    ] {
        assert!(labels.contains(&l), "{l} missing from {labels:?}");
    }
    let all = v["labels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["label"] == "ALL")
        .unwrap();
    assert!(all["recall"].as_f64().unwrap() > 0.9);
}
