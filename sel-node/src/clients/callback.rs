//! Delivering a job's result to its callback URL (SPEC §3 "Callbacks"),
//! retried with exponential backoff; the outcome is reported after every
//! attempt so the job record shows it.
//!
//! Each attempt is bounded by the policy's timeout, and [`CallbackClient::deliver`]
//! serves one job: a slow or unreachable callback holds only the task of the
//! job it belongs to. Errors recorded on the job name the status or the
//! transport failure, never the body (it carries LIDs) nor the URL.

use std::time::Duration;

use protocol_spec::messages::mainsel::{SharedKey, authorization_header_value};
use tracing::{debug, warn};

use super::http::describe;
use crate::model::{CallbackDelivery, DeliveryState, now_millis};

/// How callbacks are retried.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts in all (at least one is made).
    pub attempts: u32,
    /// The wait after the first failure; it doubles after each further one.
    pub first_delay: Duration,
    /// The longest wait between two attempts.
    pub max_delay: Duration,
    /// Longest one attempt may take.
    pub timeout: Duration,
}

impl RetryPolicy {
    /// The wait after failed attempt `attempt` (1-based): `first_delay ·
    /// 2^(attempt-1)`, less up to a tenth at random so that callbacks that
    /// failed together do not retry in lockstep, and never above `max_delay`.
    pub fn delay_after(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(31);
        let base = self
            .first_delay
            .saturating_mul(1u32 << doublings)
            .min(self.max_delay);
        let jitter = base.mul_f64(rand::random::<f64>() * 0.1);
        base.saturating_sub(jitter)
    }
}

pub struct CallbackClient {
    http: reqwest::Client,
    policy: RetryPolicy,
}

impl CallbackClient {
    pub fn new(http: reqwest::Client, policy: RetryPolicy) -> CallbackClient {
        CallbackClient { http, policy }
    }

    /// POSTs `body` to `url` with the local key header until a 2xx or the
    /// attempts are used up; `on_attempt` sees the outcome after each try.
    pub async fn deliver(
        &self,
        url: &str,
        local_key: &SharedKey,
        body: &serde_json::Value,
        on_attempt: &(dyn Fn(&CallbackDelivery) + Send + Sync),
    ) -> CallbackDelivery {
        let mut delivery = CallbackDelivery {
            state: DeliveryState::Pending,
            ..CallbackDelivery::default()
        };
        let payload = match serde_json::to_vec(body) {
            Ok(bytes) => bytes::Bytes::from(bytes),
            Err(e) => {
                delivery.state = DeliveryState::Failed;
                delivery.last_error = Some(format!("callback body is not serialisable: {e}"));
                on_attempt(&delivery);
                return delivery;
            }
        };
        let attempts = self.policy.attempts.max(1);
        loop {
            delivery.attempts += 1;
            let outcome = self
                .http
                .post(url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header(
                    reqwest::header::AUTHORIZATION,
                    authorization_header_value(local_key),
                )
                .body(payload.clone())
                .timeout(self.policy.timeout)
                .send()
                .await;
            let retryable = match outcome {
                Ok(resp) if resp.status().is_success() => {
                    delivery.state = DeliveryState::Delivered;
                    delivery.last_status = Some(resp.status().as_u16());
                    delivery.last_error = None;
                    delivery.delivered_at = Some(now_millis());
                    on_attempt(&delivery);
                    debug!(attempts = delivery.attempts, "callback delivered");
                    return delivery;
                }
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    delivery.last_status = Some(status);
                    delivery.last_error = Some(format!("status {status}"));
                    true
                }
                Err(e) => {
                    // A URL reqwest cannot even build a request for will
                    // not get better with time.
                    let retryable = !e.is_builder();
                    delivery.last_error = Some(describe(e));
                    retryable
                }
            };
            if !retryable || delivery.attempts >= attempts {
                delivery.state = DeliveryState::Failed;
                on_attempt(&delivery);
                warn!(
                    attempts = delivery.attempts,
                    error = delivery.last_error.as_deref().unwrap_or(""),
                    "callback delivery failed"
                );
                return delivery;
            }
            on_attempt(&delivery);
            debug!(
                attempt = delivery.attempts,
                error = delivery.last_error.as_deref().unwrap_or(""),
                "callback attempt failed; retrying"
            );
            tokio::time::sleep(self.policy.delay_after(delivery.attempts)).await;
        }
    }
}
