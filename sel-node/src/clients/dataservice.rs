//! Fetching the site's database from its data service (SPEC §3 "Fetching the
//! data service"), with a cache per requesting remote.
//!
//! A fetch walks the HAL pages one at a time: each page is read with a size
//! bound, parsed and converted to [`Record`]s, and the wire page is dropped
//! before the next one is requested, so a large database is never held twice
//! while it streams in. Errors name the page (1-based, in walk order), the
//! record index within the page (0-based) and the field, never a value.
//!
//! The cache keeps one database per requester, in memory (an
//! `Arc<Database>` shared by every job that uses it) and in the
//! [`NodeStore`] (sealed there), so it survives a restart. It is reused while
//! it is younger than `max_age` *and* the data service, asked for its first
//! page, still reports the same `total` and `toDate`; a data service that
//! reports neither cannot show that nothing changed, so its database is
//! always fetched again.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use protocol_spec::config::{LinkageConfig, Record};
use protocol_spec::messages::mainsel::{
    InitLocal, RecordId, RecordsPage, Timestamp, WireRecord, authorization_header_value,
};
use protocol_spec::value::{record_from_wire, record_to_wire};
use reqwest::Url;
use tracing::{debug, warn};

use super::http::{BodyError, describe, describe_json, read_limited};
use crate::model::now_millis;
use crate::store::{CacheMeta, NodeStore};

/// Why fetching failed. Names the page, record index and field, never a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    #[error("data service unreachable: {0}")]
    Unreachable(String),
    #[error("data service answered {status} on page {page}")]
    Status { page: u64, status: u16 },
    #[error("data service page {page} is malformed: {detail}")]
    Malformed { page: u64, detail: String },
    #[error("data service page {page}, record {index}: {detail}")]
    BadRecord {
        page: u64,
        index: u64,
        detail: String,
    },
    #[error("data service paging loops: page {page} links back to an earlier page")]
    Loop { page: u64 },
    #[error("data service has more than {limit} records")]
    TooMany { limit: u64 },
    #[error("cache: {0}")]
    Cache(String),
}

/// A site's database as fetched for one requester: records in data-service
/// order, with their ids (linkage mode needs them for LIDs).
pub struct Database {
    pub records: Vec<Record>,
    /// The data service's record ids, in the same order (`None` where absent).
    pub ids: Vec<Option<String>>,
    pub total: Option<u64>,
    pub to_date: Option<String>,
}

/// Counts only: the records are patient data and the ids identify patients.
impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("records", &self.records.len())
            .field("total", &self.total)
            .field("to_date", &self.to_date)
            .finish_non_exhaustive()
    }
}

/// Progress of a fetch: records so far, and the total if the service said.
pub type FetchProgress<'a> = &'a (dyn Fn(u64, Option<u64>) + Send + Sync);

/// Bounds of one fetch besides the record count.
#[derive(Debug, Clone, Copy)]
pub struct PageLimits {
    /// Largest page body accepted (a data service without paging sends the
    /// whole database as one page, so this is generous).
    pub max_page_bytes: u64,
    /// Most pages one fetch follows.
    pub max_pages: u64,
    /// Longest one page request may take, body included.
    pub page_timeout: Duration,
}

impl Default for PageLimits {
    fn default() -> Self {
        PageLimits {
            max_page_bytes: 512 * 1024 * 1024,
            max_pages: 1_000_000,
            page_timeout: Duration::from_secs(300),
        }
    }
}

/// What a cached database was converted for: a different data service or
/// configuration makes it useless even while it is fresh.
#[derive(PartialEq)]
struct Source {
    url: String,
    config: LinkageConfig,
}

struct Cached {
    meta: CacheMeta,
    source: Source,
    db: Arc<Database>,
}

/// The data-service client with its cache.
pub struct DataService {
    http: reqwest::Client,
    store: Arc<dyn NodeStore>,
    max_age: Duration,
    max_records: u64,
    limits: PageLimits,
    memory: Mutex<HashMap<String, Cached>>,
    /// One fetch per requester at a time: two jobs of the same remote that
    /// arrive together share one fetch instead of running two.
    fetching: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl DataService {
    /// `max_age`: how long a fetched database is reused; `max_records`: the
    /// largest database accepted.
    pub fn new(
        http: reqwest::Client,
        store: Arc<dyn NodeStore>,
        max_age: Duration,
        max_records: u64,
    ) -> DataService {
        DataService {
            http,
            store,
            max_age,
            max_records,
            limits: PageLimits::default(),
            memory: Mutex::new(HashMap::new()),
            fetching: Mutex::new(HashMap::new()),
        }
    }

    /// Replaces the default [`PageLimits`].
    pub fn with_limits(mut self, limits: PageLimits) -> DataService {
        self.limits = limits;
        self
    }

    /// The database for `requester`: from the cache while fresh and while
    /// the data service reports the same `total`/`toDate`, else fetched.
    pub async fn database(
        &self,
        local: &InitLocal,
        requester: &str,
        config: &LinkageConfig,
        progress: FetchProgress<'_>,
    ) -> Result<Arc<Database>, FetchError> {
        let lock = self.fetch_lock(requester);
        let _one_fetch = lock.lock().await;
        let source = Source {
            url: local.data_service.url.clone(),
            config: config.clone(),
        };
        if let Some((meta, db)) = self.cached(requester, &source).await {
            let age = now_millis().saturating_sub(meta.fetched_at);
            if u128::from(age) < self.max_age.as_millis() {
                let (total, to_date) = self.probe(local, requester).await?;
                let verifiable = total.is_some() || to_date.is_some();
                if verifiable && total == meta.total && to_date == meta.to_date {
                    debug!(
                        requester,
                        records = meta.records,
                        "data service: cache reused"
                    );
                    progress(meta.records, meta.total);
                    return Ok(db);
                }
            }
        }
        // The stale copy goes before the new one streams in (jobs still
        // using it keep their `Arc`), so the node does not hold both.
        self.memory().remove(requester);
        let started = now_millis();
        let db = Arc::new(self.fetch(local, requester, config, progress).await?);
        let meta = CacheMeta {
            requester: requester.to_owned(),
            fetched_at: started,
            total: db.total,
            to_date: db.to_date.clone(),
            records: db.records.len() as u64,
        };
        debug!(requester, records = meta.records, "data service: fetched");
        self.persist(&meta, config, &db).await;
        self.memory().insert(
            requester.to_owned(),
            Cached {
                meta,
                source,
                db: Arc::clone(&db),
            },
        );
        Ok(db)
    }

    /// The memory cache. A panic elsewhere while it was held leaves whole
    /// entries (every update is one insert or remove), so it stays usable.
    fn memory(&self) -> std::sync::MutexGuard<'_, HashMap<String, Cached>> {
        self.memory.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn fetch_lock(&self, requester: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.fetching.lock().unwrap_or_else(|e| e.into_inner());
        Arc::clone(locks.entry(requester.to_owned()).or_default())
    }

    /// The cached database for `requester` from memory, else from the store
    /// (converted again for `source.config`); `None` when there is none that
    /// fits. The store does not record the data service's URL, so a copy
    /// loaded after a restart is taken to come from today's URL; the probe
    /// of `total`/`toDate` against that URL still decides whether it is used.
    async fn cached(&self, requester: &str, source: &Source) -> Option<(CacheMeta, Arc<Database>)> {
        let in_memory = {
            let memory = self.memory();
            memory
                .get(requester)
                .map(|c| (c.source == *source).then(|| (c.meta.clone(), Arc::clone(&c.db))))
        };
        match in_memory {
            Some(Some(hit)) => return Some(hit),
            Some(None) => {
                // A different data service or configuration: the memory copy
                // and the stored one are both stale.
                self.forget(requester).await;
                return None;
            }
            None => {}
        }
        let store = Arc::clone(&self.store);
        let owned = requester.to_owned();
        let config = source.config.clone();
        let loaded = tokio::task::spawn_blocking(move || {
            match store.load_cache(&owned).map_err(|e| e.to_string())? {
                None => Ok(None),
                Some((meta, wire)) => from_stored(&config, &meta, wire).map(|db| Some((meta, db))),
            }
        })
        .await;
        match loaded {
            Ok(Ok(None)) => None,
            Ok(Ok(Some((meta, db)))) => {
                let db = Arc::new(db);
                self.memory().insert(
                    requester.to_owned(),
                    Cached {
                        meta: meta.clone(),
                        source: Source {
                            url: source.url.clone(),
                            config: source.config.clone(),
                        },
                        db: Arc::clone(&db),
                    },
                );
                Some((meta, db))
            }
            Ok(Err(reason)) => {
                warn!(requester, %reason, "data service: stored cache unusable, fetching again");
                None
            }
            Err(e) => {
                warn!(requester, error = %e, "data service: loading the cache failed");
                None
            }
        }
    }

    async fn forget(&self, requester: &str) {
        self.memory().remove(requester);
        let store = Arc::clone(&self.store);
        let owned = requester.to_owned();
        match tokio::task::spawn_blocking(move || store.delete_cache(&owned)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => warn!(requester, error = %e, "data service: deleting the cache failed"),
            Err(e) => warn!(requester, error = %e, "data service: deleting the cache failed"),
        }
    }

    /// Writes the fetched database to the store, in canonical wire form made
    /// from the converted records (the wire pages were dropped while
    /// streaming). A failure is logged and costs only a refetch later.
    async fn persist(&self, meta: &CacheMeta, config: &LinkageConfig, db: &Arc<Database>) {
        let store = Arc::clone(&self.store);
        let meta = meta.clone();
        let config = config.clone();
        let db = Arc::clone(db);
        let saved = tokio::task::spawn_blocking(move || {
            let wire = to_stored(&config, &db)?;
            store.save_cache(&meta, &wire).map_err(|e| e.to_string())
        })
        .await;
        match saved {
            Ok(Ok(())) => {}
            Ok(Err(reason)) => warn!(%reason, "data service: saving the cache failed"),
            Err(e) => warn!(error = %e, "data service: saving the cache failed"),
        }
    }

    /// `total` and `toDate` as the data service reports them now, from its
    /// first page (one record per page when the service pages).
    async fn probe(
        &self,
        local: &InitLocal,
        requester: &str,
    ) -> Result<(Option<u64>, Option<String>), FetchError> {
        let page_size = local.data_service.page_size.map(|_| 1);
        let url = first_url(&local.data_service.url, requester, page_size)?;
        let body = self.get_page(&url, local, 1).await?;
        let page = tokio::task::spawn_blocking(move || parse_page(&body, 1))
            .await
            .map_err(|e| FetchError::Cache(format!("probe task: {e}")))??;
        Ok((page.total, to_date_text(page.to_date.as_ref())))
    }

    /// Walks every page and converts its records.
    async fn fetch(
        &self,
        local: &InitLocal,
        requester: &str,
        config: &LinkageConfig,
        progress: FetchProgress<'_>,
    ) -> Result<Database, FetchError> {
        let mut url = first_url(
            &local.data_service.url,
            requester,
            local.data_service.page_size,
        )?;
        let origin = url.origin();
        let config = Arc::new(config.clone());
        let mut seen: HashSet<String> = HashSet::new();
        let mut db = Database {
            records: Vec::new(),
            ids: Vec::new(),
            total: None,
            to_date: None,
        };
        let mut page_no = 0u64;
        loop {
            page_no += 1;
            if page_no > self.limits.max_pages {
                return Err(FetchError::Malformed {
                    page: page_no,
                    detail: format!("more than {} pages", self.limits.max_pages),
                });
            }
            seen.insert(url.as_str().to_owned());
            let body = self.get_page(&url, local, page_no).await?;
            let cfg = Arc::clone(&config);
            let page = tokio::task::spawn_blocking(move || convert_page(&cfg, &body, page_no))
                .await
                .map_err(|e| FetchError::Cache(format!("page task: {e}")))??;
            if page_no == 1 {
                db.total = page.total;
                db.to_date = page.to_date;
                if let Some(total) = db.total
                    && total > self.max_records
                {
                    return Err(FetchError::TooMany {
                        limit: self.max_records,
                    });
                }
            }
            if (db.records.len() + page.records.len()) as u64 > self.max_records {
                return Err(FetchError::TooMany {
                    limit: self.max_records,
                });
            }
            // A page's own link counts as fetched too: a data service whose
            // first link differs from the URL the walk began with is caught
            // when it links back to it, not one round later.
            if let Some(own) = page.self_href.as_deref().and_then(|h| url.join(h).ok()) {
                seen.insert(own.as_str().to_owned());
            }
            db.records.extend(page.records);
            db.ids.extend(page.ids);
            progress(db.records.len() as u64, db.total);
            let Some(href) = page.next else { break };
            let next = url.join(&href).map_err(|_| FetchError::Malformed {
                page: page_no,
                detail: "_links.next.href is not a URL".into(),
            })?;
            if next.origin() != origin {
                // The local key travels with every page request: a link to
                // another origin would hand it to whoever runs that host.
                return Err(FetchError::Malformed {
                    page: page_no,
                    detail: "_links.next.href leaves the data service's origin".into(),
                });
            }
            if seen.contains(next.as_str()) {
                return Err(FetchError::Loop { page: page_no });
            }
            url = next;
        }
        if let Some(total) = db.total
            && total != db.records.len() as u64
        {
            // The database changed during the walk (or the service counts
            // wrongly): records may have been skipped or seen twice.
            return Err(FetchError::Malformed {
                page: page_no,
                detail: format!(
                    "the pages hold {} records, but total says {total}",
                    db.records.len()
                ),
            });
        }
        Ok(db)
    }

    /// GETs one page with the local key and returns its body.
    async fn get_page(
        &self,
        url: &Url,
        local: &InitLocal,
        page: u64,
    ) -> Result<Vec<u8>, FetchError> {
        let key = &local.local_authentication.shared_key;
        let resp = self
            .http
            .get(url.clone())
            .header(
                reqwest::header::AUTHORIZATION,
                authorization_header_value(key),
            )
            .header(reqwest::header::ACCEPT, "application/json")
            .timeout(self.limits.page_timeout)
            .send()
            .await
            .map_err(|e| FetchError::Unreachable(format!("page {page}: {}", describe(e))))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(FetchError::Status {
                page,
                status: status.as_u16(),
            });
        }
        read_limited(resp, self.limits.max_page_bytes)
            .await
            .map_err(|e| match e {
                BodyError::TooLarge { limit } => FetchError::Malformed {
                    page,
                    detail: format!("page body larger than {limit} bytes"),
                },
                BodyError::Transport(e) => {
                    FetchError::Unreachable(format!("page {page}: {}", describe(e)))
                }
            })
    }
}

/// `{dataService.url}/{requester}` with `?pagesize=` when configured. The
/// requester is pushed as a path segment (percent-encoded if it had to be),
/// and a query the operator put on the URL is kept.
fn first_url(base: &str, requester: &str, page_size: Option<u64>) -> Result<Url, FetchError> {
    let invalid = || FetchError::Unreachable("dataService.url is not a usable URL".into());
    let mut url = Url::parse(base).map_err(|_| invalid())?;
    url.path_segments_mut()
        .map_err(|_| invalid())?
        .pop_if_empty()
        .push(requester);
    if let Some(size) = page_size {
        url.query_pairs_mut()
            .append_pair("pagesize", &size.to_string());
    }
    Ok(url)
}

fn to_date_text(to_date: Option<&Timestamp>) -> Option<String> {
    to_date.and_then(|t| serde_json::to_string(t).ok())
}

fn parse_page(body: &[u8], page: u64) -> Result<RecordsPage, FetchError> {
    serde_json::from_slice(body).map_err(|e| {
        // A field holding an array, object or boolean fails the page as a
        // whole; where that is the cause, name the record and field instead.
        wrong_kind_field(body, page).unwrap_or_else(|| FetchError::Malformed {
            page,
            detail: describe_json(&e),
        })
    })
}

/// The first record field of a page that holds a JSON array, object or
/// boolean (no field value at all), as a `BadRecord` naming its index and
/// field (not the value). Only on the error path: it parses the page again.
fn wrong_kind_field(body: &[u8], page: u64) -> Option<FetchError> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let records = value.get("records")?.as_array()?;
    records.iter().enumerate().find_map(|(index, record)| {
        let fields = record.get("fields")?.as_object()?;
        fields.iter().find_map(|(name, v)| {
            let kind = match v {
                serde_json::Value::Array(_) => "an array",
                serde_json::Value::Object(_) => "an object",
                serde_json::Value::Bool(_) => "a boolean",
                _ => return None,
            };
            Some(FetchError::BadRecord {
                page,
                index: index as u64,
                detail: format!("field {name:?}: {kind} is not a field value"),
            })
        })
    })
}

/// One page, converted; its wire form is gone once this exists.
struct ConvertedPage {
    records: Vec<Record>,
    ids: Vec<Option<String>>,
    total: Option<u64>,
    to_date: Option<String>,
    next: Option<String>,
    self_href: Option<String>,
}

fn convert_page(
    config: &LinkageConfig,
    body: &[u8],
    page_no: u64,
) -> Result<ConvertedPage, FetchError> {
    let page = parse_page(body, page_no)?;
    let next = page.next_href().map(str::to_owned);
    let self_href = page
        .links
        .as_ref()
        .and_then(|l| l.self_.as_ref())
        .map(|l| l.href.clone());
    let mut records = Vec::with_capacity(page.records.len());
    let mut ids = Vec::with_capacity(page.records.len());
    for (index, wire) in page.records.into_iter().enumerate() {
        let record = record_from_wire(config, &wire.fields).map_err(|e| FetchError::BadRecord {
            page: page_no,
            index: index as u64,
            detail: e.to_string(),
        })?;
        records.push(record);
        ids.push(wire.id.map(|id| id.0));
    }
    Ok(ConvertedPage {
        records,
        ids,
        total: page.total,
        to_date: to_date_text(page.to_date.as_ref()),
        next,
        self_href,
    })
}

/// The stored wire records, converted again under today's configuration (a
/// changed configuration makes the stored copy fail here, and it is fetched
/// again).
fn from_stored(
    config: &LinkageConfig,
    meta: &CacheMeta,
    wire: Vec<WireRecord>,
) -> Result<Database, String> {
    let mut records = Vec::with_capacity(wire.len());
    let mut ids = Vec::with_capacity(wire.len());
    for (index, w) in wire.into_iter().enumerate() {
        let record = record_from_wire(config, &w.fields)
            .map_err(|e| format!("stored record {index}: {e}"))?;
        records.push(record);
        ids.push(w.id.map(|id| id.0));
    }
    Ok(Database {
        records,
        ids,
        total: meta.total,
        to_date: meta.to_date.clone(),
    })
}

fn to_stored(config: &LinkageConfig, db: &Database) -> Result<Vec<WireRecord>, String> {
    db.records
        .iter()
        .zip(&db.ids)
        .enumerate()
        .map(|(index, (record, id))| {
            Ok(WireRecord {
                fields: record_to_wire(config, record)
                    .map_err(|e| format!("record {index}: {e}"))?,
                id: id.clone().map(RecordId),
            })
        })
        .collect()
}
