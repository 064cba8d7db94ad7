//! Serving a warp filter over rustls, or over plain HTTP when the caller
//! passes no TLS config (the operator asked for it): the one accept loop
//! behind the REST API and the registry.
//!
//! warp 0.4 has no TLS of its own, so the accept loop is ours: accept TCP,
//! complete the handshake within a bound (a silent client cannot pin a
//! task), and hand the stream to hyper with the filter as the service.
//! Shutdown stops accepting and lets open connections finish, within a bound.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tracing::{debug, warn};
use warp::{Filter, Reply};

/// How long to wait before accepting again after `accept` failed (typically
/// EMFILE), so that the loop backs off instead of spinning.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// The time bounds of a server's connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Longest a client may take to complete the TLS handshake.
    pub handshake_timeout: Duration,
    /// Longest shutdown waits for open connections.
    pub drain_timeout: Duration,
}

impl Default for ConnectionLimits {
    /// The bounds the REST API and the registry both serve with.
    fn default() -> Self {
        ConnectionLimits {
            handshake_timeout: Duration::from_secs(10),
            drain_timeout: Duration::from_secs(5),
        }
    }
}

/// A server running on a background task.
pub struct RunningServer {
    local_addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl RunningServer {
    /// The bound address (the real port when the listener bound port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting, lets open connections finish (bounded), and returns.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.task).await;
    }

    /// Runs until the server ends (only on shutdown).
    pub async fn wait(self) {
        let _ = self.task.await;
    }
}

/// Starts serving `filter` on `listener` on a background task: HTTPS with
/// `tls`, plain HTTP with `None`. Must be called within a tokio runtime.
///
/// Fails only if the listener's local address cannot be read.
pub fn serve<F, R>(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    filter: F,
    limits: ConnectionLimits,
) -> std::io::Result<RunningServer>
where
    F: Filter<Extract = (R,), Error = Infallible> + Clone + Send + Sync + 'static,
    R: Reply + 'static,
{
    let local_addr = listener.local_addr()?;
    let (tx, rx) = oneshot::channel();
    let acceptor = tls.map(TlsAcceptor::from);
    let task = tokio::spawn(accept_loop(listener, acceptor, filter, limits, rx));
    Ok(RunningServer {
        local_addr,
        shutdown: Some(tx),
        task,
    })
}

async fn accept_loop<F, R>(
    listener: TcpListener,
    acceptor: Option<TlsAcceptor>,
    filter: F,
    limits: ConnectionLimits,
    mut shutdown: oneshot::Receiver<()>,
) where
    F: Filter<Extract = (R,), Error = Infallible> + Clone + Send + Sync + 'static,
    R: Reply + 'static,
{
    let graceful = GracefulShutdown::new();
    loop {
        let (tcp, peer) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
        };
        let service = TowerToHyperService::new(warp::service(filter.clone()));
        let watcher = graceful.watcher();
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let builder = Builder::new(TokioExecutor::new());
            let result = match acceptor {
                None => {
                    watcher
                        .watch(builder.serve_connection(TokioIo::new(tcp), service))
                        .await
                }
                Some(acceptor) => {
                    let handshake = acceptor.accept(tcp);
                    let tls = match tokio::time::timeout(limits.handshake_timeout, handshake).await
                    {
                        Ok(Ok(tls)) => tls,
                        Ok(Err(e)) => {
                            debug!(%peer, error = %e, "TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            debug!(%peer, "TLS handshake timed out");
                            return;
                        }
                    };
                    watcher
                        .watch(builder.serve_connection(TokioIo::new(tls), service))
                        .await
                }
            };
            if let Err(e) = result {
                debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.drain_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        debug!("connections still open after the drain timeout");
    }
}
