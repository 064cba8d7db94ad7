//! `POST /jobs` and `GET /jobs/{id}` on the de-id listener.
//!
//! Every outcome, including a body that is not JSON, is turned into a
//! response here (`{"detail": …}`), so the answer does not depend on how
//! the listener orders its rejection handling. Only the auth filter's own
//! rejections are left to the listener's recover handler.

use std::sync::Arc;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use futures_util::StreamExt;
use http::StatusCode;
use serde::Serialize;
use tracing::info;
use warp::filters::BoxedFilter;
use warp::reply::Response;
use warp::{Filter, Reply};

use super::model::is_job_id;
use super::request::RequestError;
use super::service::{JobService, SubmitError};

/// Seconds a client is told to wait when the queue is full.
pub const RETRY_AFTER_SECONDS: u64 = 5;

/// The job routes. `auth` passes only requests with a valid API key (the
/// de-id listener's filter); it runs before the body is read.
pub fn routes(jobs: Arc<JobService>, auth: BoxedFilter<()>) -> BoxedFilter<(Response,)> {
    let with_jobs = {
        let jobs = Arc::clone(&jobs);
        warp::any().map(move || Arc::clone(&jobs))
    };
    let submit = warp::path!("jobs")
        .and(warp::post())
        .and(auth.clone())
        .and(with_jobs.clone())
        .and(warp::body::stream())
        .then(|jobs: Arc<JobService>, body| async move {
            let limit = jobs.settings().max_body_bytes;
            match read_limited(body, limit).await {
                Ok(bytes) => submit(&jobs, bytes).await,
                Err(response) => response,
            }
        });
    let status = warp::path!("jobs" / String)
        .and(warp::get())
        .and(auth)
        .and(with_jobs)
        .then(|id: String, jobs: Arc<JobService>| async move { status(&jobs, &id).await });
    submit.or(status).unify().boxed()
}

#[derive(Serialize)]
struct Detail<'a> {
    detail: &'a str,
}

fn detail(status: StatusCode, message: &str) -> Response {
    warp::reply::with_status(warp::reply::json(&Detail { detail: message }), status).into_response()
}

/// The body, or 413 past `limit` bytes (checked while reading, so an
/// oversized body is never held whole), or 400 if it cannot be read.
async fn read_limited<S, B>(mut body: S, limit: usize) -> Result<Bytes, Response>
where
    S: futures_util::Stream<Item = Result<B, warp::Error>> + Unpin,
    B: Buf,
{
    let mut out = BytesMut::new();
    while let Some(chunk) = body.next().await {
        let mut chunk = chunk.map_err(|_| {
            detail(
                StatusCode::BAD_REQUEST,
                "the request body could not be read",
            )
        })?;
        if out.len().saturating_add(chunk.remaining()) > limit {
            return Err(detail(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!("the request body is larger than {limit} bytes"),
            ));
        }
        while chunk.has_remaining() {
            let part = chunk.chunk();
            let n = part.len();
            out.put_slice(part);
            chunk.advance(n);
        }
    }
    Ok(out.freeze())
}

#[derive(Serialize)]
struct Accepted<'a> {
    id: &'a str,
    status: &'a str,
    progress_percent: f64,
    document_count: usize,
    status_url: &'a str,
}

async fn submit(jobs: &JobService, body: Bytes) -> Response {
    let response = match jobs.submit(body).await {
        Ok(job) => warp::reply::with_status(
            warp::reply::json(&Accepted {
                id: &job.id,
                status: job.status.as_str(),
                progress_percent: job.progress_percent,
                document_count: job.document_count,
                status_url: &job.status_url,
            }),
            StatusCode::ACCEPTED,
        )
        .into_response(),
        Err(SubmitError::Request(RequestError::Malformed(m))) => {
            detail(StatusCode::BAD_REQUEST, &m)
        }
        Err(SubmitError::Request(RequestError::Invalid(m))) => {
            detail(StatusCode::UNPROCESSABLE_ENTITY, &m)
        }
        Err(e @ (SubmitError::Full | SubmitError::Stopped)) => {
            let mut r = detail(StatusCode::SERVICE_UNAVAILABLE, &e.to_string());
            r.headers_mut().insert(
                http::header::RETRY_AFTER,
                http::HeaderValue::from(RETRY_AFTER_SECONDS),
            );
            r
        }
        Err(SubmitError::Store(e)) => {
            tracing::warn!(error = %e, "job not admitted");
            detail(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the job store is unavailable",
            )
        }
    };
    info!(endpoint = "POST /jobs", status = response.status().as_u16());
    response
}

async fn status(jobs: &JobService, id: &str) -> Response {
    let response = if !is_job_id(id) {
        detail(StatusCode::NOT_FOUND, "job not found")
    } else {
        match jobs.status(id).await {
            Ok(Some(job)) => warp::reply::json(&job).into_response(),
            Ok(None) => detail(StatusCode::NOT_FOUND, "job not found"),
            Err(e) => {
                tracing::warn!(error = %e, "job status not read");
                detail(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the job store is unavailable",
                )
            }
        }
    };
    info!(
        endpoint = "GET /jobs/{id}",
        status = response.status().as_u16()
    );
    response
}
