//! The de-id service's page in a real headless Chromium: `sel-node deid
//! serve` (plain HTTP on loopback, so Chromium needs no test CA), the page
//! opened, an API key and a clinical note typed in, Redact pressed; the
//! entity table and the redacted text are read back from the DOM and
//! compared with what the service's own engine finds in the note.

mod browser_support;
mod deid_support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use browser_support::Browser;
use sel_node::deid::Engine;

const MASTER: &str = "page-test-master-key-0123456789";
const WAIT: Duration = Duration::from_secs(60);
const NOTE: &str = "Discharge summary. Patient: Maria Garcia, DOB 03/14/1961, MRN: 00482913.\n\
                    Call her at (617) 555-0142 or maria.garcia@example.org. SSN 412-55-7891.";

/// Kills the service when the test ends, also on a failed assertion.
struct Service(Child);

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_service(dir: &std::path::Path) -> (Service, String) {
    let config = deid_support::deid_config(dir, "DEID_PAGE_MASTER");
    let mut child = Command::new(env!("CARGO_BIN_EXE_sel-node"))
        .args(["deid", "serve", "--insecure-http", "--config"])
        .arg(&config)
        .env("RUST_LOG", "info")
        .env("DEID_PAGE_MASTER", MASTER)
        .env_remove("SEL_NODE_KEY")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let service = Service(child);
    let mut lines = BufReader::new(stderr).lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("the service logs its address before its stderr ends")
            .unwrap();
        if line.contains("de-id service started") {
            let at = line.find("deid=").unwrap() + 5;
            break line[at..].split_whitespace().next().unwrap().to_owned();
        }
    };
    // Keep draining the log so the service never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (service, addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_redacts_a_pasted_note_and_lists_its_entities() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("sel-deid-page-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (_service, addr) = start_service(&dir);

    browser.open(&format!("http://{addr}/")).await;
    browser.wait_for_selector("#redact", WAIT).await;

    // Without a key the page says so and sends nothing.
    browser.click("#redact").await;
    browser
        .wait_for(
            "document.getElementById('status').textContent.includes('API key')",
            WAIT,
        )
        .await;

    // A wrong key: the service's 401 is shown, no table, no text.
    browser.set_value("#key", "not-the-key-at-all-000000").await;
    browser.set_value("#text", NOTE).await;
    browser.click("#redact").await;
    browser
        .wait_for(
            "document.getElementById('status').textContent.startsWith('401')",
            WAIT,
        )
        .await;
    assert_eq!(browser.text("#result").await.unwrap_or_default(), "");

    // The right key: the table lists what the engine finds, the text is
    // redacted.
    browser.set_value("#key", MASTER).await;
    browser.click("#redact").await;
    browser
        .wait_for(
            "document.getElementById('result').textContent.length > 0",
            WAIT,
        )
        .await;
    let rows = browser
        .eval(
            "Array.from(document.querySelectorAll('#entities tbody tr')).map(\
             tr => Array.from(tr.children).map(td => td.textContent))",
        )
        .await;
    let rows: Vec<Vec<String>> = serde_json::from_value(rows).expect("table rows");
    // The textarea may turn "\n" into "\n" unchanged; the note has no "\r".
    let findings = Engine::new().detect(NOTE);
    assert_eq!(rows.len(), findings.len(), "one row per finding: {rows:?}");
    let chars: Vec<char> = NOTE.chars().collect();
    for (i, (row, f)) in rows.iter().zip(&findings).enumerate() {
        let value: String = chars[f.start..f.end].iter().collect();
        assert_eq!(row[0], (i + 1).to_string(), "{row:?}");
        assert_eq!(row[1], f.label, "{row:?}");
        assert_eq!(row[2], value, "{row:?}");
        assert!(!row[3].is_empty(), "an action is shown: {row:?}");
        assert_eq!(row[4], format!("{}\u{2013}{}", f.start, f.end), "{row:?}");
    }
    let labels: Vec<&str> = findings.iter().map(|f| f.label.as_str()).collect();
    for want in ["PERSON", "SSN", "PHONE", "EMAIL"] {
        assert!(labels.contains(&want), "{want} found: {labels:?}");
    }
    let result = browser.text("#result").await.unwrap_or_default();
    for secret in ["Maria Garcia", "412-55-7891", "555-0142", "maria.garcia@"] {
        assert!(!result.contains(secret), "{secret} left in: {result}");
    }
    assert!(result.contains("Discharge summary."), "{result}");
    browser.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}
