//! GMW: two-party evaluation of XOR-shared Boolean circuits.
//!
//! Both parties build the same [`Netlist`] with
//! [`NetlistBuilder`](crate::circuit::netlist::NetlistBuilder), then
//!
//! 1. **preprocess** ([`preprocess`]): count the triples and OTs the netlist
//!    needs ([`Netlist::requirements`]) and generate them in bulk from bit
//!    random OTs in both directions ([`Material`]); no dealer, no shared
//!    seed;
//! 2. **online** ([`run_online`]): evaluate level by level, every
//!    interactive AND of a level (over all SIMD lanes) in one message each
//!    way, then one output exchange.
//!
//! [`evaluate`] does both.
//!
//! # Gate protocols (semi-honest)
//! Shares are XOR shares `v = v_C ^ v_S`.
//! * **XOR/NOT/lane moves**: local (NOT flips the client's share).
//! * **AND with a public input, or of two wires private to one party**:
//!   local.
//! * **AND of two shared wires** (Beaver): with a triple `(a, b, c)`, each
//!   party sends `d_P = x_P ^ a_P`, `e_P = y_P ^ b_P`; both open `d`, `e`
//!   and set `z_P = c_P ^ d&b_P ^ e&a_P` (the client adds `d&e`). What is
//!   sent is masked by the uniformly random triple shares.
//! * **Mixed AND** (`x` known in the clear to party R, `y` held by the other
//!   party S in the clear or as a share `y_S`; R holds `y_R`, zero if S owns
//!   `y`): one random OT where R is the receiver with random choice `c` and
//!   gets `m_c`, and S holds `m0, m1`; let `Δ = m0 ^ m1`, so `c&Δ = m_c ^
//!   m0`. R sends `d = x ^ c`, S sends `e = y_S ^ Δ` (simultaneously);
//!   `z_R = x & (y_R ^ e) ^ m_c`, `z_S = d & Δ ^ m0`. `d` is masked by `c`
//!   (unknown to S), `e` by `Δ` (R knows only one of `m0, m1`). One OT
//!   instead of the two a triple costs.
//! * **Fixed-choice AND** ([`fixed`], when the material was made from a
//!   [`FixedPlan`]): a mixed AND whose clear operand is equal on many lanes
//!   by construction of the netlist (a broadcast query bit) takes one
//!   random OT of keys per class of equal lanes; each lane gets its own
//!   bit of the AES-CTR streams of the keys, R sends `d` once per class and
//!   S sends `e` per lane. A ripple carry `(x ⊕ c) ∧ (y ⊕ c)` with such an
//!   `x` is split into a fixed AND and one mixed AND.
//! * **Outputs**: a revealed wire costs the holder's share; an output "as
//!   shares" is re-randomised with a fresh mask the client sends, so each
//!   exported share is uniform on its own.

pub mod fixed;
mod io;
mod material;
mod online;
mod preprocess;

pub use fixed::FixedPlan;
pub use io::{Inputs, Outputs};
pub use material::{Material, ReceivedBitRots, ReceivedKeyRots, SentBitRots, TripleShares};
pub use online::{CHUNK_BYTES, run_online};
pub(crate) use online::{peer_bits, recv_payload, send_payload};
pub use preprocess::{
    GmwSession, PREPROCESS_CHUNK, evaluate, preprocess, preprocess_fixed, setup_pool,
};

use crate::channel::ChannelError;
use crate::circuit::CircuitError;
pub use crate::circuit::netlist::Netlist;
use crate::ot::OtError;

/// What can go wrong in a GMW run.
#[derive(Debug, thiserror::Error)]
pub enum GmwError {
    /// The transport failed or the peer sent a message of the wrong size.
    #[error(transparent)]
    Channel(#[from] ChannelError),
    /// Generating random OTs failed.
    #[error("OT generation failed: {0}")]
    Ot(#[from] OtError),
    /// Building or reading a circuit value failed.
    #[error(transparent)]
    Circuit(#[from] CircuitError),
    /// Less preprocessed material than the netlist consumes.
    #[error("preprocessed material too short: {needed} bits needed, {have} available")]
    MaterialShort {
        /// Bits needed.
        needed: usize,
        /// Bits available.
        have: usize,
    },
    /// An input this party must provide is missing.
    #[error("input {input} is not set")]
    MissingInput {
        /// Index among the netlist inputs.
        input: usize,
    },
    /// An input was provided with the wrong number of lanes.
    #[error("input {input}: expected {expected} lanes, got {got}")]
    InputLanes {
        /// Index among the netlist inputs.
        input: usize,
        /// Declared lanes.
        expected: usize,
        /// Provided lanes.
        got: usize,
    },
    /// A word input was given the wrong number of bits.
    #[error("input word: expected {expected} bits, got {got}")]
    InputWidth {
        /// Word width.
        expected: usize,
        /// Provided bits.
        got: usize,
    },
    /// This party set an input that belongs to the other party.
    #[error("input {input} belongs to the other party")]
    ForeignInput {
        /// Index among the netlist inputs.
        input: usize,
    },
    /// A value was set for a wire that is not an input of the netlist.
    #[error("a value was set for a wire that is not an input of this netlist")]
    UnknownInputWire,
    /// An output was read that this party did not learn.
    #[error("output {output} was not revealed to this party")]
    NotRevealed {
        /// Output index.
        output: usize,
    },
    /// A count does not fit this platform's address space.
    #[error("circuit too large for this platform")]
    TooLarge,
    /// An inconsistency in the engine itself (a bug, reported instead of a
    /// panic).
    #[error("internal GMW error: {0}")]
    Internal(&'static str),
}
