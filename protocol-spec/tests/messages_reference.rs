//! Every example body of the MainSEL API reference (transcribed as strict JSON
//! in `tests/fixtures/reference/`, see its README) parses into its wire type
//! and round-trips: serialize → parse gives the same value, and the
//! serialized JSON equals the fixture as a JSON value.
use std::path::PathBuf;

use protocol_spec::config::{Comparator, FieldType};
use protocol_spec::messages::mainsel::*;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

fn fixture(name: &str) -> String {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests/fixtures/reference", name]
        .iter()
        .collect();
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Parses a fixture as `T`, checks the round trip, returns the value.
fn round_trip<T>(name: &str) -> T
where
    T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let text = fixture(name);
    let parsed: T = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
    let written = serde_json::to_string(&parsed).unwrap();
    let reparsed: T = serde_json::from_str(&written).unwrap();
    assert_eq!(
        parsed, reparsed,
        "{name}: serialize → parse changed the value"
    );
    let original: Value = serde_json::from_str(&text).unwrap();
    let rewritten: Value = serde_json::from_str(&written).unwrap();
    assert_eq!(
        original, rewritten,
        "{name}: JSON differs after the round trip"
    );
    parsed
}

#[test]
fn init_local_example() {
    let m: InitLocal = round_trip("init_local.json");
    assert_eq!(m.local_id, "TUD");
    assert_eq!(m.local_authentication.auth_type, AuthType::ApiKey);
    assert_eq!(m.local_authentication.shared_key.expose(), "123abc");
    assert_eq!(
        m.data_service.url,
        "https://ml.verbis.dkfz.de:8080/rest/api/getAllRecords"
    );
    assert!(m.data_service.extra.is_empty());
    let a = &m.algorithm;
    assert_eq!(a.algo_type, "epilink");
    assert_eq!((a.threshold_match, a.threshold_non_match), (0.9, 0.7));
    assert_eq!(
        a.exchange_groups,
        vec![vec!["firstname", "lastname", "birthname"]]
    );
    assert_eq!(a.fields.len(), 8);
    assert_eq!(a.fields[1].name, "lastname");
    assert_eq!(a.fields[1].frequency, 0.0000271);
    assert_eq!(a.fields[3].field_type, FieldType::Number);
    assert_eq!(a.fields[3].bitlength, 5);
    assert_eq!(a.fields[7].comparator, Comparator::Dice);
    // The example is a valid configuration.
    let config = m.validate().expect("reference initLocal example validates");
    assert_eq!(config.fields().len(), 8);
    assert_eq!(config.exchange_groups(), &[vec![0, 1, 2]]);
}

#[test]
fn init_remote_example() {
    let m: InitRemote = round_trip("init_remote.json");
    assert_eq!(m.connection_profile.url, "http://sel.mhh.de:1664");
    assert_eq!(
        m.connection_profile.authentication.shared_key.expose(),
        "xkcd123"
    );
    let ls = m.linkage_service.as_ref().unwrap();
    assert_eq!(ls.url, "https://ls.verbis.dkfz.de/");
    assert_eq!(ls.authentication.shared_key.expose(), "bcd234");
    assert!(m.matching_allowed);
    m.validate()
        .expect("reference initRemote example validates");
}

fn check_example_fields(fields: &FieldMap) {
    let names: Vec<&str> = fields.keys().collect();
    assert_eq!(
        names,
        [
            "firstname",
            "lastname",
            "birthname",
            "birthday",
            "birthmonth",
            "birthyear",
            "zipcode",
            "city"
        ],
        "field order is the sender's"
    );
    assert_eq!(fields.get("birthname"), Some(&FieldValue::Null));
    assert_eq!(fields.get("birthday"), Some(&FieldValue::Integer(24)));
    assert_eq!(fields.get("zipcode"), Some(&FieldValue::Integer(65432)));
    assert_eq!(
        fields.get("lastname"),
        Some(&FieldValue::String("5f3dPPzqJvw=...".into()))
    );
}

#[test]
fn link_record_and_match_record_examples() {
    let m: RecordRequest = round_trip("link_record.json");
    assert_eq!(
        m.callback.url,
        "https://mlc.verbis.dkfz.de/linkCallback?idType=link%3ATUD%3ADKFZ&idString=randomRef"
    );
    check_example_fields(&m.fields);
    let m: RecordRequest = round_trip("match_record.json");
    assert!(m.callback.url.contains("/matchCallback?"));
    check_example_fields(&m.fields);
}

#[test]
fn link_records_and_match_records_examples() {
    for name in ["link_records.json", "match_records.json"] {
        let m: RecordsRequest = round_trip(name);
        assert_eq!(m.total, Some(1250));
        assert_eq!(m.to_date, Some(Timestamp::Unix(1232345512)));
        assert_eq!(m.records.len(), 2);
        for r in &m.records {
            check_example_fields(&r.fields);
            assert_eq!(r.id, None);
        }
    }
}

#[test]
fn link_callback_examples() {
    let one: LinkCallback = round_trip("link_callback_one.json");
    match one.result.as_ref().unwrap() {
        OneOrMany::One(r) => assert_eq!(r.linkage_id, "FooBar="),
        other => panic!("expected one result, got {other:?}"),
    }
    assert!(one.warning.as_deref().unwrap().starts_with("The following"));
    assert_eq!(one.error.as_deref(), Some("Linkage server timeout"));
    // The example shows result and error together, which the text forbids.
    assert_eq!(one.check(), Err(CallbackError::ErrorWithResult));

    let many: LinkCallback = round_trip("link_callback_many.json");
    match many.result.as_ref().unwrap() {
        OneOrMany::Many(v) => {
            assert_eq!(v.len(), 2);
            assert!(
                v.iter()
                    .all(|r| r.linkage_id == "FooBar=" && r.extra.is_empty())
            );
        }
        other => panic!("expected an array, got {other:?}"),
    }
    assert_eq!(many.result.as_ref().unwrap().as_slice().len(), 2);
}

#[test]
fn match_callback_example() {
    let m: MatchCallback = round_trip("match_callback.json");
    assert_eq!(
        m.result.as_ref().unwrap().as_slice(),
        &[MatchResult {
            matches: 7,
            tentative_matches: 10
        }]
    );
    assert_eq!(m.error.as_deref(), Some("Remote party unreachable."));
}

#[test]
fn get_all_records_example() {
    let p: RecordsPage = round_trip("get_all_records.json");
    assert_eq!(p.total, Some(1250));
    assert_eq!(p.to_date, Some(Timestamp::Unix(1524096000)));
    assert_eq!(p.local_id.as_deref(), Some("DKFZ"));
    assert_eq!(p.remote_id.as_deref(), Some("TUD"));
    assert_eq!(p.links, None);
    assert_eq!(p.records.len(), 2);
    assert_eq!(p.records[0].id, Some(RecordId("12345".into())));
    assert_eq!(p.records[1].id.as_ref().unwrap().as_str(), "23231");
    // Here zipcode is a string, unlike in linkRecord.
    assert_eq!(
        p.records[0].fields.get("zipcode"),
        Some(&FieldValue::String("65432".into()))
    );
    assert_eq!(
        p.records[1].fields.get("birthmonth"),
        Some(&FieldValue::Integer(1))
    );
    // No paging information: the only page is the last one.
    assert!(p.is_last());
    assert_eq!(p.next_href(), None);
}

#[test]
fn jobs_list_example() {
    let l: JobsList = round_trip("jobs_list.json");
    assert_eq!(l.get("0012345823"), Some(&JobStatus::Running));
    assert_eq!(l.len(), 1);
    let empty: JobsList = serde_json::from_str("{}").unwrap();
    assert!(empty.is_empty());
    assert_eq!(serde_json::to_string(&empty).unwrap(), "{}");
}

#[test]
fn job_status_strings() {
    for (s, st) in [
        ("QUEUED", JobStatus::Queued),
        ("RUNNING", JobStatus::Running),
        ("HOLD", JobStatus::Hold),
        ("FAULT", JobStatus::Fault),
        ("DONE", JobStatus::Done),
    ] {
        assert_eq!(st.as_str(), s);
        assert_eq!(st.to_string(), s);
        assert_eq!(s.parse::<JobStatus>(), Ok(st));
        assert_eq!(serde_json::to_string(&st).unwrap(), format!("\"{s}\""));
        assert_eq!(
            serde_json::from_str::<JobStatus>(&format!("\"{s}\"")).unwrap(),
            st
        );
    }
    assert!(JobStatus::Done.is_final() && JobStatus::Fault.is_final());
    assert!(!JobStatus::Queued.is_final() && !JobStatus::Running.is_final());
    assert!(!JobStatus::Hold.is_final());
}

#[test]
fn linkage_service_reply_has_the_callback_shape() {
    // The node forwards the linkage service's reply to the callback, so the
    // reference's reply example must parse as a link callback.
    let reply: LinkCallback = round_trip("ls_linkage_result_reply.json");
    assert_eq!(reply.result.unwrap().into_vec().len(), 2);
}

#[test]
fn every_fixture_is_strict_json() {
    let dir: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests/fixtures/reference"]
        .iter()
        .collect();
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            let text = std::fs::read_to_string(&path).unwrap();
            serde_json::from_str::<Value>(&text)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            n += 1;
        }
    }
    assert!(n >= 14, "expected all reference fixtures, found {n}");
}
