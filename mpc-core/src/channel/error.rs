//! Errors of the transport layer.

use std::time::Duration;

/// What went wrong on a [`Channel`](super::Channel).
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    /// The peer closed this channel (or this mux session) cleanly; no more
    /// messages will arrive.
    #[error("the peer closed the channel")]
    Closed,
    /// The connection under the channel is gone (peer vanished, I/O error,
    /// or the peer sent bytes that are not a valid frame). Every session of
    /// a mux fails with the same reason.
    #[error("connection to the peer lost: {0}")]
    Disconnected(String),
    /// An I/O error while setting up a connection.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// A frame (message) above the size limit was sent or announced.
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    FrameTooLarge {
        /// Announced or attempted length.
        len: u64,
        /// The limit ([`MAX_FRAME`](super::MAX_FRAME)).
        max: u64,
    },
    /// A message did not have the structure the receiver expected.
    #[error("malformed message: {0}")]
    Malformed(String),
    /// A message had the wrong size for what the protocol expects.
    #[error("expected {expected} bytes for {what}, got {actual}")]
    UnexpectedLength {
        /// What was being received.
        what: &'static str,
        /// Expected size in bytes.
        expected: usize,
        /// Received size in bytes.
        actual: usize,
    },
    /// No message arrived within the deadline.
    #[error("no message from the peer within {0:?}")]
    Timeout(Duration),
    /// A mux session id that is open, or was used and closed, on this
    /// connection was opened again (ids are single-use per connection).
    #[error("session {0} is already open or was used before on this connection")]
    SessionInUse(u64),
    /// The peer sent more bytes to a session that was not opened locally
    /// than the mux buffers; the session's data is incomplete.
    #[error("session {session}: more than {limit} bytes arrived before it was opened")]
    BufferOverflow {
        /// The session id.
        session: u64,
        /// The buffer limit in bytes.
        limit: usize,
    },
    /// A mux session's receive queue stayed full (its owner did not
    /// receive) for longer than the stall timeout while the connection had
    /// more data to read; the session was failed so the connection's other
    /// sessions could go on. Messages after the gap were dropped.
    #[error(
        "session {session}: its receive queue stayed at the {limit}-byte bound for {waited:?}; \
         the session was failed so that other sessions are not starved"
    )]
    ReceiveStalled {
        /// The session id.
        session: u64,
        /// The session's receive bound in bytes.
        limit: usize,
        /// How long the connection waited for room.
        waited: Duration,
    },
}
