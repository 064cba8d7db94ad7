//! [`StreamChannel`]: one channel over a byte stream (TCP, TLS, ...).

use std::sync::Arc;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite};

use super::conn::{AbortOnDrop, ConnShared, EndReason, Outbox, read_frames, start_writer};
use super::inbox::{InboxRx, Item, inbox};
use super::{Channel, ChannelError, ChannelLimits, ChannelStats, Counters};

/// A [`Channel`] over any byte stream, with 4-byte little-endian length
/// prefixes as framing. Generic over the stream so the node can hand it a
/// `tokio_rustls` stream; use [`Mux`](super::Mux) instead when more than one
/// protocol session shares the connection.
///
/// Creating one spawns a reader and a writer task, so it must happen inside
/// a tokio runtime. Dropping the channel flushes queued messages and closes
/// the write direction; the peer's `recv` then returns
/// [`ChannelError::Closed`].
///
/// Received messages wait in a queue bounded by
/// [`ChannelLimits::recv_budget`]; while it is full the channel stops reading
/// the socket (back-pressure on the peer). There is no other session to
/// starve, so the wait has no timeout.
pub struct StreamChannel {
    outbox: Outbox,
    inbox: InboxRx,
    shared: Arc<ConnShared>,
    counters: Counters,
    _reader: AbortOnDrop,
}

impl StreamChannel {
    /// Wraps `stream` with the default [`ChannelLimits`]. Must be called
    /// inside a tokio runtime.
    pub fn new<S>(stream: S) -> Self
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        Self::with_limits(stream, ChannelLimits::default())
    }

    /// Wraps `stream` with the given receive bound (the stall timeout does
    /// not apply to a single-session channel). Must be called inside a tokio
    /// runtime.
    pub fn with_limits<S>(stream: S, limits: ChannelLimits) -> Self
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (outbox, rd, shared) = start_writer(stream);
        let (tx, inbox) = inbox(limits.recv_budget, []);
        let reader_shared = shared.clone();
        let reader = tokio::spawn(async move {
            read_frames(rd, &reader_shared, |body| {
                let tx = tx.clone();
                async move {
                    // Waits while the queue is full. The local end may be
                    // gone already; nothing to deliver then.
                    let _ = tx.push(body, None).await;
                    Ok(())
                }
            })
            .await;
        });
        StreamChannel {
            outbox,
            inbox,
            shared,
            counters: Counters::default(),
            _reader: AbortOnDrop(reader),
        }
    }

    /// Bytes actually written to / read from the stream, framing included.
    pub fn wire_bytes(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (
            self.shared.wire_bytes_written.load(Relaxed),
            self.shared.wire_bytes_read.load(Relaxed),
        )
    }
}

impl Channel for StreamChannel {
    async fn send(&mut self, msg: Bytes) -> Result<(), ChannelError> {
        let len = msg.len();
        self.outbox.push(&[], msg).await?;
        self.counters.on_send(len);
        Ok(())
    }

    async fn recv(&mut self) -> Result<Bytes, ChannelError> {
        match self.inbox.recv().await {
            Some(Item::Data(msg, _)) => {
                self.counters.on_recv(msg.len());
                Ok(msg)
            }
            // Only a mux produces control items; a stream channel never
            // queues them.
            Some(Item::PeerClosed | Item::Overflowed | Item::Stalled) => Err(
                ChannelError::Disconnected("unexpected control item on a stream channel".into()),
            ),
            None => Err(match self.shared.read_end() {
                Some(EndReason::CleanEof) => ChannelError::Closed,
                Some(EndReason::Failed(r)) => ChannelError::Disconnected(r),
                None => ChannelError::Disconnected("the reader task stopped".into()),
            }),
        }
    }

    fn stats(&self) -> ChannelStats {
        self.counters.stats()
    }
}
