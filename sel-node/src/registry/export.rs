//! `sel-node registry export`: the LIDs received per remote as CSV.
//!
//! With `--remote R` the columns are `patient_id,lid`; without, every remote
//! is written as `remote,patient_id,lid`. A file named with `--out` is
//! created readable by its owner only, since LIDs identify patients across
//! sites.
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use protocol_spec::messages::mainsel::check_remote_id;

use super::store::{LidRow, RegistryStore, StoreError};
use crate::cli::registry::{EXIT_FATAL, EXIT_OK, ExportArgs};

/// Why nothing (or not everything) was exported.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("--remote: {0}")]
    Remote(protocol_spec::messages::mainsel::IdError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Runs the subcommand.
pub fn run(args: &ExportArgs) -> ExitCode {
    match export(args) {
        Ok(n) => {
            eprintln!("exported {n} LIDs");
            ExitCode::from(EXIT_OK)
        }
        Err(e) => {
            eprintln!("sel-node registry export: {e}");
            ExitCode::from(EXIT_FATAL)
        }
    }
}

/// Writes the CSV; returns the number of LIDs written.
pub fn export(args: &ExportArgs) -> Result<u64, ExportError> {
    if let Some(r) = &args.remote {
        check_remote_id(r).map_err(ExportError::Remote)?;
    }
    let store = RegistryStore::open(&args.data_dir)?;
    let rows = store.lids(args.remote.as_deref())?;
    let out_name = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("<stdout>"));
    let write_err = |source| ExportError::Write {
        path: out_name.clone(),
        source,
    };
    let out: Box<dyn Write> = match &args.out {
        Some(path) => Box::new(create_private(path).map_err(write_err)?),
        None => Box::new(std::io::stdout().lock()),
    };
    write_csv(out, &rows, args.remote.is_none()).map_err(write_err)?;
    Ok(rows.len() as u64)
}

fn write_csv(out: impl Write, rows: &[LidRow], with_remote: bool) -> std::io::Result<()> {
    let mut w = csv::Writer::from_writer(std::io::BufWriter::new(out));
    if with_remote {
        w.write_record(["remote", "patient_id", "lid"])?;
    } else {
        w.write_record(["patient_id", "lid"])?;
    }
    for row in rows {
        if with_remote {
            w.write_record([&row.remote, &row.patient_id, &row.lid])?;
        } else {
            w.write_record([&row.patient_id, &row.lid])?;
        }
    }
    w.flush()
}

fn create_private(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}
