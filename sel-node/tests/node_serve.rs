//! `sel-node serve` as an operator runs it: the binary starts with a
//! self-signed certificate (none configured), serves the REST API, stops
//! cleanly on SIGTERM, and a second start finds the configuration the first
//! one stored.

mod node_support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use node_support::{Pki, TempDir, init_local};
use sel_node::seal::NodeKey;

/// Starts `sel-node serve` on port 0 and returns it with its REST address
/// (read from its "node started" log line).
fn serve(dir: &Path) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sel-node"))
        .args(["serve", "--insecure-http"])
        .args([
            "--api-listen",
            "127.0.0.1:0",
            "--peer-listen",
            "127.0.0.1:0",
        ])
        .arg("--data-dir")
        .arg(dir)
        .arg("--node-key-file")
        .arg(dir.join("node.key"))
        .env("RUST_LOG", "info")
        .env_remove("SEL_NODE_KEY")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sel-node runs");
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("sel-node logs 'node started' before its stderr ends")
            .unwrap();
        if line.contains("node started") {
            let at = line.find("api=").expect("the line names the API address") + 4;
            break line[at..].split_whitespace().next().unwrap().to_owned();
        }
    };
    // Keep draining stderr so the node never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, addr)
}

fn stop(mut child: Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert!(exit.success(), "a SIGTERM stop is a clean exit: {exit:?}");
}

#[tokio::test]
async fn the_binary_serves_stops_on_sigterm_and_keeps_its_configuration() {
    let dir = TempDir::new("serve");
    NodeKey::generate_file(&dir.path().join("node.key")).unwrap();
    // A verified client (ring provider); the API is plain HTTP here.
    let http = Pki::new(dir.path()).client();

    let (child, addr) = serve(dir.path());
    let health = http
        .get(format!("http://{addr}/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let put = http
        .put(format!("http://{addr}/initLocal"))
        .json(&init_local("A", "key-of-A", "http://127.0.0.1:9/none"))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 204);
    stop(child);
    assert!(
        dir.path().join("tls").join("cert.pem").exists(),
        "a self-signed certificate was made for the first start"
    );

    let (child, addr) = serve(dir.path());
    let list = http
        .get(format!("http://{addr}/jobs/list"))
        .header("authorization", "apiKey apiKey=\"key-of-A\"")
        .send()
        .await
        .unwrap();
    assert_eq!(list.status(), 200, "the second start knows the local site");
    assert_eq!(list.text().await.unwrap(), "{}");
    stop(child);
}
