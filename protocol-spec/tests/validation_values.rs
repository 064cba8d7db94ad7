//! Value conversion: every `ValueError`, `RecordError` and `EncodeError`
//! variant, with its exact message, and the accepted forms of each type.
use protocol_spec::config::{FieldBits, FieldSpec, FieldType, LinkageConfig};
use protocol_spec::messages::mainsel::{FieldMap, FieldValue, ValueKind, WireRecord};
use protocol_spec::value::*;

fn spec(name: &str, t: FieldType, bits: u32) -> FieldSpec {
    FieldSpec::with_default_comparator(name, 0.01, 0.01, t, bits)
}

fn conv(
    t: FieldType,
    bits: u32,
    v: impl Into<FieldValue>,
) -> Result<Option<FieldBits>, ValueError> {
    field_from_wire(&spec("f", t, bits), &v.into())
}

fn bytes(t: FieldType, bits: u32, v: impl Into<FieldValue>) -> Vec<u8> {
    conv(t, bits, v).unwrap().unwrap().as_bytes().to_vec()
}

fn err(t: FieldType, bits: u32, v: impl Into<FieldValue>) -> String {
    conv(t, bits, v).unwrap_err().to_string()
}

#[test]
fn empty_values_for_every_type() {
    for t in [
        FieldType::Bitmask,
        FieldType::Integer,
        FieldType::Number,
        FieldType::String,
    ] {
        let bits = if t == FieldType::Number { 64 } else { 16 };
        for v in [FieldValue::Null, "".into(), "   ".into(), " \t\n".into()] {
            assert_eq!(conv(t, bits, v.clone()), Ok(None), "{t:?} {v:?}");
        }
    }
}

#[test]
fn bitmask_decoding() {
    use FieldType::Bitmask;
    // Bit i in byte i/8 at 1 << (i % 8): "AQ==" is byte 0x01, bit 0.
    assert_eq!(bytes(Bitmask, 16, "AQ=="), [0x01, 0x00]);
    // Padding optional; surrounding whitespace ignored.
    assert_eq!(bytes(Bitmask, 16, "AQ"), [0x01, 0x00]);
    assert_eq!(bytes(Bitmask, 16, " AQI= "), [0x01, 0x02]);
    // Trailing zero bytes beyond the length are fine.
    assert_eq!(bytes(Bitmask, 12, "/w8AAA=="), [0xff, 0x0f]);
    // The highest allowed bit of a 12-bit field is bit 11.
    assert_eq!(bytes(Bitmask, 12, "AAg="), [0x00, 0x08]);
    // An all-zero filter is a value, not an empty field.
    assert_eq!(bytes(Bitmask, 8, "AA=="), [0x00]);
}

#[test]
fn bitmask_errors() {
    use FieldType::Bitmask;
    assert_eq!(
        err(Bitmask, 12, "ABA="),
        "bitmask longer than its bitlength: bit 12 is set, but the field has 12 bits"
    );
    assert_eq!(
        err(Bitmask, 8, "AAAB"),
        "bitmask longer than its bitlength: bit 16 is set, but the field has 8 bits"
    );
    assert!(matches!(
        conv(Bitmask, 8, "AAAB"),
        Err(ValueError::BitmaskTooLong {
            bitlength: 8,
            highest_set_bit: 16
        })
    ));
    assert_eq!(
        err(Bitmask, 16, "A!=="),
        "invalid base64: invalid character at offset 1"
    );
    assert!(err(Bitmask, 16, "A").starts_with("invalid base64: "));
    // URL-safe alphabet is not the standard one.
    assert!(matches!(
        conv(Bitmask, 16, "_w"),
        Err(ValueError::InvalidBase64(_))
    ));
    assert_eq!(
        err(Bitmask, 16, 5i64),
        "expected a base64 string for a bitmask field, found an integer"
    );
    assert_eq!(
        conv(Bitmask, 16, 5i64),
        Err(ValueError::UnexpectedKind {
            expected: "a base64 string",
            field_type: "bitmask",
            found: ValueKind::Integer
        })
    );
}

#[test]
fn integers() {
    use FieldType::Integer;
    assert_eq!(bytes(Integer, 5, 0i64), [0]);
    assert_eq!(bytes(Integer, 5, 31i64), [31]);
    assert_eq!(bytes(Integer, 17, 65432i64), [0x98, 0xff, 0x00]);
    // A string of decimal digits, as SEL's sample data sends.
    assert_eq!(bytes(Integer, 17, "65432"), [0x98, 0xff, 0x00]);
    assert_eq!(bytes(Integer, 17, " 0065432 "), [0x98, 0xff, 0x00]);
    // An integral JSON number.
    assert_eq!(bytes(Integer, 8, 24.0), [24]);
    assert_eq!(bytes(Integer, 8, -0.0), [0]);
    assert_eq!(bytes(Integer, 64, u64::MAX), [0xff; 8]);
    assert_eq!(bytes(Integer, 64, "18446744073709551615"), [0xff; 8]);
}

#[test]
fn integer_errors() {
    use FieldType::Integer;
    let oor5 = "integer out of range: must be in 0..=31 (5 bits)";
    assert_eq!(err(Integer, 5, 32i64), oor5);
    assert_eq!(err(Integer, 5, -1i64), oor5);
    assert_eq!(err(Integer, 5, "32"), oor5);
    assert_eq!(err(Integer, 5, 32.0), oor5);
    assert_eq!(err(Integer, 5, -1.0), oor5);
    assert_eq!(
        err(Integer, 64, "18446744073709551616"),
        "integer out of range: must be in 0..=18446744073709551615 (64 bits)"
    );
    assert_eq!(
        err(Integer, 64, "9".repeat(60)),
        err(Integer, 64, 2f64.powi(64))
    );
    assert_eq!(
        err(Integer, 8, "12a"),
        "string is not a non-negative decimal integer"
    );
    assert_eq!(
        err(Integer, 8, "-5"),
        "string is not a non-negative decimal integer"
    );
    assert_eq!(
        err(Integer, 8, "+5"),
        "string is not a non-negative decimal integer"
    );
    assert_eq!(
        err(Integer, 8, "1 2"),
        "string is not a non-negative decimal integer"
    );
    assert_eq!(err(Integer, 8, 2.5), "number is not an integer");
    assert_eq!(err(Integer, 8, f64::NAN), "number is NaN or infinite");
    assert_eq!(err(Integer, 8, f64::INFINITY), "number is NaN or infinite");
}

#[test]
fn numbers() {
    use FieldType::Number;
    assert_eq!(bytes(Number, 64, 1.5), 1.5f64.to_bits().to_le_bytes());
    assert_eq!(bytes(Number, 64, -2.25), (-2.25f64).to_bits().to_le_bytes());
    // -0.0 and +0.0 are the same value.
    assert_eq!(bytes(Number, 64, -0.0), [0; 8]);
    assert_eq!(bytes(Number, 64, 0.0), [0; 8]);
    // An integer is its binary64 value.
    assert_eq!(bytes(Number, 64, 24i64), 24f64.to_bits().to_le_bytes());
    assert_eq!(
        bytes(Number, 64, 1i64 << 53),
        ((1u64 << 53) as f64).to_bits().to_le_bytes()
    );
    // Any other bit length reads like an integer (the reference's birthday).
    assert_eq!(bytes(Number, 5, 24i64), [24]);
    assert_eq!(bytes(Number, 5, 24.0), [24]);
    assert_eq!(bytes(Number, 5, "24"), [24]);
}

#[test]
fn number_errors() {
    use FieldType::Number;
    assert_eq!(err(Number, 64, f64::NAN), "number is NaN or infinite");
    assert_eq!(
        err(Number, 64, f64::NEG_INFINITY),
        "number is NaN or infinite"
    );
    assert_eq!(
        err(Number, 64, (1i64 << 53) + 1),
        "integer cannot be represented exactly as an IEEE-754 binary64"
    );
    assert_eq!(
        err(Number, 64, i64::MAX),
        "integer cannot be represented exactly as an IEEE-754 binary64"
    );
    assert_eq!(
        err(Number, 64, "1.5"),
        "expected a JSON number for a number field, found a string"
    );
    assert_eq!(err(Number, 5, 1.5), "number is not an integer");
    assert_eq!(
        err(Number, 5, 32i64),
        "integer out of range: must be in 0..=31 (5 bits)"
    );
}

#[test]
fn strings() {
    use FieldType::String;
    assert_eq!(bytes(String, 40, "65432"), b"65432");
    assert_eq!(bytes(String, 40, "654"), b"654\0\0");
    // Bytes as sent: no trimming, no case folding.
    assert_eq!(bytes(String, 40, " Ab "), b" Ab \0");
    // UTF-8: "Köln" is 5 bytes.
    assert_eq!(bytes(String, 40, "Köln"), "Köln".as_bytes());
    // A bit length that is not a multiple of 8 holds whole bytes only.
    assert_eq!(bytes(String, 12, "a"), [b'a', 0]);
}

#[test]
fn string_errors() {
    use FieldType::String;
    assert_eq!(
        err(String, 40, "654321"),
        "string too long: 6 UTF-8 bytes, but the field holds 5"
    );
    assert_eq!(
        err(String, 40, "Kölns"),
        "string too long: 6 UTF-8 bytes, but the field holds 5"
    );
    assert_eq!(
        err(String, 12, "ab"),
        "string too long: 2 UTF-8 bytes, but the field holds 1"
    );
    assert_eq!(
        err(String, 40, "a\0"),
        "string contains a NUL character, which zero padding would make ambiguous"
    );
    assert_eq!(
        err(String, 40, 65432i64),
        "expected a string for a string field, found an integer"
    );
    assert_eq!(
        err(String, 40, 1.5),
        "expected a string for a string field, found a non-integer number"
    );
}

fn small_config() -> LinkageConfig {
    LinkageConfig::new(
        vec![
            spec("vorname", FieldType::Bitmask, 16),
            spec("jahr", FieldType::Integer, 11),
            spec("plz", FieldType::String, 40),
        ],
        &[],
        0.9,
        0.7,
    )
    .unwrap()
}

fn fields(pairs: &[(&str, FieldValue)]) -> FieldMap {
    pairs.iter().cloned().collect()
}

#[test]
fn record_in_configuration_order() {
    let config = small_config();
    // Wire order differs from the configuration order.
    let rec = record_from_wire(
        &config,
        &fields(&[
            ("plz", "65432".into()),
            ("vorname", "AQ".into()),
            ("jahr", FieldValue::Null),
        ]),
    )
    .unwrap();
    assert_eq!(rec.len(), 3);
    assert_eq!(rec[0].as_ref().unwrap().as_bytes(), [1, 0]);
    assert!(rec[1].is_none());
    assert_eq!(rec[2].as_ref().unwrap().as_bytes(), b"65432");
}

#[test]
fn record_errors_name_everything() {
    let config = small_config();
    let e = record_from_wire(
        &config,
        &fields(&[
            ("zip", "1".into()),
            ("vorname", FieldValue::Null),
            ("city", FieldValue::Null),
        ]),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        r#"fields do not match the configuration: unknown fields ["zip", "city"]; missing fields ["jahr", "plz"]"#
    );
    assert!(e.is_configuration_mismatch());
    let e = record_from_wire(&config, &fields(&[])).unwrap_err();
    assert_eq!(
        e.to_string(),
        r#"fields do not match the configuration: missing fields ["vorname", "jahr", "plz"]"#
    );
    let e = record_from_wire(
        &config,
        &fields(&[
            ("vorname", FieldValue::Null),
            ("jahr", FieldValue::Null),
            ("plz", FieldValue::Null),
            ("extra", FieldValue::Null),
        ]),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        r#"fields do not match the configuration: unknown fields ["extra"]"#
    );
    // A bad value names its field and is not a configuration mismatch.
    let e = record_from_wire(
        &config,
        &fields(&[
            ("vorname", FieldValue::Null),
            ("jahr", 2048i64.into()),
            ("plz", FieldValue::Null),
        ]),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        r#"field "jahr": integer out of range: must be in 0..=2047 (11 bits)"#
    );
    assert!(!e.is_configuration_mismatch());
    assert!(matches!(e, RecordError::Field(FieldError { ref field, .. }) if field == "jahr"));
}

#[test]
fn records_errors_name_the_index() {
    let config = small_config();
    let good = WireRecord {
        fields: fields(&[
            ("vorname", FieldValue::Null),
            ("jahr", 1i64.into()),
            ("plz", FieldValue::Null),
        ]),
        id: None,
    };
    let bad = WireRecord {
        fields: fields(&[
            ("vorname", "AAAB".into()),
            ("jahr", 1i64.into()),
            ("plz", FieldValue::Null),
        ]),
        id: None,
    };
    assert_eq!(records_from_wire(&config, &[]).unwrap().len(), 0);
    assert_eq!(
        records_from_wire(&config, &[good.clone(), good.clone()])
            .unwrap()
            .len(),
        2
    );
    let e = records_from_wire(&config, &[good.clone(), good, bad]).unwrap_err();
    assert_eq!(e.index, 2);
    assert_eq!(
        e.to_string(),
        r#"records[2]: field "vorname": bitmask longer than its bitlength: bit 16 is set, but the field has 16 bits"#
    );
}

#[test]
fn errors_never_echo_values() {
    let secret = "SECRET9";
    let e = err(FieldType::Integer, 8, secret);
    assert!(!e.contains(secret), "{e}");
    let e = err(FieldType::String, 8, "SECRET-NAME");
    assert!(!e.contains("SECRET"), "{e}");
    let e = err(FieldType::Integer, 8, 4711i64);
    assert!(!e.contains("4711"), "{e}");
}

#[test]
fn encoding_back_to_the_wire() {
    let config = small_config();
    let wire = fields(&[
        ("vorname", "AQI=".into()),
        ("jahr", 1963i64.into()),
        ("plz", "654".into()),
    ]);
    let rec = record_from_wire(&config, &wire).unwrap();
    assert_eq!(record_to_wire(&config, &rec).unwrap(), wire);
    // Java's BitSet.toByteArray drops trailing zero bytes.
    let s = spec("b", FieldType::Bitmask, 500);
    let one = FieldBits::from_le_bytes(500, &[0x80]).unwrap();
    assert_eq!(
        field_to_wire(&s, Some(&one)),
        Ok(FieldValue::String("gA==".into()))
    );
    let zero = FieldBits::from_le_bytes(500, &[]).unwrap();
    assert_eq!(encode_bitmask(&zero), "AA==");
    assert_eq!(field_to_wire(&s, None), Ok(FieldValue::Null));
    let n = spec("n", FieldType::Number, 64);
    let bits = field_from_wire(&n, &FieldValue::Number(-1.25))
        .unwrap()
        .unwrap();
    assert_eq!(
        field_to_wire(&n, Some(&bits)),
        Ok(FieldValue::Number(-1.25))
    );
}

#[test]
fn encode_errors() {
    let s = spec("plz", FieldType::String, 40);
    let wrong_len = FieldBits::from_le_bytes(16, b"ab").unwrap();
    let e = field_to_wire(&s, Some(&wrong_len)).unwrap_err();
    assert_eq!(
        e,
        EncodeError::Bitlength {
            expected: 40,
            found: 16
        }
    );
    assert_eq!(
        e.to_string(),
        "field bits have bitlength 16, the field has 40"
    );
    let not_utf8 = FieldBits::from_le_bytes(40, &[0xff, 0xfe]).unwrap();
    let e = field_to_wire(&s, Some(&not_utf8)).unwrap_err();
    assert_eq!(e.to_string(), "string field bits are not valid UTF-8");
    let config = LinkageConfig::new(vec![s], &[], 0.9, 0.7).unwrap();
    let e = record_to_wire(&config, &vec![Some(not_utf8)]).unwrap_err();
    assert_eq!(
        e.to_string(),
        r#"field "plz": string field bits are not valid UTF-8"#
    );
}
