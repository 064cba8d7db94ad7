//! The command line: the top-level parser and one `Args` type per subcommand.
pub mod ca;
pub mod deid;
pub mod encode;
pub mod registry;
pub mod serve;

use clap::{Parser, Subcommand};

/// The secure record-linkage node (MainSEL-compatible).
#[derive(Debug, Parser)]
#[command(name = "sel-node", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

// Parsed once per process: the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Encode a CSV file of patients into SEL records (one JSON object per line).
    Encode(encode::EncodeArgs),
    /// A small patient registry (Mainzelliste-like) that serves the node.
    Registry(registry::RegistryArgs),
    /// Run the node: the REST API and the peer channel.
    Serve(serve::ServeArgs),
    /// A local certificate authority for a demo or a small federation.
    Ca(ca::CaArgs),
    /// De-identification: detect and redact identifiers in clinical text,
    /// evaluate detection quality.
    Deid(deid::DeidArgs),
}
