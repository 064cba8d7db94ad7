//! Key management: `POST/GET /admin/keys`, `DELETE /admin/keys/{key_id}`
//! (master key only) and `GET /admin/keys/me` (any key).
//!
//! **Who may manage keys.** The reference lets every valid key create and
//! revoke every other; here only the master key may, so a leaked named key
//! cannot mint itself successors or revoke the keys of others. A named key
//! may still ask who it is.

use std::sync::Arc;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Filter, Reply};

use super::error::{ServiceError, parse_json, respond};
use super::keys::{Caller, MASTER_LABEL, MAX_LABEL_CHARS, now_secs, rfc3339};
use super::store::KeyRecord;
use super::{DeidService, auth, blocking};

/// Longest and shortest expiry, in days (the reference's range).
pub const EXPIRY_DAYS: std::ops::RangeInclusive<i64> = 1..=3650;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateKey {
    /// The reference calls it `label`; `name` is accepted too.
    #[serde(alias = "name")]
    label: String,
    #[serde(default)]
    expires_in_days: Option<i64>,
}

/// A key's metadata: never its hash nor the key.
#[derive(Debug, Serialize)]
struct KeyInfo {
    key_id: String,
    label: String,
    created_at: String,
    expires_at: Option<String>,
    revoked_at: Option<String>,
    /// `active`, `expired` or `revoked`.
    status: &'static str,
}

impl KeyInfo {
    fn of(r: &KeyRecord, now: u64) -> KeyInfo {
        let status = if r.revoked_at.is_some() {
            "revoked"
        } else if r.expires_at.is_some_and(|at| at <= now) {
            "expired"
        } else {
            "active"
        };
        KeyInfo {
            key_id: r.key_id.clone(),
            label: r.label.clone(),
            created_at: rfc3339(r.created_at),
            expires_at: r.expires_at.map(rfc3339),
            revoked_at: r.revoked_at.map(rfc3339),
            status,
        }
    }
}

fn json(status: StatusCode, body: &impl Serialize) -> Response {
    warp::reply::with_status(warp::reply::json(body), status).into_response()
}

fn validate(req: &CreateKey) -> Result<Option<u32>, ServiceError> {
    let label = req.label.trim();
    if label.is_empty() || label.chars().count() > MAX_LABEL_CHARS {
        return Err(ServiceError::unprocessable(format!(
            "label must be 1 to {MAX_LABEL_CHARS} characters"
        )));
    }
    if label.chars().any(char::is_control) {
        return Err(ServiceError::unprocessable(
            "label must not contain control characters",
        ));
    }
    match req.expires_in_days {
        None => Ok(None),
        Some(d) if EXPIRY_DAYS.contains(&d) => Ok(Some(d as u32)),
        Some(_) => Err(ServiceError::unprocessable(
            "expires_in_days must be between 1 and 3650",
        )),
    }
}

async fn create(service: Arc<DeidService>, body: Bytes) -> Result<Response, ServiceError> {
    let req: CreateKey = parse_json(&body, "key request")?;
    let days = validate(&req)?;
    let label = req.label.trim().to_string();
    let new = blocking(move || {
        service
            .keys
            .create(&label, days, now_secs())
            .map_err(|e| ServiceError::internal(e.to_string()))
    })
    .await?;
    tracing::info!(key_id = %new.record.key_id, "API key created");
    let r = &new.record;
    Ok(json(
        StatusCode::CREATED,
        &serde_json::json!({
            "key_id": r.key_id,
            "label": r.label,
            "api_key": new.api_key.as_str(),
            "created_at": rfc3339(r.created_at),
            "expires_at": r.expires_at.map(rfc3339),
            "warning": "This key will not be shown again. Store it now.",
        }),
    ))
}

fn list(service: &DeidService) -> Response {
    let now = now_secs();
    let keys: Vec<KeyInfo> = service
        .keys
        .list()
        .iter()
        .map(|r| KeyInfo::of(r, now))
        .collect();
    json(StatusCode::OK, &serde_json::json!({ "keys": keys }))
}

async fn revoke(service: Arc<DeidService>, key_id: String) -> Result<Response, ServiceError> {
    let revoked = blocking(move || {
        service
            .keys
            .revoke(&key_id, now_secs())
            .map_err(|e| ServiceError::internal(e.to_string()))
    })
    .await?;
    match revoked {
        Some(r) => {
            tracing::info!(key_id = %r.key_id, "API key revoked");
            Ok(json(StatusCode::OK, &KeyInfo::of(&r, now_secs())))
        }
        None => Err(ServiceError::not_found("unknown key_id")),
    }
}

fn me(caller: Caller) -> Response {
    let body = match caller {
        Caller::Master => serde_json::json!({ "label": MASTER_LABEL, "key_id": null }),
        Caller::Named { key_id, label } => serde_json::json!({ "label": label, "key_id": key_id }),
    };
    json(StatusCode::OK, &body)
}

/// The key management routes. The method is matched before the key is
/// checked, so a request is charged to its key's rate once.
pub fn routes(service: Arc<DeidService>) -> BoxedFilter<(Response,)> {
    let s = service.clone();
    let create = warp::path!("admin" / "keys")
        .and(warp::post())
        .and(auth::master(service.clone()))
        .and(warp::body::bytes())
        .then(move |body| respond(create(s.clone(), body)));
    let s = service.clone();
    let list = warp::path!("admin" / "keys")
        .and(warp::get())
        .and(auth::master(service.clone()))
        .map(move || list(&s));
    let me = warp::path!("admin" / "keys" / "me")
        .and(warp::get())
        .and(auth::caller(service.clone()))
        .map(me);
    let s = service.clone();
    let revoke = warp::path!("admin" / "keys" / String)
        .and(warp::delete())
        .and(auth::master(service))
        .then(move |key_id| respond(revoke(s.clone(), key_id)));
    create
        .or(list)
        .unify()
        .or(me)
        .unify()
        .or(revoke)
        .unify()
        .boxed()
}
