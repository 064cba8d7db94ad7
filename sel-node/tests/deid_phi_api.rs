//! The PHI processing API over real HTTP (port 0): every endpoint, every
//! status code, anonymize → deanonymize round trips on each token backend,
//! tokens across a restart of the redb store, the store file holding no
//! value in clear, record groups and caller secrets kept apart, tampered
//! sealed tokens refused. Authentication is a stand-in header check here;
//! the service mounts the real key and rate-limit filter.
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Value, json};
use warp::Filter;
use warp::filters::BoxedFilter;

use sel_node::deid::phi_api::{MAX_TEXT_CHARS, PhiApi, routes};
use sel_node::deid::tokens::{TOKENS_DB_FILE, TokenService};
use sel_node::deid::{Engine, EngineHandle};
use sel_node::seal::NodeKey;

const API_KEY: &str = "test-api-key";
const NOTE: &str = "Patient John Smith, SSN 123-45-6789, DOB 01/15/1980, phone 617-555-0123, \
email john.smith@example.org.\nFollow-up: John Smith returns on 02/03/2021; \
contact Zoë Müller at zoe.mueller@example.org.";
/// Values of NOTE that must not survive anonymisation.
const VALUES: &[&str] = &[
    "John Smith",
    "123-45-6789",
    "01/15/1980",
    "617-555-0123",
    "john.smith@example.org",
    "zoe.mueller@example.org",
    "Zoë Müller",
    "02/03/2021",
];

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "sel-deid-phi-{name}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[derive(Debug)]
struct Unauthorized;
impl warp::reject::Reject for Unauthorized {}

/// Stand-in for the service's auth filter: one fixed key in `API-Key`.
fn stand_in_auth() -> BoxedFilter<()> {
    warp::header::optional::<String>("api-key")
        .and_then(|key: Option<String>| async move {
            if key.as_deref() == Some(API_KEY) {
                Ok(())
            } else {
                Err(warp::reject::custom(Unauthorized))
            }
        })
        .untuple_one()
        .boxed()
}

async fn render_rejection(r: warp::Rejection) -> Result<warp::reply::Response, warp::Rejection> {
    use warp::Reply;
    if r.find::<Unauthorized>().is_some() {
        let body = warp::reply::json(&json!({"detail": "missing or invalid API key"}));
        return Ok(
            warp::reply::with_status(body, warp::http::StatusCode::UNAUTHORIZED).into_response(),
        );
    }
    Err(r)
}

fn node_key() -> NodeKey {
    NodeKey::from_bytes(&[42; 32])
}

struct Server {
    url: String,
    http: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Server {
    async fn start(dir: &Path, file_backend: bool) -> Server {
        let tokens = Arc::new(TokenService::open_in(dir, &node_key(), file_backend).unwrap());
        let api = Arc::new(PhiApi::new(EngineHandle::new(Engine::new()), tokens));
        let filter = routes(api, stand_in_auth()).recover(render_rejection);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(
            warp::serve(filter)
                .incoming(listener)
                .graceful(async move {
                    let _ = stopped.await;
                })
                .run(),
        );
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(config)
            .pool_max_idle_per_host(0)
            .build()
            .unwrap();
        Server {
            url: format!("http://{addr}"),
            http,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Stops the server and waits until it (and the store it holds) is gone.
    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task.take().unwrap().await.unwrap();
    }

    async fn post_raw(
        &self,
        path: &str,
        query: &str,
        body: &str,
        key: Option<&str>,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .post(format!("{}{path}{query}", self.url))
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(k) = key {
            req = req.header("API-Key", k);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }

    async fn post(&self, path: &str, query: &str, body: Value) -> (u16, Value) {
        self.post_raw(path, query, &body.to_string(), Some(API_KEY))
            .await
    }

    async fn anonymize(
        &self,
        query: &str,
        text: &str,
        record_id: Option<&str>,
    ) -> (String, String) {
        let (status, body) = self
            .post(
                "/anonymize/phi",
                query,
                json!({"text": text, "record_id": record_id}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["success"], true);
        (
            body["record_id"].as_str().unwrap().to_string(),
            body["anonymized_text"].as_str().unwrap().to_string(),
        )
    }

    async fn deanonymize(&self, query: &str, text: &str, record_id: Option<&str>) -> String {
        let (status, body) = self
            .post(
                "/deanonymize/phi",
                query,
                json!({"anonymized_text": text, "record_id": record_id}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["success"], true);
        assert_eq!(body["record_id"].as_str(), record_id);
        body["deanonymized_text"].as_str().unwrap().to_string()
    }
}

/// The tokens in `text`, in order (the documented grammar).
fn tokens_in(text: &str) -> Vec<String> {
    let re = regex::Regex::new(r"[A-Za-z0-9_]*PHI__[A-Za-z0-9_]*").unwrap();
    re.find_iter(text).map(|m| m.as_str().to_string()).collect()
}

/// Checks an anonymised NOTE: no value left, repeated values share a token.
fn check_anonymized(anonymized: &str) -> Vec<String> {
    for v in VALUES {
        assert!(!anonymized.contains(v), "{v} survived: {anonymized}");
    }
    let tokens = tokens_in(anonymized);
    // Nine findings: the name twice, SSN, two dates, phone, two emails and
    // the second name.
    assert!(tokens.len() >= 9, "{anonymized}");
    for t in &tokens {
        assert!(t.starts_with("PHI__"), "{t}");
    }
    let names: Vec<&String> = tokens
        .iter()
        .filter(|t| t.starts_with("PHI__NAME__"))
        .collect();
    // "John Smith" twice: the same token both times.
    assert!(
        names.windows(2).any(|w| w[0] == w[1]),
        "repeated name, different tokens: {anonymized}"
    );
    tokens
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn anonymize_then_deanonymize_round_trips_on_every_backend() {
    rt().block_on(async {
        let dir = TempDir::new("roundtrip");
        let s = Server::start(dir.path(), true).await;
        for (query, record) in [
            ("", None),
            (
                "?storage_type=KMS&kms_key_id=arn:aws:kms:x&aws_region=us-east-1",
                None,
            ),
            ("?storage_type=DynamoDBTokenBased&secret_key=s3cret", None),
            ("?storage_type=DynamoDBTokenBased", None),
            (
                "?storage_type=DynamoDBGroupedByRecord&secret_key=s3cret",
                Some("patient-12345"),
            ),
            ("?storage_type=File&output_dir=/etc", None),
        ] {
            let (record_id, anonymized) = s.anonymize(query, NOTE, record).await;
            if let Some(r) = record {
                assert_eq!(record_id, r);
            } else {
                assert!(!record_id.is_empty());
            }
            let tokens = check_anonymized(&anonymized);
            let stored = !(query.is_empty() || query.contains("KMS"));
            for t in &tokens {
                let tail = t.rsplit("__").next().unwrap();
                // Stored tokens: 12 base62 characters. Sealed: longer.
                assert_eq!(tail.len() == 12, stored, "{t}");
                assert!(tail.bytes().all(|b| b.is_ascii_alphanumeric()));
            }
            let restored = s.deanonymize(query, &anonymized, record).await;
            assert_eq!(restored, NOTE, "{query}");
        }
        // Stored tokens are deterministic: the same note anonymises alike.
        let q = "?storage_type=DynamoDBTokenBased";
        assert_eq!(
            s.anonymize(q, NOTE, None).await.1,
            s.anonymize(q, NOTE, None).await.1
        );
        // Sealed tokens are not (fresh nonce per request).
        assert_ne!(
            s.anonymize("", NOTE, None).await.1,
            s.anonymize("", NOTE, None).await.1
        );
        s.stop().await;
    });
}

#[test]
fn non_ascii_names_round_trip() {
    rt().block_on(async {
        let dir = TempDir::new("unicode");
        let s = Server::start(dir.path(), false).await;
        let q = "?storage_type=DynamoDBTokenBased";
        let (status, body) = s
            .post(
                "/tokenize/tokenize",
                q,
                json!({"phi_type": "name", "value": "Zoë Ångström-Øre"}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let token = body["token"].as_str().unwrap().to_string();
        let text = format!("Seen by {token} today, {token} again.");
        assert_eq!(
            s.deanonymize(q, &text, None).await,
            "Seen by Zoë Ångström-Øre today, Zoë Ångström-Øre again."
        );
        let (status, body) = s
            .post(
                "/lookup/value2token",
                q,
                json!({"value": "Zoë  Ångström-Øre "}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["token"], token.as_str());
        for query in ["", q] {
            let (_, anonymized) = s
                .anonymize(query, "Patient: Zoë Müller, DOB 03/04/1950.", None)
                .await;
            assert!(!anonymized.contains("Müller"), "{anonymized}");
            assert_eq!(
                s.deanonymize(query, &anonymized, None).await,
                "Patient: Zoë Müller, DOB 03/04/1950."
            );
        }
        s.stop().await;
    });
}

#[test]
fn every_endpoint_answers_with_the_reference_shapes() {
    rt().block_on(async {
        let dir = TempDir::new("shapes");
        let s = Server::start(dir.path(), false).await;
        let text = "Patient John Smith, SSN 123-45-6789, DOB 01/15/1980.";
        let (status, body) = s
            .post(
                "/extract/phi",
                "?model=x&aws_region=eu-central-1",
                json!({"text": text}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert!(!body["record_id"].as_str().unwrap().is_empty());
        assert_eq!(body["extracted_phi"]["name"], json!(["John Smith"]));
        assert_eq!(body["extracted_phi"]["ssn"], json!(["123-45-6789"]));
        assert_eq!(body["extracted_phi"]["date"], json!(["01/15/1980"]));
        // Extract stores nothing: no token for the value afterwards.
        let q = "?storage_type=DynamoDBTokenBased&aws_region=us-east-1&secret_key=YOUR_SECRET";
        let (status, _) = s
            .post("/lookup/value2token", q, json!({"value": "John Smith"}))
            .await;
        assert_eq!(status, 404);

        let (status, body) = s
            .post(
                "/extract/phi",
                "",
                json!({"text": text, "record_id": "r-7"}),
            )
            .await;
        assert_eq!((status, body["record_id"].as_str()), (200, Some("r-7")));

        let (status, body) = s
            .post(
                "/tokenize/tokenize",
                q,
                json!({"phi_type": "name", "value": "John Smith"}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let token = body["token"].as_str().unwrap().to_string();
        assert_eq!(
            body,
            json!({"phi_type": "name", "value": "John Smith", "token": token, "record_id": null})
        );
        assert!(
            regex::Regex::new(r"^PHI__NAME__[0-9A-Za-z]{12}$")
                .unwrap()
                .is_match(&token)
        );

        let (status, body) = s
            .post("/lookup/value2token", q, json!({"value": "John Smith"}))
            .await;
        assert_eq!(
            (status, body),
            (200, json!({"value": "John Smith", "token": token}))
        );
        let (status, body) = s
            .post("/lookup/token2value", q, json!({"token": token}))
            .await;
        assert_eq!(
            (status, body),
            (200, json!({"token": token, "value": "John Smith"}))
        );

        // anonymize uses the same token for the same value and secret.
        let (_, anonymized) = s.anonymize(q, text, None).await;
        assert!(anonymized.contains(&token), "{anonymized}");
        s.stop().await;
    });
}

#[test]
fn every_status_code_with_a_detail_that_holds_no_value() {
    rt().block_on(async {
        let dir = TempDir::new("status");
        let s = Server::start(dir.path(), false).await;
        let tb = "?storage_type=DynamoDBTokenBased";
        let long = "a".repeat(MAX_TEXT_CHARS + 1);
        let exact = "a".repeat(MAX_TEXT_CHARS);
        let cases: Vec<(&str, String, String, u16)> = vec![
            (
                "/extract/phi",
                String::new(),
                r#"{"text": "John"#.into(),
                400,
            ),
            ("/anonymize/phi", tb.into(), "not json".into(), 400),
            ("/deanonymize/phi", tb.into(), String::new(), 400),
            (
                "/extract/phi",
                String::new(),
                json!({"txt": "x"}).to_string(),
                422,
            ),
            (
                "/extract/phi",
                String::new(),
                json!({"text": 123456789}).to_string(),
                422,
            ),
            (
                "/extract/phi",
                String::new(),
                json!({"text": long}).to_string(),
                422,
            ),
            (
                "/anonymize/phi",
                tb.into(),
                json!({"text": long}).to_string(),
                422,
            ),
            (
                "/extract/phi",
                String::new(),
                json!({"text": exact}).to_string(),
                200,
            ),
            (
                "/anonymize/phi",
                "?storage_type=DynamoDBGroupedByRecord".into(),
                json!({"text": "John Smith"}).to_string(),
                422,
            ),
            (
                "/deanonymize/phi",
                "?storage_type=DynamoDBGroupedByRecord".into(),
                json!({"anonymized_text": "x"}).to_string(),
                422,
            ),
            (
                "/tokenize/tokenize",
                "?storage_type=DynamoDBGroupedByRecord".into(),
                json!({"phi_type": "name", "value": "Ann Lee"}).to_string(),
                422,
            ),
            (
                "/anonymize/phi",
                "?storage_type=DynamoDB".into(),
                json!({"text": "x"}).to_string(),
                422,
            ),
            (
                "/anonymize/phi",
                "?storage_type=KMS&storage_type=File".into(),
                json!({"text": "x"}).to_string(),
                422,
            ),
            (
                "/tokenize/tokenize",
                tb.into(),
                json!({"phi_type": "Ann Lee", "value": "Ann Lee"}).to_string(),
                422,
            ),
            (
                "/tokenize/tokenize",
                tb.into(),
                json!({"phi_type": "name", "value": "  "}).to_string(),
                422,
            ),
            (
                "/lookup/token2value",
                tb.into(),
                json!({"token": "Ann Lee"}).to_string(),
                422,
            ),
            (
                "/lookup/token2value",
                tb.into(),
                json!({"token": "PHI__NAME__000000000000"}).to_string(),
                404,
            ),
            (
                "/lookup/value2token",
                tb.into(),
                json!({"value": "Ann Lee"}).to_string(),
                404,
            ),
            (
                "/lookup/value2token",
                "?storage_type=KMS".into(),
                json!({"value": "Ann Lee"}).to_string(),
                501,
            ),
            (
                "/lookup/value2token",
                String::new(),
                json!({"value": "Ann Lee"}).to_string(),
                501,
            ),
            (
                "/tokenize/tokenize",
                "?storage_type=KMS".into(),
                json!({"phi_type": "name", "value": "Ann Lee"}).to_string(),
                501,
            ),
            (
                "/anonymize/phi",
                "?storage_type=File".into(),
                json!({"text": "Ann Lee"}).to_string(),
                501,
            ),
        ];
        for (path, query, body, expected) in &cases {
            let (status, reply) = s.post_raw(path, query, body, Some(API_KEY)).await;
            assert_eq!(status, *expected, "{path}{query} {body:.80} → {reply}");
            if status != 200 {
                let detail = reply["detail"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{reply}"));
                assert!(
                    !detail.contains("Ann Lee") && !detail.contains("John"),
                    "{detail}"
                );
                assert_eq!(reply.as_object().unwrap().len(), 1, "{reply}");
            }
        }
        // Without a key, or with a wrong one: the auth filter answers 401
        // before anything is read.
        for key in [None, Some("wrong")] {
            let (status, _) = s.post_raw("/extract/phi", "", r#"{"text":"x"}"#, key).await;
            assert_eq!(status, 401);
        }
        // Another method on a route's path is not served by these routes.
        let resp = s
            .http
            .get(format!("{}/extract/phi", s.url))
            .header("API-Key", API_KEY)
            .send()
            .await
            .unwrap();
        assert_ne!(resp.status().as_u16(), 200);
        s.stop().await;
    });
}

#[test]
fn redb_tokens_survive_a_restart_and_the_file_holds_no_value_in_clear() {
    rt().block_on(async {
        let dir = TempDir::new("restart");
        let q = "?storage_type=DynamoDBTokenBased&secret_key=s3cret";
        let g = "?storage_type=DynamoDBGroupedByRecord";
        let s = Server::start(dir.path(), false).await;
        let (_, anonymized) = s.anonymize(q, NOTE, None).await;
        let (_, grouped) = s.anonymize(g, NOTE, Some("rec-1")).await;
        s.stop().await;

        let bytes = std::fs::read(dir.path().join(TOKENS_DB_FILE)).unwrap();
        for v in VALUES.iter().chain(&["Müller", "Smith", "6789"]) {
            assert!(
                !bytes.windows(v.len()).any(|w| w == v.as_bytes()),
                "{v} is in the store file in clear"
            );
        }
        assert!(!bytes.windows(b"rec-1".len()).any(|w| w == b"rec-1"));

        let s = Server::start(dir.path(), false).await;
        assert_eq!(s.deanonymize(q, &anonymized, None).await, NOTE);
        assert_eq!(s.deanonymize(g, &grouped, Some("rec-1")).await, NOTE);
        // Same tokens after the restart.
        assert_eq!(s.anonymize(q, NOTE, None).await.1, anonymized);
        s.stop().await;

        // Another node key does not open the store at all.
        let other = TokenService::open_in(dir.path(), &NodeKey::from_bytes(&[1; 32]), false);
        assert!(other.is_err());
    });
}

#[test]
fn record_groups_and_caller_secrets_are_kept_apart() {
    rt().block_on(async {
        let dir = TempDir::new("groups");
        let s = Server::start(dir.path(), false).await;
        let g = "?storage_type=DynamoDBGroupedByRecord";
        let (status, body) = s
            .post(
                "/tokenize/tokenize",
                g,
                json!({"phi_type": "name", "value": "Ann Lee", "record_id": "A"}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["record_id"], "A");
        let token = body["token"].as_str().unwrap().to_string();
        let ok = s
            .post(
                "/lookup/token2value",
                g,
                json!({"token": token, "record_id": "A"}),
            )
            .await;
        assert_eq!(ok, (200, json!({"token": token, "value": "Ann Lee"})));
        let other = s
            .post(
                "/lookup/token2value",
                g,
                json!({"token": token, "record_id": "B"}),
            )
            .await;
        assert_eq!(other.0, 404);
        let other = s
            .post(
                "/lookup/value2token",
                g,
                json!({"value": "Ann Lee", "record_id": "B"}),
            )
            .await;
        assert_eq!(other.0, 404);
        let text = format!("Note for {token}.");
        assert_eq!(s.deanonymize(g, &text, Some("B")).await, text);
        assert_eq!(
            s.deanonymize(g, &text, Some("A")).await,
            "Note for Ann Lee."
        );
        // The token-based backend does not see the grouped mapping either.
        let tb = "?storage_type=DynamoDBTokenBased";
        assert_eq!(
            s.post("/lookup/token2value", tb, json!({"token": token}))
                .await
                .0,
            404
        );

        // A caller secret is a namespace: another secret (or none) does not
        // resolve its tokens, and tokens differ.
        let a = "?storage_type=DynamoDBTokenBased&secret_key=alpha";
        let b = "?storage_type=DynamoDBTokenBased&secret_key=beta";
        let (_, anonymized) = s.anonymize(a, NOTE, None).await;
        assert_eq!(s.deanonymize(b, &anonymized, None).await, anonymized);
        assert_eq!(s.deanonymize(tb, &anonymized, None).await, anonymized);
        assert_ne!(s.anonymize(b, NOTE, None).await.1, anonymized);
        assert_eq!(s.deanonymize(a, &anonymized, None).await, NOTE);
        // Sealed tokens too.
        let (_, sealed) = s.anonymize("?secret_key=alpha", NOTE, None).await;
        assert_eq!(
            s.deanonymize("?secret_key=beta", &sealed, None).await,
            sealed
        );
        assert_eq!(
            s.deanonymize("?secret_key=alpha", &sealed, None).await,
            NOTE
        );
        s.stop().await;
    });
}

#[test]
fn tampered_sealed_tokens_are_refused_not_decoded_to_garbage() {
    rt().block_on(async {
        let dir = TempDir::new("tamper");
        let s = Server::start(dir.path(), false).await;
        let (_, anonymized) = s
            .anonymize("?storage_type=KMS", "SSN 123-45-6789.", None)
            .await;
        let token = tokens_in(&anonymized).pop().unwrap();
        assert!(token.starts_with("PHI__SSN__"), "{anonymized}");
        let ok = s
            .post("/lookup/token2value", "", json!({"token": token}))
            .await;
        assert_eq!(ok, (200, json!({"token": token, "value": "123-45-6789"})));

        let tail_start = token.rfind("__").unwrap() + 2;
        let mut variants = Vec::new();
        for i in [tail_start, tail_start + 5, token.len() - 1] {
            let mut b = token.clone().into_bytes();
            b[i] = if b[i] == b'A' { b'B' } else { b'A' };
            variants.push(String::from_utf8(b).unwrap());
        }
        variants.push(token.replacen("PHI__SSN__", "PHI__NAME__", 1));
        variants.push(token[..token.len() - 1].to_string());
        for bad in &variants {
            let (status, body) = s
                .post("/lookup/token2value", "", json!({"token": bad}))
                .await;
            assert_eq!(status, 404, "{body}");
            let text = format!("SSN {bad}.");
            assert_eq!(s.deanonymize("?storage_type=KMS", &text, None).await, text);
        }
        // A stored-backend token is not a sealed token.
        let (_, stored) = s
            .anonymize("?storage_type=DynamoDBTokenBased", "SSN 123-45-6789.", None)
            .await;
        let stored = tokens_in(&stored).pop().unwrap();
        assert_eq!(
            s.post("/lookup/token2value", "", json!({"token": stored}))
                .await
                .0,
            404
        );
        s.stop().await;
    });
}

#[test]
fn a_collision_is_refused_with_409_and_overwrites_nothing() {
    rt().block_on(async {
        let dir = TempDir::new("collision");
        let f = "?storage_type=File";
        let s = Server::start(dir.path(), true).await;
        let (status, body) = s
            .post(
                "/tokenize/tokenize",
                f,
                json!({"phi_type": "name", "value": "Ann Lee"}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let token = body["token"].as_str().unwrap().to_string();
        s.stop().await;

        // The development file is clear JSON: make the stored mapping claim
        // another value index, as a colliding value's would.
        let path = dir.path().join(sel_node::deid::tokens::FILE_BACKEND_FILE);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("DEVELOPMENT ONLY") && text.contains("Ann Lee"));
        let mut data: Value = serde_json::from_str(&text).unwrap();
        let scope = data["scopes"]
            .as_object_mut()
            .unwrap()
            .values_mut()
            .next()
            .unwrap();
        scope["tokens"][&token]["index"] = json!("00".repeat(32));
        std::fs::write(&path, data.to_string()).unwrap();

        let s = Server::start(dir.path(), true).await;
        let (status, body) = s
            .post(
                "/tokenize/tokenize",
                f,
                json!({"phi_type": "name", "value": "Ann Lee"}),
            )
            .await;
        assert_eq!(status, 409, "{body}");
        let (status, _) = s
            .post(
                "/anonymize/phi",
                f,
                json!({"text": "Patient: Ann Lee, SSN 123-45-6789."}),
            )
            .await;
        assert_eq!(status, 409);
        // Nothing of the refused requests was stored, nothing overwritten.
        let (status, body) = s
            .post("/lookup/token2value", f, json!({"token": token}))
            .await;
        assert_eq!((status, body["value"].as_str()), (200, Some("Ann Lee")));
        let (status, _) = s
            .post("/lookup/value2token", f, json!({"value": "123-45-6789"}))
            .await;
        assert_eq!(status, 404);
        s.stop().await;
    });
}
