//! The linkage-service client (SPEC §9): `/test`, `freshIDs`, `linkageResult`.
//!
//! Each call is one request (plus batching for `freshIDs`); the job manager
//! decides what to do with a failure, guided by [`LsError::is_transient`]:
//! an unreachable or overloaded service (connection errors, timeouts, 502,
//! 503, 504) is worth waiting for, anything else the service said is final.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_PAD_INDIFFERENT;
use protocol_spec::messages::linkage::{
    ErrorBody, FreshIdsResponse, LinkageResultRequest, LinkageResultResponse, SEALED_LID_LEN,
};
use protocol_spec::messages::mainsel::{Connection, authorization_header_value};
use reqwest::{StatusCode, Url};

use super::http::{BodyError, describe, describe_json, read_limited};

/// Why a call to the linkage service failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LsError {
    /// Not reachable, timed out, 502, 503 or 504: the job waits (HOLD) and retries.
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

/// Most LIDs asked for in one `freshIDs` call (the service allows more; a
/// bounded batch keeps each answer small and each request short).
pub const FRESH_IDS_BATCH: u64 = 100_000;

/// Longest `/test` and `freshIDs` request.
const CALL_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest `linkageResult` post: it long-polls until the partner posts (the
/// service's own job timeout is 30 s by default, and it answers 504 then).
const POST_TIMEOUT: Duration = Duration::from_secs(120);
/// Largest answer read: a client's `linkageResult` answer carries one LID
/// per query record, a `freshIDs` batch 100,000.
const MAX_ANSWER_BYTES: u64 = 256 * 1024 * 1024;
/// Longest error message kept from an error body.
const MAX_MESSAGE_CHARS: usize = 300;

pub struct LinkageClient {
    http: reqwest::Client,
    batch: u64,
}

impl LinkageClient {
    pub fn new(http: reqwest::Client) -> LinkageClient {
        LinkageClient {
            http,
            batch: FRESH_IDS_BATCH,
        }
    }

    /// Asks `freshIDs` for at most `batch` LIDs per call (1 to
    /// [`FRESH_IDS_BATCH`]; a service configured with a lower
    /// `--max-fresh-ids` needs a smaller batch).
    pub fn with_fresh_ids_batch(mut self, batch: u64) -> LinkageClient {
        self.batch = batch.clamp(1, FRESH_IDS_BATCH);
        self
    }

    /// `GET /test` with this node's key for that service.
    pub async fn test(&self, ls: &Connection) -> Result<(), LsError> {
        let url = endpoint(ls, &["test"])?;
        let resp = self.http.get(url).timeout(CALL_TIMEOUT);
        self.call(ls, resp).await.map(drop)
    }

    /// `GET /freshIDs/{local_id}?count=n`, in batches of at most
    /// [`FRESH_IDS_BATCH`] (or the smaller batch set); every LID must be a sealed LID (base64 of
    /// [`SEALED_LID_LEN`] bytes) and each batch exactly as long as asked.
    pub async fn fresh_ids(
        &self,
        ls: &Connection,
        local_id: &str,
        count: u64,
    ) -> Result<Vec<String>, LsError> {
        let mut lids = Vec::with_capacity(usize::try_from(count).unwrap_or(0).min(1 << 24));
        let mut left = count;
        while left > 0 {
            let n = left.min(self.batch);
            let mut url = endpoint(ls, &["freshIDs", local_id])?;
            url.query_pairs_mut().append_pair("count", &n.to_string());
            let body = self
                .call(ls, self.http.get(url).timeout(CALL_TIMEOUT))
                .await?;
            let answer: FreshIdsResponse = serde_json::from_slice(&body)
                .map_err(|e| LsError::Malformed(format!("freshIDs: {}", describe_json(&e))))?;
            if answer.linkage_ids.len() as u64 != n {
                return Err(LsError::Malformed(format!(
                    "freshIDs: asked for {n} LIDs, got {}",
                    answer.linkage_ids.len()
                )));
            }
            for (i, lid) in answer.linkage_ids.iter().enumerate() {
                let ok = STANDARD_PAD_INDIFFERENT
                    .decode(lid)
                    .is_ok_and(|b| b.len() == SEALED_LID_LEN);
                if !ok {
                    return Err(LsError::Malformed(format!(
                        "freshIDs: linkageIds[{i}] is not a sealed LID"
                    )));
                }
            }
            lids.extend(answer.linkage_ids);
            left -= n;
        }
        Ok(lids)
    }

    /// `POST /linkageResult/{local_id}/{remote_id}`; long-polls until the
    /// partner's post arrives.
    pub async fn post_result(
        &self,
        ls: &Connection,
        local_id: &str,
        remote_id: &str,
        request: &LinkageResultRequest,
    ) -> Result<LinkageResultResponse, LsError> {
        let url = endpoint(ls, &["linkageResult", local_id, remote_id])?;
        let body = serde_json::to_vec(request)
            .map_err(|e| LsError::Malformed(format!("linkageResult request: {e}")))?;
        let req = self
            .http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .timeout(POST_TIMEOUT);
        let answer = self.call(ls, req).await?;
        let reply: LinkageResultResponse = serde_json::from_slice(&answer)
            .map_err(|e| LsError::Malformed(format!("linkageResult: {}", describe_json(&e))))?;
        if let Some(error) = reply.error {
            return Err(LsError::Malformed(format!(
                "linkageResult: 200 with an error: {}",
                clip(&error)
            )));
        }
        Ok(reply)
    }

    /// Sends `req` with the service key and maps the outcome: the body of a
    /// 2xx, or the [`LsError`] for everything else.
    async fn call(
        &self,
        ls: &Connection,
        req: reqwest::RequestBuilder,
    ) -> Result<Vec<u8>, LsError> {
        let key = &ls.authentication.shared_key;
        let resp = req
            .header(
                reqwest::header::AUTHORIZATION,
                authorization_header_value(key),
            )
            .send()
            .await
            .map_err(|e| LsError::Unavailable(describe(e)))?;
        let status = resp.status();
        let body = read_limited(resp, MAX_ANSWER_BYTES)
            .await
            .map_err(|e| match e {
                BodyError::TooLarge { limit } => {
                    LsError::Malformed(format!("answer larger than {limit} bytes"))
                }
                BodyError::Transport(e) => LsError::Unavailable(describe(e)),
            })?;
        if status.is_success() {
            return Ok(body);
        }
        if matches!(
            status,
            StatusCode::BAD_GATEWAY | StatusCode::SERVICE_UNAVAILABLE | StatusCode::GATEWAY_TIMEOUT
        ) {
            return Err(LsError::Unavailable(format!(
                "status {}: {}",
                status.as_u16(),
                error_message(&body)
            )));
        }
        Err(LsError::Rejected {
            status: status.as_u16(),
            message: error_message(&body),
        })
    }
}

/// `{ls.url}/seg/seg…`: the segments are appended to the URL's path (a
/// trailing slash on the configured URL or not), percent-encoded if needed.
/// A URL that cannot take a path (`initRemote` validation keeps them out) is
/// a final error, `Rejected` with status 0: no request was sent.
fn endpoint(ls: &Connection, segments: &[&str]) -> Result<Url, LsError> {
    let invalid = || LsError::Rejected {
        status: 0,
        message: "linkageService.url is not a usable URL".into(),
    };
    let mut url = Url::parse(&ls.url).map_err(|_| invalid())?;
    url.path_segments_mut()
        .map_err(|_| invalid())?
        .pop_if_empty()
        .extend(segments);
    Ok(url)
}

/// The `error` of an error body (SPEC §9: every 4xx/5xx has one), clipped.
fn error_message(body: &[u8]) -> String {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(b) => clip(&b.error),
        Err(_) => "no error message".into(),
    }
}

fn clip(message: &str) -> String {
    let mut m: String = message.chars().take(MAX_MESSAGE_CHARS).collect();
    if m.len() < message.len() {
        m.push('…');
    }
    m
}
