//! Quality and speed of the engine on a generated, labelled corpus.
//!
//! [`corpus::generate`] writes clinical notes with known identifiers;
//! [`metrics::Report::score`] compares the engine's findings with them.
//! `sel-node deid eval` prints the report; `tests/deid_eval.rs` fails the
//! build when quality drops below the thresholds.
pub mod corpus;
pub mod metrics;

use super::Engine;
use std::time::{Duration, Instant};

pub use corpus::{Document, GoldSpan, generate};
pub use metrics::{Counts, Rates, Report};

/// Detect on every document and score.
pub fn evaluate(engine: &Engine, docs: &[Document]) -> Report {
    let predictions: Vec<_> = docs.iter().map(|d| engine.detect(&d.text)).collect();
    Report::score(docs, &predictions)
}

/// Throughput of detection, single thread.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Throughput {
    pub bytes: usize,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// Megabytes (10^6 bytes of UTF-8) per wall-clock second.
    pub mb_per_s: f64,
    /// CPU seconds this thread used (Linux), which is what "per core"
    /// means on a shared machine where wall time includes waiting.
    pub cpu_seconds: Option<f64>,
    /// Megabytes per CPU second of this thread.
    pub mb_per_cpu_s: Option<f64>,
}

/// CPU time of the calling thread in nanoseconds, from
/// `/proc/thread-self/schedstat` (Linux); `None` elsewhere.
fn thread_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

/// Run detection over `docs` repeatedly for at least `min_time` and report
/// megabytes per second, wall-clock and (on Linux) per CPU second.
pub fn bench(engine: &Engine, docs: &[Document], min_time: Duration) -> Throughput {
    // One warm-up pass: the regex engines build their caches lazily.
    for d in docs {
        std::hint::black_box(engine.detect(&d.text));
    }
    let cpu_start = thread_cpu_ns();
    let started = Instant::now();
    let mut bytes = 0usize;
    let mut findings = 0usize;
    while started.elapsed() < min_time || bytes == 0 {
        for d in docs {
            findings += engine.detect(&d.text).len();
            bytes += d.text.len();
        }
    }
    // Keep the work observable so it cannot be optimised away.
    std::hint::black_box(findings);
    let seconds = started.elapsed().as_secs_f64();
    let cpu_seconds = match (cpu_start, thread_cpu_ns()) {
        (Some(a), Some(b)) if b > a => Some((b - a) as f64 / 1e9),
        _ => None,
    };
    Throughput {
        bytes,
        seconds,
        mb_per_s: bytes as f64 / 1e6 / seconds,
        cpu_seconds,
        mb_per_cpu_s: cpu_seconds.map(|c| bytes as f64 / 1e6 / c),
    }
}

/// Human-readable disagreements between `found` and the gold spans of `doc`:
/// `MISS LABEL «value» …context…` and `SPURIOUS LABEL/recognizer «value»`.
/// For the synthetic corpus only: it prints the values.
pub fn errors(doc: &Document, found: &[super::Finding]) -> Vec<String> {
    let chars: Vec<char> = doc.text.chars().collect();
    let show = |s: usize, e: usize| -> String {
        chars[s..e].iter().collect::<String>().replace('\n', "⏎")
    };
    let around = |s: usize, e: usize| show(s.saturating_sub(25), (e + 25).min(chars.len()));
    let mut out = Vec::new();
    for g in &doc.gold {
        if !found
            .iter()
            .any(|f| f.label == g.label && f.start == g.start && f.end == g.end)
        {
            let near: Vec<String> = found
                .iter()
                .filter(|f| f.start < g.end && g.start < f.end)
                .map(|f| format!("{}/{} «{}»", f.label, f.recognizer, show(f.start, f.end)))
                .collect();
            out.push(format!(
                "MISS {} «{}» in «{}» got [{}]",
                g.label,
                show(g.start, g.end),
                around(g.start, g.end),
                near.join(", ")
            ));
        }
    }
    for f in found {
        if !doc
            .gold
            .iter()
            .any(|g| f.label == g.label && f.start < g.end && g.start < f.end)
        {
            out.push(format!(
                "SPURIOUS {}/{} «{}» in «{}»",
                f.label,
                f.recognizer,
                show(f.start, f.end),
                around(f.start, f.end)
            ));
        }
    }
    out
}
