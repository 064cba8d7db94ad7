//! `sel-node encode` run as a real process: test vectors, the sample file,
//! bad-row reporting and exit codes, the keyed variant, header errors and
//! date splitting.
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const JAVA: &str =
    "B1BUBEEEFEAAFVQQZEEBVRAAoAAAAIEQAAABAhAAAAgAABAgECAAgUAQAIACAABAABACAAEEEARMAARQERQ=";
const MUELLER: &str =
    "CgZqIwIgoACAlKgIiAAIAHIAmYgCKKHhAiAgIACBEMCADDYiYAoAGoAAggJGACABEIKJAogICgQCIAGS";

/// A fresh directory for one test's files.
fn scratch(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("encode_cli-{test}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(dir: &Path, name: &str, content: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path
}

fn repo_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel)
}

fn encode(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sel-node"));
    cmd.arg("encode");
    for a in args {
        cmd.arg(a);
    }
    cmd.output().expect("run sel-node")
}

fn records(out: &Output) -> Vec<Value> {
    String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn field<'a>(record: &'a Value, name: &str) -> &'a Value {
    &record["fields"][name]
}

/// A config with one 500-bit bitmask field per name (no exchange groups).
fn bitmask_config(dir: &Path, names: &[&str]) -> PathBuf {
    let fields: Vec<String> = names
        .iter()
        .map(|n| {
            format!(
                r#"{{"name": "{n}", "frequency": 0.001, "errorRate": 0.01,
                   "comparator": "dice", "fieldType": "bitmask", "bitlength": 500}}"#
            )
        })
        .collect();
    write(
        dir,
        "config.json",
        &format!(
            r#"{{"algoType": "epilink", "threshold_match": 0.9, "threshold_non_match": 0.7,
                "exchangeGroups": [], "fields": [{}]}}"#,
            fields.join(",")
        ),
    )
}

#[test]
fn java_and_mueller_vectors_through_the_cli() {
    let dir = scratch("vectors");
    let config = bitmask_config(&dir, &["name"]);
    let csv = write(&dir, "in.csv", "name\nJAVA\nMüller\n\" mueller-\"\n");
    let out = encode(&[&"--config", &config, &"--input", &csv]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let recs = records(&out);
    assert_eq!(recs.len(), 3);
    assert_eq!(recs[0], serde_json::json!({"fields": {"name": JAVA}}));
    assert_eq!(field(&recs[1], "name"), MUELLER);
    assert_eq!(field(&recs[2], "name"), MUELLER);
}

#[test]
fn init_local_body_is_accepted_as_config() {
    let dir = scratch("initlocal");
    let algorithm =
        std::fs::read_to_string(repo_file("examples/mainzelliste-config.json")).unwrap();
    let body = write(
        &dir,
        "init.json",
        &format!(
            r#"{{"localId": "A", "localAuthentication": {{"authType": "apiKey", "sharedKey": "k"}},
                "dataService": {{"url": "https://ml.example.org"}}, "algorithm": {algorithm}}}"#
        ),
    );
    let csv = repo_file("examples/sample-patients.csv");
    let via_body = encode(&[&"--config", &body, &"--input", &csv]);
    let via_block = encode(&[
        &"--config",
        &repo_file("examples/mainzelliste-config.json"),
        &"--input",
        &csv,
    ]);
    assert_eq!(via_body.status.code(), Some(0), "{}", stderr(&via_body));
    assert_eq!(via_body.stdout, via_block.stdout);
}

#[test]
fn sample_file_encodes_completely() {
    let out = encode(&[
        &"--config",
        &repo_file("examples/mainzelliste-config.json"),
        &"--input",
        &repo_file("examples/sample-patients.csv"),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let recs = records(&out);
    assert_eq!(recs.len(), 21);
    let order = [
        "vorname",
        "nachname",
        "geburtsname",
        "geburtstag",
        "geburtsmonat",
        "geburtsjahr",
        "plz",
        "ort",
    ];
    let text = String::from_utf8(out.stdout.clone()).unwrap();
    let first_line = text.lines().next().unwrap();
    let positions: Vec<usize> = order
        .iter()
        .map(|name| first_line.find(&format!("\"{name}\":")).expect(name))
        .collect();
    assert!(
        positions.is_sorted(),
        "fields out of configuration order: {first_line}"
    );
    for r in &recs {
        assert_eq!(r["fields"].as_object().unwrap().len(), 8);
        for name in ["vorname", "nachname", "geburtsname", "ort"] {
            let v = field(r, name);
            assert!(
                v.is_null() || v.as_str().is_some_and(|s| s.len() <= 84),
                "{v}"
            );
        }
    }
    // Jürgen Müller and Juergen Mueller normalise identically.
    assert_eq!(field(&recs[0], "vorname"), field(&recs[1], "vorname"));
    assert_eq!(field(&recs[0], "nachname"), field(&recs[1], "nachname"));
    assert!(field(&recs[0], "geburtsname").is_null());
    assert_eq!(field(&recs[0], "geburtstag"), 24);
    assert_eq!(field(&recs[0], "geburtsjahr"), 1964);
    // Leading zeros of a string field survive.
    assert_eq!(field(&recs[2], "plz"), "01069");
    // Meyer and Meier differ.
    assert_ne!(field(&recs[4], "nachname"), field(&recs[5], "nachname"));
    // Empty cells are null.
    assert!(field(&recs[9], "geburtstag").is_null());
    assert!(field(&recs[14], "plz").is_null());
    assert!(field(&recs[14], "ort").is_null());
}

#[test]
fn bad_rows_are_reported_with_their_line_and_fail_the_run() {
    let dir = scratch("badrows");
    let config = repo_file("examples/mainzelliste-config.json");
    let csv = write(
        &dir,
        "in.csv",
        "vorname,nachname,geburtsname,geburtstag,geburtsmonat,geburtsjahr,plz,ort\n\
         Anna,Berg,,1,2,1990,12345,Ulm\n\
         Bernd,Kurz,,32,2,1990,12345,Ulm\n\
         Clara,Lang,,1,2,19x0,12345,Ulm\n\
         Dora,Weit\n\
         Emil,Hoch,,1,2,1990,1234567,Ulm\n\
         Frida,Tief,,1,2,1990,12345,Ulm\n",
    );
    let out = encode(&[&"--config", &config, &"--input", &csv]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("line 3: field \"geburtstag\""), "{err}");
    assert!(err.contains("line 4: field \"geburtsjahr\""), "{err}");
    assert!(
        err.contains("line 5: the row has 2 cells, the header has 8"),
        "{err}"
    );
    assert!(err.contains("line 6: field \"plz\""), "{err}");
    // Cell contents (patient data) are not echoed.
    assert!(!err.contains("19x0") && !err.contains("1234567"), "{err}");
    let recs = records(&out);
    assert_eq!(recs.len(), 2);
    assert_eq!(field(&recs[1], "geburtsjahr"), 1990);

    let skipped = encode(&[&"--config", &config, &"--input", &csv, &"--skip-bad"]);
    assert_eq!(skipped.status.code(), Some(0));
    assert!(stderr(&skipped).contains("line 3:"));
    assert_eq!(skipped.stdout, out.stdout);
}

#[test]
fn keyed_variant_differs_by_key_and_keeps_exchange_groups_comparable() {
    let dir = scratch("keyed");
    let config = repo_file("examples/mainzelliste-config.json");
    let csv = write(
        &dir,
        "in.csv",
        "vorname,nachname,geburtsname,geburtstag,geburtsmonat,geburtsjahr,plz,ort\n\
         Meyer,Meyer,,1,2,1990,12345,Meyer\n",
    );
    let key1 = write(
        &dir,
        "k1.hex",
        &format!("{}\n", "0123456789abcdef".repeat(4)),
    );
    let key2 = write(&dir, "k2.hex", &"fedcba9876543210".repeat(4));
    let plain = records(&encode(&[&"--config", &config, &"--input", &csv]));
    let run = |key: &PathBuf| {
        let out = encode(&[&"--config", &config, &"--input", &csv, &"--key-file", key]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        records(&out)
    };
    let k1 = run(&key1);
    let k1_again = run(&key1);
    let k2 = run(&key2);
    assert_eq!(k1, k1_again);
    for name in ["vorname", "ort"] {
        assert_ne!(field(&k1[0], name), field(&plain[0], name));
        assert_ne!(field(&k1[0], name), field(&k2[0], name));
    }
    // vorname and nachname are in one exchange group: one domain, same filter.
    assert_eq!(field(&k1[0], "vorname"), field(&k1[0], "nachname"));
    // ort is its own domain.
    assert_ne!(field(&k1[0], "vorname"), field(&k1[0], "ort"));
    // Non-bitmask fields do not depend on the key.
    assert_eq!(field(&k1[0], "plz"), field(&plain[0], "plz"));
}

#[test]
fn bad_key_files_stop_the_run_without_printing_the_key() {
    let dir = scratch("badkey");
    let config = bitmask_config(&dir, &["name"]);
    let csv = write(&dir, "in.csv", "name\nJAVA\n");
    let short = write(&dir, "short.hex", "00112233445566778899aabbccddee");
    let out = encode(&[
        &"--config",
        &config,
        &"--input",
        &csv,
        &"--key-file",
        &short,
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("15 bytes"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("00112233"));
    assert!(out.stdout.is_empty());
    let junk = write(&dir, "junk.hex", "this is not a hex key at all, no");
    let out = encode(&[&"--config", &config, &"--input", &csv, &"--key-file", &junk]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("hex digit"), "{}", stderr(&out));
}

#[test]
fn unknown_and_missing_columns_are_named() {
    let dir = scratch("columns");
    let config = bitmask_config(&dir, &["vorname", "nachname"]);
    let csv = write(&dir, "in.csv", "vorname,patient_id,notes\nAnna,1,x\n");
    let out = encode(&[&"--config", &config, &"--input", &csv]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("\"nachname\""), "{}", stderr(&out));
    let csv = write(
        &dir,
        "in2.csv",
        "vorname,nachname,patient_id,notes\nAnna,Berg,1,x\n",
    );
    let out = encode(&[&"--config", &config, &"--input", &csv]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("\"patient_id\", \"notes\""), "{err}");
    let out = encode(&[
        &"--config",
        &config,
        &"--input",
        &csv,
        &"--ignore-column",
        &"patient_id",
        &"--ignore-column",
        &"notes",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(records(&out).len(), 1);
}

#[test]
fn date_columns_are_split_and_checked() {
    let dir = scratch("dates");
    let config = repo_file("examples/mainzelliste-config.json");
    let csv = write(
        &dir,
        "in.csv",
        "vorname;nachname;geburtsname;Geburtsdatum;plz;ort\n\
         Anna;Berg;;24.12.1964;12345;Ulm\n\
         Bernd;Kurz;;1980-02-29;12345;Ulm\n\
         Clara;Lang;;31.02.1980;12345;Ulm\n\
         Dora;Weit;;;12345;Ulm\n",
    );
    let out = encode(&[&"--config", &config, &"--input", &csv, &"--delimiter", &";"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("line 4: column \"Geburtsdatum\": day does not exist"),
        "{err}"
    );
    let recs = records(&out);
    assert_eq!(recs.len(), 3);
    assert_eq!(field(&recs[0], "geburtstag"), 24);
    assert_eq!(field(&recs[0], "geburtsmonat"), 12);
    assert_eq!(field(&recs[0], "geburtsjahr"), 1964);
    assert_eq!(field(&recs[1], "geburtstag"), 29);
    assert!(field(&recs[2], "geburtsjahr").is_null());

    let renamed = write(
        &dir,
        "in2.csv",
        "vorname,nachname,geburtsname,gebdat,plz,ort\nAnna,Berg,,1964-12-24,12345,Ulm\n",
    );
    let out = encode(&[
        &"--config",
        &config,
        &"--input",
        &renamed,
        &"--date-column",
        &"gebdat=geburtstag,geburtsmonat,geburtsjahr",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(records(&out)[0], recs[0]);
}

#[test]
fn help_documents_the_exit_status() {
    let out = Command::new(env!("CARGO_BIN_EXE_sel-node"))
        .args(["encode", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    assert!(help.contains("--skip-bad"));
    assert!(help.contains("at least one row was bad"), "{help}");
}

#[test]
fn invalid_utf8_is_a_bad_row_and_reading_continues() {
    let dir = scratch("utf8");
    let config = bitmask_config(&dir, &["name"]);
    let csv = dir.join("in.csv");
    std::fs::write(&csv, b"name\nJAVA\n\xffA\nMEIER\n").unwrap();
    let out = encode(&[&"--config", &config, &"--input", &csv]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("line 3: cell 1 is not valid UTF-8"),
        "{}",
        stderr(&out)
    );
    let recs = records(&out);
    assert_eq!(recs.len(), 2);
    assert_eq!(field(&recs[0], "name"), JAVA);
}
