//! Message transport between the two computing parties.
//!
//! Everything above this module (OT, GMW, arithmetic sharing) talks to the
//! remote party through the [`Channel`] trait: an ordered, reliable stream of
//! whole messages ([`Bytes`]). Implementations:
//!
//! * [`memory_pair`] — two connected in-memory ends, for tests.
//! * [`StreamChannel`] — one channel over any `AsyncRead + AsyncWrite` byte
//!   stream (TCP, or TLS via tokio-rustls), with length-prefixed frames.
//! * [`Mux`] / [`MuxSession`] — many independent protocol sessions over one
//!   byte stream, keyed by a `u64` session id; each session is a `Channel`.
//! * [`RecordingChannel`] — wraps any channel and keeps a copy of every
//!   message, for transcript tests.
//!
//! # Semantics every implementation provides
//! * Messages arrive whole, in order, exactly once.
//! * `send` never waits for the peer to *receive*: outgoing messages are
//!   queued to a background writer (bounded in bytes, see [`SEND_BUDGET`]),
//!   so two parties may both send large messages before either receives
//!   without deadlocking. `send` returning `Ok` means "queued", not
//!   "delivered".
//! * `recv` is cancel-safe (all implementations read from a queue filled by a
//!   background reader), so it can be wrapped in a timeout
//!   ([`ChannelExt::recv_timeout`]).
//! * A vanished peer makes `recv` fail with [`ChannelError::Closed`] or
//!   [`ChannelError::Disconnected`]; it never hangs once the connection is
//!   gone.
//! * Receive queues are bounded ([`ChannelLimits`]): a receiver that falls
//!   behind stops reading the socket, so the peer's sends eventually wait.
//!   A protocol must therefore not send more than about
//!   [`RECV_BUDGET`] + [`SEND_BUDGET`] bytes to a party that is itself
//!   blocked sending before it receives.
//! * Messages larger than [`MAX_FRAME`] are refused on both ends
//!   ([`ChannelError::FrameTooLarge`]); callers chunk bigger payloads.
//!
//! # Counters and rounds
//! [`Channel::stats`] returns [`ChannelStats`]: payload bytes and message
//! counts in each direction (framing overhead excluded; [`Mux::wire_stats`]
//! reports what actually crossed the socket), and **rounds**: the number of
//! *flights* this party sent. The counter increments on a `send` that is
//! the party's first send or that follows a `recv`; consecutive sends
//! without an intervening receive belong to the same flight. In a protocol
//! where the parties alternate, the sum of both parties' `rounds` is the
//! number of message flights, and the larger of the two is the number of
//! round trips (rounded up).
//!
//! # Typed helpers
//! [`ChannelExt`] (implemented for every channel) sends and receives
//! [`Block`] vectors, `u64` vectors and bit vectors packed 64 per `u64`
//! (bit `i` is bit `i % 64` of word `i / 64`), little-endian, with exact
//! length checks on receipt: a message of the wrong size is an error
//! ([`ChannelError::UnexpectedLength`]), never a panic or a silent
//! truncation.

mod codec;
mod conn;
mod error;
mod inbox;
mod memory;
mod mux;
mod recording;
mod stats;
mod stream;
mod tcp;

use std::future::Future;
use std::time::Duration;

pub use bytes::Bytes;
pub use codec::{decode_bits, decode_blocks, decode_u64s, encode_bits, encode_blocks, encode_u64s};
pub use error::ChannelError;
pub use inbox::FRAME_OVERHEAD;
pub use memory::{MemoryChannel, memory_pair};
pub use mux::{
    Mux, MuxSession, PENDING_FRAMES_MAX, PENDING_LIMIT_PER_SESSION, PENDING_LIMIT_TOTAL, WireStats,
};
pub use recording::RecordingChannel;
pub use stats::{ChannelStats, Counters};
pub use stream::StreamChannel;
pub use tcp::{tcp_accept, tcp_connect, tcp_pair};

use crate::block::Block;

/// Largest message (frame payload) either side accepts: 256 MiB.
pub const MAX_FRAME: usize = 256 << 20;

/// Bytes a channel may have queued for its background writer before `send`
/// waits: 32 MiB. Bounds memory when a producer outruns the network.
pub const SEND_BUDGET: usize = 32 << 20;

/// Bytes of received messages one channel or mux session queues before its
/// reader stops reading the socket: 64 MiB (see [`ChannelLimits`]).
pub const RECV_BUDGET: usize = 64 << 20;

/// How long a mux waits for a full session to make room before it fails
/// that session so the connection's other sessions can go on: 120 s.
pub const RECV_STALL_TIMEOUT: Duration = Duration::from_secs(120);

/// Receive-side bounds of a [`StreamChannel`] or [`Mux`].
///
/// Back-pressure: when a session's queue holds `recv_budget` bytes (each
/// message counted with [`FRAME_OVERHEAD`]), the connection's reader stops
/// reading the socket until the session receives. On a mux that pauses
/// every session of the connection, so a session that stays full for
/// `stall_timeout` is failed ([`ChannelError::ReceiveStalled`]) and reading
/// resumes: one slow session delays the others at most that long and can
/// never deadlock them. A [`StreamChannel`] has nobody else to starve and
/// waits without a timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelLimits {
    /// Bytes queued per session before back-pressure ([`RECV_BUDGET`]).
    pub recv_budget: usize,
    /// Longest a full mux session may hold up the connection
    /// ([`RECV_STALL_TIMEOUT`]).
    pub stall_timeout: Duration,
}

impl Default for ChannelLimits {
    fn default() -> Self {
        ChannelLimits {
            recv_budget: RECV_BUDGET,
            stall_timeout: RECV_STALL_TIMEOUT,
        }
    }
}

/// An ordered, reliable, message-oriented link to the other party.
///
/// Futures are `Send` so protocols can run on a multi-threaded runtime and
/// be spawned. See the [module docs](self) for the exact semantics.
pub trait Channel: Send {
    /// Queues one whole message for the peer.
    fn send(&mut self, msg: Bytes) -> impl Future<Output = Result<(), ChannelError>> + Send;

    /// Waits for the next whole message from the peer. Cancel-safe.
    fn recv(&mut self) -> impl Future<Output = Result<Bytes, ChannelError>> + Send;

    /// Counters for this channel (or mux session) so far.
    fn stats(&self) -> ChannelStats;
}

impl<C: Channel + ?Sized> Channel for &mut C {
    fn send(&mut self, msg: Bytes) -> impl Future<Output = Result<(), ChannelError>> + Send {
        (**self).send(msg)
    }

    fn recv(&mut self) -> impl Future<Output = Result<Bytes, ChannelError>> + Send {
        (**self).recv()
    }

    fn stats(&self) -> ChannelStats {
        (**self).stats()
    }
}

/// Typed send/receive helpers, available on every [`Channel`].
///
/// All receive helpers take the length the protocol expects and reject any
/// other size, so a confused or malicious peer produces an error instead of a
/// panic or an out-of-bounds read further up.
pub trait ChannelExt: Channel {
    /// Sends blocks as one message (16 bytes each, little-endian).
    fn send_blocks(
        &mut self,
        blocks: &[Block],
    ) -> impl Future<Output = Result<(), ChannelError>> + Send {
        let msg = encode_blocks(blocks);
        self.send(msg)
    }

    /// Receives exactly `n` blocks sent with [`ChannelExt::send_blocks`].
    fn recv_blocks(
        &mut self,
        n: usize,
    ) -> impl Future<Output = Result<Vec<Block>, ChannelError>> + Send {
        async move {
            let msg = self.recv().await?;
            decode_blocks(&msg, n)
        }
    }

    /// Sends `u64` words as one message (8 bytes each, little-endian).
    fn send_u64s(
        &mut self,
        words: &[u64],
    ) -> impl Future<Output = Result<(), ChannelError>> + Send {
        let msg = encode_u64s(words);
        self.send(msg)
    }

    /// Receives exactly `n` words sent with [`ChannelExt::send_u64s`].
    fn recv_u64s(
        &mut self,
        n: usize,
    ) -> impl Future<Output = Result<Vec<u64>, ChannelError>> + Send {
        async move {
            let msg = self.recv().await?;
            decode_u64s(&msg, n)
        }
    }

    /// Sends the first `nbits` bits of `words` (packed 64 per word, bit `i`
    /// in word `i / 64`, position `i % 64`) using `ceil(nbits / 8)` bytes.
    /// Bits beyond `nbits` in the last word are sent as zero.
    fn send_bits(
        &mut self,
        words: &[u64],
        nbits: usize,
    ) -> impl Future<Output = Result<(), ChannelError>> + Send {
        let msg = encode_bits(words, nbits);
        async move { self.send(msg?).await }
    }

    /// Receives exactly `nbits` bits sent with [`ChannelExt::send_bits`],
    /// packed into `ceil(nbits / 64)` words. Non-zero padding bits are
    /// rejected as malformed.
    fn recv_bits(
        &mut self,
        nbits: usize,
    ) -> impl Future<Output = Result<Vec<u64>, ChannelError>> + Send {
        async move {
            let msg = self.recv().await?;
            decode_bits(&msg, nbits)
        }
    }

    /// [`Channel::recv`] with a deadline. Safe because `recv` is
    /// cancel-safe: a timed-out receive loses no message.
    fn recv_timeout(
        &mut self,
        limit: Duration,
    ) -> impl Future<Output = Result<Bytes, ChannelError>> + Send {
        async move {
            match tokio::time::timeout(limit, self.recv()).await {
                Ok(res) => res,
                Err(_) => Err(ChannelError::Timeout(limit)),
            }
        }
    }
}

impl<C: Channel + ?Sized> ChannelExt for C {}
