//! The PHI processing API: `/extract/phi`, `/anonymize/phi`,
//! `/deanonymize/phi`, `/tokenize/tokenize`, `/lookup/value2token` and
//! `/lookup/token2value`, with the reference's paths, query parameters,
//! bodies and answers (`phi-processing-api.txt`).
//!
//! Query parameters: `storage_type` picks the token backend (see
//! [`Backend::NAMES`]; absent means `KMS`, our sealed backend, as the
//! reference's default); `secret_key` selects the caller's namespace (see
//! [`crate::deid::tokens`]). The AWS-only parameters (`model`,
//! `aws_region`, `kms_key_id`, `kms_encryption_algorithm`) are accepted and
//! ignored: detection is the local engine and the sealed backend's key is
//! derived from the node key. `output_dir` is ignored too: the File backend's
//! path is fixed by the operator, never by a client. Query strings are never
//! logged (they may carry `secret_key`); only endpoint, status and counts.
//!
//! Errors are `{"detail": "..."}`: 400 for a body that is not JSON, 422 for a
//! body of the wrong shape, a text over 500,000 characters, a missing
//! `record_id` for `DynamoDBGroupedByRecord`, an unknown `storage_type` or
//! `phi_type`, or a malformed token; 404 for a token or value the backend
//! does not know; 409 for a token collision; 501 for what a backend cannot
//! do (value→token and tokenize on `KMS`, the File backend when disabled).
use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::{Reply, Response};
use zeroize::Zeroizing;

use super::EngineHandle;
use super::engine::char_to_byte;
use super::tokens::{Backend, Target, TokenError, TokenService, active_categories, category_of};

/// Most characters of `text` accepted (the reference's limit).
pub const MAX_TEXT_CHARS: usize = 500_000;

/// What the PHI processing API needs: the engine and the token backends.
pub struct PhiApi {
    engine: EngineHandle,
    tokens: Arc<TokenService>,
}

impl std::fmt::Debug for PhiApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PhiApi").finish_non_exhaustive()
    }
}

impl PhiApi {
    /// The API over `engine` (call [`EngineHandle::current`] per request, so
    /// categories added at run time apply at once) and `tokens`.
    pub fn new(engine: EngineHandle, tokens: Arc<TokenService>) -> PhiApi {
        PhiApi { engine, tokens }
    }

    pub fn tokens(&self) -> &Arc<TokenService> {
        &self.tokens
    }
}

/// A failed request: a status and a message without values, tokens or keys.
#[derive(Debug)]
struct Failure {
    status: StatusCode,
    detail: String,
}

impl Failure {
    fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Failure {
            status,
            detail: detail.into(),
        }
    }
    fn invalid(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, detail)
    }
}

impl From<TokenError> for Failure {
    fn from(e: TokenError) -> Self {
        use TokenError::*;
        let status = match &e {
            Unsupported { .. } | FileBackendDisabled => StatusCode::NOT_IMPLEMENTED,
            RecordIdRequired | InvalidRecordId | EmptyValue | ValueTooLong | NotAToken
            | UnknownCategory(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Collision => StatusCode::CONFLICT,
            WrongKey | Unseal | Store(_) => {
                tracing::error!(error = %e, "token backend failed");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        let detail = match e {
            // The category came from the client: do not echo it.
            UnknownCategory(_) => "phi_type is not an active category".to_string(),
            other => other.to_string(),
        };
        Failure::new(status, detail)
    }
}

fn reply_json<T: Serialize>(status: StatusCode, body: &T) -> Response {
    warp::reply::with_status(warp::reply::json(body), status).into_response()
}

fn render(result: Result<Response, Failure>) -> Response {
    match result {
        Ok(r) => r,
        Err(f) => reply_json(f.status, &json!({ "detail": f.detail })),
    }
}

/// The query parameters this API reads. Others (the AWS ones) are ignored.
struct Params {
    backend: Backend,
    secret_key: Option<Zeroizing<String>>,
}

fn params(query: Option<Vec<(String, String)>>) -> Result<Params, Failure> {
    let query =
        query.ok_or_else(|| Failure::new(StatusCode::BAD_REQUEST, "malformed query string"))?;
    let mut storage_type: Option<String> = None;
    let mut secret_key: Option<Zeroizing<String>> = None;
    for (name, value) in query {
        let value = Zeroizing::new(value);
        match name.as_str() {
            "storage_type" if storage_type.is_some() => {
                return Err(Failure::invalid("query parameter storage_type given twice"));
            }
            "storage_type" => storage_type = Some(value.to_string()),
            "secret_key" if secret_key.is_some() => {
                return Err(Failure::invalid("query parameter secret_key given twice"));
            }
            "secret_key" => secret_key = Some(value),
            _ => {}
        }
    }
    let backend = match storage_type {
        None => Backend::DEFAULT,
        Some(name) => Backend::parse(&name).ok_or_else(|| {
            Failure::invalid(
                "storage_type must be one of KMS, DynamoDBTokenBased, DynamoDBGroupedByRecord, File",
            )
        })?,
    };
    Ok(Params {
        backend,
        secret_key,
    })
}

/// Parses a JSON body: not JSON is 400, JSON of the wrong shape 422. The
/// message names the problem and its position, never a value (serde's
/// "invalid type: string \"…\"" would echo one).
fn body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Failure> {
    serde_json::from_slice(bytes).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => {
            let text = e.to_string();
            let what = if text.starts_with("missing field") {
                text.split(" at line")
                    .next()
                    .unwrap_or("missing field")
                    .to_string()
            } else {
                "a field has the wrong type or value".to_string()
            };
            Failure::invalid(format!(
                "body: {what} (line {}, column {})",
                e.line(),
                e.column()
            ))
        }
        _ => Failure::new(
            StatusCode::BAD_REQUEST,
            format!(
                "body is not valid JSON (line {}, column {})",
                e.line(),
                e.column()
            ),
        ),
    })
}

fn check_text(text: &str) -> Result<(), Failure> {
    if text.chars().count() > MAX_TEXT_CHARS {
        return Err(Failure::invalid(format!(
            "text is longer than {MAX_TEXT_CHARS} characters"
        )));
    }
    Ok(())
}

/// A random record id (UUID version 4 form), for requests without one.
fn new_record_id() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

#[derive(serde::Deserialize)]
struct TextBody {
    text: String,
    #[serde(default)]
    record_id: Option<String>,
}

#[derive(serde::Deserialize)]
struct AnonymizedBody {
    anonymized_text: String,
    #[serde(default)]
    record_id: Option<String>,
}

#[derive(serde::Deserialize)]
struct TokenizeBody {
    phi_type: String,
    value: String,
    #[serde(default)]
    record_id: Option<String>,
}

#[derive(serde::Deserialize)]
struct ValueBody {
    value: String,
    #[serde(default)]
    record_id: Option<String>,
}

#[derive(serde::Deserialize)]
struct TokenBody {
    token: String,
    #[serde(default)]
    record_id: Option<String>,
}

/// The six endpoints.
#[derive(Clone, Copy, Debug)]
enum Endpoint {
    Extract,
    Anonymize,
    Deanonymize,
    Tokenize,
    ValueToToken,
    TokenToValue,
}

impl Endpoint {
    fn name(self) -> &'static str {
        match self {
            Endpoint::Extract => "extract/phi",
            Endpoint::Anonymize => "anonymize/phi",
            Endpoint::Deanonymize => "deanonymize/phi",
            Endpoint::Tokenize => "tokenize/tokenize",
            Endpoint::ValueToToken => "lookup/value2token",
            Endpoint::TokenToValue => "lookup/token2value",
        }
    }
}

fn target(api: &PhiApi, p: &Params, record_id: Option<&str>) -> Result<Target, Failure> {
    Ok(api.tokens.target(
        p.backend,
        p.secret_key.as_deref().map(String::as_str),
        record_id,
    )?)
}

/// One request, run off the async workers (detection and store writes
/// block). Returns the response and a count for the log line.
fn handle(
    api: &PhiApi,
    endpoint: Endpoint,
    query: Option<Vec<(String, String)>>,
    bytes: &[u8],
) -> Result<(Response, usize), Failure> {
    match endpoint {
        Endpoint::Extract => {
            // Extract stores nothing, so it reads no token parameter; the
            // query is checked only to refuse a malformed one.
            if query.is_none() {
                return Err(Failure::new(
                    StatusCode::BAD_REQUEST,
                    "malformed query string",
                ));
            }
            let b: TextBody = body(bytes)?;
            check_text(&b.text)?;
            let findings = api.engine.current().detect(&b.text);
            let mut extracted: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for f in &findings {
                let value = &b.text[char_to_byte(&b.text, f.start)..char_to_byte(&b.text, f.end)];
                let values = extracted.entry(category_of(&f.label)).or_default();
                if !values.iter().any(|v| v == value) {
                    values.push(value.to_string());
                }
            }
            let record_id = b.record_id.unwrap_or_else(new_record_id);
            let reply = json!({ "record_id": record_id, "extracted_phi": extracted });
            Ok((reply_json(StatusCode::OK, &reply), findings.len()))
        }
        Endpoint::Anonymize => {
            let p = params(query)?;
            let b: TextBody = body(bytes)?;
            check_text(&b.text)?;
            let t = target(api, &p, b.record_id.as_deref())?;
            let findings = api.engine.current().detect(&b.text);
            let anonymized = api.tokens.anonymize(&t, &b.text, &findings)?;
            let record_id = b.record_id.unwrap_or_else(new_record_id);
            let reply = json!({
                "record_id": record_id,
                "anonymized_text": anonymized,
                "success": true,
            });
            Ok((reply_json(StatusCode::OK, &reply), findings.len()))
        }
        Endpoint::Deanonymize => {
            let p = params(query)?;
            let b: AnonymizedBody = body(bytes)?;
            let t = target(api, &p, b.record_id.as_deref())?;
            let (text, unresolved) = api.tokens.deanonymize(&t, &b.anonymized_text)?;
            let reply = json!({
                "record_id": b.record_id,
                "deanonymized_text": text,
                "success": true,
            });
            Ok((reply_json(StatusCode::OK, &reply), unresolved))
        }
        Endpoint::Tokenize => {
            let p = params(query)?;
            let b: TokenizeBody = body(bytes)?;
            let t = target(api, &p, b.record_id.as_deref())?;
            let active = active_categories(&api.engine.current().labels());
            if !active.contains(&b.phi_type) {
                return Err(TokenError::UnknownCategory(String::new()).into());
            }
            let token = api.tokens.tokenize(&t, &b.phi_type, &b.value)?;
            let reply = json!({
                "phi_type": b.phi_type,
                "value": b.value,
                "token": token,
                "record_id": b.record_id,
            });
            Ok((reply_json(StatusCode::OK, &reply), 1))
        }
        Endpoint::ValueToToken => {
            let p = params(query)?;
            let b: ValueBody = body(bytes)?;
            let t = target(api, &p, b.record_id.as_deref())?;
            let token = api
                .tokens
                .value_to_token(&t, &b.value)?
                .ok_or_else(|| Failure::new(StatusCode::NOT_FOUND, "no token for this value"))?;
            let reply = json!({ "value": b.value, "token": token });
            Ok((reply_json(StatusCode::OK, &reply), 1))
        }
        Endpoint::TokenToValue => {
            let p = params(query)?;
            let b: TokenBody = body(bytes)?;
            let t = target(api, &p, b.record_id.as_deref())?;
            let value = api.tokens.token_to_value(&t, &b.token)?.ok_or_else(|| {
                Failure::new(
                    StatusCode::NOT_FOUND,
                    "token not found (or it does not open under this storage_type and secret)",
                )
            })?;
            let reply = json!({ "token": b.token, "value": value.as_str() });
            Ok((reply_json(StatusCode::OK, &reply), 1))
        }
    }
}

async fn serve(
    api: Arc<PhiApi>,
    endpoint: Endpoint,
    query: Option<Vec<(String, String)>>,
    bytes: Bytes,
) -> Response {
    let joined = tokio::task::spawn_blocking(move || handle(&api, endpoint, query, &bytes)).await;
    let (response, count) = match joined {
        Ok(Ok((r, count))) => (r, count),
        Ok(Err(f)) => (render(Err(f)), 0),
        Err(_) => (
            render(Err(Failure::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the request failed",
            ))),
            0,
        ),
    };
    // Endpoint, status and a count: never text, values, tokens or the query.
    tracing::info!(
        endpoint = endpoint.name(),
        status = response.status().as_u16(),
        count,
        "phi api request"
    );
    response
}

fn route(
    api: &Arc<PhiApi>,
    auth: &BoxedFilter<()>,
    endpoint: Endpoint,
    path: BoxedFilter<()>,
) -> BoxedFilter<(Response,)> {
    // A query the deserialiser cannot read becomes `None` (a 400 from the
    // handler), not a rejection: the answer must not depend on recover order.
    let query = warp::query::<Vec<(String, String)>>()
        .map(Some)
        .or(warp::any().map(|| None))
        .unify();
    let api = Arc::clone(api);
    path.and(warp::post())
        .and(auth.clone())
        .and(query)
        .and(warp::body::bytes())
        .then(move |query, bytes| serve(Arc::clone(&api), endpoint, query, bytes))
        .boxed()
}

/// The routes of the PHI processing API, each behind `auth` (D1's key and
/// rate-limit filter).
pub fn routes(api: Arc<PhiApi>, auth: BoxedFilter<()>) -> BoxedFilter<(Response,)> {
    let r = |endpoint, path| route(&api, &auth, endpoint, path);
    r(Endpoint::Extract, warp::path!("extract" / "phi").boxed())
        .or(r(
            Endpoint::Anonymize,
            warp::path!("anonymize" / "phi").boxed(),
        ))
        .unify()
        .or(r(
            Endpoint::Deanonymize,
            warp::path!("deanonymize" / "phi").boxed(),
        ))
        .unify()
        .or(r(
            Endpoint::Tokenize,
            warp::path!("tokenize" / "tokenize").boxed(),
        ))
        .unify()
        .or(r(
            Endpoint::ValueToToken,
            warp::path!("lookup" / "value2token").boxed(),
        ))
        .unify()
        .or(r(
            Endpoint::TokenToValue,
            warp::path!("lookup" / "token2value").boxed(),
        ))
        .unify()
        .boxed()
}
