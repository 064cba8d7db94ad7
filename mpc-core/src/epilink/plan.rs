//! What the EpiLink circuit computes for one configuration: the compared
//! field pairs, the pairings, and every word width — all derived from the
//! quantised integers of [`LinkageConfig`] only, so both parties derive the
//! same plan and the same netlist.
//!
//! # How scores are compared
//!
//! The reference compares scores `N/D` as rationals, for the best pairing
//! of a record and for the best record, by cross-multiplication. Here the
//! numerators are additive shares mod `2^arith_width` (sums of weighted
//! similarities are then free) and the denominators are XOR-shared bits;
//! `N_1·D_2` is a sum of bit × integer products (one OT per bit and
//! direction), and only the sign of `N_1·D_2 − N_2·D_1` goes through a
//! Boolean adder. `arith_width` holds any such difference with its sign.

use protocol_spec::config::{Comparator, LinkageConfig, THRESHOLD_FRAC_BITS};
use protocol_spec::epilink::pairings;

use crate::circuit::gadgets::AdderKind;
use crate::circuit::word::bits_for;

/// One configured field as the circuit sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldPlan {
    /// How values of this field are compared.
    pub comparator: Comparator,
    /// Bits of a value.
    pub bitlength: usize,
    /// For Dice fields: bits of a Hamming weight or intersection count
    /// (`0 ..= bitlength`); for binary fields unused (0).
    pub count_width: usize,
}

/// One compared pair of fields `(query field, database field)`: a term of
/// one or more pairings. Each pair is computed once per record and reused by
/// every pairing that contains it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PairPlan {
    /// Query (client) field `i`.
    pub query: usize,
    /// Database (server) field `j`.
    pub database: usize,
    /// `W_i + W_j`.
    pub weight: u64,
    /// The comparator of both fields.
    pub comparator: Comparator,
}

/// Carry structures: `Ripple` adders use the fewest AND gates (OTs, bytes,
/// time on a LAN), `LogDepth` ones the fewest rounds (latency-bound
/// links). The similarity circuit runs once per chunk, so its depth is
/// paid once; the sign adder of a comparison runs in every tournament
/// layer (about `log2 N + 3` times), so its depth is paid many times over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Carries {
    /// The similarity circuit (A2B, sums, Dice divisions) and the
    /// decisions.
    pub similarity: AdderKind,
    /// The sign of a cross-product difference in every comparison layer.
    pub comparison: AdderKind,
}

impl Carries {
    /// Ripple everywhere: fewest OTs and bytes, most rounds.
    pub const MIN_GATES: Carries = Carries {
        similarity: AdderKind::Ripple,
        comparison: AdderKind::Ripple,
    };
    /// Ripple in the similarity circuit, log-depth signs: about 10 % more
    /// OTs than [`Carries::MIN_GATES`] for a third of the rounds. The
    /// default.
    pub const BALANCED: Carries = Carries {
        similarity: AdderKind::Ripple,
        comparison: AdderKind::LogDepth,
    };
    /// Log-depth everywhere: fewest rounds, about twice the OTs.
    pub const MIN_ROUNDS: Carries = Carries {
        similarity: AdderKind::LogDepth,
        comparison: AdderKind::LogDepth,
    };
}

impl Default for Carries {
    fn default() -> Self {
        Carries::BALANCED
    }
}

/// A configuration this implementation cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// The weights add up to so much that a cross product of scores needs
    /// more than the 64-bit arithmetic shares hold.
    #[error(
        "the configuration has {fields} fields; comparing scores would need {bits}-bit \
         arithmetic shares, more than the 64 supported"
    )]
    TooManyFields {
        /// Fields in the configuration.
        fields: usize,
        /// Bits a cross-product difference needs.
        bits: usize,
    },
}

/// Everything the circuit needs to know about a configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Per configured field.
    pub fields: Vec<FieldPlan>,
    /// Every compared pair; fields outside exchange groups give `(i, i)`,
    /// a group `G` gives all `|G|²` pairs `(g_m, g_n)`.
    pub pairs: Vec<PairPlan>,
    /// Pairs that belong to every pairing (fields outside exchange groups).
    pub common: Vec<usize>,
    /// Per pairing (in the reference's order), its pairs inside exchange
    /// groups; together with [`Plan::common`] one pair per query field.
    pub pairings: Vec<Vec<usize>>,
    /// The largest possible denominator `D = Σ δ·(W_i + W_j)`: `2·Σ W`
    /// (every pairing is a permutation, so each weight appears twice).
    pub d_max: u64,
    /// Bits of a denominator (`0 ..= d_max`).
    pub d_width: usize,
    /// `F`: fractional bits of a similarity
    /// ([`LinkageConfig::dice_fraction_bits`]).
    pub fraction_bits: u32,
    /// Bits of a similarity value: `0 ..= 2^F` needs `F + 1` (the quotient
    /// bits of a Dice division).
    pub sim_width: usize,
    /// Bits of a numerator (`0 ..= 2^F · d_max`).
    pub n_width: usize,
    /// Ring of the arithmetic shares: `n_width + d_width + 1` bits, so a
    /// difference of two cross products `N_1·D_2 − N_2·D_1` and its sign
    /// fit.
    pub arith_width: u32,
    /// `T_m = round(threshold_match · 2^16)`.
    pub threshold_match: u64,
    /// `T_t = round(threshold_non_match · 2^16)`.
    pub threshold_tentative: u64,
    /// Carry structures of the circuits.
    pub carries: Carries,
}

impl Plan {
    /// The plan of `config` with the given adder structure.
    pub fn new(config: &LinkageConfig, carries: Carries) -> Result<Plan, PlanError> {
        let fields: Vec<FieldPlan> = config
            .fields()
            .iter()
            .map(|f| FieldPlan {
                comparator: f.comparator,
                bitlength: f.bitlength as usize,
                count_width: match f.comparator {
                    Comparator::Dice => bits_for(u128::from(f.bitlength)),
                    Comparator::Binary => 0,
                },
            })
            .collect();
        let n = fields.len();
        // Pairs: (i, i) outside groups, all (g_m, g_n) inside; sorted by
        // query field, then database field.
        let mut candidates: Vec<(usize, usize)> = Vec::new();
        for i in 0..n {
            match config.group_of(i) {
                None => candidates.push((i, i)),
                Some(g) => {
                    for &j in &config.exchange_groups()[g] {
                        candidates.push((i, j));
                    }
                }
            }
        }
        candidates.sort_unstable();
        let pairs: Vec<PairPlan> = candidates
            .iter()
            .map(|&(i, j)| PairPlan {
                query: i,
                database: j,
                weight: config.pair_weight(i, j),
                comparator: fields[i].comparator,
            })
            .collect();
        let index_of = |i: usize, j: usize| {
            pairs
                .iter()
                .position(|p| p.query == i && p.database == j)
                .expect("every pairing compares a listed pair")
        };
        let common: Vec<usize> = (0..n)
            .filter(|&i| config.group_of(i).is_none())
            .map(|i| index_of(i, i))
            .collect();
        let pairings: Vec<Vec<usize>> = pairings(config)
            .map(|p| {
                p.partners()
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| config.group_of(*i).is_some())
                    .map(|(i, &j)| index_of(i, j))
                    .collect()
            })
            .collect();
        let d_max: u64 = 2 * (0..n).map(|i| u64::from(config.weight(i))).sum::<u64>();
        let d_width = bits_for(u128::from(d_max));
        let fraction_bits = config.dice_fraction_bits();
        let n_width = bits_for(u128::from(d_max) << fraction_bits);
        let arith_width = n_width + d_width + 1;
        if arith_width > 64 {
            return Err(PlanError::TooManyFields {
                fields: n,
                bits: arith_width,
            });
        }
        Ok(Plan {
            fields,
            pairs,
            common,
            pairings,
            d_max,
            d_width,
            fraction_bits,
            sim_width: fraction_bits as usize + 1,
            n_width,
            arith_width: arith_width as u32,
            threshold_match: config.threshold_match_fp(),
            threshold_tentative: config.threshold_tentative_fp(),
            carries,
        })
    }

    /// `16 − F`: how far a numerator is shifted left to meet the
    /// thresholds' 16 fractional bits in a decision (`2^(16−F)·N ≥ T·D`).
    pub fn threshold_shift(&self) -> usize {
        (THRESHOLD_FRAC_BITS - self.fraction_bits) as usize
    }

    /// Indices of the Dice pairs, in pair order (the order of the count
    /// inputs and of the vector-product messages).
    pub fn dice_pairs(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.pairs.len()).filter(|&t| self.pairs[t].comparator == Comparator::Dice)
    }
}
