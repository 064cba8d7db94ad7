//! Arguments of `sel-node encode`.
use clap::Args;
use std::path::PathBuf;

/// Exit status when every row was encoded (or `--skip-bad` was given).
pub const EXIT_OK: u8 = 0;
/// Exit status when at least one row was bad and `--skip-bad` was not given.
pub const EXIT_BAD_ROWS: u8 = 1;
/// Exit status when nothing could be encoded: bad arguments, an unreadable or
/// invalid config or key file, a wrong header, or an I/O error.
pub const EXIT_FATAL: u8 = 2;

const AFTER_HELP: &str = "\
INPUT
  The first CSV row is the header. Every configured field must be a column,
  named exactly like the field; a column that is not a field is an error
  (name it with --ignore-column to drop it). A UTF-8 byte-order mark is
  ignored. Text cells of bitmask fields are normalised like Mainzelliste
  (trim ' .:,;-' and the apostrophe at both ends, ä→AE ö→OE ü→UE ß→SS, upper
  case) and Bloom-encoded (bigrams, 500 bits, 15 hash functions). Integer
  cells must be non-negative decimal integers that fit the field's bit
  length; string cells are trimmed of white space and kept. A blank cell
  (or a name that is empty after normalisation) is an empty field: null.
  Every value passes the node's own wire checks, so the output is accepted
  by linkRecord(s). Error messages never repeat cell contents.

DATES
  One date column can replace three integer fields (day, month, year):
    --date-column geburtsdatum=geburtstag,geburtsmonat,geburtsjahr
  Without the option a column named geburtsdatum, birthdate, dateofbirth,
  date_of_birth or dob (any case) is split automatically into
  geburtstag,geburtsmonat,geburtsjahr or birthday,birthmonth,birthyear,
  whichever triple the configuration has and the header lacks. Accepted
  formats: YYYY-MM-DD and DD.MM.YYYY (day and month may have one digit).
  Impossible dates (31.02.1980) are bad rows.

OUTPUT
  One JSON object per good row on stdout, the `fields` of a linkRecord body:
    {\"fields\":{\"vorname\":\"B1BUBE...\",\"geburtstag\":24,\"plz\":\"65434\",...}}
  Bitmask fields are base64 of Java's BitSet.toByteArray(); fields appear in
  configuration order.

BAD ROWS AND EXIT STATUS
  Every bad row is reported on stderr as `line N: reason` and left out of the
  output; the remaining rows are still encoded. Exit status:
    0  all rows encoded, or bad rows were skipped with --skip-bad
    1  at least one row was bad (and --skip-bad was not given)
    2  nothing was encoded: bad arguments, config, key file, header or I/O

KEYED MODE
  --key-file names a file holding the site-shared secret as hex (at least 32
  hex digits, 64 recommended, e.g. from `openssl rand -hex 32`). Bitmask
  fields are then hashed with HMAC-SHA256 instead of Mainzelliste's MD5/SHA-1
  double hashing. Both linking sites must use the same key; the filters are
  not comparable with unkeyed (Mainzelliste) filters. See SPEC.md §4.";

/// `sel-node encode --config CONFIG.json --input FILE.csv [--key-file KEY]`
#[derive(Debug, Args)]
#[command(
    after_help = "Exit status: 0 all rows encoded, 1 some rows bad, 2 nothing encoded. More with --help.",
    after_long_help = AFTER_HELP
)]
pub struct EncodeArgs {
    /// The linkage configuration: an initLocal body or just its `algorithm`
    /// block.
    #[arg(long, value_name = "CONFIG.json")]
    pub config: PathBuf,

    /// The patients, a CSV file with a header row (`-` reads stdin).
    #[arg(long, value_name = "FILE.csv")]
    pub input: PathBuf,

    /// Hex-encoded site-shared secret; selects the keyed (HMAC-SHA256)
    /// encoding recommended for new deployments.
    #[arg(long, value_name = "KEY")]
    pub key_file: Option<PathBuf>,

    /// Split a date column into day, month and year fields:
    /// `COLUMN=DAYFIELD,MONTHFIELD,YEARFIELD` (repeatable).
    #[arg(long, value_name = "COLUMN=DAY,MONTH,YEAR")]
    pub date_column: Vec<String>,

    /// A CSV column that is not a field and should be ignored (repeatable).
    #[arg(long, value_name = "COLUMN")]
    pub ignore_column: Vec<String>,

    /// The CSV field delimiter (one ASCII character, e.g. ';').
    #[arg(long, default_value = ",", value_name = "CHAR")]
    pub delimiter: String,

    /// Leave bad rows out (still reporting them on stderr) and exit with 0.
    #[arg(long)]
    pub skip_bad: bool,
}
