//! The linkage service over real HTTPS on 127.0.0.1 (port 0).

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::{Harness, client_body, new_tag, server_body, share, status_json};
use linkage_service::lid::{LidError, open_lid};
use linkage_service::service::ServiceConfig;
use linkage_service::store::LidOrigin;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Bound on waits that must not hang; never reached when the code is right.
const NO_HANG: Duration = Duration::from_secs(10);

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
    // Authenticated as C on a linkage post for A.
    let (s, _) = status_json(
        h.post(
            "/linkageResult/A/C",
            Some(&h.c.auth()),
            r#"{"role":"client","result":[]}"#,
        )
        .await,
    )
    .await;
    assert_eq!(s, 401);
}

/// Posts the two halves of one job concurrently; returns (server, client)
/// status and body.
async fn run_job(h: &Harness, server: Value, client: Value) -> ((u16, Value), (u16, Value)) {
    let (b_auth, a_auth) = (h.b.auth(), h.a.auth());
    let server = h.post("/linkageResult/B/A", Some(&b_auth), server.to_string());
    let client = async {
        // Let the server's post arrive first in half of the runs.
        if rand::random::<bool>() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        h.post("/linkageResult/A/B", Some(&a_auth), client.to_string())
            .await
    };
    let (s, c) = tokio::join!(server, client);
    (status_json(s).await, status_json(c).await)
}

/// Waits until the service reports `n` waiting posts.
async fn until_pending(h: &Harness, n: usize) {
    let line = format!("ls_pending_posts {n}\n");
    for _ in 0..500 {
        let m = h.get("/metrics", None).await.text().await.unwrap();
        if m.contains(&line) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("never saw {n} pending posts");
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
    let tag = new_tag();
    let ((ss, sbody), (cs, cbody)) = run_job(
        &h,
        server_body(&tag, &server_shares, &b_ids),
        client_body(&tag, &client_shares, 4),
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
    assert_eq!(pair.job_id.as_deref(), Some(tag.as_str()));
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
async fn a_tolerant_reader_accepts_mainsel_spellings() {
    let h = Harness::start(config()).await;
    let b_ids = h.fresh_ids(&h.b, 3).await;
    let b_lids: Vec<_> = b_ids.iter().map(|s| h.b.open(s)).collect();
    // MainSEL's script style: `result` a single object, snake_case and bestId
    // as a string. Shares: match=1, tentative=1, index 1.
    let tag = new_tag();
    let server = server_body(
        &tag,
        &json!({"match": 1, "tentative_match": 0, "bestId": "5"}),
        &b_ids,
    );
    let client = client_body(
        &tag,
        &json!({"match": 0, "tentative_match": 1, "bestId": "4"}),
        3,
    );
    let ((ss, sbody), (cs, cbody)) = run_job(&h, server, client).await;
    assert_eq!((ss, cs), (200, 200), "{sbody} {cbody}");
    let items = cbody["result"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(h.a.open(items[0]["linkageId"].as_str().unwrap()), b_lids[1]);
}

/// Issue 9, item 7: two jobs of the same site pair and size in flight at
/// once, their posts arriving crossed. Pairing by arrival order gave the
/// client of job 2 the server's shares of job 1 (LIDs of unrelated rows);
/// pairing by job tag cannot.
#[tokio::test]
async fn crossed_jobs_of_equal_size_are_paired_by_their_tags() {
    let h = Harness::start(config()).await;
    let (a_auth, b_auth) = (h.a.auth(), h.b.auth());
    let ids = [h.fresh_ids(&h.b, 2).await, h.fresh_ids(&h.b, 2).await];
    let lids: Vec<Vec<_>> = ids
        .iter()
        .map(|job| job.iter().map(|s| h.b.open(s)).collect())
        .collect();
    let tags = [new_tag(), new_tag()];
    let shares = [
        share(&[(true, true, 0), (true, true, 1)]),
        share(&[(true, true, 1), (true, true, 0)]),
    ];
    let server = |j: usize| server_body(&tags[j], &shares[j].0, &ids[j]).to_string();
    let client = |j: usize| client_body(&tags[j], &shares[j].1, 2).to_string();
    // Servers of job 1 and job 2 wait; then the client of job 2 arrives first.
    let s1 = h.post("/linkageResult/B/A", Some(&b_auth), server(0));
    let rest = async {
        until_pending(&h, 1).await;
        let s2 = h.post("/linkageResult/B/A", Some(&b_auth), server(1));
        let clients = async {
            until_pending(&h, 2).await;
            let c2 =
                status_json(h.post("/linkageResult/A/B", Some(&a_auth), client(1)).await).await;
            let c1 =
                status_json(h.post("/linkageResult/A/B", Some(&a_auth), client(0)).await).await;
            (c1, c2)
        };
        let (s2, cs) = tokio::join!(s2, clients);
        (s2.status().as_u16(), cs)
    };
    let (s1, (s2, ((c1s, c1), (c2s, c2)))) = tokio::join!(s1, rest);
    assert_eq!(
        (s1.status().as_u16(), s2, c1s, c2s),
        (200, 200, 200, 200),
        "{c1} {c2}"
    );
    let opened =
        |body: &Value, i: usize| h.a.open(body["result"][i]["linkageId"].as_str().unwrap());
    assert_eq!(
        (opened(&c1, 0), opened(&c1, 1)),
        (lids[0][0].clone(), lids[0][1].clone())
    );
    assert_eq!(
        (opened(&c2, 0), opened(&c2, 1)),
        (lids[1][1].clone(), lids[1][0].clone())
    );
}

/// Issue 9, item 8: a combined index beyond the server's LIDs used to be
/// echoed to the client in a warning (the client learned a server row).
/// Now the whole job fails, both sides get the same generic 400, and no
/// index or record position appears.
#[tokio::test]
async fn an_out_of_range_best_index_fails_the_job_without_echoing_it() {
    let h = Harness::start(config()).await;
    let b_ids = h.fresh_ids(&h.b, 2).await;
    let (server_shares, client_shares) = share(&[(false, false, 0), (true, true, 1234)]);
    let tag = new_tag();
    let ((ss, sbody), (cs, cbody)) = run_job(
        &h,
        server_body(&tag, &server_shares, &b_ids),
        client_body(&tag, &client_shares, 2),
    )
    .await;
    assert_eq!((ss, cs), (400, 400), "{sbody} {cbody}");
    assert_eq!(sbody, cbody);
    let text = cbody.to_string();
    assert!(text.contains("inconsistent"), "{text}");
    assert!(!text.contains("1234") && !text.contains("record"), "{text}");
    assert_eq!(
        cbody.as_object().unwrap().len(),
        1,
        "only the error: {text}"
    );
    // Nothing was issued for the job.
    assert_eq!(h.store.issued_lid_count().unwrap(), 2);
}

/// Issue 9, item 8: the server must send exactly N LIDs (an empty list was
/// accepted before).
#[tokio::test]
async fn short_or_empty_lid_lists_are_refused() {
    let h = Harness::start(config()).await;
    let b_ids = h.fresh_ids(&h.b, 3).await;
    let (server_shares, _) = share(&[(false, false, 0)]);
    let tag = new_tag();
    for ids in [&b_ids[..0], &b_ids[..2]] {
        let mut body = server_body(&tag, &server_shares, &b_ids);
        body["ids"] = json!(ids);
        let (s, body) = status_json(
            h.post("/linkageResult/B/A", Some(&h.b.auth()), body.to_string())
                .await,
        )
        .await;
        assert_eq!(s, 400);
        let e = body["error"].as_str().unwrap();
        assert!(
            e.contains(&format!(
                "ids has {} entries but databaseRecords is 3",
                ids.len()
            )),
            "{e}"
        );
    }
}

/// Issue 9, item 10: a server site may only present LIDs this service gave
/// it. A LID it sealed itself under its own key (valid AES-GCM, never
/// issued) is refused; a LID it received as the client of a match is its own.
#[tokio::test]
async fn server_lids_must_be_ones_the_service_gave_that_site() {
    let h = Harness::start(config()).await;
    let b_ids = h.fresh_ids(&h.b, 2).await;
    let mut rng = rand::rng();
    let forged = linkage_service::lid::seal_lid(
        &h.b.lid_key,
        "B",
        &linkage_service::lid::Lid::random(&mut rng),
        &mut rng,
    );
    let (server_shares, _) = share(&[(false, false, 0)]);
    let ids = vec![b_ids[0].clone(), forged];
    let (s, body) = status_json(
        h.post(
            "/linkageResult/B/A",
            Some(&h.b.auth()),
            server_body(&new_tag(), &server_shares, &ids).to_string(),
        )
        .await,
    )
    .await;
    assert_eq!(s, 400);
    let e = body["error"].as_str().unwrap();
    assert!(
        e.starts_with("ids[1] is not a linkage ID this service issued"),
        "{e}"
    );
    // A's LIDs are not B's either (sealed for B by a site that knows B's key
    // would still fail: only B's own issued or held LIDs count).
    // A gets B's LID on a match, and may then serve with it.
    let (server_shares, client_shares) = share(&[(true, true, 1)]);
    let tag = new_tag();
    let (_, (cs, cbody)) = run_job(
        &h,
        server_body(&tag, &server_shares, &b_ids),
        client_body(&tag, &client_shares, 2),
    )
    .await;
    assert_eq!(cs, 200, "{cbody}");
    let a_fresh = h.fresh_ids(&h.a, 1).await;
    let a_ids = vec![
        a_fresh[0].clone(),
        cbody["result"][0]["linkageId"]
            .as_str()
            .unwrap()
            .to_string(),
    ];
    let (server_shares, client_shares) = share(&[(true, true, 1)]);
    let tag = new_tag();
    let a_auth = h.a.auth();
    let c_auth = h.c.auth();
    let (s, c) = tokio::join!(
        h.post(
            "/linkageResult/A/C",
            Some(&a_auth),
            server_body(&tag, &server_shares, &a_ids).to_string()
        ),
        h.post(
            "/linkageResult/C/A",
            Some(&c_auth),
            client_body(&tag, &client_shares, 2).to_string()
        )
    );
    let (c_status, c_body) = status_json(c).await;
    assert_eq!((s.status().as_u16(), c_status), (200, 200), "{c_body}");
    let got = open_lid(
        &h.c.lid_key,
        "C",
        c_body["result"][0]["linkageId"].as_str().unwrap(),
    )
    .unwrap();
    assert_eq!(got, h.b.open(&b_ids[1]), "the LID travelled B -> A -> C");
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
            client_body(&new_tag(), &client_shares, 1).to_string(),
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
async fn post_as_a_to(h: &Harness, path: &str, body: &str) -> (u16, String) {
    let (s, b) = status_json(
        h.post(
            &format!("/linkageResult/{path}"),
            Some(&h.a.auth()),
            body.to_string(),
        )
        .await,
    )
    .await;
    (s, b["error"].as_str().unwrap_or_default().to_string())
}

/// Posts `body` as A, the client side of A→B.
async fn post_as_a(h: &Harness, body: &Value) -> (u16, String) {
    post_as_a_to(h, "A/B", &body.to_string()).await
}

#[tokio::test]
async fn malformed_posts_are_refused_with_precise_errors() {
    let h = Harness::start(config()).await;
    let a_ids = h.fresh_ids(&h.a, 2).await;
    let one = json!([{"match":0,"tentativeMatch":0,"bestIndex":0}]);
    let tag = new_tag();
    let client = client_body(&tag, &one, 2);
    let server = server_body(&tag, &one, &a_ids);

    let (s, e) = post_as_a_to(&h, "A/B", "{not json").await;
    assert_eq!(s, 400);
    assert!(e.contains("not a valid linkage result"), "{e}");

    // Each mandatory field, when absent, is named.
    for field in ["jobTag", "queryRecords", "databaseRecords"] {
        let mut body = client.clone();
        body.as_object_mut().unwrap().remove(field);
        let (s, e) = post_as_a(&h, &body).await;
        assert_eq!(s, 400);
        assert!(e.contains(&format!("missing field `{field}`")), "{e}");
    }
    let with = |field: &str, value: Value| {
        let mut body = client.clone();
        body[field] = value;
        body
    };
    for (body, needle) in [
        (with("role", json!("judge")), "unknown variant `judge`"),
        (
            with("jobTag", json!("job-7")),
            "jobTag must be 64 lowercase hex",
        ),
        (
            with("jobTag", json!(tag.to_uppercase())),
            "jobTag must be 64 lowercase hex",
        ),
        (
            with("queryRecords", json!(0)),
            "queryRecords must be at least 1",
        ),
        (with("queryRecords", json!("1")), "queryRecords"),
        (
            with("databaseRecords", json!(0)),
            "databaseRecords must be at least 1",
        ),
        (
            with("queryRecords", json!(2)),
            "result has 1 share records but queryRecords is 2",
        ),
        (
            with(
                "result",
                json!([{"match":3,"tentativeMatch":0,"bestIndex":0}]),
            ),
            "bit share",
        ),
        (with("ids", json!([a_ids[0]])), "must not carry"),
    ] {
        let (s, e) = post_as_a(&h, &body).await;
        assert_eq!(s, 400, "{body}");
        assert!(e.contains(needle), "{needle}: {e}");
    }

    let mut no_ids = server.clone();
    no_ids.as_object_mut().unwrap().remove("ids");
    let (s, e) = post_as_a(&h, &no_ids).await;
    assert_eq!(s, 400);
    assert!(e.contains("\"ids\""), "{e}");

    let mut bad = server.clone();
    bad["ids"] = json!([a_ids[0], "%%%"]);
    let (s, e) = post_as_a(&h, &bad).await;
    assert_eq!(s, 400);
    assert!(e.starts_with("ids[1] not valid base64"), "{e}");

    // As the server, A must send LIDs sealed for A; B's LIDs fail the check.
    let b_ids = h.fresh_ids(&h.b, 2).await;
    let (s, e) = post_as_a(&h, &server_body(&tag, &one, &b_ids)).await;
    assert_eq!(s, 400);
    assert!(e.contains("ids[0] fails the AES-GCM check"), "{e}");

    let (s, e) = post_as_a_to(&h, "A/A", &client.to_string()).await;
    assert_eq!(s, 400);
    assert!(e.contains("two sites"), "{e}");

    let (s, e) = post_as_a_to(&h, "A/Nobody", &client.to_string()).await;
    assert_eq!(s, 400);
    assert!(e.contains("not registered"), "{e}");
    assert_eq!(h.get("/metrics", None).await.status(), 200);
}

#[tokio::test]
async fn paired_posts_that_disagree_fail_on_both_sides() {
    let h = Harness::start(config()).await;
    let b_ids = h.fresh_ids(&h.b, 2).await;
    // Both claim to be the client.
    let (_, client_shares) = share(&[(false, false, 0)]);
    let tag = new_tag();
    let ((ss, sbody), (cs, cbody)) = run_job(
        &h,
        client_body(&tag, &client_shares, 2),
        client_body(&tag, &client_shares, 2),
    )
    .await;
    assert_eq!((ss, cs), (400, 400));
    assert!(sbody["error"].as_str().unwrap().contains("both posts"));
    assert_eq!(sbody, cbody);
    // Different numbers of query records.
    let (server_shares, _) = share(&[(false, false, 0), (true, true, 1)]);
    let (_, client_shares) = share(&[(false, false, 0)]);
    let tag = new_tag();
    let ((ss, sbody), (cs, _)) = run_job(
        &h,
        server_body(&tag, &server_shares, &b_ids),
        client_body(&tag, &client_shares, 2),
    )
    .await;
    assert_eq!((ss, cs), (400, 400));
    let e = sbody["error"].as_str().unwrap();
    assert!(
        e.contains("disagree on queryRecords: the server says 2, the client 1"),
        "{e}"
    );
    // Different database sizes: the client expects 3 rows, the server has 2.
    let (server_shares, client_shares) = share(&[(false, false, 0)]);
    let tag = new_tag();
    let ((ss, sbody), (cs, _)) = run_job(
        &h,
        server_body(&tag, &server_shares, &b_ids),
        client_body(&tag, &client_shares, 3),
    )
    .await;
    assert_eq!((ss, cs), (400, 400));
    let e = sbody["error"].as_str().unwrap();
    assert!(e.contains("disagree on databaseRecords"), "{e}");
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
    let (server_shares, client_shares) = share(&[(false, false, 0)]);
    let tag = new_tag();
    let body = client_body(&tag, &client_shares, 1).to_string();
    let a_auth = h.a.auth();
    let waiting = h.post("/linkageResult/A/B", Some(&a_auth), body.clone());
    let probes = async {
        until_pending(&h, 1).await;
        let dup = h
            .post("/linkageResult/A/B", Some(&h.a.auth()), body.clone())
            .await;
        let (s, e) = status_json(dup).await;
        assert_eq!(s, 409, "{e}");
        assert!(!e.to_string().contains(&tag), "the tag is not echoed: {e}");
        let other = client_body(&new_tag(), &client_shares, 1).to_string();
        let full = h.post("/linkageResult/A/C", Some(&h.a.auth()), other).await;
        assert_eq!(full.status(), 503);
        assert_eq!(full.headers()["retry-after"], "3");
        // The partner of the waiting post releases it.
        let b_ids = h.fresh_ids(&h.b, 1).await;
        let resp = h
            .post(
                "/linkageResult/B/A",
                Some(&h.b.auth()),
                server_body(&tag, &server_shares, &b_ids).to_string(),
            )
            .await;
        assert_eq!(resp.status(), 200);
    };
    let (first, ()) = tokio::join!(waiting, probes);
    let (s, body) = status_json(first).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["result"].as_array().unwrap().len(), 1);
}

/// Issue 9, item 9: one site filling the pending queue locked every other
/// site out (the bound was global only).
#[tokio::test]
async fn one_site_cannot_lock_the_others_out() {
    let h = Harness::start(ServiceConfig {
        max_pending_posts: 3,
        max_pending_posts_per_site: 2,
        job_timeout: Duration::from_secs(5),
        ..config()
    })
    .await;
    let (_, client_shares) = share(&[(false, false, 0)]);
    let a_auth = h.a.auth();
    let body = || client_body(&new_tag(), &client_shares, 1).to_string();
    let a1 = h.post("/linkageResult/A/B", Some(&a_auth), body());
    let a2 = h.post("/linkageResult/A/C", Some(&a_auth), body());
    let probes = async {
        until_pending(&h, 2).await;
        let a3 = h
            .post("/linkageResult/A/B", Some(&h.a.auth()), body())
            .await;
        assert_eq!(a3.status(), 503, "A is over its share");
        // B still gets a slot: its post waits (and times out) instead of 503.
        let b = h
            .post("/linkageResult/B/C", Some(&h.b.auth()), body())
            .await;
        b.status().as_u16()
    };
    let (_, _, b) = tokio::join!(a1, a2, probes);
    assert_eq!(b, 504, "B's post was let in and waited for its partner");
}

/// Writes raw bytes on a fresh TLS connection and returns what the server
/// answers until it closes the connection or `NO_HANG` passes.
async fn raw_exchange(h: &Harness, request: &[u8]) -> Option<String> {
    let mut tls = h.raw_tls().await;
    tls.write_all(request).await.unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(NO_HANG, tls.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(String::from_utf8_lossy(&out).into_owned()),
            Ok(Ok(n)) => {
                out.extend_from_slice(&buf[..n]);
                if out.windows(4).any(|w| w == b"\r\n\r\n") && out.ends_with(b"}") {
                    return Some(String::from_utf8_lossy(&out).into_owned());
                }
            }
        }
    }
}

/// Issue 9, item 9: a post with a wrong key announcing a large body is
/// answered 401 from its headers, without the body ever being sent (before,
/// the service waited for and buffered the whole body first).
#[tokio::test]
async fn an_unauthenticated_post_is_refused_before_its_body() {
    let h = Harness::start(config()).await;
    let answer = raw_exchange(
        &h,
        b"POST /linkageResult/A/B HTTP/1.1\r\nhost: 127.0.0.1\r\n\
          authorization: apiKey apiKey=\"wrong\"\r\ncontent-type: application/json\r\n\
          content-length: 100000000\r\n\r\n",
    )
    .await
    .expect("answered without the body");
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
}

/// Issue 9, item 9: headers that never finish do not hold a connection.
#[tokio::test]
async fn a_connection_that_never_finishes_its_headers_is_closed() {
    let h = Harness::start(ServiceConfig {
        header_read_timeout: Duration::from_millis(300),
        ..config()
    })
    .await;
    let answer = raw_exchange(&h, b"GET /health HTTP/1.1\r\nhost: 127.0.0.1\r\n").await;
    assert!(
        answer.is_some(),
        "the half-sent request kept its connection"
    );
}

/// Issue 9, item 9: a connection that sends nothing is closed after the
/// idle timeout, while a long-poll (no bytes moving, request in flight)
/// outlives it.
#[tokio::test]
async fn idle_connections_are_closed_but_long_polls_are_not() {
    let h = Harness::start(ServiceConfig {
        idle_timeout: Duration::from_millis(300),
        header_read_timeout: Duration::from_secs(60),
        job_timeout: Duration::from_millis(1500),
        ..config()
    })
    .await;
    let answer = raw_exchange(&h, b"").await;
    assert_eq!(
        answer.as_deref(),
        Some(""),
        "an idle connection stayed open"
    );
    let (_, client_shares) = share(&[(false, false, 0)]);
    let resp = h
        .post(
            "/linkageResult/A/B",
            Some(&h.a.auth()),
            client_body(&new_tag(), &client_shares, 1).to_string(),
        )
        .await;
    assert_eq!(resp.status(), 504, "the long-poll got its answer");
}

/// Issue 9, item 9: connections beyond the cap are closed at once; a slot
/// frees when a connection ends.
#[tokio::test]
async fn connections_beyond_the_cap_are_closed() {
    let h = Harness::start(ServiceConfig {
        max_connections: 1,
        ..config()
    })
    .await;
    let held = h.raw_tls().await;
    let mut extra = tokio::net::TcpStream::connect(h.server.local_addr())
        .await
        .unwrap();
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(NO_HANG, extra.read(&mut buf))
        .await
        .expect("the extra connection is closed, not left waiting")
        .unwrap_or(0);
    assert_eq!(n, 0);
    drop(held);
    // The slot frees once the server notices the close.
    let mut served = false;
    for _ in 0..200 {
        if let Ok(resp) = h.client.get(format!("{}/health", h.base)).send().await {
            served = resp.status() == 200;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(served);
}

#[tokio::test]
async fn health_metrics_and_unknown_routes() {
    let h = Harness::start(config()).await;
    let resp = h.get("/health", None).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "OK");
    let b_ids = h.fresh_ids(&h.b, 3).await;
    let (server_shares, client_shares) = share(&[(true, true, 1), (false, false, 0)]);
    let tag = new_tag();
    let ((ss, _), (cs, _)) = run_job(
        &h,
        server_body(&tag, &server_shares, &b_ids),
        client_body(&tag, &client_shares, 3),
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
async fn oversized_bodies_get_413_once_authenticated() {
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
        .post("/linkageResult/A/B", Some(&h.a.auth()), body.clone())
        .await;
    assert_eq!(resp.status(), 413);
    // Without a valid key the size is never looked at.
    let resp = h
        .post("/linkageResult/A/B", Some("apiKey apiKey=\"wrong\""), body)
        .await;
    assert_eq!(resp.status(), 401);
}
