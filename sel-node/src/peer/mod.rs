//! The peer channel: one TLS port for all remotes, one multiplexed
//! connection per remote carrying every job between the two sites in both
//! directions.
//!
//! SPEC §3a is the protocol. Layout: [`wire`] the messages and their
//! framing; [`dial`] and [`accept`] the two ends of the handshake; [`conn`]
//! one authenticated connection (control session, requests, jobs);
//! [`hub`] the registry (one connection per remote, tie-break, re-dial);
//! [`diff`] the first configuration difference for `/test`; [`stream`] a
//! socket this node can close under a running multiplexer.

mod accept;
mod conn;
mod dial;
mod diff;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod hub;
mod stream;
mod wire;

use std::net::SocketAddr;
use std::sync::Arc;

use mpc_core::channel::MuxSession;
use tokio_util::sync::CancellationToken;

use crate::model::{Announce, IncomingJobs, Refusal, RemoteDirectory, RemoteSite};

/// Why a peer operation failed. Never contains a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeerError {
    /// TCP connect failed or timed out, or the connection dropped.
    #[error("the remote cannot be reached: {0}")]
    Unreachable(String),
    /// TLS failed (certificate not verified, wrong name, …).
    #[error("TLS with the remote failed: {0}")]
    Tls(String),
    /// The remote rejected this node's key, or does not know this site.
    #[error("the remote rejected this node: {0}")]
    Unauthorized(String),
    /// The remote runs a different linkage configuration; names the first difference.
    #[error("the remote's configuration differs: {0}")]
    ConfigMismatch(String),
    /// The remote refused the job.
    #[error("the remote refused the job: {0}")]
    Refused(Refusal),
    /// The remote sent something this node does not understand.
    #[error("peer protocol error: {0}")]
    Protocol(String),
    /// This node is not initialised, or is shutting down.
    #[error("{0}")]
    Local(String),
}

impl PeerError {
    /// The kind of failure in one word, for the status page (the message
    /// says more).
    pub fn kind(&self) -> &'static str {
        match self {
            PeerError::Unreachable(_) => "unreachable",
            PeerError::Tls(_) => "tls",
            PeerError::Unauthorized(_) => "unauthorized",
            PeerError::ConfigMismatch(_) => "config_mismatch",
            PeerError::Refused(_) => "refused",
            PeerError::Protocol(_) => "protocol",
            PeerError::Local(_) => "local",
        }
    }
}

/// Settings of the peer channel.
#[derive(Clone)]
pub struct PeerConfig {
    pub listen: SocketAddr,
    pub server_tls: Arc<rustls::ServerConfig>,
    pub client_tls: Arc<rustls::ClientConfig>,
}

/// The state of the connection to one remote, for `/test`, the status page
/// and metrics.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum ConnectionState {
    NotConnected,
    Connecting,
    Connected {
        since: crate::model::Millis,
    },
    /// The last attempt failed; the next one waits for the backoff.
    Failed {
        error: String,
        /// [`PeerError::kind`], or `dropped` for a connection that ended.
        kind: &'static str,
        retry_at: crate::model::Millis,
    },
}

/// A job's link to the remote, after the remote accepted it.
pub struct JobLink {
    /// The job's own session on the remote's connection.
    pub channel: MuxSession,
    /// N, as the remote announced it on acceptance.
    pub database_records: u64,
    /// Fired when the remote cancels the job or the connection drops.
    pub cancelled: CancellationToken,
    /// The connection's OT setup, shared by every job on it.
    pub ot: Arc<mpc_core::epilink::PeerOt>,
}

/// The running peer channel.
pub struct PeerHub {
    hub: Arc<hub::Hub>,
}

impl PeerHub {
    /// Binds the peer port and starts accepting remotes.
    pub async fn start(
        config: PeerConfig,
        directory: Arc<dyn RemoteDirectory>,
        incoming: Arc<dyn IncomingJobs>,
    ) -> Result<Arc<PeerHub>, PeerError> {
        let hub = hub::Hub::start(config, directory, incoming).await?;
        Ok(Arc::new(PeerHub { hub }))
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.hub.local_addr()
    }

    /// `/test/{remote}`: connect (or reuse the connection), authenticate, and
    /// compare the linkage configurations.
    pub async fn test(&self, remote: &RemoteSite) -> Result<(), PeerError> {
        let local = conn::local_config(self.hub.directory())
            .ok_or_else(|| PeerError::Local("this node is not initialised".into()))?;
        let conn = self.hub.connect(remote).await?;
        let profile = remote.profile();
        match conn.test(&local, profile).await {
            Err(PeerError::Unreachable(_)) if !conn.is_alive() => {
                // See `open_job`.
                self.hub.connect(remote).await?.test(&local, profile).await
            }
            result => result,
        }
    }

    /// Announces a job; on acceptance, its session. The hub chooses the
    /// session id (`announce.session` is overwritten) and sets the version.
    pub async fn open_job(
        &self,
        remote: &RemoteSite,
        announce: Announce,
    ) -> Result<JobLink, PeerError> {
        let conn = self.hub.connect(remote).await?;
        match conn.open_job(announce.clone()).await {
            Err(PeerError::Unreachable(_)) if !conn.is_alive() => {
                // The connection ended under the request: it lost a
                // tie-break to one dialed from the other side at the same
                // moment, or it dropped (the job, if the remote had
                // accepted it, was cancelled there with it). One more try
                // on the connection that is (or comes) up.
                self.hub.connect(remote).await?.open_job(announce).await
            }
            result => result,
        }
    }

    /// Tells the remote that a job is cancelled (best effort, returns at
    /// once). Also fires the job's own token on this side.
    pub fn cancel_job(&self, remote_id: &str, job_id: &str) {
        if let Some(conn) = self.hub.live(remote_id) {
            conn.cancel_job(job_id);
        }
    }

    pub fn connection_state(&self, remote_id: &str) -> ConnectionState {
        self.hub.connection_state(remote_id)
    }

    /// Since when `remote_id` has been down (its connection dropped or a
    /// dial failed, and none came up since), for the status page.
    pub fn down_since(&self, remote_id: &str) -> Option<crate::model::Millis> {
        self.hub.down_since(remote_id)
    }

    /// Bytes and frames on the live connection to `remote_id` (all jobs,
    /// framing included), for `/metrics`; `None` without a connection.
    pub fn wire_stats(&self, remote_id: &str) -> Option<mpc_core::channel::WireStats> {
        self.hub.live(remote_id).map(|c| c.wire_stats())
    }

    /// Closes every connection.
    pub async fn shutdown(&self) {
        self.hub.shutdown().await
    }
}

impl Drop for PeerHub {
    /// Background tasks hold the hub; without this a dropped `PeerHub`
    /// would keep its port and connections.
    fn drop(&mut self) {
        self.hub.begin_shutdown();
    }
}
