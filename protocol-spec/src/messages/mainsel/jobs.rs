//! Job status: `GET /jobs/{job_id}` answers one status as plain text,
//! `GET /jobs/list` a JSON object job id → status.
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::fields::OrderedMap;

/// The state of a linkage or matching job.
///
/// Written in upper case, as the reference lists them. SEL itself answers in
/// capitalised form (`Running`), so reading is case-insensitive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum JobStatus {
    #[serde(alias = "Queued", alias = "queued")]
    Queued,
    #[serde(alias = "Running", alias = "running")]
    Running,
    #[serde(alias = "Hold", alias = "hold")]
    Hold,
    #[serde(alias = "Fault", alias = "fault")]
    Fault,
    #[serde(alias = "Done", alias = "done")]
    Done,
}

impl JobStatus {
    pub const ALL: [JobStatus; 5] = [
        JobStatus::Queued,
        JobStatus::Running,
        JobStatus::Hold,
        JobStatus::Fault,
        JobStatus::Done,
    ];

    /// The wire string (`QUEUED`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "QUEUED",
            JobStatus::Running => "RUNNING",
            JobStatus::Hold => "HOLD",
            JobStatus::Fault => "FAULT",
            JobStatus::Done => "DONE",
        }
    }

    /// Whether the job will not change state any more.
    pub fn is_final(self) -> bool {
        matches!(self, JobStatus::Done | JobStatus::Fault)
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A job status body that is none of the five states.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a job status (QUEUED, RUNNING, HOLD, FAULT or DONE)")]
pub struct JobStatusError(pub String);

impl FromStr for JobStatus {
    type Err = JobStatusError;

    /// Reads a `/jobs/{id}` body: surrounding whitespace and JSON string
    /// quotes are tolerated, case is ignored.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        let t = t
            .strip_prefix('"')
            .and_then(|t| t.strip_suffix('"'))
            .unwrap_or(t);
        JobStatus::ALL
            .into_iter()
            .find(|st| st.as_str().eq_ignore_ascii_case(t))
            .ok_or_else(|| JobStatusError(s.chars().take(64).collect()))
    }
}

/// Body of `GET /jobs/list`: job id → status, in the order the node lists
/// them; `{}` when there are no jobs.
pub type JobsList = OrderedMap<JobStatus>;
