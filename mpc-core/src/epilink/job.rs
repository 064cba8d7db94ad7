//! The node-facing job API: many jobs, both directions, concurrently over
//! one multiplexed connection per remote.
//!
//! Per connection the node runs [`PeerOt::establish`] once (base OTs in
//! both directions, on a session of its own) and shares the
//! `Arc<PeerOt>` with every job on that connection. Per job it opens a
//! session and calls [`run_job`] on both nodes with opposite roles: the
//! handshake checks the peer's announced count against
//! [`JobOptions::max_peer_records`] before anything else, both parties
//! derive the job tag and fresh OT extension instances from the handshake
//! (no OT messages before the first chunk), and the job's
//! [`CancellationToken`] is awaited on every message of the job.

use protocol_spec::config::{LinkageConfig, Record};
use protocol_spec::epilink::MatchCounts;
use tokio_util::sync::CancellationToken;

use super::control::JobChannel;
use super::handshake::Mode;
use super::ots::OtBackend;
use super::plan::Carries;
use super::protocol::{
    DEFAULT_MAX_PEER_RECORDS, OtSource, Outcome, ProgressFn, ProtocolError, ResultShare, RunParams,
    execute,
};
use super::schedule::{DEFAULT_LANES_PER_CHUNK, DEFAULT_RECORD_ARITY};
use crate::Party;
use crate::channel::{Channel, ChannelStats};

pub use super::peer_ot::PeerOt;

/// How one job runs. Both parties must agree on `job_id`, `carries` and
/// `lanes_per_chunk` (checked in the handshake).
#[derive(Clone)]
pub struct JobOptions {
    /// The job id: the context of the run, part of the OT derivation and
    /// of the job tag. Equal on both sides.
    pub job_id: String,
    /// The most records the peer may announce; more is refused in the
    /// handshake before any OT use or allocation.
    pub max_peer_records: u64,
    /// The peer's record count if known (the node knows it from the job
    /// announcement): a different count fails in the handshake.
    pub expected_peer_records: Option<u64>,
    /// Called after every chunk with the fraction done.
    pub progress: Option<ProgressFn>,
    /// Cancels the job: awaited on every send and receive, so a cancelled
    /// job ends within one message on both sides
    /// ([`ProtocolError::Cancelled`] here, [`ProtocolError::PeerCancelled`]
    /// at the peer).
    pub cancel: CancellationToken,
    /// Carry structures of the circuits.
    pub carries: Carries,
    /// (query, record) pairs per chunk: bounds memory.
    pub lanes_per_chunk: usize,
    /// Candidates per group of the record tournament (2, 4 or 8), agreed in
    /// the handshake.
    pub record_arity: usize,
    /// Where the random OTs come from (checked in the handshake).
    pub ot_backend: OtBackend,
}

impl Default for JobOptions {
    fn default() -> Self {
        JobOptions {
            job_id: String::new(),
            max_peer_records: DEFAULT_MAX_PEER_RECORDS,
            expected_peer_records: None,
            progress: None,
            cancel: CancellationToken::new(),
            carries: Carries::default(),
            lanes_per_chunk: DEFAULT_LANES_PER_CHUNK,
            record_arity: DEFAULT_RECORD_ARITY,
            ot_backend: OtBackend::default(),
        }
    }
}

impl std::fmt::Debug for JobOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobOptions")
            .field("job_id", &self.job_id)
            .field("max_peer_records", &self.max_peer_records)
            .field("expected_peer_records", &self.expected_peer_records)
            .field("progress", &self.progress.is_some())
            .field("cancelled", &self.cancel.is_cancelled())
            .field("carries", &self.carries)
            .field("lanes_per_chunk", &self.lanes_per_chunk)
            .field("record_arity", &self.record_arity)
            .field("ot_backend", &self.ot_backend)
            .finish()
    }
}

/// What a job produced for this party.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JobOutput {
    /// Linkage: this party's XOR shares, one per query (both parties).
    Shares(Vec<ResultShare>),
    /// Matching, client: the two counts.
    Counts(MatchCounts),
    /// Matching, server: nothing.
    Nothing,
}

/// A finished job.
#[derive(Clone, Debug)]
pub struct JobResult {
    /// This party's output.
    pub output: JobOutput,
    /// Equal on both sides and unique per run (a hash of both handshake
    /// messages, whose fresh nonces each party contributes): the linkage
    /// service pairs the two parties' posts on it (as hex).
    pub job_tag: [u8; 32],
    /// The job channel's counters (every message carries one extra kind
    /// byte, counted here).
    pub stats: ChannelStats,
    /// Compared pairs, M × N.
    pub comparisons: u64,
}

impl JobResult {
    /// The job tag as 64 lowercase hex digits, the form the linkage
    /// service pairs posts on.
    pub fn job_tag_hex(&self) -> String {
        self.job_tag.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// Runs one EpiLink job as `role` over `ch` (a session of the connection
/// whose OT state is `ot`); the peer runs it with the other role and the
/// same `mode`, configuration and options. `role` is the job's role
/// (client = query side) and is independent of who dialled the connection.
pub async fn run_job<C: Channel>(
    ch: C,
    ot: &PeerOt,
    role: Party,
    mode: Mode,
    config: &LinkageConfig,
    records: &[Record],
    opts: &JobOptions,
) -> Result<JobResult, ProtocolError> {
    let params = RunParams {
        carries: opts.carries,
        lanes_per_chunk: opts.lanes_per_chunk,
        record_arity: opts.record_arity,
        ot_backend: opts.ot_backend,
        expected_peer_records: opts.expected_peer_records,
        max_peer_records: opts.max_peer_records,
        context: opts.job_id.as_bytes(),
        progress: opts.progress.clone(),
        cancel_flag: None,
    };
    let ch = JobChannel::new(ch, opts.cancel.clone());
    let done = execute(
        ch,
        role,
        mode,
        config,
        records,
        &params,
        OtSource::Shared(ot),
    )
    .await?;
    Ok(JobResult {
        output: match done.outcome {
            Outcome::Shares(s) => JobOutput::Shares(s),
            Outcome::Counts(c) => JobOutput::Counts(c),
            Outcome::Nothing => JobOutput::Nothing,
        },
        job_tag: done.agreement.job_tag,
        stats: done.stats,
        comparisons: done.comparisons,
    })
}
