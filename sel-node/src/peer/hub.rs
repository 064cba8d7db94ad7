//! The registry of connections: at most one live connection per remote,
//! the tie-break when both sites dial at once, on-demand dialing, and
//! re-dialing with capped exponential backoff after a drop (SPEC §3a).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::accept::accept_loop;
use super::conn::{Conn, Services, local_config};
use super::dial::{CONNECT_TIMEOUT, DialError, HANDSHAKE_TIMEOUT, dial};
use super::wire::HandshakeRefusal;
use super::{ConnectionState, PeerConfig, PeerError};
use crate::model::{IncomingJobs, Millis, RemoteDirectory, RemoteSite, now_millis};

/// First wait before re-dialing a dropped connection; doubles per failure.
const BACKOFF_INITIAL: Duration = Duration::from_millis(200);
/// Longest wait between two re-dials.
const BACKOFF_MAX: Duration = Duration::from_secs(30);

#[derive(Default)]
struct Slot {
    conn: Option<Arc<Conn>>,
    dialing: bool,
    /// Handshakes from the remote that passed [`Hub::may_accept`] and are
    /// finishing; on-demand requests wait for them instead of dialing.
    accepting: u32,
    /// Dials started so far, to tell a waiter which attempt it waited for.
    attempts: u64,
    /// The last failed attempt and why.
    last_failure: Option<(u64, PeerError)>,
    reconnecting: bool,
    /// Reported when there is no connection and no dial in progress.
    state: Option<ConnectionState>,
    /// When the remote was last seen going down (a drop or a failed dial
    /// after being up or idle); cleared when a connection comes up. For
    /// the operator's status page.
    down_since: Option<Millis>,
}

impl Slot {
    fn live(&self) -> Option<Arc<Conn>> {
        self.conn.as_ref().filter(|c| c.is_alive()).cloned()
    }
}

/// An incoming handshake that passed the tie-break; see [`Hub::may_accept`].
pub(crate) struct AcceptGuard {
    hub: Arc<Hub>,
    remote_id: String,
}

impl Drop for AcceptGuard {
    fn drop(&mut self) {
        if let Some(slot) = lock(&self.hub.slots).get_mut(&self.remote_id) {
            slot.accepting = slot.accepting.saturating_sub(1);
        }
        self.hub.changed.notify_waiters();
    }
}

pub(crate) struct Hub {
    config: PeerConfig,
    services: Arc<Services>,
    local_addr: SocketAddr,
    slots: Mutex<HashMap<String, Slot>>,
    /// Woken on every change of a slot.
    changed: Notify,
    shutdown: CancellationToken,
    accept_task: Mutex<Option<JoinHandle<()>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Whether a new connection replaces a live one between the same two
/// sites: the connection dialed by the smaller site id wins, so both sites
/// keep the same one; if the same site dialed both, it re-dialed because it
/// lost the first, so the newer wins.
fn new_wins(
    existing_we_dialed: bool,
    new_we_dialed: bool,
    local_id: &str,
    remote_id: &str,
) -> bool {
    if existing_we_dialed == new_we_dialed {
        return true;
    }
    let dialer = |we: bool| if we { local_id } else { remote_id };
    dialer(new_we_dialed) < dialer(existing_we_dialed)
}

impl Hub {
    pub(crate) async fn start(
        config: PeerConfig,
        directory: Arc<dyn RemoteDirectory>,
        incoming: Arc<dyn IncomingJobs>,
    ) -> Result<Arc<Hub>, PeerError> {
        let listener = TcpListener::bind(config.listen).await.map_err(|e| {
            PeerError::Local(format!("cannot bind the peer port {}: {e}", config.listen))
        })?;
        let local_addr = listener
            .local_addr()
            .map_err(|e| PeerError::Local(format!("peer port: {e}")))?;
        let hub = Arc::new(Hub {
            config,
            services: Arc::new(Services {
                directory,
                incoming,
            }),
            local_addr,
            slots: Mutex::new(HashMap::new()),
            changed: Notify::new(),
            shutdown: CancellationToken::new(),
            accept_task: Mutex::new(None),
        });
        let task = tokio::spawn(accept_loop(hub.clone(), listener));
        *lock(&hub.accept_task) = Some(task);
        Ok(hub)
    }

    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub(crate) fn server_tls(&self) -> Arc<rustls::ServerConfig> {
        self.config.server_tls.clone()
    }

    pub(crate) fn directory(&self) -> &dyn RemoteDirectory {
        self.services.directory.as_ref()
    }

    pub(crate) async fn shutting_down(&self) {
        self.shutdown.cancelled().await
    }

    /// The acceptor's tie-break before it answers a Hello from `remote_id`:
    /// refuse when a connection this node dialed (or is dialing) wins over
    /// the incoming one. While the returned guard lives, this node does not
    /// dial the remote itself (it waits for the incoming connection).
    pub(crate) fn may_accept(
        self: &Arc<Self>,
        remote_id: &str,
        local_id: &str,
    ) -> Result<AcceptGuard, HandshakeRefusal> {
        if self.shutdown.is_cancelled() {
            return Err(HandshakeRefusal::ShuttingDown);
        }
        let mut slots = lock(&self.slots);
        let slot = slots.entry(remote_id.to_owned()).or_default();
        let ours = slot.dialing || slot.live().is_some_and(|c| c.we_dialed);
        if ours && local_id < remote_id {
            return Err(HandshakeRefusal::Duplicate);
        }
        slot.accepting += 1;
        Ok(AcceptGuard {
            hub: self.clone(),
            remote_id: remote_id.to_owned(),
        })
    }

    /// Starts a connection over an authenticated stream and registers it,
    /// applying the tie-break against a live one; returns the winner.
    pub(crate) fn install_stream<S>(
        self: &Arc<Self>,
        stream: S,
        remote_id: &str,
        we_dialed: bool,
    ) -> Result<Arc<Conn>, PeerError>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (conn, parts) = Conn::start(stream, remote_id, we_dialed)?;
        // The per-connection setup (see `ConnSetup`) will run here, before
        // the connection is offered to jobs.
        let hub = self.clone();
        let loop_conn = conn.clone();
        let services = self.services.clone();
        tokio::spawn(async move {
            loop_conn.clone().run(parts, services).await;
            hub.on_end(&loop_conn);
        });
        let local_id = local_config(self.directory())
            .map(|l| l.site_id)
            .unwrap_or_default();
        let mut slots = lock(&self.slots);
        if self.shutdown.is_cancelled() {
            conn.close();
            return Err(PeerError::Local("the peer channel is shutting down".into()));
        }
        let slot = slots.entry(remote_id.to_owned()).or_default();
        let winner = match slot.live() {
            Some(existing)
                if !new_wins(existing.we_dialed, conn.we_dialed, &local_id, remote_id) =>
            {
                conn.close();
                existing
            }
            existing => {
                if let Some(old) = existing {
                    old.close();
                }
                slot.conn = Some(conn.clone());
                slot.down_since = None;
                tracing::info!(remote = %remote_id, dialed_here = we_dialed, "peer connection established");
                conn
            }
        };
        drop(slots);
        self.changed.notify_waiters();
        Ok(winner)
    }

    /// A connection ended: forget it, and re-dial if this node dialed it
    /// and did not close it on purpose.
    fn on_end(self: &Arc<Self>, conn: &Arc<Conn>) {
        let mut slots = lock(&self.slots);
        let Some(slot) = slots.get_mut(&conn.remote_id) else {
            return;
        };
        if !slot.conn.as_ref().is_some_and(|c| Arc::ptr_eq(c, conn)) {
            return;
        }
        slot.conn = None;
        slot.down_since.get_or_insert_with(now_millis);
        let reason = conn.end_reason().unwrap_or_default();
        slot.state = Some(ConnectionState::Failed {
            error: format!("the connection dropped: {reason}"),
            kind: "dropped",
            retry_at: now_millis() + BACKOFF_INITIAL.as_millis() as u64,
        });
        let redial = conn.we_dialed
            && !conn.closed_deliberately()
            && !self.shutdown.is_cancelled()
            && !slot.reconnecting;
        if redial {
            slot.reconnecting = true;
            tokio::spawn(self.clone().reconnect(conn.remote_id.clone()));
        } else if !conn.we_dialed {
            slot.state = Some(ConnectionState::NotConnected);
        }
        drop(slots);
        self.changed.notify_waiters();
    }

    /// Re-dials `remote_id` with capped exponential backoff until a
    /// connection is up, the remote is removed, or the hub shuts down.
    async fn reconnect(self: Arc<Self>, remote_id: String) {
        let mut delay = BACKOFF_INITIAL;
        loop {
            tokio::select! {
                _ = self.shutdown.cancelled() => break,
                _ = tokio::time::sleep(delay) => {}
            }
            let Some(remote) = self.directory().remote(&remote_id) else {
                break;
            };
            match self.connect(&remote).await {
                Ok(_) => break,
                Err(e) => {
                    delay = (delay * 2).min(BACKOFF_MAX);
                    let mut slots = lock(&self.slots);
                    let slot = slots.entry(remote_id.clone()).or_default();
                    slot.down_since.get_or_insert_with(now_millis);
                    slot.state = Some(ConnectionState::Failed {
                        error: e.to_string(),
                        kind: e.kind(),
                        retry_at: now_millis() + delay.as_millis() as u64,
                    });
                    tracing::info!(remote = %remote_id, error = %e, retry_in_ms = delay.as_millis() as u64, "re-dial failed");
                }
            }
        }
        if let Some(slot) = lock(&self.slots).get_mut(&remote_id) {
            slot.reconnecting = false;
        }
    }

    /// The live connection to `remote`, dialing it if there is none. Callers
    /// that arrive while a dial is in progress wait for that dial.
    pub(crate) async fn connect(
        self: &Arc<Self>,
        remote: &RemoteSite,
    ) -> Result<Arc<Conn>, PeerError> {
        let deadline = tokio::time::Instant::now() + CONNECT_TIMEOUT + 2 * HANDSHAKE_TIMEOUT;
        let mut waited_for: Option<u64> = None;
        let mut dialed = false;
        loop {
            if self.shutdown.is_cancelled() {
                return Err(PeerError::Local("the peer channel is shutting down".into()));
            }
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let attempt = {
                let mut slots = lock(&self.slots);
                let slot = slots.entry(remote.id.clone()).or_default();
                if let Some(conn) = slot.live() {
                    return Ok(conn);
                }
                if let (Some(n), Some((failed, e))) = (waited_for, &slot.last_failure)
                    && *failed >= n
                    && !slot.dialing
                {
                    return Err(e.clone());
                }
                if slot.dialing {
                    waited_for = Some(slot.attempts);
                    None
                } else if dialed || slot.accepting > 0 {
                    // Our dial met the remote's winning connection: wait
                    // for it to arrive.
                    None
                } else {
                    slot.dialing = true;
                    slot.attempts += 1;
                    Some(slot.attempts)
                }
            };
            if let Some(attempt) = attempt {
                dialed = true;
                match self.dial_once(remote, attempt).await {
                    Ok(conn) => return Ok(conn),
                    Err(DialError::Failed(e)) => return Err(e),
                    Err(DialError::Duplicate) => continue,
                }
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Err(PeerError::Unreachable(
                    "no connection to the remote came up in time".into(),
                ));
            }
        }
    }

    async fn dial_once(
        self: &Arc<Self>,
        remote: &RemoteSite,
        attempt: u64,
    ) -> Result<Arc<Conn>, DialError> {
        let result = match local_config(self.directory()) {
            None => Err(DialError::Failed(PeerError::Local(
                "this node is not initialised".into(),
            ))),
            Some(local) => {
                match dial(
                    self.config.client_tls.clone(),
                    &local.site_id,
                    &local.fingerprint,
                    remote,
                )
                .await
                {
                    // The remote closing the connection right after its
                    // Welcome means it kept another one (tie-break): wait
                    // for that one rather than fail.
                    Ok(stream) => self
                        .install_stream(stream, &remote.id, true)
                        .map_err(|_| DialError::Duplicate),
                    Err(e) => Err(e),
                }
            }
        };
        {
            let mut slots = lock(&self.slots);
            let slot = slots.entry(remote.id.clone()).or_default();
            slot.dialing = false;
            if let Err(DialError::Failed(e)) = &result {
                slot.last_failure = Some((attempt, e.clone()));
                slot.down_since.get_or_insert_with(now_millis);
                slot.state = Some(ConnectionState::Failed {
                    error: e.to_string(),
                    kind: e.kind(),
                    retry_at: now_millis(),
                });
            }
        }
        self.changed.notify_waiters();
        result
    }

    pub(crate) fn live(&self, remote_id: &str) -> Option<Arc<Conn>> {
        lock(&self.slots).get(remote_id).and_then(Slot::live)
    }

    pub(crate) fn connection_state(&self, remote_id: &str) -> ConnectionState {
        let slots = lock(&self.slots);
        let Some(slot) = slots.get(remote_id) else {
            return ConnectionState::NotConnected;
        };
        if let Some(conn) = slot.live() {
            return ConnectionState::Connected { since: conn.since };
        }
        if slot.dialing {
            return ConnectionState::Connecting;
        }
        slot.state.clone().unwrap_or(ConnectionState::NotConnected)
    }

    /// Since when the remote has been without a connection after one
    /// dropped or a dial failed; `None` while connected or never tried.
    pub(crate) fn down_since(&self, remote_id: &str) -> Option<Millis> {
        let slots = lock(&self.slots);
        let slot = slots.get(remote_id)?;
        if slot.live().is_some() {
            return None;
        }
        slot.down_since
    }

    /// Stops accepting and dialing, and closes every connection (their jobs
    /// are cancelled on both sides).
    pub(crate) fn begin_shutdown(&self) -> Vec<Arc<Conn>> {
        self.shutdown.cancel();
        let conns: Vec<_> = lock(&self.slots)
            .values_mut()
            .filter_map(|s| s.conn.take())
            .collect();
        for conn in &conns {
            conn.close();
        }
        self.changed.notify_waiters();
        conns
    }

    pub(crate) async fn shutdown(&self) {
        let conns = self.begin_shutdown();
        let task = lock(&self.accept_task).take();
        if let Some(task) = task {
            // The loop ends at the token; awaiting it frees the port.
            let _ = task.await;
        }
        for conn in conns {
            // The control loop ends as soon as the socket is dropped.
            let _ = tokio::time::timeout(Duration::from_secs(1), conn.ended()).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::new_wins;

    #[test]
    fn both_sites_keep_the_connection_dialed_by_the_smaller_id() {
        // Simultaneous dials between "A" and "B": at A (local) and at B
        // (local) the same connection, the one A dialed, survives.
        // At A: existing = A's own dial, new = B's dial.
        assert!(!new_wins(true, false, "A", "B"));
        // At A: existing = B's dial, new = A's own dial.
        assert!(new_wins(false, true, "A", "B"));
        // At B: existing = B's own dial, new = A's dial.
        assert!(new_wins(true, false, "B", "A"));
        // At B: existing = A's dial, new = B's own dial.
        assert!(!new_wins(false, true, "B", "A"));
        // A re-dial by the same site replaces its old connection.
        assert!(new_wins(false, false, "B", "A"));
        assert!(new_wins(true, true, "B", "A"));
    }
}
