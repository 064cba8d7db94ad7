//! The registry's calls to its own node: submitting a batch
//! (`POST /linkRecords|matchRecords/{remote_id}`) and polling the job
//! (`GET /jobs/{id}`), both with the node's local key.
use std::time::Duration;

use http::header::{ACCEPT, AUTHORIZATION, CONTENT_LOCATION, CONTENT_TYPE, LOCATION};
use protocol_spec::messages::mainsel::{
    JobStatus, RecordsRequest, SharedKey, authorization_header_value,
};
use serde::Serialize;

use super::store::Mode;

/// Longest a call to the node may take (a 10,000-record submission included).
const TIMEOUT: Duration = Duration::from_secs(120);
/// At most this much of a node's error body is passed on.
const MAX_MESSAGE: usize = 500;

/// Why the node did not do what the registry asked. Messages come from the
/// node's own `{"error": ...}` bodies, which never carry values or keys.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NodeError {
    #[error("node unreachable: {0}")]
    Unreachable(String),
    #[error("node answered {status}: {message}")]
    Refused { status: u16, message: String },
    #[error("node accepted the batch but sent no Location header")]
    NoLocation,
    #[error("node's job status is unreadable: {0}")]
    BadStatus(String),
}

/// A job's state as the node reports it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobReport {
    pub status: JobStatus,
    /// Only with the node's JSON answer.
    #[serde(rename = "progressPercent", skip_serializing_if = "Option::is_none")]
    pub progress_percent: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The node's REST API as the registry uses it.
pub struct NodeClient {
    http: reqwest::Client,
    base: String,
    key: SharedKey,
}

impl NodeClient {
    /// `base`: the node's REST base URL; `key`: its local key.
    pub fn new(http: reqwest::Client, base: &str, key: SharedKey) -> NodeClient {
        NodeClient {
            http,
            base: base.trim_end_matches('/').to_owned(),
            key,
        }
    }

    /// Submits `body` as a linkRecords or matchRecords job towards `remote`;
    /// returns the job's `Location`.
    pub async fn submit(
        &self,
        mode: Mode,
        remote: &str,
        body: &RecordsRequest,
    ) -> Result<String, NodeError> {
        let endpoint = match mode {
            Mode::Link => "linkRecords",
            Mode::Match => "matchRecords",
        };
        let response = self
            .http
            .post(format!("{}/{endpoint}/{remote}", self.base))
            .header(AUTHORIZATION, authorization_header_value(&self.key))
            .json(body)
            .timeout(TIMEOUT)
            .send()
            .await
            .map_err(|e| NodeError::Unreachable(e.to_string()))?;
        let status = response.status();
        if status != reqwest::StatusCode::ACCEPTED {
            return Err(refused(response).await);
        }
        let headers = response.headers();
        headers
            .get(LOCATION)
            .or_else(|| headers.get(CONTENT_LOCATION))
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .ok_or(NodeError::NoLocation)
    }

    /// The status of the job at `location` (a path such as `/jobs/abc`, or an
    /// absolute URL). Asks for the JSON form and reads the plain-text one too,
    /// so it works with nodes that only know the reference's answer.
    pub async fn job(&self, location: &str) -> Result<JobReport, NodeError> {
        let url = if location.starts_with("http://") || location.starts_with("https://") {
            location.to_owned()
        } else {
            format!("{}/{}", self.base, location.trim_start_matches('/'))
        };
        let response = self
            .http
            .get(url)
            .header(AUTHORIZATION, authorization_header_value(&self.key))
            .header(ACCEPT, "application/json")
            .timeout(TIMEOUT)
            .send()
            .await
            .map_err(|e| NodeError::Unreachable(e.to_string()))?;
        if !response.status().is_success() {
            return Err(refused(response).await);
        }
        let json = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        let body = response
            .text()
            .await
            .map_err(|e| NodeError::Unreachable(e.to_string()))?;
        if json {
            parse_json_status(&body)
        } else {
            body.parse::<JobStatus>()
                .map(|status| JobReport {
                    status,
                    progress_percent: None,
                    error: None,
                })
                .map_err(|e| NodeError::BadStatus(e.to_string()))
        }
    }
}

/// `{status, progress_percent, error, ...}` of the node's JSON job status.
fn parse_json_status(body: &str) -> Result<JobReport, NodeError> {
    let value: serde_json::Value =
        serde_json::from_str(body).map_err(|e| NodeError::BadStatus(e.to_string()))?;
    let status = value
        .get("status")
        .and_then(|s| s.as_str())
        .ok_or_else(|| NodeError::BadStatus("no \"status\" in the JSON answer".into()))?
        .parse::<JobStatus>()
        .map_err(|e| NodeError::BadStatus(e.to_string()))?;
    Ok(JobReport {
        status,
        progress_percent: value.get("progress_percent").and_then(|p| p.as_f64()),
        error: value
            .get("error")
            .and_then(|e| e.as_str())
            .map(|e| e.chars().take(MAX_MESSAGE).collect()),
    })
}

/// A non-success answer as an error: the node's `error` message if it sent
/// one, else its status line.
async fn refused(response: reqwest::Response) -> NodeError {
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    let message = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("error")?.as_str().map(str::to_owned))
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("").to_owned());
    NodeError::Refused {
        status: status.as_u16(),
        message: message.chars().take(MAX_MESSAGE).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_status_is_read_with_progress() {
        let r = parse_json_status(r#"{"status":"RUNNING","progress_percent":42.5}"#).unwrap();
        assert_eq!(r.status, JobStatus::Running);
        assert_eq!(r.progress_percent, Some(42.5));
        assert!(parse_json_status(r#"{"progress_percent":1}"#).is_err());
        assert!(parse_json_status(r#"{"status":"LOST"}"#).is_err());
    }
}
