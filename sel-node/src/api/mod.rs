//! The REST API of SPEC §3 (warp), served over rustls.
//!
//! One module per job: [`routes`] (the route table, the order of checks and
//! the warp filter), [`auth`] (the local key), [`body`] (bounded reading and
//! JSON parsing), [`error`] (every failure → status + `{"error"}`),
//! [`init`], [`connectivity`] and [`jobs`] (the endpoints), [`metrics`],
//! [`openapi`], [`reply`], [`server`] (the accept loop) and [`status`] (the
//! operator's status page and its JSON).

pub mod auth;
pub mod body;
pub mod connectivity;
pub mod error;
pub mod init;
pub mod jobs;
pub mod metrics;
pub mod openapi;
pub mod reply;
pub mod routes;
pub mod server;
pub mod status;

pub use error::ApiError;
pub use routes::{Endpoint, ROUTES, Route, match_route, routes};
pub use server::{RunningApi, serve};

/// Limits the API enforces itself (queue capacity is the job manager's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiLimits {
    /// Largest request body; larger bodies get 413.
    pub max_body_bytes: u64,
}

/// Runs a blocking job-manager call (store writes) off the async workers.
/// A panic in it becomes a 500, not a dropped connection.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::Internal(format!("a job manager call failed: {e}")))
}
