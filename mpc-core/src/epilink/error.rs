//! What can go wrong in an EpiLink run, and how the errors of the layers
//! below map onto it: a vanished or misbehaving peer, a disagreement found
//! in the handshake, cancellation, bad local input — each a distinct variant
//! so the node can report it precisely.

use protocol_spec::epilink::EpilinkError;

use super::handshake::HandshakeError;
use super::plan::PlanError;
use crate::arith::ArithError;
use crate::channel::ChannelError;
use crate::circuit::CircuitError;
use crate::gmw::GmwError;
use crate::ot::OtError;

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    /// The peer closed the connection before the run ended.
    #[error("the peer closed the channel before the run ended")]
    ChannelClosed,
    /// The connection failed (I/O error, timeout, peer vanished).
    #[error("transport failure: {0}")]
    Transport(ChannelError),
    /// The peer sent a message this protocol step cannot accept.
    #[error("the peer sent a malformed message: {0}")]
    PeerGarbage(String),
    /// The handshake showed that the parties disagree (configuration,
    /// mode, options or record counts).
    #[error(transparent)]
    Mismatch(#[from] HandshakeError),
    /// This party's cancellation flag was set.
    #[error("cancelled")]
    Cancelled,
    /// The peer cancelled the run.
    #[error("the peer cancelled the run")]
    PeerCancelled,
    /// One of this party's records does not fit the configuration.
    #[error("invalid input: {0}")]
    Record(#[from] EpilinkError),
    /// The options cannot be used (e.g. a chunk size out of range).
    #[error("invalid options: {0}")]
    InvalidOptions(String),
    /// The configuration is valid but beyond what this implementation
    /// supports.
    #[error(transparent)]
    Unsupported(#[from] PlanError),
    /// A bug in this implementation (reported instead of a panic).
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<ChannelError> for ProtocolError {
    fn from(e: ChannelError) -> Self {
        match e {
            ChannelError::Closed => ProtocolError::ChannelClosed,
            ChannelError::UnexpectedLength { .. } | ChannelError::Malformed(_) => {
                ProtocolError::PeerGarbage(e.to_string())
            }
            other => ProtocolError::Transport(other),
        }
    }
}

impl From<OtError> for ProtocolError {
    fn from(e: OtError) -> Self {
        match e {
            OtError::Channel(c) => c.into(),
            OtError::InvalidPoint { .. } | OtError::ConfigMismatch { .. } => {
                ProtocolError::PeerGarbage(e.to_string())
            }
            other => ProtocolError::Internal(other.to_string()),
        }
    }
}

impl From<GmwError> for ProtocolError {
    fn from(e: GmwError) -> Self {
        match e {
            GmwError::Channel(c) => c.into(),
            GmwError::Ot(o) => o.into(),
            other => ProtocolError::Internal(other.to_string()),
        }
    }
}

impl From<ArithError> for ProtocolError {
    fn from(e: ArithError) -> Self {
        match e {
            ArithError::Channel(c) => c.into(),
            ArithError::Ot(o) => o.into(),
            ArithError::Gmw(g) => g.into(),
            other => ProtocolError::Internal(other.to_string()),
        }
    }
}

impl From<CircuitError> for ProtocolError {
    fn from(e: CircuitError) -> Self {
        ProtocolError::Internal(format!("circuit: {e}"))
    }
}
