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
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("serve: cannot start the runtime: {e}");
            return ExitCode::from(cli::serve::EXIT_FATAL);
        }
    };
    match runtime.block_on(sel_node::node::serve(settings)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("serve: {e:#}");
            ExitCode::from(cli::serve::EXIT_FATAL)
        }
    }
}
