//! The peer channel's messages and their framing (SPEC §3a).
//!
//! Two kinds of message, both JSON:
//! * the **handshake** ([`Hello`], [`Welcome`]) travels on the bare TLS
//!   stream before the multiplexer starts, each in one frame of
//!   `len: u32 LE | len bytes`, at most [`MAX_HANDSHAKE`] bytes. Keeping it
//!   outside the multiplexer means an unauthenticated peer can make this node
//!   buffer at most one small frame, never the multiplexer's per-session
//!   buffers;
//! * **control** messages ([`Control`]) travel on mux session 0 once the
//!   peer is authenticated, each at most [`MAX_CONTROL`] bytes.
//!
//! Decoding is strict about size and shape and never panics: a peer that
//! sends anything else gets its connection closed.

use protocol_spec::messages::mainsel::{AlgorithmConfig, Profile, SharedKey};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::model::{Announce, Refusal};

/// Largest handshake frame either side accepts.
pub(crate) const MAX_HANDSHAKE: usize = 16 << 10;
/// Largest control message either side accepts (a full `algorithm` block of
/// a few hundred fields fits easily).
pub(crate) const MAX_CONTROL: usize = 256 << 10;
/// The mux session that carries control messages; job sessions never use it.
pub(crate) const CONTROL_SESSION: u64 = 0;

/// The dialer's first message: who it is, and the key both sites share.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Hello {
    pub version: u16,
    /// The dialer's `localId`; the acceptor knows it as a remote id.
    pub site: String,
    /// The pair's shared key (`connectionProfile.authentication.sharedKey`);
    /// `Debug` redacts it.
    pub key: SharedKey,
    /// Hex of the dialer's configuration fingerprint (informational; jobs
    /// and `/test` compare configurations themselves).
    pub fingerprint: String,
}

/// The acceptor's answer to a [`Hello`].
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum Welcome {
    Accepted {
        version: u16,
        /// The acceptor's `localId`; the dialer checks it is the remote it meant.
        site: String,
        fingerprint: String,
    },
    Refused {
        reason: HandshakeRefusal,
    },
}

/// Why an acceptor refused a connection. Deliberately coarse: an unknown
/// site and a wrong key look the same, so a prober learns nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub(crate) enum HandshakeRefusal {
    /// Unknown site, wrong key, or this node is not initialised.
    Unauthorized,
    /// The acceptor speaks another protocol version.
    Unsupported { supported: u16 },
    /// A connection between the two sites that wins the tie-break already
    /// exists or is being dialed (SPEC §3a, "one connection per pair").
    Duplicate,
    /// The acceptor is shutting down.
    ShuttingDown,
}

/// A message on the control session.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum Control {
    /// A request; the peer answers with a [`Control::Reply`] of the same id.
    Request {
        id: u64,
        request: Request,
    },
    Reply {
        id: u64,
        reply: Reply,
    },
    /// The sender cancelled the job: the receiver fires the job's token.
    Cancel {
        job_id: String,
    },
    /// The job's server side returned: both sides forget the job.
    Ended {
        job_id: String,
    },
    /// Sent every [`HEARTBEAT`] so that a silent, half-dead connection
    /// (no FIN ever arrived) is noticed and replaced.
    Ping,
}

/// How often each side sends [`Control::Ping`].
pub(crate) const HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(15);
/// A connection whose control session stayed silent this long is closed.
/// Generous, because a ping may queue behind a full send budget of job data.
pub(crate) const SILENCE_LIMIT: std::time::Duration = std::time::Duration::from_secs(90);

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum Request {
    /// `/test`: the asker's `algorithm` block; the answer carries the
    /// peer's, so the asker can name the first difference.
    Config { algorithm: Box<AlgorithmConfig> },
    /// A job announcement.
    Announce { announce: Announce },
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum Reply {
    Config {
        algorithm: Box<AlgorithmConfig>,
        fingerprint: String,
        /// The answerer's EpiLink profile for the asker (absent from nodes
        /// that predate profiles: they run the default).
        #[serde(default)]
        profile: Profile,
    },
    Accepted {
        database_records: u64,
    },
    Refused {
        refusal: Refusal,
    },
    /// The request could not be served at all (e.g. not initialised).
    Error {
        message: String,
    },
}

/// Why a message from the peer was rejected. Carries sizes and serde's
/// description of the shape, never the message's bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum WireError {
    #[error("message of {len} bytes is above the limit of {max} bytes")]
    TooLarge { len: usize, max: usize },
    #[error("message is not a valid {what}: {detail}")]
    Malformed { what: &'static str, detail: String },
    #[error("I/O: {0}")]
    Io(String),
}

pub(crate) fn encode<T: Serialize>(msg: &T) -> Vec<u8> {
    // Serialising these plain structs cannot fail.
    serde_json::to_vec(msg).unwrap_or_default()
}

pub(crate) fn decode<T: for<'de> Deserialize<'de>>(
    bytes: &[u8],
    max: usize,
    what: &'static str,
) -> Result<T, WireError> {
    if bytes.len() > max {
        return Err(WireError::TooLarge {
            len: bytes.len(),
            max,
        });
    }
    serde_json::from_slice(bytes).map_err(|e| WireError::Malformed {
        what,
        // serde_json's message names the position and the expected shape;
        // for a string value it may quote a fragment, so keep only the
        // category and position.
        detail: format!(
            "{:?} error at line {} column {}",
            e.classify(),
            e.line(),
            e.column()
        ),
    })
}

/// Writes one handshake frame.
pub(crate) async fn write_frame<S: AsyncWrite + Unpin>(
    stream: &mut S,
    msg: &[u8],
) -> Result<(), WireError> {
    let len = u32::try_from(msg.len()).map_err(|_| WireError::TooLarge {
        len: msg.len(),
        max: MAX_HANDSHAKE,
    })?;
    let io = |e: std::io::Error| WireError::Io(e.to_string());
    stream.write_all(&len.to_le_bytes()).await.map_err(io)?;
    stream.write_all(msg).await.map_err(io)?;
    stream.flush().await.map_err(io)
}

/// Reads one handshake frame, refusing a length above [`MAX_HANDSHAKE`]
/// before allocating. Reads exactly the frame, so the multiplexer that takes
/// the stream afterwards starts at its first byte.
pub(crate) async fn read_frame<S: AsyncRead + Unpin>(stream: &mut S) -> Result<Vec<u8>, WireError> {
    let io = |e: std::io::Error| WireError::Io(e.to_string());
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).await.map_err(io)?;
    let len = u32::from_le_bytes(len) as usize;
    if len > MAX_HANDSHAKE {
        return Err(WireError::TooLarge {
            len,
            max: MAX_HANDSHAKE,
        });
    }
    let mut body = vec![0u8; len];
    stream.read_exact(&mut body).await.map_err(io)?;
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_messages_round_trip_and_garbage_is_an_error() {
        let msg = Control::Cancel {
            job_id: "job_1".into(),
        };
        let bytes = encode(&msg);
        let back: Control = decode(&bytes, MAX_CONTROL, "control message").unwrap();
        assert!(matches!(back, Control::Cancel { job_id } if job_id == "job_1"));
        assert!(matches!(
            decode::<Control>(b"\x00\xffnot json", MAX_CONTROL, "control message"),
            Err(WireError::Malformed { .. })
        ));
        assert!(matches!(
            decode::<Control>(&vec![b' '; MAX_CONTROL + 1], MAX_CONTROL, "control message"),
            Err(WireError::TooLarge { .. })
        ));
    }

    #[test]
    fn hello_debug_never_shows_the_key() {
        let hello = Hello {
            version: 1,
            site: "A".into(),
            key: SharedKey::new("s3cret-key"),
            fingerprint: "00".into(),
        };
        assert!(!format!("{hello:?}").contains("s3cret-key"));
    }
}
