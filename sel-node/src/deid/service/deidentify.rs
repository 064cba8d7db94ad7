//! `POST /pii/deidentify`: detect, then transform each finding by the
//! policy (the service default laid under the request's overrides), and
//! answer `{result_text, entities, time_ms}` as the reference service does.
//!
//! **Matched values are echoed** (`entities[].text`): the page shows them,
//! and the caller sent the text, so the answer tells it nothing it did not
//! have. They are never logged; answers carry `Cache-Control: no-store`.
//!
//! The `token` action comes from the token service through [`Tokenizer`];
//! without one plugged in it is refused with 501.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;

use super::error::{ServiceError, parse_json, respond};
use super::settings::{MAX_TEXT_CHARS, PolicyAction, valid_label};
use super::{DeidService, auth, blocking};
use crate::deid::{Action, Finding, Policy};

/// Why a token could not be made. The message must not hold the value.
#[derive(Debug, thiserror::Error)]
pub enum TokenizerError {
    /// The token service cannot answer now (503).
    #[error("token service unavailable: {0}")]
    Unavailable(String),
    /// Anything else (500).
    #[error("token service failed: {0}")]
    Failed(String),
}

/// The token service as `/pii/deidentify` sees it: one token per value of
/// a label (the token service decides how: deterministic, stored, sealed).
pub trait Tokenizer: Send + Sync {
    fn token_for(&self, label: &str, value: &str) -> Result<String, TokenizerError>;
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeidentifyRequest {
    text: String,
    /// Action per label, over the service's default policy.
    #[serde(default)]
    policy: BTreeMap<String, PolicyAction>,
    /// Action for labels neither policy names.
    #[serde(default)]
    default_action: Option<PolicyAction>,
}

#[derive(Debug, Serialize)]
struct Entity {
    label: String,
    start: usize,
    end: usize,
    /// The matched value (see the module doc).
    text: String,
    action: PolicyAction,
    confidence: f32,
    recognizer: String,
}

#[derive(Debug, Serialize)]
struct DeidentifyResponse {
    result_text: String,
    entities: Vec<Entity>,
    time_ms: f64,
}

/// The effective policy of one request.
struct RequestPolicy {
    default: PolicyAction,
    per_label: BTreeMap<String, PolicyAction>,
}

impl RequestPolicy {
    fn action(&self, label: &str) -> PolicyAction {
        self.per_label.get(label).copied().unwrap_or(self.default)
    }
}

fn as_action(a: PolicyAction) -> Action {
    match a {
        PolicyAction::Mask => Action::Mask,
        PolicyAction::Hash => Action::Hash,
        PolicyAction::Redact => Action::Redact,
        // Token findings never reach the text policy; keep is harmless.
        PolicyAction::Keep | PolicyAction::Token => Action::Keep,
    }
}

/// Byte range of every finding (char offsets in), in one pass over the text.
fn byte_ranges(text: &str, findings: &[Finding]) -> Vec<Option<(usize, usize)>> {
    let mut wanted: Vec<usize> = findings.iter().flat_map(|f| [f.start, f.end]).collect();
    wanted.sort_unstable();
    wanted.dedup();
    let mut byte_of = BTreeMap::new();
    let mut w = wanted.iter().peekable();
    let ends = text
        .char_indices()
        .map(|(b, _)| b)
        .chain(std::iter::once(text.len()));
    for (ci, bi) in ends.enumerate() {
        while w.peek().is_some_and(|&&c| c == ci) {
            byte_of.insert(ci, bi);
            w.next();
        }
    }
    findings
        .iter()
        .map(|f| match (byte_of.get(&f.start), byte_of.get(&f.end)) {
            (Some(&s), Some(&e)) if s <= e => Some((s, e)),
            _ => None,
        })
        .collect()
}

impl DeidService {
    fn request_policy(&self, req: &DeidentifyRequest) -> Result<RequestPolicy, ServiceError> {
        let mut per_label = self.config.policy.clone();
        for (label, action) in &req.policy {
            let label = label.to_ascii_uppercase();
            if !valid_label(&label) {
                return Err(ServiceError::unprocessable(
                    "policy labels must match [A-Za-z][A-Za-z0-9_]*",
                ));
            }
            per_label.insert(label, *action);
        }
        let policy = RequestPolicy {
            default: req.default_action.unwrap_or(self.config.default_action),
            per_label,
        };
        Ok(policy)
    }

    /// Detects and transforms (blocking: runs the engine).
    fn deidentify(&self, req: DeidentifyRequest) -> Result<DeidentifyResponse, ServiceError> {
        let started = Instant::now();
        let policy = self.request_policy(&req)?;
        let mut text_policy = Policy::new(
            as_action(policy.default),
            Some(self.secrets.hash_salt().to_vec()),
        )
        .map_err(|e| ServiceError::internal(e.to_string()))?;
        for (label, action) in &policy.per_label {
            text_policy
                .set(label, as_action(*action))
                .map_err(|e| ServiceError::internal(e.to_string()))?;
        }
        let text = &req.text;
        let findings = self.engine.current().detect(text);
        let ranges = byte_ranges(text, &findings);
        let tokenizer = self.tokenizer();
        let mut out = String::with_capacity(text.len());
        let mut entities = Vec::with_capacity(findings.len());
        let mut pos = 0;
        for (finding, range) in findings.into_iter().zip(ranges) {
            let Some((s, e)) = range.filter(|(s, _)| *s >= pos) else {
                continue;
            };
            let value = &text[s..e];
            let action = policy.action(&finding.label);
            let replacement = match action {
                PolicyAction::Token => {
                    let tokenizer = tokenizer.ok_or_else(|| {
                        ServiceError::new(
                            StatusCode::NOT_IMPLEMENTED,
                            "the token action needs the token service, which is not configured",
                        )
                    })?;
                    tokenizer
                        .token_for(&finding.label, value)
                        .map_err(|e| match e {
                            TokenizerError::Unavailable(_) => {
                                ServiceError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
                            }
                            TokenizerError::Failed(_) => ServiceError::internal(e.to_string()),
                        })?
                }
                _ => text_policy.replace(&finding.label, value),
            };
            out.push_str(&text[pos..s]);
            out.push_str(&replacement);
            pos = e;
            entities.push(Entity {
                text: value.to_string(),
                action,
                label: finding.label,
                start: finding.start,
                end: finding.end,
                confidence: finding.confidence,
                recognizer: finding.recognizer,
            });
        }
        out.push_str(&text[pos..]);
        Ok(DeidentifyResponse {
            result_text: out,
            entities,
            time_ms: started.elapsed().as_secs_f64() * 1000.0,
        })
    }
}

async fn handle(service: Arc<DeidService>, body: Bytes) -> Result<Response, ServiceError> {
    let req: DeidentifyRequest = parse_json(&body, "deidentify request")?;
    let chars = req.text.chars().count();
    if chars > MAX_TEXT_CHARS {
        return Err(ServiceError::unprocessable(format!(
            "text is longer than {MAX_TEXT_CHARS} characters"
        )));
    }
    let answer = blocking(move || service.deidentify(req)).await?;
    tracing::info!(
        chars,
        entities = answer.entities.len(),
        "text de-identified"
    );
    Ok(warp::reply::json(&answer).into_response())
}

use warp::Reply as _;

pub fn routes(service: Arc<DeidService>) -> BoxedFilter<(Response,)> {
    let s = service.clone();
    warp::path!("pii" / "deidentify")
        .and(warp::post())
        .and(auth::auth(service))
        .and(warp::body::bytes())
        .then(move |body| respond(handle(s.clone(), body)))
        .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(start: usize, end: usize) -> Finding {
        Finding {
            start,
            end,
            label: "X".into(),
            confidence: 1.0,
            recognizer: "t".into(),
        }
    }

    #[test]
    fn char_offsets_map_to_bytes() {
        let text = "Zoë → 12";
        let r = byte_ranges(text, &[finding(0, 3), finding(6, 8), finding(7, 99)]);
        assert_eq!(r[0], Some((0, 4)));
        assert_eq!(&text[r[1].unwrap().0..r[1].unwrap().1], "12");
        assert_eq!(r[2], None);
    }
}
