//! Wire types of the MainSEL REST API (the node's own endpoints, the data
//! service pages it reads and the callbacks it sends).
//!
//! JSON names are the reference's. Where real clients (SEL's test scripts,
//! Mainzelliste) write a key differently, the other spelling is accepted as an
//! alias and the reference's spelling is written. Strictness is chosen per
//! message and documented on each type:
//!
//! * the `algorithm` block of `initLocal` and its field specs reject unknown
//!   keys, because an ignored option would change the linkage model silently;
//! * a record's `fields` object rejects a key given twice, because keeping
//!   either copy would silently drop patient data;
//! * every other object ignores unknown keys (forward compatibility with
//!   Mainzelliste), except `dataService`, which keeps them.
//!
//! Parsing checks shapes only. Rules that need more context (ids, URLs, keys,
//! the configuration) are separate calls: [`InitLocal::validate`],
//! [`InitRemote::validate`], [`check_remote_id`], and [`crate::value`] for
//! records.
mod auth;
mod callbacks;
mod fields;
mod ids;
mod init;
mod jobs;
mod records;

pub use auth::{
    AuthHeaderError, AuthType, Authentication, SharedKey, SharedKeyError,
    authorization_header_value, parse_authorization_header,
};
pub use callbacks::{
    CallbackError, LinkCallback, LinkResult, MatchCallback, MatchResult, OneOrMany,
};
pub use fields::{FieldMap, FieldValue, OrderedMap, ValueKind};
pub use ids::{
    IdError, RESERVED_LOCAL_ID, RemoteId, UrlError, check_remote_id, check_site_id, check_url,
};
pub use init::{
    ALGO_EPILINK, AlgorithmConfig, AlgorithmError, Connection, DataService, InitLocal,
    InitLocalError, InitRemote, InitRemoteError, Profile, WireFieldSpec,
};
pub use jobs::{JobStatus, JobStatusError, JobsList};
pub use records::{
    Callback, HalLinks, Link, RecordId, RecordRequest, RecordRequestError, RecordsPage,
    RecordsRequest, RecordsRequestError, Timestamp, WireRecord,
};
