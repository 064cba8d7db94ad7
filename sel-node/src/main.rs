//! `sel-node`: the secure record-linkage node.
//!
//! One binary, several subcommands ([`sel_node::cli::Command`]); each
//! subcommand lives in its own module and returns the process exit code, so
//! `main` only parses the command line and dispatches.
use clap::Parser;
use sel_node::{cli, encode, registry};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match cli.command {
        cli::Command::Encode(args) => encode::run(&args),
        cli::Command::Registry(args) => registry::run(&args),
    }
}
