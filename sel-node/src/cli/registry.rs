//! Arguments of `sel-node registry import|serve|export`.
use clap::{Args, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;

/// Exit status when the command did everything it was asked to.
pub const EXIT_OK: u8 = 0;
/// Exit status of `import` when at least one row was bad (the good rows are
/// stored).
pub const EXIT_BAD_ROWS: u8 = 1;
/// Exit status when nothing was done: bad arguments, files or store.
pub const EXIT_FATAL: u8 = 2;

/// `sel-node registry ...`
#[derive(Debug, Args)]
pub struct RegistryArgs {
    #[command(subcommand)]
    pub command: RegistryCommand,
}

#[derive(Debug, Subcommand)]
pub enum RegistryCommand {
    /// Encode a CSV file of patients and store them in the registry.
    Import(ImportArgs),
    /// Serve getAllRecords, the callbacks and the Communicator triggers.
    Serve(ServeArgs),
    /// Write the LIDs received per remote as CSV.
    Export(ExportArgs),
}

/// `sel-node registry import --data-dir DIR --config CONFIG.json --input FILE.csv`
#[derive(Debug, Args)]
#[command(after_help = "\
The CSV is read exactly as `sel-node encode` reads it (same columns, dates and
normalisation), plus one id column (default `id`) naming each patient. Without
that column every row gets a fresh random id. Importing an id again replaces
the stored patient. Bad rows are reported by line number and left out.
Exit status: 0 all rows stored, 1 some rows bad (the others stored), 2 nothing stored.")]
pub struct ImportArgs {
    /// Directory of the registry's store (`registry.redb`).
    #[arg(long, value_name = "DIR")]
    pub data_dir: PathBuf,

    /// The linkage configuration: an initLocal body or its `algorithm` block.
    #[arg(long, value_name = "CONFIG.json")]
    pub config: PathBuf,

    /// The patients, a CSV file with a header row.
    #[arg(long, value_name = "FILE.csv")]
    pub input: PathBuf,

    /// Hex-encoded site-shared secret for the keyed Bloom encoding.
    #[arg(long, value_name = "KEY")]
    pub key_file: Option<PathBuf>,

    /// The column holding patient ids.
    #[arg(long, default_value = "id", value_name = "COLUMN")]
    pub id_column: String,

    /// Split a date column into day, month and year fields:
    /// `COLUMN=DAYFIELD,MONTHFIELD,YEARFIELD` (repeatable).
    #[arg(long, value_name = "COLUMN=DAY,MONTH,YEAR")]
    pub date_column: Vec<String>,

    /// A CSV column that is not a field and should be ignored (repeatable).
    #[arg(long, value_name = "COLUMN")]
    pub ignore_column: Vec<String>,

    /// The CSV field delimiter (one ASCII character).
    #[arg(long, default_value = ",", value_name = "CHAR")]
    pub delimiter: String,
}

/// `sel-node registry serve --data-dir DIR --listen ADDR --site-id ID ...`
///
/// `Debug` is written by hand: the keys may come from the environment and
/// must never be printed.
#[derive(Args)]
pub struct ServeArgs {
    #[arg(long, value_name = "DIR")]
    pub data_dir: PathBuf,

    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8170", value_name = "ADDR")]
    pub listen: SocketAddr,

    /// This site's id (`localId` of the pages).
    #[arg(long, value_name = "ID")]
    pub site_id: String,

    /// File holding the registry's API key (for users and the triggers).
    #[arg(long, value_name = "FILE", conflicts_with = "api_key")]
    pub api_key_file: Option<PathBuf>,

    /// The registry's API key, from the environment only.
    #[arg(
        long,
        env = "SEL_REGISTRY_API_KEY",
        hide_env_values = true,
        hide = true
    )]
    pub api_key: Option<String>,

    /// Base URL of this site's node.
    #[arg(long, value_name = "URL")]
    pub node_url: String,

    /// File holding the node's local key (`localAuthentication.sharedKey`).
    #[arg(long, value_name = "FILE", conflicts_with = "node_key")]
    pub node_key_file: Option<PathBuf>,

    /// The node's local key, from the environment only.
    #[arg(
        long,
        env = "SEL_REGISTRY_NODE_KEY",
        hide_env_values = true,
        hide = true
    )]
    pub node_key: Option<String>,

    /// The URL under which the node reaches this registry (callbacks, page
    /// links); default `https://ADDR` (`http://` with --insecure-http), with
    /// 127.0.0.1 for an unspecified address.
    #[arg(long, value_name = "URL")]
    pub public_url: Option<String>,

    /// Certificate chain (PEM) of the HTTPS listener.
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// Private key (PEM) of the HTTPS listener.
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Extra trusted CA certificates (PEM) for calls to the node.
    #[arg(long, value_name = "PEM")]
    pub ca_bundle: Option<PathBuf>,

    /// Serve plain HTTP instead of HTTPS (local experiments only).
    #[arg(long, conflicts_with_all = ["tls_cert", "tls_key"])]
    pub insecure_http: bool,
}

/// `sel-node registry export --data-dir DIR [--remote R] [--out FILE]`
#[derive(Debug, Args)]
pub struct ExportArgs {
    #[arg(long, value_name = "DIR")]
    pub data_dir: PathBuf,

    /// Only this remote's LIDs, as `patient_id,lid`; without it every remote,
    /// as `remote,patient_id,lid`.
    #[arg(long, value_name = "REMOTE")]
    pub remote: Option<String>,

    /// Output file (default stdout). Created readable by its owner only.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

impl std::fmt::Debug for ServeArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redacted = |k: &Option<String>| k.as_ref().map(|_| "<redacted>");
        f.debug_struct("ServeArgs")
            .field("data_dir", &self.data_dir)
            .field("listen", &self.listen)
            .field("site_id", &self.site_id)
            .field("api_key_file", &self.api_key_file)
            .field("api_key", &redacted(&self.api_key))
            .field("node_url", &self.node_url)
            .field("node_key_file", &self.node_key_file)
            .field("node_key", &redacted(&self.node_key))
            .field("public_url", &self.public_url)
            .field("tls_cert", &self.tls_cert)
            .field("tls_key", &self.tls_key)
            .field("ca_bundle", &self.ca_bundle)
            .field("insecure_http", &self.insecure_http)
            .finish()
    }
}
