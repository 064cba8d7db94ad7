//! The validated linkage configuration and its exact integer arithmetic.
//!
//! Everything that decides a linkage result is an integer here, so the plaintext
//! reference ([`crate::epilink`]) and the two-party protocol can agree bit for
//! bit. The real-valued EpiLink model (weights `log2((1-e)/f)`, thresholds in
//! `(0,1]`) is quantised exactly once, in this module, in a documented way:
//!
//! * **Weights.** `w_f = log2((1 - e_f) / f_f)` must be positive. They are
//!   rescaled so the largest becomes [`WEIGHT_MAX`] and rounded half away from
//!   zero: `W_f = max(1, round(w_f / w_max * WEIGHT_MAX))`. Only ratios of
//!   weights matter to the score, so the rescaling loses nothing but the
//!   rounding (relative error ≤ 1/(2·WEIGHT_MAX) per weight).
//! * **Doubled weights.** A compared pair of fields (i, j) weighs the mean
//!   `(W_i + W_j) / 2`. To stay in integers every weight is doubled: a field
//!   compared with itself weighs `2·W_f`, a pair in an exchange group weighs
//!   `W_i + W_j`. The factor 2 cancels in the score.
//! * **Similarities** are fixed point with `F` fractional bits, `F` the
//!   configuration's [`LinkageConfig::dice_fraction_bits`] (8 by default, as
//!   in MainSEL; 8 to 16 allowed): Dice `floor(2^F · 2|a∧b| / (|a|+|b|))` (0
//!   when both filters have no bit set), binary `2^F` on equality and 0
//!   otherwise. The floor makes each similarity less than 2^-F too small and
//!   never too large, so the score, a weighted mean of similarities, is in
//!   `(real − 2^-F, real]`.
//! * **Thresholds** become `T = round(t · 2^16)` whatever `F` is (a threshold
//!   is never re-quantised to `F` bits); the decisions compare
//!   `2^(16−F) · N ≥ T · D` in integers, so they are exact for the quantised
//!   model.
use serde::{Deserialize, Serialize};

/// Fractional bits of the quantised thresholds `T = round(t · 2^16)`; also
/// the most fractional bits a similarity may have.
pub const THRESHOLD_FRAC_BITS: u32 = 16;
/// Fewest fractional bits a similarity may have
/// ([`LinkageConfig::dice_fraction_bits`]). Below 8 the one-sided error
/// (up to 2^-F per similarity) would approach the spacing of thresholds an
/// operator actually chooses.
pub const MIN_DICE_FRACTION_BITS: u32 = 8;
/// Most fractional bits a similarity may have: the thresholds' precision;
/// more would only add division steps below what a threshold can resolve.
pub const MAX_DICE_FRACTION_BITS: u32 = THRESHOLD_FRAC_BITS;
/// The fractional bits when a configuration does not choose: MainSEL's 8.
/// The precision study (BENCHMARKS.md, "Issue 12: precision study") found 9
/// of 8,000 query decisions changed against exact arithmetic, all of them
/// demotions of scores within 2^-8 above a threshold, for half the
/// division cost of 16 bits.
pub const DEFAULT_DICE_FRACTION_BITS: u32 = 8;
/// The largest quantised (undoubled) weight; weights are rescaled to it.
pub const WEIGHT_MAX: u32 = 1023;
/// Largest bit length accepted for a bitmask field.
pub const MAX_BITMASK_BITS: u32 = 1 << 16;
/// Largest bit length accepted for a string field.
pub const MAX_STRING_BITS: u32 = 1 << 13;
/// Largest bit length accepted for integer and number fields.
pub const MAX_SCALAR_BITS: u32 = 64;
/// Most fields in one exchange group. Every permutation of a group is scored
/// (in the reference and in the 2PC), so the cost grows with `|G|!`.
pub const MAX_GROUP_SIZE: usize = 4;

/// How two values of a field are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Comparator {
    /// Dice coefficient of two Bloom filters; only valid on `bitmask` fields.
    Dice,
    /// Exact equality of the field's bits; not valid on `bitmask` fields.
    Binary,
}

impl Comparator {
    /// The comparator a field of type `t` gets when none is chosen: Dice on
    /// bitmasks (the only one allowed there), binary on everything else.
    pub fn default_for(t: FieldType) -> Comparator {
        match t {
            FieldType::Bitmask => Comparator::Dice,
            _ => Comparator::Binary,
        }
    }
}

/// The data type of a field on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    /// Base64 of the bit set, Java `BitSet.toByteArray()` order.
    Bitmask,
    /// A non-negative JSON integer (a string of decimal digits is tolerated).
    Integer,
    /// A JSON number: IEEE-754 binary64 bits when the bit length is 64,
    /// otherwise it must be integral and is encoded as an integer.
    Number,
    /// UTF-8 bytes, zero-padded to the bit length.
    String,
}

/// One configured field, as validated.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldSpec {
    pub name: String,
    pub frequency: f64,
    pub error_rate: f64,
    pub comparator: Comparator,
    pub field_type: FieldType,
    pub bitlength: u32,
}

impl FieldSpec {
    /// A field of type `field_type` with its default comparator
    /// ([`Comparator::default_for`]).
    pub fn with_default_comparator(
        name: impl Into<String>,
        frequency: f64,
        error_rate: f64,
        field_type: FieldType,
        bitlength: u32,
    ) -> FieldSpec {
        FieldSpec {
            name: name.into(),
            frequency,
            error_rate,
            comparator: Comparator::default_for(field_type),
            field_type,
            bitlength,
        }
    }

    /// The real-valued EpiLink weight `log2((1 - e) / f)`.
    pub fn real_weight(&self) -> f64 {
        ((1.0 - self.error_rate) / self.frequency).log2()
    }
}

/// The bits of one non-empty field value, `bitlength` bits, bit i at
/// `bytes[i / 8] >> (i % 8) & 1` (the Java `BitSet` byte order), with every bit
/// at or beyond `bitlength` zero. `bytes.len() == ceil(bitlength / 8)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FieldBits {
    bitlength: u32,
    bytes: Vec<u8>,
}

impl FieldBits {
    /// Builds field bits from little-endian bytes, zero-padding short input.
    /// Returns `None` if a bit at or beyond `bitlength` is set.
    pub fn from_le_bytes(bitlength: u32, data: &[u8]) -> Option<FieldBits> {
        let len = bitlength.div_ceil(8) as usize;
        let mut bytes = vec![0u8; len];
        for (i, &b) in data.iter().enumerate() {
            if i < len {
                bytes[i] = b;
            } else if b != 0 {
                return None;
            }
        }
        if !bitlength.is_multiple_of(8) && len > 0 {
            let mask = (1u8 << (bitlength % 8)) - 1;
            if bytes[len - 1] & !mask != 0 {
                return None;
            }
        }
        Some(FieldBits { bitlength, bytes })
    }

    pub fn bitlength(&self) -> u32 {
        self.bitlength
    }

    /// The bytes, `ceil(bitlength / 8)` of them, little-endian bit order.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Bit i (false beyond the bit length).
    pub fn bit(&self, i: u32) -> bool {
        i < self.bitlength && (self.bytes[(i / 8) as usize] >> (i % 8)) & 1 == 1
    }

    /// Number of set bits (the Hamming weight of a Bloom filter).
    pub fn count_ones(&self) -> u32 {
        self.bytes.iter().map(|b| b.count_ones()).sum()
    }
}

/// One record, in the order of [`LinkageConfig::fields`]; `None` is an empty
/// field (JSON null, or an empty/whitespace string).
pub type Record = Vec<Option<FieldBits>>;

/// The validated EpiLink configuration with its quantised integers.
///
/// Built by [`LinkageConfig::new`], which checks every rule of SPEC.md; a
/// value of this type is always consistent.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkageConfig {
    fields: Vec<FieldSpec>,
    /// Exchange groups as indices into `fields`; each field in at most one
    /// group, every group of at least two fields sharing comparator, type and
    /// bit length.
    exchange_groups: Vec<Vec<usize>>,
    threshold_match: f64,
    threshold_non_match: f64,
    /// Quantised, undoubled weights `W_f`, one per field.
    weights: Vec<u32>,
    /// `round(threshold_match · 2^16)`.
    threshold_match_fp: u64,
    /// `round(threshold_non_match · 2^16)`.
    threshold_tentative_fp: u64,
    /// `F`: fractional bits of every similarity.
    dice_fraction_bits: u32,
}

/// Why a linkage configuration was rejected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    #[error("the configuration has no fields")]
    NoFields,
    #[error("field name {0:?} is used twice")]
    DuplicateField(String),
    #[error("field name must not be empty")]
    EmptyFieldName,
    #[error("field {field:?}: frequency {value} must be in (0, 1)")]
    Frequency { field: String, value: f64 },
    #[error("field {field:?}: errorRate {value} must be in [0, 1)")]
    ErrorRate { field: String, value: f64 },
    #[error(
        "field {field:?}: weight log2((1-errorRate)/frequency) = {weight} is not positive; \
         a field that agrees less often for matches than by chance cannot be weighted"
    )]
    NonPositiveWeight { field: String, weight: f64 },
    #[error(
        "field {field:?}: comparator {comparator:?} is not allowed on fieldType {field_type:?}"
    )]
    ComparatorType {
        field: String,
        comparator: Comparator,
        field_type: FieldType,
    },
    #[error(
        "field {field:?}: bitlength {bitlength} is outside 1..={max} for fieldType {field_type:?}"
    )]
    Bitlength {
        field: String,
        bitlength: u32,
        field_type: FieldType,
        max: u32,
    },
    #[error("{name} = {value} must be in (0, 1]")]
    Threshold { name: &'static str, value: f64 },
    #[error(
        "{name} = {value} is below 2^-17 and would quantise to 0 in the 16-bit fixed point; \
         every record with one comparable field would then match"
    )]
    ThresholdTooSmall { name: &'static str, value: f64 },
    #[error(
        "exchange group {group} has {size} fields; at most {MAX_GROUP_SIZE} are allowed \
         (every permutation is scored, {MAX_GROUP_SIZE}! = 24 per record pair)"
    )]
    GroupTooLarge { group: usize, size: usize },
    #[error("exchange group {group} names unknown field {field:?}")]
    GroupUnknownField { group: usize, field: String },
    #[error("exchange group {group} must have at least two fields")]
    GroupTooSmall { group: usize },
    #[error("field {field:?} appears in more than one exchange group position")]
    GroupDuplicateField { field: String },
    #[error(
        "exchange group {group} mixes fields of different comparator, fieldType or bitlength \
         ({first:?} vs {other:?})"
    )]
    GroupMixed {
        group: usize,
        first: String,
        other: String,
    },
    #[error(
        "dice_fraction_bits = {value} is outside {MIN_DICE_FRACTION_BITS}..={MAX_DICE_FRACTION_BITS} \
         (fractional bits of a similarity; the thresholds keep 16)"
    )]
    DiceFractionBits { value: u32 },
}

impl LinkageConfig {
    /// Validates the parts of a configuration and derives its integers.
    ///
    /// `exchange_groups` name fields; thresholds must be in (0, 1]. A
    /// `threshold_non_match` above `threshold_match` is allowed (the tentative
    /// bit is then simply rarer than the match bit), since the reference does
    /// not forbid it.
    pub fn new(
        fields: Vec<FieldSpec>,
        exchange_groups: &[Vec<String>],
        threshold_match: f64,
        threshold_non_match: f64,
    ) -> Result<LinkageConfig, ConfigError> {
        if fields.is_empty() {
            return Err(ConfigError::NoFields);
        }
        for (i, f) in fields.iter().enumerate() {
            if f.name.is_empty() {
                return Err(ConfigError::EmptyFieldName);
            }
            if fields[..i].iter().any(|g| g.name == f.name) {
                return Err(ConfigError::DuplicateField(f.name.clone()));
            }
            // `!(a < x && x < b)` also rejects NaN.
            if !(f.frequency > 0.0 && f.frequency < 1.0) {
                return Err(ConfigError::Frequency {
                    field: f.name.clone(),
                    value: f.frequency,
                });
            }
            if !(f.error_rate >= 0.0 && f.error_rate < 1.0) {
                return Err(ConfigError::ErrorRate {
                    field: f.name.clone(),
                    value: f.error_rate,
                });
            }
            let w = f.real_weight();
            if !(w > 0.0 && w.is_finite()) {
                return Err(ConfigError::NonPositiveWeight {
                    field: f.name.clone(),
                    weight: w,
                });
            }
            let allowed = match f.comparator {
                Comparator::Dice => f.field_type == FieldType::Bitmask,
                Comparator::Binary => f.field_type != FieldType::Bitmask,
            };
            if !allowed {
                return Err(ConfigError::ComparatorType {
                    field: f.name.clone(),
                    comparator: f.comparator,
                    field_type: f.field_type,
                });
            }
            let max = match f.field_type {
                FieldType::Bitmask => MAX_BITMASK_BITS,
                FieldType::String => MAX_STRING_BITS,
                FieldType::Integer | FieldType::Number => MAX_SCALAR_BITS,
            };
            if f.bitlength == 0 || f.bitlength > max {
                return Err(ConfigError::Bitlength {
                    field: f.name.clone(),
                    bitlength: f.bitlength,
                    field_type: f.field_type,
                    max,
                });
            }
        }
        for (name, value) in [
            ("threshold_match", threshold_match),
            ("threshold_non_match", threshold_non_match),
        ] {
            if !(value > 0.0 && value <= 1.0) {
                return Err(ConfigError::Threshold { name, value });
            }
            if quantise_threshold(value) == 0 {
                return Err(ConfigError::ThresholdTooSmall { name, value });
            }
        }
        let mut groups = Vec::with_capacity(exchange_groups.len());
        let mut grouped = vec![false; fields.len()];
        for (gi, names) in exchange_groups.iter().enumerate() {
            if names.len() < 2 {
                return Err(ConfigError::GroupTooSmall { group: gi });
            }
            if names.len() > MAX_GROUP_SIZE {
                return Err(ConfigError::GroupTooLarge {
                    group: gi,
                    size: names.len(),
                });
            }
            let mut idx = Vec::with_capacity(names.len());
            for name in names {
                let Some(i) = fields.iter().position(|f| &f.name == name) else {
                    return Err(ConfigError::GroupUnknownField {
                        group: gi,
                        field: name.clone(),
                    });
                };
                if grouped[i] {
                    return Err(ConfigError::GroupDuplicateField {
                        field: name.clone(),
                    });
                }
                grouped[i] = true;
                idx.push(i);
            }
            let first = &fields[idx[0]];
            for &i in &idx[1..] {
                let f = &fields[i];
                if f.comparator != first.comparator
                    || f.field_type != first.field_type
                    || f.bitlength != first.bitlength
                {
                    return Err(ConfigError::GroupMixed {
                        group: gi,
                        first: first.name.clone(),
                        other: f.name.clone(),
                    });
                }
            }
            groups.push(idx);
        }
        let weights = quantise_weights(&fields);
        Ok(LinkageConfig {
            threshold_match_fp: quantise_threshold(threshold_match),
            threshold_tentative_fp: quantise_threshold(threshold_non_match),
            fields,
            exchange_groups: groups,
            threshold_match,
            threshold_non_match,
            weights,
            dice_fraction_bits: DEFAULT_DICE_FRACTION_BITS,
        })
    }

    /// The same configuration with similarities of `bits` fractional bits
    /// (`F`), which must be in
    /// [`MIN_DICE_FRACTION_BITS`]`..=`[`MAX_DICE_FRACTION_BITS`].
    ///
    /// `F` decides results (a score within 2^-F above a threshold may fall
    /// below it), so both parties must use the same value; it is part of the
    /// configuration fingerprint.
    pub fn with_dice_fraction_bits(mut self, bits: u32) -> Result<LinkageConfig, ConfigError> {
        if !(MIN_DICE_FRACTION_BITS..=MAX_DICE_FRACTION_BITS).contains(&bits) {
            return Err(ConfigError::DiceFractionBits { value: bits });
        }
        self.dice_fraction_bits = bits;
        Ok(self)
    }

    pub fn fields(&self) -> &[FieldSpec] {
        &self.fields
    }

    /// Index of the field called `name`.
    pub fn field_index(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|f| f.name == name)
    }

    /// Exchange groups as field indices.
    pub fn exchange_groups(&self) -> &[Vec<usize>] {
        &self.exchange_groups
    }

    /// The exchange group that contains field `i`, if any.
    pub fn group_of(&self, i: usize) -> Option<usize> {
        self.exchange_groups.iter().position(|g| g.contains(&i))
    }

    pub fn threshold_match(&self) -> f64 {
        self.threshold_match
    }

    pub fn threshold_non_match(&self) -> f64 {
        self.threshold_non_match
    }

    /// Quantised undoubled weight `W_f` of field `i`.
    pub fn weight(&self, i: usize) -> u32 {
        self.weights[i]
    }

    /// Weight of comparing query field `i` with database field `j`:
    /// `W_i + W_j` (the doubled mean; `2·W_i` when `i == j`).
    pub fn pair_weight(&self, i: usize, j: usize) -> u64 {
        u64::from(self.weights[i]) + u64::from(self.weights[j])
    }

    /// `F`: fractional bits of every similarity (Dice and binary), so a
    /// similarity is in `0 ..= 2^F`.
    pub fn dice_fraction_bits(&self) -> u32 {
        self.dice_fraction_bits
    }

    /// `2^F`: the similarity of identical values.
    pub fn similarity_one(&self) -> u64 {
        1 << self.dice_fraction_bits
    }

    /// `round(threshold_match · 2^16)`.
    pub fn threshold_match_fp(&self) -> u64 {
        self.threshold_match_fp
    }

    /// `round(threshold_non_match · 2^16)`.
    pub fn threshold_tentative_fp(&self) -> u64 {
        self.threshold_tentative_fp
    }
}

/// `W_f = max(1, round(w_f / w_max · WEIGHT_MAX))`.
fn quantise_weights(fields: &[FieldSpec]) -> Vec<u32> {
    let real: Vec<f64> = fields.iter().map(FieldSpec::real_weight).collect();
    let w_max = real.iter().copied().fold(f64::MIN, f64::max);
    real.iter()
        .map(|w| ((w / w_max * f64::from(WEIGHT_MAX)).round() as u32).clamp(1, WEIGHT_MAX))
        .collect()
}

/// `round(t · 2^16)`; exact in f64 because the factor is a power of two.
fn quantise_threshold(t: f64) -> u64 {
    (t * (1u64 << THRESHOLD_FRAC_BITS) as f64).round() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(name: &str, f: f64, e: f64, c: Comparator, t: FieldType, bits: u32) -> FieldSpec {
        FieldSpec {
            name: name.into(),
            frequency: f,
            error_rate: e,
            comparator: c,
            field_type: t,
            bitlength: bits,
        }
    }

    #[test]
    fn weights_rescale_to_max_and_round() {
        // w = log2(0.99/0.000235) = 12.040, log2(0.992/0.0000271) = 15.160.
        let cfg = LinkageConfig::new(
            vec![
                field(
                    "a",
                    0.000235,
                    0.01,
                    Comparator::Dice,
                    FieldType::Bitmask,
                    500,
                ),
                field(
                    "b",
                    0.0000271,
                    0.008,
                    Comparator::Dice,
                    FieldType::Bitmask,
                    500,
                ),
            ],
            &[],
            0.9,
            0.7,
        )
        .unwrap();
        assert_eq!(cfg.weight(1), WEIGHT_MAX);
        // 12.04055 / 15.15976 * 1023 = 812.51 -> 813
        assert_eq!(cfg.weight(0), 813);
        assert_eq!(cfg.pair_weight(0, 1), 1836);
        assert_eq!(cfg.threshold_match_fp(), 58982); // 0.9 * 65536 = 58982.4
        assert_eq!(cfg.threshold_tentative_fp(), 45875); // 45875.2
    }

    #[test]
    fn field_bits_reject_bits_beyond_length() {
        assert!(FieldBits::from_le_bytes(12, &[0xff, 0x0f]).is_some());
        assert!(FieldBits::from_le_bytes(12, &[0xff, 0x1f]).is_none());
        assert!(FieldBits::from_le_bytes(12, &[0xff, 0x0f, 0x01]).is_none());
        let b = FieldBits::from_le_bytes(12, &[0x01]).unwrap();
        assert_eq!(b.as_bytes(), &[0x01, 0x00]);
        assert!(b.bit(0) && !b.bit(1) && !b.bit(100));
        assert_eq!(b.count_ones(), 1);
    }

    #[test]
    fn rejects_forbidden_combinations() {
        let one_field = |c, t, threshold_match, threshold_non_match| {
            LinkageConfig::new(
                vec![field("a", 0.1, 0.01, c, t, 8)],
                &[],
                threshold_match,
                threshold_non_match,
            )
        };
        let bad = one_field(Comparator::Dice, FieldType::Integer, 0.9, 0.7);
        assert!(matches!(bad, Err(ConfigError::ComparatorType { .. })));
        let bad = one_field(Comparator::Binary, FieldType::Bitmask, 0.9, 0.7);
        assert!(matches!(bad, Err(ConfigError::ComparatorType { .. })));
        let bad = one_field(Comparator::Binary, FieldType::Integer, 0.0, 0.7);
        assert!(matches!(bad, Err(ConfigError::Threshold { .. })));
        let bad = one_field(Comparator::Binary, FieldType::Integer, 0.9, 1e-6);
        assert!(matches!(bad, Err(ConfigError::ThresholdTooSmall { .. })));
        let names: Vec<String> = (0..5).map(|i| format!("n{i}")).collect();
        let fields = names
            .iter()
            .map(|n| field(n, 0.01, 0.01, Comparator::Dice, FieldType::Bitmask, 500))
            .collect();
        let bad = LinkageConfig::new(fields, std::slice::from_ref(&names), 0.9, 0.7);
        assert!(matches!(
            bad,
            Err(ConfigError::GroupTooLarge { size: 5, .. })
        ));
        let bad = LinkageConfig::new(
            vec![field(
                "a",
                0.95,
                0.1,
                Comparator::Binary,
                FieldType::Integer,
                8,
            )],
            &[],
            0.9,
            0.7,
        );
        assert!(matches!(bad, Err(ConfigError::NonPositiveWeight { .. })));
    }

    #[test]
    fn dice_fraction_bits_default_to_eight_and_are_validated() {
        let cfg = LinkageConfig::new(
            vec![field(
                "a",
                0.1,
                0.01,
                Comparator::Dice,
                FieldType::Bitmask,
                8,
            )],
            &[],
            0.9,
            0.7,
        )
        .unwrap();
        assert_eq!(cfg.dice_fraction_bits(), DEFAULT_DICE_FRACTION_BITS);
        assert_eq!(cfg.similarity_one(), 256);
        for bits in [8, 12, 16] {
            let c = cfg.clone().with_dice_fraction_bits(bits).unwrap();
            assert_eq!(c.dice_fraction_bits(), bits);
            assert_eq!(c.similarity_one(), 1 << bits);
            // Thresholds keep their 16 fractional bits.
            assert_eq!(c.threshold_match_fp(), 58982);
        }
        for bits in [0, 7, 17, 64] {
            assert_eq!(
                cfg.clone().with_dice_fraction_bits(bits),
                Err(ConfigError::DiceFractionBits { value: bits })
            );
        }
        let e = cfg.with_dice_fraction_bits(17).unwrap_err().to_string();
        assert!(
            e.contains("dice_fraction_bits") && e.contains("8..=16"),
            "{e}"
        );
    }
}
