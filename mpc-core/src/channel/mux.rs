//! [`Mux`]: many protocol sessions over one connection.
//!
//! Frame body layout (inside the 4-byte length prefix of `conn.rs`):
//! `session: u64 LE | kind: u8 | payload`, with kind `0` = data (payload is
//! one message of that session) and kind `1` = close (the sender dropped its
//! end of the session; empty payload).
//!
//! Both parties open the same session id. Data for an id that is not yet
//! open locally is buffered (up to [`PENDING_LIMIT_PER_SESSION`] bytes per
//! session, [`PENDING_LIMIT_TOTAL`] bytes and [`PENDING_FRAMES_MAX`] frames
//! in all, each frame counted with [`FRAME_OVERHEAD`]; beyond that the
//! session is marked overflowed and its `recv` fails with
//! [`ChannelError::BufferOverflow`]), so the two parties need not open
//! sessions in the same order or at the same time.
//!
//! An open session's queue is bounded by [`ChannelLimits::recv_budget`]:
//! while it is full the reader stops reading the socket (back-pressure). As
//! that pauses every session, a session that stays full for
//! [`ChannelLimits::stall_timeout`] is failed with
//! [`ChannelError::ReceiveStalled`] and reading resumes, so a slow session
//! can delay the others but never deadlock them. Session ids are single
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

use super::conn::{AbortOnDrop, ConnShared, EndReason, Outbox, lock, read_frames, start_writer};
use super::inbox::{FRAME_OVERHEAD, InboxRx, InboxTx, Item, PushError, inbox};
use super::{Channel, ChannelError, ChannelLimits, ChannelStats, Counters};

/// Bytes buffered for one not-yet-opened session before it overflows.
pub const PENDING_LIMIT_PER_SESSION: usize = 64 << 20;
/// Bytes buffered for all not-yet-opened sessions together.
pub const PENDING_LIMIT_TOTAL: usize = 256 << 20;
/// Frames buffered for all not-yet-opened sessions together.
pub const PENDING_FRAMES_MAX: usize = 65_536;
/// Distinct not-yet-opened session ids the peer may address.
const PENDING_SESSIONS_MAX: usize = 4096;

const HEADER_LEN: usize = 9;
const KIND_DATA: u8 = 0;
const KIND_CLOSE: u8 = 1;

enum Slot {
    /// Peer used the id, we have not opened it yet.
    Pending {
        frames: VecDeque<Bytes>,
        bytes: usize,
        peer_closed: bool,
        overflowed: bool,
    },
    /// Open locally; the reader forwards into the session's queue.
    Open(InboxTx),
}

/// Where the reader must deliver a frame after [`MuxState::route`].
enum Route {
    /// Handled (buffered, dropped or a control item).
    Done,
    /// Data for open session `.0`: queue it, waiting for room.
    Deliver(u64, InboxTx, Bytes),
}

#[derive(Default)]
struct MuxState {
    slots: HashMap<u64, Slot>,
    /// Ids closed locally: frames for them are dropped, reopening refused.
    retired: HashSet<u64>,
    /// Bytes (payload plus [`FRAME_OVERHEAD`] per frame) buffered for
    /// unopened sessions.
    pending_bytes: usize,
    /// Frames buffered for unopened sessions.
    pending_frames: usize,
    pending_sessions: usize,
    /// Set when the connection is gone; no new sessions then.
    dead: Option<String>,
}

impl MuxState {
    /// Routes one frame from the peer. `Err` = the connection is unusable.
    /// Data for an open session is returned for the caller to queue outside
    /// the lock, since queueing may wait for room.
    fn route(&mut self, mut body: Bytes) -> Result<Route, String> {
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
            return Ok(Route::Done);
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
        let (total_bytes, total_frames) = (&mut self.pending_bytes, &mut self.pending_frames);
        match self.slots.get_mut(&session) {
            Some(Slot::Open(tx)) => {
                if kind == KIND_DATA {
                    return Ok(Route::Deliver(session, tx.clone(), body));
                }
                tx.push_control(Item::PeerClosed);
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
                    let cost = body.len() + FRAME_OVERHEAD;
                    if *bytes + cost > PENDING_LIMIT_PER_SESSION
                        || *total_bytes + cost > PENDING_LIMIT_TOTAL
                        || *total_frames >= PENDING_FRAMES_MAX
                    {
                        *overflowed = true;
                        *total_bytes -= *bytes;
                        *total_frames -= frames.len();
                        *bytes = 0;
                        frames.clear();
                    } else {
                        *bytes += cost;
                        *total_bytes += cost;
                        *total_frames += 1;
                        frames.push_back(body);
                    }
                }
            }
            None => {}
        }
        Ok(Route::Done)
    }

    /// Fails an open session whose queue stayed full: later frames for it
    /// are dropped (the id is retired) and its `recv` reports the stall
    /// after the messages already queued.
    fn stall(&mut self, session: u64, tx: &InboxTx) {
        if matches!(self.slots.get(&session), Some(Slot::Open(open)) if open.same_queue(tx)) {
            self.slots.remove(&session);
            self.retired.insert(session);
            tx.push_control(Item::Stalled);
        }
    }

    /// The connection is gone: fail all sessions by dropping their queues.
    fn kill(&mut self, reason: String) {
        self.dead = Some(reason);
        self.slots.clear();
        self.pending_bytes = 0;
        self.pending_frames = 0;
        self.pending_sessions = 0;
    }
}

struct MuxInner {
    outbox: Outbox,
    limits: ChannelLimits,
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
    /// Starts multiplexing over `stream` with the default
    /// [`ChannelLimits`]. Must be called inside a tokio runtime (spawns a
    /// reader and a writer task).
    pub fn new<S>(stream: S) -> Self
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        Self::with_limits(stream, ChannelLimits::default())
    }

    /// Starts multiplexing over `stream` with the given receive bounds.
    /// Must be called inside a tokio runtime.
    pub fn with_limits<S>(stream: S, limits: ChannelLimits) -> Self
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (outbox, rd, shared) = start_writer(stream);
        let state = Arc::new(Mutex::new(MuxState::default()));
        let reader_state = state.clone();
        let reader_shared = shared.clone();
        let reader = tokio::spawn(async move {
            let end = read_frames(rd, &reader_shared, |body| {
                let state = reader_state.clone();
                async move { deliver(&state, body, limits.stall_timeout).await }
            })
            .await;
            let reason = match end {
                EndReason::CleanEof => "the peer closed the connection".to_string(),
                EndReason::Failed(r) => r,
            };
            lock(&reader_state).kill(reason);
        });
        Mux {
            inner: Arc::new(MuxInner {
                outbox,
                limits,
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
        let mut early = VecDeque::new();
        let mut after = Vec::new();
        if let Some(Slot::Pending {
            frames,
            bytes,
            peer_closed,
            overflowed,
        }) = st.slots.remove(&id)
        {
            st.pending_bytes -= bytes;
            st.pending_frames -= frames.len();
            st.pending_sessions -= 1;
            early = frames;
            if overflowed {
                after.push(Item::Overflowed);
            }
            if peer_closed {
                after.push(Item::PeerClosed);
            }
        }
        let (tx, rx) = inbox(self.inner.limits.recv_budget, early);
        for item in after {
            tx.push_control(item);
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

/// Queues a routed data frame, waiting up to `stall` for room; a session
/// that stays full that long is failed instead.
async fn deliver(
    state: &Mutex<MuxState>,
    body: Bytes,
    stall: std::time::Duration,
) -> Result<(), String> {
    let route = lock(state).route(body)?;
    if let Route::Deliver(session, tx, msg) = route {
        match tx.push(msg, Some(stall)).await {
            // Gone: the session was dropped meanwhile; its data is moot.
            Ok(()) | Err(PushError::Gone) => {}
            Err(PushError::Stalled) => lock(state).stall(session, &tx),
        }
    }
    Ok(())
}

/// Why a session's `recv` stopped for good.
#[derive(Clone, Copy)]
enum Ended {
    PeerClosed,
    Overflowed,
    Stalled,
}

/// One session of a [`Mux`]; a [`Channel`] with its own counters.
/// Dropping it tells the peer (its `recv` then fails with
/// [`ChannelError::Closed`] after the messages already sent) and leaves
/// other sessions untouched.
pub struct MuxSession {
    id: u64,
    mux: Arc<MuxInner>,
    rx: InboxRx,
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

    fn end(&mut self, e: Ended) -> Result<Bytes, ChannelError> {
        self.ended = Some(e);
        Err(self.ended_error(e))
    }

    fn ended_error(&self, e: Ended) -> ChannelError {
        match e {
            Ended::PeerClosed => ChannelError::Closed,
            Ended::Overflowed => ChannelError::BufferOverflow {
                session: self.id,
                limit: PENDING_LIMIT_PER_SESSION,
            },
            Ended::Stalled => ChannelError::ReceiveStalled {
                session: self.id,
                limit: self.mux.limits.recv_budget,
                waited: self.mux.limits.stall_timeout,
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
            Some(Item::Data(msg, _)) => {
                self.counters.on_recv(msg.len());
                Ok(msg)
            }
            Some(Item::PeerClosed) => self.end(Ended::PeerClosed),
            Some(Item::Overflowed) => self.end(Ended::Overflowed),
            Some(Item::Stalled) => self.end(Ended::Stalled),
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
