//! Wire types of the linkage service (LS): API reference sections "InitIDs"
//! (`GET /freshIDs/{ml_id}?count=n`) and "L.2 sendLinkageResult"
//! (`POST /linkageResult/{local_id}/{remote_id}`).
//!
//! The reader is deliberately tolerant, because MainSEL's own scripts do not
//! follow the reference to the letter (see SPEC.md, "Linkage service"):
//!
//! * `result` may be a single share object or an array of them;
//! * `tentativeMatch` is also accepted as `tentative_match`, `bestIndex` as
//!   `bestId` or `best_index`;
//! * bit shares may be `0`/`1` or `false`/`true`; the index share may be a
//!   number or a decimal string;
//! * unknown fields are ignored.
//!
//! The writer always emits the reference's spelling (`tentativeMatch`,
//! `bestIndex`, `result` as an array, bits as `0`/`1`).
//!
//! Site ids follow [`super::mainsel::check_remote_id`]; the `Authorization`
//! header is read with [`super::mainsel::parse_authorization_header`].

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// Header that may carry the job id shared by both nodes of one linkage job.
pub const JOB_ID_HEADER: &str = "X-Job-Id";

/// Length of a linkage ID in the clear: 128 random bits.
pub const LID_LEN: usize = 16;
/// Length of the AES-GCM nonce that prefixes every sealed LID.
pub const LID_NONCE_LEN: usize = 12;
/// Length of the AES-GCM tag that follows the LID ciphertext.
pub const LID_TAG_LEN: usize = 16;
/// Length of a sealed LID before base64: nonce ‖ ciphertext ‖ tag.
pub const SEALED_LID_LEN: usize = LID_NONCE_LEN + LID_LEN + LID_TAG_LEN;

/// Reply to `GET /freshIDs/{ml_id}?count=n`: `n` new LIDs, each sealed for the
/// requesting site (base64 of nonce ‖ AES-GCM ciphertext ‖ tag).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FreshIdsResponse {
    #[serde(rename = "linkageIds")]
    pub linkage_ids: Vec<String>,
}

/// The role a node played in the 2PC of one linkage job. The client queried
/// its records against the server's database; the server holds the LIDs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Server,
    Client,
}

impl Role {
    /// The role the partner of a node in this role must have.
    pub fn partner(self) -> Role {
        match self {
            Role::Server => Role::Client,
            Role::Client => Role::Server,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Server => "server",
            Role::Client => "client",
        })
    }
}

/// One node's XOR shares of the 2PC output for one query record.
///
/// XORing the two nodes' records gives the match bit, the tentative-match bit
/// and the index of the best-scoring row of the server's database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShareRecord {
    #[serde(
        rename = "match",
        serialize_with = "ser_bit",
        deserialize_with = "de_bit"
    )]
    pub match_share: bool,
    #[serde(
        rename = "tentativeMatch",
        alias = "tentative_match",
        serialize_with = "ser_bit",
        deserialize_with = "de_bit"
    )]
    pub tentative_share: bool,
    #[serde(
        rename = "bestIndex",
        alias = "bestId",
        alias = "best_index",
        deserialize_with = "de_index"
    )]
    pub best_index_share: u64,
}

/// Body of `POST /linkageResult/{local_id}/{remote_id}` (step L.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkageResultRequest {
    pub role: Role,
    /// One share record per query record of the job, in query order.
    #[serde(deserialize_with = "de_one_or_many")]
    pub result: Vec<ShareRecord>,
    /// The server's LIDs, sealed under its own key, in database order (so the
    /// combined `bestIndex` points into this list). Only the server sends them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ids: Option<Vec<String>>,
    /// Optional job id both nodes know; pairs the two posts of one job. May
    /// also come in the [`JOB_ID_HEADER`] header.
    #[serde(
        default,
        rename = "jobId",
        alias = "job_id",
        skip_serializing_if = "Option::is_none"
    )]
    pub job_id: Option<String>,
}

/// The LS's answer for one query record (client side only).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LinkageIdResult {
    /// The LID sealed for the client's site. Absent only when the record could
    /// not be resolved (its problem is described in the reply's `warning`).
    #[serde(rename = "linkageId", default, skip_serializing_if = "Option::is_none")]
    pub linkage_id: Option<String>,
    /// Set when the record scored between the tentative and the match
    /// threshold: the LID is fresh, and the pair is kept for clerical review.
    #[serde(default, skip_serializing_if = "is_false")]
    pub tentative: bool,
}

/// Reply to both posts of a linkage job. The server's reply has an empty
/// `result`; the client's has one entry per query record, in query order.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LinkageResultResponse {
    #[serde(default)]
    pub result: Vec<LinkageIdResult>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
    /// Present only when nothing was computed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Body of every error reply of the LS (4xx and 5xx).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn ser_bit<S: Serializer>(bit: &bool, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u8(u8::from(*bit))
}

/// Accepts `0`, `1`, `false` and `true`; anything else is an error that names
/// the value, since a share outside {0, 1} means the 2PC output was mangled.
fn de_bit<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    struct BitVisitor;
    impl Visitor<'_> for BitVisitor {
        type Value = bool;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a bit share: 0, 1, false or true")
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<bool, E> {
            Ok(v)
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<bool, E> {
            match v {
                0 => Ok(false),
                1 => Ok(true),
                _ => Err(E::invalid_value(de::Unexpected::Unsigned(v), &self)),
            }
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<bool, E> {
            match u64::try_from(v) {
                Ok(u) => self.visit_u64(u),
                Err(_) => Err(E::invalid_value(de::Unexpected::Signed(v), &self)),
            }
        }
    }
    d.deserialize_any(BitVisitor)
}

/// Accepts a non-negative integer or a string of decimal digits (MainSEL's
/// sample data carries `bestId` as a string).
fn de_index<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    struct IndexVisitor;
    impl Visitor<'_> for IndexVisitor {
        type Value = u64;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an index share: a non-negative integer or a decimal string")
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
            Ok(v)
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
            u64::try_from(v).map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<u64, E> {
            v.trim()
                .parse::<u64>()
                .map_err(|_| E::invalid_value(de::Unexpected::Str(v), &self))
        }
    }
    d.deserialize_any(IndexVisitor)
}

/// `result` is an array in the reference's reply and in MainSEL's code, but a
/// single object in the reference's request example; accept both.
fn de_one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<ShareRecord>, D::Error> {
    struct OneOrMany;
    impl<'de> Visitor<'de> for OneOrMany {
        type Value = Vec<ShareRecord>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a share object or an array of share objects")
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            let one = ShareRecord::deserialize(de::value::MapAccessDeserializer::new(map))?;
            Ok(vec![one])
        }
        fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
            Vec::<ShareRecord>::deserialize(de::value::SeqAccessDeserializer::new(seq))
        }
    }
    d.deserialize_any(OneOrMany)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_request_with_single_result_object() {
        let body = r#"{"role": "server",
            "result": {"match": 0, "tentativeMatch": 1, "bestIndex": 4},
            "ids": ["Rm9vQmFy"]}"#;
        let req: LinkageResultRequest = serde_json::from_str(body).unwrap();
        assert_eq!(req.role, Role::Server);
        assert_eq!(
            req.result,
            vec![ShareRecord {
                match_share: false,
                tentative_share: true,
                best_index_share: 4
            }]
        );
        assert_eq!(req.ids.as_deref(), Some(&["Rm9vQmFy".to_string()][..]));
        assert_eq!(req.job_id, None);
    }

    #[test]
    fn mainsel_script_aliases_and_array_result() {
        let body = r#"{"role": "client", "jobId": "j-1",
            "result": [{"match": true, "tentative_match": 1, "bestId": "17"},
                       {"match": 0, "tentativeMatch": false, "best_index": 0}]}"#;
        let req: LinkageResultRequest = serde_json::from_str(body).unwrap();
        assert_eq!(req.role, Role::Client);
        assert_eq!(req.job_id.as_deref(), Some("j-1"));
        assert_eq!(req.result.len(), 2);
        assert!(req.result[0].match_share && req.result[0].tentative_share);
        assert_eq!(req.result[0].best_index_share, 17);
        assert!(!req.result[1].match_share && !req.result[1].tentative_share);
    }

    #[test]
    fn rejects_bits_outside_zero_one_and_negative_indices() {
        let bad_bit =
            r#"{"role":"client","result":[{"match":2,"tentativeMatch":0,"bestIndex":0}]}"#;
        let err = serde_json::from_str::<LinkageResultRequest>(bad_bit).unwrap_err();
        assert!(err.to_string().contains("bit share"), "{err}");
        let bad_idx =
            r#"{"role":"client","result":[{"match":1,"tentativeMatch":0,"bestIndex":-3}]}"#;
        let err = serde_json::from_str::<LinkageResultRequest>(bad_idx).unwrap_err();
        assert!(err.to_string().contains("index share"), "{err}");
        let bad_role = r#"{"role":"observer","result":[]}"#;
        assert!(serde_json::from_str::<LinkageResultRequest>(bad_role).is_err());
    }

    #[test]
    fn writer_uses_reference_spelling() {
        let req = LinkageResultRequest {
            role: Role::Client,
            result: vec![ShareRecord {
                match_share: true,
                tentative_share: false,
                best_index_share: 9,
            }],
            ids: None,
            job_id: None,
        };
        let json = serde_json::to_value(&req).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"role": "client",
                "result": [{"match": 1, "tentativeMatch": 0, "bestIndex": 9}]})
        );
        let reply = LinkageResultResponse {
            result: vec![
                LinkageIdResult {
                    linkage_id: Some("QUJD".into()),
                    tentative: false,
                },
                LinkageIdResult {
                    linkage_id: Some("REVG".into()),
                    tentative: true,
                },
            ],
            warning: None,
            error: None,
        };
        assert_eq!(
            serde_json::to_value(&reply).unwrap(),
            serde_json::json!({"result": [{"linkageId": "QUJD"},
                {"linkageId": "REVG", "tentative": true}]})
        );
    }

    #[test]
    fn error_body_parses_as_linkage_reply() {
        let reply: LinkageResultResponse =
            serde_json::from_str(r#"{"error": "Linkage server timeout"}"#).unwrap();
        assert!(reply.result.is_empty());
        assert_eq!(reply.error.as_deref(), Some("Linkage server timeout"));
    }
}
