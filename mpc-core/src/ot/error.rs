//! Errors of the OT layer.

use crate::channel::ChannelError;

/// What went wrong while running an OT protocol.
#[derive(Debug, thiserror::Error)]
pub enum OtError {
    /// The transport failed or delivered a message of the wrong size.
    #[error(transparent)]
    Channel(#[from] ChannelError),
    /// A group element from the peer is not a valid (non-identity)
    /// Ristretto point.
    #[error(
        "invalid {what} from the peer (OT index {index}): not a valid non-identity Ristretto point"
    )]
    InvalidPoint {
        /// Which element.
        what: &'static str,
        /// Its index in the batch.
        index: usize,
    },
    /// The peer runs a different protocol version or extension parameter.
    #[error("peer uses OT extension {theirs}, we use {ours}")]
    ConfigMismatch {
        /// Our configuration.
        ours: String,
        /// The peer's configuration.
        theirs: String,
    },
    /// A parameter outside what the protocol supports.
    #[error("invalid OT parameter: {0}")]
    InvalidParameter(String),
    /// More precomputed OTs were taken from a pool than it holds.
    #[error("OT pool exhausted: {requested} requested, {available} available (call reserve first)")]
    Exhausted {
        /// OTs requested.
        requested: usize,
        /// OTs available.
        available: usize,
    },
}
