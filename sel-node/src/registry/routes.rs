//! The registry's HTTP surface (warp). Thin: each route extracts what it
//! needs, checks the caller's key, and hands over to [`Registry`].
//!
//! | route | key | purpose |
//! |---|---|---|
//! | `GET /getAllRecords/{requester_id}?pagesize=n&page=k` | node or registry | HAL pages of all patients |
//! | `POST /callbacks/link/{remote_id}/{batch_id}` | node | LIDs of a batch |
//! | `POST /callbacks/match/{remote_id}/{batch_id}` | node | counts of a batch |
//! | `GET\|POST /Communicator/linkMN/trigger/{remote_id}` | registry | submit all patients for linkage |
//! | `GET\|POST /Communicator/matchMN/trigger/{remote_id}` | registry | submit all patients for matching |
//! | `GET /Communicator/matchMN/status/{remote_id}` | registry | latest matching batch |
//! | `GET /Communicator/linkMN/status/{remote_id}` | registry | latest linkage batch |
//! | `GET /health` | none | liveness |
use std::convert::Infallible;
use std::sync::Arc;

use warp::http::StatusCode;
use warp::http::header::WWW_AUTHENTICATE;
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};

use super::service::{ApiError, Caller, Registry};
use super::store::Mode;

/// Largest callback body: 10,000 LIDs with room to spare.
pub const MAX_CALLBACK_BYTES: u64 = 16 << 20;

fn error_response(e: &ApiError) -> Response {
    let mut response = warp::reply::with_status(
        warp::reply::json(&serde_json::json!({ "error": e.message })),
        e.status,
    )
    .into_response();
    if e.status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            WWW_AUTHENTICATE,
            warp::http::HeaderValue::from_static("apiKey"),
        );
    }
    if e.status == StatusCode::PAYLOAD_TOO_LARGE {
        // The body was not read: HTTP/1.1 closes the connection after this
        // answer, and says so, so a keep-alive client does not reuse it.
        response.headers_mut().insert(
            warp::http::header::CONNECTION,
            warp::http::HeaderValue::from_static("close"),
        );
    }
    response
}

fn respond<T: serde::Serialize>(result: Result<T, ApiError>, ok: StatusCode) -> Response {
    match result {
        Ok(value) => warp::reply::with_status(warp::reply::json(&value), ok).into_response(),
        Err(e) => error_response(&e),
    }
}

fn no_content(result: Result<(), ApiError>) -> Response {
    match result {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => error_response(&e),
    }
}

/// Runs a handler that reads or writes the store off the async workers
/// (redb blocks).
async fn blocking(handler: impl FnOnce() -> Response + Send + 'static) -> Response {
    match tokio::task::spawn_blocking(handler).await {
        Ok(response) => response,
        Err(_) => error_response(&ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "registry task failed",
        )),
    }
}

/// All routes, with rejections turned into `{"error": ...}` answers.
pub fn routes(
    registry: Arc<Registry>,
) -> impl Filter<Extract = (impl Reply,), Error = Infallible> + Clone + Send + Sync + 'static {
    let with_registry = warp::any().map(move || Arc::clone(&registry));
    let auth = warp::header::optional::<String>("authorization");
    let raw_query = warp::query::raw()
        .map(Some)
        .or(warp::any().map(|| None))
        .unify();
    let get_or_post = warp::get().or(warp::post()).unify();

    let health = warp::path!("health")
        .and(warp::get())
        .map(|| warp::reply::json(&serde_json::json!({ "status": "ok" })).into_response());

    let records = warp::path!("getAllRecords" / String)
        .and(warp::get())
        .and(raw_query)
        .and(auth)
        .and(with_registry.clone())
        .then(
            |requester: String, query: Option<String>, auth: Option<String>, r: Arc<Registry>| {
                blocking(move || {
                    let result = r
                        .authorize(auth.as_deref(), Caller::UserOrNode)
                        .and_then(|()| r.records_page(&requester, query.as_deref()));
                    respond(result, StatusCode::OK)
                })
            },
        );

    let callback = |mode: Mode| {
        warp::path("callbacks")
            .and(warp::path(mode.as_str()))
            .and(warp::path::param::<String>())
            .and(warp::path::param::<String>())
            .and(warp::path::end())
            .and(warp::post())
            .and(auth)
            .and(warp::body::content_length_limit(MAX_CALLBACK_BYTES))
            .and(warp::body::bytes())
            .and(with_registry.clone())
            .then(
                move |remote: String,
                      batch: String,
                      auth: Option<String>,
                      body: bytes::Bytes,
                      r: Arc<Registry>| {
                    blocking(move || {
                        let result =
                            r.authorize(auth.as_deref(), Caller::Node)
                                .and_then(|()| match mode {
                                    Mode::Link => r.link_callback(&remote, &batch, &body),
                                    Mode::Match => r.match_callback(&remote, &batch, &body),
                                });
                        no_content(result)
                    })
                },
            )
    };

    let trigger = |mode: Mode, name: &'static str| {
        warp::path("Communicator")
            .and(warp::path(name))
            .and(warp::path("trigger"))
            .and(warp::path::param::<String>())
            .and(warp::path::end())
            .and(get_or_post)
            .and(auth)
            .and(with_registry.clone())
            .then(
                move |remote: String, auth: Option<String>, r: Arc<Registry>| async move {
                    let result = match r.authorize(auth.as_deref(), Caller::User) {
                        Ok(()) => r.trigger(mode, &remote).await,
                        Err(e) => Err(e),
                    };
                    respond(result, StatusCode::ACCEPTED)
                },
            )
    };

    let status = |mode: Mode, name: &'static str| {
        warp::path("Communicator")
            .and(warp::path(name))
            .and(warp::path("status"))
            .and(warp::path::param::<String>())
            .and(warp::path::end())
            .and(warp::get())
            .and(auth)
            .and(with_registry.clone())
            .then(
                move |remote: String, auth: Option<String>, r: Arc<Registry>| async move {
                    let result = match r.authorize(auth.as_deref(), Caller::User) {
                        Ok(()) => r.status(mode, &remote).await,
                        Err(e) => Err(e),
                    };
                    respond(result, StatusCode::OK)
                },
            )
    };

    health
        .or(records)
        .or(callback(Mode::Link))
        .or(callback(Mode::Match))
        .or(trigger(Mode::Link, "linkMN"))
        .or(trigger(Mode::Match, "matchMN"))
        .or(status(Mode::Match, "matchMN"))
        .or(status(Mode::Link, "linkMN"))
        .recover(handle_rejection)
        .with(warp::log::custom(|info| {
            // Method, path and status only: paths hold site and batch ids,
            // never patient data; query strings and headers are not logged.
            tracing::debug!(method = %info.method(), path = info.path(), status = info.status().as_u16(), "request");
        }))
}

/// Unknown path 404, wrong method 405, body too large 413, else 400.
async fn handle_rejection(rejection: Rejection) -> Result<Response, Infallible> {
    let e = if rejection.is_not_found() {
        ApiError::new(StatusCode::NOT_FOUND, "no such endpoint")
    } else if rejection.find::<warp::reject::MethodNotAllowed>().is_some() {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed on this endpoint",
        )
    } else if rejection.find::<warp::reject::PayloadTooLarge>().is_some() {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "request body too large")
    } else {
        ApiError::new(StatusCode::BAD_REQUEST, "malformed request")
    };
    Ok(error_response(&e))
}
