//! Matching the CSV header to the configured fields.
//!
//! Every configured field needs exactly one source: a column of the same name
//! or one part of a split date column. Anything else in the header is an
//! error unless explicitly ignored, because a misspelt column ("vornmae")
//! would otherwise turn a whole field into nulls without anyone noticing.
use protocol_spec::config::{FieldType, LinkageConfig};

/// Header names that are recognised as a date of birth without
/// `--date-column` (compared case-insensitively).
pub const AUTO_DATE_COLUMNS: [&str; 5] = [
    "geburtsdatum",
    "birthdate",
    "dateofbirth",
    "date_of_birth",
    "dob",
];

/// Day/month/year field triples an automatically detected date column is
/// split into: Mainzelliste's German names and the API reference's English
/// ones.
pub const AUTO_DATE_FIELDS: [[&str; 3]; 2] = [
    ["geburtstag", "geburtsmonat", "geburtsjahr"],
    ["birthday", "birthmonth", "birthyear"],
];

/// Which part of a date a field takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatePart {
    Day,
    Month,
    Year,
}

/// Where a configured field's value comes from in a CSV row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The cell in this column.
    Column(usize),
    /// One part of the date in this column.
    Date { column: usize, part: DatePart },
}

/// A `COLUMN=DAY,MONTH,YEAR` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DateSpec {
    pub column: String,
    pub fields: [String; 3],
}

/// Why the header (or a `--date-column`) does not fit the configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error("the input has no header row")]
    Empty,
    #[error("column {0:?} appears twice in the header")]
    DuplicateColumn(String),
    #[error("configured field(s) missing from the header: {}", quoted(.0))]
    MissingFields(Vec<String>),
    #[error(
        "column(s) that are not configured fields: {}; \
         rename them or drop them with --ignore-column",
        quoted(.0)
    )]
    UnknownColumns(Vec<String>),
    #[error("--date-column {0:?} is not of the form COLUMN=DAYFIELD,MONTHFIELD,YEARFIELD")]
    DateSpecSyntax(String),
    #[error("--date-column: column {0:?} is not in the header")]
    DateColumnMissing(String),
    #[error("--date-column: {0:?} is not a configured field")]
    DateFieldUnknown(String),
    #[error("field {0:?} must be of fieldType integer or number to take a part of a date")]
    DateFieldType(String),
    #[error("field {0:?} has two sources (a column and a date, or two dates)")]
    FieldTwice(String),
}

fn quoted(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("{n:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Parses `COLUMN=DAY,MONTH,YEAR`.
pub fn parse_date_spec(arg: &str) -> Result<DateSpec, HeaderError> {
    let syntax = || HeaderError::DateSpecSyntax(arg.to_owned());
    let (column, fields) = arg.split_once('=').ok_or_else(syntax)?;
    let parts: Vec<&str> = fields.split(',').map(str::trim).collect();
    let column = column.trim();
    if column.is_empty() || parts.len() != 3 || parts.iter().any(|p| p.is_empty()) {
        return Err(syntax());
    }
    Ok(DateSpec {
        column: column.to_owned(),
        fields: [
            parts[0].to_owned(),
            parts[1].to_owned(),
            parts[2].to_owned(),
        ],
    })
}

/// Finds a source for every configured field, in configuration order.
///
/// `header` holds the header cells, already trimmed. Explicit `dates` come
/// first; automatic date detection only looks at columns that are neither
/// fields nor ignored, and only fills a triple none of whose fields has a
/// column.
pub fn plan(
    header: &[String],
    config: &LinkageConfig,
    dates: &[DateSpec],
    ignore: &[String],
) -> Result<Vec<Source>, HeaderError> {
    if header.is_empty() || header.iter().all(String::is_empty) {
        return Err(HeaderError::Empty);
    }
    for (i, name) in header.iter().enumerate() {
        if header[..i].contains(name) {
            return Err(HeaderError::DuplicateColumn(name.clone()));
        }
    }
    let n = config.fields().len();
    let mut sources: Vec<Option<Source>> = vec![None; n];
    let mut used = vec![false; header.len()];
    for (col, name) in header.iter().enumerate() {
        if let Some(f) = config.field_index(name) {
            sources[f] = Some(Source::Column(col));
            used[col] = true;
        } else if ignore.contains(name) {
            used[col] = true;
        }
    }

    let mut all_dates = dates.to_vec();
    for (col, name) in header.iter().enumerate() {
        let lower = name.to_lowercase();
        if used[col]
            || !AUTO_DATE_COLUMNS.contains(&lower.as_str())
            || dates.iter().any(|d| &d.column == name)
        {
            continue;
        }
        let fits = AUTO_DATE_FIELDS.iter().find(|triple| {
            triple.iter().all(|f| {
                config.field_index(f).is_some_and(|i| {
                    sources[i].is_none() && !dates.iter().any(|d| d.fields.iter().any(|g| g == f))
                })
            })
        });
        if let Some(triple) = fits {
            all_dates.push(DateSpec {
                column: name.clone(),
                fields: triple.map(str::to_owned),
            });
        }
    }

    for spec in &all_dates {
        let col = header
            .iter()
            .position(|h| *h == spec.column)
            .ok_or_else(|| HeaderError::DateColumnMissing(spec.column.clone()))?;
        used[col] = true;
        for (field, part) in
            spec.fields
                .iter()
                .zip([DatePart::Day, DatePart::Month, DatePart::Year])
        {
            let f = config
                .field_index(field)
                .ok_or_else(|| HeaderError::DateFieldUnknown(field.clone()))?;
            if !matches!(
                config.fields()[f].field_type,
                FieldType::Integer | FieldType::Number
            ) {
                return Err(HeaderError::DateFieldType(field.clone()));
            }
            if sources[f].is_some() {
                return Err(HeaderError::FieldTwice(field.clone()));
            }
            sources[f] = Some(Source::Date { column: col, part });
        }
    }

    let unknown: Vec<String> = header
        .iter()
        .zip(&used)
        .filter(|(_, used)| !**used)
        .map(|(name, _)| name.clone())
        .collect();
    let missing: Vec<String> = config
        .fields()
        .iter()
        .zip(&sources)
        .filter(|(_, s)| s.is_none())
        .map(|(f, _)| f.name.clone())
        .collect();
    if !missing.is_empty() {
        return Err(HeaderError::MissingFields(missing));
    }
    if !unknown.is_empty() {
        return Err(HeaderError::UnknownColumns(unknown));
    }
    Ok(sources.into_iter().flatten().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol_spec::config::FieldSpec;

    fn config(names: &[(&str, FieldType)]) -> LinkageConfig {
        let fields = names
            .iter()
            .map(|&(name, t)| {
                FieldSpec::with_default_comparator(
                    name,
                    0.01,
                    0.01,
                    t,
                    if t == FieldType::Bitmask { 500 } else { 16 },
                )
            })
            .collect();
        LinkageConfig::new(fields, &[], 0.9, 0.7).unwrap()
    }

    fn header(cols: &[&str]) -> Vec<String> {
        cols.iter().map(|c| c.to_string()).collect()
    }

    fn german() -> LinkageConfig {
        config(&[
            ("vorname", FieldType::Bitmask),
            ("geburtstag", FieldType::Integer),
            ("geburtsmonat", FieldType::Integer),
            ("geburtsjahr", FieldType::Integer),
        ])
    }

    #[test]
    fn maps_columns_in_config_order() {
        let h = header(&["geburtsjahr", "geburtsmonat", "vorname", "geburtstag"]);
        assert_eq!(
            plan(&h, &german(), &[], &[]).unwrap(),
            vec![
                Source::Column(2),
                Source::Column(3),
                Source::Column(1),
                Source::Column(0)
            ]
        );
    }

    #[test]
    fn detects_a_date_column_or_takes_an_explicit_one() {
        let h = header(&["vorname", "Geburtsdatum"]);
        let auto = plan(&h, &german(), &[], &[]).unwrap();
        assert_eq!(
            auto[1],
            Source::Date {
                column: 1,
                part: DatePart::Day
            }
        );
        assert_eq!(
            auto[3],
            Source::Date {
                column: 1,
                part: DatePart::Year
            }
        );
        let h = header(&["vorname", "gebdat"]);
        let spec = parse_date_spec("gebdat=geburtstag, geburtsmonat ,geburtsjahr").unwrap();
        let explicit = plan(&h, &german(), &[spec], &[]).unwrap();
        assert_eq!(
            explicit[2],
            Source::Date {
                column: 1,
                part: DatePart::Month
            }
        );
    }

    #[test]
    fn names_missing_and_unknown_columns() {
        let h = header(&["vorname", "geburtstag", "id", "notes"]);
        assert_eq!(
            plan(&h, &german(), &[], &[]),
            Err(HeaderError::MissingFields(vec![
                "geburtsmonat".into(),
                "geburtsjahr".into()
            ]))
        );
        let h = header(&["vorname", "geburtsdatum", "id", "notes"]);
        assert_eq!(
            plan(&h, &german(), &[], &[]),
            Err(HeaderError::UnknownColumns(vec![
                "id".into(),
                "notes".into()
            ]))
        );
        assert!(plan(&h, &german(), &[], &["id".into(), "notes".into()]).is_ok());
    }

    #[test]
    fn rejects_bad_date_specs() {
        assert!(parse_date_spec("gebdat=a,b").is_err());
        assert!(parse_date_spec("=a,b,c").is_err());
        assert!(parse_date_spec("gebdat").is_err());
        let h = header(&["vorname", "geburtstag", "d"]);
        let spec = parse_date_spec("d=geburtstag,geburtsmonat,geburtsjahr").unwrap();
        assert_eq!(
            plan(&h, &german(), &[spec], &[]),
            Err(HeaderError::FieldTwice("geburtstag".into()))
        );
        let h = header(&["d", "geburtstag", "geburtsmonat", "geburtsjahr"]);
        let spec = parse_date_spec("d=vorname,geburtsmonat,geburtsjahr").unwrap();
        assert_eq!(
            plan(&h, &german(), &[spec], &[]),
            Err(HeaderError::DateFieldType("vorname".into()))
        );
        let spec = parse_date_spec("x=geburtstag,geburtsmonat,geburtsjahr").unwrap();
        assert_eq!(
            plan(&h, &german(), &[spec], &[]),
            Err(HeaderError::DateColumnMissing("x".into()))
        );
        assert_eq!(
            plan(&header(&["vorname", "vorname"]), &german(), &[], &[]),
            Err(HeaderError::DuplicateColumn("vorname".into()))
        );
    }
}
