//! Every failure of the de-id service as a status and a JSON body
//! `{"detail": "<message>"}` (the reference is a FastAPI service), and the
//! recover handler that renders every rejection (ours, the other parts',
//! warp's own) that way.
//!
//! A message never contains a value, a token or a key: it says what was
//! wrong and where.

use std::convert::Infallible;

use warp::http::{HeaderValue, StatusCode, header};
use warp::reply::Response;
use warp::{Rejection, Reply};

/// A refused request: what the client is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceError {
    pub status: StatusCode,
    pub detail: String,
    /// Seconds, for 429 (and 503) answers.
    pub retry_after: Option<u64>,
}

impl warp::reject::Reject for ServiceError {}

impl ServiceError {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        ServiceError {
            status,
            detail: detail.into(),
            retry_after: None,
        }
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, detail)
    }
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, detail)
    }
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, detail)
    }
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, detail)
    }
    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, detail)
    }
    pub fn unprocessable(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, detail)
    }
    pub fn too_large(limit: u64) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body is larger than {limit} bytes"),
        )
    }
    pub fn internal(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, detail)
    }

    /// The answer: status, `{"detail"}` body, `Retry-After` when set.
    pub fn into_response(self) -> Response {
        detail_response(self.status, &self.detail, self.retry_after)
    }
}

/// A `{"detail": ...}` answer.
pub fn detail_response(status: StatusCode, detail: &str, retry_after: Option<u64>) -> Response {
    let body = serde_json::json!({ "detail": detail });
    let mut response = warp::reply::with_status(warp::reply::json(&body), status).into_response();
    if let Some(secs) = retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

/// Parses a JSON body: malformed JSON is 400, JSON of the wrong shape 422
/// (as FastAPI's validation). serde's message names the field and position
/// (or an unexpected value's *type*), never the value of a string.
pub fn parse_json<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    what: &str,
) -> Result<T, ServiceError> {
    serde_json::from_slice(bytes).map_err(|e| {
        use serde_json::error::Category;
        match e.classify() {
            Category::Data => ServiceError::unprocessable(format!("{what}: {}", data_error(&e))),
            Category::Syntax | Category::Eof | Category::Io => ServiceError::bad_request(format!(
                "{what}: malformed JSON at line {} column {}",
                e.line(),
                e.column()
            )),
        }
    })
}

/// serde's data error without anything quoted from the input: messages like
/// ``invalid value: string "123-45-6789", expected ...`` quote the value, so
/// only the part after the last "expected" and the position are kept, and
/// field names (which the client chose from our schema) for missing or
/// unknown fields.
fn data_error(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    let position = format!("at line {} column {}", e.line(), e.column());
    if msg.starts_with("missing field") || msg.starts_with("unknown field") {
        // "missing field `text`": the name is ours. An unknown field's name
        // is the client's; keep only the fact.
        if msg.starts_with("missing field") {
            let field = msg.split('`').nth(1).unwrap_or("?");
            return format!("missing field `{field}` {position}");
        }
        return format!("unknown field {position}");
    }
    match msg.rfind("expected") {
        Some(i) => {
            let expected = msg[i..].split(" at line").next().unwrap_or("");
            format!("invalid value, {expected} {position}")
        }
        None => format!("invalid value {position}"),
    }
}

/// A handler's result as the answer: its response, or its error's.
pub async fn respond(
    handler: impl std::future::Future<Output = Result<Response, ServiceError>>,
) -> Response {
    handler.await.unwrap_or_else(ServiceError::into_response)
}

/// Renders every rejection as `{"detail"}` with its status. Ours carry
/// their own; warp's are mapped one by one; anything else is a 500 (logged
/// by type only).
pub async fn recover(rejection: Rejection) -> Result<Response, Infallible> {
    use warp::reject;
    if let Some(e) = rejection.find::<ServiceError>() {
        return Ok(e.clone().into_response());
    }
    let (status, detail) = if rejection.is_not_found() {
        (StatusCode::NOT_FOUND, "Not Found")
    } else if rejection.find::<reject::MethodNotAllowed>().is_some() {
        (StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed")
    } else if rejection.find::<reject::PayloadTooLarge>().is_some() {
        (StatusCode::PAYLOAD_TOO_LARGE, "request body is too large")
    } else if rejection.find::<reject::LengthRequired>().is_some() {
        (StatusCode::LENGTH_REQUIRED, "Content-Length required")
    } else if rejection.find::<reject::UnsupportedMediaType>().is_some() {
        (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported media type")
    } else if rejection
        .find::<warp::filters::body::BodyDeserializeError>()
        .is_some()
    {
        (StatusCode::BAD_REQUEST, "malformed request body")
    } else if rejection.find::<reject::InvalidQuery>().is_some() {
        (StatusCode::BAD_REQUEST, "malformed query string")
    } else if rejection.find::<reject::MissingHeader>().is_some()
        || rejection.find::<reject::InvalidHeader>().is_some()
    {
        (StatusCode::BAD_REQUEST, "missing or invalid header")
    } else {
        tracing::warn!(rejection = ?rejection, "unhandled rejection");
        (StatusCode::INTERNAL_SERVER_ERROR, "internal error")
    };
    Ok(detail_response(status, detail, None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        text: String,
        n: Option<u32>,
    }

    #[test]
    fn json_errors_never_quote_values() {
        let e = parse_json::<Body>(br#"{"text": 5}"#, "body").unwrap_err();
        assert_eq!(e.status, StatusCode::UNPROCESSABLE_ENTITY);
        let e = parse_json::<Body>(br#"{"text": "x", "n": "123-45-6789"}"#, "body").unwrap_err();
        assert_eq!(e.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(!e.detail.contains("123-45-6789"), "{}", e.detail);
        let e = parse_json::<Body>(br#"{"text": "x", "secret-field": 1}"#, "body").unwrap_err();
        assert!(!e.detail.contains("secret-field"), "{}", e.detail);
        let e = parse_json::<Body>(br#"{}"#, "body").unwrap_err();
        assert!(e.detail.contains("`text`"), "{}", e.detail);
        let e = parse_json::<Body>(br#"{"text": "#, "body").unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
    }
}
