//! Shared generators for the EpiLink tests: random configurations (Dice and
//! binary fields, exchange groups of 2 and 3), random records drawn from
//! small value pools (so equal values, ties and matches are common), and
//! hand-made edge families.
#![allow(dead_code)]

use proptest::prelude::*;
use protocol_spec::config::{Comparator, FieldBits, FieldSpec, FieldType, LinkageConfig, Record};

/// A random configuration plus value pools per field.
#[derive(Clone, Debug)]
pub struct Scenario {
    pub config: LinkageConfig,
    /// Per field: candidate values (a record field is one of them or empty).
    pub pools: Vec<Vec<FieldBits>>,
}

pub fn field(
    name: &str,
    freq: f64,
    err: f64,
    comparator: Comparator,
    field_type: FieldType,
    bits: u32,
) -> FieldSpec {
    FieldSpec {
        name: name.into(),
        frequency: freq,
        error_rate: err,
        comparator,
        field_type,
        bitlength: bits,
    }
}

pub fn bits_from_u64(bitlength: u32, v: u64) -> FieldBits {
    let mask = if bitlength >= 64 {
        u64::MAX
    } else {
        (1u64 << bitlength) - 1
    };
    FieldBits::from_le_bytes(bitlength, &(v & mask).to_le_bytes()).expect("masked")
}

pub fn bits_from_bytes(bitlength: u32, bytes: &[u8]) -> FieldBits {
    let mut b = bytes.to_vec();
    b.resize(bitlength.div_ceil(8) as usize, 0);
    if !bitlength.is_multiple_of(8)
        && let Some(last) = b.last_mut()
    {
        *last &= (1u8 << (bitlength % 8)) - 1;
    }
    FieldBits::from_le_bytes(bitlength, &b).expect("masked")
}

/// Field kinds for generated configurations.
#[derive(Clone, Copy, Debug)]
pub enum Mix {
    Any,
    DiceOnly,
    BinaryOnly,
}

fn comparator_for(mix: Mix, coin: bool) -> Comparator {
    match mix {
        Mix::Any => {
            if coin {
                Comparator::Dice
            } else {
                Comparator::Binary
            }
        }
        Mix::DiceOnly => Comparator::Dice,
        Mix::BinaryOnly => Comparator::Binary,
    }
}

/// A random scenario: 1–5 fields, at most one group of 2 or 3 fields,
/// thresholds anywhere in (0, 1].
pub fn scenario(mix: Mix) -> impl Strategy<Value = Scenario> {
    (
        1usize..=5,
        prop::collection::vec((any::<bool>(), 1u32..=24, 0.001f64..0.4, 0.0f64..0.05), 5),
        0usize..=3,
        (1u32..=65536, 1u32..=65536),
        any::<u64>(),
    )
        .prop_map(move |(n, specs, group, (tm, tt), seed)| {
            // Group fields share comparator and bit length: take them from
            // the first group member.
            let group_len = if group >= 2 && n >= group { group } else { 0 };
            let (c0, bits0) = (comparator_for(mix, specs[0].0), specs[0].1);
            let fields: Vec<FieldSpec> = (0..n)
                .map(|i| {
                    let (coin, bits, f, e) = specs[i];
                    let (c, bits) = if i < group_len {
                        (c0, bits0)
                    } else {
                        (comparator_for(mix, coin), bits)
                    };
                    let t = if c == Comparator::Dice {
                        FieldType::Bitmask
                    } else {
                        FieldType::Integer
                    };
                    let bits = if t == FieldType::Integer {
                        bits.min(24)
                    } else {
                        bits * 3
                    };
                    field(&format!("f{i}"), f, e, c, t, bits)
                })
                .collect();
            let groups: Vec<Vec<String>> = if group_len > 0 {
                vec![(0..group_len).map(|i| format!("f{i}")).collect()]
            } else {
                vec![]
            };
            let config = LinkageConfig::new(
                fields,
                &groups,
                f64::from(tm) / 65536.0,
                f64::from(tt) / 65536.0,
            )
            .expect("generated configurations are valid");
            let pools = pools_for(&config, seed);
            Scenario { config, pools }
        })
}

/// 2–4 candidate values per field from a seed; group fields share a pool so
/// swapped values compare equal.
pub fn pools_for(config: &LinkageConfig, seed: u64) -> Vec<Vec<FieldBits>> {
    let mut state = seed | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut pools: Vec<Vec<FieldBits>> = config
        .fields()
        .iter()
        .map(|f| {
            let k = 2 + (next() % 3) as usize;
            (0..k)
                .map(|_| {
                    let bytes: Vec<u8> = (0..f.bitlength.div_ceil(8))
                        .map(|_| {
                            // Sparse-ish filters for Dice, anything for binary.
                            let v = next() as u8;
                            if f.comparator == Comparator::Dice {
                                v & (next() as u8)
                            } else {
                                v
                            }
                        })
                        .collect();
                    bits_from_bytes(f.bitlength, &bytes)
                })
                .collect()
        })
        .collect();
    for g in config.exchange_groups() {
        let shared = pools[g[0]].clone();
        for &i in g {
            pools[i] = shared.clone();
        }
    }
    pools
}

/// A record: per field an index into its pool, or empty.
pub fn record_from_choices(s: &Scenario, choices: &[u8]) -> Record {
    s.pools
        .iter()
        .enumerate()
        .map(|(f, pool)| {
            let c = choices.get(f).copied().unwrap_or(0) as usize;
            // 1 in 4 empty.
            if c % 4 == 3 {
                None
            } else {
                Some(pool[c % pool.len()].clone())
            }
        })
        .collect()
}

/// Random records (choices drawn per field).
pub fn records(s: &Scenario, choices: &[Vec<u8>]) -> Vec<Record> {
    choices.iter().map(|c| record_from_choices(s, c)).collect()
}

/// An all-empty record.
pub fn empty_record(config: &LinkageConfig) -> Record {
    vec![None; config.fields().len()]
}

/// The default 8-field configuration of the repository.
pub fn default_config() -> LinkageConfig {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/default-config.json"
    ))
    .expect("examples/default-config.json");
    let alg: protocol_spec::messages::mainsel::AlgorithmConfig =
        serde_json::from_str(&text).expect("json");
    LinkageConfig::from_wire(&alg).expect("valid")
}
