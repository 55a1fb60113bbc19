//! When to try again after a connection drops: exponential backoff with
//! jitter, first retry about 2 s, capped. Sans-IO: the caller sleeps.

use std::time::Duration;

pub struct ReconnectPolicy {
    attempt: u32,
    first: Duration,
    cap: Duration,
    seed: u64,
}

impl ReconnectPolicy {
    pub fn new(first: Duration, cap: Duration, seed: u64) -> ReconnectPolicy {
        ReconnectPolicy { attempt: 0, first, cap, seed: seed | 1 }
    }

    pub fn standard(seed: u64) -> ReconnectPolicy {
        ReconnectPolicy::new(Duration::from_secs(2), Duration::from_secs(30), seed)
    }

    /// Attempts made since the last success.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The wait before the next attempt: first * 2^n, capped, then ±20 %.
    pub fn next_delay(&mut self) -> Duration {
        let doubled = self.first.saturating_mul(1u32 << self.attempt.min(16));
        let base = doubled.min(self.cap);
        self.attempt += 1;
        // xorshift64: deterministic per seed, different per publisher.
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        let unit = (self.seed % 10_000) as f64 / 10_000.0;
        base.mul_f64(0.8 + 0.4 * unit)
    }

    /// A connection worked: the next failure starts over.
    pub fn succeeded(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_from_about_two_seconds_to_the_cap() {
        let mut policy = ReconnectPolicy::standard(42);
        let delays: Vec<f64> = (0..8).map(|_| policy.next_delay().as_secs_f64()).collect();
        assert!((1.6..=2.4).contains(&delays[0]), "{delays:?}");
        assert!((3.2..=4.8).contains(&delays[1]), "{delays:?}");
        assert!(delays.iter().all(|&d| d <= 36.0));
        assert!((24.0..=36.0).contains(&delays[7]));
        assert_eq!(policy.attempt(), 8);
        policy.succeeded();
        assert!(policy.next_delay().as_secs_f64() <= 2.4);
    }
}
