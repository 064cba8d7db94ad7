//! The command line: the top-level parser and one `Args` type per subcommand.
pub mod encode;
pub mod registry;

use clap::{Parser, Subcommand};

/// The secure record-linkage node (MainSEL-compatible).
#[derive(Debug, Parser)]
#[command(name = "sel-node", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Encode a CSV file of patients into SEL records (one JSON object per line).
    Encode(encode::EncodeArgs),
    /// A small patient registry (Mainzelliste-like) that serves the node.
    Registry(registry::RegistryArgs),
}
