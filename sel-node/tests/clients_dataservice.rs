//! The data-service client against a real HTTP data service on 127.0.0.1:
//! a small warp server that pages like Mainzelliste (HAL links, `pagesize`,
//! `total`, `toDate`) and checks the `Authorization` header.

mod clients_common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clients_common::{TempDir, local_site, plain_client, redb_store, store, test_config};
use protocol_spec::config::LinkageConfig;
use protocol_spec::messages::mainsel::{FieldMap, InitLocal};
use protocol_spec::value::record_from_wire;
use sel_node::clients::dataservice::{DataService, Database, FetchError};
use sel_node::store::NodeStore;
use serde_json::{Value, json};
use warp::Filter;
use warp::http::StatusCode;

const KEY: &str = "local-key-\"quoted\"";
const REQUESTER: &str = "B";

/// How the server writes `_links.next.href`.
#[derive(Clone, Copy, PartialEq)]
enum Links {
    Absolute,
    /// `?pagesize=..&page=..`, resolved against the current URL.
    RelativeQuery,
    /// `/ds/B?...`, resolved against the current origin.
    RelativePath,
    /// The last page links back to the first.
    Loop,
    /// Page 2 lives on another origin.
    Elsewhere,
}

/// What the server answers.
#[derive(Clone, Copy, PartialEq)]
enum Answer {
    Pages(Links),
    Status500,
    Garbage,
}

struct State {
    base: String,
    records: Vec<Value>,
    answer: Answer,
    to_date: Value,
    /// `total` as reported, when it should not be the record count.
    total: Option<usize>,
    /// Requests for pages of the real page size (the probe asks for 1).
    page_hits: u64,
    probe_hits: u64,
    bad_auth: u64,
}

struct DataServer {
    state: Arc<Mutex<State>>,
    url: String,
}

impl DataServer {
    async fn start(records: Vec<Value>) -> DataServer {
        let state = Arc::new(Mutex::new(State {
            base: String::new(),
            records,
            answer: Answer::Pages(Links::Absolute),
            to_date: json!(1_700_000_000u64),
            total: None,
            page_hits: 0,
            probe_hits: 0,
            bad_auth: 0,
        }));
        let s = Arc::clone(&state);
        let route = warp::path!("ds" / String)
            .and(warp::get())
            .and(warp::query::<HashMap<String, String>>())
            .and(warp::header::optional::<String>("authorization"))
            .map(
                move |requester: String, q: HashMap<String, String>, auth: Option<String>| {
                    serve(&s, &requester, &q, auth.as_deref())
                },
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        tokio::spawn(warp::serve(route).incoming(listener).run());
        state.lock().unwrap().base = base.clone();
        DataServer {
            state,
            url: format!("{base}/ds"),
        }
    }

    fn set(&self, f: impl FnOnce(&mut State)) {
        f(&mut self.state.lock().unwrap());
    }

    fn page_hits(&self) -> u64 {
        self.state.lock().unwrap().page_hits
    }

    fn probe_hits(&self) -> u64 {
        self.state.lock().unwrap().probe_hits
    }
}

fn serve(
    state: &Mutex<State>,
    requester: &str,
    q: &HashMap<String, String>,
    auth: Option<&str>,
) -> warp::reply::Response {
    use warp::Reply;
    let mut st = state.lock().unwrap();
    let expected = format!("apiKey apiKey=\"{}\"", KEY.replace('"', "\\\""));
    if auth != Some(expected.as_str()) {
        st.bad_auth += 1;
        return warp::reply::with_status(
            warp::reply::json(&json!({"error": "bad key"})),
            StatusCode::UNAUTHORIZED,
        )
        .into_response();
    }
    let size: usize = q.get("pagesize").map_or(1000, |s| s.parse().unwrap());
    let page: usize = q.get("page").map_or(1, |s| s.parse().unwrap());
    if size == 1 {
        st.probe_hits += 1;
    } else {
        st.page_hits += 1;
    }
    let links = match st.answer {
        Answer::Status500 => {
            return warp::reply::with_status("boom", StatusCode::INTERNAL_SERVER_ERROR)
                .into_response();
        }
        Answer::Garbage => return "<html>not a page</html>".into_response(),
        Answer::Pages(links) => links,
    };
    let n = st.records.len();
    let last = n.div_ceil(size).max(1);
    let start = ((page - 1) * size).min(n);
    let end = (page * size).min(n);
    let href = |p: usize| match links {
        Links::RelativeQuery => format!("?pagesize={size}&page={p}"),
        Links::RelativePath => format!("/ds/{requester}?pagesize={size}&page={p}"),
        Links::Elsewhere if p == 2 => format!("http://localhost:1/ds/{requester}?page=2"),
        _ => format!("{}/ds/{requester}?pagesize={size}&page={p}", st.base),
    };
    let mut hal = json!({"self": {"href": href(page)}, "first": {"href": href(1)},
                         "last": {"href": href(last)}});
    if page < last {
        hal["next"] = json!({"href": href(page + 1)});
    } else if links == Links::Loop {
        hal["next"] = json!({"href": href(1)});
    }
    let mut body = json!({
        "_links": hal,
        "total": st.total.unwrap_or(n),
        "pageSize": size,
        "currentPageNumber": page,
        "todate": st.to_date,
        "localId": "A",
        "remoteId": requester,
        "records": st.records[start..end],
    });
    if links == Links::Loop {
        // Without page numbers only the links say where the walk ends.
        body.as_object_mut().unwrap().remove("currentPageNumber");
    } else {
        body["lastPageNumber"] = json!(last);
    }
    warp::reply::json(&body).into_response()
}

fn wire_records(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            json!({"id": format!("pat-{i}"),
                   "fields": {"name": format!("n{i}"), "yob": 1900 + i,
                              "plz": if i % 3 == 0 { Value::Null } else { json!(format!("{:05}", i)) }}})
        })
        .collect()
}

/// What the database must be: the records converted one by one.
fn expected(
    config: &LinkageConfig,
    records: &[Value],
) -> (Vec<protocol_spec::config::Record>, Vec<Option<String>>) {
    let converted = records
        .iter()
        .map(|r| {
            let fields: FieldMap = serde_json::from_value(r["fields"].clone()).unwrap();
            record_from_wire(config, &fields).unwrap()
        })
        .collect();
    let ids = records
        .iter()
        .map(|r| r["id"].as_str().map(str::to_owned))
        .collect();
    (converted, ids)
}

fn local(url: &str, page_size: Option<u64>) -> InitLocal {
    local_site(url, KEY, page_size)
}

async fn fetch(ds: &DataService, local: &InitLocal) -> Result<Arc<Database>, FetchError> {
    let config = test_config();
    ds.database(local, REQUESTER, &config, &|_, _| {}).await
}

fn service(store: Arc<dyn NodeStore>, max_age: Duration) -> DataService {
    DataService::new(plain_client(), store, max_age, 1000)
}

#[tokio::test]
async fn pages_are_fetched_in_order_and_equal_the_concatenation() {
    let records = wire_records(7);
    let server = DataServer::start(records.clone()).await;
    let ds = service(store(), Duration::from_secs(600));
    let config = test_config();
    let seen = Mutex::new(Vec::new());
    let db = ds
        .database(
            &local(&server.url, Some(3)),
            REQUESTER,
            &config,
            &|n, total| seen.lock().unwrap().push((n, total)),
        )
        .await
        .unwrap();
    let (want, ids) = expected(&config, &records);
    assert_eq!(db.records, want);
    assert_eq!(db.ids, ids);
    assert_eq!(db.total, Some(7));
    assert_eq!(db.to_date.as_deref(), Some("1700000000"));
    assert_eq!(server.page_hits(), 3, "7 records at 3 per page");
    assert_eq!(
        *seen.lock().unwrap(),
        vec![(3, Some(7)), (6, Some(7)), (7, Some(7))]
    );
    assert_eq!(server.state.lock().unwrap().bad_auth, 0);
    let debug = format!("{db:?}");
    assert!(
        !debug.contains("pat-") && debug.contains("records: 7"),
        "{debug}"
    );
}

#[tokio::test]
async fn relative_next_links_are_resolved_against_the_current_page() {
    let records = wire_records(5);
    let config = test_config();
    for links in [Links::RelativeQuery, Links::RelativePath] {
        let server = DataServer::start(records.clone()).await;
        server.set(|s| s.answer = Answer::Pages(links));
        let ds = service(store(), Duration::from_secs(600));
        let db = fetch(&ds, &local(&server.url, Some(2))).await.unwrap();
        assert_eq!(db.records, expected(&config, &records).0);
        assert_eq!(server.page_hits(), 3);
    }
}

#[tokio::test]
async fn a_data_service_url_with_a_trailing_slash_and_no_page_size_works() {
    let records = wire_records(4);
    let server = DataServer::start(records.clone()).await;
    let ds = service(store(), Duration::from_secs(600));
    let db = fetch(&ds, &local(&format!("{}/", server.url), None))
        .await
        .unwrap();
    assert_eq!(db.records.len(), 4);
    assert_eq!(server.page_hits(), 1, "one page without pagesize");
}

#[tokio::test]
async fn a_looping_next_link_is_an_error() {
    let server = DataServer::start(wire_records(4)).await;
    server.set(|s| s.answer = Answer::Pages(Links::Loop));
    let ds = service(store(), Duration::from_secs(600));
    let err = fetch(&ds, &local(&server.url, Some(2))).await.unwrap_err();
    assert_eq!(err, FetchError::Loop { page: 2 });
}

#[tokio::test]
async fn a_next_link_to_another_origin_is_refused_before_the_key_goes_there() {
    let server = DataServer::start(wire_records(4)).await;
    server.set(|s| s.answer = Answer::Pages(Links::Elsewhere));
    let ds = service(store(), Duration::from_secs(600));
    let err = fetch(&ds, &local(&server.url, Some(2))).await.unwrap_err();
    assert!(
        matches!(&err, FetchError::Malformed { page: 1, detail } if detail.contains("origin")),
        "{err:?}"
    );
}

#[tokio::test]
async fn status_garbage_and_a_wrong_key_are_errors() {
    let server = DataServer::start(wire_records(2)).await;
    let ds = service(store(), Duration::from_secs(600));
    server.set(|s| s.answer = Answer::Status500);
    let err = fetch(&ds, &local(&server.url, Some(2))).await.unwrap_err();
    assert_eq!(
        err,
        FetchError::Status {
            page: 1,
            status: 500
        }
    );

    server.set(|s| s.answer = Answer::Garbage);
    let err = fetch(&ds, &local(&server.url, Some(2))).await.unwrap_err();
    assert!(
        matches!(err, FetchError::Malformed { page: 1, .. }),
        "{err:?}"
    );

    server.set(|s| s.answer = Answer::Pages(Links::Absolute));
    let wrong = local_site(&server.url, "another-key", Some(2));
    let err = fetch(&ds, &wrong).await.unwrap_err();
    assert_eq!(
        err,
        FetchError::Status {
            page: 1,
            status: 401
        }
    );
    assert_eq!(server.state.lock().unwrap().bad_auth, 1);
}

#[tokio::test]
async fn an_unreachable_data_service_is_unreachable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/ds", listener.local_addr().unwrap());
    drop(listener);
    let ds = service(store(), Duration::from_secs(600));
    let err = fetch(&ds, &local(&url, None)).await.unwrap_err();
    assert!(matches!(err, FetchError::Unreachable(_)), "{err:?}");
}

#[tokio::test]
async fn a_bad_record_names_page_index_and_field_but_not_the_value() {
    let mut records = wire_records(6);
    // Record 4 is on page 2 (index 1) at 3 per page; "name" holds 10 bytes.
    records[4]["fields"]["name"] = json!("SECRETVALUE-TOO-LONG");
    let server = DataServer::start(records).await;
    let ds = service(store(), Duration::from_secs(600));
    let err = fetch(&ds, &local(&server.url, Some(3))).await.unwrap_err();
    let FetchError::BadRecord {
        page,
        index,
        detail,
    } = &err
    else {
        panic!("expected BadRecord, got {err:?}");
    };
    assert_eq!((*page, *index), (2, 1));
    assert!(detail.contains("name"), "{detail}");
    let text = err.to_string();
    assert!(
        !text.contains("SECRET") && !format!("{err:?}").contains("SECRET"),
        "{text}"
    );
}

#[tokio::test]
async fn pages_that_do_not_add_up_to_total_are_refused() {
    let server = DataServer::start(wire_records(5)).await;
    server.set(|s| s.total = Some(6));
    let ds = service(store(), Duration::from_secs(600));
    let err = fetch(&ds, &local(&server.url, Some(2))).await.unwrap_err();
    assert!(
        matches!(&err, FetchError::Malformed { page: 3, detail } if detail.contains("total")),
        "{err:?}"
    );
}

#[tokio::test]
async fn too_many_records_are_refused() {
    let server = DataServer::start(wire_records(5)).await;
    let ds = DataService::new(plain_client(), store(), Duration::from_secs(600), 4);
    let err = fetch(&ds, &local(&server.url, Some(2))).await.unwrap_err();
    assert_eq!(err, FetchError::TooMany { limit: 4 });
}

#[tokio::test]
async fn the_cache_is_reused_while_fresh_and_unchanged() {
    let records = wire_records(5);
    let server = DataServer::start(records.clone()).await;
    let ds = service(store(), Duration::from_secs(600));
    let site = local(&server.url, Some(2));
    let first = fetch(&ds, &site).await.unwrap();
    assert_eq!((server.page_hits(), server.probe_hits()), (3, 0));
    let second = fetch(&ds, &site).await.unwrap();
    assert!(Arc::ptr_eq(&first, &second), "the same in-memory database");
    assert_eq!(server.page_hits(), 3, "no page fetched again");
    assert_eq!(server.probe_hits(), 1, "one probe with pagesize=1");
}

#[tokio::test]
async fn the_cache_is_refetched_when_total_or_to_date_change() {
    let mut records = wire_records(5);
    let server = DataServer::start(records.clone()).await;
    let ds = service(store(), Duration::from_secs(600));
    let site = local(&server.url, Some(2));
    fetch(&ds, &site).await.unwrap();

    records.push(wire_records(6).pop().unwrap());
    server.set(|s| s.records = records.clone());
    let db = fetch(&ds, &site).await.unwrap();
    assert_eq!(db.records, expected(&test_config(), &records).0);
    assert_eq!(db.total, Some(6));
    assert_eq!(server.page_hits(), 3 + 3);

    server.set(|s| s.to_date = json!("2026-11-29T12:00:00Z"));
    let db = fetch(&ds, &site).await.unwrap();
    assert_eq!(db.to_date.as_deref(), Some("\"2026-11-29T12:00:00Z\""));
    assert_eq!(server.page_hits(), 3 + 3 + 3);
}

#[tokio::test]
async fn the_cache_is_refetched_once_older_than_max_age() {
    let server = DataServer::start(wire_records(3)).await;
    let ds = service(store(), Duration::ZERO);
    let site = local(&server.url, Some(2));
    fetch(&ds, &site).await.unwrap();
    fetch(&ds, &site).await.unwrap();
    assert_eq!(server.page_hits(), 2 + 2);
    assert_eq!(server.probe_hits(), 0, "a stale cache is not probed");
}

#[tokio::test]
async fn the_cache_survives_a_restart_in_the_redb_store() {
    let records = wire_records(5);
    let server = DataServer::start(records.clone()).await;
    let dir = TempDir::new("ds-cache");
    let path = dir.path().join("node.redb");
    let site = local(&server.url, Some(2));
    let first = {
        let store = redb_store(&path);
        let db = fetch(
            &service(Arc::clone(&store), Duration::from_secs(600)),
            &site,
        )
        .await
        .unwrap();
        let meta = store
            .load_cache_meta(REQUESTER)
            .unwrap()
            .expect("cache stored");
        assert_eq!((meta.records, meta.total), (5, Some(5)));
        db
    };
    assert_eq!(server.page_hits(), 3);

    // A new store on the same file and a new client: memory is empty.
    let restarted = service(redb_store(&path), Duration::from_secs(600));
    let again = fetch(&restarted, &site).await.unwrap();
    assert_eq!(server.page_hits(), 3, "loaded from the store, not fetched");
    assert_eq!(server.probe_hits(), 1);
    assert_eq!(again.records, first.records);
    assert_eq!(again.ids, first.ids);
    assert_eq!(again.to_date, first.to_date);
}

#[tokio::test]
async fn a_stored_cache_is_not_reused_once_the_data_service_changed() {
    let mut records = wire_records(5);
    let server = DataServer::start(records.clone()).await;
    let store = store();
    let site = local(&server.url, Some(2));
    fetch(
        &service(Arc::clone(&store), Duration::from_secs(600)),
        &site,
    )
    .await
    .unwrap();
    records.truncate(4);
    server.set(|s| s.records = records.clone());
    let db = fetch(
        &service(Arc::clone(&store), Duration::from_secs(600)),
        &site,
    )
    .await
    .unwrap();
    assert_eq!(db.records, expected(&test_config(), &records).0);
    assert_eq!(server.page_hits(), 3 + 2);
    assert_eq!(
        store.load_cache_meta(REQUESTER).unwrap().unwrap().records,
        4
    );
}

#[tokio::test]
async fn a_changed_configuration_does_not_reuse_the_cache() {
    let server = DataServer::start(wire_records(3)).await;
    let ds = service(store(), Duration::from_secs(600));
    let site = local(&server.url, Some(2));
    fetch(&ds, &site).await.unwrap();
    let mut other = test_config();
    other = LinkageConfig::new(
        other.fields().to_vec(),
        &[],
        other.threshold_match(),
        other.threshold_non_match() - 0.1,
    )
    .unwrap();
    ds.database(&site, REQUESTER, &other, &|_, _| {})
        .await
        .unwrap();
    assert_eq!(server.page_hits(), 2 + 2);
}
