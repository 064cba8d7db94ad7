//! Serving the REST API: over rustls, or over plain HTTP only when the
//! operator passed `--insecure-http` (the caller passes no TLS config then).
//! The accept loop itself is [`crate::https`], shared with the registry.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tracing::warn;

use super::error::ApiError;
use super::{ApiLimits, routes};
use crate::https::{self, ConnectionLimits, RunningServer};
use crate::jobs::JobManager;

/// The REST API running on a background task: [`RunningServer::local_addr`]
/// is the bound address (the real port when `addr` had port 0), and
/// [`RunningServer::shutdown`] stops accepting and lets open requests finish
/// (bounded).
pub type RunningApi = RunningServer;

/// Binds `addr` and serves the REST API on it until [`RunningApi::shutdown`].
/// `tls` is `None` only with `--insecure-http`.
pub async fn serve(
    addr: SocketAddr,
    tls: Option<Arc<rustls::ServerConfig>>,
    manager: Arc<JobManager>,
    limits: ApiLimits,
) -> Result<RunningApi, ApiError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| ApiError::Bind { addr, source })?;
    let plain = tls.is_none();
    let running = https::serve(
        listener,
        tls,
        routes(manager, limits),
        ConnectionLimits::default(),
    )
    .map_err(|source| ApiError::Bind { addr, source })?;
    if plain {
        warn!(local_addr = %running.local_addr(), "REST API over plain HTTP (--insecure-http): keys travel in clear");
    }
    Ok(running)
}
