//! The real `linkage-service` binary: key creation, registration, listing,
//! serving with a generated self-signed certificate, and revocation while
//! serving.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::{TempDir, client_trusting};
use linkage_service::keys::SiteKey;
use linkage_service::lid::open_lid;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_linkage-service");

async fn run(args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .env_remove("LS_MASTER_KEY")
        .env_remove("LS_DATA_DIR")
        .output()
        .await
        .unwrap()
}

#[tokio::test]
async fn register_serve_and_revoke_with_the_real_binary() {
    let dir = TempDir::new("bin");
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let key_file = dir.path().join("master.key");
    let key_file = key_file.to_str().unwrap();

    let out = run(&["init-master-key", "--out", key_file]).await;
    assert!(out.status.success(), "{out:?}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // Never overwrites an existing key.
    let out = run(&["init-master-key", "--out", key_file]).await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot create master key file"));

    let mut sites = Vec::new();
    for id in ["A", "B"] {
        let out = run(&[
            "register",
            id,
            "--data-dir",
            data,
            "--master-key-file",
            key_file,
        ])
        .await;
        assert!(out.status.success(), "{out:?}");
        let reg: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(reg["siteId"], id);
        sites.push(reg);
    }
    let out = run(&[
        "register",
        "no-dashes",
        "--data-dir",
        data,
        "--master-key-file",
        key_file,
    ])
    .await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid site id"));
    // Registration without any master key is refused.
    let out = run(&["register", "C", "--data-dir", data]).await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("LS_MASTER_KEY"));

    let out = run(&["sites", "--data-dir", data]).await;
    assert!(out.status.success());
    let listing = String::from_utf8(out.stdout).unwrap();
    let ids: Vec<String> = listing
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["siteId"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(ids, ["A", "B"]);
    for reg in &sites {
        assert!(!listing.contains(reg["apiKey"].as_str().unwrap()));
        assert!(!listing.contains(reg["lidKey"].as_str().unwrap()));
    }

    // Serve with the master key from the environment and no certificate: one
    // is generated into the data dir.
    let master_b64 = std::fs::read_to_string(key_file).unwrap();
    let mut server = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir", data])
        .env("LS_MASTER_KEY", master_b64.trim())
        .env("RUST_LOG", "debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(server.stdout.take().unwrap());
    let mut line = String::new();
    tokio::time::timeout(Duration::from_secs(60), stdout.read_line(&mut line))
        .await
        .expect("server announces its address")
        .unwrap();
    let base = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();

    let cert_path = std::path::Path::new(data).join("tls").join("cert.pem");
    let cert = CertificateDer::from_pem_file(&cert_path).unwrap();
    let client = client_trusting(&[cert]);
    let auth = |reg: &Value| format!("apiKey apiKey=\"{}\"", reg["apiKey"].as_str().unwrap());

    let resp = client
        .get(format!("{base}/test"))
        .header("authorization", auth(&sites[0]))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "Linkage Service connected");

    let resp = client
        .get(format!("{base}/freshIDs/A?count=3"))
        .header("authorization", auth(&sites[0]))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    let a_key = SiteKey::from_base64(sites[0]["lidKey"].as_str().unwrap()).unwrap();
    let ids = body["linkageIds"].as_array().unwrap();
    assert_eq!(ids.len(), 3);
    for id in ids {
        open_lid(&a_key, "A", id.as_str().unwrap()).unwrap();
    }

    // Revoke B with the binary while the service runs.
    let test_as_b = || async {
        client
            .get(format!("{base}/test"))
            .header("authorization", auth(&sites[1]))
            .send()
            .await
            .unwrap()
            .status()
    };
    assert_eq!(test_as_b().await, 200);
    let out = run(&["revoke", "B", "--data-dir", data]).await;
    assert!(out.status.success(), "{out:?}");
    assert_eq!(test_as_b().await, 401);
    let out = run(&["revoke", "B", "--data-dir", data]).await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not registered"));

    server.start_kill().unwrap();
    let mut log = String::new();
    server
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .await
        .unwrap();
    let _ = server.wait().await;
    // Debug logs name the certificate to pin but carry no secret.
    assert!(log.contains("cert.pem"), "{log}");
    for reg in &sites {
        assert!(!log.contains(reg["apiKey"].as_str().unwrap()));
        assert!(!log.contains(reg["lidKey"].as_str().unwrap()));
    }
    assert!(!log.contains(master_b64.trim()));
    for id in ids {
        assert!(!log.contains(id.as_str().unwrap()));
    }
}
