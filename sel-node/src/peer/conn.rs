//! One authenticated connection to a remote: the multiplexer, the loop of
//! the control session, the requests in flight and the jobs running on it
//! in both directions (SPEC §3a).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use mpc_core::Party;
use mpc_core::channel::{Channel, Mux, MuxSession};
use mpc_core::epilink::PeerOt;
use protocol_spec::config::LinkageConfig;
use protocol_spec::messages::mainsel::{AlgorithmConfig, Profile};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

use super::diff::first_difference;
use super::stream::Closable;
use super::wire::{
    self, CONTROL_SESSION, Control, HEARTBEAT, MAX_CONTROL, Reply, Request, SILENCE_LIMIT,
};
use super::{JobLink, PeerError};
use crate::model::{
    Announce, IncomingJobs, Millis, PEER_PROTOCOL_VERSION, Refusal, RemoteDirectory, now_millis,
    profile_difference,
};

/// Requests from the peer served at the same time on one connection; more
/// are answered with an error at once (bounds the tasks a peer can start).
const MAX_REQUESTS_IN_FLIGHT: usize = 256;

/// What a connection needs from the rest of the node to serve its peer.
pub(crate) struct Services {
    pub directory: Arc<dyn RemoteDirectory>,
    pub incoming: Arc<dyn IncomingJobs>,
}

/// The connection's OT setup ([`PeerOt`]: base OTs and OT-extension seeds in
/// both directions), established once right after the handshake on its own
/// mux session ([`OT_SESSION`]) and shared by every job on the connection,
/// so a small job does not pay base OTs again. Jobs wait for it with
/// [`ConnSetup::ot`]; a connection whose setup failed serves no job.
pub(crate) struct ConnSetup {
    ot: watch::Receiver<Option<Result<Arc<PeerOt>, String>>>,
}

/// The mux session of the connection's OT setup: odd, so the acceptor never
/// allocates it, and far above any id the dialer's counter reaches.
pub(crate) const OT_SESSION: u64 = u64::MAX;

/// Domain separation of the connection's base OTs (fresh per connection;
/// each job then derives its own instances from its handshake nonces).
const OT_CONTEXT: &[u8] = b"sel-node peer connection OT v1";

impl ConnSetup {
    /// Starts the OT setup on `mux` in the background.
    fn start(mux: &Mux, we_dialed: bool) -> ConnSetup {
        let (tx, rx) = watch::channel(None);
        match mux.open(OT_SESSION) {
            Ok(session) => {
                let me = if we_dialed {
                    Party::Client
                } else {
                    Party::Server
                };
                tokio::spawn(async move {
                    let result = PeerOt::establish(session, me, OT_CONTEXT)
                        .await
                        .map_err(|e| e.to_string());
                    if let Err(e) = &result {
                        tracing::warn!(error = %e, "peer connection OT setup failed");
                    }
                    let _ = tx.send(Some(result));
                });
            }
            Err(e) => {
                let _ = tx.send(Some(Err(e.to_string())));
            }
        }
        ConnSetup { ot: rx }
    }

    /// The connection's OT state, once established.
    pub(crate) async fn ot(&self) -> Result<Arc<PeerOt>, String> {
        let mut rx = self.ot.clone();
        match rx.wait_for(|v| v.is_some()).await {
            Ok(v) => v.clone().expect("checked by wait_for"),
            Err(_) => Err("the connection's OT setup was abandoned".into()),
        }
    }
}

/// The local site's `algorithm` and its fingerprint (hex).
pub(crate) struct LocalConfig {
    pub site_id: String,
    pub algorithm: AlgorithmConfig,
    pub config: LinkageConfig,
    pub fingerprint: String,
}

/// The local configuration, if the node is initialised with a valid one.
pub(crate) fn local_config(directory: &dyn RemoteDirectory) -> Option<LocalConfig> {
    let local = directory.local()?;
    let config = LinkageConfig::from_wire(&local.init.algorithm).ok()?;
    let fingerprint = fingerprint_hex(&config);
    Some(LocalConfig {
        site_id: local.init.local_id,
        algorithm: local.init.algorithm,
        config,
        fingerprint,
    })
}

pub(crate) fn fingerprint_hex(config: &LinkageConfig) -> String {
    blake3::Hash::from(mpc_core::epilink::fingerprint(config))
        .to_hex()
        .to_string()
}

struct PendingRequest {
    reply: oneshot::Sender<Reply>,
    /// For an announcement: the job and its session, to release them if the
    /// asker gave up before the answer came.
    job: Option<(String, u64)>,
}

pub(crate) struct Conn {
    pub remote_id: String,
    /// Whether this node dialed the connection (it then re-dials when the
    /// connection drops, and uses odd job session ids).
    pub we_dialed: bool,
    pub since: Millis,
    /// See [`ConnSetup`].
    pub setup: ConnSetup,
    mux: Mux,
    /// Closes the socket (see [`Closable`]).
    kill: CancellationToken,
    /// Fired once the connection is gone, whatever the cause.
    ended: CancellationToken,
    end_reason: Mutex<Option<String>>,
    /// Set when this node closed the connection on purpose (no re-dial).
    deliberate: AtomicBool,
    out: mpsc::UnboundedSender<Control>,
    pending: Mutex<HashMap<u64, PendingRequest>>,
    next_request: AtomicU64,
    next_session: AtomicU64,
    /// Live jobs on this connection (both directions) and their tokens.
    jobs: Mutex<HashMap<String, CancellationToken>>,
    /// Session ids the peer announced (each may be announced once).
    announced: Mutex<HashSet<u64>>,
    serving: AtomicUsize,
}

/// The control session and the queue of outgoing control messages, for the
/// loop the hub spawns with [`Conn::run`].
pub(crate) struct ControlParts {
    session: MuxSession,
    out_rx: mpsc::UnboundedReceiver<Control>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A job id as SPEC §3 defines it: `[A-Za-z0-9_-]{1,64}`.
fn valid_job_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl Conn {
    /// Starts the multiplexer over an authenticated stream.
    pub(crate) fn start<S>(
        stream: S,
        remote_id: &str,
        we_dialed: bool,
    ) -> Result<(Arc<Conn>, ControlParts), PeerError>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let kill = CancellationToken::new();
        let mux = Mux::new(Closable::new(stream, &kill));
        let session = mux
            .open(CONTROL_SESSION)
            .map_err(|e| PeerError::Unreachable(e.to_string()))?;
        let (out, out_rx) = mpsc::unbounded_channel();
        let conn = Arc::new(Conn {
            remote_id: remote_id.to_owned(),
            we_dialed,
            since: now_millis(),
            setup: ConnSetup::start(&mux, we_dialed),
            mux,
            kill,
            ended: CancellationToken::new(),
            end_reason: Mutex::new(None),
            deliberate: AtomicBool::new(false),
            out,
            pending: Mutex::new(HashMap::new()),
            next_request: AtomicU64::new(1),
            // Dialer odd, acceptor even, 0 is the control session: the two
            // sides can never pick the same id.
            next_session: AtomicU64::new(if we_dialed { 1 } else { 2 }),
            jobs: Mutex::new(HashMap::new()),
            announced: Mutex::new(HashSet::new()),
            serving: AtomicUsize::new(0),
        });
        Ok((conn, ControlParts { session, out_rx }))
    }

    pub(crate) fn wire_stats(&self) -> mpc_core::channel::WireStats {
        self.mux.wire_stats()
    }

    pub(crate) fn is_alive(&self) -> bool {
        !self.ended.is_cancelled() && self.mux.disconnected().is_none()
    }

    /// Closes the connection on purpose; its jobs are cancelled on both sides.
    pub(crate) fn close(&self) {
        self.deliberate.store(true, Ordering::SeqCst);
        self.kill.cancel();
    }

    pub(crate) fn closed_deliberately(&self) -> bool {
        self.deliberate.load(Ordering::SeqCst)
    }

    /// Why the connection ended, once it has.
    pub(crate) fn end_reason(&self) -> Option<String> {
        lock(&self.end_reason).clone()
    }

    /// Resolves once the connection is gone.
    pub(crate) async fn ended(&self) {
        self.ended.cancelled().await
    }

    fn gone(&self) -> PeerError {
        let reason = self
            .end_reason()
            .or_else(|| self.mux.disconnected())
            .unwrap_or_else(|| "the connection is closing".into());
        PeerError::Unreachable(format!("the connection to the remote dropped: {reason}"))
    }

    fn send(&self, msg: Control) {
        // An error means the loop has ended; the connection is gone and the
        // peer learns that from the socket.
        let _ = self.out.send(msg);
    }

    /// Sends a request and waits for the answer or the end of the connection.
    async fn request(
        &self,
        request: Request,
        job: Option<(String, u64)>,
    ) -> Result<Reply, PeerError> {
        let id = self.next_request.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        lock(&self.pending).insert(id, PendingRequest { reply: tx, job });
        if self.ended.is_cancelled() {
            lock(&self.pending).remove(&id);
            return Err(self.gone());
        }
        self.send(Control::Request { id, request });
        rx.await.map_err(|_| self.gone())
    }

    /// `/test`: the remote's configuration, compared with ours.
    /// `profile` is this node's profile for the remote: a remote that runs
    /// another one with this node is a mismatch too, named after any
    /// configuration difference.
    pub(crate) async fn test(
        &self,
        local: &LocalConfig,
        profile: Profile,
    ) -> Result<(), PeerError> {
        let algorithm = Box::new(local.algorithm.clone());
        match self.request(Request::Config { algorithm }, None).await? {
            Reply::Config {
                algorithm,
                fingerprint,
                profile: theirs,
            } => {
                if fingerprint != local.fingerprint {
                    Err(PeerError::ConfigMismatch(first_difference(
                        &local.config,
                        &algorithm,
                    )))
                } else if theirs != profile {
                    Err(PeerError::ConfigMismatch(profile_difference(
                        profile, theirs,
                    )))
                } else {
                    Ok(())
                }
            }
            Reply::Error { message } => Err(PeerError::Protocol(format!(
                "the remote cannot answer: {message}"
            ))),
            other => Err(PeerError::Protocol(format!(
                "unexpected answer to a configuration request: {}",
                reply_kind(&other)
            ))),
        }
    }

    /// Announces a job on this connection; on acceptance, its session.
    pub(crate) async fn open_job(&self, mut announce: Announce) -> Result<JobLink, PeerError> {
        if !valid_job_id(&announce.job_id) {
            return Err(PeerError::Local(
                "the job id is not [A-Za-z0-9_-]{1,64}".into(),
            ));
        }
        let session = self.next_session.fetch_add(2, Ordering::Relaxed);
        announce.session = session;
        announce.version = PEER_PROTOCOL_VERSION;
        let job_id = announce.job_id.clone();
        let cancelled = CancellationToken::new();
        {
            let mut jobs = lock(&self.jobs);
            if jobs.contains_key(&job_id) {
                return Err(PeerError::Local(
                    "a job with this id is already running with the remote".into(),
                ));
            }
            jobs.insert(job_id.clone(), cancelled.clone());
        }
        let reply = self
            .request(
                Request::Announce { announce },
                Some((job_id.clone(), session)),
            )
            .await;
        let forget = || {
            lock(&self.jobs).remove(&job_id);
        };
        match reply {
            Ok(Reply::Accepted { database_records }) => match self.mux.open(session) {
                Ok(channel) => match self.setup.ot().await {
                    Ok(ot) => Ok(JobLink {
                        channel,
                        database_records,
                        cancelled,
                        ot,
                    }),
                    Err(e) => {
                        forget();
                        self.send(Control::Cancel {
                            job_id: job_id.clone(),
                        });
                        Err(PeerError::Unreachable(format!(
                            "the connection's OT setup failed: {e}"
                        )))
                    }
                },
                Err(e) => {
                    forget();
                    self.send(Control::Cancel {
                        job_id: job_id.clone(),
                    });
                    Err(PeerError::Unreachable(e.to_string()))
                }
            },
            Ok(Reply::Refused { refusal }) => {
                forget();
                Err(PeerError::Refused(refusal))
            }
            Ok(Reply::Error { message }) => {
                forget();
                Err(PeerError::Protocol(format!(
                    "the remote cannot answer: {message}"
                )))
            }
            Ok(other) => {
                forget();
                Err(PeerError::Protocol(format!(
                    "unexpected answer to a job announcement: {}",
                    reply_kind(&other)
                )))
            }
            Err(e) => {
                forget();
                Err(e)
            }
        }
    }

    /// Cancels a job on both sides (best effort; unknown ids are ignored
    /// by the peer).
    pub(crate) fn cancel_job(&self, job_id: &str) {
        if let Some(token) = lock(&self.jobs).get(job_id) {
            token.cancel();
        }
        self.send(Control::Cancel {
            job_id: job_id.to_owned(),
        });
    }

    /// The control loop: runs until the connection ends, then cancels every
    /// job on it and fails every request in flight.
    pub(crate) async fn run(self: Arc<Self>, parts: ControlParts, services: Arc<Services>) {
        let ControlParts {
            mut session,
            mut out_rx,
        } = parts;
        let mut heartbeat = tokio::time::interval(HEARTBEAT);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_seen = tokio::time::Instant::now();
        let reason = loop {
            tokio::select! {
                _ = self.kill.cancelled() => break "closed by this node".to_string(),
                _ = heartbeat.tick() => {
                    if last_seen.elapsed() > SILENCE_LIMIT {
                        break format!("no message from the remote for {SILENCE_LIMIT:?}");
                    }
                    if let Err(e) = session.send(wire::encode(&Control::Ping).into()).await {
                        break e.to_string();
                    }
                }
                msg = out_rx.recv() => {
                    let Some(msg) = msg else { break "closed by this node".to_string() };
                    if let Err(e) = session.send(wire::encode(&msg).into()).await {
                        break e.to_string();
                    }
                }
                incoming = session.recv() => {
                    let bytes = match incoming {
                        Ok(bytes) => bytes,
                        Err(e) => break e.to_string(),
                    };
                    last_seen = tokio::time::Instant::now();
                    match wire::decode::<Control>(&bytes, MAX_CONTROL, "control message") {
                        Ok(msg) => self.handle(msg, &services),
                        Err(e) => {
                            tracing::warn!(remote = %self.remote_id, error = %e, "peer sent an invalid control message; closing the connection");
                            break format!("the remote sent an invalid control message: {e}");
                        }
                    }
                }
            }
        };
        self.finish(reason);
    }

    fn finish(&self, reason: String) {
        lock(&self.end_reason).get_or_insert(reason.clone());
        self.ended.cancel();
        self.kill.cancel();
        let jobs: Vec<_> = lock(&self.jobs).drain().collect();
        for (_, token) in jobs {
            token.cancel();
        }
        lock(&self.pending).clear();
        tracing::info!(remote = %self.remote_id, reason = %reason, "peer connection ended");
    }

    fn handle(self: &Arc<Self>, msg: Control, services: &Arc<Services>) {
        match msg {
            Control::Request { id, request } => {
                if self.serving.fetch_add(1, Ordering::SeqCst) >= MAX_REQUESTS_IN_FLIGHT {
                    self.serving.fetch_sub(1, Ordering::SeqCst);
                    let reply = match request {
                        // Transient: the asking job waits and retries.
                        Request::Announce { .. } => Reply::Refused {
                            refusal: Refusal::Busy,
                        },
                        Request::Config { .. } => Reply::Error {
                            message: "too many requests in flight".into(),
                        },
                    };
                    self.send(Control::Reply { id, reply });
                    return;
                }
                let conn = self.clone();
                let services = services.clone();
                tokio::spawn(async move {
                    let reply = conn.serve(request, &services).await;
                    conn.serving.fetch_sub(1, Ordering::SeqCst);
                    conn.send(Control::Reply { id, reply });
                });
            }
            Control::Reply { id, reply } => {
                let Some(pending) = lock(&self.pending).remove(&id) else {
                    tracing::debug!(remote = %self.remote_id, "answer to an unknown request ignored");
                    return;
                };
                if let Err(reply) = pending.reply.send(reply)
                    && let Some((job_id, session)) = pending.job
                {
                    // The asker gave up. An accepted job is ended at the
                    // remote (its `ended` then removes it here); any other
                    // answer leaves nothing to release but the entry.
                    if let Reply::Accepted { .. } = reply {
                        drop(self.mux.open(session));
                        self.send(Control::Cancel { job_id });
                    } else {
                        lock(&self.jobs).remove(&job_id);
                    }
                }
            }
            Control::Cancel { job_id } => {
                if let Some(token) = lock(&self.jobs).get(&job_id) {
                    token.cancel();
                }
            }
            Control::Ended { job_id } => {
                lock(&self.jobs).remove(&job_id);
            }
            Control::Ping => {}
        }
    }

    async fn serve(self: &Arc<Self>, request: Request, services: &Services) -> Reply {
        match request {
            Request::Config { algorithm } => match local_config(services.directory.as_ref()) {
                Some(local) => {
                    if let Ok(asker) = LinkageConfig::from_wire(&algorithm)
                        && fingerprint_hex(&asker) != local.fingerprint
                    {
                        tracing::info!(remote = %self.remote_id, difference = %first_difference(&local.config, &algorithm), "the remote's configuration differs");
                    }
                    Reply::Config {
                        algorithm: Box::new(local.algorithm),
                        fingerprint: local.fingerprint,
                        profile: services
                            .directory
                            .remote(&self.remote_id)
                            .map(|r| r.profile())
                            .unwrap_or_default(),
                    }
                }
                None => not_initialised(),
            },
            Request::Announce { announce } => match self.serve_announce(announce, services).await {
                Ok(database_records) => Reply::Accepted { database_records },
                Err(refusal) => Reply::Refused { refusal },
            },
        }
    }

    /// Checks an announcement before anything is committed, then asks the
    /// job manager; on acceptance starts the job's server side.
    async fn serve_announce(
        self: &Arc<Self>,
        announce: Announce,
        services: &Services,
    ) -> Result<u64, Refusal> {
        if announce.version != PEER_PROTOCOL_VERSION {
            return Err(Refusal::Unsupported(format!(
                "announcement version {}; this node speaks {PEER_PROTOCOL_VERSION}",
                announce.version
            )));
        }
        if !valid_job_id(&announce.job_id) {
            return Err(Refusal::Unsupported(
                "the job id is not [A-Za-z0-9_-]{1,64}".into(),
            ));
        }
        // The peer's sessions are even if we dialed, odd if it did.
        let peer_parity = if self.we_dialed { 0 } else { 1 };
        if announce.session == CONTROL_SESSION || announce.session % 2 != peer_parity {
            return Err(Refusal::Unsupported(format!(
                "session {} is not one the announcing side may use",
                announce.session
            )));
        }
        if !lock(&self.announced).insert(announce.session) {
            return Err(Refusal::Unsupported(format!(
                "session {} was announced before on this connection",
                announce.session
            )));
        }
        let Some(local) = local_config(services.directory.as_ref()) else {
            return Err(Refusal::Unavailable("the remote is not initialised".into()));
        };
        if announce.config_fingerprint != local.fingerprint {
            return Err(Refusal::ConfigMismatch(
                "the configuration fingerprints differ (GET /test names the first difference)"
                    .into(),
            ));
        }
        // The profile: the announcer's against this node's for the remote
        // (a remote not configured here is refused by the admission below).
        if let Some(remote) = services.directory.remote(&self.remote_id)
            && announce.profile != remote.profile()
        {
            return Err(Refusal::ConfigMismatch(profile_difference(
                remote.profile(),
                announce.profile,
            )));
        }
        let cancel = CancellationToken::new();
        {
            let mut jobs = lock(&self.jobs);
            if jobs.contains_key(&announce.job_id) {
                return Err(Refusal::Unsupported(
                    "a job with this id is already running on this connection".into(),
                ));
            }
            jobs.insert(announce.job_id.clone(), cancel.clone());
        }
        let forget = |conn: &Conn| {
            lock(&conn.jobs).remove(&announce.job_id);
        };
        let accepted = match services.incoming.accept(&self.remote_id, &announce).await {
            Ok(a) => a,
            Err(refusal) => {
                forget(self);
                return Err(refusal);
            }
        };
        let session = match self.mux.open(announce.session) {
            Ok(s) => s,
            Err(e) => {
                forget(self);
                return Err(Refusal::Unavailable(format!("the connection failed: {e}")));
            }
        };
        let ot = match self.setup.ot().await {
            Ok(ot) => ot,
            Err(e) => {
                forget(self);
                return Err(Refusal::Unavailable(format!(
                    "the connection's OT setup failed: {e}"
                )));
            }
        };
        let conn = self.clone();
        let incoming = services.incoming.clone();
        tokio::spawn(async move {
            let job_id = announce.job_id.clone();
            incoming
                .run(&conn.remote_id, announce, session, ot, cancel)
                .await;
            lock(&conn.jobs).remove(&job_id);
            conn.send(Control::Ended { job_id });
        });
        Ok(accepted.database_records)
    }
}

fn not_initialised() -> Reply {
    Reply::Error {
        message: "the remote is not initialised".into(),
    }
}

fn reply_kind(reply: &Reply) -> &'static str {
    match reply {
        Reply::Config { .. } => "config",
        Reply::Accepted { .. } => "accepted",
        Reply::Refused { .. } => "refused",
        Reply::Error { .. } => "error",
    }
}
