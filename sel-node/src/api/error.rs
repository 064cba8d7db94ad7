//! Every way a REST request can fail, with the status SPEC §3 gives it.
//!
//! One enum so that the status, the `{"error": "..."}` body and the headers a
//! status calls for (`WWW-Authenticate` on 401, `Retry-After` on 503, `Allow`
//! on 405) are decided in one place. Messages say what was wrong and where
//! (JSON path, record index, field name); they are built only from names,
//! sizes and kinds, never from a key or a field value.

use std::net::SocketAddr;

use protocol_spec::messages::mainsel::{
    AuthHeaderError, IdError, InitLocalError, InitRemoteError, RecordRequestError,
    RecordsRequestError,
};
use serde::Serialize;
use warp::http::{HeaderValue, StatusCode, header};
use warp::reply::Response;

/// The header form quoted in 401 messages.
const AUTH_FORM: &str = "Authorization: apiKey apiKey=\"<key>\"";

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    // ---- step 1: routing ----
    #[error("no such endpoint")]
    NoRoute,
    #[error("method {method} is not allowed here; allowed: {allow}")]
    MethodNotAllowed { method: String, allow: String },

    // ---- step 2 ----
    #[error("the node has not been initialised (PUT /initLocal first)")]
    NotInitialised,

    // ---- step 3: 401 ----
    #[error("missing Authorization header; expected {AUTH_FORM}")]
    MissingAuth,
    #[error("malformed Authorization header ({0}); expected {AUTH_FORM}")]
    MalformedAuth(AuthHeaderError),
    #[error("more than one Authorization header")]
    RepeatedAuth,
    #[error("the API key is not valid")]
    WrongKey,

    // ---- step 4 ----
    #[error("invalid remote id in the path: {0}")]
    BadRemoteId(IdError),
    #[error("invalid job id in the path: a job id is 1 to 64 characters of [A-Za-z0-9_-]")]
    BadJobId,

    // ---- step 5 ----
    #[error("unknown remote \"{0}\"")]
    UnknownRemote(String),
    /// `GET /jobs/{id}` answers this with an empty body (SPEC §3).
    #[error("unknown job \"{0}\"")]
    UnknownJob(String),

    // ---- step 6 ----
    #[error("the request body exceeds this node's limit of {limit} bytes")]
    BodyTooLarge { limit: u64 },
    #[error("the request body could not be read: {0}")]
    BodyUnreadable(String),
    #[error("the body is not valid JSON: {0}")]
    NotJson(String),
    #[error("the body is not a valid {message}: {detail}")]
    BadShape {
        message: &'static str,
        detail: String,
    },
    #[error("{0}")]
    BadHeader(String),
    #[error("{0}")]
    BadQuery(String),

    // ---- step 7 ----
    #[error("{0}")]
    InitLocal(InitLocalError),
    #[error("{0}")]
    InitRemote(InitRemoteError),
    /// The manager refused a configuration (a rule beyond the message's own).
    #[error("{0}")]
    Config(String),
    /// 401 when the field names do not match, else 400.
    #[error("{0}")]
    Record(RecordRequestError),
    #[error("{0}")]
    Records(RecordsRequestError),
    #[error("too many records: {count} (this node accepts at most {limit})")]
    TooManyRecords { count: u64, limit: u64 },
    #[error("matching is not allowed with remote \"{0}\"")]
    MatchingNotAllowed(String),
    #[error("remote \"{0}\" has no linkage service: linkage jobs are not possible")]
    NoLinkageService(String),
    #[error("job \"{0}\" is already final ({1}) and cannot be cancelled")]
    JobFinal(String, &'static str),
    /// `/test`: the remote runs a different configuration; `/testLS`: no
    /// linkage service is configured.
    #[error("{0}")]
    Conflict(String),
    /// `/test`, `/testLS`: the other side cannot be reached, fails TLS or
    /// rejects this node; the message says which.
    #[error("{0}")]
    BadGateway(String),

    // ---- step 8 ----
    #[error("the job queue is full; retry in {retry_after_secs} s")]
    QueueFull { retry_after_secs: u64 },

    // ---- 500 ----
    /// The detail goes to the log, not to the client.
    #[error("internal error")]
    Internal(String),

    // ---- not a response: `serve` could not start ----
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// The JSON body of every error response (SPEC §3 "Errors").
#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        use ApiError::*;
        match self {
            NoRoute | UnknownRemote(_) | UnknownJob(_) => StatusCode::NOT_FOUND,
            MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            MissingAuth | MalformedAuth(_) | RepeatedAuth | WrongKey => StatusCode::UNAUTHORIZED,
            Record(e) if e.is_configuration_mismatch() => StatusCode::UNAUTHORIZED,
            Records(e) if e.is_configuration_mismatch() => StatusCode::UNAUTHORIZED,
            NotInitialised
            | BadRemoteId(_)
            | BadJobId
            | BodyUnreadable(_)
            | NotJson(_)
            | BadShape { .. }
            | BadHeader(_)
            | BadQuery(_)
            | InitLocal(_)
            | InitRemote(_)
            | Config(_)
            | Record(_)
            | Records(_)
            | TooManyRecords { .. } => StatusCode::BAD_REQUEST,
            MatchingNotAllowed(_) => StatusCode::FORBIDDEN,
            NoLinkageService(_) | JobFinal(..) | Conflict(_) => StatusCode::CONFLICT,
            BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            BadGateway(_) => StatusCode::BAD_GATEWAY,
            QueueFull { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Internal(_) | Bind { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The response: status, body and the headers the status calls for.
    pub fn into_response(self) -> Response {
        let status = self.status();
        if let ApiError::Internal(detail) = &self {
            tracing::error!(%detail, "request failed with an internal error");
        }
        let mut response = if matches!(self, ApiError::UnknownJob(_)) {
            // The reference: "the response body is empty".
            Response::new(Vec::new().into())
        } else {
            let message = self.to_string();
            let body = serde_json::to_vec(&ErrorBody { error: &message })
                .unwrap_or_else(|_| br#"{"error":"internal error"}"#.to_vec());
            let mut r = Response::new(body.into());
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            r
        };
        *response.status_mut() = status;
        let headers = response.headers_mut();
        match &self {
            ApiError::MethodNotAllowed { allow, .. } => {
                if let Ok(v) = HeaderValue::from_str(allow) {
                    headers.insert(header::ALLOW, v);
                }
            }
            ApiError::QueueFull { retry_after_secs } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            }
            // The body was not read, so HTTP/1.1 cannot go on with the next
            // request on this connection: hyper closes it after the answer.
            // Saying so keeps a keep-alive client from sending its next
            // request down the dead connection. (HTTP/2 ends only the
            // stream; hyper drops the header there.)
            ApiError::BodyTooLarge { .. } => {
                headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            _ if status == StatusCode::UNAUTHORIZED => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("apiKey"));
            }
            _ => {}
        }
        response
    }
}

/// A `serde_json` error as a message that names the problem and its position
/// but not the offending value: serde's "invalid type: string \"Müller\""
/// would otherwise put a field value (or a key sent with the wrong type) in
/// the response.
pub fn json_error(message: &'static str, e: &serde_json::Error) -> ApiError {
    let text = e.to_string();
    match e.classify() {
        serde_json::error::Category::Data => ApiError::BadShape {
            message,
            detail: redact_unexpected(&text),
        },
        _ => ApiError::NotJson(text),
    }
}

/// Replaces the value of serde's "invalid type/value: <kind> <value>,
/// expected …" by its kind alone. The value is quoted with `"` (strings) or
/// backticks (numbers, characters); everything before the first quote is the
/// kind. `rsplit` finds the real ", expected" even if the value contains it.
fn redact_unexpected(text: &str) -> String {
    for prefix in ["invalid type: ", "invalid value: "] {
        if let Some(rest) = text.strip_prefix(prefix) {
            let (unexpected, expected) = match rest.rsplit_once(", expected ") {
                Some((u, e)) => (u, Some(e)),
                None => (rest, None),
            };
            let kind = unexpected.split(['"', '`']).next().unwrap_or("").trim_end();
            return match expected {
                Some(e) => format!("{prefix}{kind}, expected {e}"),
                None => format!("{prefix}{kind}"),
            };
        }
    }
    text.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_err<T: serde::de::DeserializeOwned + std::fmt::Debug>(json: &str) -> String {
        let e = serde_json::from_str::<T>(json).unwrap_err();
        json_error("test", &e).to_string()
    }

    #[test]
    fn values_are_redacted_from_type_errors() {
        let m = parse_err::<u64>(r#""Müller, expected a secret""#);
        assert!(!m.contains("Müller"), "{m}");
        assert!(!m.contains("secret"), "{m}");
        assert!(m.contains("invalid type: string, expected u64"), "{m}");
        let m = parse_err::<String>("1234567");
        assert!(!m.contains("1234567"), "{m}");
        assert!(m.contains("invalid type: integer"), "{m}");
        let m = parse_err::<bool>("12.5");
        assert!(!m.contains("12.5"), "{m}");
    }

    #[test]
    fn a_refused_body_closes_the_connection() {
        let r = ApiError::BodyTooLarge { limit: 10 }.into_response();
        assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(r.headers()[header::CONNECTION], "close");
        let r = ApiError::NotJson("x".into()).into_response();
        assert!(r.headers().get(header::CONNECTION).is_none());
    }

    #[test]
    fn syntax_errors_are_not_json() {
        let e = serde_json::from_str::<Vec<u64>>("[1,").unwrap_err();
        assert!(matches!(json_error("x", &e), ApiError::NotJson(_)));
    }
}
