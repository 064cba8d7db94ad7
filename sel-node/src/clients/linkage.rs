//! The linkage-service client (SPEC §9): `/test`, `freshIDs`, `linkageResult`.
//!
//! (Signatures fixed for the job manager; the implementation is being built.)

use protocol_spec::messages::linkage::{LinkageResultRequest, LinkageResultResponse};
use protocol_spec::messages::mainsel::Connection;

/// Why a call to the linkage service failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LsError {
    /// Not reachable, timed out, 503 or 504: the job waits (HOLD) and retries.
    #[error("linkage service unavailable: {0}")]
    Unavailable(String),
    /// The service rejected the call (401, 400, 409, …): final.
    #[error("linkage service rejected the request ({status}): {message}")]
    Rejected { status: u16, message: String },
    /// The answer is not what SPEC §9 says.
    #[error("linkage service answered malformed data: {0}")]
    Malformed(String),
}

impl LsError {
    pub fn is_transient(&self) -> bool {
        matches!(self, LsError::Unavailable(_))
    }
}

pub struct LinkageClient {
    _private: (),
}

impl LinkageClient {
    pub fn new(_http: reqwest::Client) -> LinkageClient {
        unimplemented!("linkage service client")
    }

    /// `GET /test` with this node's key for that service.
    pub async fn test(&self, _ls: &Connection) -> Result<(), LsError> {
        unimplemented!("linkage service client")
    }

    /// `GET /freshIDs/{local_id}?count=n`, in batches.
    pub async fn fresh_ids(
        &self,
        _ls: &Connection,
        _local_id: &str,
        _count: u64,
    ) -> Result<Vec<String>, LsError> {
        unimplemented!("linkage service client")
    }

    /// `POST /linkageResult/{local_id}/{remote_id}`; long-polls until the
    /// partner's post arrives.
    pub async fn post_result(
        &self,
        _ls: &Connection,
        _local_id: &str,
        _remote_id: &str,
        _request: &LinkageResultRequest,
    ) -> Result<LinkageResultResponse, LsError> {
        unimplemented!("linkage service client")
    }
}
