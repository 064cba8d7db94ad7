//! The service's request logic, independent of HTTP plumbing: authenticate,
//! validate, issue fresh IDs, pair and resolve linkage jobs.
//!
//! CPU- and disk-bound work (MACs, AES-GCM over whole ID lists, store commits)
//! runs on tokio's blocking pool, bounded by a semaphore: when every permit is
//! taken the request is refused with 503 and `Retry-After` instead of queueing
//! without bound.
//!
//! A linkage post is authenticated from its headers before anything else:
//! before its body is read and before it takes a work permit, so an
//! unauthenticated caller can neither make the service buffer a body nor
//! occupy its workers.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{Stream, StreamExt};
use protocol_spec::messages::linkage::{
    FreshIdsResponse, LinkageResultRequest, LinkageResultResponse, Role,
};
use protocol_spec::messages::mainsel::check_remote_id;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::{debug, error, info, warn};
use warp::hyper::body::Buf;
use zeroize::Zeroizing;

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
    /// Posts of one site that may wait at the same time, so one site cannot
    /// take every slot of `max_pending_posts`; beyond that, 503.
    pub max_pending_posts_per_site: usize,
    /// Largest request body accepted (413 beyond).
    pub max_body_bytes: u64,
    /// Longest an authenticated caller may take to send its body (408).
    pub body_timeout: Duration,
    /// Longest a client may take to send a request's headers.
    pub header_read_timeout: Duration,
    /// A connection with no request in flight and no bytes moving for this
    /// long is closed.
    pub idle_timeout: Duration,
    /// Connections served at once; more are closed right after accept.
    pub max_connections: usize,
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
            max_pending_posts_per_site: 256,
            max_body_bytes: 256 * 1024 * 1024,
            body_timeout: Duration::from_secs(120),
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 1024,
            retry_after_secs: 2,
        }
    }
}

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
            pairing: Pairing::new(
                config.max_pending_posts,
                config.max_pending_posts_per_site,
                config.retry_after_secs,
            ),
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

    /// `GET /test`: succeeds for any registered site's API key. Takes a
    /// work permit like every other request that does work (a MAC and a
    /// store read).
    pub async fn test(self: &Arc<Self>, auth: Option<String>) -> Result<String, ApiError> {
        let permit = self.permit()?;
        let auth = auth.map(Zeroizing::new);
        self.blocking(move |svc| {
            let _permit = permit;
            authenticate(&svc.store, &svc.master, auth.as_deref().map(String::as_str))
        })
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
        let auth = auth.map(Zeroizing::new);
        let issued = self
            .blocking(move |svc| {
                let _permit = permit;
                authenticate_as(
                    &svc.store,
                    &svc.master,
                    auth.as_deref().map(String::as_str),
                    &site,
                )?;
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
                    .record_issued(&svc.master, &records, &[], &[])
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

    /// `POST /linkageResult/{local}/{remote}`: authenticates from the
    /// headers, reads the body, validates the post, then either resolves the
    /// job (partner already waiting) or waits for the partner.
    pub async fn linkage_result<S, B, E>(
        self: &Arc<Self>,
        local: String,
        remote: String,
        auth: Option<String>,
        content_length: Option<u64>,
        body: S,
    ) -> Result<LinkageResultResponse, ApiError>
    where
        S: Stream<Item = Result<B, E>> + Send,
        B: Buf,
        E: std::fmt::Display,
    {
        let sites = (local.clone(), remote.clone());
        self.blocking(move |svc| svc.check_sites(&sites.0, &sites.1, auth))
            .await?;
        let body = self.read_body(content_length, body).await?;
        let permit = self.permit()?;
        let post = self
            .blocking(move |svc| svc.validate_post(local, remote, &body))
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
                    let (own, theirs) = svc.resolve_pair(*post, *partner);
                    let _ = partner_reply.send(theirs);
                    own
                })
                .await
            }
        }
    }

    /// The caller is `local` (by its API key), and `remote` is another
    /// registered site. Needs only the headers and the path.
    fn check_sites(&self, local: &str, remote: &str, auth: Option<String>) -> Result<(), ApiError> {
        // The header carries the API key: wiped when this returns.
        let auth = auth.map(Zeroizing::new);
        authenticate_as(
            &self.store,
            &self.master,
            auth.as_deref().map(String::as_str),
            local,
        )?;
        check_remote_id(remote).map_err(|source| ApiError::BadSiteId {
            id: remote.to_string(),
            source,
        })?;
        if remote == local {
            return Err(ApiError::SameSite(local.to_string()));
        }
        if self
            .store
            .site(remote)
            .map_err(internal("cannot read site"))?
            .is_none()
        {
            return Err(ApiError::UnknownRemote(remote.to_string()));
        }
        Ok(())
    }

    /// Reads an authenticated caller's body: `Content-Length` required and
    /// within the maximum, the whole body within the body timeout, never
    /// more than announced. The buffer is wiped when dropped (it holds
    /// shares).
    async fn read_body<S, B, E>(
        &self,
        content_length: Option<u64>,
        body: S,
    ) -> Result<Zeroizing<Vec<u8>>, ApiError>
    where
        S: Stream<Item = Result<B, E>> + Send,
        B: Buf,
        E: std::fmt::Display,
    {
        let max = self.config.max_body_bytes;
        let announced = content_length.ok_or(ApiError::LengthRequired)?;
        if announced > max {
            return Err(ApiError::BodyTooLarge(max));
        }
        let limit = self.config.body_timeout;
        let read = async {
            let mut body = std::pin::pin!(body);
            // Grows with what arrives, not with what was announced.
            let mut out = Zeroizing::new(Vec::new());
            while let Some(chunk) = body.next().await {
                let mut chunk = chunk.map_err(|e| ApiError::BodyRead(e.to_string()))?;
                if (out.len() + chunk.remaining()) as u64 > announced {
                    return Err(ApiError::BodyRead(
                        "more bytes than Content-Length announced".into(),
                    ));
                }
                while chunk.has_remaining() {
                    let part = chunk.chunk();
                    out.extend_from_slice(part);
                    let n = part.len();
                    chunk.advance(n);
                }
            }
            Ok(out)
        };
        tokio::time::timeout(limit, read)
            .await
            .unwrap_or(Err(ApiError::BodyTimeout(limit.as_millis() as u64)))
    }

    /// Everything that can be checked about one post on its own (its sender
    /// is already authenticated).
    fn validate_post(&self, local: String, remote: String, body: &[u8]) -> Result<Post, ApiError> {
        let mut request: LinkageResultRequest =
            serde_json::from_slice(body).map_err(|e| ApiError::InvalidJson(e.to_string()))?;
        let tag = request.check().map_err(ApiError::BadPost)?;
        let ids = Zeroizing::new(request.ids.take().unwrap_or_default());
        let server_lids = match request.role {
            Role::Server => {
                let key = self.site_key(&local)?;
                let lids = ids
                    .iter()
                    .enumerate()
                    .map(|(index, sealed)| {
                        open_lid(&key, &local, sealed)
                            .map_err(|source| ApiError::BadServerId { index, source })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                // Only LIDs this service gave the site (issued to it, or
                // handed to it on a match) may be presented as its own.
                if let Some(index) = self
                    .store
                    .first_foreign_lid(&self.master, &local, &lids)
                    .map_err(internal("cannot check server LIDs"))?
                {
                    return Err(ApiError::ForeignServerId { index });
                }
                lids
            }
            Role::Client => Vec::new(),
        };
        Ok(Post {
            local,
            remote,
            role: request.role,
            tag,
            query_records: request.query_records,
            database_records: request.database_records,
            shares: std::mem::take(&mut request.result),
            server_lids,
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
        for (field, s, c) in [
            ("queryRecords", server.query_records, client.query_records),
            (
                "databaseRecords",
                server.database_records,
                client.database_records,
            ),
        ] {
            if s != c {
                return Err(ApiError::SizeMismatch {
                    field,
                    server: s,
                    client: c,
                });
            }
        }
        let decisions = combine(&server.shares, &client.shares, server.server_lids.len()).map_err(
            |e| match e {
                CombineError::LengthMismatch { server, client } => {
                    ApiError::LengthMismatch { server, client }
                }
                CombineError::IndexOutOfRange => {
                    warn!(
                        client = client.local,
                        server = server.local,
                        "linkage job refused: combined best index outside the server's database"
                    );
                    ApiError::InconsistentShares
                }
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
        let linked: Vec<_> = job
            .linked
            .iter()
            .map(|lid| self.master.held_lid_index(&client.local, lid.as_bytes()))
            .collect();
        let tag_hex = protocol_spec::messages::linkage::format_job_tag(&client.tag);
        let reviews: Vec<_> = job
            .reviews
            .iter()
            .map(|r| ReviewPair {
                client_site: client.local.clone(),
                server_site: server.local.clone(),
                job_id: Some(tag_hex.clone()),
                record_index: r.record_index,
                server_index: r.server_index,
                fresh_lid: base64_lid(&r.fresh_lid),
                server_lid: base64_lid(&r.server_lid),
                created_at: now,
            })
            .collect();
        self.store
            .record_issued(&self.master, &fresh, &linked, &reviews)
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
        // `/test` does work too (a MAC, a store read): it needs a permit.
        assert!(matches!(
            svc.test(auth.clone()).await,
            Err(ApiError::Overloaded { .. })
        ));
        drop(held);
        assert_eq!(svc.test(auth.clone()).await.unwrap(), "A");
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
}
