//! `sel-node`: the secure record-linkage node.
//!
//! One binary, several subcommands ([`cli::Command`]); each subcommand lives
//! in its own module and returns the process exit code, so `main` only parses
//! the command line and dispatches.
mod cli;
mod encode;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match cli.command {
        cli::Command::Encode(args) => encode::run(&args),
    }
}
