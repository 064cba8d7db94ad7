//! `lid-check`: how the LIDs site A received compare with the known overlap
//! of two synthetic registries (`scripts/synth_patients.py`'s truth file).
//! The demo runs it after linkMN; node B must be stopped (its store is
//! read). Prints one JSON object:
//!
//! `{"linked", "true_pairs", "found", "missed", "wrongly_linked", "fresh"}`
//!
//! * found: true pairs whose A LID is the LID node B holds for the B record;
//! * missed: true pairs whose A patient got another LID;
//! * wrongly_linked: A patients whose LID is that of a B record that is not
//!   their partner (or who have none);
//! * fresh: A patients whose LID is no B record's.
//!
//! Keys come from files; nothing secret is printed.
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use e2e_tests::node_lids;
use e2e_tests::read_simple_csv;
use linkage_service::keys::SiteKey;
use linkage_service::lid::open_lid;

#[derive(Parser)]
#[command(
    name = "lid-check",
    about = "Compare site A's LIDs with the known overlap"
)]
struct Args {
    /// Node B's data directory (node B stopped).
    #[arg(long)]
    node_dir: PathBuf,
    /// Node B's node key file.
    #[arg(long)]
    node_key_file: PathBuf,
    /// The linkage service URL as given in node B's initRemote.
    #[arg(long)]
    ls_url: String,
    #[arg(long, default_value = "SITE_A")]
    site_a: String,
    #[arg(long, default_value = "SITE_B")]
    site_b: String,
    /// Files holding the sites' LID keys (base64, as `register` printed).
    #[arg(long)]
    lid_key_a_file: PathBuf,
    #[arg(long)]
    lid_key_b_file: PathBuf,
    /// `sel-node registry export --remote SITE_B` of registry A.
    #[arg(long)]
    lids_a: PathBuf,
    /// Site B's patients CSV (its `id` column).
    #[arg(long)]
    patients_b: PathBuf,
    /// truth.csv: id_a,id_b.
    #[arg(long)]
    truth: PathBuf,
}

fn site_key(path: &PathBuf) -> Result<SiteKey, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    SiteKey::from_base64(&text).map_err(|e| format!("{}: {e}", path.display()))
}

fn check(args: &Args) -> Result<serde_json::Value, String> {
    let key_a = site_key(&args.lid_key_a_file)?;
    let key_b = site_key(&args.lid_key_b_file)?;
    let (header, rows) = read_simple_csv(&args.patients_b);
    let id_col = header
        .iter()
        .position(|h| h == "id")
        .ok_or("the patients file of B has no id column")?;
    let ids_b: Vec<String> = rows.iter().map(|r| r[id_col].clone()).collect();
    let lids_b = node_lids::read(
        &args.node_dir,
        &args.node_key_file,
        &args.ls_url,
        &args.site_b,
        &key_b,
        &ids_b,
    )
    .map_err(|e| e.to_string())?;
    let owner_b: HashMap<[u8; 16], &str> = lids_b
        .iter()
        .map(|(id, lid)| (*lid.as_bytes(), id.as_str()))
        .collect();

    let (_, rows) = read_simple_csv(&args.lids_a);
    let mut lids_a = HashMap::new();
    for row in &rows {
        let [id, sealed] = row.as_slice() else {
            return Err("registry export: expected patient_id,lid".into());
        };
        let lid = open_lid(&key_a, &args.site_a, sealed)
            .map_err(|e| format!("the LID of {id} does not open under A's key: {e}"))?;
        lids_a.insert(id.clone(), *lid.as_bytes());
    }
    let (_, rows) = read_simple_csv(&args.truth);
    let truth: HashMap<&str, &str> = rows
        .iter()
        .map(|r| (r[0].as_str(), r.get(1).map_or("", String::as_str)))
        .collect();

    let (mut found, mut missed, mut wrong, mut fresh) = (0, 0, 0, 0);
    for (id_a, id_b) in &truth {
        match lids_a.get(*id_a).and_then(|l| owner_b.get(l)) {
            Some(owner) if owner == id_b => found += 1,
            _ => missed += 1,
        }
    }
    for (id_a, lid) in &lids_a {
        match owner_b.get(lid) {
            Some(owner) if truth.get(id_a.as_str()) == Some(owner) => {}
            Some(_) => wrong += 1,
            None => fresh += 1,
        }
    }
    Ok(serde_json::json!({
        "linked": lids_a.len(),
        "true_pairs": truth.len(),
        "found": found,
        "missed": missed,
        "wrongly_linked": wrong,
        "fresh": fresh,
    }))
}

fn main() -> ExitCode {
    let args = Args::parse();
    match check(&args) {
        Ok(summary) => {
            println!("{summary}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("lid-check: {e}");
            ExitCode::FAILURE
        }
    }
}
