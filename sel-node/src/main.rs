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
        cli::Command::Ca(args) => cli::ca::run(&args),
        cli::Command::Serve(args) => match cli::serve::settings(&args) {
            // The node itself (`sel_node::node::serve(settings) -> ExitCode`)
            // is being built; until it lands, say so instead of pretending.
            Ok(_settings) => {
                eprintln!("serve: not built yet");
                ExitCode::from(cli::serve::EXIT_FATAL)
            }
            Err(code) => code,
        },
        cli::Command::Registry(args) => registry::run(&args),
        cli::Command::Deid(args) => cli::deid::run(&args),
    }
}
