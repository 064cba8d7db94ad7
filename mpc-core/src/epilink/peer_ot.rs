//! OT state per peer connection: base OTs and extension seeds in both
//! directions, set up once and reused by every job on the connection.
//!
//! [`PeerOt::establish`] runs two SoftSpokenOT setups (128 base OTs and the
//! GGM seed transfer each) on a dedicated channel: in one the connection's
//! dialer ([`Party::Client`]) is the COT sender, in the other the acceptor.
//! Each party keeps, per direction, a PRF key per extension seed it knows
//! ([`SenderSeeds`], [`ReceiverSeeds`]); nothing else.
//!
//! A job derives its own two extension instances locally, with no message:
//! every seed becomes `PRF(key_x, tweak)` (BLAKE3 keyed hash), where the
//! tweak is the job's [`Agreement::ot_tweak`](super::handshake::Agreement) —
//! a hash of the job id and both parties' fresh handshake nonces — and the
//! direction. **Why this is secure (semi-honest):** the COT sender lacks one
//! seed per chunk, hence its PRF key, so each job's pad streams for that
//! seed are pseudorandom to it and independent of every other job's (the
//! PRF is evaluated at distinct tweaks); the corrections it sees stay
//! one-time-padded. All instances share Δ, exactly as the batches of one
//! long extension do: the receiver never sees anything that depends on Δ,
//! and OT number j of an instance is hashed with a tweak whose upper 64 bits
//! are the instance's id, so the correlation-robust hash never sees the same
//! tweak twice across jobs (SPEC §6 2.6). Concurrent jobs therefore never
//! share pads, and a small job pays no base OTs.

use std::sync::Arc;

use super::error::ProtocolError;
use super::ots::OtStreams;
use crate::Party;
use crate::channel::Channel;
use crate::ot::{ExtensionConfig, ReceiverSeeds, SenderSeeds};

const DIRECTION_CONTEXT: &str = "mpc-core 2026 peer OT job direction v1";

/// Per-connection OT state, established once per connection and reused by
/// every job on it, concurrently (it is only read after setup).
pub struct PeerOt {
    /// This party's role on the connection (dialer = client).
    me: Party,
    /// Seeds of the stream where this party is COT sender.
    sends: SenderSeeds,
    /// Seeds of the stream where this party is COT receiver.
    receives: ReceiverSeeds,
}

impl std::fmt::Debug for PeerOt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerOt")
            .field("me", &self.me)
            .field("ot", &self.sends.config())
            .finish_non_exhaustive()
    }
}

fn setup_context(context: &[u8], direction: &[u8]) -> Vec<u8> {
    let mut c = b"mpc-core/peer-ot/".to_vec();
    c.extend_from_slice(&(context.len() as u64).to_le_bytes());
    c.extend_from_slice(context);
    c.extend_from_slice(direction);
    c
}

impl PeerOt {
    /// Base OTs in both directions (each party is OT sender in one,
    /// receiver in the other), on a dedicated channel, with the default
    /// extension ([`ExtensionConfig::default`]). `me` is
    /// [`Party::Client`] for the connection's dialer, [`Party::Server`] for
    /// the acceptor; `context` must be equal on both sides (e.g. the
    /// connection's identity).
    pub async fn establish<C: Channel>(
        ch: C,
        me: Party,
        context: &[u8],
    ) -> Result<Arc<PeerOt>, ProtocolError> {
        Self::establish_with(ch, me, context, ExtensionConfig::default()).await
    }

    /// [`PeerOt::establish`] with a chosen OT extension (both parties must
    /// choose the same; a mismatch fails with `PeerGarbage`).
    pub async fn establish_with<C: Channel>(
        mut ch: C,
        me: Party,
        context: &[u8],
        cfg: ExtensionConfig,
    ) -> Result<Arc<PeerOt>, ProtocolError> {
        let ctx_a = setup_context(context, b"/client-sends");
        let ctx_b = setup_context(context, b"/server-sends");
        let ot = match me {
            Party::Client => {
                let sends = SenderSeeds::setup(&mut ch, cfg, &ctx_a).await?;
                let receives = ReceiverSeeds::setup(&mut ch, cfg, &ctx_b).await?;
                PeerOt {
                    me,
                    sends,
                    receives,
                }
            }
            Party::Server => {
                let receives = ReceiverSeeds::setup(&mut ch, cfg, &ctx_a).await?;
                let sends = SenderSeeds::setup(&mut ch, cfg, &ctx_b).await?;
                PeerOt {
                    me,
                    sends,
                    receives,
                }
            }
        };
        Ok(Arc::new(ot))
    }

    /// This party's role on the connection.
    pub fn connection_role(&self) -> Party {
        self.me
    }

    /// The OT extension of the connection.
    pub fn config(&self) -> ExtensionConfig {
        self.sends.config()
    }

    /// The two OT streams of one job acting as `job_role`: fresh extension
    /// instances for `tweak`, which must be unique per job.
    pub(crate) fn streams(&self, job_role: Party, tweak: &[u8; 32]) -> OtStreams {
        let direction = |d: u8| {
            let mut h = blake3::Hasher::new_derive_key(DIRECTION_CONTEXT);
            h.update(tweak);
            h.update(&[d]);
            *h.finalize().as_bytes()
        };
        // Stream 0: the connection's client sends; stream 1: its server.
        let (send_tweak, recv_tweak) = match self.me {
            Party::Client => (direction(0), direction(1)),
            Party::Server => (direction(1), direction(0)),
        };
        OtStreams::from_instances(
            job_role,
            self.sends.instance(&send_tweak),
            self.receives.instance(&recv_tweak),
        )
    }
}
