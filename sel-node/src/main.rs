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
        cli::Command::Deid(args) => cli::deid::run(&args),
        cli::Command::Ca(args) => cli::ca::run(&args),
        cli::Command::Serve(args) => match cli::serve::settings(&args) {
            Ok(settings) => serve(settings),
            Err(code) => code,
        },
    }
}

/// `sel-node serve`: logs to stderr (`RUST_LOG`, default `info`), runs the
/// node until ctrl-c or SIGTERM.
fn serve(settings: sel_node::settings::Settings) -> ExitCode {
    cli::serve::run_logged("serve", sel_node::node::serve(settings))
}
