//! The contract between every part of the system.
//!
//! * [`messages`]: serde types for every message of the MainSEL REST API and the
//!   linkage service, with the reference's field names and JSON shapes.
//! * [`config`]: the validated linkage configuration (fields, weights, exchange
//!   groups, thresholds) and its exact integer quantisation.
//! * [`value`]: conversion of one wire field value into field bits (and back).
//! * [`epilink`]: the plaintext EpiLink reference. Every 2PC result must equal it
//!   bit for bit, so it is written for readability, not speed.
//! * [`bloom`]: the Mainzelliste-compatible Bloom-filter encoder (and its keyed
//!   variant).
//!
//! `SPEC.md` at the repository root is the written protocol.

pub mod bloom;
pub mod config;
pub mod epilink;
pub mod messages;
pub mod value;
