//! A byte stream this node can close from outside.
//!
//! The multiplexer keeps its connection open while any session exists, and
//! sessions belong to running jobs. To end a connection on demand (hub
//! shutdown, losing the one-connection-per-pair tie-break) the stream under
//! the multiplexer is wrapped: once its token fires, the inner stream is
//! dropped (the socket closes, the peer sees it at once) and every read and
//! write fails, so the multiplexer fails all its sessions.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

pub(crate) struct Closable<S> {
    inner: Option<S>,
    read_kill: Pin<Box<WaitForCancellationFutureOwned>>,
    write_kill: Pin<Box<WaitForCancellationFutureOwned>>,
}

impl<S> Closable<S> {
    pub(crate) fn new(inner: S, kill: &CancellationToken) -> Self {
        Closable {
            inner: Some(inner),
            read_kill: Box::pin(kill.clone().cancelled_owned()),
            write_kill: Box::pin(kill.clone().cancelled_owned()),
        }
    }
}

fn closed() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "the connection was closed by this node",
    )
}

impl<S: Unpin> Closable<S> {
    /// The inner stream, unless the token fired (then it is dropped now).
    /// Polling the token registers the waker, so a pending read or write
    /// wakes up when the connection is closed.
    fn live(&mut self, cx: &mut Context<'_>, reading: bool) -> Result<Pin<&mut S>, io::Error> {
        let kill = if reading {
            self.read_kill.as_mut()
        } else {
            self.write_kill.as_mut()
        };
        if kill.poll(cx).is_ready() {
            self.inner = None;
        }
        match self.inner.as_mut() {
            Some(s) => Ok(Pin::new(s)),
            None => Err(closed()),
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Closable<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut().live(cx, true) {
            Ok(s) => s.poll_read(cx, buf),
            Err(e) => Poll::Ready(Err(e)),
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Closable<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut().live(cx, false) {
            Ok(s) => s.poll_write(cx, buf),
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut().live(cx, false) {
            Ok(s) => s.poll_flush(cx),
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut().live(cx, false) {
            Ok(s) => s.poll_shutdown(cx),
            Err(e) => Poll::Ready(Err(e)),
        }
    }
}
