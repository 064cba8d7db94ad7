//! Bodies in the shape real MainSEL clients send (SEL's test scripts,
//! Mainzelliste): German field names, HAL data pages, `todate`, integers as
//! strings, unpadded base64, and the aliases the tolerant reader accepts.
use std::path::PathBuf;

use protocol_spec::config::LinkageConfig;
use protocol_spec::messages::mainsel::*;
use protocol_spec::value::{RecordError, record_from_wire, records_from_wire};
use serde_json::{Value, json};

fn fixture(name: &str) -> String {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests/fixtures/reference", name]
        .iter()
        .collect();
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn german_config() -> LinkageConfig {
    let init: InitLocal = serde_json::from_str(&fixture("mainsel_local_init.json")).unwrap();
    init.validate().unwrap()
}

#[test]
fn local_init_keeps_data_service_options() {
    let text = fixture("mainsel_local_init.json");
    let init: InitLocal = serde_json::from_str(&text).unwrap();
    assert_eq!(init.local_id, "SITE_A");
    assert_eq!(init.data_service.page_size, Some(2));
    assert_eq!(init.data_service.extra.get("cacheSeconds"), Some(&json!(0)));
    let back: Value = serde_json::to_value(&init).unwrap();
    assert_eq!(back, serde_json::from_str::<Value>(&text).unwrap());
    let config = init.validate().unwrap();
    let names: Vec<&str> = config.fields().iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "vorname",
            "nachname",
            "geburtsname",
            "geburtstag",
            "geburtsmonat",
            "geburtsjahr",
            "plz",
            "ort"
        ]
    );
}

#[test]
fn remote_init_without_matching_flag_defaults_to_false() {
    let init: InitRemote = serde_json::from_str(&fixture("mainsel_remote_init.json")).unwrap();
    assert!(!init.matching_allowed);
    init.validate().unwrap();
    // Matching mode needs no linkage service.
    let no_ls: InitRemote = serde_json::from_value(json!({
        "connectionProfile": {"url": "https://peer:8162",
            "authentication": {"authType": "apiKey", "sharedKey": "k"}},
        "matchingAllowed": true
    }))
    .unwrap();
    assert!(no_ls.linkage_service.is_none());
    no_ls.validate().unwrap();
    assert!(
        !serde_json::to_string(&no_ls)
            .unwrap()
            .contains("linkageService")
    );
}

#[test]
fn hal_pages_parse_and_navigate() {
    let p1: RecordsPage = serde_json::from_str(&fixture("mainsel_page1.json")).unwrap();
    assert_eq!(p1.total, Some(3));
    assert_eq!(p1.current_page_number, Some(1));
    assert_eq!(p1.last_page_number, Some(2));
    assert_eq!(p1.page_size, Some(2));
    assert_eq!(p1.to_date, Some(Timestamp::Unix(1524096000)));
    assert_eq!(p1.remote_id.as_deref(), Some("SITE_B"));
    assert!(!p1.is_last());
    assert_eq!(
        p1.next_href(),
        Some(
            "http://127.0.0.1:8800/Communicator/getAllRecords/SITE_B?page=2&pagesize=2&todate=1524096000"
        )
    );
    assert_eq!(p1.records[1].id.as_ref().unwrap().as_str(), "ID2");

    let p2: RecordsPage = serde_json::from_str(&fixture("mainsel_page2.json")).unwrap();
    assert!(p2.is_last(), "page numbers say last");
    assert_eq!(p2.next_href(), None);

    // Without page numbers, `next` pointing at `self` also ends the walk.
    let mut p2_no_numbers = p2.clone();
    p2_no_numbers.current_page_number = None;
    p2_no_numbers.last_page_number = None;
    assert!(p2_no_numbers.is_last());
    let mut p1_no_numbers = p1.clone();
    p1_no_numbers.current_page_number = None;
    p1_no_numbers.last_page_number = None;
    assert!(!p1_no_numbers.is_last());
}

#[test]
fn page_writes_reference_spelling_of_todate() {
    let text = fixture("mainsel_page1.json");
    let page: RecordsPage = serde_json::from_str(&text).unwrap();
    let mut expected: Value = serde_json::from_str(&text).unwrap();
    let obj = expected.as_object_mut().unwrap();
    let todate = obj.remove("todate").unwrap();
    obj.insert("toDate".into(), todate);
    assert_eq!(serde_json::to_value(&page).unwrap(), expected);
}

#[test]
fn page_records_convert_for_the_german_config() {
    let config = german_config();
    let mut records = Vec::new();
    for name in ["mainsel_page1.json", "mainsel_page2.json"] {
        let page: RecordsPage = serde_json::from_str(&fixture(name)).unwrap();
        records.extend(records_from_wire(&config, &page.records).unwrap());
    }
    assert_eq!(records.len(), 3);
    let plz = config.field_index("plz").unwrap();
    let jahr = config.field_index("geburtsjahr").unwrap();
    let tag = config.field_index("geburtstag").unwrap();
    let ort = config.field_index("ort").unwrap();
    let vorname = config.field_index("vorname").unwrap();
    let geburtsname = config.field_index("geburtsname").unwrap();

    // plz "65434" is five UTF-8 bytes in a 40-bit string field.
    assert_eq!(records[0][plz].as_ref().unwrap().as_bytes(), b"65434");
    // 1963 = 0x7AB in 11 bits, little-endian.
    assert_eq!(records[0][jahr].as_ref().unwrap().as_bytes(), &[0xAB, 0x07]);
    assert_eq!(records[0][tag].as_ref().unwrap().as_bytes(), &[14]);
    // 2047 is the largest 11-bit year.
    assert_eq!(records[2][jahr].as_ref().unwrap().as_bytes(), &[0xFF, 0x07]);
    // The JAVA test vector has 69 bits set in 62 of 63 bytes.
    let java = records[0][vorname].as_ref().unwrap();
    assert_eq!(java.bitlength(), 500);
    assert_eq!(java.as_bytes().len(), 63);
    assert_eq!(java.count_ones(), 69);
    // A random 60-byte (480-bit) value is zero-padded to 500 bits.
    let ort0 = records[0][ort].as_ref().unwrap();
    assert_eq!(ort0.as_bytes()[60..], [0, 0, 0]);
    // Empty fields: null, whitespace-only, "".
    assert!(records[0][geburtsname].is_none());
    assert!(records[1][ort].is_none(), "whitespace-only string is empty");
    assert!(records[2][geburtsname].is_none(), "\"\" is empty");
    assert!(records[2][plz].is_none());
}

#[test]
fn link_records_in_sel_script_shape() {
    let config = german_config();
    let req: RecordsRequest = serde_json::from_str(&fixture("mainsel_link_records.json")).unwrap();
    assert_eq!(req.to_date, Some(Timestamp::Unix(123132234524563)));
    let records = records_from_wire(&config, &req.records).unwrap();
    let jahr = config.field_index("geburtsjahr").unwrap();
    let vorname = config.field_index("vorname").unwrap();
    // "1981" sent as a string reads like the integer 1981.
    assert_eq!(
        records[1][jahr].as_ref().unwrap().as_bytes(),
        &1981u16.to_le_bytes()
    );
    // Unpadded base64 decodes like the padded form of the same bits.
    let padded = protocol_spec::value::decode_bitmask(
        500,
        "B1BUBEEEFEAAFVQQZEEBVRAAoAAAAIEQAAABAhAAAAgAABAgECAAgUAQAIACAABAABACAAEEEARMAARQERQ=",
    )
    .unwrap();
    assert_eq!(records[0][vorname].as_ref().unwrap(), &padded);
}

#[test]
fn match_callback_in_sel_shape() {
    let cb: MatchCallback = serde_json::from_str(&fixture("mainsel_match_callback.json")).unwrap();
    assert_eq!(cb.check(), Ok(()));
    let r = cb.result.unwrap().into_vec();
    assert_eq!((r[0].matches, r[0].tentative_matches), (1, 2));
}

#[test]
fn tolerant_aliases() {
    // SEL answers job status in capitalised form; bodies may be quoted.
    assert_eq!("Running".parse::<JobStatus>(), Ok(JobStatus::Running));
    assert_eq!(" done\n".parse::<JobStatus>(), Ok(JobStatus::Done));
    assert_eq!("\"FAULT\"".parse::<JobStatus>(), Ok(JobStatus::Fault));
    let list: JobsList = serde_json::from_str(r#"{"a": "Queued", "b": "HOLD"}"#).unwrap();
    assert_eq!(list.get("a"), Some(&JobStatus::Queued));
    assert_eq!(
        serde_json::to_string(&list).unwrap(),
        r#"{"a":"QUEUED","b":"HOLD"}"#
    );

    // An early MainzellisteSEL client: "localAuthentification", "epiLink",
    // and the legacy "bloomLength".
    let init: InitLocal = serde_json::from_value(json!({
        "localId": "ML_1",
        "localAuthentification": {"authType": "apiKey", "sharedKey": "abc"},
        "dataService": {"url": "http://ml:8080/getAllRecords", "pagesize": 50},
        "algorithm": {
            "algoType": "epiLink", "bloomLength": 500,
            "threshold_match": 0.9, "threshold_non_match": 0.7,
            "fields": [{"name": "a", "frequency": 0.01, "errorRate": 0.01,
                        "comparator": "binary", "fieldType": "integer", "bitlength": 8}]
        }
    }))
    .unwrap();
    assert_eq!(init.data_service.page_size, Some(50));
    assert_eq!(init.algorithm.bloom_length, Some(500));
    assert!(init.algorithm.exchange_groups.is_empty());
    init.validate().unwrap();
    // Written back with the reference's spelling.
    let v = serde_json::to_value(&init).unwrap();
    assert!(v.get("localAuthentication").is_some());
    assert_eq!(v["dataService"]["pageSize"], json!(50));

    // Callback result keys in snake case, record ids as integers.
    let cb: MatchCallback =
        serde_json::from_str(r#"{"result": {"matches": 3, "tentative_matches": 4}}"#).unwrap();
    assert_eq!(cb.result.unwrap().into_vec()[0].tentative_matches, 4);
    let rec: WireRecord = serde_json::from_str(r#"{"fields": {}, "id": 17}"#).unwrap();
    assert_eq!(rec.id, Some(RecordId("17".into())));
    let rec: WireRecord = serde_json::from_str(r#"{"fields": {}, "id": "x", "extra": 1}"#).unwrap();
    assert_eq!(rec.id.unwrap().as_str(), "x");
}

#[test]
fn link_result_keeps_extra_keys() {
    let text = r#"{"result": [{"linkageId": "QUJD", "tentative": true}], "warning": "w"}"#;
    let cb: LinkCallback = serde_json::from_str(text).unwrap();
    let r = &cb.result.as_ref().unwrap().as_slice()[0];
    assert_eq!(r.linkage_id, "QUJD");
    assert_eq!(r.extra.get("tentative"), Some(&json!(true)));
    assert_eq!(
        serde_json::to_value(&cb).unwrap(),
        serde_json::from_str::<Value>(text).unwrap()
    );
}

#[test]
fn strict_where_it_protects_data() {
    // A field given twice would lose one of the values.
    let e = serde_json::from_str::<RecordRequest>(
        r#"{"callback": {"url": "http://x/cb"}, "fields": {"a": 1, "b": null, "a": 2}}"#,
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("duplicate key \"a\" in object"),
        "{e}"
    );
    // An unknown algorithm option would silently change the model.
    let e = serde_json::from_value::<AlgorithmConfig>(json!({
        "algoType": "epilink", "threshold_match": 0.9, "threshold_non_match": 0.7,
        "fields": [], "useTentativeMatches": false
    }))
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("unknown field `useTentativeMatches`"),
        "{e}"
    );
    let e = serde_json::from_value::<WireFieldSpec>(json!({
        "name": "a", "frequency": 0.1, "errorRate": 0.1, "comparator": "binary",
        "fieldType": "integer", "bitlength": 4, "weight": 3
    }))
    .unwrap_err();
    assert!(e.to_string().contains("unknown field `weight`"), "{e}");
    // Unknown comparator or type names are named in the error.
    let e = serde_json::from_value::<WireFieldSpec>(json!({
        "name": "a", "frequency": 0.1, "errorRate": 0.1, "comparator": "jaro",
        "fieldType": "integer", "bitlength": 4
    }))
    .unwrap_err();
    assert!(e.to_string().contains("unknown variant `jaro`"), "{e}");
    // Only API keys authenticate.
    let e = serde_json::from_value::<Authentication>(json!({"authType": "none", "sharedKey": ""}))
        .unwrap_err();
    assert!(e.to_string().contains("unknown variant `none`"), "{e}");
    // A field value must be null, a number or a string.
    let e = serde_json::from_str::<FieldMap>(r#"{"a": true}"#).unwrap_err();
    assert!(
        e.to_string()
            .contains("a field value: null, a number or a string"),
        "{e}"
    );
    let e = serde_json::from_str::<FieldMap>(r#"{"a": [1]}"#).unwrap_err();
    assert!(e.to_string().contains("a field value"), "{e}");
}

#[test]
fn field_values_keep_kind_and_order() {
    let text = r#"{"z":null,"y":-3,"x":1.5,"w":"s","v":18446744073709551615,"u":2.0}"#;
    let m: FieldMap = serde_json::from_str(text).unwrap();
    assert_eq!(m.keys().collect::<Vec<_>>(), ["z", "y", "x", "w", "v", "u"]);
    assert_eq!(m.get("y"), Some(&FieldValue::Integer(-3)));
    assert_eq!(m.get("x"), Some(&FieldValue::Number(1.5)));
    assert_eq!(m.get("v"), Some(&FieldValue::Integer(u64::MAX.into())));
    assert_eq!(m.get("u"), Some(&FieldValue::Number(2.0)));
    assert_eq!(serde_json::to_string(&m).unwrap(), text);
}

#[test]
fn a_record_with_wrong_names_is_a_configuration_mismatch() {
    let config = german_config();
    let req: RecordRequest = serde_json::from_value(json!({
        "callback": {"url": "http://127.0.0.1:1/cb"},
        "fields": {"firstname": null, "vorname": null}
    }))
    .unwrap();
    let e = record_from_wire(&config, &req.fields).unwrap_err();
    assert!(e.is_configuration_mismatch());
    assert!(
        matches!(e, RecordError::FieldsMismatch { ref unknown, ref missing }
        if unknown == &["firstname"] && missing.len() == 7)
    );
}
