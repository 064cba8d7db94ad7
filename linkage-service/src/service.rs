//! The service's request logic, independent of HTTP plumbing: authenticate,
//! validate, issue fresh IDs, pair and resolve linkage jobs.
//!
//! CPU- and disk-bound work (MACs, AES-GCM over whole ID lists, store commits)
//! runs on tokio's blocking pool, bounded by a semaphore: when every permit is
//! taken the request is refused with 503 and `Retry-After` instead of queueing
//! without bound.

use std::sync::Arc;
use std::time::Duration;

use protocol_spec::messages::linkage::{
    FreshIdsResponse, LinkageResultRequest, LinkageResultResponse, Role,
};
use protocol_spec::messages::mainsel::check_remote_id;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::{debug, error, info, warn};

use crate::auth::{authenticate, authenticate_as};
use crate::combine::{CombineError, combine};
use crate::error::ApiError;
use crate::jobs::{Arrival, Pairing, Post, Reply, WaitOutcome};
use crate::keys::{MasterKey, SiteKey};
use crate::lid::{Lid, open_lid, seal_lid};
use crate::metrics::Metrics;
use crate::resolve::resolve;
use crate::store::{IssuedLid, LidOrigin, ReviewPair, Store, StoreError, now_unix};

/// Tunables of the service.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// How long the first post of a job waits for its partner.
    pub job_timeout: Duration,
    /// Largest `count` one `/freshIDs` request may ask for.
    pub max_fresh_ids: usize,
    /// Requests doing CPU/disk work at the same time; beyond that, 503.
    pub max_concurrent_work: usize,
    /// Posts that may wait for their partner at the same time; beyond that, 503.
    pub max_pending_posts: usize,
    /// Largest request body accepted (413 beyond).
    pub max_body_bytes: u64,
    /// Seconds suggested in `Retry-After` on 503.
    pub retry_after_secs: u64,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            job_timeout: Duration::from_secs(30),
            max_fresh_ids: 1_000_000,
            max_concurrent_work: 8,
            max_pending_posts: 1024,
            max_body_bytes: 256 * 1024 * 1024,
            retry_after_secs: 2,
        }
    }
}

/// Longest job id accepted.
const MAX_JOB_ID_LEN: usize = 128;

pub struct Service {
    store: Arc<Store>,
    master: Arc<MasterKey>,
    config: ServiceConfig,
    pairing: Arc<Pairing>,
    metrics: Metrics,
    work: Arc<Semaphore>,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("store", &self.store)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn internal(context: &'static str) -> impl FnOnce(StoreError) -> ApiError {
    move |e| {
        error!(error = %e, "{context}");
        ApiError::Internal
    }
}

impl Service {
    /// Builds the service; refuses a master key the store was not created with.
    pub fn new(
        store: Arc<Store>,
        master: Arc<MasterKey>,
        config: ServiceConfig,
    ) -> Result<Arc<Service>, StoreError> {
        store.bind_master_key(&master)?;
        Ok(Arc::new(Service {
            pairing: Pairing::new(config.max_pending_posts, config.retry_after_secs),
            work: Arc::new(Semaphore::new(config.max_concurrent_work)),
            store,
            master,
            config,
            metrics: Metrics::default(),
        }))
    }

    pub fn config(&self) -> &ServiceConfig {
        &self.config
    }

    pub fn metrics_text(&self) -> String {
        self.metrics.render(self.pairing.pending())
    }

    pub(crate) fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    fn permit(&self) -> Result<OwnedSemaphorePermit, ApiError> {
        Arc::clone(&self.work)
            .try_acquire_owned()
            .map_err(|_| ApiError::Overloaded {
                retry_after_secs: self.config.retry_after_secs,
            })
    }

    /// Runs blocking work on the blocking pool.
    async fn blocking<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&Service) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let svc = Arc::clone(self);
        tokio::task::spawn_blocking(move || f(&svc))
            .await
            .unwrap_or_else(|e| {
                error!(error = %e, "blocking task failed");
                Err(ApiError::Internal)
            })
    }

    fn site_key(&self, site: &str) -> Result<SiteKey, ApiError> {
        let record = self
            .store
            .site(site)
            .map_err(internal("cannot read site"))?
            .ok_or_else(|| ApiError::UnknownRemote(site.to_string()))?;
        let wrapped = record
            .wrapped_lid_key_bytes(site)
            .map_err(internal("corrupt site record"))?;
        self.master.unwrap_site_key(site, &wrapped).map_err(|e| {
            error!(error = %e, site, "cannot unwrap site key");
            ApiError::Internal
        })
    }

    /// `GET /test`: succeeds for any registered site's API key.
    pub async fn test(self: &Arc<Self>, auth: Option<String>) -> Result<String, ApiError> {
        self.blocking(move |svc| authenticate(&svc.store, &svc.master, auth.as_deref()))
            .await
    }

    /// `GET /freshIDs/{site}?count=n`.
    pub async fn fresh_ids(
        self: &Arc<Self>,
        site: String,
        query: Option<String>,
        auth: Option<String>,
    ) -> Result<FreshIdsResponse, ApiError> {
        let permit = self.permit()?;
        let issued = self
            .blocking(move |svc| {
                let _permit = permit;
                authenticate_as(&svc.store, &svc.master, auth.as_deref(), &site)?;
                let count = parse_count(query.as_deref(), svc.config.max_fresh_ids)?;
                let key = svc.site_key(&site)?;
                let mut rng = rand::rng();
                let now = now_unix();
                let mut sealed = Vec::with_capacity(count);
                let mut records = Vec::with_capacity(count);
                for _ in 0..count {
                    let lid = Lid::random(&mut rng);
                    sealed.push(seal_lid(&key, &site, &lid, &mut rng));
                    records.push((
                        svc.master.lid_index(lid.as_bytes()),
                        IssuedLid {
                            site: site.clone(),
                            origin: LidOrigin::FreshIds,
                            issued_at: now,
                        },
                    ));
                }
                svc.store
                    .record_issued(&svc.master, &records, &[])
                    .map_err(internal("cannot record issued LIDs"))?;
                info!(site, count, "fresh linkage IDs issued");
                Ok(sealed)
            })
            .await?;
        self.metrics.fresh_ids_issued(issued.len() as u64);
        Ok(FreshIdsResponse {
            linkage_ids: issued,
        })
    }

    /// `POST /linkageResult/{local}/{remote}`: validates the post, then either
    /// resolves the job (partner already waiting) or waits for the partner.
    pub async fn linkage_result(
        self: &Arc<Self>,
        local: String,
        remote: String,
        auth: Option<String>,
        header_job_id: Option<String>,
        body: warp::hyper::body::Bytes,
    ) -> Result<LinkageResultResponse, ApiError> {
        let permit = self.permit()?;
        let post = self
            .blocking(move |svc| svc.validate_post(local, remote, auth, header_job_id, &body))
            .await?;
        let (local, remote, role) = (post.local.clone(), post.remote.clone(), post.role);
        match self.pairing.arrive(post) {
            Err(e) => Err(e),
            Ok(Arrival::Waiting(ticket)) => {
                drop(permit);
                debug!(local, remote, %role, "post waits for its partner");
                match ticket.wait(self.config.job_timeout).await {
                    WaitOutcome::Answered(reply) => reply,
                    WaitOutcome::TimedOut => {
                        self.metrics.job_timed_out();
                        warn!(local, remote, %role, "partner post never arrived");
                        Err(ApiError::PartnerTimeout {
                            remote,
                            waited_ms: self.config.job_timeout.as_millis() as u64,
                        })
                    }
                }
            }
            Ok(Arrival::Paired {
                post,
                partner,
                partner_reply,
            }) => {
                // Resolve on the blocking pool: the task finishes (and answers
                // the partner) even if this request is dropped meanwhile.
                self.blocking(move |svc| {
                    let _permit = permit;
                    let (own, theirs) = svc.resolve_pair(post, partner);
                    let _ = partner_reply.send(theirs);
                    own
                })
                .await
            }
        }
    }

    /// Everything that can be checked about one post on its own.
    fn validate_post(
        &self,
        local: String,
        remote: String,
        auth: Option<String>,
        header_job_id: Option<String>,
        body: &[u8],
    ) -> Result<Post, ApiError> {
        authenticate_as(&self.store, &self.master, auth.as_deref(), &local)?;
        check_remote_id(&remote).map_err(|source| ApiError::BadSiteId {
            id: remote.clone(),
            source,
        })?;
        if remote == local {
            return Err(ApiError::SameSite(local));
        }
        if self
            .store
            .site(&remote)
            .map_err(internal("cannot read site"))?
            .is_none()
        {
            return Err(ApiError::UnknownRemote(remote));
        }
        let request: LinkageResultRequest =
            serde_json::from_slice(body).map_err(|e| ApiError::InvalidJson(e.to_string()))?;
        let job_id = reconcile_job_id(header_job_id, request.job_id)?;
        if request.result.is_empty() {
            return Err(ApiError::EmptyResult);
        }
        let server_lids = match request.role {
            Role::Server => {
                let ids = request.ids.ok_or(ApiError::ServerWithoutIds)?;
                let key = self.site_key(&local)?;
                ids.iter()
                    .enumerate()
                    .map(|(index, sealed)| {
                        open_lid(&key, &local, sealed)
                            .map_err(|source| ApiError::BadServerId { index, source })
                    })
                    .collect::<Result<Vec<_>, _>>()?
            }
            Role::Client => {
                if request.ids.as_ref().is_some_and(|ids| !ids.is_empty()) {
                    return Err(ApiError::ClientWithIds);
                }
                Vec::new()
            }
        };
        Ok(Post {
            local,
            remote,
            role: request.role,
            shares: request.result,
            server_lids,
            job_id,
        })
    }

    /// Resolves a paired job. Returns (reply to `post`, reply to `partner`).
    fn resolve_pair(&self, post: Post, partner: Post) -> (Reply, Reply) {
        if post.role == partner.role {
            let e = ApiError::RoleConflict(post.role);
            return (Err(e.clone()), Err(e));
        }
        let post_is_server = post.role == Role::Server;
        let (server, client) = if post_is_server {
            (&post, &partner)
        } else {
            (&partner, &post)
        };
        let outcome = self.resolve_job(server, client);
        let (server_reply, client_reply) = match outcome {
            Ok((s, c)) => (Ok(s), Ok(c)),
            Err(e) => (Err(e.clone()), Err(e)),
        };
        if post_is_server {
            (server_reply, client_reply)
        } else {
            (client_reply, server_reply)
        }
    }

    /// Returns (server's reply, client's reply).
    fn resolve_job(
        &self,
        server: &Post,
        client: &Post,
    ) -> Result<(LinkageResultResponse, LinkageResultResponse), ApiError> {
        let decisions = combine(&server.shares, &client.shares, server.server_lids.len()).map_err(
            |CombineError::LengthMismatch { server, client }| ApiError::LengthMismatch {
                server,
                client,
            },
        )?;
        let client_key = self.site_key(&client.local)?;
        let mut rng = rand::rng();
        let job = resolve(
            &decisions,
            &server.server_lids,
            &client.local,
            &client_key,
            &mut rng,
        );
        let now = now_unix();
        let fresh: Vec<_> = job
            .fresh
            .iter()
            .map(|(lid, origin)| {
                (
                    self.master.lid_index(lid.as_bytes()),
                    IssuedLid {
                        site: client.local.clone(),
                        origin: *origin,
                        issued_at: now,
                    },
                )
            })
            .collect();
        let reviews: Vec<_> = job
            .reviews
            .iter()
            .map(|r| ReviewPair {
                client_site: client.local.clone(),
                server_site: server.local.clone(),
                job_id: client.job_id.clone(),
                record_index: r.record_index,
                server_index: r.server_index,
                fresh_lid: base64_lid(&r.fresh_lid),
                server_lid: base64_lid(&r.server_lid),
                created_at: now,
            })
            .collect();
        self.store
            .record_issued(&self.master, &fresh, &reviews)
            .map_err(internal("cannot record linkage job"))?;
        self.metrics.job_paired();
        self.metrics
            .linkage_lids_issued(job.client_reply.result.len() as u64);
        info!(
            client = client.local,
            server = server.local,
            records = decisions.len(),
            server_db = server.server_lids.len(),
            "linkage job resolved"
        );
        Ok((job.server_reply, job.client_reply))
    }
}

fn base64_lid(lid: &Lid) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(lid.as_bytes())
}

/// Parses `count` from a raw query string.
fn parse_count(query: Option<&str>, max: usize) -> Result<usize, ApiError> {
    let mut found: Option<&str> = None;
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        if name == "count" {
            if found.is_some() {
                return Err(ApiError::RepeatedCount);
            }
            found = Some(value);
        }
    }
    let text = found.ok_or(ApiError::MissingCount { max })?;
    let count: usize = text
        .parse()
        .ok()
        .filter(|&n: &usize| n > 0)
        .ok_or_else(|| ApiError::BadCount(text.chars().take(32).collect()))?;
    if count > max {
        return Err(ApiError::CountTooLarge { count, max });
    }
    Ok(count)
}

/// The job id from the header and/or the body; they must agree if both given.
fn reconcile_job_id(
    header: Option<String>,
    body: Option<String>,
) -> Result<Option<String>, ApiError> {
    let id = match (header, body) {
        (Some(h), Some(b)) if h != b => {
            return Err(ApiError::JobIdConflict { header: h, body: b });
        }
        (Some(h), _) => Some(h),
        (None, b) => b,
    };
    if let Some(id) = &id
        && (id.is_empty() || id.len() > MAX_JOB_ID_LEN || !id.bytes().all(|b| b.is_ascii_graphic()))
    {
        return Err(ApiError::BadJobId);
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::TempDir;

    #[tokio::test]
    async fn work_beyond_the_concurrency_limit_is_refused_with_retry_after() {
        let dir = TempDir::new("svc-limit");
        let store = Arc::new(Store::open(dir.path()).unwrap());
        let master = Arc::new(MasterKey::from_bytes(&[5; 32]));
        let reg = crate::admin::register(&store, &master, "A").unwrap();
        let svc = Service::new(
            store,
            master,
            ServiceConfig {
                max_concurrent_work: 1,
                retry_after_secs: 9,
                ..ServiceConfig::default()
            },
        )
        .unwrap();
        let auth = Some(format!("apiKey apiKey=\"{}\"", reg.api_key.as_str()));
        let held = svc.permit().unwrap();
        let refused = svc
            .fresh_ids("A".into(), Some("count=1".into()), auth.clone())
            .await
            .unwrap_err();
        assert!(matches!(
            refused,
            ApiError::Overloaded {
                retry_after_secs: 9
            }
        ));
        let response = refused.into_response();
        assert_eq!(response.status(), 503);
        assert_eq!(response.headers()["retry-after"], "9");
        drop(held);
        let ok = svc
            .fresh_ids("A".into(), Some("count=2".into()), auth)
            .await
            .unwrap();
        assert_eq!(ok.linkage_ids.len(), 2);
    }

    #[test]
    fn count_parsing() {
        assert_eq!(parse_count(Some("count=5"), 10).unwrap(), 5);
        assert_eq!(parse_count(Some("x=1&count=10"), 10).unwrap(), 10);
        assert!(matches!(
            parse_count(None, 10),
            Err(ApiError::MissingCount { max: 10 })
        ));
        assert!(matches!(
            parse_count(Some("count=0"), 10),
            Err(ApiError::BadCount(_))
        ));
        assert!(matches!(
            parse_count(Some("count=-1"), 10),
            Err(ApiError::BadCount(_))
        ));
        assert!(matches!(
            parse_count(Some("count=abc"), 10),
            Err(ApiError::BadCount(_))
        ));
        assert!(matches!(
            parse_count(Some("count=11"), 10),
            Err(ApiError::CountTooLarge { count: 11, max: 10 })
        ));
        assert!(matches!(
            parse_count(Some("count=1&count=2"), 10),
            Err(ApiError::RepeatedCount)
        ));
    }

    #[test]
    fn job_id_reconciliation() {
        assert_eq!(reconcile_job_id(None, None).unwrap(), None);
        assert_eq!(
            reconcile_job_id(Some("a".into()), None).unwrap().as_deref(),
            Some("a")
        );
        assert_eq!(
            reconcile_job_id(Some("a".into()), Some("a".into()))
                .unwrap()
                .as_deref(),
            Some("a")
        );
        assert!(matches!(
            reconcile_job_id(Some("a".into()), Some("b".into())),
            Err(ApiError::JobIdConflict { .. })
        ));
        assert!(matches!(
            reconcile_job_id(None, Some("has space".into())),
            Err(ApiError::BadJobId)
        ));
        assert!(matches!(
            reconcile_job_id(None, Some(String::new())),
            Err(ApiError::BadJobId)
        ));
    }
}
