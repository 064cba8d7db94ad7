//! The route table and the one warp filter that serves it.
//!
//! Routing is a table rather than a chain of warp path filters because SPEC
//! §3 fixes an order of checks that warp's rejection model does not give:
//! 404 for an unknown path, 405 with an `Allow` header listing the methods of
//! the matched path, and only then initialisation, key, path id and body. The
//! table is also what the OpenAPI test compares the document against.

use std::convert::Infallible;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use bytes::{Buf, Bytes};
use futures_util::{FutureExt, StreamExt, TryStreamExt};
use warp::http::{HeaderMap, Method};
use warp::path::FullPath;
use warp::reply::Response;
use warp::{Filter, Reply};

use super::error::ApiError;
use super::metrics::RequestCounters;
use super::status::{self, TestKind, TestLog};
use super::{ApiLimits, auth, connectivity, init, jobs, metrics, openapi, reply};
use crate::jobs::JobManager;
use crate::model::{Cardinality, JobMode};

/// What a request asks for, once its path and method are known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Endpoint {
    InitLocal,
    InitRemote,
    Test,
    TestLs,
    LinkRecord,
    LinkRecords,
    MatchRecord,
    MatchRecords,
    JobsList,
    JobStatus,
    JobCancel,
    Health,
    Metrics,
    OpenApi,
    StatusPage,
    StatusData,
}

impl Endpoint {
    /// The label of the endpoint in `/metrics` and in the request log.
    pub fn name(self) -> &'static str {
        match self {
            Endpoint::InitLocal => "initLocal",
            Endpoint::InitRemote => "initRemote",
            Endpoint::Test => "test",
            Endpoint::TestLs => "testLS",
            Endpoint::LinkRecord => "linkRecord",
            Endpoint::LinkRecords => "linkRecords",
            Endpoint::MatchRecord => "matchRecord",
            Endpoint::MatchRecords => "matchRecords",
            Endpoint::JobsList => "jobsList",
            Endpoint::JobStatus => "jobStatus",
            Endpoint::JobCancel => "jobCancel",
            Endpoint::Health => "health",
            Endpoint::Metrics => "metrics",
            Endpoint::OpenApi => "openapi",
            Endpoint::StatusPage => "statusPage",
            Endpoint::StatusData => "statusData",
        }
    }
}

/// One row of the route table. A `{…}` segment matches any one segment and
/// is handed to the endpoint (a remote id or a job id), unchecked.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub endpoint: Endpoint,
}

const fn route(method: &'static str, path: &'static str, endpoint: Endpoint) -> Route {
    Route {
        method,
        path,
        endpoint,
    }
}

/// Every route the node serves (each also with one trailing slash).
pub const ROUTES: &[Route] = &[
    route("PUT", "/initLocal", Endpoint::InitLocal),
    route("PUT", "/init/local", Endpoint::InitLocal),
    route("PUT", "/initRemote/local", Endpoint::InitLocal),
    route("PUT", "/initRemote/{remote_id}", Endpoint::InitRemote),
    route("PUT", "/init/{remote_id}", Endpoint::InitRemote),
    route("GET", "/test/{remote_id}", Endpoint::Test),
    route("GET", "/testLS/{remote_id}", Endpoint::TestLs),
    route("POST", "/linkRecord/{remote_id}", Endpoint::LinkRecord),
    route("POST", "/linkRecords/{remote_id}", Endpoint::LinkRecords),
    route("POST", "/matchRecord/{remote_id}", Endpoint::MatchRecord),
    route("POST", "/matchRecords/{remote_id}", Endpoint::MatchRecords),
    route("GET", "/jobs/list", Endpoint::JobsList),
    route("GET", "/jobs/{job_id}", Endpoint::JobStatus),
    route("DELETE", "/jobs/{job_id}", Endpoint::JobCancel),
    route("GET", "/health", Endpoint::Health),
    route("GET", "/metrics", Endpoint::Metrics),
    route("GET", "/openapi.json", Endpoint::OpenApi),
    route("GET", "/status", Endpoint::StatusPage),
    route("GET", "/status/data", Endpoint::StatusData),
];

/// A request's place in the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matched<'a> {
    pub endpoint: Endpoint,
    /// The `{…}` segment, raw (still percent-encoded: the id rules refuse `%`).
    pub param: Option<&'a str>,
}

/// Finds the route of `method` and `path` (step 1 of the order of checks).
///
/// Of the patterns that match the path, the one with the most literal
/// segments is the path's pattern (`/jobs/list` over `/jobs/{job_id}`,
/// `/initRemote/local` over `/initRemote/{remote_id}`); the request's method
/// must be one of that pattern's, else 405 lists them.
pub fn match_route<'a>(method: &Method, path: &'a str) -> Result<Matched<'a>, ApiError> {
    let path = path.strip_prefix('/').unwrap_or(path);
    let path = path.strip_suffix('/').unwrap_or(path);
    let segments: Vec<&str> = path.split('/').collect();
    let mut best: Option<(usize, &'static str)> = None;
    for r in ROUTES {
        if let Some(literals) = pattern_match(r.path, &segments)
            && best.is_none_or(|(n, _)| literals > n)
        {
            best = Some((literals, r.path));
        }
    }
    let Some((_, pattern)) = best else {
        return Err(ApiError::NoRoute);
    };
    let same_path = || ROUTES.iter().filter(|r| r.path == pattern);
    match same_path().find(|r| r.method == method.as_str()) {
        Some(r) => Ok(Matched {
            endpoint: r.endpoint,
            param: param_of(r.path, &segments),
        }),
        None => Err(ApiError::MethodNotAllowed {
            method: method.as_str().chars().take(16).collect(),
            allow: same_path().map(|r| r.method).collect::<Vec<_>>().join(", "),
        }),
    }
}

/// The number of literal segments if `pattern` matches `segments`.
fn pattern_match(pattern: &str, segments: &[&str]) -> Option<usize> {
    let parts: Vec<&str> = pattern.trim_start_matches('/').split('/').collect();
    if parts.len() != segments.len() {
        return None;
    }
    let mut literals = 0;
    for (p, s) in parts.iter().zip(segments) {
        if p.starts_with('{') {
            continue;
        }
        if p != s {
            return None;
        }
        literals += 1;
    }
    Some(literals)
}

fn param_of<'a>(pattern: &str, segments: &[&'a str]) -> Option<&'a str> {
    pattern
        .trim_start_matches('/')
        .split('/')
        .zip(segments)
        .find(|(p, _)| p.starts_with('{'))
        .map(|(_, s)| *s)
}

/// A request body, read lazily: only an endpoint that takes a body reads it,
/// and only after the key and the path have been checked.
pub type BodyStream =
    std::pin::Pin<Box<dyn futures_util::Stream<Item = Result<Bytes, warp::Error>> + Send>>;

fn boxed_body<S, B>(stream: S) -> BodyStream
where
    S: futures_util::Stream<Item = Result<B, warp::Error>> + Send + 'static,
    B: Buf,
{
    StreamExt::boxed(TryStreamExt::map_ok(stream, |mut b| {
        b.copy_to_bytes(b.remaining())
    }))
}

/// What a handler gets of a request.
pub struct Request {
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: BodyStream,
}

/// What every handler shares.
pub struct ApiState {
    pub manager: Arc<JobManager>,
    pub limits: ApiLimits,
    pub requests: RequestCounters,
    /// Serialises the check-then-write of `initLocal` (see [`init::init_local`]).
    pub init_lock: tokio::sync::Mutex<()>,
    /// The last `/test` and `/testLS` outcome per remote, for the status page.
    pub tests: TestLog,
}

/// The REST API of SPEC §3 as one warp filter.
pub fn routes(
    manager: Arc<JobManager>,
    limits: ApiLimits,
) -> impl Filter<Extract = (impl Reply,), Error = Infallible> + Clone {
    let state = Arc::new(ApiState {
        manager,
        limits,
        requests: RequestCounters::default(),
        init_lock: tokio::sync::Mutex::new(()),
        tests: TestLog::default(),
    });
    let query = warp::query::raw()
        .map(Some)
        .or(warp::any().map(|| None))
        .unify();
    warp::method()
        .and(warp::path::full())
        .and(query)
        .and(warp::header::headers_cloned())
        .and(warp::body::stream())
        .and(warp::any().map(move || Arc::clone(&state)))
        .then(
            |method: Method,
             path: FullPath,
             query: Option<String>,
             headers: HeaderMap,
             body,
             state: Arc<ApiState>| {
                let body = boxed_body(body);
                let request = Request {
                    query,
                    headers,
                    body,
                };
                async move { serve_request(&state, &method, path.as_str(), request).await }
            },
        )
        .recover(|_rejection: warp::Rejection| async {
            // Every filter above is infallible in practice; this keeps the
            // type honest without a panic path.
            Ok::<Response, Infallible>(
                ApiError::Internal("unexpected rejection".into()).into_response(),
            )
        })
        .unify()
}

/// Routes, handles, counts and logs one request. A panic in a handler
/// becomes a 500, so no input can take a connection task down silently.
async fn serve_request(
    state: &ApiState,
    method: &Method,
    path: &str,
    request: Request,
) -> Response {
    let (endpoint, response) = match match_route(method, path) {
        Err(e) => (None, e.into_response()),
        Ok(m) => {
            let param = m.param.map(str::to_owned);
            let handled = AssertUnwindSafe(handle(state, m.endpoint, param, request))
                .catch_unwind()
                .await;
            let response = match handled {
                Ok(Ok(r)) => r,
                Ok(Err(e)) => e.into_response(),
                Err(_) => {
                    ApiError::Internal(format!("{} panicked", m.endpoint.name())).into_response()
                }
            };
            (Some(m.endpoint), response)
        }
    };
    let label = endpoint.map_or("none", Endpoint::name);
    let status = response.status().as_u16();
    state.requests.record(label, status);
    // Only the endpoint and the status: paths carry ids, headers carry keys,
    // bodies carry patient data.
    tracing::info!(method = %method, endpoint = label, status, "request");
    response
}

/// Steps 2 and 3 of the order of checks, then the endpoint.
async fn handle(
    state: &ApiState,
    endpoint: Endpoint,
    param: Option<String>,
    request: Request,
) -> Result<Response, ApiError> {
    match endpoint {
        Endpoint::Health => return Ok(reply::text(warp::http::StatusCode::OK, "OK")),
        Endpoint::OpenApi => {
            return Ok(reply::json(warp::http::StatusCode::OK, openapi::document()));
        }
        Endpoint::InitLocal => return init::init_local(state, request).await,
        // The page holds no data (it fetches /status/data with the key).
        Endpoint::StatusPage => return Ok(status::page()),
        _ => {}
    }
    let local = state.manager.local().ok_or(ApiError::NotInitialised)?;
    auth::check_local_key(
        &request.headers,
        &local.init.local_authentication.shared_key,
    )?;
    let id = param.unwrap_or_default();
    use Cardinality::{Many, One};
    use JobMode::{Linkage, Matching};
    match endpoint {
        Endpoint::InitRemote => init::init_remote(state, &id, request).await,
        Endpoint::Test => {
            let outcome = connectivity::test_remote(state, &id).await;
            status::record_test(state, TestKind::Peer, &id, &outcome);
            outcome
        }
        Endpoint::TestLs => {
            let outcome = connectivity::test_linkage_service(state, &id).await;
            status::record_test(state, TestKind::LinkageService, &id, &outcome);
            outcome
        }
        Endpoint::LinkRecord => jobs::submit(state, &local, &id, Linkage, One, request).await,
        Endpoint::LinkRecords => jobs::submit(state, &local, &id, Linkage, Many, request).await,
        Endpoint::MatchRecord => jobs::submit(state, &local, &id, Matching, One, request).await,
        Endpoint::MatchRecords => jobs::submit(state, &local, &id, Matching, Many, request).await,
        Endpoint::JobsList => Ok(jobs::list(state)),
        Endpoint::JobStatus => jobs::status(state, &id, &request),
        Endpoint::JobCancel => jobs::cancel(state, &id).await,
        Endpoint::Metrics => Ok(metrics::respond(state)),
        Endpoint::StatusData => status::data(state),
        // Answered above, before the key check.
        Endpoint::Health | Endpoint::OpenApi | Endpoint::InitLocal | Endpoint::StatusPage => {
            Err(ApiError::Internal("endpoint answered twice".into()))
        }
    }
}
