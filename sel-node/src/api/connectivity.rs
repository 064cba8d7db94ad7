//! `GET /test/{remote_id}` and `GET /testLS/{remote_id}` (the reference's
//! I.3 and I.4): the node reaches out and reports what it found.

use protocol_spec::messages::mainsel::check_remote_id;
use warp::http::StatusCode;
use warp::reply::Response;

use super::error::ApiError;
use super::reply;
use super::routes::ApiState;
use crate::jobs::TestError;
use crate::peer::PeerError;

pub async fn test_remote(state: &ApiState, remote_id: &str) -> Result<Response, ApiError> {
    known_remote(state, remote_id)?;
    state
        .manager
        .test_remote(remote_id)
        .await
        .map_err(test_error)?;
    Ok(reply::text(StatusCode::OK, "Remotes Connected"))
}

pub async fn test_linkage_service(state: &ApiState, remote_id: &str) -> Result<Response, ApiError> {
    known_remote(state, remote_id)?;
    state
        .manager
        .test_linkage_service(remote_id)
        .await
        .map_err(test_error)?;
    Ok(reply::text(StatusCode::OK, "Linkage Service connected"))
}

/// Steps 4 and 5.
fn known_remote(state: &ApiState, remote_id: &str) -> Result<(), ApiError> {
    check_remote_id(remote_id).map_err(ApiError::BadRemoteId)?;
    match state.manager.remote(remote_id) {
        Some(_) => Ok(()),
        None => Err(ApiError::UnknownRemote(remote_id.to_owned())),
    }
}

/// 404 unknown remote, 409 for a configuration that differs or a missing
/// linkage service, 502 for everything the other side did or failed to do.
fn test_error(e: TestError) -> ApiError {
    match e {
        TestError::UnknownRemote(id) => ApiError::UnknownRemote(id),
        e @ (TestError::NoLinkageService(_) | TestError::Peer(PeerError::ConfigMismatch(_))) => {
            ApiError::Conflict(e.to_string())
        }
        TestError::Peer(PeerError::Local(m)) => ApiError::Internal(m),
        e @ (TestError::Peer(_) | TestError::LinkageService(_)) => {
            ApiError::BadGateway(e.to_string())
        }
    }
}
