//! De-identification: finding identifiers (PHI) in clinical text and
//! transforming them (mask, hash, redact, keep). No HTTP here: the CLI
//! (`sel-node deid`) and a future service call [`Engine::detect`] and
//! [`policy::apply`].
//!
//! Detection is a prioritised ladder of recognizers ([`patterns`] for
//! structured identifiers, [`names`] for persons, plus user [`Category`]s).
//! Every recognizer proposes candidates; overlaps are resolved
//! deterministically by priority, then length, then start, so a checksummed
//! identifier is never swallowed by a name or a date.
//!
//! **Offsets.** A [`Finding`]'s `start` and `end` count Unicode scalar values
//! (Rust `char`s, what Python's `str` indexes), not UTF-8 bytes; `end` is
//! exclusive. Internally recognizers work on byte offsets and the engine
//! converts once at the end; [`char_to_byte`] converts back.
pub mod category;
pub mod checksum;
pub mod engine;
pub mod eval;
pub mod handle;
pub mod jobs;
mod names;
mod patterns;
pub mod pg_schema;
pub mod phi_api;
pub mod policy;
mod prefilter;
pub mod service;
pub mod tokens;

pub use category::{Category, CategoryError};
pub use engine::{Engine, Finding, char_to_byte};
pub use handle::EngineHandle;
pub use policy::{Action, Policy, PolicyError};

/// A proposed span before overlap resolution (byte offsets).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Candidate {
    pub start: usize,
    pub end: usize,
    pub priority: u8,
    /// Index into the engine's recognizer table.
    pub recognizer: usize,
    pub confidence: f32,
}
