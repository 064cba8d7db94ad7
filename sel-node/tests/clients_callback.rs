//! Callback delivery against a real HTTP callback receiver on 127.0.0.1.

mod clients_common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clients_common::plain_client;
use protocol_spec::messages::mainsel::{LinkCallback, LinkResult, OneOrMany, SharedKey};
use sel_node::clients::callback::{CallbackClient, RetryPolicy};
use sel_node::model::{CallbackDelivery, DeliveryState};
use serde_json::Value;
use warp::Filter;
use warp::http::StatusCode;

const KEY: &str = "local-key";

/// What the receiver saw of one request.
#[derive(Debug, Clone)]
struct Seen {
    authorization: Option<String>,
    content_type: Option<String>,
    body: Value,
}

/// A receiver that answers 500 to the first `failures` requests, then 200.
struct Receiver {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Receiver {
    async fn start(failures: u32) -> Receiver {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let count = Arc::new(AtomicU32::new(0));
        let log = Arc::clone(&seen);
        let route = warp::path!("cb")
            .and(warp::post())
            .and(warp::header::optional::<String>("authorization"))
            .and(warp::header::optional::<String>("content-type"))
            .and(warp::body::bytes())
            .map(
                move |authorization: Option<String>,
                      content_type: Option<String>,
                      body: bytes::Bytes| {
                    log.lock().unwrap().push(Seen {
                        authorization,
                        content_type,
                        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
                    });
                    let status = if count.fetch_add(1, Ordering::SeqCst) < failures {
                        StatusCode::INTERNAL_SERVER_ERROR
                    } else {
                        StatusCode::OK
                    };
                    warp::reply::with_status("", status)
                },
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/cb", listener.local_addr().unwrap());
        tokio::spawn(warp::serve(route).incoming(listener).run());
        Receiver { url, seen }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

fn client(attempts: u32) -> CallbackClient {
    CallbackClient::new(
        plain_client(),
        RetryPolicy {
            attempts,
            first_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(20),
            timeout: Duration::from_secs(10),
        },
    )
}

fn body() -> Value {
    serde_json::to_value(LinkCallback {
        result: Some(OneOrMany::Many(vec![
            LinkResult::new("QUJD"),
            LinkResult::new("REVG"),
        ])),
        warning: None,
        error: None,
    })
    .unwrap()
}

/// Delivers and returns the outcome with every `on_attempt` report.
async fn deliver(client: &CallbackClient, url: &str) -> (CallbackDelivery, Vec<CallbackDelivery>) {
    let reports = Mutex::new(Vec::new());
    let outcome = client
        .deliver(url, &SharedKey::new(KEY), &body(), &|d| {
            reports.lock().unwrap().push(d.clone())
        })
        .await;
    (outcome, reports.into_inner().unwrap())
}

#[tokio::test]
async fn delivered_on_the_third_attempt_after_two_failures() {
    let receiver = Receiver::start(2).await;
    let (outcome, reports) = deliver(&client(5), &receiver.url).await;
    assert_eq!(outcome.state, DeliveryState::Delivered);
    assert_eq!(outcome.attempts, 3);
    assert_eq!(outcome.last_status, Some(200));
    assert!(outcome.delivered_at.is_some());
    assert_eq!(reports.len(), 3, "on_attempt after every try");
    assert_eq!(
        reports
            .iter()
            .map(|r| (r.state, r.attempts))
            .collect::<Vec<_>>(),
        vec![
            (DeliveryState::Pending, 1),
            (DeliveryState::Pending, 2),
            (DeliveryState::Delivered, 3)
        ]
    );
    assert_eq!(reports[0].last_status, Some(500));
    assert_eq!(reports[2], outcome);

    let seen = receiver.seen();
    assert_eq!(seen.len(), 3);
    for s in &seen {
        assert_eq!(
            s.authorization.as_deref(),
            Some("apiKey apiKey=\"local-key\"")
        );
        assert_eq!(s.content_type.as_deref(), Some("application/json"));
        assert_eq!(s.body, body());
    }
}

#[tokio::test]
async fn always_failing_gives_up_after_the_configured_attempts() {
    let receiver = Receiver::start(u32::MAX).await;
    let (outcome, reports) = deliver(&client(4), &receiver.url).await;
    assert_eq!(outcome.state, DeliveryState::Failed);
    assert_eq!(outcome.attempts, 4);
    assert_eq!(outcome.last_status, Some(500));
    assert_eq!(outcome.last_error.as_deref(), Some("status 500"));
    assert_eq!(outcome.delivered_at, None);
    assert_eq!(reports.len(), 4);
    assert_eq!(reports.last(), Some(&outcome));
    assert_eq!(receiver.seen().len(), 4);
}

#[tokio::test]
async fn an_unreachable_callback_fails_without_naming_the_body() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/cb", listener.local_addr().unwrap());
    drop(listener);
    let (outcome, reports) = deliver(&client(2), &url).await;
    assert_eq!(outcome.state, DeliveryState::Failed);
    assert_eq!(outcome.attempts, 2);
    assert_eq!(outcome.last_status, None);
    let error = outcome.last_error.as_deref().unwrap();
    assert!(error.starts_with("connection failed"), "{error}");
    assert!(!error.contains("QUJD") && !error.contains(&url), "{error}");
    assert_eq!(reports.len(), 2);
}

#[test]
fn backoff_doubles_up_to_the_cap_with_a_little_jitter() {
    let policy = RetryPolicy {
        attempts: 10,
        first_delay: Duration::from_millis(100),
        max_delay: Duration::from_millis(1000),
        timeout: Duration::from_secs(1),
    };
    for (attempt, base) in [
        (1, 100u64),
        (2, 200),
        (3, 400),
        (4, 800),
        (5, 1000),
        (9, 1000),
    ] {
        let d = policy.delay_after(attempt);
        let base = Duration::from_millis(base);
        assert!(
            d <= base && d >= base.mul_f64(0.9),
            "attempt {attempt}: {d:?}"
        );
    }
}

#[tokio::test]
async fn a_callback_that_never_answers_is_cut_off_by_the_attempt_timeout() {
    // Accepts connections and holds them without a word.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/cb", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((conn, _)) = listener.accept().await {
            held.push(conn);
        }
    });
    let client = CallbackClient::new(
        plain_client(),
        RetryPolicy {
            attempts: 2,
            first_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(1),
            timeout: Duration::from_millis(200),
        },
    );
    let (outcome, reports) = deliver(&client, &url).await;
    assert_eq!(outcome.state, DeliveryState::Failed);
    assert_eq!(outcome.attempts, 2);
    assert_eq!(reports.len(), 2);
    let error = outcome.last_error.as_deref().unwrap();
    assert!(error.starts_with("timed out"), "{error}");
}
