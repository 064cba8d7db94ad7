//! The answering side of a job: what the peer channel calls when a remote
//! announces a job ([`IncomingJobs`]).
//!
//! `accept` checks the announcement before it commits anything (in this
//! order: initialised, version, job id, known remote, configuration
//! fingerprint, mode allowed, record count, capacity), then fetches the
//! database and, in linkage mode, makes sure every record has a LID. Only
//! then does it answer `Accepted`. `run` computes the server side of the 2PC
//! and, in linkage mode, posts the shares and the LIDs in database order.

use std::sync::Arc;
use std::time::{Duration, Instant};

use mpc_core::channel::MuxSession;
use mpc_core::epilink::PeerOt;
use mpc_core::epilink::ProtocolError;
use protocol_spec::messages::linkage::Role;
use protocol_spec::messages::mainsel::JobStatus;
use tokio::sync::OwnedSemaphorePermit;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::client::{Hold, Stop, linkage_request, post_with_hold};
use super::lids::ensure_lids;
use super::mpc::{self, Output};
use super::state::{LocalState, apply_status};
use super::{Active, JobManager, valid_job_id};
use crate::clients::dataservice::Database;
use crate::model::profile_difference;
use crate::model::{
    Accepted, Announce, CallbackDelivery, Cardinality, IncomingJobs, JobMode, JobRecord, JobSide,
    PEER_PROTOCOL_VERSION, Refusal, RemoteSite, now_millis,
};

/// How long an accepted job may wait for its `run` before it is dropped.
const RUN_WITHIN: Duration = Duration::from_secs(60);

/// An accepted job waiting for `run`: what admission prepared.
pub(super) struct Pending {
    remote: RemoteSite,
    local: Arc<LocalState>,
    database: Arc<Database>,
    lids: Option<Vec<String>>,
    _permit: OwnedSemaphorePermit,
}

impl JobManager {
    fn admit(
        &self,
        remote_id: &str,
        a: &Announce,
    ) -> Result<(Arc<LocalState>, RemoteSite), Refusal> {
        let local = self
            .state
            .local_state()
            .ok_or_else(|| Refusal::Unavailable("the remote node is not initialised".into()))?;
        if a.version != PEER_PROTOCOL_VERSION {
            return Err(Refusal::Unsupported(format!(
                "peer protocol version {} (this node speaks {PEER_PROTOCOL_VERSION})",
                a.version
            )));
        }
        if !valid_job_id(&a.job_id) {
            return Err(Refusal::Unsupported("malformed job id".into()));
        }
        if let Some(existing) = self.state.job(&a.job_id) {
            // A retry of a job this node refused or failed earlier may run
            // again; any other reuse of an id is refused.
            let retry = existing.side == JobSide::Server
                && existing.remote_id == remote_id
                && existing.status == JobStatus::Fault;
            if !retry {
                return Err(Refusal::Unsupported("job id already in use".into()));
            }
        }
        let remote = self.state.remote(remote_id).ok_or_else(|| {
            Refusal::Unavailable("this site is not configured as a remote".into())
        })?;
        if a.config_fingerprint != local.fingerprint {
            return Err(Refusal::ConfigMismatch(
                "the linkage configurations' fingerprints differ (run /test for details)".into(),
            ));
        }
        if a.profile != remote.profile() {
            return Err(Refusal::ConfigMismatch(profile_difference(
                remote.profile(),
                a.profile,
            )));
        }
        match a.mode {
            JobMode::Matching if !remote.init.matching_allowed => {
                return Err(Refusal::MatchingNotAllowed);
            }
            JobMode::Linkage if remote.init.linkage_service.is_none() => {
                return Err(Refusal::Unavailable(
                    "no linkage service is configured for this site".into(),
                ));
            }
            _ => {}
        }
        if a.query_records > self.settings.max_query_records {
            return Err(Refusal::TooManyRecords(format!(
                "{} query records (at most {})",
                a.query_records, self.settings.max_query_records
            )));
        }
        Ok((local, remote))
    }

    async fn prepare(
        &self,
        job_id: &str,
        a: &Announce,
        local: &LocalState,
        remote: &RemoteSite,
    ) -> Result<(Arc<Database>, Option<Vec<String>>), Refusal> {
        let services = self
            .services
            .get()
            .ok_or_else(|| Refusal::Unavailable("the remote node is starting".into()))?;
        let started = Instant::now();
        let progress = |_: u64, _: Option<u64>| {};
        let database = services
            .data
            .database(&local.init, &remote.id, &local.config, &progress)
            .await
            .map_err(|e| Refusal::Unavailable(e.to_string()))?;
        self.metrics.fetch_done(started.elapsed());
        let n = database.records.len() as u64;
        if n > self.settings.max_database_records {
            return Err(Refusal::Unavailable(format!(
                "the database has {n} records (this node accepts at most {})",
                self.settings.max_database_records
            )));
        }
        self.state.update(job_id, |j| {
            j.database_records = Some(n);
            true
        });
        let lids = match (a.mode, &remote.init.linkage_service) {
            (JobMode::Linkage, Some(ls)) => Some(
                ensure_lids(
                    self.state.store().as_ref(),
                    &services.linkage,
                    ls,
                    &local.init.local_id,
                    &database.ids,
                )
                .await
                .map_err(|e| match e {
                    // The service may come back: the asking job waits and retries.
                    super::lids::LidError::LinkageService(ref ls) if ls.is_transient() => {
                        Refusal::Busy
                    }
                    other => Refusal::Unavailable(other.to_string()),
                })?,
            ),
            _ => None,
        };
        Ok((database, lids))
    }

    async fn server_job(
        &self,
        announce: &Announce,
        pending: Pending,
        channel: MuxSession,
        ot: Arc<PeerOt>,
        token: &CancellationToken,
    ) -> Result<(), Stop> {
        let services = self
            .services
            .get()
            .ok_or_else(|| Stop::Fault("the node is not started".into()))?
            .clone();
        let started = Instant::now();
        let n = pending.database.records.len() as u64;
        let result = mpc::run(
            channel,
            &ot,
            mpc::Run {
                job_id: &announce.job_id,
                mode: announce.mode,
                side: JobSide::Server,
                config: &pending.local.config,
                records: &pending.database.records,
                peer_records: announce.query_records,
                max_peer_records: self.settings.max_query_records,
                // Equal to this node's profile for the remote (checked in
                // `accept`).
                profile: announce.profile,
                progress: self.progress_fn(&announce.job_id),
                cancel: token.clone(),
            },
        )
        .await;
        let finished = match result {
            Ok(out) => out,
            Err(_) if token.is_cancelled() => {
                return Err(Stop::Fault(
                    "cancelled, or the connection to the remote dropped".into(),
                ));
            }
            Err(ProtocolError::PeerCancelled) => {
                return Err(Stop::Fault("the remote cancelled the job".into()));
            }
            Err(e) => return Err(Stop::Fault(format!("2PC: {e}"))),
        };
        self.metrics
            .mpc_done(announce.query_records, n, started.elapsed());
        match finished.output {
            Output::Nothing => Ok(()),
            Output::Shares(shares) => {
                let ls = pending.remote.init.linkage_service.clone().ok_or_else(|| {
                    Stop::Fault("no linkage service is configured for this remote".into())
                })?;
                let request = linkage_request(
                    Role::Server,
                    &shares,
                    Some(pending.lids.clone().unwrap_or_default()),
                    &finished.job_tag,
                    announce.query_records,
                    n,
                );
                let mut hold = Hold::new(self.settings.hold_deadline);
                post_with_hold(
                    self,
                    &services,
                    &announce.job_id,
                    &ls,
                    &pending.local.init.local_id,
                    &pending.remote.id,
                    &request,
                    &mut hold,
                    token,
                )
                .await?;
                Ok(())
            }
            Output::Counts(_) => Err(Stop::Fault(
                "the engine returned counts to the server".into(),
            )),
        }
    }

    /// Drops an accepted job whose `run` never came.
    fn expire_pending(&self, job_id: String) {
        let me = self.me.clone();
        tokio::spawn(async move {
            tokio::time::sleep(RUN_WITHIN).await;
            if let Some(mgr) = me.upgrade() {
                let gone = mgr
                    .pending
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&job_id);
                if gone.is_some() {
                    mgr.finish(
                        &job_id,
                        Err("the remote did not start the accepted job".into()),
                    );
                }
            }
        });
    }
}

#[async_trait::async_trait]
impl IncomingJobs for JobManager {
    async fn accept(&self, remote_id: &str, announce: &Announce) -> Result<Accepted, Refusal> {
        let span = server_span(remote_id, announce);
        async {
            let (local, remote) = self.admit(remote_id, announce).inspect_err(|r| {
                tracing::info!(refusal = %r, "announced job refused");
            })?;
            if !self.may_talk_to(remote_id) {
                tracing::info!("announced job refused: another process holds the remote");
                return Err(Refusal::Busy);
            }
            let permit = self.incoming.clone().try_acquire_owned().map_err(|_| {
                tracing::info!("announced job refused: no capacity");
                Refusal::Busy
            })?;
            let id = announce.job_id.clone();
            let now = now_millis();
            let mut record = JobRecord {
                id: id.clone(),
                remote_id: remote_id.to_owned(),
                mode: announce.mode,
                side: JobSide::Server,
                cardinality: Cardinality::Many,
                status: JobStatus::Queued,
                progress_percent: 0,
                created: now,
                started: None,
                finished: None,
                error: None,
                callback_url: None,
                callback_delivery: CallbackDelivery::default(),
                query_records: announce.query_records,
                database_records: None,
                config_fingerprint: local.fingerprint.clone(),
                history: Vec::new(),
                match_counts: None,
            };
            apply_status(&mut record, JobStatus::Running, None, now);
            self.state.replace(record).map_err(|e| {
                tracing::error!(error = %e, "could not record an announced job");
                Refusal::Unavailable("the remote node's store failed".into())
            })?;
            self.active_jobs().insert(
                id.clone(),
                Active {
                    side: JobSide::Server,
                    token: self.shutdown.child_token(),
                    remote: Some(remote.clone()),
                    _slot: None,
                    _claim: None,
                    spawned: true,
                },
            );
            match self.prepare(&id, announce, &local, &remote).await {
                Ok((database, lids)) => {
                    let accepted = Accepted {
                        database_records: database.records.len() as u64,
                    };
                    self.pending
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(
                            id.clone(),
                            Pending {
                                remote,
                                local,
                                database,
                                lids,
                                _permit: permit,
                            },
                        );
                    self.expire_pending(id);
                    tracing::info!(
                        records = accepted.database_records,
                        "announced job accepted"
                    );
                    Ok(accepted)
                }
                Err(refusal) => {
                    self.finish(&id, Err(refusal.to_string()));
                    Err(refusal)
                }
            }
        }
        .instrument(span)
        .await
    }

    async fn run(
        &self,
        remote_id: &str,
        announce: Announce,
        channel: MuxSession,
        ot: Arc<PeerOt>,
        cancel: CancellationToken,
    ) {
        let span = server_span(remote_id, &announce);
        async {
            let pending = self
                .pending
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&announce.job_id);
            let Some(pending) = pending else {
                tracing::warn!("a run for a job that was not accepted (or expired)");
                return;
            };
            if pending.remote.id != remote_id {
                // Not this remote's job: leave it to the one that announced it.
                tracing::warn!("a run from another remote than the one that announced it");
                self.pending
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(announce.job_id.clone(), pending);
                return;
            }
            // Cancelled by the peer channel, by this node's cancel, or by shutdown.
            let token = cancel.child_token();
            let watcher = self
                .active_jobs()
                .get(&announce.job_id)
                .map(|a| a.token.clone())
                .map(|own| {
                    let t = token.clone();
                    tokio::spawn(async move {
                        own.cancelled().await;
                        t.cancel();
                    })
                });
            let outcome = self
                .server_job(&announce, pending, channel, ot, &token)
                .await;
            if let Some(w) = watcher {
                w.abort();
            }
            match outcome {
                Ok(()) => self.finish(&announce.job_id, Ok(serde_json::Value::Null)),
                Err(Stop::Fault(reason)) | Err(Stop::Hold(reason)) => {
                    self.finish(&announce.job_id, Err(reason))
                }
                Err(Stop::Cancelled) => self.finish(&announce.job_id, Err("cancelled".into())),
            }
        }
        .instrument(span)
        .await
    }
}

/// The tracing span of a server-side job: the same fields for its
/// admission and its run, so both appear as one job in the logs.
fn server_span(remote_id: &str, announce: &Announce) -> tracing::Span {
    tracing::info_span!(
        "job",
        job_id = %announce.job_id,
        remote = %remote_id,
        mode = ?announce.mode,
        side = "server"
    )
}
