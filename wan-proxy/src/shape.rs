//! The release schedule of one direction of an emulated link.
//!
//! A link first serialises a chunk at its rate (after the chunks before it
//! have left), then the chunk propagates for the one-way delay. So a chunk
//! of `len` bytes read at `now` is released at
//! `max(now, busy_until) + len / rate + delay`, where `busy_until` is when
//! the previous chunk finished serialising. Release times never decrease,
//! which keeps the byte stream in order.

use std::time::{Duration, Instant};

/// Shape of one direction: one-way delay and optional rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shape {
    /// Fixed one-way propagation delay.
    pub delay: Duration,
    /// Rate in bits per second; `None` leaves the rate to the network
    /// (e.g. a `tbf` qdisc on the veth).
    pub rate_bps: Option<f64>,
}

impl Shape {
    /// Delay only.
    pub fn delay(delay: Duration) -> Shape {
        Shape {
            delay,
            rate_bps: None,
        }
    }
}

/// The schedule state of one direction.
#[derive(Debug, Clone)]
pub struct Pacer {
    shape: Shape,
    busy_until: Option<Instant>,
}

impl Pacer {
    /// A fresh direction: nothing in flight.
    pub fn new(shape: Shape) -> Pacer {
        Pacer {
            shape,
            busy_until: None,
        }
    }

    /// When a chunk of `len` bytes read at `now` may be delivered.
    pub fn release_at(&mut self, now: Instant, len: usize) -> Instant {
        let start = match self.busy_until {
            Some(b) if b > now => b,
            _ => now,
        };
        let serialised = match self.shape.rate_bps {
            Some(rate) if rate > 0.0 => start + Duration::from_secs_f64(len as f64 * 8.0 / rate),
            _ => start,
        };
        self.busy_until = Some(serialised);
        serialised + self.shape.delay
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_only_adds_the_delay_to_the_read_time() {
        let t0 = Instant::now();
        let mut p = Pacer::new(Shape::delay(Duration::from_millis(30)));
        assert_eq!(p.release_at(t0, 1000), t0 + Duration::from_millis(30));
        let t1 = t0 + Duration::from_millis(1);
        assert_eq!(p.release_at(t1, 1000), t1 + Duration::from_millis(30));
    }

    #[test]
    fn a_rate_queues_chunks_behind_each_other() {
        let t0 = Instant::now();
        // 8 Mbit/s: 1,000 bytes take 1 ms to serialise.
        let mut p = Pacer::new(Shape {
            delay: Duration::from_millis(10),
            rate_bps: Some(8e6),
        });
        let a = p.release_at(t0, 1000);
        let b = p.release_at(t0, 1000);
        assert_eq!(a, t0 + Duration::from_millis(11));
        assert_eq!(b, t0 + Duration::from_millis(12));
        // After an idle gap the link starts again from the read time.
        let later = t0 + Duration::from_secs(1);
        assert_eq!(p.release_at(later, 1000), later + Duration::from_millis(11));
    }

    #[test]
    fn release_times_never_decrease() {
        let t0 = Instant::now();
        let mut p = Pacer::new(Shape {
            delay: Duration::from_millis(30),
            rate_bps: Some(1e6),
        });
        let mut last = t0;
        for i in 0..1000u64 {
            let now = t0 + Duration::from_micros(i * 37 % 500 + i * 100);
            let r = p.release_at(now, (i as usize * 7919) % 65536);
            assert!(r >= last);
            last = r;
        }
    }
}
