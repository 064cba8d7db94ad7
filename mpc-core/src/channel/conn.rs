//! Background reader and writer tasks shared by [`StreamChannel`] and
//! [`Mux`]: they own the two halves of a byte stream and move
//! length-prefixed frames between it and in-memory queues.
//!
//! Wire format of every frame: `len: u32 little-endian`, then `len` bytes of
//! body. The body is the message itself for a [`StreamChannel`]; for a
//! [`Mux`] it starts with a 9-byte session header (see `mux.rs`).
//!
//! Why background tasks: if `send` wrote to the socket directly, two parties
//! that both send a message larger than the kernel's socket buffers before
//! receiving would block each other forever. With a reader that always
//! drains the socket and a writer fed by a queue, that cannot happen.
//!
//! [`StreamChannel`]: super::StreamChannel
//! [`Mux`]: super::Mux

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader, BufWriter};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinHandle;

use super::{ChannelError, MAX_FRAME, SEND_BUDGET};

/// Largest frame header a caller may prepend to a payload.
pub(super) const MAX_HEADER: usize = 16;

/// How a connection ended, as seen by its reader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum EndReason {
    /// The peer closed its write half at a frame boundary.
    CleanEof,
    /// Anything else, with a human-readable reason.
    Failed(String),
}

impl EndReason {
    pub(super) fn describe(&self) -> String {
        match self {
            EndReason::CleanEof => "the peer closed the connection".to_string(),
            EndReason::Failed(r) => r.clone(),
        }
    }
}

/// State shared between the handles and the background tasks.
#[derive(Debug, Default)]
pub(super) struct ConnShared {
    pub(super) wire_bytes_written: AtomicU64,
    pub(super) wire_bytes_read: AtomicU64,
    pub(super) frames_written: AtomicU64,
    pub(super) frames_read: AtomicU64,
    /// Why the reader stopped (set once).
    pub(super) read_end: Mutex<Option<EndReason>>,
    /// Why the writer failed (set once).
    pub(super) write_error: Mutex<Option<String>>,
}

impl ConnShared {
    pub(super) fn read_end(&self) -> Option<EndReason> {
        lock(&self.read_end).clone()
    }

    fn set_read_end(&self, r: EndReason) {
        let mut g = lock(&self.read_end);
        if g.is_none() {
            *g = Some(r);
        }
    }

    fn set_write_error(&self, e: String) {
        let mut g = lock(&self.write_error);
        if g.is_none() {
            *g = Some(e);
        }
    }

    /// The error a sender sees once the writer is gone.
    pub(super) fn send_error(&self) -> ChannelError {
        let reason = lock(&self.write_error)
            .clone()
            .unwrap_or_else(|| "the connection's writer has stopped".to_string());
        ChannelError::Disconnected(reason)
    }
}

/// Locks a mutex, ignoring poisoning: the protected data are plain queues
/// and flags that stay consistent even if a holder panicked.
pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// One queued outgoing frame.
pub(super) struct OutFrame {
    header: [u8; MAX_HEADER],
    header_len: usize,
    payload: Bytes,
    /// Send-budget permits to give back once written.
    permits: usize,
}

/// The sending side of a connection: a queue to the writer task plus a byte
/// budget that makes `push` wait when the writer falls behind.
#[derive(Clone)]
pub(super) struct Outbox {
    tx: mpsc::UnboundedSender<OutFrame>,
    budget: Arc<Semaphore>,
    shared: Arc<ConnShared>,
}

impl Outbox {
    /// Queues `header ++ payload` as one frame, waiting for send budget.
    pub(super) async fn push(&self, header: &[u8], payload: Bytes) -> Result<(), ChannelError> {
        if payload.len() > MAX_FRAME {
            return Err(ChannelError::FrameTooLarge {
                len: payload.len() as u64,
                max: MAX_FRAME as u64,
            });
        }
        let permits = payload.len().min(SEND_BUDGET);
        if permits > 0 {
            // u32 is enough: SEND_BUDGET is far below u32::MAX.
            match self.budget.acquire_many(permits as u32).await {
                Ok(p) => p.forget(),
                Err(_) => return Err(self.shared.send_error()),
            }
        }
        self.enqueue(header, payload, permits)
    }

    /// Queues a frame without waiting for budget (used for small control
    /// frames, e.g. from `Drop`). Errors mean the connection is gone.
    pub(super) fn push_now(&self, header: &[u8], payload: Bytes) -> Result<(), ChannelError> {
        self.enqueue(header, payload, 0)
    }

    fn enqueue(&self, header: &[u8], payload: Bytes, permits: usize) -> Result<(), ChannelError> {
        let mut h = [0u8; MAX_HEADER];
        h[..header.len()].copy_from_slice(header);
        let frame = OutFrame {
            header: h,
            header_len: header.len(),
            payload,
            permits,
        };
        self.tx.send(frame).map_err(|_| self.shared.send_error())
    }
}

/// Aborts a task when dropped (the reader must not outlive its handles).
#[derive(Debug)]
pub(super) struct AbortOnDrop(pub(super) JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Splits `stream`, spawns the writer task and returns the outbox and the
/// read half (the caller spawns its own reader with [`read_frames`]).
/// Must be called inside a tokio runtime.
pub(super) fn start_writer<S>(stream: S) -> (Outbox, tokio::io::ReadHalf<S>, Arc<ConnShared>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (rd, wr) = tokio::io::split(stream);
    let shared = Arc::new(ConnShared::default());
    let budget = Arc::new(Semaphore::new(SEND_BUDGET));
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(writer_task(wr, rx, budget.clone(), shared.clone()));
    (
        Outbox {
            tx,
            budget,
            shared: shared.clone(),
        },
        rd,
        shared,
    )
}

async fn writer_task<W: AsyncWrite + Unpin>(
    wr: W,
    mut rx: mpsc::UnboundedReceiver<OutFrame>,
    budget: Arc<Semaphore>,
    shared: Arc<ConnShared>,
) {
    let mut w = BufWriter::with_capacity(64 << 10, wr);
    let result: std::io::Result<()> = async {
        while let Some(frame) = rx.recv().await {
            write_frame(&mut w, &frame, &shared).await?;
            budget.add_permits(frame.permits);
            // Batch whatever else is queued before paying for a flush.
            while let Ok(frame) = rx.try_recv() {
                write_frame(&mut w, &frame, &shared).await?;
                budget.add_permits(frame.permits);
            }
            w.flush().await?;
        }
        // All handles dropped: flush and signal end-of-stream to the peer.
        w.flush().await?;
        w.shutdown().await
    }
    .await;
    if let Err(e) = result {
        shared.set_write_error(format!("write to the peer failed: {e}"));
    }
    // Wake senders waiting for budget; they will see the error.
    budget.close();
}

async fn write_frame<W: AsyncWrite + Unpin>(
    w: &mut W,
    frame: &OutFrame,
    shared: &ConnShared,
) -> std::io::Result<()> {
    let body_len = frame.header_len + frame.payload.len();
    // body_len <= MAX_FRAME + MAX_HEADER < u32::MAX, checked in push.
    w.write_all(&(body_len as u32).to_le_bytes()).await?;
    w.write_all(&frame.header[..frame.header_len]).await?;
    w.write_all(&frame.payload).await?;
    shared
        .wire_bytes_written
        .fetch_add(4 + body_len as u64, Ordering::Relaxed);
    shared.frames_written.fetch_add(1, Ordering::Relaxed);
    Ok(())
}

/// Largest piece of a frame body read (and allocated) at a time. A frame
/// header only announces a length; memory for the body grows with the bytes
/// that actually arrive, so a peer announcing 256 MiB and sending nothing
/// costs nothing.
const READ_CHUNK: usize = 64 << 10;

/// Reads frames until the stream ends or fails, handing each frame body to
/// `on_frame`; an `Err` from `on_frame` (a protocol violation by the peer)
/// stops reading. `on_frame` may wait (back-pressure): the socket is not read
/// meanwhile. Records and returns why reading stopped.
pub(super) async fn read_frames<R, F, Fut>(rd: R, shared: &ConnShared, mut on_frame: F) -> EndReason
where
    R: AsyncRead + Unpin,
    F: FnMut(Bytes) -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let mut r = BufReader::with_capacity(64 << 10, rd);
    let reason = loop {
        match read_frame(&mut r).await {
            Ok(Some(body)) => {
                shared
                    .wire_bytes_read
                    .fetch_add(4 + body.len() as u64, Ordering::Relaxed);
                shared.frames_read.fetch_add(1, Ordering::Relaxed);
                if let Err(e) = on_frame(body).await {
                    break EndReason::Failed(e);
                }
            }
            Ok(None) => break EndReason::CleanEof,
            Err(e) => break EndReason::Failed(e),
        }
    };
    shared.set_read_end(reason.clone());
    reason
}

/// Reads one frame body; `Ok(None)` on end-of-stream at a frame boundary.
async fn read_frame<R: AsyncRead + Unpin>(r: &mut R) -> Result<Option<Bytes>, String> {
    let mut len = [0u8; 4];
    // Read the first byte separately to tell a clean EOF from a cut frame.
    match r.read(&mut len[..1]).await {
        Ok(0) => return Ok(None),
        Ok(_) => {}
        Err(e) => return Err(format!("read from the peer failed: {e}")),
    }
    r.read_exact(&mut len[1..])
        .await
        .map_err(|e| format!("connection ended inside a frame header: {e}"))?;
    let len = u32::from_le_bytes(len) as usize;
    if len > MAX_FRAME + MAX_HEADER {
        return Err(format!(
            "peer announced a frame of {len} bytes, above the limit of {} bytes",
            MAX_FRAME + MAX_HEADER
        ));
    }
    // Grow the body with what arrives, one bounded chunk at a time (the
    // buffer's capacity at most doubles past the bytes received).
    let mut body = BytesMut::with_capacity(len.min(READ_CHUNK));
    while body.len() < len {
        let want = (len - body.len()).min(READ_CHUNK);
        body.reserve(want);
        let n = (&mut *r)
            .take(want as u64)
            .read_buf(&mut body)
            .await
            .map_err(|e| format!("connection ended inside a {len}-byte frame: {e}"))?;
        if n == 0 {
            return Err(format!(
                "connection ended inside a {len}-byte frame after {} bytes",
                body.len()
            ));
        }
    }
    Ok(Some(body.freeze()))
}
