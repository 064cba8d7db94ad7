//! Semi-honest two-party computation engine.
//!
//! Layers, bottom up:
//! * [`channel`]: typed, counted message transport between the two parties
//!   (in-memory pair, TCP, and a multiplexer that runs many sessions over one
//!   connection).
//! * [`ot`]: base OT on Ristretto and OT extension, producing random,
//!   correlated and chosen-message OTs.
//! * [`circuit`]: one circuit-builder trait and the gadgets written against
//!   it, with a plaintext backend and a cost-counting backend.
//! * [`gmw`]: the two-party backend of that trait (XOR-shared Boolean circuits,
//!   Beaver triples from OT, layer-batched evaluation).
//! * [`arith`]: arithmetic shares over Z_2^k and conversions.
#![forbid(unsafe_code)]

/// `Debug` that names the type and nothing else: for types holding shares,
/// keys, seeds or record values, which must never reach a log.
macro_rules! redacted_debug {
    ($($t:ty),+ $(,)?) => {
        $(impl ::std::fmt::Debug for $t {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(concat!(stringify!($t), "(redacted)"))
            }
        })+
    };
}
pub(crate) use redacted_debug;

pub mod arith;
pub mod block;
pub mod channel;
pub mod circuit;
pub mod epilink;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod gmw;
pub mod lanes;
pub mod ot;
pub mod party;
pub mod prg;

pub use lanes::Lanes;
/// The two roles, at the crate root for the node.
pub use party::Party;
