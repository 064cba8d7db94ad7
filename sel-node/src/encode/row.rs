//! Turning one CSV row into the wire values of a SEL record.
//!
//! Each configured field gets a [`FieldEncoder`] chosen by its `fieldType`;
//! the output values are exactly what a linkRecord body carries (base64
//! strings for bitmask fields, JSON numbers for integers and numbers, JSON
//! strings for strings, `null` for empty fields). Every value is then run
//! through the node's own wire check ([`field_from_wire`]), so a record that
//! `encode` writes is one the node accepts; a value it would refuse (too
//! large for its bit length, a string too long) makes the row bad here.
use super::columns::{DatePart, Source};
use super::date::{DateError, parse_date};
use protocol_spec::bloom::{
    BloomEncoder, BloomError, MAINZELLISTE_HASH_FUNCTIONS, SiteKey, to_base64,
};
use protocol_spec::config::{FieldSpec, FieldType, LinkageConfig};
use protocol_spec::messages::mainsel::{FieldMap, FieldValue};
use protocol_spec::value::{ValueError, field_from_wire};

/// How one field's cell becomes a wire value.
#[derive(Debug, Clone)]
enum FieldEncoder {
    Bloom(BloomEncoder),
    Integer,
    Number,
    Text,
}

/// Why a row was rejected. Never contains cell contents (patient data): the
/// line number and field name are enough to find the cell.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RowError {
    #[error("field {field:?}: not a non-negative decimal integer")]
    NotInteger { field: String },
    #[error("field {field:?}: not a finite decimal number (use a dot as decimal separator)")]
    NotNumber { field: String },
    #[error("field {field:?}: {error}")]
    Value { field: String, error: ValueError },
    #[error("column {column:?}: {source}")]
    Date { column: String, source: DateError },
}

/// Encodes rows for one configuration, header plan and (optional) key.
#[derive(Debug, Clone)]
pub struct RowEncoder {
    specs: Vec<FieldSpec>,
    encoders: Vec<FieldEncoder>,
    sources: Vec<Source>,
    /// Header names, for messages about date columns.
    header: Vec<String>,
}

/// The keyed-mode domain of field `i`: the first field of its exchange group,
/// or its own name. Fields compared with each other must share a domain.
pub fn keyed_domain(config: &LinkageConfig, i: usize) -> &str {
    let first = config
        .group_of(i)
        .map_or(i, |g| config.exchange_groups()[g][0]);
    &config.fields()[first].name
}

impl RowEncoder {
    pub fn new(
        config: &LinkageConfig,
        sources: Vec<Source>,
        header: Vec<String>,
        key: Option<&SiteKey>,
    ) -> Result<RowEncoder, BloomError> {
        let mut encoders = Vec::with_capacity(config.fields().len());
        for (i, f) in config.fields().iter().enumerate() {
            let bitlength = f.bitlength;
            encoders.push(match f.field_type {
                FieldType::Bitmask => FieldEncoder::Bloom(match key {
                    None => BloomEncoder::unkeyed(bitlength, MAINZELLISTE_HASH_FUNCTIONS)?,
                    Some(key) => BloomEncoder::keyed(
                        key,
                        keyed_domain(config, i),
                        bitlength,
                        MAINZELLISTE_HASH_FUNCTIONS,
                    )?,
                }),
                FieldType::Integer => FieldEncoder::Integer,
                FieldType::Number => FieldEncoder::Number,
                FieldType::String => FieldEncoder::Text,
            });
        }
        Ok(RowEncoder {
            specs: config.fields().to_vec(),
            encoders,
            sources,
            header,
        })
    }

    /// The `fields` object of one row, in configuration order.
    pub fn encode(&self, cells: &csv::StringRecord) -> Result<FieldMap, RowError> {
        let mut fields = FieldMap::new();
        for ((spec, encoder), source) in self.specs.iter().zip(&self.encoders).zip(&self.sources) {
            let value = match *source {
                Source::Column(col) => encode_cell(spec, encoder, cells.get(col).unwrap_or(""))?,
                Source::Date { column, part } => {
                    let cell = cells.get(column).unwrap_or("").trim();
                    if cell.is_empty() {
                        FieldValue::Null
                    } else {
                        let date = parse_date(cell).map_err(|source| RowError::Date {
                            column: self.header[column].clone(),
                            source,
                        })?;
                        let n = match part {
                            DatePart::Day => date.day,
                            DatePart::Month => date.month,
                            DatePart::Year => date.year,
                        };
                        encode_cell(spec, encoder, &n.to_string())?
                    }
                }
            };
            field_from_wire(spec, &value).map_err(|error| RowError::Value {
                field: spec.name.clone(),
                error,
            })?;
            fields.insert(spec.name.clone(), value);
        }
        Ok(fields)
    }
}

/// The wire value of one cell, before the node's range checks.
fn encode_cell(
    spec: &FieldSpec,
    encoder: &FieldEncoder,
    cell: &str,
) -> Result<FieldValue, RowError> {
    let trimmed = cell.trim();
    match encoder {
        // A blank cell is an empty field for every type (SEL's rule).
        _ if trimmed.is_empty() => Ok(FieldValue::Null),
        // The Bloom encoder gets the cell as it is and trims Mainzelliste's
        // delimiters itself (only those: an inner or trailing tab stays part
        // of the name, as in Mainzelliste).
        FieldEncoder::Bloom(bloom) => Ok(bloom.encode(cell).map_or(FieldValue::Null, |bits| {
            FieldValue::String(to_base64(&bits))
        })),
        FieldEncoder::Integer => parse_unsigned(trimmed)
            .map(|n| FieldValue::Integer(n.into()))
            .ok_or_else(|| RowError::NotInteger {
                field: spec.name.clone(),
            }),
        FieldEncoder::Number => parse_number(trimmed).ok_or_else(|| RowError::NotNumber {
            field: spec.name.clone(),
        }),
        FieldEncoder::Text => Ok(FieldValue::String(trimmed.to_owned())),
    }
}

/// Decimal digits only (leading zeros allowed, no sign, no separators).
fn parse_unsigned(cell: &str) -> Option<u64> {
    if !cell.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    cell.parse().ok()
}

/// A finite number in plain decimal notation (`-1.5`, `12`); whole numbers
/// become JSON integers, so a short `number` field reads them as integers.
/// Rust's parser also takes `inf`, `NaN` and `1e5`, which a spreadsheet
/// export never means; they are refused.
fn parse_number(cell: &str) -> Option<FieldValue> {
    if !cell
        .bytes()
        .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-' || b == b'+')
    {
        return None;
    }
    if let Ok(i) = cell.parse::<i64>() {
        return Some(FieldValue::Integer(i.into()));
    }
    let x: f64 = cell.parse().ok()?;
    x.is_finite().then_some(FieldValue::Number(x))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(t: FieldType, bitlength: u32) -> FieldSpec {
        FieldSpec::with_default_comparator("f", 0.01, 0.01, t, bitlength)
    }

    /// One cell through a one-field row encoder (cell parsing and the node's
    /// wire check).
    fn one(t: FieldType, bitlength: u32, cell: &str) -> Result<FieldValue, RowError> {
        let config = LinkageConfig::new(vec![spec(t, bitlength)], &[], 0.9, 0.7).unwrap();
        let rows =
            RowEncoder::new(&config, vec![Source::Column(0)], vec!["f".into()], None).unwrap();
        let fields = rows.encode(&csv::StringRecord::from(vec![cell]))?;
        Ok(fields.get("f").cloned().unwrap())
    }

    #[test]
    fn integers_are_checked_against_the_bit_length() {
        assert_eq!(
            one(FieldType::Integer, 5, " 07 "),
            Ok(FieldValue::Integer(7))
        );
        assert_eq!(
            one(FieldType::Integer, 5, "31"),
            Ok(FieldValue::Integer(31))
        );
        assert_eq!(one(FieldType::Integer, 5, ""), Ok(FieldValue::Null));
        assert!(matches!(
            one(FieldType::Integer, 5, "32"),
            Err(RowError::Value {
                error: ValueError::IntegerOutOfRange { .. },
                ..
            })
        ));
        assert!(matches!(
            one(FieldType::Integer, 5, "-1"),
            Err(RowError::NotInteger { .. })
        ));
        assert!(matches!(
            one(FieldType::Integer, 5, "1x"),
            Err(RowError::NotInteger { .. })
        ));
    }

    #[test]
    fn strings_are_trimmed_and_must_fit() {
        assert_eq!(
            one(FieldType::String, 40, " 65434 "),
            Ok(FieldValue::from("65434"))
        );
        assert!(matches!(
            one(FieldType::String, 40, "654341"),
            Err(RowError::Value {
                error: ValueError::StringTooLong { bytes: 6, .. },
                ..
            })
        ));
        assert_eq!(one(FieldType::String, 40, "  "), Ok(FieldValue::Null));
    }

    #[test]
    fn numbers_follow_the_bit_length() {
        assert_eq!(
            one(FieldType::Number, 64, "-1.5"),
            Ok(FieldValue::Number(-1.5))
        );
        assert!(matches!(
            one(FieldType::Number, 64, "NaN"),
            Err(RowError::NotNumber { .. })
        ));
        assert!(matches!(
            one(FieldType::Number, 64, "1,5"),
            Err(RowError::NotNumber { .. })
        ));
        assert!(matches!(
            one(FieldType::Number, 64, "1e5"),
            Err(RowError::NotNumber { .. })
        ));
        assert_eq!(one(FieldType::Number, 8, "12"), Ok(FieldValue::Integer(12)));
        assert!(matches!(
            one(FieldType::Number, 8, "1.5"),
            Err(RowError::Value {
                error: ValueError::NotIntegral,
                ..
            })
        ));
        assert!(matches!(
            one(FieldType::Number, 8, "256"),
            Err(RowError::Value {
                error: ValueError::IntegerOutOfRange { .. },
                ..
            })
        ));
    }

    #[test]
    fn bitmask_cells_become_base64_or_null() {
        assert_eq!(
            one(FieldType::Bitmask, 500, "java"),
            Ok(FieldValue::from(
                "B1BUBEEEFEAAFVQQZEEBVRAAoAAAAIEQAAABAhAAAAgAABAgECAAgUAQAIACAABAABACAAEEEARMAARQERQ="
            ))
        );
        assert_eq!(one(FieldType::Bitmask, 500, " - "), Ok(FieldValue::Null));
        assert_eq!(one(FieldType::Bitmask, 500, "\t"), Ok(FieldValue::Null));
    }
}
