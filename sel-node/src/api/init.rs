//! `PUT /initLocal` and `PUT /initRemote/{remote_id}` (SPEC §3), with their
//! aliases (routed in [`super::routes::ROUTES`]).

use protocol_spec::messages::mainsel::{InitLocal, InitRemote, check_remote_id};
use warp::http::StatusCode;
use warp::reply::Response;

use super::error::ApiError;
use super::routes::{ApiState, Request};
use super::{auth, blocking, body, reply};
use crate::jobs::{ConfigError, InitOutcome};

/// Open until the node has a configuration; after that the current local
/// key is required (step 3), and the new key applies to later requests.
///
/// The key is checked before the body is read (the order of checks) and
/// again under `init_lock` just before the write: two first configurations
/// racing must not let the second one replace the first without its key.
pub async fn init_local(state: &ApiState, mut request: Request) -> Result<Response, ApiError> {
    if let Some(local) = state.manager.local() {
        auth::check_local_key(
            &request.headers,
            &local.init.local_authentication.shared_key,
        )?;
    }
    let init: InitLocal =
        body::read_json(&mut request, state.limits.max_body_bytes, "initLocal body").await?;
    init.validate().map_err(ApiError::InitLocal)?;
    let _serial = state.init_lock.lock().await;
    if let Some(local) = state.manager.local() {
        auth::check_local_key(
            &request.headers,
            &local.init.local_authentication.shared_key,
        )?;
    }
    let manager = state.manager.clone();
    let outcome = blocking(move || manager.init_local(init)).await?;
    outcome_response(outcome)
}

/// The id is checked here (step 4); an unknown id creates the remote.
pub async fn init_remote(
    state: &ApiState,
    remote_id: &str,
    mut request: Request,
) -> Result<Response, ApiError> {
    check_remote_id(remote_id).map_err(ApiError::BadRemoteId)?;
    let init: InitRemote =
        body::read_json(&mut request, state.limits.max_body_bytes, "initRemote body").await?;
    init.validate().map_err(ApiError::InitRemote)?;
    let manager = state.manager.clone();
    let id = remote_id.to_owned();
    let outcome = blocking(move || manager.init_remote(&id, init)).await?;
    outcome_response(outcome)
}

fn outcome_response(outcome: Result<InitOutcome, ConfigError>) -> Result<Response, ApiError> {
    match outcome {
        Ok(InitOutcome::Created) => Ok(reply::empty(StatusCode::NO_CONTENT)),
        Ok(InitOutcome::Updated) => Ok(reply::text(StatusCode::OK, "Updated connection")),
        Err(ConfigError::Invalid(message)) => Err(ApiError::Config(message)),
        Err(ConfigError::Store(detail)) => Err(ApiError::Internal(format!("store: {detail}"))),
    }
}
