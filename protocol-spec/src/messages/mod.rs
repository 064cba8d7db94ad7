//! Wire types of every message.
pub mod linkage;
pub mod mainsel;
