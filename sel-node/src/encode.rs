//! `sel-node encode`: a CSV file of patients → SEL records, one JSON object
//! per line, in the `fields` shape of a linkRecord body.
//!
//! The pipeline is: configuration ([`config`]) and optional key ([`key`]) →
//! header plan ([`columns`]) → per-row conversion ([`row`], [`date`]) →
//! JSON lines on stdout. Rows are streamed, so files of any size work in
//! constant memory; bad rows are reported and left out, never silently lost.
// `pub(crate)` so the registry's import encodes rows with the same code.
pub(crate) mod columns;
pub(crate) mod config;
mod date;
pub(crate) mod key;
pub(crate) mod row;

use crate::cli::encode::{EXIT_BAD_ROWS, EXIT_FATAL, EXIT_OK, EncodeArgs};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use protocol_spec::messages::mainsel::{FieldMap, WireRecord};
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Anything that stops `encode` before or while it runs (bad rows do not).
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    #[error(transparent)]
    Config(#[from] config::ConfigLoadError),
    #[error(transparent)]
    Key(#[from] key::KeyFileError),
    #[error(transparent)]
    Header(#[from] columns::HeaderError),
    #[error("--delimiter must be a single ASCII character, got {0:?}")]
    Delimiter(String),
    #[error("cannot open input {path}: {source}")]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("reading input {path}: {source}")]
    Read { path: PathBuf, source: csv::Error },
    #[error("writing the records to stdout: {0}")]
    Write(std::io::Error),
    #[error("a bitmask field cannot be encoded: {0}")]
    Bloom(#[from] protocol_spec::bloom::BloomError),
}

/// What a finished run did.
#[derive(Debug, Default)]
struct Summary {
    written: u64,
    bad_lines: Vec<u64>,
}

/// Runs the subcommand and maps its outcome to the exit status documented in
/// `--help`.
pub fn run(args: &EncodeArgs) -> ExitCode {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let result = encode(args, &mut out).and_then(|summary| {
        out.flush().map_err(EncodeError::Write)?;
        Ok(summary)
    });
    match result {
        Ok(summary) => {
            let bad = summary.bad_lines.len();
            if bad == 0 {
                eprintln!("encoded {} records", summary.written);
                ExitCode::from(EXIT_OK)
            } else {
                eprintln!(
                    "encoded {} records; {bad} bad row(s) left out (line(s) {})",
                    summary.written,
                    summarise_lines(&summary.bad_lines)
                );
                ExitCode::from(if args.skip_bad {
                    EXIT_OK
                } else {
                    EXIT_BAD_ROWS
                })
            }
        }
        Err(e) => {
            eprintln!("sel-node encode: {e}");
            ExitCode::from(EXIT_FATAL)
        }
    }
}

/// The first few line numbers, so the summary stays one line for big files.
pub(crate) fn summarise_lines(lines: &[u64]) -> String {
    const SHOWN: usize = 10;
    let mut s: Vec<String> = lines.iter().take(SHOWN).map(u64::to_string).collect();
    if lines.len() > SHOWN {
        s.push(format!("and {} more", lines.len() - SHOWN));
    }
    s.join(", ")
}

pub(crate) fn delimiter(arg: &str) -> Result<u8, EncodeError> {
    match arg.as_bytes() {
        [b] if b.is_ascii() => Ok(*b),
        _ => Err(EncodeError::Delimiter(arg.to_owned())),
    }
}

fn open_input(path: &Path) -> Result<(Box<dyn Read>, Option<u64>), EncodeError> {
    if path == Path::new("-") {
        return Ok((Box::new(std::io::stdin().lock()), None));
    }
    let open_err = |source| EncodeError::Open {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(open_err)?;
    let len = file.metadata().map_err(open_err)?.len();
    Ok((Box::new(file), Some(len)))
}

/// A progress bar over the input bytes, drawn only when stderr is a terminal
/// (never into logs or pipes).
fn progress(total: Option<u64>) -> ProgressBar {
    let Some(total) = total.filter(|_| std::io::stderr().is_terminal()) else {
        return ProgressBar::hidden();
    };
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} ({eta}) {msg}",
    ) {
        bar.set_style(style);
    }
    bar
}

fn encode(args: &EncodeArgs, out: &mut impl Write) -> Result<Summary, EncodeError> {
    let config = config::load(&args.config)?;
    let site_key = args.key_file.as_deref().map(key::load).transpose()?;
    let dates = args
        .date_column
        .iter()
        .map(|a| columns::parse_date_spec(a))
        .collect::<Result<Vec<_>, _>>()?;
    let delimiter = delimiter(&args.delimiter)?;

    let (input, total) = open_input(&args.input)?;
    let read_err = |source| EncodeError::Read {
        path: args.input.clone(),
        source,
    };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(true)
        .flexible(false)
        .from_reader(input);
    let header: Vec<String> = reader
        .headers()
        .map_err(read_err)?
        .iter()
        .map(|h| h.trim().to_owned())
        .collect();
    let sources = columns::plan(&header, &config, &dates, &args.ignore_column)?;
    let rows = row::RowEncoder::new(&config, sources, header, site_key.as_ref())?;
    drop(site_key);

    let bar = progress(total);
    let mut summary = Summary::default();
    let mut record = csv::StringRecord::new();
    let mut rows_read: u64 = 0;
    loop {
        rows_read += 1;
        if rows_read.is_multiple_of(256) {
            bar.set_position(reader.position().byte());
        }
        let line = match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                let line = record.position().map_or(0, |p| p.line());
                match rows.encode(&record) {
                    Ok(fields) => {
                        write_record(out, fields)?;
                        summary.written += 1;
                        None
                    }
                    Err(e) => Some((line, e.to_string())),
                }
            }
            Err(e) => Some(row_level_csv_error(e).map_err(read_err)?),
        };
        if let Some((line, reason)) = line {
            bar.suspend(|| eprintln!("line {line}: {reason}"));
            summary.bad_lines.push(line);
        }
    }
    bar.finish_and_clear();
    Ok(summary)
}

/// A CSV error that concerns one row (wrong cell count, invalid UTF-8) as a
/// bad-row report; any other error (I/O) stops the run.
pub(crate) fn row_level_csv_error(e: csv::Error) -> Result<(u64, String), csv::Error> {
    match e.kind() {
        csv::ErrorKind::UnequalLengths {
            pos,
            expected_len,
            len,
        } => Ok((
            pos.as_ref().map_or(0, |p| p.line()),
            format!("the row has {len} cells, the header has {expected_len}"),
        )),
        csv::ErrorKind::Utf8 { pos, err } => Ok((
            pos.as_ref().map_or(0, |p| p.line()),
            format!(
                "cell {} is not valid UTF-8 (save the file as UTF-8)",
                err.field() + 1
            ),
        )),
        _ => Err(e),
    }
}

/// One output line: `{"fields": {...}}`, fields in configuration order (the
/// node's own `WireRecord`, without an id).
fn write_record(out: &mut impl Write, fields: FieldMap) -> Result<(), EncodeError> {
    let record = WireRecord { fields, id: None };
    serde_json::to_writer(&mut *out, &record).map_err(|e| EncodeError::Write(e.into()))?;
    out.write_all(b"\n").map_err(EncodeError::Write)
}
