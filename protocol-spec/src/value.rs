//! Interpreting wire field values for a configuration.
//!
//! [`field_from_wire`] turns one [`FieldValue`] into the bits both parties
//! feed into the comparison; [`record_from_wire`] does it for a whole
//! `fields` object. The rules (SPEC.md, "Field values"):
//!
//! * **Empty.** `null`, `""` and whitespace-only strings are an empty field
//!   (`None`) for every field type, as in SEL.
//! * **bitmask.** Standard base64 (padding optional, surrounding whitespace
//!   ignored) of the bytes of a Java `BitSet`: bit i is in byte i/8 at mask
//!   `1 << (i % 8)`. Trailing zero bytes may be missing and short values are
//!   zero-padded (Mainzelliste trims them); a set bit at or beyond the
//!   bitlength is an error (SEL silently cleared such bits, which would make
//!   two different filters compare equal).
//! * **integer.** A JSON integer, an integral JSON number (`24.0`), or a
//!   string of decimal digits (SEL's sample data sends `"65432"`), in
//!   `[0, 2^bitlength)`, little-endian.
//! * **number.** With bitlength 64 the IEEE-754 binary64 bits of the value
//!   (`-0.0` becomes `+0.0`, so both zeros compare equal; integers must be
//!   exactly representable). With any other bitlength it is read like an
//!   integer (SEL copied the low bytes of the double, which keeps mantissa
//!   bits, not the value).
//! * **string.** The UTF-8 bytes as sent (no trimming or case folding: the
//!   data service normalises), zero-padded; at most `floor(bitlength / 8)`
//!   bytes (SEL truncated longer strings, which would make different values
//!   compare equal); NUL characters are refused because zero-padding would
//!   make `"a\0"` equal `"a"`.
//!
//! Error messages never contain a field's value, only its field name, kind
//! and sizes: values are patient data and errors end up in responses and logs.
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_PAD_INDIFFERENT};

use crate::config::{FieldBits, FieldSpec, FieldType, LinkageConfig, Record};
use crate::messages::mainsel::{FieldMap, FieldValue, ValueKind, WireRecord};

/// Why one wire value does not fit its field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    #[error("expected {expected} for a {field_type} field, found {found}")]
    UnexpectedKind {
        expected: &'static str,
        field_type: &'static str,
        found: ValueKind,
    },
    /// A value-free description: the base64 crate's own messages name the
    /// offending character, which is a piece of the value.
    #[error("invalid base64: {0}")]
    InvalidBase64(String),
    #[error(
        "bitmask longer than its bitlength: bit {highest_set_bit} is set, \
         but the field has {bitlength} bits"
    )]
    BitmaskTooLong {
        bitlength: u32,
        highest_set_bit: u64,
    },
    #[error("string is not a non-negative decimal integer")]
    NotDecimal,
    #[error("number is not an integer")]
    NotIntegral,
    #[error("number is NaN or infinite")]
    NonFinite,
    #[error("integer out of range: must be in 0..={max} ({bitlength} bits)")]
    IntegerOutOfRange { bitlength: u32, max: u64 },
    #[error("integer cannot be represented exactly as an IEEE-754 binary64")]
    InexactNumber,
    #[error("string too long: {bytes} UTF-8 bytes, but the field holds {max_bytes}")]
    StringTooLong { bytes: usize, max_bytes: u32 },
    #[error("string contains a NUL character, which zero padding would make ambiguous")]
    StringContainsNul,
}

/// A field value error, naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field {field:?}: {error}")]
pub struct FieldError {
    pub field: String,
    pub error: ValueError,
}

/// Why a `fields` object does not make a record of the configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// The field names differ from the configured ones. All offending names
    /// are listed, unknown ones in wire order and missing ones in
    /// configuration order.
    #[error("{}", mismatch_message(unknown, missing))]
    FieldsMismatch {
        unknown: Vec<String>,
        missing: Vec<String>,
    },
    #[error(transparent)]
    Field(#[from] FieldError),
}

impl RecordError {
    /// True when the field *names* do not match the configuration (the
    /// reference answers such requests with 401); false for a malformed
    /// value (400).
    pub fn is_configuration_mismatch(&self) -> bool {
        matches!(self, RecordError::FieldsMismatch { .. })
    }
}

fn mismatch_message(unknown: &[String], missing: &[String]) -> String {
    let mut parts = Vec::new();
    if !unknown.is_empty() {
        parts.push(format!("unknown fields {unknown:?}"));
    }
    if !missing.is_empty() {
        parts.push(format!("missing fields {missing:?}"));
    }
    format!(
        "fields do not match the configuration: {}",
        parts.join("; ")
    )
}

/// A record error with its position in a `records` array.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("records[{index}]: {error}")]
pub struct RecordsError {
    pub index: usize,
    pub error: RecordError,
}

/// Why field bits cannot be written as a wire value (only for bits that did
/// not come from [`field_from_wire`] for the same field).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("field bits have bitlength {found}, the field has {expected}")]
    Bitlength { expected: u32, found: u32 },
    #[error("string field bits are not valid UTF-8")]
    InvalidUtf8,
}

fn type_name(t: FieldType) -> &'static str {
    match t {
        FieldType::Bitmask => "bitmask",
        FieldType::Integer => "integer",
        FieldType::Number => "number",
        FieldType::String => "string",
    }
}

fn is_empty(value: &FieldValue) -> bool {
    match value {
        FieldValue::Null => true,
        FieldValue::String(s) => s.trim().is_empty(),
        _ => false,
    }
}

/// Converts one wire value for `spec`; `Ok(None)` is an empty field.
pub fn field_from_wire(
    spec: &FieldSpec,
    value: &FieldValue,
) -> Result<Option<FieldBits>, ValueError> {
    if is_empty(value) {
        return Ok(None);
    }
    let bits = match spec.field_type {
        FieldType::Bitmask => match value {
            FieldValue::String(s) => decode_bitmask(spec.bitlength, s)?,
            other => return Err(unexpected(spec, "a base64 string", other)),
        },
        FieldType::Integer => integer_bits(spec, value)?,
        FieldType::Number if spec.bitlength == 64 => binary64_bits(spec, value)?,
        FieldType::Number => integer_bits(spec, value)?,
        FieldType::String => match value {
            FieldValue::String(s) => string_bits(spec.bitlength, s)?,
            other => return Err(unexpected(spec, "a string", other)),
        },
    };
    Ok(Some(bits))
}

fn unexpected(spec: &FieldSpec, expected: &'static str, found: &FieldValue) -> ValueError {
    ValueError::UnexpectedKind {
        expected,
        field_type: type_name(spec.field_type),
        found: found.kind(),
    }
}

/// What is wrong with a base64 text, by position only (never the character).
fn describe_base64(e: &base64::DecodeError) -> String {
    use base64::DecodeError as D;
    match e {
        D::InvalidByte(offset, _) => format!("invalid character at offset {offset}"),
        D::InvalidLength(len) => format!("invalid length ({len} symbols)"),
        D::InvalidLastSymbol { offset, .. } => {
            format!("invalid last character at offset {offset}")
        }
        D::InvalidPadding => "invalid padding".to_string(),
    }
}

/// Decodes a base64 bitmask of `bitlength` bits (see the module rules).
pub fn decode_bitmask(bitlength: u32, encoded: &str) -> Result<FieldBits, ValueError> {
    let bytes = STANDARD_PAD_INDIFFERENT
        .decode(encoded.trim())
        .map_err(|e| ValueError::InvalidBase64(describe_base64(&e)))?;
    FieldBits::from_le_bytes(bitlength, &bytes).ok_or_else(|| ValueError::BitmaskTooLong {
        bitlength,
        highest_set_bit: highest_set_bit(&bytes).unwrap_or(0),
    })
}

/// Encodes bits as Java's `Base64.getEncoder().encodeToString(bitSet.toByteArray())`
/// would: trailing zero bytes dropped, standard alphabet, padded. An all-zero
/// filter is written as one zero byte (`"AA=="`) rather than `""`, so it stays
/// distinguishable from an empty field.
pub fn encode_bitmask(bits: &FieldBits) -> String {
    let bytes = bits.as_bytes();
    let used = bytes.iter().rposition(|&b| b != 0).map_or(1, |i| i + 1);
    STANDARD.encode(&bytes[..used.min(bytes.len()).max(1)])
}

fn highest_set_bit(bytes: &[u8]) -> Option<u64> {
    let i = bytes.iter().rposition(|&b| b != 0)?;
    Some(i as u64 * 8 + u64::from(7 - bytes[i].leading_zeros()))
}

/// The non-negative integer a wire value stands for, before the range check.
/// `None` from the caller's view is impossible here (empties are handled).
fn wire_integer(spec: &FieldSpec, value: &FieldValue) -> Result<u128, ValueError> {
    match value {
        FieldValue::Integer(i) => u128::try_from(*i).map_err(|_| out_of_range(spec.bitlength)),
        FieldValue::Number(x) => {
            if !x.is_finite() {
                Err(ValueError::NonFinite)
            } else if x.fract() != 0.0 {
                Err(ValueError::NotIntegral)
            } else if *x < 0.0 || *x >= 2f64.powi(64) {
                Err(out_of_range(spec.bitlength))
            } else {
                // Integral and in [0, 2^64): the cast is exact.
                Ok(*x as u64 as u128)
            }
        }
        FieldValue::String(s) => {
            let t = s.trim();
            if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
                return Err(ValueError::NotDecimal);
            }
            // Only digits: the one possible parse error is overflow.
            t.parse::<u128>().map_err(|_| out_of_range(spec.bitlength))
        }
        FieldValue::Null => Err(unexpected(
            spec,
            "an integer or a string of decimal digits",
            value,
        )),
    }
}

fn out_of_range(bitlength: u32) -> ValueError {
    ValueError::IntegerOutOfRange {
        bitlength,
        max: max_for_bits(bitlength),
    }
}

fn max_for_bits(bitlength: u32) -> u64 {
    if bitlength >= 64 {
        u64::MAX
    } else {
        (1u64 << bitlength) - 1
    }
}

fn integer_bits(spec: &FieldSpec, value: &FieldValue) -> Result<FieldBits, ValueError> {
    let v = wire_integer(spec, value)?;
    if spec.bitlength > 64 || v > u128::from(max_for_bits(spec.bitlength)) {
        return Err(out_of_range(spec.bitlength));
    }
    let bytes = (v as u64).to_le_bytes();
    let len = spec.bitlength.div_ceil(8) as usize;
    FieldBits::from_le_bytes(spec.bitlength, &bytes[..len]).ok_or(out_of_range(spec.bitlength))
}

fn binary64_bits(spec: &FieldSpec, value: &FieldValue) -> Result<FieldBits, ValueError> {
    let x = match value {
        FieldValue::Number(x) => *x,
        FieldValue::Integer(i) => {
            let x = *i as f64;
            // `as` saturates, so a round trip detects both rounding and range.
            if !x.is_finite() || x as i128 != *i {
                return Err(ValueError::InexactNumber);
            }
            x
        }
        other => return Err(unexpected(spec, "a JSON number", other)),
    };
    if !x.is_finite() {
        return Err(ValueError::NonFinite);
    }
    let x = if x == 0.0 { 0.0 } else { x };
    Ok(FieldBits::from_le_bytes(64, &x.to_bits().to_le_bytes())
        .expect("64 bits always fit a 64-bit field"))
}

fn string_bits(bitlength: u32, s: &str) -> Result<FieldBits, ValueError> {
    let max_bytes = bitlength / 8;
    if s.len() > max_bytes as usize {
        return Err(ValueError::StringTooLong {
            bytes: s.len(),
            max_bytes,
        });
    }
    if s.contains('\0') {
        return Err(ValueError::StringContainsNul);
    }
    // At most floor(bitlength/8) whole bytes: no bit beyond the length.
    Ok(FieldBits::from_le_bytes(bitlength, s.as_bytes()).expect("checked length"))
}

/// Converts a `fields` object into a record in configuration order.
///
/// Every configured field must be present (`null` for empty) and no other
/// name may appear; all offending names are reported at once. Then each
/// value is converted, and the first bad value is reported with its field.
pub fn record_from_wire(config: &LinkageConfig, fields: &FieldMap) -> Result<Record, RecordError> {
    let unknown: Vec<String> = fields
        .keys()
        .filter(|k| config.field_index(k).is_none())
        .map(str::to_owned)
        .collect();
    let missing: Vec<String> = config
        .fields()
        .iter()
        .filter(|f| !fields.contains_key(&f.name))
        .map(|f| f.name.clone())
        .collect();
    if !unknown.is_empty() || !missing.is_empty() {
        return Err(RecordError::FieldsMismatch { unknown, missing });
    }
    config
        .fields()
        .iter()
        .map(|spec| {
            let value = fields.get(&spec.name).expect("presence checked above");
            field_from_wire(spec, value).map_err(|error| {
                RecordError::Field(FieldError {
                    field: spec.name.clone(),
                    error,
                })
            })
        })
        .collect()
}

/// Converts every record of a `records` array; the error names the index.
/// An empty array is an empty result (a data service may hold no records);
/// request handlers that need at least one record check that themselves.
pub fn records_from_wire(
    config: &LinkageConfig,
    records: &[WireRecord],
) -> Result<Vec<Record>, RecordsError> {
    records
        .iter()
        .enumerate()
        .map(|(index, r)| {
            record_from_wire(config, &r.fields).map_err(|error| RecordsError { index, error })
        })
        .collect()
}

/// Writes field bits as the wire value a client would send (the inverse of
/// [`field_from_wire`]; `None` becomes `null`).
pub fn field_to_wire(
    spec: &FieldSpec,
    bits: Option<&FieldBits>,
) -> Result<FieldValue, EncodeError> {
    let Some(bits) = bits else {
        return Ok(FieldValue::Null);
    };
    if bits.bitlength() != spec.bitlength {
        return Err(EncodeError::Bitlength {
            expected: spec.bitlength,
            found: bits.bitlength(),
        });
    }
    let le_u64 = || {
        let mut b = [0u8; 8];
        let src = bits.as_bytes();
        let n = src.len().min(8);
        b[..n].copy_from_slice(&src[..n]);
        u64::from_le_bytes(b)
    };
    Ok(match spec.field_type {
        FieldType::Bitmask => FieldValue::String(encode_bitmask(bits)),
        FieldType::Number if spec.bitlength == 64 => FieldValue::Number(f64::from_bits(le_u64())),
        FieldType::Integer | FieldType::Number => FieldValue::Integer(le_u64().into()),
        FieldType::String => {
            let bytes = bits.as_bytes();
            let used = bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
            let s = std::str::from_utf8(&bytes[..used]).map_err(|_| EncodeError::InvalidUtf8)?;
            FieldValue::String(s.to_owned())
        }
    })
}

/// Writes a record as a `fields` object in configuration order.
pub fn record_to_wire(
    config: &LinkageConfig,
    record: &Record,
) -> Result<FieldMap, FieldEncodeError> {
    config
        .fields()
        .iter()
        .zip(record.iter().chain(std::iter::repeat(&None)))
        .map(|(spec, bits)| {
            field_to_wire(spec, bits.as_ref())
                .map(|v| (spec.name.clone(), v))
                .map_err(|error| FieldEncodeError {
                    field: spec.name.clone(),
                    error,
                })
        })
        .collect()
}

/// An [`EncodeError`] naming its field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field {field:?}: {error}")]
pub struct FieldEncodeError {
    pub field: String,
    pub error: EncodeError,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(t: FieldType, bits: u32) -> FieldSpec {
        FieldSpec::with_default_comparator("f", 0.01, 0.01, t, bits)
    }

    #[test]
    fn highest_bit_is_found() {
        assert_eq!(highest_set_bit(&[0, 0]), None);
        assert_eq!(highest_set_bit(&[1]), Some(0));
        assert_eq!(highest_set_bit(&[0xff, 0x10, 0]), Some(12));
    }

    #[test]
    fn number_with_short_bitlength_reads_as_integer() {
        let s = spec(FieldType::Number, 5);
        let b = field_from_wire(&s, &FieldValue::Integer(24))
            .unwrap()
            .unwrap();
        assert_eq!(b.as_bytes(), &[24]);
        let b = field_from_wire(&s, &FieldValue::Number(24.0))
            .unwrap()
            .unwrap();
        assert_eq!(b.as_bytes(), &[24]);
    }
}
