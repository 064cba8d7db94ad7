//! The asking side of a job (a REST job of this node's registry): wait for
//! a worker, announce the job to the remote, run the 2PC client side, then
//! in linkage mode post the shares to the linkage service, and deliver the
//! result to the callback.
//!
//! HOLD is for waiting on something outside: the remote is busy or cannot be
//! reached before the 2PC, or the linkage service is unavailable after it.
//! The job retries with backoff and goes to FAULT once it has been waiting
//! longer than `hold_deadline`. A job in HOLD gives its worker back.

use std::sync::Arc;
use std::time::{Duration, Instant};

use mpc_core::epilink::ProtocolError;
use protocol_spec::config::{LinkageConfig, Record};
use protocol_spec::messages::linkage::{LinkageResultRequest, Role, ShareRecord};
use protocol_spec::messages::mainsel::{
    JobStatus, LinkResult, MatchCallback, MatchResult, OneOrMany, WireRecord,
};
use serde_json::{Map, Value};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::mpc::{self, Output};
use super::{JobManager, Services};
use crate::clients::linkage::LsError;
use crate::model::{
    Announce, Cardinality, DeliveryState, JobRecord, JobSide, PEER_PROTOCOL_VERSION, RemoteSite,
};
use crate::peer::PeerError;

/// The first wait of a job in HOLD; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Why an attempt did not finish the job.
#[derive(Debug)]
pub(super) enum Stop {
    /// Something outside is not ready: wait (HOLD) and try again.
    Hold(String),
    /// The job fails with this reason.
    Fault(String),
    /// The job was cancelled (already recorded by whoever cancelled it).
    Cancelled,
}

/// The time a job has been waiting in HOLD, and its next backoff.
pub(super) struct Hold {
    since: Option<Instant>,
    next: Duration,
    deadline: Duration,
}

impl Hold {
    pub fn new(deadline: Duration) -> Hold {
        Hold {
            since: None,
            next: FIRST_BACKOFF,
            deadline,
        }
    }

    /// Puts the job in HOLD and waits; `Err` with the FAULT reason once the
    /// deadline has passed, or `Stop::Cancelled`.
    pub async fn wait(
        &mut self,
        mgr: &JobManager,
        job_id: &str,
        reason: String,
        token: &CancellationToken,
    ) -> Result<(), Stop> {
        let since = *self.since.get_or_insert_with(Instant::now);
        if since.elapsed() >= self.deadline {
            return Err(Stop::Fault(format!(
                "{reason} (still after {} s in HOLD)",
                self.deadline.as_secs()
            )));
        }
        if let Some(job) = mgr.state.job(job_id)
            && (job.status != JobStatus::Hold || job.error.as_deref() != Some(reason.as_str()))
        {
            tracing::info!(%reason, "job on hold");
            mgr.state.transition(job_id, JobStatus::Hold, Some(reason));
        }
        let wait = self.next.min(self.deadline.saturating_sub(since.elapsed()));
        self.next = (self.next * 2).min(MAX_BACKOFF);
        tokio::select! {
            _ = tokio::time::sleep(wait) => Ok(()),
            _ = token.cancelled() => Err(Stop::Cancelled),
        }
    }

    /// The job is no longer waiting: the next HOLD starts a new period.
    pub fn clear(&mut self) {
        self.since = None;
        self.next = FIRST_BACKOFF;
    }
}

impl JobManager {
    /// Runs a queued client job in its own task.
    pub(super) fn spawn_client(&self, id: String) {
        let Some(me) = self.me.upgrade() else {
            return;
        };
        let Some(job) = self.state.job(&id) else {
            return;
        };
        let span = tracing::info_span!(
            "job",
            job_id = %job.id,
            remote = %job.remote_id,
            mode = ?job.mode,
            side = "client"
        );
        tokio::spawn(async move { me.run_client(job).await }.instrument(span));
    }

    async fn run_client(self: Arc<Self>, job: JobRecord) {
        let Some((token, snapshot)) = self
            .active_jobs()
            .get(&job.id)
            .map(|a| (a.token.clone(), a.remote.clone()))
        else {
            return;
        };
        let token = tokio_util::sync::CancellationToken::child_token(&token);
        let shutdown = self.shutdown.clone();
        let stop = tokio::select! {
            r = self.client_job(&job, snapshot, &token) => r,
            _ = shutdown.cancelled() => {
                token.cancel();
                Err(Stop::Fault("node shutting down".into()))
            }
        };
        match stop {
            Ok(body) => self.finish(&job.id, Ok(body)),
            Err(Stop::Fault(reason)) => {
                // A job still waiting for its first worker stays QUEUED over
                // a shutdown and runs after the next start.
                let queued = self
                    .state
                    .job(&job.id)
                    .is_some_and(|j| j.status == JobStatus::Queued);
                if !(queued && self.shutdown.is_cancelled()) {
                    self.finish(&job.id, Err(reason));
                } else {
                    // Another process of a shared node may run it now.
                    self.release_queued(&job.id);
                }
            }
            Err(Stop::Hold(reason)) => self.finish(&job.id, Err(reason)),
            Err(Stop::Cancelled) => {}
        }
    }

    /// The whole client side; the callback body on success.
    async fn client_job(
        &self,
        job: &JobRecord,
        snapshot: Option<RemoteSite>,
        token: &CancellationToken,
    ) -> Result<Value, Stop> {
        let services = self
            .services
            .get()
            .ok_or_else(|| Stop::Fault("the node is not started".into()))?
            .clone();
        let local = self
            .state
            .local_state()
            .ok_or_else(|| Stop::Fault("the node is not initialised".into()))?;
        if local.fingerprint != job.config_fingerprint {
            return Err(Stop::Fault(
                "the local configuration changed after the job was queued".into(),
            ));
        }
        let remote = match snapshot {
            Some(r) => r,
            None => self
                .state
                .remote(&job.remote_id)
                .ok_or_else(|| Stop::Fault(format!("unknown remote \"{}\"", job.remote_id)))?,
        };
        let records = self.load_input(job, &local.config).await?;

        let mut hold = Hold::new(self.settings.hold_deadline);
        let (finished, database_records) = loop {
            let permit = tokio::select! {
                p = self.workers.acquire(&remote.id) => p,
                _ = token.cancelled() => return Err(Stop::Cancelled),
            };
            if token.is_cancelled() {
                return Err(Stop::Cancelled);
            }
            self.state.transition(&job.id, JobStatus::Running, None);
            match self
                .attempt(&services, job, &remote, &local.config, &records, token)
                .await
            {
                Ok(done) => {
                    drop(permit);
                    break done;
                }
                Err(Stop::Hold(reason)) => {
                    drop(permit);
                    hold.wait(self, &job.id, reason, token).await?;
                }
                Err(stop) => return Err(stop),
            }
        };
        hold.clear();

        match finished.output {
            Output::Counts(counts) => {
                let (m, t) = (counts.matches, counts.tentative);
                self.state.update(&job.id, |j| {
                    j.match_counts = Some((m, t));
                    true
                });
                let result = MatchResult {
                    matches: m,
                    tentative_matches: t,
                };
                // The counts are over all query records: one object for
                // matchRecord and matchRecords alike (SPEC §3 "Callbacks").
                let body = MatchCallback {
                    result: Some(OneOrMany::One(result)),
                    warning: None,
                    error: None,
                };
                serde_json::to_value(body).map_err(|e| Stop::Fault(format!("callback body: {e}")))
            }
            Output::Shares(shares) => {
                let ls = remote.init.linkage_service.clone().ok_or_else(|| {
                    Stop::Fault(format!(
                        "remote \"{}\" has no linkage service any more",
                        remote.id
                    ))
                })?;
                let request = linkage_request(
                    Role::Client,
                    &shares,
                    None,
                    &finished.job_tag,
                    job.query_records,
                    database_records,
                );
                let answer = post_with_hold(
                    self,
                    &services,
                    &job.id,
                    &ls,
                    &local.init.local_id,
                    &remote.id,
                    &request,
                    &mut hold,
                    token,
                )
                .await?;
                self.resume(&job.id);
                link_callback(job, answer)
            }
            Output::Nothing => Err(Stop::Fault("the engine returned no result".into())),
        }
    }

    /// Back to RUNNING after a HOLD (no history entry if it was not held).
    pub(super) fn resume(&self, id: &str) {
        if self
            .state
            .job(id)
            .is_some_and(|j| j.status == JobStatus::Hold)
        {
            self.state.transition(id, JobStatus::Running, None);
        }
    }

    /// The job's query records, from the store, checked against the
    /// configuration.
    async fn load_input(
        &self,
        job: &JobRecord,
        config: &LinkageConfig,
    ) -> Result<Vec<Record>, Stop> {
        let store = self.state.store().clone();
        let id = job.id.clone();
        let input: Option<Vec<WireRecord>> =
            tokio::task::spawn_blocking(move || store.load_job_input(&id))
                .await
                .map_err(|e| Stop::Fault(format!("loading the job's records: {e}")))?
                .map_err(|e| Stop::Fault(format!("loading the job's records: {e}")))?;
        let input = input.ok_or_else(|| Stop::Fault("the job's records are missing".into()))?;
        protocol_spec::value::records_from_wire(config, &input)
            .map_err(|e| Stop::Fault(format!("records[{}]: {}", e.index, e.error)))
    }

    /// One try: announce, then the 2PC. Transient refusals are `Stop::Hold`.
    async fn attempt(
        &self,
        services: &Services,
        job: &JobRecord,
        remote: &RemoteSite,
        config: &LinkageConfig,
        records: &[Record],
        token: &CancellationToken,
    ) -> Result<(mpc::Finished, u64), Stop> {
        let announce = Announce {
            version: PEER_PROTOCOL_VERSION,
            job_id: job.id.clone(),
            mode: job.mode,
            query_records: job.query_records,
            config_fingerprint: job.config_fingerprint.clone(),
            // The peer channel allocates the session.
            session: 0,
            profile: remote.profile(),
        };
        let link = tokio::select! {
            r = services.peer.open_job(remote, announce) => r,
            _ = token.cancelled() => return Err(Stop::Cancelled),
        };
        let link = link.map_err(|e| match e {
            PeerError::Refused(r) if r.is_transient() => Stop::Hold(r.to_string()),
            PeerError::Unreachable(_) => Stop::Hold(e.to_string()),
            other => Stop::Fault(other.to_string()),
        })?;
        let n = link.database_records;
        // The remote's count is its word only: refuse one this node would
        // never run before it is recorded or sizes anything (the engine's
        // handshake checks it again against the remote's actual input).
        if n > self.settings.max_database_records {
            return Err(Stop::Fault(format!(
                "the remote announced {n} database records (this node accepts at most {})",
                self.settings.max_database_records
            )));
        }
        self.state.update(&job.id, |j| {
            j.database_records = Some(n);
            true
        });
        // Either side's cancellation (or a dropped connection) stops the run.
        let run_token = token.child_token();
        let peer_gone = link.cancelled.clone();
        let linked = run_token.clone();
        let watcher = tokio::spawn(async move {
            peer_gone.cancelled().await;
            linked.cancel();
        });
        let started = Instant::now();
        let progress = self.progress_fn(&job.id);
        let result = mpc::run(
            link.channel,
            &link.ot,
            mpc::Run {
                job_id: &job.id,
                mode: job.mode,
                side: JobSide::Client,
                config,
                records,
                peer_records: n,
                max_peer_records: self.settings.max_database_records,
                profile: remote.profile(),
                progress,
                cancel: run_token,
            },
        )
        .await;
        watcher.abort();
        match result {
            Ok(out) => {
                self.metrics
                    .mpc_done(job.query_records, n, started.elapsed());
                Ok((out, n))
            }
            Err(_) if token.is_cancelled() => Err(Stop::Cancelled),
            Err(ProtocolError::Cancelled) | Err(ProtocolError::PeerCancelled) => Err(Stop::Fault(
                "the remote cancelled the job or the connection dropped".into(),
            )),
            Err(e) => Err(Stop::Fault(format!("2PC: {e}"))),
        }
    }

    /// The engine's progress callback for a job.
    pub(super) fn progress_fn(&self, id: &str) -> Arc<dyn Fn(f64) + Send + Sync> {
        let me = self.me.clone();
        let id = id.to_owned();
        Arc::new(move |fraction: f64| {
            if let Some(mgr) = me.upgrade() {
                let percent = (fraction.clamp(0.0, 1.0) * 100.0).floor() as u8;
                // 100 is for DONE, after the linkage service answered.
                mgr.state.progress(&id, percent.min(99));
            }
        })
    }

    /// Delivers a final job's callback in its own task, recording every
    /// attempt on the job.
    pub(super) fn deliver(&self, job: JobRecord, body: Value) {
        let (Some(url), Some(services), Some(local), Some(me)) = (
            job.callback_url.clone(),
            self.services.get().cloned(),
            self.state.local(),
            self.me.upgrade(),
        ) else {
            return;
        };
        let span = tracing::info_span!("callback", job_id = %job.id);
        tokio::spawn(
            async move {
                let key = local.init.local_authentication.shared_key.clone();
                let id = job.id.clone();
                let recorder = me.clone();
                let on_attempt = move |d: &crate::model::CallbackDelivery| {
                    recorder.state.delivery(&id, d);
                };
                let shutdown = me.shutdown.clone();
                let outcome = tokio::select! {
                    o = services.callback.deliver(&url, &key, &body, &on_attempt) => o,
                    // Recorded as Pending; the next start records it as failed.
                    _ = shutdown.cancelled() => return,
                };
                me.state.delivery(&job.id, &outcome);
                match outcome.state {
                    DeliveryState::Delivered => tracing::info!("callback delivered"),
                    _ => {
                        me.metrics.callback_failed();
                        tracing::warn!(
                            attempts = outcome.attempts,
                            status = ?outcome.last_status,
                            "callback not delivered"
                        );
                    }
                }
            }
            .instrument(span),
        );
    }
}

/// This node's post to the linkage service (SPEC §9): its shares in the
/// wire form, the server's LIDs, the job's sizes, and the job tag both nodes
/// derived from the 2PC's handshake (hex), which pairs the two posts of this
/// run (a retried job gets a new tag, so it never pairs with a stale post).
pub(super) fn linkage_request(
    role: Role,
    shares: &[mpc_core::epilink::ResultShare],
    ids: Option<Vec<String>>,
    job_tag: &[u8; 32],
    query_records: u64,
    database_records: u64,
) -> LinkageResultRequest {
    LinkageResultRequest {
        role,
        job_tag: super::state::hex(job_tag),
        query_records,
        database_records,
        result: shares
            .iter()
            .map(|s| ShareRecord {
                match_share: s.is_match,
                tentative_share: s.tentative,
                best_index_share: s.best_index,
            })
            .collect(),
        ids,
    }
}

/// Posts to the linkage service, waiting in HOLD while it is unavailable.
#[allow(clippy::too_many_arguments)]
pub(super) async fn post_with_hold(
    mgr: &JobManager,
    services: &Services,
    job_id: &str,
    ls: &protocol_spec::messages::mainsel::Connection,
    local_id: &str,
    remote_id: &str,
    request: &LinkageResultRequest,
    hold: &mut Hold,
    token: &CancellationToken,
) -> Result<protocol_spec::messages::linkage::LinkageResultResponse, Stop> {
    loop {
        let r = tokio::select! {
            r = services.linkage.post_result(ls, local_id, remote_id, request) => r,
            _ = token.cancelled() => return Err(Stop::Cancelled),
        };
        match r {
            Ok(answer) => return Ok(answer),
            Err(e @ LsError::Unavailable(_)) => {
                hold.wait(mgr, job_id, e.to_string(), token).await?
            }
            Err(e) => return Err(Stop::Fault(e.to_string())),
        }
    }
}

/// The callback body of a linkage job: one entry per query record, in
/// request order; an entry the linkage service left without a LID is `{}`
/// (its `warning` says why).
fn link_callback(
    job: &JobRecord,
    answer: protocol_spec::messages::linkage::LinkageResultResponse,
) -> Result<Value, Stop> {
    if let Some(error) = answer.error {
        return Err(Stop::Fault(format!("linkage service: {error}")));
    }
    if answer.result.len() as u64 != job.query_records {
        return Err(Stop::Fault(format!(
            "the linkage service answered {} results for {} records",
            answer.result.len(),
            job.query_records
        )));
    }
    let entries: Vec<Value> = answer
        .result
        .into_iter()
        .map(|r| match r.linkage_id {
            Some(lid) => {
                let mut entry = LinkResult::new(lid);
                if r.tentative {
                    entry.extra.insert("tentative".into(), Value::Bool(true));
                }
                serde_json::to_value(entry).unwrap_or_else(|_| Value::Object(Map::new()))
            }
            None => Value::Object(Map::new()),
        })
        .collect();
    let result = match job.cardinality {
        Cardinality::One => entries
            .into_iter()
            .next()
            .unwrap_or(Value::Object(Map::new())),
        Cardinality::Many => Value::Array(entries),
    };
    let mut body = Map::new();
    body.insert("result".into(), result);
    if let Some(w) = answer.warning {
        body.insert("warning".into(), Value::String(w));
    }
    Ok(Value::Object(body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol_spec::messages::linkage::{LinkageIdResult, LinkageResultResponse};

    fn job(cardinality: Cardinality, m: u64) -> JobRecord {
        JobRecord {
            id: "j".into(),
            remote_id: "B".into(),
            mode: crate::model::JobMode::Linkage,
            side: JobSide::Client,
            cardinality,
            status: JobStatus::Running,
            progress_percent: 0,
            created: 0,
            started: None,
            finished: None,
            error: None,
            callback_url: None,
            callback_delivery: Default::default(),
            query_records: m,
            database_records: None,
            config_fingerprint: String::new(),
            history: Vec::new(),
            match_counts: None,
        }
    }

    fn lid(id: &str, tentative: bool) -> LinkageIdResult {
        LinkageIdResult {
            linkage_id: Some(id.into()),
            tentative,
        }
    }

    #[test]
    fn link_callback_keeps_request_order_and_passes_tentative_through() {
        let answer = LinkageResultResponse {
            result: vec![
                lid("L1", false),
                lid("L2", true),
                LinkageIdResult::default(),
            ],
            warning: Some("record 2".into()),
            error: None,
        };
        let body = link_callback(&job(Cardinality::Many, 3), answer).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "result": [{"linkageId": "L1"}, {"linkageId": "L2", "tentative": true}, {}],
                "warning": "record 2"
            })
        );
    }

    #[test]
    fn link_callback_of_one_record_is_an_object_and_counts_must_agree() {
        let one = LinkageResultResponse {
            result: vec![lid("L1", false)],
            ..Default::default()
        };
        let body = link_callback(&job(Cardinality::One, 1), one.clone()).unwrap();
        assert_eq!(body, serde_json::json!({"result": {"linkageId": "L1"}}));
        assert!(matches!(
            link_callback(&job(Cardinality::Many, 2), one),
            Err(Stop::Fault(_))
        ));
    }
}
