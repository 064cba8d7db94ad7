//! The linkage service over real HTTPS on 127.0.0.1 (port 0).

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::{Harness, share, status_json};
use linkage_service::lid::{LidError, open_lid};
use linkage_service::service::ServiceConfig;
use linkage_service::store::LidOrigin;
use serde_json::{Value, json};

fn config() -> ServiceConfig {
    ServiceConfig {
        max_fresh_ids: 1000,
        ..ServiceConfig::default()
    }
}

#[tokio::test]
async fn fresh_ids_are_unique_and_sealed_for_the_requesting_site_only() {
    let h = Harness::start(config()).await;
    let ids = h.fresh_ids(&h.a, 200).await;
    assert_eq!(ids.len(), 200);
    let lids: Vec<_> = ids.iter().map(|s| h.a.open(s)).collect();
    let distinct: HashSet<_> = lids.iter().map(|l| *l.as_bytes()).collect();
    assert_eq!(distinct.len(), 200, "LIDs must be unique");
    for sealed in &ids {
        assert_eq!(
            open_lid(&h.b.lid_key, "A", sealed),
            Err(LidError::AuthenticationFailed)
        );
        assert_eq!(
            open_lid(&h.b.lid_key, "B", sealed),
            Err(LidError::AuthenticationFailed)
        );
    }
    // Every issued LID is on record, attributed to A.
    for lid in &lids {
        let rec = h
            .store
            .issued_lid(&h.master, lid.as_bytes())
            .unwrap()
            .unwrap();
        assert_eq!(rec.site, "A");
        assert_eq!(rec.origin, LidOrigin::FreshIds);
    }
}

#[tokio::test]
async fn fresh_ids_reject_bad_count_syntax() {
    let h = Harness::start(config()).await;
    let auth = h.a.auth();
    for (query, needle) in [
        ("", "missing"),
        ("?count=0", "positive integer"),
        ("?count=-4", "positive integer"),
        ("?count=ten", "positive integer"),
        ("?count=1001", "at most 1000"),
        ("?count=2&count=3", "more than once"),
    ] {
        let (status, body) =
            status_json(h.get(&format!("/freshIDs/A{query}"), Some(&auth)).await).await;
        assert_eq!(status, 400, "{query}");
        let msg = body["error"].as_str().unwrap();
        assert!(msg.contains(needle), "{query}: {msg}");
    }
}

#[tokio::test]
async fn authentication_failures_get_401() {
    let h = Harness::start(config()).await;
    // Missing header.
    let resp = h.get("/freshIDs/A?count=1", None).await;
    assert_eq!(resp.status(), 401);
    assert_eq!(resp.headers()["www-authenticate"], "apiKey");
    // Wrong key.
    let (s, body) = status_json(
        h.get("/freshIDs/A?count=1", Some("apiKey apiKey=\"not-a-key\""))
            .await,
    )
    .await;
    assert_eq!(s, 401);
    assert!(body["error"].as_str().unwrap().contains("not valid"));
    // Other scheme.
    let (s, _) = status_json(h.get("/test", Some("Bearer abc")).await).await;
    assert_eq!(s, 401);
    // A asks for B's IDs.
    let (s, body) = status_json(h.get("/freshIDs/B?count=1", Some(&h.a.auth())).await).await;
    assert_eq!(s, 401);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("authenticated as site A")
    );
    // /test works for a registered site, not without a key.
    let resp = h.get("/test", Some(&h.b.auth())).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "Linkage Service connected");
    assert_eq!(h.get("/test", None).await.status(), 401);
    // A revoked site is locked out at once.
    linkage_service::admin::revoke(&h.store, "B").unwrap();
    assert_eq!(h.get("/test", Some(&h.b.auth())).await.status(), 401);
    assert_eq!(
        h.get("/freshIDs/B?count=1", Some(&h.b.auth()))
            .await
            .status(),
        401
    );
    // Authenticated as B on a linkage post for A.
    let (s, _) = status_json(
        h.post(
            "/linkageResult/A/C",
            Some(&h.c.auth()),
            None,
            r#"{"role":"client","result":[]}"#,
        )
        .await,
    )
    .await;
    assert_eq!(s, 401);
}

/// Posts the two halves of one job concurrently; returns (server, client)
/// status and body.
async fn run_job(
    h: &Harness,
    server_body: Value,
    client_body: Value,
    job: Option<&str>,
) -> ((u16, Value), (u16, Value)) {
    let b_auth = h.b.auth();
    let server = h.post(
        "/linkageResult/B/A",
        Some(&b_auth),
        job,
        server_body.to_string(),
    );
    let client = async {
        // Let the server's post arrive first in half of the runs.
        if rand::random::<bool>() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        h.post(
            "/linkageResult/A/B",
            Some(&h.a.auth()),
            job,
            client_body.to_string(),
        )
        .await
    };
    let (s, c) = tokio::join!(server, client);
    (status_json(s).await, status_json(c).await)
}

#[tokio::test]
async fn a_job_with_match_non_match_and_tentative_records() {
    let h = Harness::start(config()).await;
    // B is the server: its database holds 4 records with LIDs from /freshIDs.
    let b_ids = h.fresh_ids(&h.b, 4).await;
    let b_lids: Vec<_> = b_ids.iter().map(|s| h.b.open(s)).collect();
    // A queries 4 records: match at 2, no match, tentative at 1, and a match
    // whose tentative bit is set as well (EpiLink sets both) at 0.
    let clear = [
        (true, true, 2),
        (false, false, 3),
        (false, true, 1),
        (true, true, 0),
    ];
    let (server_shares, client_shares) = share(&clear);
    let ((ss, sbody), (cs, cbody)) = run_job(
        &h,
        json!({"role": "server", "result": server_shares, "ids": b_ids}),
        json!({"role": "client", "result": client_shares}),
        None,
    )
    .await;
    assert_eq!((ss, cs), (200, 200), "{sbody} {cbody}");
    // The server learns nothing about which of its rows matched.
    assert_eq!(sbody, json!({"result": []}));
    assert!(cbody.get("warning").is_none() && cbody.get("error").is_none());
    let items = cbody["result"].as_array().unwrap();
    assert_eq!(items.len(), 4);
    let lid = |i: usize| h.a.open(items[i]["linkageId"].as_str().unwrap());
    // Match: the client holds B's LID, re-sealed for A.
    assert_eq!(lid(0), b_lids[2]);
    assert_eq!(lid(3), b_lids[0]);
    assert!(items[0].get("tentative").is_none());
    // B's key cannot open what A got.
    let sealed0 = items[0]["linkageId"].as_str().unwrap();
    assert!(open_lid(&h.b.lid_key, "A", sealed0).is_err());
    assert!(open_lid(&h.b.lid_key, "B", sealed0).is_err());
    // No match: a fresh LID, recorded.
    let fresh = lid(1);
    assert!(!b_lids.contains(&fresh));
    let rec = h
        .store
        .issued_lid(&h.master, fresh.as_bytes())
        .unwrap()
        .unwrap();
    assert_eq!((rec.site.as_str(), rec.origin), ("A", LidOrigin::NoMatch));
    // Tentative: a fresh LID, marked, and the pair kept for review.
    assert_eq!(items[2]["tentative"], json!(true));
    let tentative = lid(2);
    assert!(!b_lids.contains(&tentative));
    let reviews = h.store.reviews(&h.master).unwrap();
    assert_eq!(reviews.len(), 1);
    let pair = &reviews[0].1;
    assert_eq!(
        (pair.client_site.as_str(), pair.server_site.as_str()),
        ("A", "B")
    );
    assert_eq!((pair.record_index, pair.server_index), (2, 1));
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    assert_eq!(pair.fresh_lid, b64.encode(tentative.as_bytes()));
    assert_eq!(pair.server_lid, b64.encode(b_lids[1].as_bytes()));
    // The admin listing shows the pair without its LIDs.
    let listed = linkage_service::admin::list_reviews(&h.store, &h.master).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].record_index, listed[0].server_index), (2, 1));
    let text = serde_json::to_string(&listed).unwrap();
    assert!(!text.contains(&pair.fresh_lid) && !text.contains(&pair.server_lid));
}

#[tokio::test]
async fn job_ids_pair_posts_and_a_tolerant_reader_accepts_mainsel_spellings() {
    let h = Harness::start(config()).await;
    let b_ids = h.fresh_ids(&h.b, 3).await;
    let b_lids: Vec<_> = b_ids.iter().map(|s| h.b.open(s)).collect();
    // MainSEL's script style: `result` a single object, snake_case and bestId
    // as a string. Shares: match=1, tentative=1, index 1.
    let server = json!({"role": "server", "jobId": "job-7",
        "result": {"match": 1, "tentative_match": 0, "bestId": "5"}, "ids": b_ids});
    let client = json!({"role": "client",
        "result": {"match": 0, "tentative_match": 1, "bestId": "4"}});
    let ((ss, sbody), (cs, cbody)) = run_job(&h, server, client, Some("job-7")).await;
    assert_eq!((ss, cs), (200, 200), "{sbody} {cbody}");
    let items = cbody["result"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(h.a.open(items[0]["linkageId"].as_str().unwrap()), b_lids[1]);
}

#[tokio::test]
async fn an_out_of_range_best_index_is_a_per_record_warning() {
    let h = Harness::start(config()).await;
    let b_ids = h.fresh_ids(&h.b, 2).await;
    let (server_shares, client_shares) = share(&[(false, false, 0), (true, true, 10)]);
    let ((ss, sbody), (cs, cbody)) = run_job(
        &h,
        json!({"role": "server", "result": server_shares, "ids": b_ids}),
        json!({"role": "client", "result": client_shares}),
        None,
    )
    .await;
    assert_eq!((ss, cs), (200, 200));
    assert_eq!(
        sbody,
        json!({"result": []}),
        "no record detail for the server"
    );
    let items = cbody["result"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert!(items[0]["linkageId"].is_string());
    assert_eq!(items[1], json!({}), "no LID for the broken record");
    let warning = cbody["warning"].as_str().unwrap();
    assert!(warning.contains("record 1") && warning.contains("best index 10"));
}

#[tokio::test]
async fn a_lonely_post_times_out_with_504() {
    let h = Harness::start(ServiceConfig {
        job_timeout: Duration::from_millis(300),
        ..config()
    })
    .await;
    let (_, client_shares) = share(&[(false, false, 0)]);
    let (s, body) = status_json(
        h.post(
            "/linkageResult/A/B",
            Some(&h.a.auth()),
            None,
            json!({"role": "client", "result": client_shares}).to_string(),
        )
        .await,
    )
    .await;
    assert_eq!(s, 504);
    let msg = body["error"].as_str().unwrap();
    assert!(msg.contains("timeout") && msg.contains("site B"), "{msg}");
    assert_eq!(body.as_object().unwrap().len(), 1, "only the error: {body}");
    let metrics = h.get("/metrics", None).await.text().await.unwrap();
    assert!(metrics.contains("ls_jobs_timed_out_total 1\n"), "{metrics}");
    assert!(metrics.contains("ls_pending_posts 0\n"));
}

/// Posts `body` as site A to `/linkageResult/{path}`; returns status and error.
async fn post_as_a_to(h: &Harness, path: &str, job: Option<&str>, body: &str) -> (u16, String) {
    let (s, b) = status_json(
        h.post(
            &format!("/linkageResult/{path}"),
            Some(&h.a.auth()),
            job,
            body.to_string(),
        )
        .await,
    )
    .await;
    (s, b["error"].as_str().unwrap_or_default().to_string())
}

/// Posts `body` as A, the client side of A→B.
async fn post_as_a(h: &Harness, body: &str) -> (u16, String) {
    post_as_a_to(h, "A/B", None, body).await
}

#[tokio::test]
async fn malformed_posts_are_refused_with_precise_errors() {
    let h = Harness::start(config()).await;
    let a_ids = h.fresh_ids(&h.a, 2).await;
    let one = r#"[{"match":0,"tentativeMatch":0,"bestIndex":0}]"#;

    let (s, e) = post_as_a(&h, "{not json").await;
    assert_eq!(s, 400);
    assert!(e.contains("not a valid linkage result"), "{e}");

    let (s, e) = post_as_a(&h, &format!(r#"{{"role":"judge","result":{one}}}"#)).await;
    assert_eq!(s, 400);
    assert!(e.contains("unknown variant `judge`"), "{e}");

    let (s, e) = post_as_a(
        &h,
        r#"{"role":"client","result":[{"match":3,"tentativeMatch":0,"bestIndex":0}]}"#,
    )
    .await;
    assert_eq!(s, 400);
    assert!(e.contains("bit share"), "{e}");

    let (s, e) = post_as_a(&h, &format!(r#"{{"role":"server","result":{one}}}"#)).await;
    assert_eq!(s, 400);
    assert!(e.contains("\"ids\""), "{e}");

    let (s, e) = post_as_a(
        &h,
        &format!(
            r#"{{"role":"server","result":{one},"ids":["{}","%%%"]}}"#,
            a_ids[0]
        ),
    )
    .await;
    assert_eq!(s, 400);
    assert!(e.starts_with("ids[1] not valid base64"), "{e}");

    // As the server, A must send LIDs sealed for A; B's LIDs fail the check.
    let b_ids = h.fresh_ids(&h.b, 1).await;
    let (s, e) = post_as_a(
        &h,
        &format!(
            r#"{{"role":"server","result":{one},"ids":["{}"]}}"#,
            b_ids[0]
        ),
    )
    .await;
    assert_eq!(s, 400);
    assert!(e.contains("ids[0] fails the AES-GCM check"), "{e}");

    let (s, e) = post_as_a(
        &h,
        &format!(
            r#"{{"role":"client","result":{one},"ids":["{}"]}}"#,
            a_ids[0]
        ),
    )
    .await;
    assert_eq!(s, 400);
    assert!(e.contains("must not carry"), "{e}");

    let (s, e) = post_as_a(&h, r#"{"role":"client","result":[]}"#).await;
    assert_eq!(s, 400);
    assert!(e.contains("no share records"), "{e}");

    let client = format!(r#"{{"role":"client","result":{one}}}"#);
    let (s, e) = post_as_a_to(&h, "A/A", None, &client).await;
    assert_eq!(s, 400);
    assert!(e.contains("two sites"), "{e}");

    let (s, e) = post_as_a_to(&h, "A/Nobody", None, &client).await;
    assert_eq!(s, 400);
    assert!(e.contains("not registered"), "{e}");

    let (s, e) = post_as_a_to(
        &h,
        "A/B",
        Some("j1"),
        &format!(r#"{{"role":"client","jobId":"j2","result":{one}}}"#),
    )
    .await;
    assert_eq!(s, 400);
    assert!(e.contains("differs"), "{e}");
}

#[tokio::test]
async fn paired_posts_that_disagree_fail_on_both_sides() {
    let h = Harness::start(config()).await;
    let b_ids = h.fresh_ids(&h.b, 2).await;
    // Both claim to be the client (paired by job id).
    let (_, client_shares) = share(&[(false, false, 0)]);
    let ((ss, sbody), (cs, cbody)) = run_job(
        &h,
        json!({"role": "client", "result": client_shares}),
        json!({"role": "client", "result": client_shares}),
        Some("same-role"),
    )
    .await;
    assert_eq!((ss, cs), (400, 400));
    assert!(sbody["error"].as_str().unwrap().contains("both posts"));
    assert_eq!(sbody, cbody);
    // Different numbers of records.
    let (server_shares, _) = share(&[(false, false, 0), (true, true, 1)]);
    let (_, client_shares) = share(&[(false, false, 0)]);
    let ((ss, sbody), (cs, _)) = run_job(
        &h,
        json!({"role": "server", "result": server_shares, "ids": b_ids}),
        json!({"role": "client", "result": client_shares}),
        None,
    )
    .await;
    assert_eq!((ss, cs), (400, 400));
    assert!(
        sbody["error"]
            .as_str()
            .unwrap()
            .contains("server sent 2 share records but the client sent 1")
    );
}

#[tokio::test]
async fn duplicate_posts_and_full_queues_are_refused() {
    let h = Harness::start(ServiceConfig {
        max_pending_posts: 1,
        retry_after_secs: 3,
        job_timeout: Duration::from_secs(5),
        ..config()
    })
    .await;
    let (_, client_shares) = share(&[(false, false, 0)]);
    let body = json!({"role": "client", "result": client_shares}).to_string();
    let a_auth = h.a.auth();
    let waiting = h.post(
        "/linkageResult/A/B",
        Some(&a_auth),
        Some("dup"),
        body.clone(),
    );
    let probes = async {
        // Give the first post time to be queued.
        let mut pending = false;
        for _ in 0..100 {
            let m = h.get("/metrics", None).await.text().await.unwrap();
            if m.contains("ls_pending_posts 1\n") {
                pending = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(pending, "first post never queued");
        let dup = h
            .post(
                "/linkageResult/A/B",
                Some(&h.a.auth()),
                Some("dup"),
                body.clone(),
            )
            .await;
        let (s, e) = status_json(dup).await;
        assert_eq!(s, 409, "{e}");
        let full = h
            .post("/linkageResult/A/C", Some(&h.a.auth()), None, body.clone())
            .await;
        assert_eq!(full.status(), 503);
        assert_eq!(full.headers()["retry-after"], "3");
        // The partner of the waiting post releases it.
        let b_ids = h.fresh_ids(&h.b, 1).await;
        let server = json!({"role": "server", "result": [{"match": 0, "tentativeMatch": 0, "bestIndex": 0}], "ids": b_ids});
        let resp = h
            .post(
                "/linkageResult/B/A",
                Some(&h.b.auth()),
                Some("dup"),
                server.to_string(),
            )
            .await;
        assert_eq!(resp.status(), 200);
    };
    let (first, ()) = tokio::join!(waiting, probes);
    let (s, body) = status_json(first).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["result"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn health_metrics_and_unknown_routes() {
    let h = Harness::start(config()).await;
    let resp = h.get("/health", None).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "OK");
    let b_ids = h.fresh_ids(&h.b, 3).await;
    let (server_shares, client_shares) = share(&[(true, true, 1), (false, false, 0)]);
    let ((ss, _), (cs, _)) = run_job(
        &h,
        json!({"role": "server", "result": server_shares, "ids": b_ids}),
        json!({"role": "client", "result": client_shares}),
        None,
    )
    .await;
    assert_eq!((ss, cs), (200, 200));
    assert_eq!(h.get("/nowhere", None).await.status(), 404);
    assert_eq!(h.get("/linkageResult/A/B", None).await.status(), 405);
    let resp = h.get("/metrics", None).await;
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = resp.text().await.unwrap();
    for line in [
        "ls_http_requests_total{route=\"health\",status=\"200\"} 1\n",
        "ls_http_requests_total{route=\"freshIDs\",status=\"200\"} 1\n",
        "ls_http_requests_total{route=\"linkageResult\",status=\"200\"} 2\n",
        "ls_http_requests_total{route=\"other\",status=\"404\"} 1\n",
        "ls_http_requests_total{route=\"linkageResult\",status=\"405\"} 1\n",
        "ls_jobs_paired_total 1\n",
        "ls_jobs_timed_out_total 0\n",
        "ls_lids_issued_total{source=\"freshIDs\"} 3\n",
        "ls_lids_issued_total{source=\"linkageResult\"} 2\n",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
}

#[tokio::test]
async fn oversized_bodies_get_413() {
    let h = Harness::start(ServiceConfig {
        max_body_bytes: 64,
        ..config()
    })
    .await;
    let body = format!(
        r#"{{"role":"client","result":[],"pad":"{}"}}"#,
        "x".repeat(100)
    );
    let resp = h
        .post("/linkageResult/A/B", Some(&h.a.auth()), None, body)
        .await;
    assert_eq!(resp.status(), 413);
}
