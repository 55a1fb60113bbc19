//! Rates over about the last second, from a target's running totals.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

#[derive(Default)]
pub struct Throughput {
    /// (when, bytes sent, video frames sent)
    samples: VecDeque<(Instant, u64, u64)>,
}

impl Throughput {
    /// Takes the totals now; returns kbit/s and frames per second since about a second ago.
    pub fn sample(&mut self, now: Instant, bytes: u64, frames: u64) -> (f64, f64) {
        self.samples.push_back((now, bytes, frames));
        while self.samples.len() > 2 && now.duration_since(self.samples[0].0) > Duration::from_secs(1) {
            self.samples.pop_front();
        }
        let (then, bytes_then, frames_then) = self.samples[0];
        let elapsed = now.duration_since(then).as_secs_f64();
        let rate = |delta: u64| if elapsed > 0.0 { delta as f64 / elapsed } else { 0.0 };
        (rate(bytes.saturating_sub(bytes_then)) * 8.0 / 1000.0, rate(frames.saturating_sub(frames_then)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_cover_the_last_second() {
        let start = Instant::now();
        let mut throughput = Throughput::default();
        assert_eq!(throughput.sample(start, 0, 0), (0.0, 0.0));
        let (kbps, fps) = throughput.sample(start + Duration::from_millis(500), 62_500, 15);
        assert!((kbps - 1000.0).abs() < 1e-6 && (fps - 30.0).abs() < 1e-6, "{kbps} {fps}");
        for step in 2..=8 {
            throughput.sample(start + Duration::from_millis(500 * step), 62_500 * step, 15 * step);
        }
        let (kbps, _) = throughput.sample(start + Duration::from_millis(4500), 62_500 * 8, 15 * 8);
        assert!(kbps < 600.0, "nothing sent in the last half second lowers the rate: {kbps}");
    }
}
