//! Shared generators for the EpiLink tests: random configurations (Dice and
//! binary fields, exchange groups of 2 and 3), random records drawn from
//! small value pools (so equal values, ties and matches are common), and
//! hand-made edge families.
#![allow(dead_code)]

use mpc_core::channel::memory_pair;
use mpc_core::epilink::{Options, ProtocolError, ResultShare, run_client, run_server};
use proptest::prelude::*;
use protocol_spec::config::{Comparator, FieldBits, FieldSpec, FieldType, LinkageConfig, Record};
use protocol_spec::epilink::LinkResult;

/// Both parties' outcomes of a two-party run.
pub type Pair<T, U> = (Result<T, ProtocolError>, Result<U, ProtocolError>);

/// A standalone linkage 2PC over an in-memory channel: the client with
/// `queries` and `client_opts`, the server with `database` and
/// `server_opts`, each on its own task.
pub async fn link_2pc(
    client_cfg: &LinkageConfig,
    server_cfg: &LinkageConfig,
    queries: &[Record],
    database: &[Record],
    client_opts: Options,
    server_opts: Options,
) -> Pair<Vec<ResultShare>, Vec<ResultShare>> {
    let (a, b) = memory_pair();
    let (cc, sc) = (client_cfg.clone(), server_cfg.clone());
    let (q, d) = (queries.to_vec(), database.to_vec());
    let client = tokio::spawn(async move { run_client(a, &cc, &q, &client_opts).await });
    let server = tokio::spawn(async move { run_server(b, &sc, &d, &server_opts).await });
    (
        client.await.expect("client task"),
        server.await.expect("server task"),
    )
}

/// The results both parties' shares combine to.
pub fn combine(c: &[ResultShare], s: &[ResultShare]) -> Vec<LinkResult> {
    assert_eq!(c.len(), s.len());
    c.iter().zip(s).map(|(a, b)| a.combine(b)).collect()
}

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

/// The similarity precisions every 2PC-vs-reference test covers: the
/// default `dice_fraction_bits` and the finest.
pub const PRECISIONS: [u32; 2] = [8, 16];

/// `config` with `bits` fractional bits per similarity.
pub fn with_bits(config: &LinkageConfig, bits: u32) -> LinkageConfig {
    config
        .clone()
        .with_dice_fraction_bits(bits)
        .expect("a valid precision")
}

/// A random scenario: 1–5 fields, at most one group of 2 or 3 fields,
/// thresholds anywhere in (0, 1], similarities with 8 or 16 fractional bits
/// (sometimes any precision between).
pub fn scenario(mix: Mix) -> impl Strategy<Value = Scenario> {
    (
        1usize..=5,
        prop::collection::vec((any::<bool>(), 1u32..=24, 0.001f64..0.4, 0.0f64..0.05), 5),
        0usize..=3,
        (1u32..=65536, 1u32..=65536),
        any::<u64>(),
        prop_oneof![4 => Just(8u32), 4 => Just(16u32), 1 => 9u32..=15],
    )
        .prop_map(move |(n, specs, group, (tm, tt), seed, fraction_bits)| {
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
            .and_then(|c| c.with_dice_fraction_bits(fraction_bits))
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

/// Dice edge cases at both precisions: all-zero filters on both sides
/// (`s = 0`), all-ones filters (the largest `s` and the largest count),
/// one shared bit in a large filter (the smallest non-zero similarity),
/// empty fields, exact ties, and thresholds exactly at the resulting
/// scores.
pub fn dice_edge_cases() -> Vec<(LinkageConfig, Vec<Record>, Vec<Record>)> {
    let fields = vec![
        field("small", 0.01, 0.0, Comparator::Dice, FieldType::Bitmask, 8),
        field(
            "large",
            0.001,
            0.01,
            Comparator::Dice,
            FieldType::Bitmask,
            1000,
        ),
        field(
            "year",
            0.02,
            0.0,
            Comparator::Binary,
            FieldType::Integer,
            12,
        ),
    ];
    let ones = |len: u32| bits_from_bytes(len, &vec![0xff; len.div_ceil(8) as usize]);
    let zeros = |len: u32| bits_from_bytes(len, &[]);
    let single = |len: u32, at: u32| {
        let mut b = vec![0u8; len.div_ceil(8) as usize];
        b[(at / 8) as usize] |= 1 << (at % 8);
        bits_from_bytes(len, &b)
    };
    let year = |y| Some(bits_from_u64(12, y));
    let records: Vec<Record> = vec![
        vec![Some(ones(8)), Some(ones(1000)), year(1980)],
        vec![Some(zeros(8)), Some(zeros(1000)), year(1980)],
        vec![Some(single(8, 3)), Some(single(1000, 999)), year(1981)],
        vec![None, Some(ones(1000)), None],
        vec![Some(ones(8)), None, year(1980)],
        vec![None, None, None],
        // All ones against one bit: 2·1/(1000 + 1), the smallest non-zero
        // Dice value, which floors to 0 at 8 bits.
        vec![Some(single(8, 0)), Some(ones(1000)), year(1980)],
        vec![Some(ones(8)), Some(ones(1000)), year(1980)],
    ];
    let mut cases = Vec::new();
    let base = |tm: f64, tt: f64| LinkageConfig::new(fields.clone(), &[], tm, tt).expect("valid");
    for bits in PRECISIONS {
        // Thresholds: generic, and exactly at each record's score with the
        // first record as query (so some decisions sit on the boundary).
        let generic = with_bits(&base(0.9, 0.6), bits);
        let mut thresholds = vec![(0.9, 0.6), (1.0, 1.0)];
        for db in &records {
            let s = protocol_spec::epilink::record_score(&generic, &records[0], db)
                .expect("valid")
                .ratio();
            // N / (2^F · D) as a threshold T / 2^16 when it is one exactly.
            let scaled = u128::from(s.0) << (16 - bits);
            if s.0 > 0 && scaled % u128::from(s.1) == 0 {
                let t = (scaled / u128::from(s.1)) as f64 / 65536.0;
                thresholds.push((t, t));
            }
        }
        for (tm, tt) in thresholds {
            cases.push((
                with_bits(&base(tm, tt), bits),
                records.clone(),
                records.clone(),
            ));
        }
    }
    cases
}
