//! `sel-node registry import`: a CSV of patients → encoded records in the
//! registry's store.
//!
//! Rows are encoded by the very code of `sel-node encode` (configuration,
//! header plan, row encoder, key file), so what the registry serves is what
//! `encode` would have written and what the node accepts. The only addition
//! is the id column. All good rows are stored in one transaction: an I/O error
//! half-way stores nothing, and a run either adds the file or does not.
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use protocol_spec::messages::mainsel::FieldMap;

use super::store::{RegistryStore, StoreError};
use crate::cli::registry::{EXIT_BAD_ROWS, EXIT_FATAL, EXIT_OK, ImportArgs};
use crate::encode::{
    EncodeError, columns, config, delimiter, key, row, row_level_csv_error, summarise_lines,
};

/// Longest patient id accepted (ids travel in JSON, CSV and callback paths).
pub const MAX_ID_LEN: usize = 128;

/// Anything that stops an import before it stores anything.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    Encode(#[from] EncodeError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What an import did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ImportSummary {
    /// Patients stored (new or replaced).
    pub stored: u64,
    /// Of those, how many replaced a stored patient with the same id.
    pub replaced: u64,
    /// Bad rows: line number and reason (never a cell's content).
    pub bad: Vec<(u64, String)>,
}

/// Why a patient id cell is unusable. Never repeats the cell.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdCellError {
    #[error("the id column is empty")]
    Empty,
    #[error("the id is longer than {MAX_ID_LEN} characters")]
    TooLong,
    #[error("the id contains a control character")]
    Control,
}

/// Checks a patient id from the CSV (already trimmed).
pub fn check_patient_id(id: &str) -> Result<(), IdCellError> {
    if id.is_empty() {
        return Err(IdCellError::Empty);
    }
    if id.chars().count() > MAX_ID_LEN {
        return Err(IdCellError::TooLong);
    }
    if id.chars().any(char::is_control) {
        return Err(IdCellError::Control);
    }
    Ok(())
}

/// A fresh patient id for a row without one: 128 random bits, so ids of
/// separate imports never collide and reveal nothing about order.
pub fn generated_id() -> String {
    let bytes: [u8; 16] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Runs the subcommand: prints bad rows and a summary on stderr.
pub fn run(args: &ImportArgs) -> ExitCode {
    match import(args) {
        Ok(summary) => {
            for (line, reason) in &summary.bad {
                eprintln!("line {line}: {reason}");
            }
            let lines: Vec<u64> = summary.bad.iter().map(|(l, _)| *l).collect();
            let head = format!(
                "stored {} patients ({} new, {} replaced)",
                summary.stored,
                summary.stored - summary.replaced,
                summary.replaced
            );
            if lines.is_empty() {
                eprintln!("{head}");
                ExitCode::from(EXIT_OK)
            } else {
                eprintln!(
                    "{head}; {} bad row(s) left out (line(s) {})",
                    lines.len(),
                    summarise_lines(&lines)
                );
                ExitCode::from(EXIT_BAD_ROWS)
            }
        }
        Err(e) => {
            eprintln!("sel-node registry import: {e}");
            ExitCode::from(EXIT_FATAL)
        }
    }
}

/// Encodes `args.input` and stores the good rows in `args.data_dir`.
pub fn import(args: &ImportArgs) -> Result<ImportSummary, ImportError> {
    let config = config::load(&args.config).map_err(EncodeError::from)?;
    let site_key = args
        .key_file
        .as_deref()
        .map(key::load)
        .transpose()
        .map_err(EncodeError::from)?;
    let dates = args
        .date_column
        .iter()
        .map(|a| columns::parse_date_spec(a))
        .collect::<Result<Vec<_>, _>>()
        .map_err(EncodeError::from)?;
    let delimiter = delimiter(&args.delimiter)?;

    let read_err = |source| EncodeError::Read {
        path: args.input.clone(),
        source,
    };
    let file = open(&args.input)?;
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(true)
        .flexible(false)
        .from_reader(file);
    let header: Vec<String> = reader
        .headers()
        .map_err(read_err)?
        .iter()
        .map(|h| h.trim().to_owned())
        .collect();
    let id_col = header.iter().position(|h| *h == args.id_column);
    let mut ignore = args.ignore_column.clone();
    if id_col.is_some() {
        ignore.push(args.id_column.clone());
    }
    let sources = columns::plan(&header, &config, &dates, &ignore).map_err(EncodeError::from)?;
    let rows = row::RowEncoder::new(&config, sources, header, site_key.as_ref())
        .map_err(EncodeError::from)?;
    drop(site_key);

    let mut patients: Vec<(String, FieldMap)> = Vec::new();
    let mut summary = ImportSummary::default();
    let mut record = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                let line = record.position().map_or(0, |p| p.line());
                match patient(&rows, id_col, &record) {
                    Ok(p) => patients.push(p),
                    Err(reason) => summary.bad.push((line, reason)),
                }
            }
            Err(e) => summary.bad.push(row_level_csv_error(e).map_err(read_err)?),
        }
    }

    let store = RegistryStore::open(&args.data_dir)?;
    summary.replaced = store.put_patients(&patients)?;
    // Two rows of one file with the same id: the later one wins and counts
    // as a replacement, as if the rows had been imported one by one.
    summary.stored = patients.len() as u64;
    Ok(summary)
}

fn open(path: &Path) -> Result<std::fs::File, EncodeError> {
    std::fs::File::open(path).map_err(|source| EncodeError::Open {
        path: PathBuf::from(path),
        source,
    })
}

/// One row as (id, fields), or the reason it is bad.
fn patient(
    rows: &row::RowEncoder,
    id_col: Option<usize>,
    record: &csv::StringRecord,
) -> Result<(String, FieldMap), String> {
    let id = match id_col {
        Some(col) => {
            let id = record.get(col).unwrap_or("").trim();
            check_patient_id(id).map_err(|e| e.to_string())?;
            id.to_owned()
        }
        None => generated_id(),
    };
    let fields = rows.encode(record).map_err(|e| e.to_string())?;
    Ok((id, fields))
}
