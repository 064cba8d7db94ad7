//! `sel-node ca init` and `sel-node ca issue NAME`: the command line of the
//! local certificate authority ([`crate::ca`]).
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

/// Exit status when the files could not be made (nothing was overwritten).
pub const EXIT_FAILED: u8 = 1;

/// `sel-node ca`: a local CA for a demo or a small federation.
#[derive(Debug, Clone, Args)]
pub struct CaArgs {
    #[command(subcommand)]
    pub command: CaCommand,
}

#[derive(Debug, Clone, Subcommand)]
pub enum CaCommand {
    /// Create a CA key (ca.key, mode 0600) and certificate (ca.pem) in DIR.
    /// Refuses to overwrite either.
    Init(CaInitArgs),
    /// Issue a certificate for NAME (NAME.pem, NAME.key) signed by the CA.
    Issue(CaIssueArgs),
}

#[derive(Debug, Clone, Args)]
pub struct CaInitArgs {
    /// Directory of the CA (created if needed).
    #[arg(long, value_name = "DIR")]
    pub dir: PathBuf,
}

#[derive(Debug, Clone, Args)]
pub struct CaIssueArgs {
    /// The certificate's name (its common name and file name), e.g. the
    /// node's host name.
    pub name: String,
    /// Directory of the CA made by `ca init`.
    #[arg(long, value_name = "DIR")]
    pub dir: PathBuf,
    /// A subject alternative name (DNS name or IP address); repeat for more.
    /// Default: NAME, localhost, 127.0.0.1 and ::1.
    #[arg(long = "san", value_name = "DNS_OR_IP")]
    pub sans: Vec<String>,
    /// Where to write NAME.pem and NAME.key (default: the CA directory).
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}

/// Runs `sel-node ca …`; prints the files written.
pub fn run(args: &CaArgs) -> ExitCode {
    let result = match &args.command {
        CaCommand::Init(a) => crate::ca::init(&a.dir).map(|files| {
            println!("CA certificate: {}", files.cert.display());
            println!(
                "CA key:         {} (keep it private; it signs every certificate)",
                files.key.display()
            );
        }),
        CaCommand::Issue(a) => {
            let out = a.out_dir.as_ref().unwrap_or(&a.dir);
            crate::ca::issue(&a.dir, &a.name, &a.sans, out).map(|files| {
                println!("certificate: {}", files.cert.display());
                println!("key:         {}", files.key.display());
            })
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sel-node ca: {e}");
            ExitCode::from(EXIT_FAILED)
        }
    }
}
