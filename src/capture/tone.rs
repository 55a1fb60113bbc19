//! The synthetic audio source: a quiet 440 Hz tone with a loud 1 kHz beep
//! for the first 50 ms of every second, aligned with the pattern's flash.

use std::time::Instant;

use super::clock::CaptureClock;
use super::frames::{AUDIO_CHANNELS, AUDIO_RATE, AudioBuffer};
use super::{AudioSource, CaptureError};

/// Samples per channel in each buffer (10 ms).
const CHUNK: u64 = 480;
const BEEP_SAMPLES: u64 = AUDIO_RATE as u64 / 20;
const TONE_AMPLITUDE: f64 = 0.1;
const BEEP_AMPLITUDE: f64 = 0.5;

pub struct TestTone {
    clock: CaptureClock,
    next_sample: u64,
}

impl TestTone {
    pub fn new(clock: CaptureClock) -> TestTone {
        TestTone { clock, next_sample: 0 }
    }

    /// Sample `index` (per channel) of the signal, in -1..1.
    pub fn sample(index: u64) -> f64 {
        let t = index as f64 / f64::from(AUDIO_RATE);
        if index % u64::from(AUDIO_RATE) < BEEP_SAMPLES {
            BEEP_AMPLITUDE * (2.0 * std::f64::consts::PI * 1000.0 * t).sin()
        } else {
            TONE_AMPLITUDE * (2.0 * std::f64::consts::PI * 440.0 * t).sin()
        }
    }
}

impl AudioSource for TestTone {
    fn next_buffer(&mut self) -> Result<AudioBuffer, CaptureError> {
        let first = self.next_sample;
        let first_micros = (first * 1_000_000 / u64::from(AUDIO_RATE)) as i64;
        // A buffer exists once its last sample has been "recorded".
        let end_micros = ((first + CHUNK) * 1_000_000 / u64::from(AUDIO_RATE)) as i64;
        let due = self.clock.instant(end_micros);
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        let mut samples = Vec::with_capacity(CHUNK as usize * AUDIO_CHANNELS);
        for index in first..first + CHUNK {
            let value = (Self::sample(index) * 32767.0) as i16;
            samples.extend_from_slice(&[value; AUDIO_CHANNELS]);
        }
        self.next_sample += CHUNK;
        Ok(AudioBuffer { samples, captured: self.clock.from_micros(first_micros) })
    }

    fn describe(&self) -> String {
        "test tone (440 Hz, 1 kHz beep each second)".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_beep_starts_on_each_second() {
        let loud = |i: u64| TestTone::sample(i).abs() > 0.2;
        assert!(!(47_500..48_000).any(loud), "quiet before the second");
        assert!((48_000..48_050).any(loud), "loud right after it");
        assert!(!(48_000 + BEEP_SAMPLES..96_000).any(loud), "quiet after 50 ms");
    }
}
