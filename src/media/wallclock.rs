//! Wall-clock instants as milliseconds since the Unix epoch, and their ISO 8601 form.
//!
//! Pure: callers pass `now` in. Used for EXT-X-PROGRAM-DATE-TIME and DASH's
//! availabilityStartTime, which are wall-clock times, not media times.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::time::{TimeBase, Timestamp};

/// Media times on this machine's clock: the first time asked for is now
/// (or where `place` put it), every later one that much after it. WebRTC's sender reports pair RTP
/// times with these, the same for every track, so they play in sync.
#[derive(Clone, Copy, Debug, Default)]
pub struct MediaAnchor(Option<(Timestamp, Instant)>);

impl MediaAnchor {
    /// Puts media time `time` at `at`, unless a time is placed already.
    pub fn place(&mut self, time: Timestamp, at: Instant) {
        self.0.get_or_insert((time, at));
    }

    pub fn instant(&mut self, time: Timestamp) -> Instant {
        let (base, at) = *self.0.get_or_insert((time, Instant::now()));
        let micros = time.checked_sub(base).and_then(|d| d.rescale(TimeBase::MICROS)).map_or(0, |d| d.value);
        if micros >= 0 { at + Duration::from_micros(micros as u64) } else { at.checked_sub(Duration::from_micros(micros.unsigned_abs())).unwrap_or(at) }
    }

    /// A new timeline (a new publisher): the next time asked for is now.
    pub fn reset(&mut self) {
        self.0 = None;
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnixMillis(pub i64);

impl UnixMillis {
    pub fn from_system_time(time: SystemTime) -> UnixMillis {
        match time.duration_since(UNIX_EPOCH) {
            Ok(after) => UnixMillis(after.as_millis() as i64),
            Err(before) => UnixMillis(-(before.duration().as_millis() as i64)),
        }
    }

    pub fn to_system_time(self) -> SystemTime {
        if self.0 >= 0 { UNIX_EPOCH + Duration::from_millis(self.0 as u64) } else { UNIX_EPOCH - Duration::from_millis(self.0.unsigned_abs()) }
    }

    /// `2026-11-25T19:35:06.123Z`
    pub fn to_iso8601(self) -> String {
        let days = self.0.div_euclid(86_400_000);
        let ms_of_day = self.0.rem_euclid(86_400_000);
        let (year, month, day) = civil_from_days(days);
        let (h, m, s, ms) = (ms_of_day / 3_600_000, ms_of_day / 60_000 % 60, ms_of_day / 1000 % 60, ms_of_day % 1000);
        format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{ms:03}Z")
    }
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// ISO 8601 duration with millisecond precision: `PT12.345S`.
pub fn iso8601_duration(millis: i64) -> String {
    let millis = millis.max(0);
    format!("PT{}.{:03}S", millis / 1000, millis % 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(UnixMillis(0).to_iso8601(), "1970-01-01T00:00:00.000Z");
        assert_eq!(UnixMillis(951_782_400_123).to_iso8601(), "2000-02-29T00:00:00.123Z");
        assert_eq!(UnixMillis(1_795_635_306_000).to_iso8601(), "2026-11-25T19:35:06.000Z");
    }

    #[test]
    fn durations() {
        assert_eq!(iso8601_duration(12_345), "PT12.345S");
        assert_eq!(iso8601_duration(-5), "PT0.000S");
    }
}
