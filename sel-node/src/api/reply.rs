//! Building the non-error responses (errors are built by [`super::error`]).

use serde::Serialize;
use warp::http::{HeaderValue, StatusCode, header};
use warp::reply::Response;

/// A `text/plain; charset=utf-8` response, the body exactly as given (no
/// newline: SPEC §3 job status is "just the word").
pub fn text(status: StatusCode, body: impl Into<String>) -> Response {
    let mut r = Response::new(body.into().into());
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// An `application/json` response.
pub fn json<T: Serialize>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => {
            let mut r = Response::new(body.into());
            *r.status_mut() = status;
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            r
        }
        Err(e) => {
            super::error::ApiError::Internal(format!("serialising a reply: {e}")).into_response()
        }
    }
}

/// An empty response.
pub fn empty(status: StatusCode) -> Response {
    let mut r = Response::new(Vec::new().into());
    *r.status_mut() = status;
    r
}

/// 202 Accepted for a job: `Location` (the reference's text) and
/// `Content-Location` (its examples) both name `/jobs/{job_id}`.
pub fn accepted(job_id: &str) -> Response {
    let mut r = empty(StatusCode::ACCEPTED);
    if let Ok(v) = HeaderValue::from_str(&format!("/jobs/{job_id}")) {
        r.headers_mut().insert(header::LOCATION, v.clone());
        r.headers_mut().insert(header::CONTENT_LOCATION, v);
    }
    r
}
