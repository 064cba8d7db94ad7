//! What the registry's endpoints do, without HTTP: pages of getAllRecords,
//! triggers that submit every patient to the node, callbacks that store LIDs
//! and counts, and the status of the latest batch.
//!
//! Every handler checks before it writes: a request that fails any check
//! leaves the store as it was.
use protocol_spec::messages::mainsel::{
    Callback, LinkCallback, MatchCallback, RecordId, RecordsPage, RecordsRequest, SharedKey,
    Timestamp, WireRecord, check_remote_id, check_site_id,
};
use serde::Serialize;
use std::sync::Arc;
use warp::http::StatusCode;

use super::auth::key_matches;
use super::node::{JobReport, NodeClient};
use super::paging;
use super::store::{Batch, Mode, RegistryStore, StoreError};

/// How the registry is run.
#[derive(Debug, Clone)]
pub struct RegistryConfig {
    /// This site's id (`localId` of the pages).
    pub site_id: String,
    /// The registry's own key: users, triggers, status (and getAllRecords).
    pub api_key: SharedKey,
    /// The node's local key: the node's calls (getAllRecords, callbacks), and
    /// what the registry presents to the node.
    pub node_key: SharedKey,
    /// The node's REST base URL.
    pub node_url: String,
    /// The base URL under which the node reaches this registry, without a
    /// trailing slash; callbacks and page links are built on it.
    pub public_url: String,
}

/// An answer other than success: a status and a message that names what was
/// wrong (never a key, value or LID).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }

    fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    fn unauthorized() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "missing or wrong API key (Authorization: apiKey apiKey=\"...\")",
        )
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        tracing::error!(error = %e, "registry store failed");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "registry store failure")
    }
}

/// Who may call an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// The registry's users: its own key.
    User,
    /// The node: its local key.
    Node,
    /// getAllRecords: the node sends its local key (SPEC §3); an operator may
    /// use the registry key to look at the pages.
    UserOrNode,
}

/// Answer of a trigger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TriggerReply {
    pub remote: String,
    pub mode: Mode,
    pub batch: String,
    pub records: u64,
    /// The node's job (its `Location`).
    pub job: String,
}

/// Answer of a status endpoint: the latest batch of a mode towards a remote.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatusReply {
    pub remote: String,
    pub mode: Mode,
    pub batch: String,
    pub created: u64,
    pub records: u64,
    pub job: Option<String>,
    /// The node's view of the job, when it could be asked.
    #[serde(rename = "jobStatus")]
    pub job_status: Option<JobReport>,
    /// Why the node could not be asked.
    #[serde(rename = "jobStatusError", skip_serializing_if = "Option::is_none")]
    pub job_status_error: Option<String>,
    #[serde(rename = "submitError", skip_serializing_if = "Option::is_none")]
    pub submit_error: Option<String>,
    #[serde(rename = "callbackReceived")]
    pub callback_received: Option<u64>,
    #[serde(rename = "callbackError", skip_serializing_if = "Option::is_none")]
    pub callback_error: Option<String>,
    #[serde(rename = "callbackWarning", skip_serializing_if = "Option::is_none")]
    pub callback_warning: Option<String>,
    #[serde(rename = "lidsReceived")]
    pub lids_received: u64,
    /// Match mode: `{"matches": m, "tentativeMatches": t}` once delivered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<protocol_spec::messages::mainsel::MatchResult>,
}

/// The registry: its configuration, store and node client.
pub struct Registry {
    config: RegistryConfig,
    store: Arc<RegistryStore>,
    node: NodeClient,
}

impl Registry {
    pub fn new(config: RegistryConfig, store: RegistryStore, http: reqwest::Client) -> Registry {
        let node = NodeClient::new(http, &config.node_url, config.node_key.clone());
        Registry {
            config,
            store: Arc::new(store),
            node,
        }
    }

    pub fn config(&self) -> &RegistryConfig {
        &self.config
    }

    pub fn store(&self) -> &RegistryStore {
        &self.store
    }

    /// Runs `f` on the store off the async workers: redb calls block, and a
    /// large page or batch must not stall other requests.
    async fn with_store<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&RegistryStore) -> Result<T, StoreError> + Send + 'static,
    {
        let store = Arc::clone(&self.store);
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "registry task failed"))?
            .map_err(ApiError::from)
    }

    /// Checks the `Authorization` header for `caller`.
    pub fn authorize(&self, header: Option<&str>, caller: Caller) -> Result<(), ApiError> {
        let c = &self.config;
        let ok = match caller {
            Caller::User => key_matches(header, &[&c.api_key]),
            Caller::Node => key_matches(header, &[&c.node_key]),
            Caller::UserOrNode => key_matches(header, &[&c.api_key, &c.node_key]),
        };
        if ok {
            Ok(())
        } else {
            Err(ApiError::unauthorized())
        }
    }

    /// One page of `GET /getAllRecords/{requester}`.
    pub fn records_page(
        &self,
        requester: &str,
        query: Option<&str>,
    ) -> Result<RecordsPage, ApiError> {
        check_site_id(requester)
            .map_err(|e| ApiError::bad_request(format!("requester id: {e}")))?;
        let req = paging::parse_query(query).map_err(|e| ApiError::bad_request(e.to_string()))?;
        let page = self.store.patient_page(paging::offset(req), req.size)?;
        let last = paging::last_page(page.total, req.size);
        if req.page > last {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                format!(
                    "page {} does not exist: the last page of size {} is {last}",
                    req.page, req.size
                ),
            ));
        }
        let base = format!("{}/getAllRecords/{requester}", self.config.public_url);
        Ok(RecordsPage {
            links: Some(paging::links(&base, req, last)),
            total: Some(page.total),
            current_page_number: Some(req.page),
            last_page_number: Some(last),
            page_size: Some(req.size),
            to_date: Some(Timestamp::Unix(page.updated_at)),
            local_id: Some(self.config.site_id.clone()),
            remote_id: Some(requester.to_owned()),
            records: page
                .patients
                .into_iter()
                .map(|(id, fields)| WireRecord {
                    fields,
                    id: Some(RecordId(id)),
                })
                .collect(),
        })
    }

    /// Submits every patient to the node as one batch towards `remote`.
    ///
    /// The batch is stored before the node sees it, so a callback that
    /// arrives before the node's 202 still finds it.
    pub async fn trigger(&self, mode: Mode, remote: &str) -> Result<TriggerReply, ApiError> {
        check_remote_id(remote).map_err(|e| ApiError::bad_request(format!("remote id: {e}")))?;
        let all = self.with_store(|s| s.all_patients()).await?;
        if all.patients.is_empty() {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "the registry has no patients (run `sel-node registry import` first)",
            ));
        }
        let batch_id = new_batch_id();
        let (ids, records): (Vec<String>, Vec<WireRecord>) = all
            .patients
            .into_iter()
            .map(|(id, fields)| (id, WireRecord { fields, id: None }))
            .unzip();
        let count = ids.len() as u64;
        let previous = {
            let (remote, batch_id) = (remote.to_owned(), batch_id.clone());
            let batch = Batch::new(mode, ids);
            self.with_store(move |s| s.put_batch(&remote, &batch_id, &batch))
                .await?
        };
        let body = RecordsRequest {
            callback: Callback {
                url: format!(
                    "{}/callbacks/{}/{remote}/{batch_id}",
                    self.config.public_url,
                    mode.as_str()
                ),
            },
            total: Some(count),
            to_date: Some(Timestamp::Unix(all.updated_at)),
            records,
        };
        match self.node.submit(mode, remote, &body).await {
            Ok(job) => {
                self.store
                    .update_batch(remote, &batch_id, |b| b.job = Some(job.clone()))?;
                tracing::info!(
                    remote,
                    mode = mode.as_str(),
                    records = count,
                    "batch submitted"
                );
                Ok(TriggerReply {
                    remote: remote.to_owned(),
                    mode,
                    batch: batch_id,
                    records: count,
                    job,
                })
            }
            Err(e) => {
                let message = e.to_string();
                self.store
                    .refuse_batch(remote, &batch_id, previous.as_deref(), &message)?;
                tracing::warn!(remote, mode = mode.as_str(), error = %message, "batch refused");
                Err(ApiError::new(StatusCode::BAD_GATEWAY, message))
            }
        }
    }

    /// The latest batch of `mode` towards `remote`, with the node's view of
    /// its job.
    pub async fn status(&self, mode: Mode, remote: &str) -> Result<StatusReply, ApiError> {
        check_remote_id(remote).map_err(|e| ApiError::bad_request(format!("remote id: {e}")))?;
        let owned = remote.to_owned();
        let latest = self
            .with_store(move |s| s.latest_batch(&owned, mode))
            .await?;
        let Some((batch_id, batch)) = latest else {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                format!("no {} batch towards {remote} yet", mode.as_str()),
            ));
        };
        let (job_status, job_status_error) = match &batch.job {
            Some(job) => match self.node.job(job).await {
                Ok(report) => (Some(report), None),
                Err(e) => (None, Some(e.to_string())),
            },
            None => (None, None),
        };
        Ok(StatusReply {
            remote: remote.to_owned(),
            mode,
            batch: batch_id,
            created: batch.created,
            records: batch.patient_ids.len() as u64,
            job: batch.job,
            job_status,
            job_status_error,
            submit_error: batch.submit_error,
            callback_received: batch.callback_received,
            callback_error: batch.callback_error,
            callback_warning: batch.callback_warning,
            lids_received: batch.lids_received,
            result: batch.match_result,
        })
    }

    /// The batch a callback is for, which must be of `mode`.
    fn callback_batch(&self, mode: Mode, remote: &str, batch_id: &str) -> Result<Batch, ApiError> {
        check_remote_id(remote).map_err(|e| ApiError::bad_request(format!("remote id: {e}")))?;
        match self.store.batch(remote, batch_id)? {
            Some(b) if b.mode == mode => Ok(b),
            _ => Err(ApiError::new(
                StatusCode::NOT_FOUND,
                format!("no {} batch {batch_id:?} towards {remote}", mode.as_str()),
            )),
        }
    }

    /// `POST /callbacks/link/{remote}/{batch}`: the LIDs of a batch, in
    /// request order, or the error that ended its job.
    pub fn link_callback(&self, remote: &str, batch_id: &str, body: &[u8]) -> Result<(), ApiError> {
        let batch = self.callback_batch(Mode::Link, remote, batch_id)?;
        let callback: LinkCallback = serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("link callback body: {e}")))?;
        callback
            .check()
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        if let Some(error) = callback.error {
            self.store.update_batch(remote, batch_id, |b| {
                b.callback_received = Some(super::store::now_unix());
                b.callback_error = Some(error);
                b.callback_warning = callback.warning;
            })?;
            return Ok(());
        }
        let results = callback.result.map(|r| r.into_vec()).unwrap_or_default();
        if results.len() != batch.patient_ids.len() {
            return Err(ApiError::bad_request(format!(
                "the callback has {} result(s) for a batch of {} patient(s)",
                results.len(),
                batch.patient_ids.len()
            )));
        }
        if let Some(i) = results.iter().position(|r| r.linkage_id.is_empty()) {
            return Err(ApiError::bad_request(format!(
                "result[{i}].linkageId is empty"
            )));
        }
        let lids: Vec<String> = results.into_iter().map(|r| r.linkage_id).collect();
        self.store.put_link_result(
            remote,
            batch_id,
            &batch.patient_ids,
            &lids,
            callback.warning,
        )?;
        tracing::info!(remote, lids = lids.len(), "link callback stored");
        Ok(())
    }

    /// `POST /callbacks/match/{remote}/{batch}`: the counts of a batch, or the
    /// error that ended its job.
    pub fn match_callback(
        &self,
        remote: &str,
        batch_id: &str,
        body: &[u8],
    ) -> Result<(), ApiError> {
        self.callback_batch(Mode::Match, remote, batch_id)?;
        let callback: MatchCallback = serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("match callback body: {e}")))?;
        callback
            .check()
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        let result = match callback.result.map(|r| r.into_vec()) {
            Some(v) if v.len() == 1 => Some(v[0]),
            Some(v) => {
                return Err(ApiError::bad_request(format!(
                    "a match callback has one result, this one has {}",
                    v.len()
                )));
            }
            None => None,
        };
        self.store.update_batch(remote, batch_id, |b| {
            b.callback_received = Some(super::store::now_unix());
            b.match_result = result;
            b.callback_error = callback.error;
            b.callback_warning = callback.warning;
        })?;
        tracing::info!(remote, "match callback stored");
        Ok(())
    }
}

/// A batch id: 128 random bits, hex, so callback URLs cannot be guessed.
fn new_batch_id() -> String {
    let bytes: [u8; 16] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
