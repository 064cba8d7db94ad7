//! Entry points for the cargo-fuzz targets in `fuzz/` (feature `fuzzing`,
//! off by default, hidden from the docs). Everything here wraps code the
//! engine really runs on a peer's bytes; nothing adds behaviour, so a
//! finding here is a finding in production code.
//!
//! Most engine decoders are reachable through the public API already
//! (`Lanes::from_bytes`, `channel::decode_*`, GMW, OT extension, B2A and
//! vector products over any [`Channel`]); only the job channel, which
//! strips the kind byte from every job message, is crate-private.

use tokio_util::sync::CancellationToken;

use crate::channel::Channel;
use crate::epilink::control::JobChannel;

/// Wraps `inner` in the job channel every EpiLink job runs over, so a
/// protocol step driven over it decodes the peer's kind byte exactly as a
/// job does. The job is never cancelled (a fresh token).
pub fn job_channel<C: Channel>(inner: C) -> impl Channel {
    JobChannel::new(inner, CancellationToken::new())
}
