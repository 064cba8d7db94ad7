//! The operator's status page in a real headless Chromium: two in-process
//! nodes (A asks, B answers) with the real linkage service; A's page, opened
//! with the key in the URL fragment, shows A's configuration and B
//! connected, follows a link job to DONE at 100 %, shows B down once B
//! stops, and with a wrong key shows the error and no data. The JSON behind it is checked for keys.
//!
//! A's REST API is served as plain HTTP on loopback (`insecure_http`) so
//! Chromium needs no test CA; the peer channel and the linkage service stay
//! on verified TLS.

mod api_common;
mod browser_support;
mod node_support;

use std::time::Duration;

use mpc_core::epilink::synth::{Population, SynthOptions};
use protocol_spec::config::LinkageConfig;
use protocol_spec::messages::mainsel::AlgorithmConfig;
use reqwest::Method;
use sel_node::node::start;
use serde_json::{Value, json};

use browser_support::{Browser, js_string};
use node_support::{
    PAIR_KEY, Pki, Rest, TempDir, configure_pair, default_algorithm, node_settings,
    start_callbacks, start_data_service, start_ls, with_ids,
};

/// A guard against a hang, not a speed target.
const WAIT: Duration = Duration::from_secs(120);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_status_page_shows_the_remote_and_follows_a_job_to_done() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let root = TempDir::new("status");
    let pki = Pki::new(root.path());
    let ls = start_ls(&pki, &["A", "B"]).await;
    let alg: AlgorithmConfig = serde_json::from_value(default_algorithm()).unwrap();
    let config = LinkageConfig::from_wire(&alg).unwrap();
    let pop = Population::generate(
        &config,
        &SynthOptions {
            database: 30,
            queries: 4,
            seed: 5,
            linked_fraction: 0.5,
            error_rate: 0.1,
        },
    )
    .unwrap();
    let data_b = start_data_service(with_ids(&config, &pop.database), 16).await;
    let mut callbacks = start_callbacks().await;

    let (dir_a, dir_b) = (root.path().join("a"), root.path().join("b"));
    std::fs::create_dir_all(&dir_a).unwrap();
    std::fs::create_dir_all(&dir_b).unwrap();
    let mut settings_a = node_settings(&dir_a, &pki);
    settings_a.insecure_http = true;
    let a = start(settings_a).await.unwrap();
    let b = start(node_settings(&dir_b, &pki)).await.unwrap();
    let base_a = format!("http://127.0.0.1:{}", a.api_addr().port());
    let rest_a = Rest {
        http: pki.client(),
        base: base_a.clone(),
        key: "key-of-A".into(),
    };
    let rest_b = Rest::new(&pki, &b, "key-of-B");
    let data_a = "https://ds-user:ds-password@127.0.0.1:9/none?token=ds-token";
    configure_pair((&rest_a, &a, data_a), (&rest_b, &b, &data_b.url), &ls).await;
    let ls_a = &ls.sites["A"];
    assert_eq!(
        rest_a.get("/test/B").await,
        (200, "Remotes Connected".into())
    );

    // ---- the JSON: behind the key, and without any key or URL secret ----
    let anon = pki
        .client()
        .get(format!("{base_a}/status/data"))
        .send()
        .await
        .unwrap();
    assert_eq!(anon.status().as_u16(), 401);
    let (status, body) = rest_a.get("/status/data").await;
    assert_eq!(status, 200, "{body}");
    for secret in [
        "key-of-A",
        PAIR_KEY,
        ls_a.api_key.as_str(),
        "ds-password",
        "ds-user",
        "ds-token",
    ] {
        assert!(!body.contains(secret), "/status/data reveals a secret");
    }
    let data: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(data["local"]["local_id"], "A");
    assert_eq!(data["local"]["data_service"], "https://127.0.0.1:9/none");
    assert_eq!(data["remotes"][0]["id"], "B");
    assert_eq!(data["remotes"][0]["last_test"]["ok"], true);

    // ---- the page, with the key in the fragment ----
    let page = pki
        .client()
        .get(format!("{base_a}/status"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status().as_u16(), 200, "the page needs no key");
    assert!(page.headers().contains_key("content-security-policy"));

    browser.open(&format!("{base_a}/status#key=key-of-A")).await;
    browser
        .wait_for(
            "document.getElementById('local-id').textContent === 'A'",
            WAIT,
        )
        .await;
    assert_eq!(
        browser.eval("window.location.hash").await,
        "",
        "the key leaves the address bar"
    );
    assert_eq!(
        browser.text("body").await.map(|t| t.contains("key-of-A")),
        Some(false)
    );
    let remote_b = "#remotes tr[data-remote=\"B\"]";
    browser
        .wait_for(
            &format!(
                "document.querySelector({}).getAttribute('data-state') === 'connected'",
                js_string(&format!("{remote_b} .state"))
            ),
            WAIT,
        )
        .await;
    let last_test = browser
        .text(&format!("{remote_b} .last-test"))
        .await
        .unwrap();
    assert!(last_test.starts_with("OK"), "{last_test}");
    assert_eq!(
        browser.count("#fields tbody tr").await,
        alg.fields.len(),
        "one row per configured field"
    );

    // ---- a link job, followed to DONE on the page ----
    let records: Vec<Value> = pop
        .queries
        .iter()
        .map(|r| json!({"fields": protocol_spec::value::record_to_wire(&config, r).unwrap()}))
        .collect();
    let job = rest_a
        .submit(
            "/linkRecords/B",
            &json!({"callback": {"url": callbacks.url("link")}, "records": records}),
        )
        .await;
    let row = format!("#jobs tr[data-job=\"{job}\"]");
    browser.wait_for_selector(&row, WAIT).await;
    browser
        .wait_for(
            &format!(
                "(function(r){{return r !== null && r.querySelector('.status').textContent === 'DONE' \
                 && r.querySelector('.progress').textContent === '100 %';}})(document.querySelector({}))",
                js_string(&row)
            ),
            WAIT,
        )
        .await;
    assert_eq!(
        browser.text(&format!("{row} .remote")).await.as_deref(),
        Some("B")
    );
    assert_eq!(
        browser.text(&format!("{row} .mode")).await.as_deref(),
        Some("linkage")
    );
    assert!(
        !browser
            .text(&format!("{row} .finished"))
            .await
            .unwrap()
            .is_empty()
    );
    let got = callbacks.next().await;
    assert!(got.body.get("error").is_none(), "{}", got.body);

    // ---- B stops: A's page shows B down, since when, and why ----
    b.shutdown().await;
    browser
        .wait_for(
            &format!(
                "document.querySelector({}).getAttribute('data-state') === 'down'",
                js_string(&format!("{remote_b} .state"))
            ),
            WAIT,
        )
        .await;
    assert!(
        !browser
            .text(&format!("{remote_b} .since"))
            .await
            .unwrap()
            .is_empty()
    );
    let kind = browser
        .eval(&format!(
            "document.querySelector({}).getAttribute('data-kind')",
            js_string(&format!("{remote_b} .error"))
        ))
        .await;
    assert!(
        kind == "dropped" || kind == "unreachable",
        "B stopped: {kind}"
    );

    // ---- a wrong key: the error, and no data ----
    browser.open(&format!("{base_a}/status#key=wrong")).await;
    browser
        .wait_for("document.body.getAttribute('data-state') === 'error'", WAIT)
        .await;
    let banner = browser.text("#banner").await.unwrap();
    assert!(banner.contains("401"), "{banner}");
    assert_eq!(browser.text("#local-id").await.as_deref(), Some(""));
    assert_eq!(browser.count("#remotes tbody tr").await, 0);
    assert_eq!(browser.count("#jobs tbody tr").await, 0);

    // ---- the right key typed into the form brings the data back ----
    browser.set_value("#key-input", "key-of-A").await;
    browser.click("#key-submit").await;
    browser
        .wait_for("document.body.getAttribute('data-state') === 'ok'", WAIT)
        .await;
    browser.wait_for_selector(&row, WAIT).await;
    assert_eq!(browser.text("#local-id").await.as_deref(), Some("A"));

    browser.close().await;
    a.shutdown().await;
}

/// The order of checks of SPEC §3 for the two status endpoints, over the
/// real router: the page is open (it holds no data), the data is behind
/// initialisation and the key, and `/test` outcomes are recorded only for
/// configured remotes.
#[tokio::test]
async fn the_page_is_open_and_its_data_is_behind_init_and_the_key() {
    use api_common::{KEY, Node, REMOTE, auth, error_of, header};
    let node = Node::plain().await;
    let r = node.anon(Method::GET, "/status/").send().await.unwrap();
    assert_eq!(r.status(), 200, "the page before initialisation");
    assert_eq!(
        header(&r, "content-type").as_deref(),
        Some("text/html; charset=utf-8")
    );
    let csp = header(&r, "content-security-policy").expect("a CSP");
    assert!(csp.contains("default-src 'none'") && csp.contains("script-src 'sha256-"));
    assert_eq!(
        header(&r, "referrer-policy").as_deref(),
        Some("no-referrer")
    );
    let r = node.anon(Method::POST, "/status").send().await.unwrap();
    assert_eq!(header(&r, "allow").as_deref(), Some("GET"));
    assert_eq!(error_of(r).await.0, 405);
    // Step 2 before step 3.
    let r = node
        .anon(Method::GET, "/status/data")
        .header("authorization", auth("whatever"))
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r).await.0, 400);

    node.configure().await;
    let r = node.anon(Method::GET, "/status/data").send().await.unwrap();
    assert_eq!(header(&r, "www-authenticate").as_deref(), Some("apiKey"));
    assert_eq!(error_of(r).await.0, 401);
    let r = node
        .anon(Method::GET, "/status/data")
        .header("authorization", auth("not-the-key"))
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r).await.0, 401);

    // A test of a configured remote is recorded (it fails: the job manager
    // of this harness has no peer channel); one of an unknown remote is not.
    let r = node
        .req(Method::GET, &format!("/test/{REMOTE}"))
        .send()
        .await
        .unwrap();
    assert_ne!(r.status(), 200);
    let r = node.req(Method::GET, "/test/NOBODY").send().await.unwrap();
    assert_eq!(r.status(), 404);

    let r = node.req(Method::GET, "/status/data").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "cache-control").as_deref(), Some("no-store"));
    let body = r.text().await.unwrap();
    for secret in [KEY, "peer-key", "ls-key"] {
        assert!(!body.contains(secret), "/status/data reveals a key");
    }
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["local"]["local_id"], "TUD");
    assert_eq!(v["local"]["fields"].as_array().map(Vec::len), Some(3));
    let remotes = v["remotes"].as_array().unwrap();
    assert_eq!(remotes.len(), 2, "{v}");
    let remote = remotes.iter().find(|r| r["id"] == REMOTE).unwrap();
    assert_eq!(remote["last_test"]["ok"], false, "{remote}");
    assert!(remote["last_test_ls"].is_null());
    assert!(remotes.iter().all(|r| r["id"] != "NOBODY"));
    assert_eq!(v["jobs"], json!([]));
    node.shutdown().await;
}
