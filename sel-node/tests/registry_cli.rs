//! `sel-node registry import|export|serve` run as real processes: bad rows
//! by line number (never values), re-import, generated ids, the keyed
//! encoding, export errors and serve's refusals to start.
mod registry_support;

use std::path::Path;

use registry_support::*;
use sel_node::registry::RegistryStore;
use serde_json::Value;

fn import(data: &Path, csv: &Path, extra: &[&dyn AsRef<std::ffi::OsStr>]) -> std::process::Output {
    let config = mainzelliste_config();
    let mut args: Vec<&dyn AsRef<std::ffi::OsStr>> = vec![
        &"registry",
        &"import",
        &"--data-dir",
        &data,
        &"--config",
        &config,
        &"--input",
        &csv,
    ];
    args.extend_from_slice(extra);
    sel_node(&args)
}

/// Every stored patient as (id, fields JSON), in id order.
fn stored(data: &Path) -> Vec<(String, Value)> {
    let store = RegistryStore::open(data).unwrap();
    store
        .all_patients()
        .unwrap()
        .patients
        .into_iter()
        .map(|(id, f)| (id, serde_json::to_value(f).unwrap()))
        .collect()
}

#[test]
fn bad_rows_are_reported_by_line_and_the_rest_stored() {
    let dir = scratch("cli-bad-rows");
    let rows = patient_rows(3);
    let text = format!(
        "{HEADER}\n{}\nBAD1,Zacharias,Quell,,40,1,1970,12345,Ulm\n{}\nBAD2,Zacharias,Quell,,1,1\n,Zacharias,Quell,,1,1,1970,12345,Ulm\n{}\n",
        rows[0].1, rows[1].1, rows[2].1
    );
    let csv = write(&dir, "patients.csv", &text);
    let data = dir.join("data");
    let out = import(&data, &csv, &[]);
    assert_eq!(out.status.code(), Some(1), "bad rows give exit status 1");
    let err = stderr(&out);
    assert!(err.contains("line 3: field \"geburtstag\""), "{err}");
    assert!(
        err.contains("line 5: the row has 6 cells, the header has 9"),
        "{err}"
    );
    assert!(err.contains("line 6: the id column is empty"), "{err}");
    assert!(
        err.contains("stored 3 patients (3 new, 0 replaced); 3 bad row(s)"),
        "{err}"
    );
    for value in ["Zacharias", "Quell", "Ulm", "40", "BAD1"] {
        assert!(
            !err.contains(value),
            "stderr must not repeat cell {value:?}: {err}"
        );
    }
    let ids: Vec<String> = stored(&data).into_iter().map(|(id, _)| id).collect();
    assert_eq!(ids, ["P0000", "P0001", "P0002"]);
}

#[test]
fn reimport_replaces_and_missing_ids_are_generated() {
    let dir = scratch("cli-reimport");
    let data = dir.join("data");
    let rows = patient_rows(2);
    import_ok(&data, &patients_csv(&dir, &rows));
    let before = stored(&data);

    let changed = write(
        &dir,
        "changed.csv",
        &format!("{HEADER}\nP0001,Hannelore,Kunz,,2,2,1950,54321,Trier\n"),
    );
    let out = import_ok(&data, &changed);
    assert!(stderr(&out).contains("stored 1 patients (0 new, 1 replaced)"));
    let after = stored(&data);
    assert_eq!(after.len(), 2);
    assert_eq!(after[0], before[0]);
    assert_eq!(after[1].0, "P0001");
    assert_ne!(after[1].1, before[1].1, "the second import replaced P0001");
    assert_eq!(after[1].1["geburtsjahr"], 1950);

    // Without an id column, each row gets a fresh random id.
    let no_ids = write(
        &dir,
        "no-ids.csv",
        "vorname,nachname,geburtsname,geburtstag,geburtsmonat,geburtsjahr,plz,ort\n\
         Ida,Roth,,3,3,1933,11111,Bonn\nOtto,Roth,,4,4,1944,11111,Bonn\n",
    );
    import_ok(&data, &no_ids);
    import_ok(&data, &no_ids);
    let all = stored(&data);
    assert_eq!(all.len(), 6, "generated ids never replace anything");
    let generated: Vec<&String> = all
        .iter()
        .map(|(id, _)| id)
        .filter(|id| !id.starts_with('P'))
        .collect();
    assert_eq!(generated.len(), 4);
    assert!(
        generated
            .iter()
            .all(|id| id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()))
    );
}

#[test]
fn keyed_import_uses_the_keyed_encoder() {
    let dir = scratch("cli-keyed");
    let csv = patients_csv(&dir, &patient_rows(2));
    let key = write(&dir, "site.key", &format!("{}\n", "3f".repeat(32)));
    let (plain, keyed) = (dir.join("plain"), dir.join("keyed"));
    import_ok(&plain, &csv);
    let out = import(&keyed, &csv, &[&"--key-file", &key]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (p, k) = (stored(&plain), stored(&keyed));
    assert_ne!(
        p[0].1["vorname"], k[0].1["vorname"],
        "HMAC, not Mainzelliste hashing"
    );
    assert_eq!(p[0].1["geburtsjahr"], k[0].1["geburtsjahr"]);

    let bad_key = write(&dir, "bad.key", "not hex");
    let out = import(&dir.join("never"), &csv, &[&"--key-file", &bad_key]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("key file"), "{}", stderr(&out));
}

#[test]
fn header_and_export_errors_are_fatal() {
    let dir = scratch("cli-fatal");
    let csv = write(&dir, "p.csv", "id,vornmae\n1,Anna\n");
    let out = import(&dir.join("data"), &csv, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("missing from the header"),
        "{}",
        stderr(&out)
    );

    let out = sel_node(&[
        &"registry",
        &"export",
        &"--data-dir",
        &dir.join("data"),
        &"--remote",
        &"no-such-id",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--remote"), "{}", stderr(&out));
}

#[test]
fn serve_refuses_to_start_without_keys_or_certificate() {
    let dir = scratch("cli-serve");
    let key = write(&dir, "api.key", "registry-key\n");
    let base: [&dyn AsRef<std::ffi::OsStr>; 10] = [
        &"registry",
        &"serve",
        &"--data-dir",
        &dir,
        &"--listen",
        &"127.0.0.1:0",
        &"--site-id",
        &"SITE_A",
        &"--node-url",
        &"https://127.0.0.1:9",
    ];
    let run = |extra: &[&dyn AsRef<std::ffi::OsStr>]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_sel-node"));
        cmd.env_remove("SEL_REGISTRY_API_KEY")
            .env_remove("SEL_REGISTRY_NODE_KEY");
        for a in base.iter().chain(extra) {
            cmd.arg(a);
        }
        cmd.output().unwrap()
    };
    let out = run(&[&"--api-key-file", &key]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("SEL_REGISTRY_NODE_KEY"),
        "{}",
        stderr(&out)
    );

    let out = run(&[&"--api-key-file", &key, &"--node-key-file", &key]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--tls-cert"), "{}", stderr(&out));
    assert!(
        !stderr(&out).contains("registry-key"),
        "keys never reach stderr"
    );

    let empty = write(&dir, "empty.key", " \n");
    let out = run(&[
        &"--api-key-file",
        &empty,
        &"--node-key-file",
        &key,
        &"--insecure-http",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("must not be empty"),
        "{}",
        stderr(&out)
    );
}
