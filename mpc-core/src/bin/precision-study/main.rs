//! `precision-study`: how many EpiLink linkage decisions the reference's
//! fixed point changes against exact rational arithmetic, at the default 8
//! fractional bits (`dice_fraction_bits`) and at 16 (issue 12, the
//! "Precision" lever; SPEC.md §5).
//!
//! ```text
//! precision-study [--config C] [--bits 8,16] [--seeds 1,2,3,4,5] [--db N]
//!                 [--queries M] [--febrl-db N] [--febrl-queries M]
//!                 [--febrl-seeds 1,2,3]
//! ```
//!
//! `--bits` lists the precisions (1..=16; the configuration's own
//! `dice_fraction_bits` only matters to the node, the study scores every
//! listed precision on the same pairs).
//!
//! Data sets: the synthetic population (`mpc_core::epilink::synth`, one set
//! per seed, M queries × N records) and a FEBRL-like set ([`febrl`]). For each
//! set and each precision (8 and 16 fractional bits) it counts, against the
//! exact scores: threshold decisions changed per compared pair, the 1×N
//! results' match and tentative bits and best indices changed per query,
//! the largest score difference, and how many changes lie within 2^-8 of a
//! threshold (or, for best indices, are near-ties within 2^-8). It prints a
//! table, then one JSON line per set and precision.
//!
//! The study reads plaintext records it generated itself; it is a
//! measurement tool, not part of the protocol, and touches no secrets.

mod febrl;
mod score;

use std::cmp::Ordering;
use std::process::ExitCode;

use febrl::{FebrlOptions, FebrlSet};
use mpc_core::epilink::synth::{Population, SynthOptions};
use protocol_spec::config::{LinkageConfig, Record, THRESHOLD_FRAC_BITS};
use protocol_spec::messages::mainsel::AlgorithmConfig;
use score::{Exact, Fixed, PairScores, PreparedRecord, Scorer, cmp_fraction, prepare};

/// The precisions compared unless `--bits` says otherwise: the default
/// `dice_fraction_bits` and the finest.
const FRAC_BITS: [u32; 2] = [8, 16];
/// "Near a threshold" and "near-tie" mean within this many fractional
/// bits' unit, 2^-8.
const NEAR_BITS: u32 = 8;

const USAGE: &str = "usage: precision-study [--config C] [--bits 8,16] [--seeds 1,2,3,4,5] [--db N] [--queries M] \
[--febrl-db N] [--febrl-queries M] [--febrl-seeds 1,2,3]";

struct Args {
    config: Option<String>,
    bits: Vec<u32>,
    seeds: Vec<u64>,
    db: usize,
    queries: usize,
    febrl_db: usize,
    febrl_queries: usize,
    febrl_seeds: Vec<u64>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        config: None,
        bits: FRAC_BITS.to_vec(),
        seeds: vec![1, 2, 3, 4, 5],
        db: 10_000,
        queries: 200,
        febrl_db: 10_000,
        febrl_queries: 1_000,
        febrl_seeds: vec![1],
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))
        };
        let number = |v: String| v.parse::<usize>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--config" => args.config = Some(value()?),
            "--bits" => args.bits = bits_list(&value()?)?,
            "--seeds" => args.seeds = seed_list(&value()?)?,
            "--febrl-seeds" => args.febrl_seeds = seed_list(&value()?)?,
            "--db" => args.db = number(value()?)?,
            "--queries" => args.queries = number(value()?)?,
            "--febrl-db" => args.febrl_db = number(value()?)?,
            "--febrl-queries" => args.febrl_queries = number(value()?)?,
            "-h" | "--help" => return Err(USAGE.to_string()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    Ok(args)
}

/// A comma-separated list of precisions, each in `1..=16`.
fn bits_list(text: &str) -> Result<Vec<u32>, String> {
    let bits = seed_list(text)?
        .into_iter()
        .map(|b| match u32::try_from(b) {
            Ok(b) if (1..=THRESHOLD_FRAC_BITS).contains(&b) => Ok(b),
            _ => Err(format!("--bits: {b} is outside 1..={THRESHOLD_FRAC_BITS}")),
        })
        .collect::<Result<Vec<u32>, String>>()?;
    if bits.is_empty() {
        return Err(format!("--bits needs at least one precision\n{USAGE}"));
    }
    Ok(bits)
}

/// A comma-separated list of seeds; empty for none.
fn seed_list(text: &str) -> Result<Vec<u64>, String> {
    text.split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| {
            s.trim()
                .parse::<u64>()
                .map_err(|e| format!("seed {s:?}: {e}"))
        })
        .collect()
}

fn load_config(path: Option<&str>) -> Result<LinkageConfig, String> {
    let path = path.map(str::to_owned).unwrap_or_else(|| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../examples/default-config.json"
        )
        .to_string()
    });
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    let alg: AlgorithmConfig = serde_json::from_str(&text).map_err(|e| format!("{path}: {e}"))?;
    LinkageConfig::from_wire(&alg).map_err(|e| format!("{path}: {e}"))
}

/// What changes at one precision against the exact scores, over one set.
#[derive(Clone, Debug, Default)]
struct Counts {
    frac_bits: u32,
    pairs: u64,
    queries: u64,
    /// Per compared pair: the match (tentative) decision on the pair's
    /// record score differs from the exact one.
    pair_match_changed: u64,
    pair_tentative_changed: u64,
    /// Of those pair changes, how many have an exact score within 2^-8 of
    /// the threshold concerned.
    pair_changes_near_threshold: u64,
    /// Pairs whose exact score lies in `[T, T + 2^-frac_bits)` for either
    /// threshold: the only scores the floor can push below a threshold.
    pairs_at_risk: u64,
    /// Per query (the 1×N result the protocol outputs).
    query_match_changed: u64,
    query_tentative_changed: u64,
    query_changes_near_threshold: u64,
    best_index_changed: u64,
    /// Best index changed where either result is at least tentative, so the
    /// index would be used.
    best_index_changed_decisive: u64,
    /// Best index changed where the two records' exact scores differ by
    /// less than 2^-8.
    best_index_changed_near_tie: u64,
    /// Largest `exact − fixed` record score (display precision only).
    max_abs_diff: f64,
    /// Pairs violating `0 ≤ exact − fixed < 2^-frac_bits` (must be 0).
    bound_violations: u64,
}

/// Per-set facts that do not depend on the precision.
#[derive(Clone, Debug, Default)]
struct Truth {
    exact_matches: u64,
    exact_tentative: u64,
}

/// `|e − T/2^16| < 2^-NEAR_BITS`, exactly.
fn near_threshold(e: &Exact, threshold_fp: u64) -> bool {
    let unit = 1u64 << (THRESHOLD_FRAC_BITS - NEAR_BITS);
    let scale = 1u128 << THRESHOLD_FRAC_BITS;
    cmp_fraction(e.n, e.d, u128::from(threshold_fp + unit), scale) == Ordering::Less
        && cmp_fraction(
            e.n,
            e.d,
            u128::from(threshold_fp.saturating_sub(unit)),
            scale,
        ) == Ordering::Greater
}

/// `T/2^16 ≤ e < T/2^16 + 2^-bits`, exactly.
fn at_risk(e: &Exact, threshold_fp: u64, bits: u32) -> bool {
    let scale = 1u128 << THRESHOLD_FRAC_BITS;
    let top = u128::from(threshold_fp) + (1u128 << (THRESHOLD_FRAC_BITS - bits));
    e.reaches(threshold_fp) && cmp_fraction(e.n, e.d, top, scale) == Ordering::Less
}

/// `0 ≤ e − f < 2^-bits`, exactly.
fn within_bound(e: &Exact, f: &Fixed, bits: u32) -> bool {
    let (fnum, fden) = f.as_fraction(bits);
    // f + 2^-bits = (N + D') / (2^bits·D') where fden = 2^bits·D'.
    let step = fden >> bits;
    cmp_fraction(fnum, fden, e.n, e.d) != Ordering::Greater
        && cmp_fraction(e.n, e.d, fnum + step, fden) == Ordering::Less
}

/// The 1×N result in one variant: best index (first strict maximum) and its
/// score, plus the exact score of that same record.
#[derive(Clone, Copy)]
struct Best<S> {
    index: usize,
    score: S,
    exact: Exact,
}

fn study(
    config: &LinkageConfig,
    frac_bits: &[u32],
    queries: &[Record],
    database: &[Record],
) -> Result<(Truth, Vec<Counts>), score::Overflow> {
    let scorer = Scorer::new(config, frac_bits);
    let (tm, tt) = (config.threshold_match_fp(), config.threshold_tentative_fp());
    let db: Vec<PreparedRecord> = database.iter().map(prepare).collect();
    let mut truth = Truth::default();
    let mut counts: Vec<Counts> = frac_bits
        .iter()
        .map(|&frac_bits| Counts {
            frac_bits,
            ..Counts::default()
        })
        .collect();
    for query in queries {
        let q = prepare(query);
        let mut best_exact: Option<Best<Exact>> = None;
        let mut best_fixed: Vec<Option<Best<Fixed>>> = vec![None; frac_bits.len()];
        for (index, record) in db.iter().enumerate() {
            let PairScores { exact, fixed } = scorer.score(&q, record)?;
            if best_exact.is_none_or(|b| exact.cmp(&b.score) == Ordering::Greater) {
                best_exact = Some(Best {
                    index,
                    score: exact,
                    exact,
                });
            }
            for (k, f) in fixed.iter().enumerate() {
                let bits = frac_bits[k];
                let c = &mut counts[k];
                c.pairs += 1;
                let diff = exact.to_f64() - {
                    let (n, d) = f.as_fraction(bits);
                    n as f64 / d as f64
                };
                c.max_abs_diff = c.max_abs_diff.max(diff.abs());
                c.bound_violations += u64::from(!within_bound(&exact, f, bits));
                c.pairs_at_risk +=
                    u64::from(at_risk(&exact, tm, bits) || at_risk(&exact, tt, bits));
                for (threshold, changed) in [
                    (tm, &mut c.pair_match_changed),
                    (tt, &mut c.pair_tentative_changed),
                ] {
                    if f.reaches(threshold, bits) != exact.reaches(threshold) {
                        *changed += 1;
                        c.pair_changes_near_threshold +=
                            u64::from(near_threshold(&exact, threshold));
                    }
                }
                if best_fixed[k].is_none_or(|b| f.cmp_ratio(&b.score) == Ordering::Greater) {
                    best_fixed[k] = Some(Best {
                        index,
                        score: *f,
                        exact,
                    });
                }
            }
        }
        let Some(be) = best_exact else { continue };
        let exact_match = be.score.reaches(tm);
        let exact_tentative = be.score.reaches(tt);
        truth.exact_matches += u64::from(exact_match);
        truth.exact_tentative += u64::from(exact_tentative);
        for (k, bf) in best_fixed.iter().enumerate() {
            let bf = bf.expect("a non-empty database has a best record in every variant");
            let bits = frac_bits[k];
            let c = &mut counts[k];
            c.queries += 1;
            let fixed_match = bf.score.reaches(tm, bits);
            let fixed_tentative = bf.score.reaches(tt, bits);
            if fixed_match != exact_match {
                c.query_match_changed += 1;
                c.query_changes_near_threshold += u64::from(near_threshold(&be.score, tm));
            }
            if fixed_tentative != exact_tentative {
                c.query_tentative_changed += 1;
                c.query_changes_near_threshold += u64::from(near_threshold(&be.score, tt));
            }
            if bf.index != be.index {
                c.best_index_changed += 1;
                c.best_index_changed_decisive +=
                    u64::from(exact_tentative || fixed_tentative || exact_match || fixed_match);
                // Near-tie: the exact best exceeds the fixed best's exact
                // score by less than 2^-8.
                let unit = 1u128 << NEAR_BITS;
                let (n, d) = (bf.exact.n * unit + bf.exact.d, bf.exact.d * unit);
                c.best_index_changed_near_tie +=
                    u64::from(cmp_fraction(be.score.n, be.score.d, n, d) == Ordering::Less);
            }
        }
    }
    Ok((truth, counts))
}

fn json_line(set: &str, truth: &Truth, c: &Counts) -> String {
    serde_json::json!({
        "set": set,
        "frac_bits": c.frac_bits,
        "pairs": c.pairs,
        "queries": c.queries,
        "exact_matches": truth.exact_matches,
        "exact_tentative": truth.exact_tentative,
        "pair_match_changed": c.pair_match_changed,
        "pair_tentative_changed": c.pair_tentative_changed,
        "pair_changes_near_threshold": c.pair_changes_near_threshold,
        "pairs_at_risk": c.pairs_at_risk,
        "query_match_changed": c.query_match_changed,
        "query_tentative_changed": c.query_tentative_changed,
        "query_changes_near_threshold": c.query_changes_near_threshold,
        "best_index_changed": c.best_index_changed,
        "best_index_changed_decisive": c.best_index_changed_decisive,
        "best_index_changed_near_tie": c.best_index_changed_near_tie,
        "max_abs_diff": c.max_abs_diff,
        "bound_violations": c.bound_violations,
    })
    .to_string()
}

fn run() -> Result<(), String> {
    let args = parse_args()?;
    let config = load_config(args.config.as_deref())?;
    let mut sets: Vec<(String, Vec<Record>, Vec<Record>)> = Vec::new();
    for &seed in &args.seeds {
        let population = Population::generate(
            &config,
            &SynthOptions {
                database: args.db,
                queries: args.queries,
                seed,
                ..SynthOptions::default()
            },
        )
        .map_err(|e| e.to_string())?;
        sets.push((
            format!("synth seed {seed}"),
            population.queries,
            population.database,
        ));
    }
    for &seed in &args.febrl_seeds {
        let febrl = FebrlSet::generate(
            &config,
            &FebrlOptions {
                database: args.febrl_db,
                queries: args.febrl_queries,
                seed,
                duplicates_in_database: 0.1,
                linked_fraction: 0.8,
                max_modifications: 3,
            },
        )
        .map_err(|e| e.to_string())?;
        sets.push((
            format!("febrl-like seed {seed}"),
            febrl.queries,
            febrl.database,
        ));
    }
    let mut lines = Vec::new();
    println!(
        "| set | bits | pairs | queries | exact M/T | pair M/T changed (near thr.) | pairs at risk | \
         query M/T changed (near thr.) | best idx changed (decisive, near-tie) | max diff | bound viol. |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (name, queries, database) in &sets {
        let (truth, counts) =
            study(&config, &args.bits, queries, database).map_err(|e| e.to_string())?;
        for c in &counts {
            println!(
                "| {name} | {} | {} | {} | {}/{} | {}/{} ({}) | {} | {}/{} ({}) | {} ({}, {}) | {:.3e} | {} |",
                c.frac_bits,
                c.pairs,
                c.queries,
                truth.exact_matches,
                truth.exact_tentative,
                c.pair_match_changed,
                c.pair_tentative_changed,
                c.pair_changes_near_threshold,
                c.pairs_at_risk,
                c.query_match_changed,
                c.query_tentative_changed,
                c.query_changes_near_threshold,
                c.best_index_changed,
                c.best_index_changed_decisive,
                c.best_index_changed_near_tie,
                c.max_abs_diff,
                c.bound_violations,
            );
            lines.push(json_line(name, &truth, c));
        }
    }
    for line in lines {
        println!("{line}");
    }
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("precision-study: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests;
