//! `epilink-bench --listen/--connect`: the two parties as two processes (the
//! form `scripts/bench-wan.sh` runs across network namespaces). Both must
//! finish, report the same totals, and with `--check` on both sides the
//! client checks the combined result against the plaintext reference (a
//! difference makes it exit non-zero).

use std::net::TcpListener;
use std::process::{Command, Stdio};

use serde_json::Value;

#[test]
fn split_parties_agree_on_totals_and_check_against_the_reference() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let addr = format!("127.0.0.1:{port}");
    let bench = env!("CARGO_BIN_EXE_epilink-bench");
    let common = ["--db", "40", "--queries", "3", "--seed", "9", "--check"];
    let server = Command::new(bench)
        .args(common)
        .args(["--listen", &addr])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let client = Command::new(bench)
        .args(common)
        .args(["--connect", &addr])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let client = client.wait_with_output().unwrap();
    let server = server.wait_with_output().unwrap();
    for (who, out) in [("server", &server), ("client", &client)] {
        assert!(
            out.status.success(),
            "{who} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let json = |out: &std::process::Output| -> Value {
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text
            .lines()
            .rev()
            .find(|l| l.trim_start().starts_with('{'))
            .unwrap_or_else(|| panic!("no JSON line in {text}"));
        serde_json::from_str(line).unwrap()
    };
    let (s, c) = (json(&server), json(&client));
    assert_ne!(s["party"], c["party"], "{s} / {c}");
    for total in ["bytes", "rounds"] {
        assert!(s[total].as_u64().is_some_and(|v| v > 0), "{total}: {s}");
        assert_eq!(s[total], c[total], "{total}: {s} / {c}");
    }
}
