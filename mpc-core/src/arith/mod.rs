//! Arithmetic shares over Z_2^k and conversions to and from Boolean shares.
//!
//! * [`ring`]: the [`Ring`] trait over `u32`/`u64`/`u128` (wrapping
//!   arithmetic), packing of `width`-bit elements for the wire.
//! * [`b2a`](mod@b2a): Boolean → arithmetic, one random OT per bit.
//! * [`a2b`](mod@a2b): arithmetic → Boolean, an adder circuit in GMW.
//! * [`vector`]: inner products `<x, y_j>` of one party's fixed bit vector
//!   with many rows of the other party, one OT per bit of `x` in total —
//!   the core of the EpiLink cost design.
//!
//! Additive shares: `x = x_client + x_server mod 2^width`. Local operations
//! on shares (add, subtract, multiply by a public constant) are plain
//! [`Ring`] arithmetic on each party's share.

pub mod a2b;
pub mod b2a;
pub mod ring;
pub mod vector;

pub use a2b::{a2b, a2b_circuit};
pub use b2a::{b2a_bits, b2a_word};
pub use ring::Ring;
pub use vector::{BitColumns, BitRows, FixedBitsReceiver, Matrix, Rows, RowsSender};

use crate::channel::ChannelError;
use crate::gmw::GmwError;
use crate::ot::OtError;

/// What can go wrong in an arithmetic-share protocol.
#[derive(Debug, thiserror::Error)]
pub enum ArithError {
    /// The transport failed or the peer sent a message of the wrong size.
    #[error(transparent)]
    Channel(#[from] ChannelError),
    /// Generating OTs failed.
    #[error("OT failed: {0}")]
    Ot(#[from] OtError),
    /// A GMW sub-protocol (A2B) failed.
    #[error("GMW failed: {0}")]
    Gmw(#[from] GmwError),
    /// A ring width outside `1..=k`.
    #[error("width {width} is outside 1..={max}")]
    Width {
        /// Requested width.
        width: u32,
        /// The ring's bit size.
        max: u32,
    },
    /// Inputs of inconsistent shape.
    #[error("shape mismatch: {0}")]
    Shape(String),
}

/// Checks a share width against the ring.
pub(crate) fn check_width<R: Ring>(width: u32) -> Result<(), ArithError> {
    if width == 0 || width > R::BITS {
        Err(ArithError::Width {
            width,
            max: R::BITS,
        })
    } else {
        Ok(())
    }
}
