//! A scenario is a named async check that panics when the system misbehaves
//! and otherwise returns one line saying what happened. It runs on a task of
//! its own, so its panic becomes a failed row instead of ending the run.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

type Check = Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = String> + Send>> + Send>;

pub struct Scenario {
    pub name: &'static str,
    check: Check,
}

impl Scenario {
    pub fn new<F, Fut>(name: &'static str, check: F) -> Scenario
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = String> + Send + 'static,
    {
        Scenario {
            name,
            check: Box::new(move || Box::pin(check())),
        }
    }

    pub async fn run(self) -> Outcome {
        match tokio::spawn((self.check)()).await {
            Ok(line) => Outcome::Passed(line),
            Err(e) if e.is_panic() => {
                let payload = e.into_panic();
                let message = payload
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "panicked".into());
                Outcome::Failed(message)
            }
            Err(e) => Outcome::Failed(format!("task ended: {e}")),
        }
    }
}

pub enum Outcome {
    Passed(String),
    Failed(String),
}

impl Outcome {
    pub fn passed(&self) -> bool {
        matches!(self, Outcome::Passed(_))
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Passed(line) => write!(f, "ok: {line}"),
            Outcome::Failed(why) => write!(f, "FAILED: {why}"),
        }
    }
}

/// The (scenario, outcome) table, one row per scenario, long outcomes cut
/// to one line.
pub fn table(rows: &[(&'static str, Outcome)]) -> String {
    let width = rows.iter().map(|(n, _)| n.len()).max().unwrap_or(8).max(8);
    let mut out = format!(
        "\nsystem tests: {} scenarios, {} failed\n{:<width$}  outcome\n{}  {}\n",
        rows.len(),
        rows.iter().filter(|(_, o)| !o.passed()).count(),
        "scenario",
        "-".repeat(width),
        "-".repeat(60),
    );
    for (name, outcome) in rows {
        let line = outcome.to_string();
        let first = line.lines().next().unwrap_or("");
        let cut: String = first.chars().take(160).collect();
        out.push_str(&format!("{name:<width$}  {cut}\n"));
    }
    out
}
