//! Signed webhooks: the canonical body, its signature, and delivery with
//! retries.
//!
//! **Canonical JSON** (what is signed and sent, byte for byte): UTF-8; no
//! white space outside strings; object members sorted by the bytes of their
//! keys (UTF-8, ascending); strings escaped as `serde_json` does (`"` `\\`
//! and control characters escaped, `\n`-style short forms where they exist,
//! everything else literal UTF-8); integers in decimal; other numbers in the
//! shortest form that reads back to the same `f64` with at least one digit
//! after the point (`100.0`, `0.95`); `true`, `false`, `null`.
//!
//! **Signature**: `X-OpenMed-Signature: sha256=<hex>` where hex is lower-case
//! HMAC-SHA256 under the webhook secret (its UTF-8 bytes) of
//! `"<timestamp>.<body>"`, and `<timestamp>` is the decimal Unix time in
//! seconds sent as `X-OpenMed-Timestamp`. The timestamp is signed so a
//! receiver can refuse replays of old deliveries.

use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha2::Sha256;
use tracing::{debug, warn};
use zeroize::Zeroizing;

use super::model::{DeliveryError, WebhookDelivery, hex};

type HmacSha256 = Hmac<Sha256>;

pub const EVENT_HEADER: &str = "X-OpenMed-Event";
pub const TIMESTAMP_HEADER: &str = "X-OpenMed-Timestamp";
pub const SIGNATURE_HEADER: &str = "X-OpenMed-Signature";

/// `value` as canonical JSON (see the module documentation).
pub fn canonical_json(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => {
            let mut members: Vec<(&String, &Value)> = map.iter().collect();
            members.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push(b'{');
            for (i, (key, member)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_scalar(&Value::String(key.clone()), out);
                out.push(b':');
                write_canonical(member, out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out);
            }
            out.push(b']');
        }
        scalar => write_scalar(scalar, out),
    }
}

/// Strings, numbers, booleans and null as serde_json writes them compactly.
fn write_scalar(value: &Value, out: &mut Vec<u8>) {
    // Serialising a scalar into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, value);
}

/// `sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`.
pub fn sign(secret: &[u8], timestamp: &str, body: &[u8]) -> String {
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(secret).expect("HMAC takes any key");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex(&mac.finalize().into_bytes()))
}

/// Whether `header` (an `X-OpenMed-Signature` value) is the signature of
/// `body` sent at `timestamp` under `secret`. The comparison is constant
/// time. Freshness of `timestamp` is the receiver's to check.
pub fn verify_signature(secret: &[u8], timestamp: &str, body: &[u8], header: &str) -> bool {
    let Some(hex_mac) = header.trim().strip_prefix("sha256=") else {
        return false;
    };
    let Some(tag) = decode_hex(hex_mac) else {
        return false;
    };
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(secret).expect("HMAC takes any key");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&tag).is_ok()
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The webhook a job was submitted with. The secret lives only here, in
/// memory, and is zeroised when the job's delivery is over.
pub struct Webhook {
    pub url: reqwest::Url,
    pub secret: Zeroizing<Vec<u8>>,
    pub max_attempts: u32,
    pub backoff: Duration,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook")
            .field("max_attempts", &self.max_attempts)
            .field("backoff", &self.backoff)
            .finish_non_exhaustive()
    }
}

/// How deliveries are bounded (from the settings).
#[derive(Debug, Clone, Copy)]
pub struct DeliveryLimits {
    /// Longest one attempt may take.
    pub timeout: Duration,
    /// Longest wait between two attempts.
    pub max_backoff: Duration,
}

/// The wait after failed attempt `attempt` (1-based): `backoff ·
/// 2^(attempt-1)`, never above `max`.
pub fn backoff_after(backoff: Duration, attempt: u32, max: Duration) -> Duration {
    let doublings = attempt.saturating_sub(1).min(31);
    backoff.saturating_mul(1u32 << doublings).min(max)
}

/// POSTs `payload` (canonical JSON, signed) to the webhook until a 2xx or
/// its attempts are used up; `on_attempt` sees the outcome after each try.
pub async fn deliver(
    http: &reqwest::Client,
    webhook: &Webhook,
    limits: DeliveryLimits,
    event: &str,
    payload: &Value,
    on_attempt: &(dyn Fn(&WebhookDelivery) + Send + Sync),
) -> WebhookDelivery {
    let body = bytes::Bytes::from(canonical_json(payload));
    let mut outcome = WebhookDelivery::default();
    let attempts = webhook.max_attempts.max(1);
    loop {
        outcome.attempts += 1;
        // A fresh timestamp (and so signature) per attempt: a receiver that
        // rejects stale timestamps still accepts a late retry.
        let timestamp = (super::model::now_millis() / 1000).to_string();
        let signature = sign(&webhook.secret, &timestamp, &body);
        let sent = http
            .post(webhook.url.clone())
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(EVENT_HEADER, event)
            .header(TIMESTAMP_HEADER, &timestamp)
            .header(SIGNATURE_HEADER, signature)
            .timeout(limits.timeout)
            .body(body.clone())
            .send()
            .await;
        match sent {
            Ok(answer) => {
                let status = answer.status();
                outcome.last_status = Some(status.as_u16());
                if status.is_success() {
                    outcome.delivered = true;
                    outcome.last_error = None;
                } else {
                    outcome.last_error = Some(DeliveryError::Status);
                }
            }
            Err(e) => {
                outcome.last_status = None;
                outcome.last_error = Some(classify(&e));
            }
        }
        outcome.finished = outcome.delivered || outcome.attempts >= attempts;
        on_attempt(&outcome);
        if outcome.finished {
            if outcome.delivered {
                debug!(attempts = outcome.attempts, "job webhook delivered");
            } else {
                warn!(
                    attempts = outcome.attempts,
                    status = outcome.last_status,
                    error = ?outcome.last_error,
                    "job webhook not delivered"
                );
            }
            return outcome;
        }
        tokio::time::sleep(backoff_after(
            webhook.backoff,
            outcome.attempts,
            limits.max_backoff,
        ))
        .await;
    }
}

fn classify(e: &reqwest::Error) -> DeliveryError {
    if e.is_timeout() {
        DeliveryError::Timeout
    } else if e.is_connect() {
        // reqwest reports a failed TLS handshake as a connect error too;
        // both mean "no usable connection".
        DeliveryError::Connect
    } else {
        DeliveryError::Transport
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_sorts_keys_and_drops_white_space() {
        let value = serde_json::json!({
            "b": [1, 2.5, {"z": null, "a": true}],
            "a": "é\"\n",
            "B": 100.0,
        });
        assert_eq!(
            String::from_utf8(canonical_json(&value)).unwrap(),
            r#"{"B":100.0,"a":"é\"\n","b":[1,2.5,{"a":true,"z":null}]}"#
        );
    }

    #[test]
    fn signatures_verify_only_for_the_same_secret_timestamp_and_body() {
        let body = br#"{"event":"job.done"}"#;
        let header = sign(b"s3cret", "1700000000", body);
        assert!(header.starts_with("sha256=") && header.len() == 7 + 64);
        assert!(verify_signature(b"s3cret", "1700000000", body, &header));
        assert!(!verify_signature(b"other", "1700000000", body, &header));
        assert!(!verify_signature(b"s3cret", "1700000001", body, &header));
        assert!(!verify_signature(
            b"s3cret",
            "1700000000",
            br#"{"event":"job.failed"}"#,
            &header
        ));
        assert!(!verify_signature(
            b"s3cret",
            "1700000000",
            body,
            &header[7..]
        ));
        assert!(!verify_signature(
            b"s3cret",
            "1700000000",
            body,
            "sha256=zz"
        ));
        assert!(!verify_signature(b"s3cret", "1700000000", body, "sha256="));
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let b = Duration::from_millis(500);
        let cap = Duration::from_secs(3);
        assert_eq!(backoff_after(b, 1, cap), Duration::from_millis(500));
        assert_eq!(backoff_after(b, 2, cap), Duration::from_secs(1));
        assert_eq!(backoff_after(b, 3, cap), Duration::from_secs(2));
        assert_eq!(backoff_after(b, 4, cap), cap);
        assert_eq!(backoff_after(b, 400, cap), cap);
    }
}
