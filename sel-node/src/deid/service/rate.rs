//! Rate limit per API key: a token bucket per key (refilled at the
//! configured rate per minute, holding at most the burst), so a key can
//! send a short burst but not more than its rate over time.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How many bucket entries may exist before idle full ones are dropped.
const PRUNE_AT: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

/// Token buckets, one per key (by key id, never the key).
#[derive(Debug)]
pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    /// `per_minute` requests per minute, `burst` at once (both ≥ 1).
    pub fn new(per_minute: u32, burst: u32) -> RateLimiter {
        RateLimiter {
            per_second: f64::from(per_minute.max(1)) / 60.0,
            burst: f64::from(burst.max(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token from `bucket`'s bucket at `now`; `Err(wait)` with
    /// the time until one is available if there is none.
    pub fn take(&self, bucket: &str, now: Instant) -> Result<(), Duration> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= PRUNE_AT {
            let (rate, burst) = (self.per_second, self.burst);
            buckets.retain(|_, b| {
                b.tokens + now.saturating_duration_since(b.last).as_secs_f64() * rate < burst
            });
        }
        let entry = buckets.entry(bucket.to_string()).or_insert(Bucket {
            tokens: self.burst,
            last: now,
        });
        let elapsed = now.saturating_duration_since(entry.last).as_secs_f64();
        entry.tokens = (entry.tokens + elapsed * self.per_second).min(self.burst);
        entry.last = now;
        if entry.tokens >= 1.0 {
            entry.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(
                (1.0 - entry.tokens) / self.per_second,
            ))
        }
    }
}

/// `Retry-After` seconds for a wait: rounded up, at least 1.
pub fn retry_after_secs(wait: Duration) -> u64 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_rate_per_key() {
        let limiter = RateLimiter::new(60, 2);
        let t0 = Instant::now();
        assert!(limiter.take("a", t0).is_ok());
        assert!(limiter.take("a", t0).is_ok());
        let wait = limiter.take("a", t0).unwrap_err();
        assert_eq!(retry_after_secs(wait), 1);
        // Another key has its own bucket.
        assert!(limiter.take("b", t0).is_ok());
        // One second refills one token (60 per minute).
        assert!(limiter.take("a", t0 + Duration::from_secs(1)).is_ok());
        assert!(limiter.take("a", t0 + Duration::from_secs(1)).is_err());
        // Never more than the burst, however long the pause.
        let later = t0 + Duration::from_secs(3600);
        assert!(limiter.take("a", later).is_ok());
        assert!(limiter.take("a", later).is_ok());
        assert!(limiter.take("a", later).is_err());
    }

    #[test]
    fn slow_rates_ask_for_a_long_wait() {
        let limiter = RateLimiter::new(1, 1);
        let t0 = Instant::now();
        limiter.take("k", t0).unwrap();
        assert_eq!(retry_after_secs(limiter.take("k", t0).unwrap_err()), 60);
    }
}
