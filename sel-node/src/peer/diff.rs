//! The first difference between this node's `algorithm` block and a
//! remote's, for `/test` (SPEC §3a, "Configuration test").
//!
//! Two nodes agree when their configuration fingerprints are equal (the
//! fingerprint hashes the quantised integers every result depends on). When
//! they are not, the operator needs to know what to fix, so this names the
//! first difference in the order of the `algorithm` block: thresholds, the
//! number of fields, each field's comparator, type, bit length, frequency
//! and error rate, then the exchange groups. Configurations are public
//! between the two sites, so naming the differing setting reveals nothing
//! secret; values are still left out of the message (they belong in each
//! node's own configuration, not in an error string).

use protocol_spec::config::LinkageConfig;
use protocol_spec::messages::mainsel::AlgorithmConfig;

/// The first difference between `mine` (valid) and `theirs`, or a general
/// statement when every listed setting is equal but the quantised integers
/// still differ.
pub(crate) fn first_difference(mine: &LinkageConfig, theirs: &AlgorithmConfig) -> String {
    let theirs = match LinkageConfig::from_wire(theirs) {
        Ok(c) => c,
        Err(e) => return format!("the remote's configuration is invalid here: {e}"),
    };
    if mine.threshold_match_fp() != theirs.threshold_match_fp() {
        return "threshold_match differs".into();
    }
    if mine.threshold_tentative_fp() != theirs.threshold_tentative_fp() {
        return "threshold_non_match differs".into();
    }
    if mine.dice_fraction_bits() != theirs.dice_fraction_bits() {
        return "dice_fraction_bits differs".into();
    }
    let (a, b) = (mine.fields(), theirs.fields());
    if a.len() != b.len() {
        return format!("this node has {} fields, the remote {}", a.len(), b.len());
    }
    for (i, (f, g)) in a.iter().zip(b).enumerate() {
        let what = if f.comparator != g.comparator {
            "comparator"
        } else if f.field_type != g.field_type {
            "fieldType"
        } else if f.bitlength != g.bitlength {
            "bitlength"
        } else if f.frequency.to_bits() != g.frequency.to_bits() {
            "frequency"
        } else if f.error_rate.to_bits() != g.error_rate.to_bits() {
            "errorRate"
        } else if mine.weight(i) != theirs.weight(i) {
            "quantised weight"
        } else {
            continue;
        };
        return if f.name == g.name {
            format!("field {:?}: {what} differs", f.name)
        } else {
            format!(
                "field {i} ({:?} here, {:?} at the remote): {what} differs",
                f.name, g.name
            )
        };
    }
    if mine.exchange_groups() != theirs.exchange_groups() {
        return "exchangeGroups differ".into();
    }
    "the quantised configurations differ".into()
}

#[cfg(test)]
mod tests {
    use protocol_spec::config::{FieldSpec, FieldType};

    use super::*;

    fn config(freq: f64, tm: f64, groups: &[Vec<String>]) -> LinkageConfig {
        LinkageConfig::new(
            vec![
                FieldSpec::with_default_comparator("vorname", freq, 0.01, FieldType::Bitmask, 500),
                FieldSpec::with_default_comparator(
                    "nachname",
                    0.0002,
                    0.01,
                    FieldType::Bitmask,
                    500,
                ),
                FieldSpec::with_default_comparator("jahr", 0.01, 0.01, FieldType::Integer, 16),
            ],
            groups,
            tm,
            0.7,
        )
        .unwrap()
    }

    #[test]
    fn names_the_first_difference() {
        let base = config(0.001, 0.9, &[]);
        let wire = |c: &LinkageConfig| AlgorithmConfig::from(c);
        assert_eq!(
            first_difference(&base, &wire(&config(0.002, 0.9, &[]))),
            "field \"vorname\": frequency differs"
        );
        assert_eq!(
            first_difference(&base, &wire(&config(0.002, 0.8, &[]))),
            "threshold_match differs"
        );
        let grouped = config(0.001, 0.9, &[vec!["vorname".into(), "nachname".into()]]);
        assert_eq!(
            first_difference(&base, &wire(&grouped)),
            "exchangeGroups differ"
        );
        let finer = config(0.001, 0.9, &[]).with_dice_fraction_bits(16).unwrap();
        assert_eq!(
            first_difference(&base, &wire(&finer)),
            "dice_fraction_bits differs"
        );
        let mut renamed = wire(&config(0.001, 0.9, &[]));
        renamed.fields[2].name = "year".into();
        renamed.fields[2].bitlength = 12;
        assert_eq!(
            first_difference(&base, &renamed),
            "field 2 (\"jahr\" here, \"year\" at the remote): bitlength differs"
        );
    }
}
