//! `sel-node deid`: detect, redact and evaluate from the command line.
//!
//! Input is JSON Lines, one `{"id", "text"}` object per line (`id` a string
//! or a number, echoed back). A malformed line is reported on stderr as
//! `line N: reason` (never with its text) and skipped; the others are still
//! processed.
use crate::deid::{Action, Category, Engine, Policy, eval, policy};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Every line was processed.
pub const EXIT_OK: u8 = 0;
/// At least one line was malformed (the others were processed).
pub const EXIT_BAD_LINES: u8 = 1;
/// Nothing was processed: bad arguments, categories, policy or I/O error;
/// or, for `eval --min-*`, quality below the threshold.
pub const EXIT_FATAL: u8 = 2;

#[derive(Debug, Args)]
pub struct DeidArgs {
    #[command(subcommand)]
    pub command: DeidCommand,
}

#[derive(Debug, Subcommand)]
pub enum DeidCommand {
    /// Find identifiers: writes {"id","spans":[{"start","end","label","confidence","recognizer"}]}
    /// per line. Offsets count characters (Unicode scalar values), end exclusive.
    Detect(DetectArgs),
    /// Replace identifiers according to a policy: writes {"id","text"} per line.
    Redact(RedactArgs),
    /// Generate a labelled synthetic corpus and print precision and recall
    /// per label (lenient: overlap; strict: exact span).
    Eval(EvalArgs),
    /// Run the de-identification service alone (HTTPS on `[deid] listen`,
    /// with the node's settings, key and TLS material; see `serve --help`).
    Serve(Box<crate::cli::serve::ServeArgs>),
    /// Measure token lookups per second (value→token, token→value) on the
    /// embedded store or a PostgreSQL database (use a scratch database:
    /// synthetic values are written under a namespace of their own).
    BenchTokens(BenchTokensArgs),
}

#[derive(Debug, Args)]
pub struct BenchTokensArgs {
    /// `embedded` (a redb file in a temporary directory) or a
    /// `postgres://` URL.
    #[arg(
        long,
        env = "SEL_STORE",
        hide_env_values = true,
        default_value = "embedded"
    )]
    pub store: crate::settings::StoreLocation,
    /// Values stored before the lookups.
    #[arg(long, default_value_t = 10_000)]
    pub values: usize,
    /// Lookups of each kind.
    #[arg(long, default_value_t = 20_000)]
    pub lookups: usize,
    /// Threads looking up at once.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Extra CA certificates (PEM) for a database reached over TLS.
    #[arg(long, value_name = "FILE.pem")]
    pub ca_bundle: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct DetectArgs {
    /// JSON Lines input (`{"id","text"}` per line); stdin when absent or `-`.
    #[arg(long, value_name = "FILE.jsonl")]
    pub input: Option<PathBuf>,
    /// User categories: a JSON array of {"name","regex","context"}.
    #[arg(long, value_name = "FILE.json")]
    pub categories: Option<PathBuf>,
}

/// A salt that `Debug` does not print.
#[derive(Clone)]
pub struct Salt(pub String);

impl std::fmt::Debug for Salt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Salt(<hidden>)")
    }
}

impl std::str::FromStr for Salt {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Salt(s.to_string()))
    }
}

#[derive(Debug, Args)]
pub struct RedactArgs {
    #[command(flatten)]
    pub detect: DetectArgs,
    /// Action per label, `LABEL=mask|hash|redact|keep` (repeatable).
    #[arg(long = "policy", value_name = "LABEL=ACTION")]
    pub policies: Vec<String>,
    /// Action for labels without a --policy.
    #[arg(long, default_value = "redact", value_name = "ACTION")]
    pub default: String,
    /// Salt for the hash action (at least 16 bytes). Prefer the environment
    /// variable: a command line is visible to other users of the machine.
    #[arg(
        long,
        env = "SEL_DEID_SALT",
        hide_env_values = true,
        value_name = "SALT"
    )]
    pub salt: Option<Salt>,
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Number of documents to generate.
    #[arg(long, default_value_t = 270)]
    pub generate: usize,
    /// Seed of the generator (same seed, same corpus).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Also measure detection throughput (MB/s, one thread, ~3 s).
    #[arg(long)]
    pub bench: bool,
    /// Print every missed and every spurious span (synthetic values only) to
    /// stderr, to see where the engine fails.
    #[arg(long)]
    pub errors: bool,
    /// Write the generated corpus with its gold spans as JSON Lines.
    #[arg(long, value_name = "FILE.jsonl")]
    pub dump: Option<PathBuf>,
}

pub fn run(args: &DeidArgs) -> ExitCode {
    match &args.command {
        DeidCommand::Serve(a) => match crate::cli::serve::settings(a) {
            Ok(settings) => {
                crate::cli::serve::run_logged("deid serve", crate::deid::service::run(settings))
            }
            Err(code) => code,
        },
        DeidCommand::BenchTokens(a) => bench_tokens(a),
        DeidCommand::Detect(a) => match engine(a) {
            Ok(e) => process(a, |id, text, out| {
                let spans = e.detect(text);
                // Serialised as a struct (not through `json!`), so an f32
                // confidence prints as 0.85, not as its widened f64.
                #[derive(serde::Serialize)]
                struct Line<'a, I: serde::Serialize> {
                    id: I,
                    spans: &'a [crate::deid::Finding],
                }
                serde_json::to_writer(&mut *out, &Line { id, spans: &spans })?;
                Ok(())
            }),
            Err(code) => code,
        },
        DeidCommand::Redact(a) => {
            let policy = match build_policy(a) {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("deid redact: {e}");
                    return ExitCode::from(EXIT_FATAL);
                }
            };
            match engine(&a.detect) {
                Ok(e) => process(&a.detect, |id, text, out| {
                    let spans = e.detect(text);
                    let redacted = policy::apply(text, &spans, &policy);
                    serde_json::to_writer(
                        &mut *out,
                        &serde_json::json!({ "id": id, "text": redacted }),
                    )?;
                    Ok(())
                }),
                Err(code) => code,
            }
        }
        DeidCommand::Eval(a) => run_eval(a),
    }
}

fn build_policy(a: &RedactArgs) -> Result<Policy, policy::PolicyError> {
    let default: Action = a.default.parse()?;
    let salt = a.salt.as_ref().map(|s| s.0.as_bytes().to_vec());
    let mut p = Policy::new(default, salt)?;
    for spec in &a.policies {
        p.set_from_str(spec)?;
    }
    Ok(p)
}

fn engine(a: &DetectArgs) -> Result<Engine, ExitCode> {
    let Some(path) = &a.categories else {
        return Ok(Engine::new());
    };
    let text = std::fs::read_to_string(path).map_err(|e| {
        eprintln!("deid: cannot read {}: {e}", path.display());
        ExitCode::from(EXIT_FATAL)
    })?;
    let cats: Vec<Category> = serde_json::from_str(&text).map_err(|e| {
        eprintln!(
            "deid: {}: not a JSON array of categories (line {}, column {})",
            path.display(),
            e.line(),
            e.column()
        );
        ExitCode::from(EXIT_FATAL)
    })?;
    Engine::with_categories(&cats).map_err(|e| {
        eprintln!("deid: {}: {e}", path.display());
        ExitCode::from(EXIT_FATAL)
    })
}

type LineFn<'a> = dyn FnMut(&serde_json::Value, &str, &mut dyn Write) -> std::io::Result<()> + 'a;

/// Read JSON Lines from the input, call `each` per good line, write one
/// output line per good input line.
fn process(
    a: &DetectArgs,
    mut each: impl FnMut(&serde_json::Value, &str, &mut dyn Write) -> std::io::Result<()>,
) -> ExitCode {
    let (reader, total): (Box<dyn Read>, Option<u64>) = match a.input.as_deref() {
        None => (Box::new(std::io::stdin()), None),
        Some(p) if p.as_os_str() == "-" => (Box::new(std::io::stdin()), None),
        Some(p) => match File::open(p) {
            Ok(f) => {
                let len = f.metadata().ok().map(|m| m.len());
                (Box::new(f), len)
            }
            Err(e) => {
                eprintln!("deid: cannot open {}: {e}", p.display());
                return ExitCode::from(EXIT_FATAL);
            }
        },
    };
    let bar = progress(total);
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut bad = 0usize;
    let each: &mut LineFn = &mut each;
    for (n, line) in BufReader::new(reader).lines().enumerate() {
        let line_no = n + 1;
        let line = match line {
            Ok(l) => l,
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                eprintln!("line {line_no}: not valid UTF-8");
                bad += 1;
                continue;
            }
            Err(e) => {
                eprintln!("deid: read error at line {line_no}: {}", e.kind());
                return ExitCode::from(EXIT_FATAL);
            }
        };
        bar.inc(line.len() as u64 + 1);
        if line.trim().is_empty() {
            continue;
        }
        match parse_line(&line) {
            Ok((id, text)) => {
                let r = each(&id, &text, &mut out).and_then(|_| out.write_all(b"\n"));
                if let Err(e) = r {
                    eprintln!("deid: write error: {}", e.kind());
                    return ExitCode::from(EXIT_FATAL);
                }
            }
            Err(reason) => {
                eprintln!("line {line_no}: {reason}");
                bad += 1;
            }
        }
    }
    bar.finish_and_clear();
    if let Err(e) = out.flush() {
        eprintln!("deid: write error: {}", e.kind());
        return ExitCode::from(EXIT_FATAL);
    }
    if bad > 0 {
        eprintln!("deid: {bad} malformed line(s) skipped");
        ExitCode::from(EXIT_BAD_LINES)
    } else {
        ExitCode::from(EXIT_OK)
    }
}

/// `{"id": string|number, "text": string}`; the reason never quotes input.
fn parse_line(line: &str) -> Result<(serde_json::Value, String), &'static str> {
    let v: serde_json::Value = serde_json::from_str(line).map_err(|_| "not valid JSON")?;
    let serde_json::Value::Object(mut m) = v else {
        return Err("not a JSON object");
    };
    let id = m.remove("id").ok_or("missing field `id`")?;
    if !(id.is_string() || id.is_number()) {
        return Err("field `id` must be a string or a number");
    }
    match m.remove("text") {
        Some(serde_json::Value::String(t)) => Ok((id, t)),
        Some(_) => Err("field `text` must be a string"),
        None => Err("missing field `text`"),
    }
}

/// A byte progress bar on stderr, only for files (known size) of 1 MB or
/// more and only when stderr is a terminal.
fn progress(total: Option<u64>) -> ProgressBar {
    let Some(total) = total.filter(|t| *t >= 1_000_000 && std::io::stderr().is_terminal()) else {
        return ProgressBar::hidden();
    };
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    if let Ok(style) =
        ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
    {
        bar.set_style(style);
    }
    bar
}

fn run_eval(a: &EvalArgs) -> ExitCode {
    let docs = eval::generate(a.generate, a.seed);
    if let Some(path) = &a.dump {
        let r = File::create(path).and_then(|f| {
            let mut w = BufWriter::new(f);
            for d in &docs {
                serde_json::to_writer(&mut w, d)?;
                w.write_all(b"\n")?;
            }
            w.flush()
        });
        if let Err(e) = r {
            eprintln!("deid eval: cannot write {}: {e}", path.display());
            return ExitCode::from(EXIT_FATAL);
        }
    }
    let engine = Engine::new();
    let report = eval::evaluate(&engine, &docs);
    if a.errors {
        for d in &docs {
            let found = engine.detect(&d.text);
            for e in eval::errors(d, &found) {
                eprintln!("{e}");
            }
        }
    }
    let throughput = a
        .bench
        .then(|| eval::bench(&engine, &docs, Duration::from_secs(3)));
    if a.bench && !a.json {
        // Where the time goes, summed over the corpus (wall clock).
        let mut total: std::collections::BTreeMap<String, f64> = Default::default();
        for d in &docs {
            for (name, secs) in engine.profile(&d.text) {
                *total.entry(name).or_default() += secs;
            }
        }
        let sum: f64 = total.values().sum();
        let mut rows: Vec<_> = total.into_iter().collect();
        rows.sort_by(|x, y| y.1.total_cmp(&x.1));
        println!("slowest recognizers, each scanning the whole text (share of time):");
        for (name, secs) in rows.iter().take(12) {
            println!(
                "  {:>5.1}%  {name}",
                100.0 * secs / sum.max(f64::MIN_POSITIVE)
            );
        }
    }
    if a.json {
        let v = serde_json::json!({
            "documents": report.documents,
            "characters": report.characters,
            "labels": report.rates(),
            "any_label_recall": report.any_label_recall(),
            "throughput": throughput,
            "optimised_build": !cfg!(debug_assertions),
        });
        println!("{v}");
    } else {
        print!("{}", report.to_text());
        if let Some(t) = throughput {
            let cpu = t
                .mb_per_cpu_s
                .map(|m| format!(", {m:.1} MB per CPU second"))
                .unwrap_or_default();
            println!(
                "detection: {:.1} MB/s wall{cpu} ({} bytes in {:.2} s, one thread{})",
                t.mb_per_s,
                t.bytes,
                t.seconds,
                if cfg!(debug_assertions) {
                    ", DEBUG build: use --release for a real figure"
                } else {
                    ""
                }
            );
        }
    }
    ExitCode::from(EXIT_OK)
}

/// `sel-node deid bench-tokens`: prints one JSON line with the rates.
fn bench_tokens(a: &BenchTokensArgs) -> ExitCode {
    use crate::deid::tokens::{PgTokenStore, RedbTokenStore, TokenStore, bench};
    use crate::settings::StoreLocation;
    use std::sync::Arc;
    let scratch = std::env::temp_dir().join(format!(
        "sel-bench-tokens-{}-{:08x}",
        std::process::id(),
        rand::random::<u32>()
    ));
    let opened: Result<Arc<dyn TokenStore>, String> = match &a.store {
        StoreLocation::Embedded => {
            RedbTokenStore::open(&scratch.join(crate::deid::tokens::TOKENS_DB_FILE))
                .map(|s| Arc::new(s) as Arc<dyn TokenStore>)
                .map_err(|e| e.to_string())
        }
        StoreLocation::Postgres { url } => {
            crate::deid::pg_schema::connect(url, a.ca_bundle.as_deref())
                .map(|pg| Arc::new(PgTokenStore::new(pg)) as Arc<dyn TokenStore>)
                .map_err(|e| e.to_string())
        }
    };
    let outcome = opened.and_then(|store| {
        bench::run(store, a.values, a.lookups, a.threads).map_err(|e| e.to_string())
    });
    let _ = std::fs::remove_dir_all(&scratch);
    match outcome {
        Ok(report) => {
            let mut line = serde_json::to_value(&report).unwrap_or_default();
            line["store"] = serde_json::Value::String(a.store.display());
            println!("{line}");
            ExitCode::from(EXIT_OK)
        }
        Err(e) => {
            eprintln!("sel-node deid bench-tokens: {e}");
            ExitCode::from(EXIT_FATAL)
        }
    }
}
