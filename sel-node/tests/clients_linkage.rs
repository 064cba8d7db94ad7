//! The linkage-service client against the real linkage service, started in
//! process on 127.0.0.1 behind its own self-signed certificate, which the
//! node's client trusts (verification on).

mod clients_common;

use std::sync::Arc;

use clients_common::{TempDir, client_trusting};
use linkage_service::admin::register;
use linkage_service::keys::{MasterKey, SiteKey};
use linkage_service::lid::open_lid;
use linkage_service::server::{RunningServer, start};
use linkage_service::service::{Service, ServiceConfig};
use linkage_service::store::Store;
use linkage_service::tls::{self_signed_in, server_config};
use protocol_spec::messages::linkage::LinkageResultRequest;
use protocol_spec::messages::mainsel::{Authentication, Connection};
use sel_node::clients::linkage::{LinkageClient, LsError};
use serde_json::json;

/// A site registered at the service, as its node knows it.
struct Site {
    api_key: String,
    lid_key: SiteKey,
}

struct Ls {
    _dir: TempDir,
    server: RunningServer,
    url: String,
    http: reqwest::Client,
    client: LinkageClient,
    a: Site,
    b: Site,
}

impl Ls {
    async fn start() -> Ls {
        let dir = TempDir::new("ls");
        let store = Arc::new(Store::open(dir.path()).unwrap());
        let master = Arc::new(MasterKey::from_bytes(&rand::random::<[u8; 32]>()));
        let site = |id: &str| {
            let r = register(&store, &master, id).unwrap();
            Site {
                api_key: r.api_key.to_string(),
                lid_key: SiteKey::from_base64(&r.lid_key).unwrap(),
            }
        };
        let (a, b) = (site("A"), site("B"));
        let (material, _) =
            self_signed_in(dir.path(), &["127.0.0.1".into(), "localhost".into()]).unwrap();
        let trusted = material.certs[0].clone();
        let tls = server_config(material).unwrap();
        let service = Service::new(store, master, ServiceConfig::default()).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let server = start(listener, tls, service).unwrap();
        let url = format!("https://127.0.0.1:{}", server.local_addr().port());
        let http = client_trusting(&[trusted]);
        Ls {
            _dir: dir,
            server,
            url,
            client: LinkageClient::new(http.clone()),
            http,
            a,
            b,
        }
    }

    fn connection(&self, key: &str) -> Connection {
        Connection {
            url: self.url.clone(),
            authentication: Authentication::api_key(key),
        }
    }
}

#[tokio::test]
async fn test_answers_with_a_registered_key_and_rejects_a_wrong_one() {
    let ls = Ls::start().await;
    ls.client.test(&ls.connection(&ls.a.api_key)).await.unwrap();
    let mut slash = ls.connection(&ls.b.api_key);
    slash.url.push('/');
    ls.client.test(&slash).await.unwrap();

    let err = ls
        .client
        .test(&ls.connection("not-a-registered-key"))
        .await
        .unwrap_err();
    let LsError::Rejected { status, message } = &err else {
        panic!("expected Rejected, got {err:?}");
    };
    assert_eq!(*status, 401);
    assert!(
        !message.is_empty() && message != "no error message",
        "{message}"
    );
    assert!(!err.is_transient());
}

#[tokio::test]
async fn fresh_ids_returns_n_lids_sealed_for_the_site() {
    let ls = Ls::start().await;
    let conn = ls.connection(&ls.a.api_key);
    let lids = ls.client.fresh_ids(&conn, "A", 5).await.unwrap();
    assert_eq!(lids.len(), 5);
    let opened: Vec<_> = lids
        .iter()
        .map(|l| open_lid(&ls.a.lid_key, "A", l).expect("sealed for A"))
        .collect();
    for (i, x) in opened.iter().enumerate() {
        assert!(opened[i + 1..].iter().all(|y| y != x), "LIDs are distinct");
        assert!(open_lid(&ls.b.lid_key, "B", &lids[i]).is_err());
    }
    assert!(ls.client.fresh_ids(&conn, "A", 0).await.unwrap().is_empty());

    // In batches of 2: 7 LIDs come from 4 calls and are all A's and distinct.
    let batched = LinkageClient::new(ls.http.clone()).with_fresh_ids_batch(2);
    let more = batched.fresh_ids(&conn, "A", 7).await.unwrap();
    assert_eq!(more.len(), 7);
    let mut opened_more: Vec<_> = more
        .iter()
        .map(|l| open_lid(&ls.a.lid_key, "A", l).unwrap().as_bytes().to_vec())
        .collect();
    opened_more.sort();
    opened_more.dedup();
    assert_eq!(opened_more.len(), 7);
    let metrics = ls
        .http
        .get(format!("{}/metrics", ls.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("ls_http_requests_total{route=\"freshIDs\",status=\"200\"} 5\n"),
        "one call for 5, none for 0, four for 7 in batches of 2:\n{metrics}"
    );

    // A's key does not get LIDs for B.
    let err = ls.client.fresh_ids(&conn, "B", 1).await.unwrap_err();
    assert!(
        matches!(err, LsError::Rejected { status: 401, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_stopped_service_is_unavailable() {
    let ls = Ls::start().await;
    let conn = ls.connection(&ls.a.api_key);
    ls.client.test(&conn).await.unwrap();
    let Ls { server, client, .. } = ls;
    server.shutdown().await;
    let err = client.test(&conn).await.unwrap_err();
    assert!(matches!(err, LsError::Unavailable(_)), "{err:?}");
    assert!(err.is_transient());
    let err = client.fresh_ids(&conn, "A", 3).await.unwrap_err();
    assert!(err.is_transient(), "{err:?}");
}

/// A request of today's wire format (the format is about to gain a job tag;
/// built from JSON so this test only needs its body updated then).
fn request(body: serde_json::Value) -> LinkageResultRequest {
    serde_json::from_value(body).unwrap()
}

#[tokio::test]
async fn post_result_pairs_the_two_posts_and_the_client_gets_the_servers_lid() {
    let ls = Ls::start().await;
    let server_lids = ls
        .client
        .fresh_ids(&ls.connection(&ls.b.api_key), "B", 2)
        .await
        .unwrap();
    // Clear outcome: record 0 matches database row 1. Shares XOR to it.
    let (m, t, idx) = (
        rand::random::<bool>(),
        rand::random::<bool>(),
        rand::random::<u32>(),
    );
    // Both nodes derive the job tag inside the 2PC; any equal 32 bytes do here.
    let tag = "ab".repeat(32);
    let server_post = request(json!({
        "role": "server", "jobTag": tag, "queryRecords": 1, "databaseRecords": 2, "ids": server_lids,
        "result": [{"match": u8::from(m), "tentativeMatch": u8::from(t), "bestIndex": idx}]}));
    let client_post = request(json!({
        "role": "client", "jobTag": tag, "queryRecords": 1, "databaseRecords": 2,
        "result": [{"match": u8::from(!m), "tentativeMatch": u8::from(!t),
                    "bestIndex": u64::from(idx) ^ 1}]}));
    let (b_conn, a_conn) = (ls.connection(&ls.b.api_key), ls.connection(&ls.a.api_key));
    let (server_reply, client_reply) = tokio::join!(
        ls.client.post_result(&b_conn, "B", "A", &server_post),
        ls.client.post_result(&a_conn, "A", "B", &client_post),
    );
    assert!(server_reply.unwrap().result.is_empty());
    let client_reply = client_reply.unwrap();
    assert_eq!(client_reply.result.len(), 1);
    let lid = client_reply.result[0].linkage_id.as_deref().unwrap();
    assert_eq!(
        open_lid(&ls.a.lid_key, "A", lid).unwrap(),
        open_lid(&ls.b.lid_key, "B", &server_lids[1]).unwrap(),
        "the client receives the server's LID of row 1"
    );
}

#[tokio::test]
async fn post_result_to_an_unknown_remote_is_rejected_with_the_services_message() {
    let ls = Ls::start().await;
    let post = request(json!({"role": "client", "jobTag": "cd".repeat(32),
        "queryRecords": 1, "databaseRecords": 1,
        "result": [{"match": 0, "tentativeMatch": 0, "bestIndex": 0}]}));
    let err = ls
        .client
        .post_result(&ls.connection(&ls.a.api_key), "A", "Nobody", &post)
        .await
        .unwrap_err();
    let LsError::Rejected { status, message } = &err else {
        panic!("expected Rejected, got {err:?}");
    };
    assert_eq!(*status, 400);
    assert!(message.contains("Nobody"), "{message}");
}
