//! The REST API of whole nodes (`node::start`: store, peer channel, job
//! manager, API) talking to each other and to the real linkage service over
//! verified TLS: the statuses of `/test` and `/testLS` that need a live
//! other side (200, 409, 502).

#[path = "node_support/mod.rs"]
mod node_support;

use std::time::Duration;

use node_support::{Pki, TempDir, start_ls};
use reqwest::Method;
use sel_node::node::{RunningNode, start};
use sel_node::seal::NodeKey;
use sel_node::settings::Settings;
use serde_json::{Value, json};

const PAIR_KEY: &str = "pair-key-AB";

struct Site {
    node: RunningNode,
    base: String,
    key: String,
    _dir: TempDir,
}

impl Site {
    fn req(&self, client: &reqwest::Client, method: Method, path: &str) -> reqwest::RequestBuilder {
        client
            .request(method, format!("{}{}", self.base, path))
            .header("authorization", format!("apiKey apiKey=\"{}\"", self.key))
    }
}

async fn site(pki: &Pki, id: &str) -> Site {
    let dir = TempDir::new(id);
    let key_file = dir.path().join("node.key");
    NodeKey::generate_file(&key_file).unwrap();
    let settings = Settings {
        api_listen: "127.0.0.1:0".parse().unwrap(),
        peer_listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().join("data"),
        node_key_file: Some(key_file),
        tls_cert: Some(pki.cert_file.clone()),
        tls_key: Some(pki.key_file.clone()),
        ca_bundle: Some(pki.ca_file.clone()),
        hold_deadline: Duration::from_secs(5),
        ..Settings::default()
    };
    let node = start(settings).await.expect("node starts");
    Site {
        base: format!("https://127.0.0.1:{}", node.api_addr().port()),
        node,
        key: format!("local-{id}"),
        _dir: dir,
    }
}

fn init_local(id: &str, key: &str, threshold: f64) -> Value {
    let mut algorithm = json!({
        "algoType": "epilink",
        "threshold_match": threshold,
        "threshold_non_match": 0.7,
        "fields": [
            {"name": "vorname", "frequency": 0.000235, "errorRate": 0.01,
             "comparator": "dice", "fieldType": "bitmask", "bitlength": 500},
            {"name": "geburtsjahr", "frequency": 0.0123, "errorRate": 0.005,
             "comparator": "binary", "fieldType": "integer", "bitlength": 11}
        ]
    });
    algorithm["exchangeGroups"] = json!([]);
    json!({
        "localId": id,
        "localAuthentication": {"authType": "apiKey", "sharedKey": key},
        "dataService": {"url": "http://127.0.0.1:9/records"},
        "algorithm": algorithm
    })
}

fn init_remote(peer_url: &str, ls: Option<(&str, &str)>) -> Value {
    let mut v = json!({
        "connectionProfile": {"url": peer_url,
            "authentication": {"authType": "apiKey", "sharedKey": PAIR_KEY}},
        "matchingAllowed": true
    });
    if let Some((url, key)) = ls {
        v["linkageService"] =
            json!({"url": url, "authentication": {"authType": "apiKey", "sharedKey": key}});
    }
    v
}

async fn put(client: &reqwest::Client, site: &Site, path: &str, body: &Value) -> u16 {
    let r = site
        .req(client, Method::PUT, path)
        .json(body)
        .send()
        .await
        .unwrap();
    r.status().as_u16()
}

async fn get(client: &reqwest::Client, site: &Site, path: &str) -> (u16, String) {
    let r = site.req(client, Method::GET, path).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_and_test_ls_against_live_and_dead_counterparts() {
    let pki_dir = TempDir::new("pki");
    let pki = Pki::new(pki_dir.path());
    let client = pki.client();
    let ls = start_ls(&pki, &["A", "B"]).await;
    let a = site(&pki, "A").await;
    let b = site(&pki, "B").await;

    assert_eq!(
        put(&client, &a, "/initLocal", &init_local("A", &a.key, 0.9)).await,
        204
    );
    assert_eq!(
        put(&client, &b, "/initLocal", &init_local("B", &b.key, 0.9)).await,
        204
    );
    let b_peer = format!("https://127.0.0.1:{}", b.node.peer_addr().port());
    let a_peer = format!("https://127.0.0.1:{}", a.node.peer_addr().port());
    let a_ls = Some((ls.url.as_str(), ls.sites["A"].api_key.as_str()));
    let b_ls = Some((ls.url.as_str(), ls.sites["B"].api_key.as_str()));
    assert_eq!(
        put(&client, &a, "/initRemote/B", &init_remote(&b_peer, a_ls)).await,
        204
    );
    assert_eq!(
        put(&client, &b, "/init/A", &init_remote(&a_peer, b_ls)).await,
        204
    );

    assert_eq!(
        get(&client, &a, "/test/B").await,
        (200, "Remotes Connected".into())
    );
    assert_eq!(
        get(&client, &a, "/testLS/B/").await,
        (200, "Linkage Service connected".into())
    );

    // B changes its configuration: A's test names the difference (409).
    assert_eq!(
        put(&client, &b, "/initLocal", &init_local("B", &b.key, 0.95)).await,
        200
    );
    let (status, body) = get(&client, &a, "/test/B").await;
    assert_eq!(status, 409, "{body}");
    let msg = serde_json::from_str::<Value>(&body).unwrap()["error"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(msg.contains("configuration"), "{msg}");

    // A remote and a linkage service that cannot be reached: 502.
    let dead = "https://127.0.0.1:1/";
    assert_eq!(
        put(
            &client,
            &a,
            "/initRemote/DEAD",
            &init_remote(dead, Some((dead, "k")))
        )
        .await,
        204
    );
    for path in ["/test/DEAD", "/testLS/DEAD"] {
        let (status, body) = get(&client, &a, path).await;
        assert_eq!(status, 502, "{path}: {body}");
        assert!(!body.contains(PAIR_KEY) && !body.contains(&a.key), "{body}");
    }
    // A linkage service that rejects the key: 502 as well.
    let wrong_ls = Some((ls.url.as_str(), "not-the-key"));
    assert_eq!(
        put(
            &client,
            &a,
            "/initRemote/B",
            &init_remote(&b_peer, wrong_ls)
        )
        .await,
        200
    );
    let (status, body) = get(&client, &a, "/testLS/B").await;
    assert_eq!(status, 502, "{body}");
    assert!(!body.contains("not-the-key"), "{body}");

    // A job towards the dead remote leaves QUEUED for HOLD (waiting to
    // reach it) or FAULT; its JSON status says why, without secrets.
    let record = json!({"callback": {"url": "http://127.0.0.1:9/cb"},
                        "fields": {"vorname": "QUJD", "geburtsjahr": 1990}});
    let r = a
        .req(&client, Method::POST, "/linkRecord/DEAD")
        .json(&record)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let mut job = Value::Null;
    for _ in 0..200 {
        job = a
            .req(&client, Method::GET, &format!("{location}?format=json"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if job["status"] == "HOLD" || job["status"] == "FAULT" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let status = job["status"].as_str().unwrap().to_owned();
    assert!(status == "HOLD" || status == "FAULT", "{job}");
    let reason = job["history"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .get("reason")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    assert!(!reason.is_empty(), "{job}");
    assert!(!job.to_string().contains(PAIR_KEY), "{job}");
    let r = a
        .req(&client, Method::DELETE, &location)
        .send()
        .await
        .unwrap();
    let expected = if status == "HOLD" { 202 } else { 409 };
    assert_eq!(r.status().as_u16(), expected);

    a.node.shutdown().await;
    b.node.shutdown().await;
}
