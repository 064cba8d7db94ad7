//! Message-level validation: ids, URLs, keys, the Authorization header, the
//! algorithm block, init bodies, callbacks and job status; each error variant
//! with its message.
use protocol_spec::config::ConfigError;
use protocol_spec::messages::mainsel::*;
use serde_json::json;

#[test]
fn remote_ids() {
    for ok in ["dkfz", "TUD", "site_2", "_", "0", "Local", "LOCAL"] {
        assert_eq!(check_remote_id(ok), Ok(()), "{ok}");
        assert_eq!(RemoteId::parse(ok).unwrap().as_str(), ok);
    }
    assert_eq!(check_remote_id(""), Err(IdError::Empty));
    assert_eq!(IdError::Empty.to_string(), "id must not be empty");
    let e = check_remote_id("dk-fz").unwrap_err();
    assert_eq!(
        e,
        IdError::InvalidCharacter {
            character: '-',
            position: 2
        }
    );
    assert_eq!(
        e.to_string(),
        "id has character '-' at position 2; only [a-zA-Z0-9_] is allowed"
    );
    for bad in ["a/b", "a b", "..", "ä", "a%2F", "x\n"] {
        assert!(
            matches!(check_remote_id(bad), Err(IdError::InvalidCharacter { .. })),
            "{bad:?}"
        );
    }
    assert_eq!(check_remote_id("local"), Err(IdError::ReservedLocal));
    let longest = "a".repeat(64);
    assert_eq!(check_remote_id(&longest), Ok(()));
    let too_long = "a".repeat(65);
    assert_eq!(
        check_remote_id(&too_long),
        Err(IdError::TooLong { length: 65 })
    );
    assert_eq!(
        IdError::TooLong { length: 65 }.to_string(),
        "id has 65 characters; at most 64 are allowed"
    );
    assert_eq!(
        "local".parse::<RemoteId>().unwrap_err().to_string(),
        "\"local\" is reserved for the local configuration and cannot name a remote"
    );
    // "local" is a valid *site* id (it is only reserved as a remote path).
    assert_eq!(check_site_id("local"), Ok(()));
    assert_eq!(RESERVED_LOCAL_ID, "local");
}

#[test]
fn urls() {
    for ok in [
        "https://ls.verbis.dkfz.de/",
        "http://sel.mhh.de:1664",
        "HTTPS://Host/x?y#z",
        "http://user@host:1/",
        "http://127.0.0.1:8800/Communicator/getAllRecords",
    ] {
        assert_eq!(check_url(ok), Ok(()), "{ok}");
    }
    assert_eq!(check_url(""), Err(UrlError::Empty));
    assert_eq!(check_url("ftp://x/"), Err(UrlError::Scheme));
    assert_eq!(check_url("localhost:8080"), Err(UrlError::Scheme));
    assert_eq!(check_url("http://"), Err(UrlError::NoHost));
    assert_eq!(check_url("https:///path"), Err(UrlError::NoHost));
    assert_eq!(check_url("http://:80/"), Err(UrlError::NoHost));
    assert_eq!(check_url("http://a b/"), Err(UrlError::InvalidCharacter));
    assert_eq!(UrlError::Empty.to_string(), "URL must not be empty");
    assert_eq!(
        UrlError::Scheme.to_string(),
        "URL must start with http:// or https://"
    );
    assert_eq!(UrlError::NoHost.to_string(), "URL has no host");
    assert_eq!(
        UrlError::InvalidCharacter.to_string(),
        "URL contains whitespace or a control character"
    );
}

#[test]
fn shared_keys() {
    assert_eq!(SharedKey::new("123abc").check(), Ok(()));
    assert_eq!(SharedKey::new("").check(), Err(SharedKeyError::Empty));
    assert_eq!(
        SharedKey::new("ab c").check(),
        Err(SharedKeyError::InvalidCharacter { position: 2 })
    );
    assert_eq!(
        SharedKey::new("ab c").check().unwrap_err().to_string(),
        "sharedKey has a character outside visible ASCII at byte 2"
    );
    // Debug never shows a key.
    let auth = Authentication::api_key("topsecret");
    assert!(!format!("{auth:?}").contains("topsecret"));
    assert!(format!("{auth:?}").contains("<redacted>"));
}

#[test]
fn authorization_header() {
    let key = SharedKey::new("123abc");
    let header = authorization_header_value(&key);
    assert_eq!(header, r#"apiKey apiKey="123abc""#);
    assert_eq!(parse_authorization_header(&header).unwrap(), "123abc");
    // Escaping round trip.
    let odd = SharedKey::new(r#"a"b\c"#);
    let h = authorization_header_value(&odd);
    assert_eq!(h, r#"apiKey apiKey="a\"b\\c""#);
    assert_eq!(parse_authorization_header(&h).unwrap(), r#"a"b\c"#);
    // Case-insensitive scheme and parameter, optional spaces, token form.
    assert_eq!(
        parse_authorization_header(r#"APIKEY apikey = "k""#).unwrap(),
        "k"
    );
    assert_eq!(parse_authorization_header("apiKey apiKey=k").unwrap(), "k");
    assert_eq!(
        parse_authorization_header("  apiKey\tapiKey=\"k\"  ").unwrap(),
        "k"
    );

    use AuthHeaderError::*;
    let cases = [
        (
            "Basic dXNlcjpwdw==",
            WrongScheme,
            "authorization scheme must be apiKey",
        ),
        ("", WrongScheme, "authorization scheme must be apiKey"),
        (
            "apiKey",
            MissingParameter,
            "authorization header lacks the apiKey=\"...\" parameter",
        ),
        (
            "apiKey key=\"k\"",
            MissingParameter,
            "authorization header lacks the apiKey=\"...\" parameter",
        ),
        (
            "apiKey apiKey=\"k",
            Unterminated,
            "authorization header has an unterminated quoted string",
        ),
        (
            "apiKey apiKey=\"k\\",
            Unterminated,
            "authorization header has an unterminated quoted string",
        ),
        (
            "apiKey apiKey=\"k\" x",
            TrailingText,
            "authorization header has text after the key",
        ),
        (
            "apiKey apiKey=k x",
            TrailingText,
            "authorization header has text after the key",
        ),
        (
            "apiKey apiKey=\"\"",
            EmptyKey,
            "the API key in the authorization header is empty",
        ),
        (
            "apiKey apiKey=",
            EmptyKey,
            "the API key in the authorization header is empty",
        ),
    ];
    for (value, variant, message) in cases {
        let e = parse_authorization_header(value).unwrap_err();
        assert_eq!(e, variant, "{value:?}");
        assert_eq!(e.to_string(), message);
    }
}

fn algorithm(v: serde_json::Value) -> AlgorithmConfig {
    serde_json::from_value(v).unwrap()
}

fn one_field_algorithm(algo_type: &str) -> AlgorithmConfig {
    algorithm(json!({
        "algoType": algo_type, "threshold_match": 0.9, "threshold_non_match": 0.7,
        "fields": [{"name": "a", "frequency": 0.01, "errorRate": 0.01,
                    "comparator": "binary", "fieldType": "integer", "bitlength": 8}]
    }))
}

#[test]
fn dice_fraction_bits_default_to_eight_and_round_trip() {
    use protocol_spec::config::LinkageConfig;
    // Absent: the default 8, and the wire form stays without the key.
    let plain = one_field_algorithm("epilink");
    assert_eq!(plain.dice_fraction_bits, None);
    let config = LinkageConfig::from_wire(&plain).unwrap();
    assert_eq!(config.dice_fraction_bits(), 8);
    let back = serde_json::to_value(AlgorithmConfig::from(&config)).unwrap();
    assert!(back.get("dice_fraction_bits").is_none());
    // Chosen (either spelling): kept and written back.
    for key in ["dice_fraction_bits", "diceFractionBits"] {
        let mut v = serde_json::to_value(&plain).unwrap();
        v[key] = json!(16);
        let config = LinkageConfig::from_wire(&algorithm(v)).unwrap();
        assert_eq!(config.dice_fraction_bits(), 16);
        let back = serde_json::to_value(AlgorithmConfig::from(&config)).unwrap();
        assert_eq!(back["dice_fraction_bits"], json!(16));
    }
    // Outside 8..=16: a clear error naming the setting.
    let mut bad = plain.clone();
    bad.dice_fraction_bits = Some(4);
    let e = LinkageConfig::from_wire(&bad).unwrap_err().to_string();
    assert_eq!(
        e,
        "dice_fraction_bits = 4 is outside 8..=16 (fractional bits of a similarity; \
         the thresholds keep 16)"
    );
}

#[test]
fn algorithm_block() {
    use protocol_spec::config::LinkageConfig;
    assert!(LinkageConfig::from_wire(&one_field_algorithm("epilink")).is_ok());
    assert!(LinkageConfig::from_wire(&one_field_algorithm("EpiLink")).is_ok());
    let e = LinkageConfig::from_wire(&one_field_algorithm("fellegi-sunter")).unwrap_err();
    assert_eq!(
        e,
        AlgorithmError::UnsupportedAlgoType("fellegi-sunter".into())
    );
    assert_eq!(
        e.to_string(),
        "algoType \"fellegi-sunter\" is not supported; the only algorithm is \"epilink\""
    );
    // Config rules come through unchanged.
    let mut a = one_field_algorithm("epilink");
    a.exchange_groups = vec![vec!["a".into(), "b".into()]];
    let e = LinkageConfig::from_wire(&a).unwrap_err();
    assert_eq!(
        e,
        AlgorithmError::Config(ConfigError::GroupUnknownField {
            group: 0,
            field: "b".into()
        })
    );
    assert_eq!(e.to_string(), "exchange group 0 names unknown field \"b\"");
    let mut a = one_field_algorithm("epilink");
    a.fields.clear();
    assert_eq!(
        LinkageConfig::from_wire(&a).unwrap_err().to_string(),
        "the configuration has no fields"
    );
    // Missing required keys are parse errors that name the key.
    let e = serde_json::from_value::<AlgorithmConfig>(json!({
        "algoType": "epilink", "threshold_match": 0.9, "fields": []
    }))
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("missing field `threshold_non_match`"),
        "{e}"
    );
}

fn init_local() -> InitLocal {
    serde_json::from_value(json!({
        "localId": "TUD",
        "localAuthentication": {"authType": "apiKey", "sharedKey": "123abc"},
        "dataService": {"url": "https://ml/getAllRecords"},
        "algorithm": serde_json::to_value(one_field_algorithm("epilink")).unwrap()
    }))
    .unwrap()
}

#[test]
fn init_local_validation() {
    assert!(init_local().validate().is_ok());
    let mut m = init_local();
    m.local_id = "T-U-D".into();
    assert_eq!(
        m.validate().unwrap_err().to_string(),
        "localId: id has character '-' at position 1; only [a-zA-Z0-9_] is allowed"
    );
    let mut m = init_local();
    m.local_authentication.shared_key = SharedKey::new("");
    let e = m.validate().unwrap_err();
    assert_eq!(e, InitLocalError::SharedKey(SharedKeyError::Empty));
    assert_eq!(
        e.to_string(),
        "localAuthentication.sharedKey must not be empty"
    );
    let mut m = init_local();
    m.data_service.url = "ml:8080".into();
    assert_eq!(
        m.validate().unwrap_err().to_string(),
        "dataService.url: URL must start with http:// or https://"
    );
    let mut m = init_local();
    m.algorithm.threshold_match = 1.5;
    let e = m.validate().unwrap_err();
    assert!(matches!(e, InitLocalError::Algorithm(_)));
    assert_eq!(
        e.to_string(),
        "algorithm: threshold_match = 1.5 must be in (0, 1]"
    );
}

fn init_remote() -> InitRemote {
    serde_json::from_value(json!({
        "connectionProfile": {"url": "https://peer:1",
            "authentication": {"authType": "apiKey", "sharedKey": "k1"}},
        "linkageService": {"url": "https://ls:2",
            "authentication": {"authType": "apiKey", "sharedKey": "k2"}}
    }))
    .unwrap()
}

#[test]
fn init_remote_validation() {
    assert_eq!(init_remote().validate(), Ok(()));
    let mut m = init_remote();
    m.connection_profile.url = "".into();
    assert_eq!(
        m.validate().unwrap_err().to_string(),
        "connectionProfile.url: URL must not be empty"
    );
    let mut m = init_remote();
    m.connection_profile.authentication.shared_key = SharedKey::new("");
    assert_eq!(
        m.validate().unwrap_err().to_string(),
        "connectionProfile.authentication.sharedKey must not be empty"
    );
    let mut m = init_remote();
    m.linkage_service.as_mut().unwrap().url = "https://".into();
    assert_eq!(
        m.validate().unwrap_err(),
        InitRemoteError::LinkageServiceUrl(UrlError::NoHost)
    );
    assert_eq!(
        m.validate().unwrap_err().to_string(),
        "linkageService.url: URL has no host"
    );
    let mut m = init_remote();
    m.linkage_service
        .as_mut()
        .unwrap()
        .authentication
        .shared_key = SharedKey::new("a\u{7f}");
    assert_eq!(
        m.validate().unwrap_err().to_string(),
        "linkageService.authentication.sharedKey has a character outside visible ASCII at byte 1"
    );
}

#[test]
fn callback_rules() {
    let ok = LinkCallback {
        result: Some(OneOrMany::One(LinkResult::new("QUJD"))),
        warning: Some("slow".into()),
        error: None,
    };
    assert_eq!(ok.check(), Ok(()));
    let failed = MatchCallback {
        result: None,
        warning: None,
        error: Some("Remote party unreachable.".into()),
    };
    assert_eq!(failed.check(), Ok(()));
    let empty = MatchCallback {
        result: None,
        warning: Some("w".into()),
        error: None,
    };
    assert_eq!(empty.check(), Err(CallbackError::Empty));
    assert_eq!(
        CallbackError::Empty.to_string(),
        "a callback must carry either a result or an error"
    );
    assert_eq!(
        CallbackError::ErrorWithResult.to_string(),
        "a callback must not carry an error together with a result"
    );
    // A bad item in a result array is reported with its index.
    let e = serde_json::from_str::<LinkCallback>(r#"{"result": [{"linkageId": "a"}, {"id": 1}]}"#)
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("result[1]: missing field `linkageId`"),
        "{e}"
    );
}

#[test]
fn job_status_errors() {
    let e = "FINISHED".parse::<JobStatus>().unwrap_err();
    assert_eq!(e, JobStatusError("FINISHED".into()));
    assert_eq!(
        e.to_string(),
        "\"FINISHED\" is not a job status (QUEUED, RUNNING, HOLD, FAULT or DONE)"
    );
    assert!("".parse::<JobStatus>().is_err());
    let e = serde_json::from_str::<JobsList>(r#"{"1": "PAUSED"}"#).unwrap_err();
    assert!(e.to_string().contains("unknown variant `PAUSED`"), "{e}");
    let e = serde_json::from_str::<JobsList>(r#"{"1": "DONE", "1": "FAULT"}"#).unwrap_err();
    assert!(e.to_string().contains("duplicate key \"1\""), "{e}");
}

fn small_config() -> protocol_spec::config::LinkageConfig {
    protocol_spec::config::LinkageConfig::from_wire(&one_field_algorithm("epilink")).unwrap()
}

#[test]
fn record_request_validation() {
    let config = small_config();
    let req: RecordRequest = serde_json::from_value(json!({
        "callback": {"url": "http://127.0.0.1:9/cb"}, "fields": {"a": 7}
    }))
    .unwrap();
    assert_eq!(
        req.validate(&config).unwrap()[0]
            .as_ref()
            .unwrap()
            .as_bytes(),
        [7]
    );
    let mut bad = req.clone();
    bad.callback.url = "mailto:x".into();
    let e = bad.validate(&config).unwrap_err();
    assert_eq!(e, RecordRequestError::CallbackUrl(UrlError::Scheme));
    assert_eq!(
        e.to_string(),
        "callback.url: URL must start with http:// or https://"
    );
    assert!(!e.is_configuration_mismatch());
    let mut bad = req.clone();
    bad.fields = [("b", FieldValue::Null)].into_iter().collect();
    let e = bad.validate(&config).unwrap_err();
    assert!(e.is_configuration_mismatch());
    assert_eq!(
        e.to_string(),
        r#"fields do not match the configuration: unknown fields ["b"]; missing fields ["a"]"#
    );
    let mut bad = req;
    bad.fields = [("a", FieldValue::Integer(256))].into_iter().collect();
    let e = bad.validate(&config).unwrap_err();
    assert!(!e.is_configuration_mismatch());
    assert_eq!(
        e.to_string(),
        r#"field "a": integer out of range: must be in 0..=255 (8 bits)"#
    );
}

#[test]
fn records_request_validation() {
    let config = small_config();
    let req: RecordsRequest = serde_json::from_value(json!({
        "callback": {"url": "https://ml/cb"},
        "records": [{"fields": {"a": 1}}, {"fields": {"a": null}}]
    }))
    .unwrap();
    let records = req.validate(&config).unwrap();
    assert_eq!(records.len(), 2);
    assert!(records[1][0].is_none());
    let mut empty = req.clone();
    empty.records.clear();
    let e = empty.validate(&config).unwrap_err();
    assert_eq!(e, RecordsRequestError::NoRecords);
    assert_eq!(e.to_string(), "records must not be empty");
    let mut bad = req.clone();
    bad.callback.url = String::new();
    assert_eq!(
        bad.validate(&config).unwrap_err().to_string(),
        "callback.url: URL must not be empty"
    );
    let mut bad = req.clone();
    bad.records[1].fields = [("x", FieldValue::Null)].into_iter().collect();
    let e = bad.validate(&config).unwrap_err();
    assert!(e.is_configuration_mismatch());
    assert_eq!(
        e.to_string(),
        r#"records[1]: fields do not match the configuration: unknown fields ["x"]; missing fields ["a"]"#
    );
    let mut bad = req;
    bad.records[0].fields = [("a", FieldValue::from("x"))].into_iter().collect();
    let e = bad.validate(&config).unwrap_err();
    assert!(!e.is_configuration_mismatch());
    assert_eq!(
        e.to_string(),
        r#"records[0]: field "a": string is not a non-negative decimal integer"#
    );
}
