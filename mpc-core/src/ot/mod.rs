//! Oblivious transfer: base OT, OT extension, and the OT flavours built on
//! them. Semi-honest security throughout.
//!
//! Layers, bottom up:
//! * [`base`]: Chou–Orlandi OT on Ristretto (128 per session pair);
//! * [`extension`]: [`CotSender`]/[`CotReceiver`] — random correlated OT
//!   (`m1 = m0 ⊕ Δ`, random choices) by SoftSpokenOT with k bits per base
//!   OT ([`ExtensionConfig`]; k = 1 is IKNP, k = 4 the default at 31 bits
//!   per OT on the wire);
//! * [`derive`](mod@derive): random OT, 1-bit random OT packed 64 per `u64`, chosen
//!   choice bits, chosen messages — from a batch of correlated OTs;
//! * [`ferret`]: [`FerretSender`]/[`FerretReceiver`] — the same random
//!   correlated OTs by Ferret silent OT (primal LPN, GGM trees),
//!   bootstrapped from a SoftSpokenOT instance: ≈ 0.45 bits per OT;
//! * [`pool`]: preprocessing — reserve in bulk, take locally online;
//!   [`OtPool`] holds both directions for GMW triples.
//!
//! Helpers: [`crhash`] (fixed-key-AES TCCR hash), [`ggm`] (puncturable PRF),
//! [`softspoken`] (the I/O-free extension core), [`transpose`] (bit-matrix
//! transposition), [`bits`] (packed bit vectors).
//!
//! Typical use (both parties, opposite roles, same `ctx`):
//! ```no_run
//! # async fn demo<C: mpc_core::channel::Channel>(ch: &mut C) -> Result<(), mpc_core::ot::OtError> {
//! use mpc_core::ot::{ExtensionConfig, OtSenderPool};
//! let mut pool = OtSenderPool::setup(ch, ExtensionConfig::default(), b"job-42").await?;
//! pool.reserve(ch, 1 << 20).await?;           // offline
//! let batch = pool.take(1000)?;               // online, local
//! let (m0_bits, m1_bits) = batch.random_bits(); // 1000 bit-ROTs, packed
//! # let _ = (m0_bits, m1_bits); Ok(()) }
//! ```

pub mod base;
pub mod bits;
pub mod crhash;
pub mod derive;
mod error;
pub mod extension;
pub mod ferret;
pub mod ggm;
pub mod pool;
pub mod softspoken;
pub mod transpose;

pub use derive::{RcotReceiverBatch, RcotSenderBatch};
pub use error::OtError;
pub use extension::{
    BATCH_OTS, CotReceiver, CotSender, ExtensionConfig, ReceiverSeeds, SenderSeeds,
};
pub use ferret::{FerretConfig, FerretReceiver, FerretSender};
pub use pool::{OtPool, OtReceiverPool, OtSenderPool, SetupOrder};
