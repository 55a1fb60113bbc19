//! What a stream's WebRTC viewers were sent and asked for, summed over all
//! of them, and the rate they are being sent at: `/api/streams` shows it
//! per stream, as `/metrics` shows the server's totals.

use std::time::{Duration, Instant};

use serde::Serialize;

use super::peer::PeerCounts;

/// The rate is measured over windows at least this long (viewers report every second).
const RATE_WINDOW: Duration = Duration::from_secs(2);

#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct ViewerStats {
    pub bytes_sent: u64,
    pub sent_kbps: u64,
    pub nacks: u64,
    pub keyframe_requests: u64,
    pub packets_lost: u64,
}

/// The running sums, and the window the rate is measured over.
#[derive(Debug, Default)]
pub struct ViewerTally {
    stats: ViewerStats,
    window: Option<(Instant, u64)>,
}

impl ViewerTally {
    /// A viewer's counts since its last report, at `now`.
    pub fn add(&mut self, new: &PeerCounts, now: Instant) {
        let stats = &mut self.stats;
        stats.bytes_sent += new.bytes_sent;
        stats.nacks += new.nacks;
        stats.keyframe_requests += new.plis + new.firs;
        stats.packets_lost += new.packets_lost;
        // What the first report counts was sent before it: the window starts after it.
        let (since, bytes_then) = *self.window.get_or_insert((now, stats.bytes_sent));
        let elapsed = now.saturating_duration_since(since);
        if elapsed >= RATE_WINDOW {
            stats.sent_kbps = ((stats.bytes_sent - bytes_then) as f64 * 8.0 / elapsed.as_secs_f64() / 1000.0).round() as u64;
            self.window = Some((now, stats.bytes_sent));
        }
    }

    /// The sums; the rate is 0 once nobody watches.
    pub fn stats(&self, watched: bool) -> ViewerStats {
        ViewerStats { sent_kbps: if watched { self.stats.sent_kbps } else { 0 }, ..self.stats }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_every_report_and_rates_the_bytes_over_the_window() {
        let start = Instant::now();
        let mut tally = ViewerTally::default();
        let each = PeerCounts { bytes_sent: 125_000, nacks: 1, plis: 1, firs: 1, packets_lost: 2 };
        for second in 0..=4 {
            tally.add(&each, start + Duration::from_secs(second));
        }
        let stats = tally.stats(true);
        assert_eq!((stats.bytes_sent, stats.nacks, stats.keyframe_requests, stats.packets_lost), (625_000, 5, 10, 10));
        // 125 kB a second is 1000 kbit/s, whatever the window's edges.
        assert_eq!(stats.sent_kbps, 1000);
        assert_eq!(tally.stats(false).sent_kbps, 0, "nobody watching: nothing is being sent");
    }
}
