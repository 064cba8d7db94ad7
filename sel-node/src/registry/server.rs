//! Serving the registry's routes over HTTPS (rustls), or over plain HTTP when
//! the operator asked for it. The accept loop itself is [`crate::https`],
//! shared with the REST API.

use std::sync::Arc;

use tokio::net::TcpListener;

use super::routes::routes;
use super::service::Registry;
use crate::https::{self, ConnectionLimits, RunningServer};

/// A registry serving on a background task: [`RunningServer::local_addr`],
/// [`RunningServer::shutdown`] (stops accepting, lets open connections finish,
/// bounded) and [`RunningServer::wait`] (runs until shut down).
pub type RunningRegistry = RunningServer;

/// Starts serving `registry` on `listener`: HTTPS with `tls`, plain HTTP
/// with `None`.
pub fn start(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    registry: Arc<Registry>,
) -> std::io::Result<RunningRegistry> {
    https::serve(listener, tls, routes(registry), ConnectionLimits::default())
}
