//! The one place where a job calls the 2PC engine (`mpc_core::epilink`'s
//! job API, [`run_job`]).
//!
//! Everything else in the job manager sees only [`run`] and [`Output`], so a
//! change of the engine's API is a change here alone.
//!
//! OT state: the engine reuses one [`PeerOt`] per peer connection (set up
//! by the peer channel right after its handshake); each job derives fresh
//! OT instances from it with no base OTs of its own.

use std::sync::Arc;

use mpc_core::Party;
use mpc_core::channel::MuxSession;
use mpc_core::epilink::{
    JobOptions, JobOutput, Mode, PeerOt, Profile, ProfileKnobs, ProtocolError, ResultShare, run_job,
};
use protocol_spec::config::{LinkageConfig, Record};
use protocol_spec::epilink::MatchCounts;
use tokio_util::sync::CancellationToken;

use crate::model::{JobMode, JobSide};

/// What one side of a job's 2PC produced.
pub(crate) enum Output {
    /// Linkage mode, both sides: this node's XOR shares, one per query.
    Shares(Vec<ResultShare>),
    /// Matching mode, client side: the two counts.
    Counts(MatchCounts),
    /// Matching mode, server side: nothing.
    Nothing,
}

/// A finished run.
pub(crate) struct Finished {
    pub output: Output,
    /// Equal on both nodes and unique per run: both send it to the linkage
    /// service (hex) so it pairs their posts.
    pub job_tag: [u8; 32],
}

/// One run of the 2PC.
pub(crate) struct Run<'a> {
    pub job_id: &'a str,
    pub mode: JobMode,
    pub side: JobSide,
    pub config: &'a LinkageConfig,
    /// Query records (client) or database records (server).
    pub records: &'a [Record],
    /// The other side's record count (N for the client, M for the server),
    /// as the announcement said.
    pub peer_records: u64,
    /// The most records the other side may have.
    pub max_peer_records: u64,
    /// The EpiLink profile both nodes agreed on for this job.
    pub profile: Profile,
    /// Called with the fraction done, after every chunk.
    pub progress: Arc<dyn Fn(f64) + Send + Sync>,
    /// Stops the run within one message, on both sides.
    pub cancel: CancellationToken,
}

/// Runs this node's side of the job's 2PC on `channel`.
pub(crate) async fn run(
    channel: MuxSession,
    ot: &PeerOt,
    run: Run<'_>,
) -> Result<Finished, ProtocolError> {
    let role = match run.side {
        JobSide::Client => Party::Client,
        JobSide::Server => Party::Server,
    };
    let mut opts = JobOptions {
        job_id: run.job_id.to_owned(),
        max_peer_records: run.max_peer_records,
        expected_peer_records: Some(run.peer_records),
        progress: Some(run.progress.clone()),
        cancel: run.cancel.clone(),
        ..JobOptions::default()
    };
    run.profile.apply(&mut opts);
    let mode = match run.mode {
        JobMode::Linkage => Mode::Linkage,
        JobMode::Matching => Mode::Matching,
    };
    let done = run_job(channel, ot, role, mode, run.config, run.records, &opts).await?;
    let output = match done.output {
        JobOutput::Shares(s) => Output::Shares(s),
        JobOutput::Counts(c) => Output::Counts(c),
        JobOutput::Nothing => Output::Nothing,
    };
    Ok(Finished {
        output,
        job_tag: done.job_tag,
    })
}
