//! [`Mux`]: many protocol sessions over one connection.
//!
//! Frame body layout (inside the 4-byte length prefix of `conn.rs`):
//! `session: u64 LE | kind: u8 | payload`, with kind `0` = data (payload is
//! one message of that session) and kind `1` = close (the sender dropped its
//! end of the session; empty payload).
//!
//! Both parties open the same session id. Data for an id that is not yet
//! open locally is buffered (up to [`PENDING_LIMIT_PER_SESSION`] bytes per
//! session and [`PENDING_LIMIT_TOTAL`] in all; beyond that the session is
//! marked overflowed and its `recv` fails with
//! [`ChannelError::BufferOverflow`]), so the two parties need not open
//! sessions in the same order or at the same time. Session ids are single
//! use per connection: reopening an id is refused, so a late frame of an old
//! session can never be mistaken for a new one.
//!
//! Failure isolation: closing (dropping) one session sends a close frame and
//! affects only that id. A broken connection — the peer vanished, an I/O
//! error, or a frame that does not parse — fails every session's `recv`
//! with [`ChannelError::Disconnected`] carrying the reason; nothing hangs.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use bytes::{Buf, Bytes};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;

use super::conn::{AbortOnDrop, ConnShared, EndReason, Outbox, lock, read_frames, start_writer};
use super::{Channel, ChannelError, ChannelStats, Counters};

/// Bytes buffered for one not-yet-opened session before it overflows.
pub const PENDING_LIMIT_PER_SESSION: usize = 64 << 20;
/// Bytes buffered for all not-yet-opened sessions together.
pub const PENDING_LIMIT_TOTAL: usize = 256 << 20;
/// Distinct not-yet-opened session ids the peer may address.
const PENDING_SESSIONS_MAX: usize = 4096;

const HEADER_LEN: usize = 9;
const KIND_DATA: u8 = 0;
const KIND_CLOSE: u8 = 1;

/// What the reader delivers to an open session.
enum Incoming {
    Data(Bytes),
    PeerClosed,
    Overflowed,
}

enum Slot {
    /// Peer used the id, we have not opened it yet.
    Pending {
        frames: VecDeque<Bytes>,
        bytes: usize,
        peer_closed: bool,
        overflowed: bool,
    },
    /// Open locally; the reader forwards into the session's queue.
    Open(mpsc::UnboundedSender<Incoming>),
}

#[derive(Default)]
struct MuxState {
    slots: HashMap<u64, Slot>,
    /// Ids closed locally: frames for them are dropped, reopening refused.
    retired: HashSet<u64>,
    pending_bytes: usize,
    pending_sessions: usize,
    /// Set when the connection is gone; no new sessions then.
    dead: Option<String>,
}

impl MuxState {
    /// Routes one frame from the peer. `Err` = the connection is unusable.
    fn route(&mut self, mut body: Bytes) -> Result<(), String> {
        if body.len() < HEADER_LEN {
            return Err(format!(
                "malformed mux frame: {} bytes, shorter than its header",
                body.len()
            ));
        }
        let session = body.get_u64_le();
        let kind = body.get_u8();
        if kind != KIND_DATA && kind != KIND_CLOSE {
            return Err(format!(
                "malformed mux frame: unknown kind {kind} for session {session}"
            ));
        }
        if kind == KIND_CLOSE && !body.is_empty() {
            return Err(format!(
                "malformed mux frame: close frame for session {session} has a payload"
            ));
        }
        if self.retired.contains(&session) {
            return Ok(());
        }
        if !self.slots.contains_key(&session) {
            if self.pending_sessions >= PENDING_SESSIONS_MAX {
                return Err(format!(
                    "peer addressed more than {PENDING_SESSIONS_MAX} sessions that were never opened here"
                ));
            }
            self.pending_sessions += 1;
            self.slots.insert(
                session,
                Slot::Pending {
                    frames: VecDeque::new(),
                    bytes: 0,
                    peer_closed: false,
                    overflowed: false,
                },
            );
        }
        let total = &mut self.pending_bytes;
        match self.slots.get_mut(&session) {
            Some(Slot::Open(tx)) => {
                let msg = if kind == KIND_DATA {
                    Incoming::Data(body)
                } else {
                    Incoming::PeerClosed
                };
                // A send error means the session is being dropped right now.
                let _ = tx.send(msg);
            }
            Some(Slot::Pending {
                frames,
                bytes,
                peer_closed,
                overflowed,
            }) => {
                if kind == KIND_CLOSE {
                    *peer_closed = true;
                } else if !*overflowed && !*peer_closed {
                    let len = body.len();
                    if *bytes + len > PENDING_LIMIT_PER_SESSION
                        || *total + len > PENDING_LIMIT_TOTAL
                    {
                        *overflowed = true;
                        *total -= *bytes;
                        *bytes = 0;
                        frames.clear();
                    } else {
                        *bytes += len;
                        *total += len;
                        frames.push_back(body);
                    }
                }
            }
            None => {}
        }
        Ok(())
    }

    /// The connection is gone: fail all sessions by dropping their queues.
    fn kill(&mut self, reason: String) {
        self.dead = Some(reason);
        self.slots.clear();
        self.pending_bytes = 0;
        self.pending_sessions = 0;
    }
}

struct MuxInner {
    outbox: Outbox,
    state: Arc<Mutex<MuxState>>,
    shared: Arc<ConnShared>,
    _reader: AbortOnDrop,
}

/// A multiplexer: independent [`MuxSession`] channels over one connection.
///
/// Cheap to clone (all clones share the connection). The connection stays
/// up while any clone or session exists; when the last one is dropped,
/// queued frames are flushed and the write direction is closed.
#[derive(Clone)]
pub struct Mux {
    inner: Arc<MuxInner>,
}

/// Connection-level traffic of a [`Mux`] (all sessions, framing included).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WireStats {
    /// Bytes written to the stream.
    pub bytes_written: u64,
    /// Bytes read from the stream.
    pub bytes_read: u64,
    /// Frames written.
    pub frames_written: u64,
    /// Frames read.
    pub frames_read: u64,
}

impl Mux {
    /// Starts multiplexing over `stream`. Must be called inside a tokio
    /// runtime (spawns a reader and a writer task).
    pub fn new<S>(stream: S) -> Self
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (outbox, rd, shared) = start_writer(stream);
        let state = Arc::new(Mutex::new(MuxState::default()));
        let reader_state = state.clone();
        let reader_shared = shared.clone();
        let reader = tokio::spawn(async move {
            let end = read_frames(rd, &reader_shared, |body| lock(&reader_state).route(body)).await;
            let reason = match end {
                EndReason::CleanEof => "the peer closed the connection".to_string(),
                EndReason::Failed(r) => r,
            };
            lock(&reader_state).kill(reason);
        });
        Mux {
            inner: Arc::new(MuxInner {
                outbox,
                state,
                shared,
                _reader: AbortOnDrop(reader),
            }),
        }
    }

    /// Opens session `id`. The peer must open the same id; messages it sent
    /// earlier are delivered first. Fails with
    /// [`ChannelError::SessionInUse`] if `id` is open or was used before on
    /// this connection, and with [`ChannelError::Disconnected`] if the
    /// connection is gone.
    pub fn open(&self, id: u64) -> Result<MuxSession, ChannelError> {
        let mut st = lock(&self.inner.state);
        if let Some(reason) = &st.dead {
            return Err(ChannelError::Disconnected(reason.clone()));
        }
        if st.retired.contains(&id) || matches!(st.slots.get(&id), Some(Slot::Open(_))) {
            return Err(ChannelError::SessionInUse(id));
        }
        let (tx, rx) = mpsc::unbounded_channel();
        if let Some(Slot::Pending {
            frames,
            bytes,
            peer_closed,
            overflowed,
        }) = st.slots.remove(&id)
        {
            st.pending_bytes -= bytes;
            st.pending_sessions -= 1;
            for f in frames {
                let _ = tx.send(Incoming::Data(f));
            }
            if overflowed {
                let _ = tx.send(Incoming::Overflowed);
            }
            if peer_closed {
                let _ = tx.send(Incoming::PeerClosed);
            }
        }
        st.slots.insert(id, Slot::Open(tx));
        drop(st);
        Ok(MuxSession {
            id,
            mux: self.inner.clone(),
            rx,
            ended: None,
            counters: Counters::default(),
        })
    }

    /// Connection-level counters (all sessions, framing included).
    pub fn wire_stats(&self) -> WireStats {
        let s = &self.inner.shared;
        WireStats {
            bytes_written: s.wire_bytes_written.load(Ordering::Relaxed),
            bytes_read: s.wire_bytes_read.load(Ordering::Relaxed),
            frames_written: s.frames_written.load(Ordering::Relaxed),
            frames_read: s.frames_read.load(Ordering::Relaxed),
        }
    }

    /// Why the connection is unusable, or `None` while it is up.
    pub fn disconnected(&self) -> Option<String> {
        lock(&self.inner.state).dead.clone()
    }
}

/// Why a session's `recv` stopped for good.
#[derive(Clone, Copy)]
enum Ended {
    PeerClosed,
    Overflowed,
}

/// One session of a [`Mux`]; a [`Channel`] with its own counters.
/// Dropping it tells the peer (its `recv` then fails with
/// [`ChannelError::Closed`] after the messages already sent) and leaves
/// other sessions untouched.
pub struct MuxSession {
    id: u64,
    mux: Arc<MuxInner>,
    rx: mpsc::UnboundedReceiver<Incoming>,
    ended: Option<Ended>,
    counters: Counters,
}

impl MuxSession {
    /// The session id.
    pub fn id(&self) -> u64 {
        self.id
    }

    fn header(&self, kind: u8) -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        h[..8].copy_from_slice(&self.id.to_le_bytes());
        h[8] = kind;
        h
    }

    fn ended_error(&self, e: Ended) -> ChannelError {
        match e {
            Ended::PeerClosed => ChannelError::Closed,
            Ended::Overflowed => ChannelError::BufferOverflow {
                session: self.id,
                limit: PENDING_LIMIT_PER_SESSION,
            },
        }
    }
}

impl Channel for MuxSession {
    async fn send(&mut self, msg: Bytes) -> Result<(), ChannelError> {
        let len = msg.len();
        let header = self.header(KIND_DATA);
        self.mux.outbox.push(&header, msg).await?;
        self.counters.on_send(len);
        Ok(())
    }

    async fn recv(&mut self) -> Result<Bytes, ChannelError> {
        if let Some(e) = self.ended {
            return Err(self.ended_error(e));
        }
        match self.rx.recv().await {
            Some(Incoming::Data(msg)) => {
                self.counters.on_recv(msg.len());
                Ok(msg)
            }
            Some(Incoming::PeerClosed) => {
                self.ended = Some(Ended::PeerClosed);
                Err(self.ended_error(Ended::PeerClosed))
            }
            Some(Incoming::Overflowed) => {
                self.ended = Some(Ended::Overflowed);
                Err(self.ended_error(Ended::Overflowed))
            }
            None => {
                let reason = lock(&self.mux.state)
                    .dead
                    .clone()
                    .or_else(|| self.mux.shared.read_end().map(|r| r.describe()))
                    .unwrap_or_else(|| "the connection is gone".to_string());
                Err(ChannelError::Disconnected(reason))
            }
        }
    }

    fn stats(&self) -> ChannelStats {
        self.counters.stats()
    }
}

impl Drop for MuxSession {
    fn drop(&mut self) {
        let mut st = lock(&self.mux.state);
        st.slots.remove(&self.id);
        st.retired.insert(self.id);
        let dead = st.dead.is_some();
        drop(st);
        if !dead {
            // Best effort: if the connection is gone the peer knows anyway.
            let _ = self
                .mux
                .outbox
                .push_now(&self.header(KIND_CLOSE), Bytes::new());
        }
    }
}
