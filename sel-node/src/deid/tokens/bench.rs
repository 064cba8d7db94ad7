//! `sel-node deid bench-tokens`: token lookups per second on a store, so the
//! embedded store and PostgreSQL can be compared (BENCHMARKS.md).
//!
//! Stores `values` synthetic values through the token-based backend (in
//! batches, as `/anonymize/phi` does), then times value→token and
//! token→value lookups through the whole [`TokenService`] path (keyed
//! hashes, store query, unsealing), from `threads` threads at once. The
//! values are synthetic and the key the benchmark's own, under a fresh namespace,
//! so a run never touches real mappings; point it at a scratch database
//! (a database holding another node key's tokens is refused).

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::seal::NodeKey;

use super::{Backend, TokenError, TokenService, TokenStore};

/// What one run measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BenchReport {
    pub values: usize,
    pub threads: usize,
    pub lookups: usize,
    /// Values stored per second (batches of [`BATCH`]).
    pub tokenize_per_s: f64,
    pub value_to_token_per_s: f64,
    pub token_to_value_per_s: f64,
}

/// The benchmark's key: not a secret, it only ever seals synthetic values.
const BENCH_KEY: [u8; 32] = *b"sel-node deid bench-tokens key!!";

/// Values per stored batch.
pub const BATCH: usize = 100;

fn value(i: usize) -> String {
    format!("Synthetic Patient {i:08}")
}

/// Runs the benchmark on `store`: `values` stored, then `lookups` lookups of
/// each kind spread over `threads` threads.
pub fn run(
    store: Arc<dyn TokenStore>,
    values: usize,
    lookups: usize,
    threads: usize,
) -> Result<BenchReport, TokenError> {
    let values = values.max(1);
    let threads = threads.max(1);
    // A fixed key of the benchmark's own: repeated runs share a scratch
    // database, and a node's database (stored under its node key) is
    // refused by the key check instead of receiving synthetic rows.
    let key = NodeKey::from_bytes(&BENCH_KEY);
    let service = Arc::new(TokenService::new(store, None, &key)?);
    let namespace = format!("bench-{:016x}", rand::random::<u64>());
    let target = service.target(Backend::TokenBased, Some(&namespace), None)?;

    let started = Instant::now();
    let mut tokens = Vec::with_capacity(values);
    for chunk in (0..values).collect::<Vec<_>>().chunks(BATCH) {
        let items: Vec<(String, String)> =
            chunk.iter().map(|&i| ("name".into(), value(i))).collect();
        tokens.extend(service.tokenize_many(&target, &items)?);
    }
    let tokenize = started.elapsed();
    let tokens = Arc::new(tokens);

    let per_thread = lookups.div_ceil(threads).max(1);
    let time = |by_value: bool| -> Result<Duration, TokenError> {
        let started = Instant::now();
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let (service, target, tokens) = (&service, &target, &tokens);
                    scope.spawn(move || -> Result<(), TokenError> {
                        for n in 0..per_thread {
                            let i = (t * per_thread + n).wrapping_mul(7919) % values;
                            let found = if by_value {
                                service.value_to_token(target, &value(i))?.is_some()
                            } else {
                                service.token_to_value(target, &tokens[i])?.is_some()
                            };
                            if !found {
                                return Err(TokenError::Store(super::StoreError::Corrupt(
                                    "a stored token was not found".into(),
                                )));
                            }
                        }
                        Ok(())
                    })
                })
                .collect();
            handles
                .into_iter()
                .try_for_each(|h| h.join().unwrap_or(Err(TokenError::Unseal)))
        })?;
        Ok(started.elapsed())
    };
    let by_value = time(true)?;
    let by_token = time(false)?;
    let done = per_thread * threads;
    let rate = |n: usize, d: Duration| n as f64 / d.as_secs_f64().max(1e-9);
    Ok(BenchReport {
        values,
        threads,
        lookups: done,
        tokenize_per_s: rate(values, tokenize),
        value_to_token_per_s: rate(done, by_value),
        token_to_value_per_s: rate(done, by_token),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deid::tokens::MemoryTokenStore;

    #[test]
    fn a_small_run_finds_every_token_it_stored() {
        let report = run(Arc::new(MemoryTokenStore::new()), 250, 40, 2).unwrap();
        assert_eq!(report.values, 250);
        assert_eq!(report.lookups, 40);
        assert!(report.value_to_token_per_s > 0.0 && report.token_to_value_per_s > 0.0);
    }
}
