//! Entry points for the cargo-fuzz target `peer_control` in `fuzz/`
//! (feature `fuzzing`, off by default, hidden from the docs). They call the
//! decoders the dialer, the acceptor and the control session really use,
//! with the same size limits, and add nothing.

use tokio::io::AsyncRead;

use super::wire::{self, Control, Hello, MAX_CONTROL, MAX_HANDSHAKE, Welcome};

/// Which peer message a byte string is read as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerMessage {
    /// The dialer's handshake frame body, as the acceptor reads it.
    Hello,
    /// The acceptor's answer, as the dialer reads it.
    Welcome,
    /// A message on the control session (mux session 0).
    Control,
}

/// Decodes `bytes` as `kind` with the limit the node applies, and returns
/// the decoded message encoded again (so a caller can check that what was
/// accepted survives a round trip). The error is the node's own message.
pub fn decode(kind: PeerMessage, bytes: &[u8]) -> Result<Vec<u8>, String> {
    match kind {
        PeerMessage::Hello => {
            wire::decode::<Hello>(bytes, MAX_HANDSHAKE, "hello").map(|m| wire::encode(&m))
        }
        PeerMessage::Welcome => {
            wire::decode::<Welcome>(bytes, MAX_HANDSHAKE, "welcome").map(|m| wire::encode(&m))
        }
        PeerMessage::Control => {
            wire::decode::<Control>(bytes, MAX_CONTROL, "control message").map(|m| wire::encode(&m))
        }
    }
    .map_err(|e| e.to_string())
}

/// Reads one handshake frame (`len: u32 LE | body`) from `stream` as both
/// handshake sides do, refusing an oversized length before allocating.
pub async fn read_handshake_frame<S: AsyncRead + Unpin>(stream: &mut S) -> Result<Vec<u8>, String> {
    wire::read_frame(stream).await.map_err(|e| e.to_string())
}
