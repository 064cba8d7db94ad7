//! Reading the linkage configuration for `encode`: an initLocal body or just
//! its `algorithm` block.
//!
//! Both shapes are accepted because operators keep the initLocal body they
//! send to the node, and a bare `algorithm` block is what they would otherwise
//! cut out of it by hand.
//!
//! The `algorithm` block is parsed with the node's own wire type
//! ([`AlgorithmConfig`]) and validated by [`LinkageConfig::from_wire`], so
//! `encode` accepts exactly the configurations the node accepts. The rest of
//! an initLocal body (localId, keys, data service) is not needed to encode
//! and is ignored.
use protocol_spec::config::LinkageConfig;
use protocol_spec::messages::mainsel::{AlgorithmConfig, AlgorithmError};
use std::path::{Path, PathBuf};

/// Why the configuration file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigLoadError {
    #[error("cannot read config {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config {path} is not valid JSON: {source}")]
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error(
        "config {path} is neither an initLocal body nor an algorithm block \
         (expected `algorithm.fields` or `fields`): {source}"
    )]
    Shape {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("config {path}: {source}")]
    Invalid {
        path: PathBuf,
        source: AlgorithmError,
    },
}

/// Reads and validates the configuration at `path`.
pub fn load(path: &Path) -> Result<LinkageConfig, ConfigLoadError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigLoadError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse(&text).map_err(|e| e.at(path))
}

/// A [`ConfigLoadError`] before the path is known.
#[derive(Debug)]
enum ParseError {
    Json(serde_json::Error),
    Shape(serde_json::Error),
    Invalid(AlgorithmError),
}

impl ParseError {
    fn at(self, path: &Path) -> ConfigLoadError {
        let path = path.to_owned();
        match self {
            ParseError::Json(source) => ConfigLoadError::Json { path, source },
            ParseError::Shape(source) => ConfigLoadError::Shape { path, source },
            ParseError::Invalid(source) => ConfigLoadError::Invalid { path, source },
        }
    }
}

fn parse(text: &str) -> Result<LinkageConfig, ParseError> {
    let mut value: serde_json::Value = serde_json::from_str(text).map_err(ParseError::Json)?;
    // An initLocal body carries the block under "algorithm"; take it out,
    // ignoring the rest of the body (localId, dataService, ...).
    if let Some(algorithm) = value.get_mut("algorithm") {
        value = algorithm.take();
    }
    let wire: AlgorithmConfig = serde_json::from_value(value).map_err(ParseError::Shape)?;
    LinkageConfig::from_wire(&wire).map_err(ParseError::Invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALGORITHM: &str = r#"{
        "algoType": "epilink", "threshold_match": 0.9, "threshold_non_match": 0.7,
        "exchangeGroups": [["a", "b"]],
        "fields": [
            {"name": "a", "frequency": 0.001, "errorRate": 0.01, "comparator": "dice",
             "fieldType": "bitmask", "bitlength": 500},
            {"name": "b", "frequency": 0.001, "errorRate": 0.01, "comparator": "dice",
             "fieldType": "bitmask", "bitlength": 500},
            {"name": "c", "frequency": 0.03, "errorRate": 0.01, "comparator": "binary",
             "fieldType": "integer", "bitlength": 5}
        ]}"#;

    #[test]
    fn accepts_algorithm_block_and_init_local_body() {
        let bare = parse(ALGORITHM).unwrap();
        let body = format!(
            r#"{{"localId": "TUD", "dataService": {{"url": "x"}}, "algorithm": {ALGORITHM}}}"#
        );
        let wrapped = parse(&body).unwrap();
        assert_eq!(bare, wrapped);
        assert_eq!(bare.fields().len(), 3);
        assert_eq!(bare.exchange_groups(), &[vec![0, 1]]);
    }

    #[test]
    fn rejects_other_algorithms_and_invalid_fields() {
        let other = ALGORITHM.replace("\"epilink\"", "\"jaccard\"");
        assert!(matches!(
            parse(&other),
            Err(ParseError::Invalid(AlgorithmError::UnsupportedAlgoType(_)))
        ));
        let bad = ALGORITHM.replace(
            "\"integer\", \"bitlength\": 5",
            "\"integer\", \"bitlength\": 0",
        );
        assert!(matches!(
            parse(&bad),
            Err(ParseError::Invalid(AlgorithmError::Config(_)))
        ));
        assert!(matches!(parse("{\"x\": 1}"), Err(ParseError::Shape(_))));
        assert!(matches!(parse("{"), Err(ParseError::Json(_))));
    }
}
