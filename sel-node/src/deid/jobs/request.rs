//! Reading and checking a `POST /jobs` body.
//!
//! Error messages name the field and the index that is wrong and never
//! repeat a value: a document's text, its id, a webhook URL or secret could
//! each be sensitive.

use std::collections::HashSet;
use std::net::IpAddr;
use std::time::Duration;

use serde::{Deserialize, Deserializer};
use zeroize::Zeroizing;

use super::model::Method;
use super::webhook::Webhook;

/// Longest document text, in characters (the PHI processing API's limit).
pub const MAX_TEXT_CHARS: usize = 500_000;
/// Longest document id, in characters.
pub const MAX_DOCUMENT_ID_CHARS: usize = 256;
/// Shortest accepted webhook secret, in bytes: a shorter shared secret is
/// guessable from a single signed delivery.
pub const MIN_SECRET_BYTES: usize = 16;
/// Longest accepted webhook secret, in bytes.
pub const MAX_SECRET_BYTES: usize = 1024;
/// Longest accepted webhook URL.
pub const MAX_URL_BYTES: usize = 2048;
/// Webhook defaults when the body leaves them out (the reference's example).
pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;
pub const DEFAULT_BACKOFF_SECONDS: f64 = 0.5;

/// Limits a submission is checked against (from the settings).
#[derive(Debug, Clone, Copy)]
pub struct RequestLimits {
    pub max_documents: usize,
    pub max_job_bytes: usize,
    pub max_webhook_attempts: u32,
    pub max_backoff: Duration,
}

/// Why a body was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RequestError {
    /// Not JSON at all (400).
    #[error("{0}")]
    Malformed(String),
    /// JSON, but not a valid job (422).
    #[error("{0}")]
    Invalid(String),
}

fn invalid(msg: impl Into<String>) -> RequestError {
    RequestError::Invalid(msg.into())
}

#[derive(Deserialize)]
struct Body {
    documents: Vec<DocumentIn>,
    method: String,
    #[serde(default)]
    webhook: Option<WebhookIn>,
}

#[derive(Deserialize)]
struct DocumentIn {
    id: String,
    #[serde(deserialize_with = "zeroizing_string")]
    text: Zeroizing<String>,
}

#[derive(Deserialize)]
struct WebhookIn {
    url: String,
    #[serde(deserialize_with = "zeroizing_string")]
    secret: Zeroizing<String>,
    #[serde(default)]
    max_attempts: Option<u32>,
    #[serde(default)]
    backoff_seconds: Option<f64>,
}

fn zeroizing_string<'de, D: Deserializer<'de>>(d: D) -> Result<Zeroizing<String>, D::Error> {
    String::deserialize(d).map(Zeroizing::new)
}

/// One document of an accepted job; the text is wiped when dropped.
pub struct Document {
    pub id: String,
    pub text: Zeroizing<String>,
}

/// An accepted submission.
pub struct Submission {
    pub documents: Vec<Document>,
    pub method: Method,
    pub webhook: Option<Webhook>,
    /// UTF-8 bytes of all texts: what the job holds in memory.
    pub text_bytes: usize,
}

impl std::fmt::Debug for Submission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Submission")
            .field("documents", &self.documents.len())
            .field("method", &self.method)
            .field("webhook", &self.webhook)
            .finish()
    }
}

/// Parses and checks a body.
pub fn parse(body: &[u8], limits: &RequestLimits) -> Result<Submission, RequestError> {
    let parsed: Body = serde_json::from_slice(body).map_err(|e| {
        use serde_json::error::Category;
        // serde_json's messages may quote a value ("invalid type: string
        // \"…\""): only the position is passed on.
        let at = format!("line {}, column {}", e.line(), e.column());
        match e.classify() {
            Category::Data => invalid(format!(
                "body is not a job (documents: [{{id, text}}], method, webhook?) at {at}"
            )),
            _ => RequestError::Malformed(format!("body is not valid JSON at {at}")),
        }
    })?;
    let method = Method::parse(&parsed.method)
        .ok_or_else(|| invalid("method: unknown (expected mask, hash or redact)"))?;
    if parsed.documents.is_empty() {
        return Err(invalid("documents: at least one document is required"));
    }
    if parsed.documents.len() > limits.max_documents {
        return Err(invalid(format!(
            "documents: at most {} per job",
            limits.max_documents
        )));
    }
    let mut seen = HashSet::with_capacity(parsed.documents.len());
    let mut text_bytes = 0usize;
    for (i, doc) in parsed.documents.iter().enumerate() {
        let id_chars = doc.id.chars().count();
        if id_chars == 0 || id_chars > MAX_DOCUMENT_ID_CHARS {
            return Err(invalid(format!(
                "documents[{i}].id: must have 1 to {MAX_DOCUMENT_ID_CHARS} characters"
            )));
        }
        if doc.id.chars().any(char::is_control) {
            return Err(invalid(format!(
                "documents[{i}].id: must not contain control characters"
            )));
        }
        if !seen.insert(doc.id.as_str()) {
            return Err(invalid(format!("documents[{i}].id: duplicate document id")));
        }
        // A character takes at least one byte, so only a text with more
        // bytes than the limit can have too many characters.
        if doc.text.len() > MAX_TEXT_CHARS && doc.text.chars().count() > MAX_TEXT_CHARS {
            return Err(invalid(format!(
                "documents[{i}].text: more than {MAX_TEXT_CHARS} characters"
            )));
        }
        text_bytes = text_bytes.saturating_add(doc.text.len());
    }
    if text_bytes > limits.max_job_bytes {
        return Err(invalid(format!(
            "documents: texts total more than {} bytes",
            limits.max_job_bytes
        )));
    }
    let webhook = parsed
        .webhook
        .map(|w| check_webhook(w, limits))
        .transpose()?;
    let documents = parsed
        .documents
        .into_iter()
        .map(|d| Document {
            id: d.id,
            text: d.text,
        })
        .collect();
    Ok(Submission {
        documents,
        method,
        webhook,
        text_bytes,
    })
}

fn check_webhook(w: WebhookIn, limits: &RequestLimits) -> Result<Webhook, RequestError> {
    let url = check_url(&w.url)?;
    let secret_len = w.secret.len();
    if !(MIN_SECRET_BYTES..=MAX_SECRET_BYTES).contains(&secret_len) {
        return Err(invalid(format!(
            "webhook.secret: must have {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} bytes"
        )));
    }
    let max_attempts = w.max_attempts.unwrap_or(DEFAULT_MAX_ATTEMPTS);
    if max_attempts == 0 || max_attempts > limits.max_webhook_attempts {
        return Err(invalid(format!(
            "webhook.max_attempts: must be 1 to {}",
            limits.max_webhook_attempts
        )));
    }
    let backoff = w.backoff_seconds.unwrap_or(DEFAULT_BACKOFF_SECONDS);
    let max = limits.max_backoff.as_secs_f64();
    if !backoff.is_finite() || backoff < 0.0 || backoff > max {
        return Err(invalid(format!(
            "webhook.backoff_seconds: must be 0 to {max}"
        )));
    }
    Ok(Webhook {
        url,
        secret: Zeroizing::new(w.secret.as_bytes().to_vec()),
        max_attempts,
        backoff: Duration::from_secs_f64(backoff),
    })
}

/// A webhook URL must be `https`; plain `http` is accepted only to a
/// loopback address (a receiver on the same host: nothing crosses a
/// network). Credentials in the URL are refused: they would travel in the
/// clear to every redirect target and sit in memory beside the secret.
pub fn check_url(raw: &str) -> Result<reqwest::Url, RequestError> {
    if raw.len() > MAX_URL_BYTES {
        return Err(invalid(format!(
            "webhook.url: longer than {MAX_URL_BYTES} bytes"
        )));
    }
    let url = reqwest::Url::parse(raw).map_err(|_| invalid("webhook.url: not a valid URL"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("webhook.url: must not contain credentials"));
    }
    let Some(host) = url.host_str() else {
        return Err(invalid("webhook.url: has no host"));
    };
    let host_is_loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match url.scheme() {
        "https" => Ok(url),
        "http" if host_is_loopback => Ok(url),
        _ => Err(invalid(
            "webhook.url: must use https (plain http only to a loopback address)",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> RequestLimits {
        RequestLimits {
            max_documents: 3,
            max_job_bytes: 1000,
            max_webhook_attempts: 5,
            max_backoff: Duration::from_secs(10),
        }
    }

    fn check(body: serde_json::Value) -> Result<Submission, RequestError> {
        parse(&serde_json::to_vec(&body).unwrap(), &limits())
    }

    #[test]
    fn a_valid_job_is_accepted() {
        let s = check(serde_json::json!({
            "documents": [{"id": "a", "text": "Zoë"}, {"id": "b", "text": ""}],
            "method": "redact",
            "webhook": {"url": "https://example.org/hook", "secret": "0123456789abcdef"}
        }))
        .unwrap();
        assert_eq!(s.documents.len(), 2);
        assert_eq!(s.text_bytes, 4);
        let w = s.webhook.unwrap();
        assert_eq!(w.max_attempts, DEFAULT_MAX_ATTEMPTS);
        assert_eq!(w.backoff, Duration::from_millis(500));
    }

    #[test]
    fn errors_name_the_field_but_never_the_value() {
        let cases = [
            (
                serde_json::json!({"documents": [], "method": "mask"}),
                "at least one",
            ),
            (
                serde_json::json!({"documents": [{"id": "x", "text": "SECRETVALUE"}], "method": "tokenize"}),
                "method",
            ),
            (
                serde_json::json!({"documents": [{"id": "SECRETVALUE", "text": "a"}, {"id": "SECRETVALUE", "text": "b"}], "method": "mask"}),
                "documents[1].id: duplicate",
            ),
            (
                serde_json::json!({"documents": [{"id": "a", "text": "a"}, {"id": "b", "text": "b"}, {"id": "c", "text": "c"}, {"id": "d", "text": "d"}], "method": "mask"}),
                "at most 3",
            ),
            (
                serde_json::json!({"documents": [{"id": "a", "text": "x".repeat(1001)}], "method": "mask"}),
                "total more than 1000 bytes",
            ),
            (
                serde_json::json!({"documents": [{"id": "a", "text": 5}], "method": "mask"}),
                "not a job",
            ),
            (
                serde_json::json!({"documents": [{"id": "a", "text": "SECRETVALUE"}], "method": "mask",
                    "webhook": {"url": "http://example.org/SECRETVALUE", "secret": "0123456789abcdef"}}),
                "must use https",
            ),
            (
                serde_json::json!({"documents": [{"id": "a", "text": "a"}], "method": "mask",
                    "webhook": {"url": "https://u:SECRETVALUE@example.org/", "secret": "0123456789abcdef"}}),
                "credentials",
            ),
            (
                serde_json::json!({"documents": [{"id": "a", "text": "a"}], "method": "mask",
                    "webhook": {"url": "https://example.org/", "secret": "SECRETVALUE"}}),
                "webhook.secret",
            ),
            (
                serde_json::json!({"documents": [{"id": "a", "text": "a"}], "method": "mask",
                    "webhook": {"url": "https://example.org/", "secret": "0123456789abcdef", "max_attempts": 6}}),
                "max_attempts",
            ),
            (
                serde_json::json!({"documents": [{"id": "a", "text": "a"}], "method": "mask",
                    "webhook": {"url": "https://example.org/", "secret": "0123456789abcdef", "backoff_seconds": -1.0}}),
                "backoff_seconds",
            ),
        ];
        for (body, expected) in cases {
            match check(body) {
                Err(RequestError::Invalid(msg)) => {
                    assert!(msg.contains(expected), "{msg:?} lacks {expected:?}");
                    assert!(!msg.contains("SECRETVALUE"), "{msg:?} repeats a value");
                }
                other => panic!("expected Invalid({expected}), got {other:?}"),
            }
        }
        assert!(matches!(
            parse(b"{\"documents\": [", &limits()),
            Err(RequestError::Malformed(_))
        ));
    }

    #[test]
    fn text_length_counts_characters() {
        let limits = RequestLimits {
            max_job_bytes: usize::MAX,
            ..limits()
        };
        // 500,000 two-byte characters: 1,000,000 bytes but within the limit.
        let ok = serde_json::json!({"documents": [{"id": "a", "text": "é".repeat(MAX_TEXT_CHARS)}], "method": "mask"});
        assert!(parse(&serde_json::to_vec(&ok).unwrap(), &limits).is_ok());
        let over = serde_json::json!({"documents": [{"id": "a", "text": "e".repeat(MAX_TEXT_CHARS + 1)}], "method": "mask"});
        assert!(matches!(
            parse(&serde_json::to_vec(&over).unwrap(), &limits),
            Err(RequestError::Invalid(m)) if m.contains("500000 characters")
        ));
    }

    #[test]
    fn plain_http_only_to_loopback() {
        for ok in [
            "https://hooks.example.org/x",
            "http://127.0.0.1:9000/hook",
            "http://localhost/hook",
            "http://[::1]:80/",
        ] {
            assert!(check_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://10.0.0.1/hook",
            "http://example.org/",
            "ftp://127.0.0.1/",
            "not a url",
            "https://user@example.org/",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
    }
}
