//! Shared harness of the registry tests: scratch directories, synthetic
//! patients, the binary, a throw-away test CA and clients that trust only it
//! (verification on).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// A fresh directory for one test's files.
pub fn scratch(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("registry-{test}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn write(dir: &Path, name: &str, content: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path
}

/// The German-named example configuration (8 fields).
pub fn mainzelliste_config() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/mainzelliste-config.json")
}

pub const HEADER: &str =
    "id,vorname,nachname,geburtsname,geburtstag,geburtsmonat,geburtsjahr,plz,ort";

const FIRST: [&str; 7] = ["Anna", "Jürgen", "Maria", "Lukas", "Sophie", "Paul", "Emma"];
const LAST: [&str; 5] = ["Müller", "Schmidt", "Weiß", "Fischer", "Becker"];
const TOWNS: [&str; 4] = ["Wiesbaden", "Dresden", "Köln", "Mainz"];

/// Synthetic patients `P0000..`: one CSV row each (without the header).
pub fn patient_rows(n: usize) -> Vec<(String, String)> {
    (0..n)
        .map(|i| {
            let id = format!("P{i:04}");
            let row = format!(
                "{id},{},{},{},{},{},{},{:05},{}",
                FIRST[i % FIRST.len()],
                LAST[(i / 2) % LAST.len()],
                if i % 3 == 0 { LAST[i % LAST.len()] } else { "" },
                1 + i % 28,
                1 + i % 12,
                1940 + i % 70,
                10000 + i * 7,
                TOWNS[i % TOWNS.len()],
            );
            (id, row)
        })
        .collect()
}

/// Writes `rows` under [`HEADER`] as `patients.csv`.
pub fn patients_csv(dir: &Path, rows: &[(String, String)]) -> PathBuf {
    let mut text = String::from(HEADER);
    text.push('\n');
    for (_, row) in rows {
        text.push_str(row);
        text.push('\n');
    }
    write(dir, "patients.csv", &text)
}

/// Runs `sel-node ARGS...`.
pub fn sel_node(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sel-node"));
    for a in args {
        cmd.arg(a);
    }
    cmd.output().expect("run sel-node")
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `sel-node registry import` of `csv` into `data`, asserting success.
pub fn import_ok(data: &Path, csv: &Path) -> Output {
    let out = sel_node(&[
        &"registry",
        &"import",
        &"--data-dir",
        &data,
        &"--config",
        &mainzelliste_config(),
        &"--input",
        &csv,
    ]);
    assert!(out.status.success(), "import failed: {}", stderr(&out));
    out
}

/// A test CA and a certificate for 127.0.0.1 and localhost.
pub struct TestPki {
    pub ca_der: CertificateDer<'static>,
    pub server: Arc<rustls::ServerConfig>,
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

pub fn test_pki() -> TestPki {
    let mut ca_params = CertificateParams::default();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "registry test CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
        .unwrap()
        .signed_by(&leaf_key, &ca)
        .unwrap();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    let mut server = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![leaf.der().clone()], key)
        .unwrap();
    server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    TestPki {
        ca_der: ca.der().clone(),
        server: Arc::new(server),
    }
}

/// A reqwest client trusting exactly `roots` (ring provider, verification on).
pub fn client_trusting(roots: &[CertificateDer<'static>]) -> reqwest::Client {
    let mut store = rustls::RootCertStore::empty();
    for root in roots {
        store.add(root.clone()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(store)
        .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(config)
        .build()
        .unwrap()
}
