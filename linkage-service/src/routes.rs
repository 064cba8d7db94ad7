//! The HTTP surface (warp filters). Thin: each route extracts what it needs
//! and hands it to [`Service`]; every outcome becomes a response here, so the
//! metrics and the request log see the final status.
//!
//! | route | auth | purpose |
//! |---|---|---|
//! | `GET /freshIDs/{ml_id}?count=n` | site | n fresh LIDs sealed for the site |
//! | `POST /linkageResult/{local_id}/{remote_id}` | site = local_id | one node's shares of a job |
//! | `GET /test` | any site | connectivity check of the node's testLS |
//! | `GET /health` | none | liveness |
//! | `GET /metrics` | none | Prometheus counters (no per-record information) |

use std::convert::Infallible;
use std::sync::Arc;

use protocol_spec::messages::linkage::ErrorBody;
use tracing::info;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};

use crate::error::ApiError;
use crate::metrics::route_label;
use crate::service::Service;

/// Body of a successful `GET /test`, as the reference's testLS expects.
pub const TEST_REPLY: &str = "Linkage Service connected";

fn json_ok<T: serde::Serialize>(value: &T) -> Response {
    warp::reply::json(value).into_response()
}

fn respond<T: serde::Serialize>(result: Result<T, ApiError>) -> Response {
    match result {
        Ok(value) => json_ok(&value),
        Err(e) => e.into_response(),
    }
}

/// All routes of the service, with rejection handling and request logging.
pub fn routes(
    svc: Arc<Service>,
) -> impl Filter<Extract = (impl Reply,), Error = Infallible> + Clone + Send + Sync + 'static {
    let with_svc = {
        let svc = Arc::clone(&svc);
        warp::any().map(move || Arc::clone(&svc))
    };
    let auth = warp::header::optional::<String>("authorization");
    let raw_query = warp::query::raw()
        .map(Some)
        .or(warp::any().map(|| None))
        .unify();

    // Path before method: an unknown path is 404, a known path with the
    // wrong method 405.
    let fresh_ids = warp::path!("freshIDs" / String)
        .and(warp::get())
        .and(raw_query)
        .and(auth)
        .and(with_svc.clone())
        .then(
            |site: String, query: Option<String>, auth: Option<String>, svc: Arc<Service>| async move {
                respond(svc.fresh_ids(site, query, auth).await)
            },
        );

    // The body is handed over unread: the service authenticates from the
    // headers first and reads the body only for an authenticated caller.
    let linkage_result = warp::path!("linkageResult" / String / String)
        .and(warp::post())
        .and(auth)
        .and(warp::header::optional::<u64>("content-length"))
        .and(warp::body::stream())
        .and(with_svc.clone())
        .then(
            |local: String,
             remote: String,
             auth: Option<String>,
             content_length: Option<u64>,
             body,
             svc: Arc<Service>| async move {
                respond(
                    svc.linkage_result(local, remote, auth, content_length, body)
                        .await,
                )
            },
        );

    let test = warp::path!("test")
        .and(warp::get())
        .and(auth)
        .and(with_svc.clone())
        .then(|auth: Option<String>, svc: Arc<Service>| async move {
            match svc.test(auth).await {
                Ok(_) => warp::reply::with_status(TEST_REPLY, StatusCode::OK).into_response(),
                Err(e) => e.into_response(),
            }
        });

    let health = warp::path!("health")
        .and(warp::get())
        .map(|| warp::reply::with_status("OK", StatusCode::OK).into_response());

    let metrics = warp::path!("metrics")
        .and(warp::get())
        .and(with_svc)
        .map(|svc: Arc<Service>| {
            warp::reply::with_header(
                svc.metrics_text(),
                "content-type",
                "text/plain; version=0.0.4; charset=utf-8",
            )
            .into_response()
        });

    let log_svc = Arc::clone(&svc);
    fresh_ids
        .or(linkage_result)
        .unify()
        .or(test)
        .unify()
        .or(health)
        .unify()
        .or(metrics)
        .unify()
        .recover(handle_rejection)
        .unify()
        .with(warp::log::custom(move |info| {
            let route = route_label(info.path());
            let status = info.status().as_u16();
            log_svc.metrics().record_request(route, status);
            // The path holds only route names and site ids; no header, query
            // value or body is ever logged.
            info!(
                method = %info.method(),
                route,
                status,
                elapsed_ms = info.elapsed().as_millis() as u64,
                "request"
            );
        }))
}

/// Maps warp's own rejections (no route, wrong method, body limits, bad
/// headers) to JSON error replies.
async fn handle_rejection(rejection: Rejection) -> Result<Response, Infallible> {
    use warp::reject;
    let (status, message) = if rejection.is_not_found() {
        (StatusCode::NOT_FOUND, "no such endpoint".to_string())
    } else if rejection.find::<reject::MethodNotAllowed>().is_some() {
        (
            StatusCode::METHOD_NOT_ALLOWED,
            "HTTP method not allowed on this endpoint".to_string(),
        )
    } else if rejection.find::<reject::LengthRequired>().is_some() {
        (
            StatusCode::LENGTH_REQUIRED,
            "a Content-Length header is required".to_string(),
        )
    } else if rejection.find::<reject::PayloadTooLarge>().is_some() {
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            "the request body exceeds the configured maximum".to_string(),
        )
    } else if let Some(e) = rejection.find::<reject::InvalidHeader>() {
        (
            StatusCode::BAD_REQUEST,
            format!("header {} is not valid", e.name()),
        )
    } else {
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            "unhandled request error".to_string(),
        )
    };
    Ok(
        warp::reply::with_status(warp::reply::json(&ErrorBody { error: message }), status)
            .into_response(),
    )
}
