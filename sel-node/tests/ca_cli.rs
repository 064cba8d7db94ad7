//! `sel-node ca init` / `ca issue` run as real processes, and the issued
//! certificates checked by a real rustls handshake against the CA (client
//! and server connections pumped in memory, verification fully on).
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use rustls::pki_types::ServerName;
use rustls::{ClientConnection, ServerConnection};
use sel_node::tls;

fn scratch(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("ca_cli-{test}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn sel_node(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sel-node"));
    for a in args {
        cmd.arg(a);
    }
    cmd.output().expect("run sel-node")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A full TLS handshake (and one application byte each way) between a
/// server using `cert`/`key` and a client trusting `ca_bundle`, for `name`.
fn handshake(ca_bundle: Option<&Path>, cert: &Path, key: &Path, name: &str) -> Result<(), String> {
    let server_config = tls::server_config(cert, key).map_err(|e| e.to_string())?;
    let client_config = tls::client_config(ca_bundle).map_err(|e| e.to_string())?;
    let name = ServerName::try_from(name.to_string()).map_err(|e| e.to_string())?;
    let mut client = ClientConnection::new(Arc::clone(&client_config), name).unwrap();
    let mut server = ServerConnection::new(server_config).unwrap();
    use std::io::{Read, Write};
    client.writer().write_all(b"c").unwrap();
    for _ in 0..20 {
        let mut wire = Vec::new();
        client.write_tls(&mut wire).unwrap();
        server.read_tls(&mut wire.as_slice()).unwrap();
        server
            .process_new_packets()
            .map_err(|e| format!("server: {e}"))?;
        let mut wire = Vec::new();
        server.write_tls(&mut wire).unwrap();
        client.read_tls(&mut wire.as_slice()).unwrap();
        client
            .process_new_packets()
            .map_err(|e| format!("client: {e}"))?;
        if !client.is_handshaking() && !server.is_handshaking() {
            server.writer().write_all(b"s").unwrap();
            let mut wire = Vec::new();
            server.write_tls(&mut wire).unwrap();
            client.read_tls(&mut wire.as_slice()).unwrap();
            client
                .process_new_packets()
                .map_err(|e| format!("client: {e}"))?;
            let mut byte = [0u8; 1];
            client
                .reader()
                .read_exact(&mut byte)
                .map_err(|e| e.to_string())?;
            assert_eq!(&byte, b"s");
            let mut wire = Vec::new();
            client.write_tls(&mut wire).unwrap();
            server.read_tls(&mut wire.as_slice()).unwrap();
            server
                .process_new_packets()
                .map_err(|e| format!("server: {e}"))?;
            server
                .reader()
                .read_exact(&mut byte)
                .map_err(|e| e.to_string())?;
            assert_eq!(&byte, b"c");
            return Ok(());
        }
    }
    Err("handshake did not finish".into())
}

#[test]
fn init_makes_a_private_ca_once() {
    let dir = scratch("init");
    let ca = dir.join("ca");
    let out = sel_node(&[&"ca", &"init", &"--dir", &ca]);
    assert!(out.status.success(), "{}", stderr(&out));
    let cert = std::fs::read_to_string(ca.join("ca.pem")).unwrap();
    let key = std::fs::read_to_string(ca.join("ca.key")).unwrap();
    assert!(cert.starts_with("-----BEGIN CERTIFICATE-----"));
    assert!(key.contains("PRIVATE KEY"));
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("PRIVATE KEY"),
        "the key is written to its file, never printed"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(ca.join("ca.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    let again = sel_node(&[&"ca", &"init", &"--dir", &ca]);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        stderr(&again).contains("refusing to overwrite"),
        "{}",
        stderr(&again)
    );
    assert_eq!(std::fs::read_to_string(ca.join("ca.key")).unwrap(), key);
    assert_eq!(std::fs::read_to_string(ca.join("ca.pem")).unwrap(), cert);
}

#[test]
fn issued_certificates_verify_against_the_ca_for_their_names_only() {
    let dir = scratch("issue");
    let ca = dir.join("ca");
    assert!(sel_node(&[&"ca", &"init", &"--dir", &ca]).status.success());
    let out = sel_node(&[&"ca", &"issue", &"node-a", &"--dir", &ca]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (cert, key) = (ca.join("node-a.pem"), ca.join("node-a.key"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let bundle = ca.join("ca.pem");
    for name in ["node-a", "localhost", "127.0.0.1", "::1"] {
        handshake(Some(&bundle), &cert, &key, name).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    assert!(handshake(Some(&bundle), &cert, &key, "node-b").is_err());
    assert!(handshake(None, &cert, &key, "localhost").is_err());

    // Explicit SANs replace the defaults; --out-dir puts the files elsewhere.
    let out_dir = dir.join("issued");
    let out = sel_node(&[
        &"ca",
        &"issue",
        &"ls",
        &"--dir",
        &ca,
        &"--san",
        &"ls.example.org",
        &"--san",
        &"10.1.2.3",
        &"--out-dir",
        &out_dir,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (cert, key) = (out_dir.join("ls.pem"), out_dir.join("ls.key"));
    handshake(Some(&bundle), &cert, &key, "ls.example.org").unwrap();
    handshake(Some(&bundle), &cert, &key, "10.1.2.3").unwrap();
    assert!(handshake(Some(&bundle), &cert, &key, "localhost").is_err());

    // Another CA does not vouch for these certificates.
    let other = dir.join("other");
    assert!(
        sel_node(&[&"ca", &"init", &"--dir", &other])
            .status
            .success()
    );
    assert!(handshake(Some(&other.join("ca.pem")), &cert, &key, "ls.example.org").is_err());
}

#[test]
fn issue_refuses_overwrites_bad_names_and_a_foreign_ca_key() {
    let dir = scratch("refuse");
    let ca = dir.join("ca");
    let missing = sel_node(&[&"ca", &"issue", &"node-a", &"--dir", &ca]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(stderr(&missing).contains("ca.key"), "{}", stderr(&missing));

    assert!(sel_node(&[&"ca", &"init", &"--dir", &ca]).status.success());
    assert!(
        sel_node(&[&"ca", &"issue", &"node-a", &"--dir", &ca])
            .status
            .success()
    );
    let before = std::fs::read(ca.join("node-a.key")).unwrap();
    let again = sel_node(&[&"ca", &"issue", &"node-a", &"--dir", &ca]);
    assert_eq!(again.status.code(), Some(1));
    assert!(stderr(&again).contains("refusing to overwrite"));
    assert_eq!(std::fs::read(ca.join("node-a.key")).unwrap(), before);

    let bad = sel_node(&[&"ca", &"issue", &"../escape", &"--dir", &ca]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(!dir.join("escape.pem").exists());

    let bad_san = sel_node(&[
        &"ca",
        &"issue",
        &"x",
        &"--dir",
        &ca,
        &"--san",
        &"not a name",
    ]);
    assert_eq!(bad_san.status.code(), Some(1));
    assert!(
        stderr(&bad_san).contains("not a name"),
        "{}",
        stderr(&bad_san)
    );

    // A CA directory whose key belongs to another CA signs nothing.
    let other = dir.join("other");
    assert!(
        sel_node(&[&"ca", &"init", &"--dir", &other])
            .status
            .success()
    );
    std::fs::remove_file(ca.join("ca.key")).unwrap();
    std::fs::copy(other.join("ca.key"), ca.join("ca.key")).unwrap();
    let mismatch = sel_node(&[&"ca", &"issue", &"node-b", &"--dir", &ca]);
    assert_eq!(mismatch.status.code(), Some(1));
    assert!(
        stderr(&mismatch).contains("does not belong"),
        "{}",
        stderr(&mismatch)
    );
    assert!(!ca.join("node-b.pem").exists());
}
