//! Serving the routes over TLS.
//!
//! warp 0.4 has no TLS of its own, so the accept loop is ours: accept TCP,
//! complete the rustls handshake (bounded in time, so a silent peer cannot pin
//! a task), and hand the stream to hyper with warp's filter as the service.
//!
//! Bounds against clients that connect and then stall (slowloris):
//! * at most `max_connections` connections at once; more are closed at once;
//! * the TLS handshake within 10 s, a request's headers within
//!   `header_read_timeout` (HTTP/1.1);
//! * a connection with no request in flight and no bytes moving for
//!   `idle_timeout` is closed. A request in flight (a long-poll waiting for
//!   its partner, a job being resolved) keeps its connection; those are bounded
//!   by the job and body timeouts instead.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use rustls::ServerConfig;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, oneshot};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tracing::{debug, warn};

use crate::routes::routes;
use crate::service::Service;

/// Longest a client may take to complete the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest shutdown waits for open connections (long-polls included).
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// A server running on a background task.
pub struct RunningServer {
    local_addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl RunningServer {
    /// The bound address (useful when binding port 0).
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

    /// Runs until the server task ends (it ends only on shutdown).
    pub async fn wait(self) {
        let _ = self.task.await;
    }
}

/// Starts serving `svc` over TLS on `listener`.
pub fn start(
    listener: TcpListener,
    tls: Arc<ServerConfig>,
    svc: Arc<Service>,
) -> std::io::Result<RunningServer> {
    let local_addr = listener.local_addr()?;
    let (tx, rx) = oneshot::channel();
    let task = tokio::spawn(accept_loop(listener, TlsAcceptor::from(tls), svc, rx));
    Ok(RunningServer {
        local_addr,
        shutdown: Some(tx),
        task,
    })
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    svc: Arc<Service>,
    mut shutdown: oneshot::Receiver<()>,
) {
    let config = svc.config().clone();
    let connections = Arc::new(Semaphore::new(config.max_connections));
    let filter = routes(svc);
    let graceful = GracefulShutdown::new();
    loop {
        let (tcp, peer) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Typically EMFILE; back off instead of spinning.
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let Ok(slot) = Arc::clone(&connections).try_acquire_owned() else {
            debug!(%peer, "connection limit reached; closing the new connection");
            drop(tcp);
            continue;
        };
        let acceptor = acceptor.clone();
        let activity = Arc::new(Activity::new());
        let service = Tracked {
            inner: TowerToHyperService::new(warp::service(filter.clone())),
            activity: Arc::clone(&activity),
        };
        let watcher = graceful.watcher();
        let (header_timeout, idle) = (config.header_read_timeout, config.idle_timeout);
        tokio::spawn(async move {
            let _slot = slot;
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
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
            let mut builder = Builder::new(TokioExecutor::new());
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout);
            let io = TokioIo::new(ActivityIo {
                inner: tls,
                activity: Arc::clone(&activity),
            });
            let conn = builder.serve_connection(io, service);
            tokio::select! {
                served = watcher.watch(conn) => {
                    if let Err(e) = served {
                        debug!(%peer, error = %e, "connection ended with an error");
                    }
                }
                () = idle_watch(&activity, idle) => {
                    debug!(%peer, "idle connection closed");
                }
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        debug!("connections still open after the drain timeout");
    }
}

/// What a connection is doing: when bytes last moved, and how many requests
/// are in flight.
struct Activity {
    epoch: Instant,
    last_ms: AtomicU64,
    in_flight: AtomicUsize,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            epoch: Instant::now(),
            last_ms: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
        }
    }

    fn touch(&self) {
        let now = self.epoch.elapsed().as_millis() as u64;
        self.last_ms.store(now, Ordering::Relaxed);
    }

    fn idle_for(&self) -> Duration {
        let now = self.epoch.elapsed().as_millis() as u64;
        Duration::from_millis(now.saturating_sub(self.last_ms.load(Ordering::Relaxed)))
    }
}

/// Resolves once the connection has been idle (no request in flight, no
/// bytes moving) for `idle`.
async fn idle_watch(activity: &Activity, idle: Duration) {
    loop {
        let quiet = activity.idle_for();
        let busy = activity.in_flight.load(Ordering::Relaxed) > 0;
        if !busy && quiet >= idle {
            return;
        }
        let next = if busy { idle } else { idle - quiet };
        tokio::time::sleep(next.max(Duration::from_millis(10))).await;
    }
}

/// The connection's stream, noting every read or write that moves bytes.
struct ActivityIo<T> {
    inner: T,
    activity: Arc<Activity>,
}

impl<T: AsyncRead + Unpin> AsyncRead for ActivityIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for ActivityIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The HTTP service, counting its requests in flight.
struct Tracked<S> {
    inner: S,
    activity: Arc<Activity>,
}

/// Counts one request in flight until dropped.
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.0.touch();
    }
}

impl<S, R> warp::hyper::service::Service<R> for Tracked<S>
where
    S: warp::hyper::service::Service<R>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn call(&self, req: R) -> Self::Future {
        self.activity.in_flight.fetch_add(1, Ordering::Relaxed);
        let guard = InFlight(Arc::clone(&self.activity));
        let fut = self.inner.call(req);
        Box::pin(async move {
            let _guard = guard;
            fut.await
        })
    }
}
