//! The preview's media clock: which media time is due at which instant.
//! Video anchors it when it starts (and again when it falls behind); the
//! audio output asks it which media time a sample slot will be heard at, so
//! picture and sound follow one clock.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How far behind its due time a picture may be before the clock starts over.
const LATE: Duration = Duration::from_millis(500);
/// How long after a (re)start the first picture is due: the sound of the
/// same part arrives over its own connection a little later, and is due at
/// the same time; without this slack its first milliseconds would be late.
const HOLD: Duration = Duration::from_millis(100);

#[derive(Clone, Default)]
pub struct MediaClock(Arc<Mutex<Option<(Instant, i64)>>>);

impl MediaClock {
    fn anchor(&self) -> Option<(Instant, i64)> {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn set(&self, anchor: Option<(Instant, i64)>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = anchor;
    }

    /// When media time `micros` is due; None before an anchor or before its media time.
    pub fn due(&self, micros: i64) -> Option<Instant> {
        let (at, media) = self.anchor()?;
        Some(at + Duration::from_micros(u64::try_from(micros - media).ok()?))
    }

    /// The media time due at `instant`.
    pub fn media_at(&self, instant: Instant) -> Option<i64> {
        let (at, media) = self.anchor()?;
        let since = instant.checked_duration_since(at).map_or(-(at.duration_since(instant).as_micros() as i64), |d| d.as_micros() as i64);
        Some(media + since)
    }

    /// Waits until `micros` is due, or makes it due now when there is no
    /// anchor yet or it is already more than `LATE` behind.
    pub fn wait(&self, micros: i64, stop: &AtomicBool) {
        let now = Instant::now();
        match self.due(micros) {
            Some(due) if due + LATE >= now => {
                if due > now && !stop.load(Ordering::SeqCst) {
                    std::thread::sleep(due - now);
                }
            }
            _ => {
                self.set(Some((now + HOLD, micros)));
                if !stop.load(Ordering::SeqCst) {
                    std::thread::sleep(HOLD);
                }
            }
        }
    }

    /// Forgets the anchor: the next picture starts the clock again.
    pub fn reset(&self) {
        self.set(None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_time_and_instants_convert_both_ways_from_the_anchor() {
        let clock = MediaClock::default();
        assert_eq!(clock.media_at(Instant::now()), None);
        let stop = AtomicBool::new(false);
        let before = Instant::now();
        clock.wait(5_000_000, &stop);
        assert!(clock.due(5_000_000).unwrap() >= before + HOLD, "the first picture is due after the hold");
        let due = clock.due(5_500_000).unwrap();
        assert_eq!(clock.media_at(due), Some(5_500_000));
        assert_eq!(clock.due(4_000_000), None, "before the anchor nothing is due");
        let earlier = clock.media_at(due - Duration::from_secs(1)).unwrap();
        assert_eq!(earlier, 4_500_000);
    }
}
