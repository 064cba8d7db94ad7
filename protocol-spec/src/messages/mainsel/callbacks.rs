//! Bodies the node POSTs to a job's callback URL.
//!
//! `result` is one object for a single-record job and an array for a
//! multi-record job (reference L.3). `warning` is optional; `error` is only
//! sent when no result was computed.
use serde::de::{self, DeserializeOwned};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

/// One value or an array of them, written back in the shape it was read.
#[derive(Debug, Clone, PartialEq)]
pub enum OneOrMany<T> {
    One(T),
    Many(Vec<T>),
}

impl<T> OneOrMany<T> {
    /// The items, one or many.
    pub fn as_slice(&self) -> &[T] {
        match self {
            OneOrMany::One(t) => std::slice::from_ref(t),
            OneOrMany::Many(v) => v,
        }
    }

    pub fn into_vec(self) -> Vec<T> {
        match self {
            OneOrMany::One(t) => vec![t],
            OneOrMany::Many(v) => v,
        }
    }
}

impl<T: Serialize> Serialize for OneOrMany<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            OneOrMany::One(t) => t.serialize(s),
            OneOrMany::Many(v) => v.serialize(s),
        }
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for OneOrMany<T> {
    /// Dispatches on the JSON shape first, so an error inside an item reports
    /// that item's problem instead of serde's "did not match any variant".
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::Array(items) => items
                .into_iter()
                .enumerate()
                .map(|(i, item)| {
                    T::deserialize(item)
                        .map_err(|e| de::Error::custom(format_args!("result[{i}]: {e}")))
                })
                .collect::<Result<Vec<T>, D::Error>>()
                .map(OneOrMany::Many),
            other => T::deserialize(other)
                .map(OneOrMany::One)
                .map_err(de::Error::custom),
        }
    }
}

/// Body POSTed to the callback of a linkage job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkCallback {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<OneOrMany<LinkResult>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The linkage result of one record: its linkage id, encrypted for the
/// receiving site. Further keys a linkage service adds are kept in `extra`
/// and passed through untouched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkResult {
    #[serde(rename = "linkageId")]
    pub linkage_id: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl LinkResult {
    pub fn new(linkage_id: impl Into<String>) -> Self {
        LinkResult {
            linkage_id: linkage_id.into(),
            extra: Map::new(),
        }
    }
}

/// Body POSTed to the callback of a matching (counting) job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatchCallback {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<OneOrMany<MatchResult>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Counts of a matching job: records whose best score passed the match
/// threshold, and those that passed the tentative (non-match) threshold
/// (which includes the matches, as in SEL).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatchResult {
    pub matches: u64,
    #[serde(rename = "tentativeMatches", alias = "tentative_matches")]
    pub tentative_matches: u64,
}

/// A callback body that breaks the reference's rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallbackError {
    #[error("a callback must carry either a result or an error")]
    Empty,
    #[error("a callback must not carry an error together with a result")]
    ErrorWithResult,
}

fn check_callback<T>(result: &Option<T>, error: &Option<String>) -> Result<(), CallbackError> {
    match (result, error) {
        (None, None) => Err(CallbackError::Empty),
        (Some(_), Some(_)) => Err(CallbackError::ErrorWithResult),
        _ => Ok(()),
    }
}

impl LinkCallback {
    /// Checks the reference's rule: a result, or else an error.
    pub fn check(&self) -> Result<(), CallbackError> {
        check_callback(&self.result, &self.error)
    }
}

impl MatchCallback {
    /// Checks the reference's rule: a result, or else an error.
    pub fn check(&self) -> Result<(), CallbackError> {
        check_callback(&self.result, &self.error)
    }
}
