//! The capture clock: one origin for every video frame and audio buffer.

use std::time::{Duration, Instant, SystemTime};

use crate::media::wallclock::UnixMillis;

/// When something was captured: media time since the clock started, and wall clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CaptureTime {
    pub micros: i64,
    pub wall: UnixMillis,
}

#[derive(Clone, Copy, Debug)]
pub struct CaptureClock {
    origin: Instant,
    wall_origin_micros: i64,
}

impl CaptureClock {
    pub fn start() -> CaptureClock {
        let wall = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_micros() as i64);
        CaptureClock { origin: Instant::now(), wall_origin_micros: wall }
    }

    pub fn now(&self) -> CaptureTime {
        self.at(Instant::now())
    }

    pub fn at(&self, instant: Instant) -> CaptureTime {
        let micros = instant.saturating_duration_since(self.origin).as_micros() as i64;
        self.from_micros(micros)
    }

    pub fn from_micros(&self, micros: i64) -> CaptureTime {
        CaptureTime { micros, wall: UnixMillis((self.wall_origin_micros + micros) / 1000) }
    }

    /// The instant that is `micros` after the origin.
    pub fn instant(&self, micros: i64) -> Instant {
        self.origin + Duration::from_micros(micros.max(0) as u64)
    }
}
