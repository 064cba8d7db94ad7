//! The job service: admission, the worker pool, webhooks, TTL cleanup,
//! recovery after a restart and shutdown.
//!
//! A job's texts live only in the [`PendingJob`] that travels from
//! admission to a worker; each text is moved to the blocking thread that
//! processes it and wiped there (`Zeroizing`) as soon as its document is
//! done. Records of jobs that are queued or running (or whose webhook is
//! still being delivered) are kept in memory, so progress after each
//! document costs no disk write; the store is written at each change of
//! status and after each webhook attempt.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};
use zeroize::Zeroizing;

use super::JobSettings;
use super::model::{
    DocumentMeta, JobRecord, JobStatus, Method, SpanMeta, new_job_id, now_millis, rfc3339,
    text_hash,
};
use super::request::{self, Document, RequestError, RequestLimits, Submission};
use super::store::{JobStore, JobStoreError};
use super::webhook::{self, DeliveryLimits, Webhook};
use crate::deid::policy::{self, Action, Policy};
use crate::deid::{Engine, EngineHandle, Finding};

/// The error a job gets when the service restarted before it finished:
/// its texts were only in memory and are gone.
pub const RESTARTED: &str = "service restarted";
/// The error a job gets when the service shut down before it finished.
pub const SHUT_DOWN: &str = "service shut down";
/// The error of a job none of whose documents could be processed.
pub const ALL_FAILED: &str = "no document could be processed";

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum JobServiceError {
    #[error(transparent)]
    Store(#[from] JobStoreError),
    #[error("webhook TLS: {0}")]
    Tls(#[from] crate::tls::TlsError),
    #[error("job settings: {0}")]
    Settings(String),
}

/// Why a submission was refused.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error(transparent)]
    Request(#[from] RequestError),
    /// The queue or the memory bound is full (503 with Retry-After).
    #[error("the job queue is full; retry later")]
    Full,
    /// The service is shutting down (503).
    #[error("the job service is shutting down")]
    Stopped,
    #[error(transparent)]
    Store(#[from] JobStoreError),
}

/// A job between admission and its end: the only place its texts are.
struct PendingJob {
    id: String,
    method: Method,
    documents: Vec<Document>,
    webhook: Option<Webhook>,
    text_bytes: usize,
}

/// Jobs admitted and not yet started, and texts held in memory.
#[derive(Default)]
struct Admission {
    queued: usize,
    text_bytes: usize,
}

pub struct JobService {
    store: Arc<dyn JobStore>,
    engine: EngineHandle,
    settings: JobSettings,
    http: reqwest::Client,
    live: Mutex<HashMap<String, JobRecord>>,
    admission: Mutex<Admission>,
    queue: mpsc::UnboundedSender<PendingJob>,
    receiver: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<PendingJob>>>,
    paused: watch::Sender<bool>,
    cancel: CancellationToken,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl std::fmt::Debug for JobService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobService")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Every critical section here is a few field updates that leave the
    // value consistent even if a panic interrupted a later one.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl JobService {
    /// Recovers the store (jobs left queued or running by a previous run
    /// become `failed` with error [`RESTARTED`]: their texts were only in
    /// memory; no webhook is sent for them, its secret is gone too),
    /// purges expired records, and starts the workers and the cleanup
    /// task. Must be called within a tokio runtime.
    pub fn start(
        store: Arc<dyn JobStore>,
        engine: EngineHandle,
        settings: JobSettings,
    ) -> Result<Arc<JobService>, JobServiceError> {
        settings.check().map_err(JobServiceError::Settings)?;
        let tls = crate::tls::client_config(settings.webhook_ca_bundle.as_deref())?;
        let http = crate::tls::http_client(tls)?;
        let recovered = store.fail_abandoned(true, RESTARTED)?;
        if recovered > 0 {
            warn!(
                jobs = recovered,
                "jobs interrupted by a restart marked failed"
            );
        }
        store.purge_finished_before(now_millis().saturating_sub(ttl_ms(&settings)))?;

        let (queue, receiver) = mpsc::unbounded_channel();
        let (paused, _) = watch::channel(false);
        let service = Arc::new(JobService {
            store,
            engine,
            settings,
            http,
            live: Mutex::new(HashMap::new()),
            admission: Mutex::new(Admission::default()),
            queue,
            receiver: Arc::new(tokio::sync::Mutex::new(receiver)),
            paused,
            cancel: CancellationToken::new(),
            tasks: Mutex::new(Vec::new()),
        });
        let mut tasks = Vec::new();
        for _ in 0..service.settings.workers {
            tasks.push(tokio::spawn(Arc::clone(&service).worker()));
        }
        tasks.push(tokio::spawn(Arc::clone(&service).cleanup()));
        if let Some(lease) = service.store.lease() {
            tasks.push(tokio::spawn(Arc::clone(&service).keep_leases(lease)));
        }
        *lock(&service.tasks) = tasks;
        Ok(service)
    }

    pub fn settings(&self) -> &JobSettings {
        &self.settings
    }

    /// Workers take no further job until [`JobService::resume`]; jobs
    /// already running finish, and submissions are still admitted up to the
    /// queue's bounds. For maintenance (and to fill the queue in tests).
    pub fn pause(&self) {
        self.paused.send_replace(true);
    }

    pub fn resume(&self) {
        self.paused.send_replace(false);
    }

    /// Checks and admits a `POST /jobs` body; the job is queued when this
    /// returns. Parsing runs on a blocking thread (a body may be megabytes).
    pub async fn submit(&self, body: bytes::Bytes) -> Result<JobRecord, SubmitError> {
        if self.cancel.is_cancelled() {
            return Err(SubmitError::Stopped);
        }
        let limits = self.request_limits();
        let submission = tokio::task::spawn_blocking(move || request::parse(&body, &limits))
            .await
            .map_err(|_| RequestError::Malformed("body could not be read".into()))??;
        let Submission {
            documents,
            method,
            webhook,
            text_bytes,
        } = submission;
        {
            let mut admission = lock(&self.admission);
            if admission.queued >= self.settings.queue_capacity
                || admission.text_bytes.saturating_add(text_bytes) > self.settings.max_pending_bytes
            {
                return Err(SubmitError::Full);
            }
            admission.queued += 1;
            admission.text_bytes += text_bytes;
        }
        let id = new_job_id();
        let record = JobRecord::queued(id.clone(), method, documents.len(), webhook.is_some());
        lock(&self.live).insert(id.clone(), record.clone());
        if let Err(e) = self.save(record.clone()).await {
            lock(&self.live).remove(&id);
            self.release(true, text_bytes);
            return Err(e.into());
        }
        let job = PendingJob {
            id,
            method,
            documents,
            webhook,
            text_bytes,
        };
        if self.queue.send(job).is_err() {
            // Only after shutdown: the receiver is gone.
            return Err(SubmitError::Stopped);
        }
        info!(
            endpoint = "POST /jobs",
            documents = record.document_count,
            "job queued"
        );
        Ok(record)
    }

    /// The record of job `id`, from memory while it runs, else the store.
    pub async fn status(&self, id: &str) -> Result<Option<JobRecord>, JobStoreError> {
        if let Some(job) = lock(&self.live).get(id) {
            return Ok(Some(job.clone()));
        }
        let store = Arc::clone(&self.store);
        let id = id.to_string();
        tokio::task::spawn_blocking(move || store.load(&id))
            .await
            .map_err(|_| JobStoreError::Io("store task failed".into()))?
    }

    /// Stops admitting, lets every worker finish the document it is on,
    /// marks unfinished jobs failed with [`SHUT_DOWN`] (no webhook for
    /// them), and stops webhook retries.
    pub async fn shutdown(&self) {
        self.cancel.cancel();
        let tasks = std::mem::take(&mut *lock(&self.tasks));
        for task in tasks {
            let _ = task.await;
        }
        // Jobs still in the queue.
        let mut receiver = self.receiver.lock().await;
        receiver.close();
        while let Ok(job) = receiver.try_recv() {
            self.release(true, job.text_bytes);
            self.fail_unstarted(&job.id, SHUT_DOWN).await;
        }
    }

    fn request_limits(&self) -> RequestLimits {
        RequestLimits {
            max_documents: self.settings.max_documents,
            max_job_bytes: self.settings.max_job_bytes,
            max_webhook_attempts: self.settings.webhook_max_attempts,
            max_backoff: self.settings.webhook_max_backoff,
        }
    }

    fn release(&self, queued: bool, text_bytes: usize) {
        let mut admission = lock(&self.admission);
        if queued {
            admission.queued = admission.queued.saturating_sub(1);
        }
        admission.text_bytes = admission.text_bytes.saturating_sub(text_bytes);
    }

    async fn save(&self, job: JobRecord) -> Result<(), JobStoreError> {
        let store = Arc::clone(&self.store);
        tokio::task::spawn_blocking(move || store.save(&job))
            .await
            .map_err(|_| JobStoreError::Io("store task failed".into()))?
    }

    /// Saves, logging (by status only) if the store refuses.
    async fn save_logged(&self, job: JobRecord) {
        if let Err(e) = self.save(job).await {
            warn!(error = %e, "job record not saved");
        }
    }

    async fn fail_unstarted(&self, id: &str, error: &str) {
        let job = {
            let mut live = lock(&self.live);
            let Some(mut job) = live.remove(id) else {
                return;
            };
            job.finish(JobStatus::Failed, Some(error.to_string()));
            if let Some(d) = job.webhook_delivery.as_mut() {
                d.finished = true;
            }
            job
        };
        self.save_logged(job).await;
    }

    async fn wait_unpaused(&self) -> bool {
        let mut paused = self.paused.subscribe();
        tokio::select! {
            _ = self.cancel.cancelled() => false,
            r = paused.wait_for(|p| !*p) => r.is_ok(),
        }
    }

    async fn worker(self: Arc<Self>) {
        loop {
            let next = {
                let receiver = Arc::clone(&self.receiver);
                tokio::select! {
                    _ = self.cancel.cancelled() => None,
                    job = async move { receiver.lock().await.recv().await } => job,
                }
            };
            let Some(job) = next else {
                return;
            };
            if !self.wait_unpaused().await {
                self.release(true, job.text_bytes);
                self.fail_unstarted(&job.id, SHUT_DOWN).await;
                return;
            }
            self.release(true, 0);
            let text_bytes = job.text_bytes;
            self.run(job).await;
            self.release(false, text_bytes);
        }
    }

    /// Runs one job to its terminal status and hands its webhook (if any)
    /// to a task of its own, so a slow receiver never holds a worker.
    async fn run(self: &Arc<Self>, job: PendingJob) {
        let PendingJob {
            id,
            method,
            documents,
            webhook,
            ..
        } = job;
        let started = self.update(&id, |r| {
            r.status = JobStatus::Running;
            r.started_at = Some(rfc3339(now_millis()));
        });
        if let Some(record) = started {
            let store = Arc::clone(&self.store);
            match tokio::task::spawn_blocking(move || store.claim(&record)).await {
                Ok(Ok(true)) => {}
                Ok(Ok(false)) => {
                    // Its lease ran out (this process stalled) and another
                    // process failed it: running it now would contradict
                    // the record every process answers.
                    warn!("job no longer ours to run (lease expired); dropped");
                    lock(&self.live).remove(&id);
                    return;
                }
                Ok(Err(e)) => warn!(error = %e, "job start not saved"),
                Err(_) => warn!("job store task failed"),
            }
        }
        // A fresh salt per job: the hashed text is never kept, so the salt
        // need not outlive the job (and must not be guessable).
        let policy = match method {
            Method::Mask => Policy::new(Action::Mask, None),
            Method::Redact => Policy::new(Action::Redact, None),
            Method::Hash => Policy::new(
                Action::Hash,
                Some(Zeroizing::new(rand::random::<[u8; 32]>()).to_vec()),
            ),
        };
        let policy = match policy {
            Ok(p) => Arc::new(p),
            Err(e) => {
                warn!(error = %e, "job policy could not be built");
                self.finish(&id, webhook, JobStatus::Failed, Some(e.to_string()))
                    .await;
                return;
            }
        };
        let total = documents.len();
        let mut interrupted = false;
        for (i, document) in documents.into_iter().enumerate() {
            if self.cancel.is_cancelled() {
                interrupted = true;
                break;
            }
            let engine = self.engine.current();
            let policy = Arc::clone(&policy);
            let outcome =
                tokio::task::spawn_blocking(move || process_document(&engine, document, &policy))
                    .await;
            self.update(&id, |r| {
                match outcome {
                    Ok(Outcome { meta, spans }) => {
                        match spans {
                            Some(spans) => {
                                for span in &spans {
                                    *r.label_histogram.entry(span.label.clone()).or_default() += 1;
                                }
                                r.spans.extend(spans);
                                r.processed_count += 1;
                            }
                            None => r.failed_count += 1,
                        }
                        r.documents.push(meta);
                    }
                    // The blocking task itself died (only if the runtime is
                    // shutting down): the document counts as failed.
                    Err(_) => r.failed_count += 1,
                }
                r.progress_percent = percent(i + 1, total);
            });
        }
        let (status, error) = match lock(&self.live).get(&id) {
            _ if interrupted => (JobStatus::Failed, Some(SHUT_DOWN.to_string())),
            Some(r) if r.processed_count == 0 => (JobStatus::Failed, Some(ALL_FAILED.to_string())),
            _ => (JobStatus::Done, None),
        };
        self.finish(&id, webhook, status, error).await;
    }

    /// Applies `f` to the live record of `id`; returns the updated copy.
    fn update(&self, id: &str, f: impl FnOnce(&mut JobRecord)) -> Option<JobRecord> {
        let mut live = lock(&self.live);
        let record = live.get_mut(id)?;
        f(record);
        Some(record.clone())
    }

    async fn finish(
        self: &Arc<Self>,
        id: &str,
        webhook: Option<Webhook>,
        status: JobStatus,
        error: Option<String>,
    ) {
        let Some(record) = self.update(id, |r| r.finish(status, error)) else {
            return;
        };
        self.save_logged(record.clone()).await;
        info!(
            status = status.as_str(),
            documents = record.document_count,
            processed = record.processed_count,
            failed = record.failed_count,
            spans = record.spans.len(),
            "job finished"
        );
        match webhook {
            Some(webhook) if !self.cancel.is_cancelled() => {
                let service = Arc::clone(self);
                let id = id.to_string();
                let task = tokio::spawn(async move { service.notify(id, record, webhook).await });
                let mut tasks = lock(&self.tasks);
                tasks.retain(|t| !t.is_finished());
                tasks.push(task);
            }
            _ => {
                lock(&self.live).remove(id);
            }
        }
    }

    /// Delivers the webhook of a terminal job, recording the outcome after
    /// every attempt; the secret is wiped when `webhook` drops.
    async fn notify(self: Arc<Self>, id: String, record: JobRecord, webhook: Webhook) {
        let payload = record.webhook_payload();
        let event = if record.status == JobStatus::Failed {
            "job.failed"
        } else {
            "job.done"
        };
        let limits = DeliveryLimits {
            timeout: self.settings.webhook_timeout,
            max_backoff: self.settings.webhook_max_backoff,
        };
        // Each outcome is saved in order by `saving`, beside the delivery.
        let (saved, mut to_save) = mpsc::unbounded_channel::<JobRecord>();
        let (service, job_id) = (&*self, id.as_str());
        let delivering = async move {
            let on_attempt = move |d: &super::model::WebhookDelivery| {
                if let Some(r) = service.update(job_id, |r| r.webhook_delivery = Some(d.clone())) {
                    let _ = saved.send(r);
                }
            };
            tokio::select! {
                _ = service.cancel.cancelled() => {}
                _ = webhook::deliver(&service.http, &webhook, limits, event, &payload, &on_attempt) => {}
            }
            // `on_attempt` (and with it the sender) drops here, ending `saving`.
        };
        let saving = async {
            while let Some(r) = to_save.recv().await {
                self.save_logged(r).await;
            }
        };
        tokio::join!(delivering, saving);
        lock(&self.live).remove(&id);
    }

    /// With a shared store: every third of the lease, writes the records of
    /// this process's unfinished jobs (so any process answers their
    /// progress) and extends their leases, then fails the jobs of processes
    /// whose leases ran out.
    async fn keep_leases(self: Arc<Self>, lease: std::time::Duration) {
        let mut tick = tokio::time::interval(lease / 3);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = self.cancel.cancelled() => return,
                _ = tick.tick() => {}
            }
            let live: Vec<JobRecord> = lock(&self.live)
                .values()
                .filter(|r| !r.status.is_terminal())
                .cloned()
                .collect();
            let store = Arc::clone(&self.store);
            let outcome = tokio::task::spawn_blocking(move || {
                store.renew(&live)?;
                store.fail_abandoned(false, RESTARTED)
            })
            .await;
            match outcome {
                Ok(Ok(0)) => {}
                Ok(Ok(n)) => warn!(jobs = n, "jobs of a stopped process marked failed"),
                Ok(Err(e)) => warn!(error = %e, "job leases not renewed"),
                Err(_) => warn!("job lease task failed"),
            }
        }
    }

    /// Deletes terminal records older than the TTL, every cleanup interval.
    async fn cleanup(self: Arc<Self>) {
        let mut tick = tokio::time::interval(self.settings.cleanup_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = self.cancel.cancelled() => return,
                _ = tick.tick() => {}
            }
            let cutoff = now_millis().saturating_sub(ttl_ms(&self.settings));
            let store = Arc::clone(&self.store);
            match tokio::task::spawn_blocking(move || store.purge_finished_before(cutoff)).await {
                Ok(Ok(0)) => {}
                Ok(Ok(n)) => info!(jobs = n, "expired job records deleted"),
                Ok(Err(e)) => warn!(error = %e, "expired job records not deleted"),
                Err(_) => warn!("job cleanup task failed"),
            }
        }
    }
}

fn ttl_ms(settings: &JobSettings) -> u64 {
    u64::try_from(settings.ttl.as_millis()).unwrap_or(u64::MAX)
}

/// `done / total` in percent, to two decimals (exactly 100.0 at the end).
fn percent(done: usize, total: usize) -> f64 {
    if total == 0 {
        return 100.0;
    }
    ((done as f64 / total as f64) * 10_000.0).round() / 100.0
}

/// What processing one document leaves: its metadata, and its spans, or
/// `None` if detection or the transformation failed.
struct Outcome {
    meta: DocumentMeta,
    spans: Option<Vec<SpanMeta>>,
}

/// Detects, computes (and discards) the transformed text, and describes
/// the document and its findings by offsets and hashes. Runs on a blocking
/// thread; `document`'s text is wiped when it returns (or unwinds).
fn process_document(engine: &Engine, document: Document, policy: &Policy) -> Outcome {
    let Document { id, text } = document;
    let meta = DocumentMeta {
        id: id.clone(),
        length: text.chars().count(),
        text_hash: text_hash(text.as_bytes()),
    };
    let spans = std::panic::catch_unwind(AssertUnwindSafe(|| {
        let findings = engine.detect(&text);
        let transformed = Zeroizing::new(policy::apply(&text, &findings, policy));
        drop(transformed);
        describe(&id, &text, &findings)
    }))
    .ok()
    .flatten();
    Outcome { meta, spans }
}

/// The spans of `findings` without their values. `None` if a finding does
/// not lie on character boundaries of `text` (an engine fault: the
/// document is counted as failed rather than reported with wrong offsets).
fn describe(document_id: &str, text: &str, findings: &[Finding]) -> Option<Vec<SpanMeta>> {
    let mut wanted: Vec<usize> = findings.iter().flat_map(|f| [f.start, f.end]).collect();
    wanted.sort_unstable();
    wanted.dedup();
    let mut byte_of = HashMap::with_capacity(wanted.len());
    let mut next = wanted.iter().peekable();
    let ends = text
        .char_indices()
        .map(|(b, _)| b)
        .chain(std::iter::once(text.len()));
    for (char_index, byte_index) in ends.enumerate() {
        while next.next_if(|&&c| c == char_index).is_some() {
            byte_of.insert(char_index, byte_index);
        }
        if next.peek().is_none() {
            break;
        }
    }
    findings
        .iter()
        .map(|f| {
            let (s, e) = (*byte_of.get(&f.start)?, *byte_of.get(&f.end)?);
            let value = text.get(s..e).filter(|_| s < e)?;
            Some(SpanMeta {
                document_id: document_id.to_string(),
                start: f.start,
                end: f.end,
                label: f.label.clone(),
                text_hash: text_hash(value.as_bytes()),
                confidence: confidence(f.confidence),
            })
        })
        .collect()
}

/// A finding's `f32` confidence as the `f64` with the same shortest decimal
/// form (0.95, not 0.949999988079071), so JSON shows what the engine meant.
pub fn confidence(c: f32) -> f64 {
    c.to_string().parse().unwrap_or(f64::from(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_carry_char_offsets_and_value_hashes() {
        let text = "Zoë Müller called 555-0134.";
        let findings = vec![
            Finding {
                start: 0,
                end: 10,
                label: "PERSON".into(),
                confidence: 0.9,
                recognizer: "t".into(),
            },
            Finding {
                start: 18,
                end: 26,
                label: "PHONE".into(),
                confidence: 0.95,
                recognizer: "t".into(),
            },
        ];
        let spans = describe("d", text, &findings).unwrap();
        assert_eq!(spans[0].text_hash, text_hash("Zoë Müller".as_bytes()));
        assert_eq!(spans[1].text_hash, text_hash(b"555-0134"));
        assert_eq!(spans[1].confidence, 0.95);
        let beyond = Finding {
            start: 20,
            end: 99,
            ..findings[1].clone()
        };
        assert!(describe("d", text, &[beyond]).is_none());
    }

    #[test]
    fn progress_is_rounded_and_ends_at_100() {
        assert_eq!(percent(1, 3), 33.33);
        assert_eq!(percent(3, 3), 100.0);
        assert_eq!(percent(0, 0), 100.0);
    }
}
