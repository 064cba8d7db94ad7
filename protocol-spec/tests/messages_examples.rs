//! The shipped example configurations (`examples/*.json`) load into a
//! validated `LinkageConfig`.
use std::path::PathBuf;

use protocol_spec::config::{Comparator, FieldType, LinkageConfig};
use protocol_spec::messages::mainsel::AlgorithmConfig;

fn load(name: &str) -> (AlgorithmConfig, LinkageConfig) {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "..", "examples", name]
        .iter()
        .collect();
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let wire: AlgorithmConfig =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
    let config = LinkageConfig::from_wire(&wire).unwrap_or_else(|e| panic!("{name}: {e}"));
    (wire, config)
}

fn shape(config: &LinkageConfig) -> Vec<(String, Comparator, FieldType, u32)> {
    config
        .fields()
        .iter()
        .map(|f| (f.name.clone(), f.comparator, f.field_type, f.bitlength))
        .collect()
}

#[test]
fn default_config_is_the_reference_example() {
    let (wire, config) = load("default-config.json");
    // The same block as the reference's initLocal example.
    let reference: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            [
                env!("CARGO_MANIFEST_DIR"),
                "tests/fixtures/reference/init_local.json",
            ]
            .iter()
            .collect::<PathBuf>(),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(serde_json::to_value(&wire).unwrap(), reference["algorithm"]);
    assert_eq!(config.fields().len(), 8);
    assert_eq!(config.exchange_groups(), &[vec![0, 1, 2]]);
    assert_eq!(config.threshold_match(), 0.9);
    assert_eq!(config.threshold_non_match(), 0.7);
    // lastname/birthname have the largest weight, log2(0.992/0.0000271).
    assert_eq!(config.weight(1), protocol_spec::config::WEIGHT_MAX);
    assert_eq!(config.weight(1), config.weight(2));
    // Back to the wire form unchanged.
    assert_eq!(AlgorithmConfig::from(&config), wire);
}

#[test]
fn mainzelliste_config_has_the_german_sample_fields() {
    let (_, config) = load("mainzelliste-config.json");
    use Comparator::*;
    use FieldType::*;
    let expected = [
        ("vorname", Dice, Bitmask, 500),
        ("nachname", Dice, Bitmask, 500),
        ("geburtsname", Dice, Bitmask, 500),
        ("geburtstag", Binary, Integer, 5),
        ("geburtsmonat", Binary, Integer, 4),
        ("geburtsjahr", Binary, Integer, 11),
        ("plz", Binary, String, 40),
        ("ort", Dice, Bitmask, 500),
    ]
    .map(|(n, c, t, b)| (n.to_string(), c, t, b));
    assert_eq!(shape(&config), expected);
    let fe: Vec<(f64, f64)> = config
        .fields()
        .iter()
        .map(|f| (f.frequency, f.error_rate))
        .collect();
    assert_eq!(
        fe,
        [
            (0.000235, 0.01),
            (0.0000271, 0.008),
            (0.0000271, 0.008),
            (0.0333, 0.005),
            (0.0833, 0.002),
            (0.0286, 0.004),
            (0.01, 0.04),
            (0.01, 0.04)
        ]
    );
    assert_eq!(config.exchange_groups(), &[vec![0, 1, 2]]);
    assert_eq!(
        (config.threshold_match(), config.threshold_non_match()),
        (0.9, 0.7)
    );
    // Same model as the default config, only the names differ.
    let (_, default) = load("default-config.json");
    let weights = |c: &LinkageConfig| (0..8).map(|i| c.weight(i)).collect::<Vec<_>>();
    // Fields 3 and 5 differ in type/bitlength but not in weight.
    assert_eq!(weights(&config), weights(&default));
}
