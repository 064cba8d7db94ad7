//! Fetching the site's database from its data service (SPEC §3 "Fetching the
//! data service"), with a cache per requesting remote.
//!
//! (Signatures fixed for the job manager; the implementation is being built.)

use std::sync::Arc;
use std::time::Duration;

use protocol_spec::config::{LinkageConfig, Record};
use protocol_spec::messages::mainsel::InitLocal;

use crate::store::NodeStore;

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
#[derive(Debug)]
pub struct Database {
    pub records: Vec<Record>,
    /// The data service's record ids, in the same order (`None` where absent).
    pub ids: Vec<Option<String>>,
    pub total: Option<u64>,
    pub to_date: Option<String>,
}

/// Progress of a fetch: records so far, and the total if the service said.
pub type FetchProgress<'a> = &'a (dyn Fn(u64, Option<u64>) + Send + Sync);

/// The data-service client with its cache.
pub struct DataService {
    _private: (),
}

impl DataService {
    /// `max_age`: how long a fetched database is reused; `max_records`: the
    /// largest database accepted.
    pub fn new(
        _http: reqwest::Client,
        _store: Arc<dyn NodeStore>,
        _max_age: Duration,
        _max_records: u64,
    ) -> DataService {
        unimplemented!("data service client")
    }

    /// The database for `requester`: from the cache while fresh and while
    /// the data service reports the same `total`/`toDate`, else fetched.
    pub async fn database(
        &self,
        _local: &InitLocal,
        _requester: &str,
        _config: &LinkageConfig,
        _progress: FetchProgress<'_>,
    ) -> Result<Arc<Database>, FetchError> {
        unimplemented!("data service client")
    }
}
