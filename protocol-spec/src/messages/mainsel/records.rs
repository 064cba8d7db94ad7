//! Record-carrying bodies: `linkRecord`/`matchRecord` (one record),
//! `linkRecords`/`matchRecords` (many), and the pages of the data service's
//! `getAllRecords`.
//!
//! All of them are tolerant readers: unknown keys are ignored, and what real
//! clients leave out is optional. What protects the data is elsewhere: a
//! duplicate key in `fields` is a parse error ([`super::OrderedMap`]), and the
//! field names and values are checked against the configuration by
//! [`crate::value`].
use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::fields::FieldMap;
use super::ids::{UrlError, check_url};
use crate::config::{LinkageConfig, Record};
use crate::value::{RecordError, RecordsError, record_from_wire, records_from_wire};

/// `{"url": ...}`: where the result of a job is POSTed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Callback {
    pub url: String,
}

/// Body of `POST /linkRecord/{remote_id}` and `POST /matchRecord/{remote_id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordRequest {
    pub callback: Callback,
    pub fields: FieldMap,
}

/// Body of `POST /linkRecords/{remote_id}` and `POST /matchRecords/{remote_id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordsRequest {
    pub callback: Callback,
    /// The sender's count of records; informational (the `records` array is
    /// what is linked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    /// The sender's snapshot time; informational.
    #[serde(
        rename = "toDate",
        alias = "todate",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub to_date: Option<Timestamp>,
    pub records: Vec<WireRecord>,
}

/// One element of a `records` array.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WireRecord {
    pub fields: FieldMap,
    /// The data service's id of the record. Present in `getAllRecords` pages
    /// of linkage mode; absent in requests and in matching mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<RecordId>,
}

/// A record id. The reference sends strings (`"12345"`); a JSON integer is
/// accepted too and kept as its decimal string.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordId(pub String);

impl RecordId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for RecordId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for RecordId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = RecordId;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a record id (string or integer)")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RecordId, E> {
                Ok(RecordId(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<RecordId, E> {
                Ok(RecordId(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RecordId, E> {
                Ok(RecordId(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RecordId, E> {
                Ok(RecordId(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// A `toDate`: the reference sends Unix seconds; a textual date is kept as
/// sent. Neither is interpreted by the node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Timestamp {
    Unix(u64),
    Text(String),
}

/// One page of `GET {dataService.url}/{remote_id}` (the reference's
/// `getAllRecords`), HAL-style as Mainzelliste serves it.
///
/// Everything but `records` is optional because the reference's own example
/// has no paging keys while Mainzelliste's pages have all of them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordsPage {
    #[serde(rename = "_links", default, skip_serializing_if = "Option::is_none")]
    pub links: Option<HalLinks>,
    /// Number of records in the whole data set (all pages).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    #[serde(
        rename = "currentPageNumber",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub current_page_number: Option<u64>,
    #[serde(
        rename = "lastPageNumber",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub last_page_number: Option<u64>,
    #[serde(
        rename = "pageSize",
        alias = "pagesize",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub page_size: Option<u64>,
    /// Serialized as `toDate` (the reference); Mainzelliste writes `todate`.
    #[serde(
        rename = "toDate",
        alias = "todate",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub to_date: Option<Timestamp>,
    #[serde(rename = "localId", default, skip_serializing_if = "Option::is_none")]
    pub local_id: Option<String>,
    #[serde(rename = "remoteId", default, skip_serializing_if = "Option::is_none")]
    pub remote_id: Option<String>,
    pub records: Vec<WireRecord>,
}

/// HAL navigation links of a page; each is `{"href": ...}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct HalLinks {
    #[serde(rename = "self", default, skip_serializing_if = "Option::is_none")]
    pub self_: Option<Link>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first: Option<Link>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prev: Option<Link>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<Link>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last: Option<Link>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    pub href: String,
}

impl RecordsPage {
    /// Whether this is the last page: the page numbers say so, or there is no
    /// `next` link, or `next` points back to this page (Mainzelliste repeats
    /// the page's own link on the last page rather than omitting `next`).
    pub fn is_last(&self) -> bool {
        if let (Some(cur), Some(last)) = (self.current_page_number, self.last_page_number)
            && cur >= last
        {
            return true;
        }
        let links = self.links.as_ref();
        match links.and_then(|l| l.next.as_ref()) {
            None => true,
            Some(next) => links
                .and_then(|l| l.self_.as_ref())
                .is_some_and(|s| s.href == next.href),
        }
    }

    /// The URL of the next page, or `None` on the last page.
    pub fn next_href(&self) -> Option<&str> {
        if self.is_last() {
            return None;
        }
        self.links
            .as_ref()
            .and_then(|l| l.next.as_ref())
            .map(|l| l.href.as_str())
    }
}

/// Why a `linkRecord`/`matchRecord` body cannot be run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordRequestError {
    #[error("callback.url: {0}")]
    CallbackUrl(UrlError),
    #[error(transparent)]
    Record(#[from] RecordError),
}

/// Why a `linkRecords`/`matchRecords` body cannot be run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordsRequestError {
    #[error("callback.url: {0}")]
    CallbackUrl(UrlError),
    #[error("records must not be empty")]
    NoRecords,
    #[error(transparent)]
    Records(#[from] RecordsError),
}

impl RecordRequestError {
    /// True when the field names do not match the configuration (answered
    /// with 401, as the reference says); every other error is a 400.
    pub fn is_configuration_mismatch(&self) -> bool {
        matches!(self, RecordRequestError::Record(e) if e.is_configuration_mismatch())
    }
}

impl RecordsRequestError {
    /// See [`RecordRequestError::is_configuration_mismatch`].
    pub fn is_configuration_mismatch(&self) -> bool {
        matches!(self, RecordsRequestError::Records(e) if e.error.is_configuration_mismatch())
    }
}

impl RecordRequest {
    /// Checks the callback URL and converts the record for `config`.
    pub fn validate(&self, config: &LinkageConfig) -> Result<Record, RecordRequestError> {
        check_url(&self.callback.url).map_err(RecordRequestError::CallbackUrl)?;
        Ok(record_from_wire(config, &self.fields)?)
    }
}

impl RecordsRequest {
    /// Checks the callback URL and converts every record for `config`; at
    /// least one record is required.
    pub fn validate(&self, config: &LinkageConfig) -> Result<Vec<Record>, RecordsRequestError> {
        check_url(&self.callback.url).map_err(RecordsRequestError::CallbackUrl)?;
        if self.records.is_empty() {
            return Err(RecordsRequestError::NoRecords);
        }
        Ok(records_from_wire(config, &self.records)?)
    }
}
