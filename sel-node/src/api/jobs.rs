//! The job endpoints: `linkRecord(s)`, `matchRecord(s)`, `jobs/{job_id}`
//! (GET status, DELETE cancel) and `jobs/list` (SPEC §3).

use protocol_spec::messages::mainsel::{
    JobStatus, JobsList, RecordRequest, RecordsRequest, WireRecord, check_remote_id,
};
use serde::Serialize;
use warp::http::{StatusCode, header};
use warp::reply::Response;

use super::error::ApiError;
use super::routes::{ApiState, Request};
use super::{blocking, body, reply};
use crate::jobs::{NewJob, SubmitError};
use crate::model::{
    CallbackDelivery, Cardinality, JobMode, JobRecord, JobSide, LocalSite, Millis, StatusChange,
};

/// Longest `Idempotency-Key` accepted.
const MAX_IDEMPOTENCY_KEY: usize = 255;

/// Creates a job (202) after steps 4 to 8 of the order of checks.
///
/// Within step 7 the remote's policy (403 matching not allowed, 409 no
/// linkage service) comes before the records are converted: no value check
/// can make such a request succeed, and converting 10,000 records to refuse
/// them anyway would be wasted work.
pub async fn submit(
    state: &ApiState,
    local: &LocalSite,
    remote_id: &str,
    mode: JobMode,
    cardinality: Cardinality,
    mut request: Request,
) -> Result<Response, ApiError> {
    check_remote_id(remote_id).map_err(ApiError::BadRemoteId)?;
    let Some(remote) = state.manager.remote(remote_id) else {
        return Err(ApiError::UnknownRemote(remote_id.to_owned()));
    };

    let idempotency_key = idempotency_key(&request)?;
    let limit = state.limits.max_body_bytes;
    let (callback_url, body) = match cardinality {
        Cardinality::One => {
            let r: RecordRequest =
                body::read_json(&mut request, limit, message_name(mode, cardinality)).await?;
            (r.callback.url.clone(), Body::One(r))
        }
        Cardinality::Many => {
            let r: RecordsRequest =
                body::read_json(&mut request, limit, message_name(mode, cardinality)).await?;
            (r.callback.url.clone(), Body::Many(r))
        }
    };

    match mode {
        JobMode::Matching if !remote.init.matching_allowed => {
            return Err(ApiError::MatchingNotAllowed(remote_id.to_owned()));
        }
        JobMode::Linkage if remote.init.linkage_service.is_none() => {
            return Err(ApiError::NoLinkageService(remote_id.to_owned()));
        }
        _ => {}
    }
    let config = local
        .init
        .validate()
        .map_err(|e| ApiError::Internal(format!("the stored local configuration: {e}")))?;
    let records = match body {
        Body::One(r) => {
            r.validate(&config).map_err(ApiError::Record)?;
            vec![WireRecord {
                fields: r.fields,
                id: None,
            }]
        }
        Body::Many(r) => {
            r.validate(&config).map_err(ApiError::Records)?;
            // SPEC §3: "Each record's id, if present, is ignored."
            r.records
                .into_iter()
                .map(|rec| WireRecord {
                    fields: rec.fields,
                    id: None,
                })
                .collect()
        }
    };

    let job = NewJob {
        remote_id: remote_id.to_owned(),
        mode,
        cardinality,
        callback_url,
        records,
        idempotency_key,
    };
    let manager = state.manager.clone();
    let submitted = blocking(move || manager.submit(job))
        .await?
        .map_err(submit_error)?;
    Ok(reply::accepted(&submitted.job_id))
}

enum Body {
    One(RecordRequest),
    Many(RecordsRequest),
}

fn message_name(mode: JobMode, cardinality: Cardinality) -> &'static str {
    match (mode, cardinality) {
        (JobMode::Linkage, Cardinality::One) => "linkRecord body",
        (JobMode::Linkage, Cardinality::Many) => "linkRecords body",
        (JobMode::Matching, Cardinality::One) => "matchRecord body",
        (JobMode::Matching, Cardinality::Many) => "matchRecords body",
    }
}

/// The `Idempotency-Key` header: at most one, 1 to 255 visible ASCII
/// characters (it is stored with the job, so it is bounded).
fn idempotency_key(request: &Request) -> Result<Option<String>, ApiError> {
    const RULE: &str = "Idempotency-Key must be one header of 1 to 255 visible ASCII characters";
    let mut values = request.headers.get_all("idempotency-key").iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(ApiError::BadHeader(RULE.into()));
    }
    let bytes = value.as_bytes();
    if bytes.is_empty()
        || bytes.len() > MAX_IDEMPOTENCY_KEY
        || !bytes.iter().all(|b| (0x21..=0x7e).contains(b))
    {
        return Err(ApiError::BadHeader(RULE.into()));
    }
    Ok(Some(String::from_utf8_lossy(bytes).into_owned()))
}

fn submit_error(e: SubmitError) -> ApiError {
    match e {
        SubmitError::UnknownRemote(id) => ApiError::UnknownRemote(id),
        SubmitError::MatchingNotAllowed(id) => ApiError::MatchingNotAllowed(id),
        SubmitError::NoLinkageService(id) => ApiError::NoLinkageService(id),
        SubmitError::TooManyRecords { count, limit } => ApiError::TooManyRecords { count, limit },
        SubmitError::QueueFull { retry_after_secs } => ApiError::QueueFull { retry_after_secs },
        SubmitError::Store(detail) => ApiError::Internal(format!("store: {detail}")),
    }
}

/// A job id as SPEC §3 defines it: `[A-Za-z0-9_-]{1,64}`.
fn check_job_id(id: &str) -> Result<(), ApiError> {
    let ok = (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok { Ok(()) } else { Err(ApiError::BadJobId) }
}

fn known_job(state: &ApiState, job_id: &str) -> Result<JobRecord, ApiError> {
    check_job_id(job_id)?;
    state
        .manager
        .job(job_id)
        .ok_or_else(|| ApiError::UnknownJob(job_id.to_owned()))
}

/// `GET /jobs/{job_id}`: the status word as plain text, or the job as JSON
/// with `Accept: application/json` or `?format=json`.
pub fn status(state: &ApiState, job_id: &str, request: &Request) -> Result<Response, ApiError> {
    let job = known_job(state, job_id)?;
    if wants_json(request)? {
        Ok(reply::json(StatusCode::OK, &JobView::from(&job)))
    } else {
        Ok(reply::text(StatusCode::OK, job.status.as_str()))
    }
}

/// `?format=json|text` decides; without it, an `Accept` header naming
/// `application/json` (or `application/*`) with a non-zero quality does.
fn wants_json(request: &Request) -> Result<bool, ApiError> {
    let mut format = None;
    for pair in request.query.as_deref().unwrap_or("").split('&') {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        if name != "format" {
            continue;
        }
        if format.is_some() {
            return Err(ApiError::BadQuery(
                "query parameter format is given more than once".into(),
            ));
        }
        format = Some(match value {
            "json" => true,
            "text" => false,
            _ => {
                return Err(ApiError::BadQuery(
                    "query parameter format must be json or text".into(),
                ));
            }
        });
    }
    if let Some(json) = format {
        return Ok(json);
    }
    Ok(request
        .headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(accepts_json))
}

fn accepts_json(range: &str) -> bool {
    let mut parts = range.split(';');
    let media = parts.next().unwrap_or("").trim();
    let json = media.eq_ignore_ascii_case("application/json")
        || media.eq_ignore_ascii_case("application/*");
    let refused = parts.any(|p| {
        p.trim()
            .strip_prefix("q=")
            .and_then(|q| q.trim().parse::<f32>().ok())
            .is_some_and(|q| q <= 0.0)
    });
    json && !refused
}

/// The JSON form of a job. Times are milliseconds since the Unix epoch;
/// `started`, `finished` and `error` are `null` until they exist. No patient
/// data, key or callback URL.
#[derive(Serialize)]
struct JobView<'a> {
    id: &'a str,
    remote_id: &'a str,
    mode: JobMode,
    side: JobSide,
    status: JobStatus,
    progress_percent: u8,
    created: Millis,
    started: Option<Millis>,
    finished: Option<Millis>,
    error: Option<&'a str>,
    callback_delivery: &'a CallbackDelivery,
    query_records: u64,
    database_records: Option<u64>,
    history: &'a [StatusChange],
}

impl<'a> From<&'a JobRecord> for JobView<'a> {
    fn from(j: &'a JobRecord) -> Self {
        JobView {
            id: &j.id,
            remote_id: &j.remote_id,
            mode: j.mode,
            side: j.side,
            status: j.status,
            progress_percent: j.progress_percent,
            created: j.created,
            started: j.started,
            finished: j.finished,
            error: j.error.as_deref(),
            callback_delivery: &j.callback_delivery,
            query_records: j.query_records,
            database_records: j.database_records,
            history: &j.history,
        }
    }
}

/// `GET /jobs/list`: job id → status, oldest first.
pub fn list(state: &ApiState) -> Response {
    let list: JobsList = state
        .manager
        .jobs()
        .into_iter()
        .map(|j| (j.id, j.status))
        .collect();
    reply::json(StatusCode::OK, &list)
}

/// `DELETE /jobs/{job_id}`: 202 when the job was cancelled (it is FAULT
/// "cancelled" from now on), 409 when it was already final.
pub async fn cancel(state: &ApiState, job_id: &str) -> Result<Response, ApiError> {
    let job = known_job(state, job_id)?;
    if job.status.is_final() {
        return Err(ApiError::JobFinal(job.id, job.status.as_str()));
    }
    let manager = state.manager.clone();
    let id = job.id.clone();
    if blocking(move || manager.cancel(&id)).await? {
        return Ok(reply::accepted(&job.id));
    }
    // It became final (or vanished) between the two calls.
    match state.manager.job(job_id) {
        Some(j) if j.status.is_final() => Err(ApiError::JobFinal(j.id, j.status.as_str())),
        Some(_) => Err(ApiError::Internal(
            "cancel refused a job that is not final".into(),
        )),
        None => Err(ApiError::UnknownJob(job_id.to_owned())),
    }
}
