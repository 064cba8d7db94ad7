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
//!
//! Pairing: both posts of one job carry the same `jobTag`, a 32-byte value
//! both nodes derive inside the 2PC from its handshake transcript, plus the
//! job's sizes (`queryRecords`, `databaseRecords`). All three are mandatory;
//! [`LinkageResultRequest::check`] validates one post on its own.
//!
//! No `Debug` impl of this module prints a share, a job tag or a (sealed)
//! LID: those types print counts only.

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// Length of a job tag in bytes (64 hex characters on the wire).
pub const JOB_TAG_LEN: usize = 32;

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
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FreshIdsResponse {
    #[serde(rename = "linkageIds")]
    pub linkage_ids: Vec<String>,
}

impl fmt::Debug for FreshIdsResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FreshIdsResponse")
            .field("linkage_ids", &Count(self.linkage_ids.len()))
            .finish()
    }
}

/// Prints as `<n items>`: what `Debug` shows instead of secret lists.
struct Count(usize);

impl fmt::Debug for Count {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{} items>", self.0)
    }
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
/// and the index of the best-scoring row of the server's database. `Debug`
/// prints no share.
#[derive(Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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

impl fmt::Debug for ShareRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ShareRecord(..)")
    }
}

/// Body of `POST /linkageResult/{local_id}/{remote_id}` (step L.2).
///
/// `Debug` prints the role and the sizes only (no share, tag or LID).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkageResultRequest {
    pub role: Role,
    /// The 32-byte tag both nodes derive inside the 2PC from its handshake
    /// transcript, as 64 lowercase hex characters. Pairs the two posts of a
    /// job: the LS pairs only posts of the same site pair and tag.
    #[serde(rename = "jobTag", deserialize_with = "de_job_tag")]
    pub job_tag: String,
    /// M, the number of query records (the client's records) of the job.
    #[serde(rename = "queryRecords", deserialize_with = "de_query_records")]
    pub query_records: u64,
    /// N, the number of database records (the server's records) of the job.
    #[serde(rename = "databaseRecords", deserialize_with = "de_database_records")]
    pub database_records: u64,
    /// One share record per query record of the job, in query order.
    #[serde(deserialize_with = "de_one_or_many")]
    pub result: Vec<ShareRecord>,
    /// The server's LIDs, sealed under its own key, in database order (so the
    /// combined `bestIndex` points into this list); exactly N of them. Only
    /// the server sends them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ids: Option<Vec<String>>,
}

impl fmt::Debug for LinkageResultRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LinkageResultRequest")
            .field("role", &self.role)
            .field("query_records", &self.query_records)
            .field("database_records", &self.database_records)
            .field("result", &Count(self.result.len()))
            .field("ids", &self.ids.as_ref().map(|ids| Count(ids.len())))
            .finish_non_exhaustive()
    }
}

/// Why a linkage post is malformed on its own. Each message names the field
/// and never carries a share, tag or LID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkageRequestError {
    #[error("jobTag must be {} lowercase hex characters", 2 * JOB_TAG_LEN)]
    BadJobTag,
    #[error("queryRecords must be at least 1")]
    NoQueryRecords,
    #[error("databaseRecords must be at least 1")]
    NoDatabaseRecords,
    #[error("result has {actual} share records but queryRecords is {expected}")]
    ResultLength { expected: u64, actual: usize },
    #[error("the server's post must carry its LIDs in \"ids\"")]
    ServerWithoutIds,
    #[error("ids has {actual} entries but databaseRecords is {expected}")]
    IdsLength { expected: u64, actual: usize },
    #[error("the client's post must not carry \"ids\"; only the server sends its LIDs")]
    ClientWithIds,
}

/// Parses a job tag: exactly 64 lowercase hex characters.
pub fn parse_job_tag(text: &str) -> Result<[u8; JOB_TAG_LEN], LinkageRequestError> {
    let bytes = text.as_bytes();
    if bytes.len() != 2 * JOB_TAG_LEN {
        return Err(LinkageRequestError::BadJobTag);
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Ok(c - b'0'),
        b'a'..=b'f' => Ok(c - b'a' + 10),
        _ => Err(LinkageRequestError::BadJobTag),
    };
    let mut tag = [0u8; JOB_TAG_LEN];
    for (out, pair) in tag.iter_mut().zip(bytes.chunks_exact(2)) {
        *out = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Ok(tag)
}

/// Formats a job tag as the wire expects it (64 lowercase hex characters).
pub fn format_job_tag(tag: &[u8; JOB_TAG_LEN]) -> String {
    tag.iter().map(|b| format!("{b:02x}")).collect()
}

impl LinkageResultRequest {
    /// Everything that can be checked about one post on its own: the tag's
    /// form, M ≥ 1, N ≥ 1, `result` has M entries, and the server (only the
    /// server) sends exactly N LIDs. Returns the parsed tag.
    pub fn check(&self) -> Result<[u8; JOB_TAG_LEN], LinkageRequestError> {
        let tag = parse_job_tag(&self.job_tag)?;
        if self.query_records == 0 {
            return Err(LinkageRequestError::NoQueryRecords);
        }
        if self.database_records == 0 {
            return Err(LinkageRequestError::NoDatabaseRecords);
        }
        if self.result.len() as u64 != self.query_records {
            return Err(LinkageRequestError::ResultLength {
                expected: self.query_records,
                actual: self.result.len(),
            });
        }
        match self.role {
            Role::Server => {
                let ids = self
                    .ids
                    .as_ref()
                    .ok_or(LinkageRequestError::ServerWithoutIds)?;
                if ids.len() as u64 != self.database_records {
                    return Err(LinkageRequestError::IdsLength {
                        expected: self.database_records,
                        actual: ids.len(),
                    });
                }
            }
            Role::Client => {
                if self.ids.as_ref().is_some_and(|ids| !ids.is_empty()) {
                    return Err(LinkageRequestError::ClientWithIds);
                }
            }
        }
        Ok(tag)
    }
}

/// The LS's answer for one query record (client side only). `Debug` does
/// not print the LID.
#[derive(Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
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

impl fmt::Debug for LinkageIdResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LinkageIdResult")
            .field("linkage_id", &self.linkage_id.as_ref().map(|_| ".."))
            .field("tentative", &self.tentative)
            .finish()
    }
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

/// A record count that names its field when it is malformed (serde's own
/// message would only say "expected u64").
struct CountVisitor(&'static str);

impl Visitor<'_> for CountVisitor {
    type Value = u64;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} as a non-negative integer", self.0)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
        Ok(v)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
        u64::try_from(v).map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
    }
}

fn de_query_records<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    d.deserialize_u64(CountVisitor("queryRecords"))
}

fn de_database_records<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    d.deserialize_u64(CountVisitor("databaseRecords"))
}

/// The job tag as a string, naming the field when it is not one. Its form
/// is checked by [`LinkageResultRequest::check`].
fn de_job_tag<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    struct TagVisitor;
    impl Visitor<'_> for TagVisitor {
        type Value = String;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(
                f,
                "jobTag as a string of {} hex characters",
                2 * JOB_TAG_LEN
            )
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
            Ok(v.to_string())
        }
    }
    d.deserialize_str(TagVisitor)
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

    const TAG: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

    #[test]
    fn reference_shaped_request_with_single_result_object() {
        let body = format!(
            r#"{{"role": "server", "jobTag": "{TAG}", "queryRecords": 1, "databaseRecords": 1,
            "result": {{"match": 0, "tentativeMatch": 1, "bestIndex": 4}},
            "ids": ["Rm9vQmFy"]}}"#
        );
        let req: LinkageResultRequest = serde_json::from_str(&body).unwrap();
        assert_eq!(req.role, Role::Server);
        assert_eq!(req.job_tag, TAG);
        assert_eq!((req.query_records, req.database_records), (1, 1));
        assert_eq!(
            req.result,
            vec![ShareRecord {
                match_share: false,
                tentative_share: true,
                best_index_share: 4
            }]
        );
        assert_eq!(req.ids.as_deref(), Some(&["Rm9vQmFy".to_string()][..]));
        assert_eq!(req.check().unwrap()[..2], [0x00, 0x11]);
    }

    #[test]
    fn mainsel_script_aliases_and_array_result() {
        let body = format!(
            r#"{{"role": "client", "jobTag": "{TAG}", "queryRecords": 2, "databaseRecords": 9,
            "result": [{{"match": true, "tentative_match": 1, "bestId": "17"}},
                       {{"match": 0, "tentativeMatch": false, "best_index": 0}}]}}"#
        );
        let req: LinkageResultRequest = serde_json::from_str(&body).unwrap();
        assert_eq!(req.role, Role::Client);
        assert_eq!(req.result.len(), 2);
        assert!(req.result[0].match_share && req.result[0].tentative_share);
        assert_eq!(req.result[0].best_index_share, 17);
        assert!(!req.result[1].match_share && !req.result[1].tentative_share);
        req.check().unwrap();
    }

    #[test]
    fn the_tag_and_both_sizes_are_mandatory_and_named_when_missing() {
        let full = serde_json::json!({"role": "client", "jobTag": TAG, "queryRecords": 1,
            "databaseRecords": 1, "result": [{"match": 0, "tentativeMatch": 0, "bestIndex": 0}]});
        assert!(serde_json::from_value::<LinkageResultRequest>(full.clone()).is_ok());
        for field in ["jobTag", "queryRecords", "databaseRecords"] {
            let mut body = full.clone();
            body.as_object_mut().unwrap().remove(field);
            let err = serde_json::from_value::<LinkageResultRequest>(body).unwrap_err();
            assert!(err.to_string().contains(field), "{field}: {err}");
        }
        for (field, bad) in [
            ("queryRecords", serde_json::json!(-1)),
            ("queryRecords", serde_json::json!("1")),
            ("databaseRecords", serde_json::json!(1.5)),
            ("jobTag", serde_json::json!(7)),
        ] {
            let mut body = full.clone();
            body[field] = bad;
            let err = serde_json::from_value::<LinkageResultRequest>(body).unwrap_err();
            assert!(err.to_string().contains(field), "{field}: {err}");
        }
        // The old optional job id is no longer part of the format: ignored.
        let mut body = full.clone();
        body["jobId"] = serde_json::json!("j-1");
        assert!(serde_json::from_value::<LinkageResultRequest>(body).is_ok());
    }

    #[test]
    fn job_tags_are_64_lowercase_hex_characters() {
        let tag = parse_job_tag(TAG).unwrap();
        assert_eq!(format_job_tag(&tag), TAG);
        for bad in [
            "",
            &TAG[..62],
            &format!("{TAG}00"),
            &TAG.to_uppercase(),
            &format!("{}zz", &TAG[..62]),
            &format!("{}é", &TAG[..62]),
        ] {
            assert_eq!(
                parse_job_tag(bad),
                Err(LinkageRequestError::BadJobTag),
                "{bad}"
            );
        }
    }

    fn request(
        role: Role,
        m: u64,
        n: u64,
        shares: usize,
        ids: Option<usize>,
    ) -> LinkageResultRequest {
        LinkageResultRequest {
            role,
            job_tag: TAG.into(),
            query_records: m,
            database_records: n,
            result: vec![
                ShareRecord {
                    match_share: false,
                    tentative_share: false,
                    best_index_share: 0,
                };
                shares
            ],
            ids: ids.map(|k| vec!["x".to_string(); k]),
        }
    }

    #[test]
    fn check_enforces_sizes_per_role() {
        use LinkageRequestError as E;
        assert!(request(Role::Server, 2, 3, 2, Some(3)).check().is_ok());
        assert!(request(Role::Client, 2, 3, 2, None).check().is_ok());
        assert!(request(Role::Client, 2, 3, 2, Some(0)).check().is_ok());
        let err = |r: LinkageResultRequest| r.check().unwrap_err();
        assert_eq!(err(request(Role::Client, 0, 3, 0, None)), E::NoQueryRecords);
        assert_eq!(
            err(request(Role::Client, 1, 0, 1, None)),
            E::NoDatabaseRecords
        );
        assert_eq!(
            err(request(Role::Client, 2, 3, 1, None)),
            E::ResultLength {
                expected: 2,
                actual: 1
            }
        );
        assert_eq!(
            err(request(Role::Server, 1, 3, 1, None)),
            E::ServerWithoutIds
        );
        // Short and empty LID lists are refused (issue 9, item 8).
        assert_eq!(
            err(request(Role::Server, 1, 3, 1, Some(2))),
            E::IdsLength {
                expected: 3,
                actual: 2
            }
        );
        assert_eq!(
            err(request(Role::Server, 1, 3, 1, Some(0))),
            E::IdsLength {
                expected: 3,
                actual: 0
            }
        );
        assert_eq!(
            err(request(Role::Client, 1, 3, 1, Some(1))),
            E::ClientWithIds
        );
        let mut bad_tag = request(Role::Client, 1, 1, 1, None);
        bad_tag.job_tag = "job-7".into();
        assert_eq!(err(bad_tag), E::BadJobTag);
    }

    #[test]
    fn rejects_bits_outside_zero_one_and_negative_indices() {
        let bad_bit = format!(
            r#"{{"role":"client","jobTag":"{TAG}","queryRecords":1,"databaseRecords":1,
            "result":[{{"match":2,"tentativeMatch":0,"bestIndex":0}}]}}"#
        );
        let err = serde_json::from_str::<LinkageResultRequest>(&bad_bit).unwrap_err();
        assert!(err.to_string().contains("bit share"), "{err}");
        let bad_idx = format!(
            r#"{{"role":"client","jobTag":"{TAG}","queryRecords":1,"databaseRecords":1,
            "result":[{{"match":1,"tentativeMatch":0,"bestIndex":-3}}]}}"#
        );
        let err = serde_json::from_str::<LinkageResultRequest>(&bad_idx).unwrap_err();
        assert!(err.to_string().contains("index share"), "{err}");
        let bad_role = format!(
            r#"{{"role":"observer","jobTag":"{TAG}","queryRecords":1,"databaseRecords":1,"result":[]}}"#
        );
        assert!(serde_json::from_str::<LinkageResultRequest>(&bad_role).is_err());
    }

    #[test]
    fn writer_uses_reference_spelling() {
        let req = LinkageResultRequest {
            role: Role::Client,
            job_tag: TAG.into(),
            query_records: 1,
            database_records: 5,
            result: vec![ShareRecord {
                match_share: true,
                tentative_share: false,
                best_index_share: 9,
            }],
            ids: None,
        };
        let json = serde_json::to_value(&req).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"role": "client", "jobTag": TAG, "queryRecords": 1,
                "databaseRecords": 5,
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
    fn debug_output_carries_no_share_tag_or_lid() {
        let mut req = request(Role::Server, 1, 1, 1, Some(1));
        req.result[0].best_index_share = 0xfeed_f00d_1234;
        req.ids = Some(vec!["U0VBTEVETElE".into()]);
        let reply = LinkageResultResponse {
            result: vec![LinkageIdResult {
                linkage_id: Some("U0VBTEVETElE".into()),
                tentative: true,
            }],
            warning: None,
            error: None,
        };
        let fresh = FreshIdsResponse {
            linkage_ids: vec!["U0VBTEVETElE".into()],
        };
        let texts = [
            format!("{req:?}"),
            format!("{:?}", req.result[0]),
            format!("{reply:?}"),
            format!("{fresh:?}"),
        ];
        for text in &texts {
            for secret in [
                "U0VBTEVETElE",
                TAG,
                &0xfeed_f00d_1234u64.to_string(),
                "feedf00d",
            ] {
                assert!(!text.contains(secret), "{text} shows {secret}");
            }
        }
        assert!(
            texts[0].contains("Server") && texts[0].contains("<1 items>"),
            "{}",
            texts[0]
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
