//! The REST API of SPEC §3 over a real socket (plain HTTP, as with
//! `--insecure-http`) against a real job manager: every status code the
//! API decides, the order of checks, and that a refused request changes
//! nothing.

mod api_common;

use api_common::*;
use reqwest::Method;
use sel_node::api::ApiLimits;
use sel_node::settings::Settings;
use serde_json::{Value, json};

const NOT_INITIALISED: &str = "the node has not been initialised (PUT /initLocal first)";

#[tokio::test]
async fn before_init_only_init_local_health_and_openapi_answer() {
    let node = Node::plain().await;
    for (method, path) in [
        (Method::GET, "/jobs/list"),
        (Method::GET, "/jobs/abc"),
        (Method::PUT, "/initRemote/DKFZ"),
        (Method::POST, "/linkRecord/DKFZ"),
        (Method::GET, "/test/DKFZ"),
        (Method::GET, "/metrics"),
    ] {
        // Even with a bad key: step 2 comes before step 3.
        let r = node
            .anon(method.clone(), path)
            .header("authorization", auth("whatever"))
            .send()
            .await
            .unwrap();
        let (status, msg) = error_of(r).await;
        assert_eq!(
            (status, msg.as_str()),
            (400, NOT_INITIALISED),
            "{method} {path}"
        );
    }
    let r = node.anon(Method::GET, "/health").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        header(&r, "content-type").unwrap(),
        "text/plain; charset=utf-8"
    );
    assert_eq!(r.text().await.unwrap(), "OK");
    let r = node
        .anon(Method::GET, "/openapi.json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let doc: Value = r.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    node.shutdown().await;
}

#[tokio::test]
async fn init_local_is_open_once_then_needs_the_current_key() {
    let node = Node::plain().await;
    // A bad body is refused and leaves the node uninitialised.
    let mut bad = init_local(KEY);
    bad["algorithm"]["fields"][0]["frequency"] = json!(2.0);
    let r = node
        .anon(Method::PUT, "/initLocal")
        .json(&bad)
        .send()
        .await
        .unwrap();
    let (status, msg) = error_of(r).await;
    assert_eq!(status, 400);
    assert!(msg.starts_with("algorithm:"), "{msg}");
    assert!(node.manager.local().is_none());

    let r = node
        .anon(Method::PUT, "/initLocal/")
        .json(&init_local(KEY))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204, "trailing slash, first configuration");
    assert!(r.text().await.unwrap().is_empty());

    // Now the key is required, also on the aliases.
    for path in ["/initLocal", "/init/local", "/initRemote/local"] {
        let r = node
            .anon(Method::PUT, path)
            .json(&init_local("new-key"))
            .send()
            .await
            .unwrap();
        assert_eq!(header(&r, "www-authenticate").as_deref(), Some("apiKey"));
        let (status, msg) = error_of(r).await;
        assert_eq!(status, 401, "{path}: {msg}");
        assert!(!msg.contains("new-key") && !msg.contains(KEY), "{msg}");
    }
    // With the key, an update; the new key applies at once.
    let r = node
        .req(Method::PUT, "/init/local")
        .json(&init_local("new-key"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "Updated connection");
    let r = node.req(Method::GET, "/jobs/list").send().await.unwrap();
    assert_eq!(r.status(), 401, "the old key is gone");
    let r = node
        .anon(Method::GET, "/jobs/list")
        .header("authorization", auth("new-key"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = node
        .anon(Method::PUT, "/initRemote/local/")
        .header("authorization", auth("new-key"))
        .json(&init_local(KEY))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "/initRemote/local is initLocal");
    node.shutdown().await;
}

#[tokio::test]
async fn unknown_paths_are_404_and_wrong_methods_405_with_allow() {
    let node = Node::plain().await; // not even initialised: step 1 is first
    for path in [
        "/",
        "/nope",
        "/linkRecord",
        "/jobs",
        "/jobs/a/b",
        "/initLocal//",
    ] {
        let r = node.anon(Method::GET, path).send().await.unwrap();
        let (status, msg) = error_of(r).await;
        assert_eq!((status, msg.as_str()), (404, "no such endpoint"), "{path}");
    }
    for (method, path, allow) in [
        (Method::GET, "/initLocal", "PUT"),
        (Method::POST, "/initRemote/local", "PUT"),
        (Method::GET, "/init/DKFZ/", "PUT"),
        (Method::PUT, "/linkRecords/DKFZ", "POST"),
        (Method::DELETE, "/jobs/list", "GET"),
        (Method::POST, "/jobs/abc", "GET, DELETE"),
        (Method::POST, "/health", "GET"),
    ] {
        let r = node.anon(method.clone(), path).send().await.unwrap();
        assert_eq!(
            header(&r, "allow").as_deref(),
            Some(allow),
            "{method} {path}"
        );
        let (status, _) = error_of(r).await;
        assert_eq!(status, 405, "{method} {path}");
    }
    node.shutdown().await;
}

#[tokio::test]
async fn every_401_carries_www_authenticate_and_no_key() {
    let node = Node::configured().await;
    for value in [
        None,
        Some("Bearer abc".to_string()),
        Some("apiKey apiKey=\"unterminated".to_string()),
        Some(auth("wrong-key")),
        Some(auth(&format!("{KEY}x"))),
        Some(auth("")),
    ] {
        let mut req = node.anon(Method::GET, "/jobs/list");
        if let Some(v) = &value {
            req = req.header("authorization", v);
        }
        let r = req.send().await.unwrap();
        assert_eq!(header(&r, "www-authenticate").as_deref(), Some("apiKey"));
        let (status, msg) = error_of(r).await;
        assert_eq!(status, 401, "{value:?}");
        assert!(!msg.contains(KEY) && !msg.contains("wrong-key"), "{msg}");
    }
    // The key's scheme and parameter name are case-insensitive.
    let r = node
        .anon(Method::GET, "/jobs/list")
        .header("authorization", format!("APIKEY apikey={KEY}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    node.shutdown().await;
}

#[tokio::test]
async fn the_order_of_checks_decides_the_status() {
    let node = Node::configured().await;
    let before = node.state().await;
    let garbage = "{not json";
    let cases: Vec<(reqwest::RequestBuilder, u16, &str)> = vec![
        // bad key AND bad body ⇒ 401
        (
            node.anon(Method::POST, "/linkRecord/DKFZ")
                .header("authorization", auth("bad"))
                .body(garbage),
            401,
            "the API key is not valid",
        ),
        // bad key AND bad remote id ⇒ 401
        (
            node.anon(Method::POST, "/linkRecord/DK-FZ").body(garbage),
            401,
            "missing Authorization header",
        ),
        // bad remote id AND unknown AND bad body ⇒ 400 for the id
        (
            node.req(Method::POST, "/linkRecord/DK-FZ").body(garbage),
            400,
            "invalid remote id in the path: id has character '-' at position 2",
        ),
        (
            node.req(Method::PUT, "/initRemote/a%20b").body(garbage),
            400,
            "invalid remote id in the path",
        ),
        (
            node.req(Method::GET, "/test/local"),
            400,
            "\"local\" is reserved",
        ),
        // unknown remote AND bad body ⇒ 404
        (
            node.req(Method::POST, "/matchRecords/NOPE").body(garbage),
            404,
            "unknown remote \"NOPE\"",
        ),
        (node.req(Method::GET, "/testLS/NOPE"), 404, "unknown remote"),
        (node.req(Method::GET, "/test/NOPE/"), 404, "unknown remote"),
        // bad body AND matching not allowed ⇒ 400
        (
            node.req(Method::POST, "/matchRecord/BARE").body(garbage),
            400,
            "the body is not valid JSON",
        ),
        // body of the wrong shape AND no linkage service ⇒ 400
        (
            node.req(Method::POST, "/linkRecord/BARE")
                .json(&json!({"fields": {}})),
            400,
            "missing field `callback`",
        ),
        // remote policy before the record checks
        (
            node.req(Method::POST, "/matchRecord/BARE").json(&json!({
                "callback": {"url": CALLBACK}, "fields": {"x": 1}})),
            403,
            "matching is not allowed with remote \"BARE\"",
        ),
        (
            node.req(Method::POST, "/linkRecords/BARE")
                .json(&records_body(1)),
            409,
            "remote \"BARE\" has no linkage service",
        ),
    ];
    for (req, status, needle) in cases {
        let r = req.send().await.unwrap();
        let (got, msg) = error_of(r).await;
        assert_eq!(got, status, "{msg}");
        assert!(msg.contains(needle), "{msg:?} should contain {needle:?}");
    }
    assert_eq!(
        node.state().await,
        before,
        "refused requests change nothing"
    );
    node.shutdown().await;
}

#[tokio::test]
async fn init_remote_creates_updates_and_refuses_bad_bodies() {
    let node = Node::configured().await;
    let r = node
        .req(Method::PUT, "/init/NEW_1")
        .json(&init_remote(true, false))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let r = node
        .req(Method::PUT, "/initRemote/NEW_1/")
        .json(&init_remote(false, true))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "Updated connection");
    let remote = node.manager.remote("NEW_1").unwrap();
    assert!(remote.init.matching_allowed && remote.init.linkage_service.is_none());

    let before = node.state().await;
    let mut bad_url = init_remote(true, true);
    bad_url["linkageService"]["url"] = json!("https://");
    let mut bad_key = init_remote(true, true);
    bad_key["connectionProfile"]["authentication"]["sharedKey"] = json!("with space");
    let mut wrong_type = init_remote(true, true);
    wrong_type["connectionProfile"]["authentication"]["sharedKey"] = json!(918273645);
    for (body, needle) in [
        (bad_url, "linkageService.url: URL has no host"),
        (bad_key, "connectionProfile.authentication.sharedKey"),
        (wrong_type, "invalid type: integer, expected"),
    ] {
        let r = node
            .req(Method::PUT, "/initRemote/NEW_1")
            .json(&body)
            .send()
            .await
            .unwrap();
        let (status, msg) = error_of(r).await;
        assert_eq!(status, 400);
        assert!(msg.contains(needle), "{msg}");
        assert!(
            !msg.contains("918273645") && !msg.contains("with space"),
            "{msg}"
        );
    }
    assert_eq!(node.state().await, before);
    node.shutdown().await;
}

#[tokio::test]
async fn test_ls_without_a_linkage_service_is_409() {
    let node = Node::configured().await;
    let r = node.req(Method::GET, "/testLS/BARE").send().await.unwrap();
    let (status, msg) = error_of(r).await;
    assert_eq!(status, 409);
    assert!(msg.contains("no linkage service"), "{msg}");
    node.shutdown().await;
}

#[tokio::test]
async fn a_job_is_accepted_with_both_location_headers_and_reported() {
    let node = Node::configured().await;
    // Content-Type is not needed: the body is parsed as JSON regardless.
    let r = node
        .req(Method::POST, "/linkRecord/DKFZ/")
        .header("content-type", "text/plain")
        .body(record_body().to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let location = header(&r, "location").unwrap();
    assert_eq!(
        header(&r, "content-location").as_deref(),
        Some(location.as_str())
    );
    assert!(r.text().await.unwrap().is_empty());
    let id = location.strip_prefix("/jobs/").unwrap().to_owned();
    assert!(!id.is_empty() && id != "list");

    let r = node.req(Method::GET, &location).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        header(&r, "content-type").unwrap(),
        "text/plain; charset=utf-8"
    );
    assert_eq!(r.text().await.unwrap(), "QUEUED");

    for req in [
        node.req(Method::GET, &location)
            .header("accept", "application/json"),
        node.req(Method::GET, &format!("{location}/?format=json")),
        node.req(Method::GET, &location)
            .header("accept", "text/html;q=0.9, application/json;q=0.8"),
    ] {
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(header(&r, "content-type").unwrap(), "application/json");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["status"], "QUEUED");
        assert_eq!(v["id"], id.as_str());
        assert_eq!(v["mode"], "linkage");
        assert_eq!(v["progress_percent"], 0);
        assert!(v["created"].as_u64().unwrap() > 0);
        assert!(v["started"].is_null() && v["finished"].is_null() && v["error"].is_null());
        assert_eq!(v["callback_delivery"]["state"], "none");
        assert_eq!(v["query_records"], 1);
        assert_eq!(v["history"][0]["status"], "QUEUED");
        assert!(
            v.get("callback_url").is_none(),
            "no callback URL in the status"
        );
    }
    let r = node
        .req(Method::GET, &format!("{location}?format=xml"))
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r).await.0, 400);

    let r = node
        .req(Method::POST, "/matchRecords/DKFZ")
        .json(&records_body(3))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let second = header(&r, "location").unwrap();
    let list = node.jobs().await;
    let list = list.as_object().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[&id], "QUEUED");
    assert_eq!(list[second.strip_prefix("/jobs/").unwrap()], "QUEUED");
    node.shutdown().await;
}

#[tokio::test]
async fn records_are_checked_against_the_configuration() {
    let node = Node::configured().await;
    let before = node.state().await;

    let mut mismatch = record_body();
    mismatch["fields"] =
        json!({"vorname": "QUJDREVGR0g=", "firstname": "c2VjcmV0", "geburtsjahr": 1987});
    let r = node
        .req(Method::POST, "/linkRecord/DKFZ")
        .json(&mismatch)
        .send()
        .await
        .unwrap();
    assert_eq!(header(&r, "www-authenticate").as_deref(), Some("apiKey"));
    let (status, msg) = error_of(r).await;
    assert_eq!(status, 401);
    assert_eq!(
        msg,
        "fields do not match the configuration: unknown fields [\"firstname\"]; missing fields [\"nachname\"]"
    );

    let mut many = records_body(3);
    many["records"][1]["fields"]["geburtsjahr"] = json!(4095);
    let r = node
        .req(Method::POST, "/matchRecords/DKFZ")
        .json(&many)
        .send()
        .await
        .unwrap();
    let (status, msg) = error_of(r).await;
    assert_eq!(status, 400);
    assert!(
        msg.starts_with("records[1]: field \"geburtsjahr\""),
        "{msg}"
    );
    assert!(!msg.contains("4095"), "no value in the message: {msg}");

    let mut many = records_body(2);
    many["records"][0]["fields"] = json!({"vorname": 1, "nachname": null});
    let r = node
        .req(Method::POST, "/linkRecords/DKFZ")
        .json(&many)
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r).await.0, 401, "a missing name is a mismatch");

    let duplicate = format!(
        r#"{{"callback": {{"url": "{CALLBACK}"}}, "fields": {{"vorname": "QUJD", "vorname": "REVG", "nachname": null, "geburtsjahr": 1}}}}"#
    );
    let r = node
        .req(Method::POST, "/linkRecord/DKFZ")
        .body(duplicate)
        .send()
        .await
        .unwrap();
    let (status, msg) = error_of(r).await;
    assert_eq!(status, 400);
    assert!(msg.contains("duplicate key \"vorname\""), "{msg}");

    let mut bad_callback = record_body();
    bad_callback["callback"]["url"] = json!("ftp://example.org/");
    let mut wrong_type = record_body();
    wrong_type["fields"]["vorname"] = json!(true);
    let mut bitmask = record_body();
    bitmask["fields"]["vorname"] = json!("not base64!");
    for (path, body, needle) in [
        ("/linkRecord/DKFZ", bad_callback, "callback.url"),
        (
            "/linkRecords/DKFZ",
            records_body(0),
            "records must not be empty",
        ),
        ("/linkRecord/DKFZ", wrong_type, "invalid type: boolean"),
        ("/linkRecord/DKFZ", bitmask, "field \"vorname\""),
        (
            "/linkRecord/DKFZ",
            json!([1, 2]),
            "the body is not a valid linkRecord body",
        ),
    ] {
        let r = node
            .req(Method::POST, path)
            .json(&body)
            .send()
            .await
            .unwrap();
        let (status, msg) = error_of(r).await;
        assert_eq!(status, 400, "{msg}");
        assert!(msg.contains(needle), "{msg:?} should contain {needle:?}");
        assert!(!msg.contains("not base64!"), "{msg}");
    }
    for body in ["", "{", "nul", "\u{0}"] {
        let r = node
            .req(Method::POST, "/linkRecord/DKFZ")
            .body(body)
            .send()
            .await
            .unwrap();
        let (status, msg) = error_of(r).await;
        assert_eq!(status, 400);
        assert!(msg.starts_with("the body is not valid JSON"), "{msg}");
    }
    assert_eq!(
        node.state().await,
        before,
        "refused requests change nothing"
    );
    node.shutdown().await;
}

#[tokio::test]
async fn a_body_beyond_the_limit_is_413() {
    let limits = ApiLimits {
        max_body_bytes: 2048,
    };
    let node = Node::configured_with(Settings::default(), limits).await;
    let before = node.state().await;
    let big = records_body(60).to_string();
    assert!(big.len() > 2048);
    let r = node
        .req(Method::POST, "/linkRecords/DKFZ")
        .body(big.clone())
        .send()
        .await
        .unwrap();
    let (status, msg) = error_of(r).await;
    assert_eq!(status, 413);
    assert!(msg.contains("2048"), "{msg}");
    // Without Content-Length (chunked): refused while streaming.
    let mut chunked = String::new();
    for c in big.as_bytes().chunks(500) {
        chunked.push_str(&format!(
            "{:x}\r\n{}\r\n",
            c.len(),
            std::str::from_utf8(c).unwrap()
        ));
    }
    chunked.push_str("0\r\n\r\n");
    let request = format!(
        "POST /linkRecords/DKFZ HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{chunked}",
        auth(KEY)
    );
    let answer = raw(&node, request.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    // A bad key is still 401: the body is not read before the key is checked.
    let r = node
        .anon(Method::POST, "/linkRecords/DKFZ")
        .body(records_body(60).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r).await.0, 401);
    // Within the limit, accepted.
    let r = node
        .req(Method::POST, "/linkRecords/DKFZ")
        .json(&records_body(2))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let after = node.state().await;
    assert_eq!(after.1, before.1);
    assert_eq!(after.0.as_object().unwrap().len(), 1);
    node.shutdown().await;
}

#[tokio::test]
async fn an_idempotency_key_repeats_the_first_202() {
    let node = Node::configured().await;
    let post = |key: &str| {
        node.req(Method::POST, "/linkRecord/DKFZ")
            .header("idempotency-key", key)
            .json(&record_body())
            .send()
    };
    let first = post("order-42").await.unwrap();
    assert_eq!(first.status(), 202);
    let again = post("order-42").await.unwrap();
    assert_eq!(again.status(), 202);
    assert_eq!(header(&again, "location"), header(&first, "location"));
    assert_eq!(
        header(&again, "content-location"),
        header(&first, "location")
    );
    let other = post("order-43").await.unwrap();
    assert_eq!(other.status(), 202);
    assert_ne!(header(&other, "location"), header(&first, "location"));
    assert_eq!(node.jobs().await.as_object().unwrap().len(), 2);

    let long = "k".repeat(256);
    let r = post(&long).await.unwrap();
    let (status, msg) = error_of(r).await;
    assert_eq!(status, 400);
    assert!(msg.contains("Idempotency-Key"), "{msg}");
    assert_eq!(node.jobs().await.as_object().unwrap().len(), 2);
    node.shutdown().await;
}

#[tokio::test]
async fn a_full_queue_is_503_with_retry_after() {
    let settings = Settings {
        max_queued_jobs: 1,
        ..Settings::default()
    };
    let node = Node::configured_with(settings, limits()).await;
    let r = node
        .req(Method::POST, "/matchRecord/DKFZ")
        .json(&record_body())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let before = node.state().await;
    let r = node
        .req(Method::POST, "/linkRecord/DKFZ")
        .json(&record_body())
        .send()
        .await
        .unwrap();
    let retry: u64 = header(&r, "retry-after")
        .expect("Retry-After")
        .parse()
        .unwrap();
    assert!(retry >= 1);
    let (status, msg) = error_of(r).await;
    assert_eq!(status, 503);
    assert!(msg.contains("queue is full"), "{msg}");
    assert_eq!(node.state().await, before);
    // A bad body is still a 400, not a 503 (step 6 before step 8).
    let r = node
        .req(Method::POST, "/linkRecord/DKFZ")
        .body("[")
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r).await.0, 400);
    node.shutdown().await;
}

#[tokio::test]
async fn job_status_404_is_empty_and_cancel_is_202_then_409() {
    let node = Node::configured().await;
    let r = node
        .req(Method::GET, "/jobs/nosuchjob")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert!(
        r.text().await.unwrap().is_empty(),
        "the reference: the body is empty"
    );
    let r = node.req(Method::GET, "/jobs/bad!id").send().await.unwrap();
    assert_eq!(error_of(r).await.0, 400);
    let r = node
        .req(Method::GET, &format!("/jobs/{}", "a".repeat(65)))
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r).await.0, 400);
    let r = node
        .req(Method::DELETE, "/jobs/nosuchjob")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    let r = node
        .req(Method::POST, "/linkRecord/DKFZ")
        .json(&record_body())
        .send()
        .await
        .unwrap();
    let location = header(&r, "location").unwrap();
    let r = node.req(Method::DELETE, &location).send().await.unwrap();
    assert_eq!(r.status(), 202);
    assert_eq!(header(&r, "location").as_deref(), Some(location.as_str()));
    let r = node.req(Method::GET, &location).send().await.unwrap();
    assert_eq!(r.text().await.unwrap(), "FAULT");
    let v: Value = node
        .req(Method::GET, &location)
        .header("accept", "application/json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["status"], "FAULT");
    assert_eq!(v["error"], "cancelled");
    assert!(v["finished"].as_u64().is_some());
    let r = node.req(Method::DELETE, &location).send().await.unwrap();
    let (status, msg) = error_of(r).await;
    assert_eq!(status, 409);
    assert!(msg.contains("already final (FAULT)"), "{msg}");
    node.shutdown().await;
}

#[tokio::test]
async fn metrics_need_the_key_and_count_jobs_and_requests() {
    let node = Node::configured().await;
    let r = node.anon(Method::GET, "/metrics").send().await.unwrap();
    assert_eq!(error_of(r).await.0, 401);
    let r = node
        .req(Method::POST, "/linkRecord/DKFZ")
        .json(&record_body())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let r = node.req(Method::GET, "/metrics").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        header(&r, "content-type")
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = r.text().await.unwrap();
    assert!(
        text.contains("sel_node_jobs{mode=\"linkage\",status=\"QUEUED\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("# TYPE sel_node_comparisons_total counter"),
        "{text}"
    );
    assert!(
        text.contains("sel_node_job_duration_seconds_count"),
        "{text}"
    );
    assert!(
        text.contains("sel_node_http_requests_total{endpoint=\"linkRecord\",status=\"202\"} 1"),
        "{text}"
    );
    assert!(text.contains("sel_node_http_requests_total{endpoint=\"metrics\",status=\"401\"} 1"));
    assert!(!text.contains(KEY));
    node.shutdown().await;
}

#[tokio::test]
async fn garbage_never_takes_the_node_down() {
    let node = Node::configured().await;
    let deep = format!("{}{}", "[".repeat(20_000), "]".repeat(20_000));
    for (method, path, body) in [
        (Method::POST, "/linkRecord/DKFZ", "[".repeat(5000)),
        (Method::POST, "/linkRecords/DKFZ", deep),
        (Method::PUT, "/initRemote/DKFZ", "\"\\ud800\"".to_string()),
        (
            Method::PUT,
            "/initLocal",
            "{\"localId\": 1e999}".to_string(),
        ),
        (Method::GET, "/jobs/%00%ff", String::new()),
        (Method::POST, "/linkRecord/%C3%A9", "{}".to_string()),
    ] {
        let r = node
            .req(method.clone(), path)
            .body(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        assert!((400..500).contains(&status), "{method} {path}: {status}");
    }
    // Bytes that are not a valid header value, and not even HTTP.
    let answer = raw(
        &node,
        b"GET /jobs/list HTTP/1.1\r\nHost: x\r\nAuthorization: apiKey apiKey=\"\xff\xfe\"\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    let _ = raw(&node, b"\x00\x01garbage\r\n\r\n").await;
    let r = node.anon(Method::GET, "/health").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(node.jobs().await, json!({}));
    node.shutdown().await;
}

#[tokio::test]
async fn two_first_configurations_racing_cannot_both_win() {
    for _ in 0..5 {
        let node = Node::plain().await;
        let a = node
            .anon(Method::PUT, "/initLocal")
            .json(&init_local("key-a"))
            .send();
        let b = node
            .anon(Method::PUT, "/initLocal")
            .json(&init_local("key-b"))
            .send();
        let (a, b) = tokio::join!(a, b);
        let mut statuses = [a.unwrap().status().as_u16(), b.unwrap().status().as_u16()];
        statuses.sort();
        assert_eq!(statuses, [204, 401], "the second needs the first one's key");
        node.shutdown().await;
    }
}

#[tokio::test]
async fn a_large_refused_body_still_gets_its_answer() {
    let node = Node::configured().await;
    let big = vec![b'x'; 3 << 20];
    let r = node
        .anon(Method::POST, "/linkRecords/DKFZ")
        .body(big.clone())
        .send()
        .await
        .expect("the client reads the 401, not a reset");
    assert_eq!(error_of(r).await.0, 401);
    let r = node
        .req(Method::POST, "/linkRecords/DKFZ")
        .body(big)
        .send()
        .await
        .expect("the client reads the 413, not a reset");
    assert_eq!(error_of(r).await.0, 413);
    node.shutdown().await;
}
