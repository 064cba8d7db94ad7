//! The node's shared vocabulary and the seams between its modules.
//!
//! Every module of the node takes its domain types from here, so that the
//! store, the peer channel, the HTTP clients, the job runner and the REST API
//! never import each other's internals. The traits are the seams: the job
//! runner and the REST API are written against them, and `node.rs` plugs the
//! real implementations in. Keep this file small: a type belongs here only if
//! two modules need it.

use std::time::{SystemTime, UNIX_EPOCH};

use protocol_spec::messages::mainsel::{InitLocal, InitRemote, JobStatus, Profile};
use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch (all timestamps of the node).
pub type Millis = u64;

/// Now, in [`Millis`].
pub fn now_millis() -> Millis {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// What a job computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobMode {
    /// linkRecord(s): XOR shares go to the linkage service, LIDs to the callback.
    Linkage,
    /// matchRecord(s): the asking node learns two counts.
    Matching,
}

/// Which side of the 2PC this node plays in a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobSide {
    /// This node's registry asked (REST job); it inputs the query records.
    Client,
    /// A remote asked over the peer channel; this node inputs its database.
    Server,
}

/// Whether a job came from `linkRecord`/`matchRecord` (one record: the
/// callback's `result` is an object) or the plural endpoints (an array).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Cardinality {
    One,
    Many,
}

/// One entry of a job's status history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusChange {
    pub status: JobStatus,
    pub at: Millis,
    /// Why (for HOLD and FAULT); never a key, field value, share or LID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Where a job's callback delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryState {
    /// Nothing to deliver yet (job not final) or no callback (server side).
    None,
    /// Being delivered or waiting for a retry.
    Pending,
    Delivered,
    /// Gave up after the configured attempts.
    Failed,
}

/// The outcome of delivering a job's callback, recorded on the job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallbackDelivery {
    pub state: DeliveryState,
    pub attempts: u32,
    /// The last HTTP status the callback answered, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_status: Option<u16>,
    /// The last failure (connection refused, status 500, …), never the body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered_at: Option<Millis>,
}

impl Default for CallbackDelivery {
    fn default() -> Self {
        CallbackDelivery {
            state: DeliveryState::None,
            attempts: 0,
            last_status: None,
            last_error: None,
            delivered_at: None,
        }
    }
}

/// A job as stored and reported. Holds no patient data: the query records
/// of a client job are stored apart, sealed ([`crate::store::NodeStore`]),
/// and deleted when the job is final.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    /// Opaque `[A-Za-z0-9_-]{1,64}`, random, never `list`.
    pub id: String,
    pub remote_id: String,
    pub mode: JobMode,
    pub side: JobSide,
    pub cardinality: Cardinality,
    pub status: JobStatus,
    /// 0..=100, from the engine's progress reports.
    pub progress_percent: u8,
    pub created: Millis,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started: Option<Millis>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished: Option<Millis>,
    /// Why the job is in FAULT (or HOLD); never a secret or a value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Client jobs: the callback URL (not secret, but not logged either).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<String>,
    pub callback_delivery: CallbackDelivery,
    /// Number of query records (M).
    pub query_records: u64,
    /// Number of database records (N), once known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database_records: Option<u64>,
    /// Hex of the configuration fingerprint the job was created with.
    pub config_fingerprint: String,
    pub history: Vec<StatusChange>,
    /// Matching jobs: the two counts, once DONE (client side only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_counts: Option<(u64, u64)>,
}

/// The peer-channel protocol version carried by every control message.
pub const PEER_PROTOCOL_VERSION: u16 = 1;

/// A client node's request to a server node to take part in a job (sent on
/// the connection's control session). The server checks it before it
/// commits any resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Announce {
    pub version: u16,
    pub job_id: String,
    pub mode: JobMode,
    /// M: the client's query record count.
    pub query_records: u64,
    /// Hex of `mpc_core::epilink::fingerprint` of the client's configuration.
    pub config_fingerprint: String,
    /// The mux session id the 2PC of this job runs on.
    pub session: u64,
    /// The EpiLink profile the announcing node runs with this remote
    /// (`initRemote`'s `mpcProfile`). Absent in announcements of nodes that
    /// predate profiles, which run the default profile's knobs.
    #[serde(default)]
    pub profile: Profile,
}

/// Why a server node refused an announced job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "reason", content = "detail", rename_all = "snake_case")]
pub enum Refusal {
    /// No capacity now: the client's job goes to HOLD and retries.
    #[error("the remote is busy")]
    Busy,
    /// Matching is not allowed with the asking site (FAULT).
    #[error("the remote does not allow matching with this site")]
    MatchingNotAllowed,
    /// The configurations differ (FAULT); the detail names the first difference.
    #[error("configuration mismatch: {0}")]
    ConfigMismatch(String),
    /// The announced record count is above the remote's limit (FAULT).
    #[error("too many records: {0}")]
    TooManyRecords(String),
    /// The remote's data service failed or the remote is not initialised (FAULT).
    #[error("the remote cannot take part: {0}")]
    Unavailable(String),
    /// A message this version does not understand (FAULT).
    #[error("unsupported: {0}")]
    Unsupported(String),
}

impl Refusal {
    /// Whether the asking job should wait and retry (HOLD) rather than fail.
    pub fn is_transient(&self) -> bool {
        matches!(self, Refusal::Busy)
    }
}

/// The local site as configured by `initLocal`.
#[derive(Debug, Clone)]
pub struct LocalSite {
    pub init: InitLocal,
}

/// A remote as configured by `initRemote/{id}`.
#[derive(Debug, Clone)]
pub struct RemoteSite {
    pub id: String,
    pub init: InitRemote,
}

impl RemoteSite {
    /// The EpiLink profile configured for this remote (the default when
    /// `initRemote` named none).
    pub fn profile(&self) -> Profile {
        self.init.mpc_profile.unwrap_or_default()
    }
}

/// What the peer channel asks of the rest of the node: who we are and who
/// our remotes are (implemented by the job manager's state).
pub trait RemoteDirectory: Send + Sync + 'static {
    /// The local site and its configuration fingerprint (hex), once initialised.
    fn local(&self) -> Option<LocalSite>;
    fn remote(&self, id: &str) -> Option<RemoteSite>;
}

/// A job accepted by the server side, ready to run its 2PC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// N: the server's database record count.
    pub database_records: u64,
}

/// What the peer channel calls when a remote announces a job (implemented
/// by the job manager). `accept` runs before the server commits to the 2PC
/// (admission, then fetching the database); `run` runs the server side on
/// the job's session and returns when it is over.
#[async_trait::async_trait]
pub trait IncomingJobs: Send + Sync + 'static {
    async fn accept(&self, remote_id: &str, announce: &Announce) -> Result<Accepted, Refusal>;
    async fn run(
        &self,
        remote_id: &str,
        announce: Announce,
        channel: mpc_core::channel::MuxSession,
        ot: std::sync::Arc<mpc_core::epilink::PeerOt>,
        cancel: tokio_util::sync::CancellationToken,
    );
}

/// The refusal text of a profile mismatch, from this node's point of view:
/// names both profiles and where each is configured.
pub fn profile_difference(mine: Profile, theirs: Profile) -> String {
    format!(
        "mpcProfile differs: this node runs {mine} with the remote, the remote runs {theirs} \
         (set the same mpcProfile in initRemote on both nodes)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_announcement_without_a_profile_runs_the_default() {
        // Nodes that predate profiles send no `profile`: version 1 stays
        // readable and means the default profile (today's knobs).
        let old = r#"{"version":1,"job_id":"j","mode":"linkage","query_records":3,
            "config_fingerprint":"ab","session":1}"#;
        let a: Announce = serde_json::from_str(old).unwrap();
        assert_eq!(a.profile, Profile::default());
        let lan = Announce {
            profile: Profile::Lan,
            ..a
        };
        let text = serde_json::to_string(&lan).unwrap();
        assert!(text.contains(r#""profile":"lan""#), "{text}");
        assert_eq!(serde_json::from_str::<Announce>(&text).unwrap(), lan);
    }
}
