//! Delivering a job's result to its callback URL (SPEC §3 "Callbacks"),
//! retried with exponential backoff; the outcome is reported after every
//! attempt so the job record shows it.
//!
//! (Signatures fixed for the job manager; the implementation is being built.)

use std::time::Duration;

use protocol_spec::messages::mainsel::SharedKey;

use crate::model::CallbackDelivery;

/// How callbacks are retried.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub first_delay: Duration,
    pub max_delay: Duration,
    pub timeout: Duration,
}

pub struct CallbackClient {
    _private: (),
}

impl CallbackClient {
    pub fn new(_http: reqwest::Client, _policy: RetryPolicy) -> CallbackClient {
        unimplemented!("callback client")
    }

    /// POSTs `body` to `url` with the local key header until a 2xx or the
    /// attempts are used up; `on_attempt` sees the outcome after each try.
    pub async fn deliver(
        &self,
        _url: &str,
        _local_key: &SharedKey,
        _body: &serde_json::Value,
        _on_attempt: &(dyn Fn(&CallbackDelivery) + Send + Sync),
    ) -> CallbackDelivery {
        unimplemented!("callback client")
    }
}
