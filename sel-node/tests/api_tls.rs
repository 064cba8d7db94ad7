//! The REST API over TLS (the default: `serve` with a rustls config), with a
//! certificate from a test CA the client trusts, verification on.

mod api_common;

use api_common::*;
use reqwest::Method;

#[tokio::test]
async fn the_api_over_verified_tls() {
    let (node, _ca) = Node::tls().await;
    node.configure().await;
    let r = node
        .req(Method::POST, "/linkRecords/DKFZ")
        .json(&records_body(2))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let location = header(&r, "location").unwrap();
    let r = node.req(Method::GET, &location).send().await.unwrap();
    assert_eq!(r.text().await.unwrap(), "QUEUED");
    let r = node.anon(Method::GET, "/jobs/list").send().await.unwrap();
    assert_eq!(r.status(), 401);

    // A client that does not trust the test CA cannot talk to the node.
    let stranger = client_trusting(&[test_pki().ca]);
    assert!(stranger.get(node.url("/health")).send().await.is_err());
    // Plain HTTP on the TLS port gets no answer from the API.
    let answer = raw(
        &node,
        b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(!answer.contains("200 OK"), "{answer}");
    node.shutdown().await;
}
