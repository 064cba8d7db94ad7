//! The one place where a job calls the 2PC engine (`mpc_core::epilink`).
//!
//! Everything else in the job manager sees only [`run`] and [`Output`], so a
//! change of the engine's API is a change here alone.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use mpc_core::channel::MuxSession;
use mpc_core::epilink::{
    Options, ProtocolError, ResultShare, run_client, run_client_matching, run_server,
    run_server_matching,
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

/// One run of the 2PC.
pub(crate) struct Run<'a> {
    pub job_id: &'a str,
    pub mode: JobMode,
    pub side: JobSide,
    pub config: &'a LinkageConfig,
    /// Query records (client) or database records (server).
    pub records: &'a [Record],
    /// The other side's record count (N for the client, M for the server).
    pub peer_records: u64,
    /// Called with the fraction done, after every chunk.
    pub progress: Arc<dyn Fn(f64) + Send + Sync>,
    /// Stops the run at the next chunk boundary (both sides).
    pub cancel: CancellationToken,
}

/// Runs this node's side of the job's 2PC on `channel`.
pub(crate) async fn run(channel: MuxSession, run: Run<'_>) -> Result<Output, ProtocolError> {
    // The engine checks a flag at chunk boundaries; the token sets it.
    let flag = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (flag, token) = (flag.clone(), run.cancel.clone());
        tokio::spawn(async move {
            token.cancelled().await;
            flag.store(true, Ordering::SeqCst);
        })
    };
    let opts = Options {
        expected_peer_records: usize::try_from(run.peer_records).ok(),
        // Both nodes know the job id: it separates the OT streams of jobs.
        context: format!("sel-node job {}", run.job_id).into_bytes(),
        progress: Some(run.progress.clone()),
        cancel: Some(flag),
        ..Options::default()
    };
    let out = match (run.mode, run.side) {
        (JobMode::Linkage, JobSide::Client) => run_client(channel, run.config, run.records, &opts)
            .await
            .map(Output::Shares),
        (JobMode::Linkage, JobSide::Server) => run_server(channel, run.config, run.records, &opts)
            .await
            .map(Output::Shares),
        (JobMode::Matching, JobSide::Client) => {
            run_client_matching(channel, run.config, run.records, &opts)
                .await
                .map(Output::Counts)
        }
        (JobMode::Matching, JobSide::Server) => {
            run_server_matching(channel, run.config, run.records, &opts)
                .await
                .map(|()| Output::Nothing)
        }
    };
    watcher.abort();
    out
}
