//! The preview's sound: decoded 48 kHz stereo on the default output device,
//! each sample played when the media clock says its time is due. Samples
//! that arrive late are skipped and a gap is filled with silence, so the
//! sound stays with the picture. It also notes when each beep of the test
//! tone is heard, for the A/V offset.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};

use super::clock::MediaClock;

pub const RATE: u32 = 48_000;
const CHANNELS: usize = 2;
/// How far a sample may be from its due time before it is skipped or waited for.
const TOLERANCE_MICROS: i64 = 5_000;
/// Decoded sound held at most: beyond it the oldest goes.
const MAX_HELD_MICROS: i64 = 2_000_000;
/// A beep is a sample this loud after this much quiet.
const BEEP_LEVEL: f32 = 0.25;
const QUIET_BEFORE_BEEP: usize = RATE as usize / 5;

#[derive(Default)]
struct Ring {
    /// Media time of the first held frame, in microseconds.
    start: i64,
    samples: VecDeque<f32>,
    quiet_frames: usize,
    beeps: VecDeque<Instant>,
}

impl Ring {
    fn frames(&self) -> usize {
        self.samples.len() / CHANNELS
    }

    fn end(&self) -> i64 {
        self.start + micros(self.frames())
    }

    fn skip(&mut self, frames: usize) {
        let frames = frames.min(self.frames());
        self.samples.drain(..frames * CHANNELS);
        self.start += micros(frames);
    }
}

fn micros(frames: usize) -> i64 {
    frames as i64 * 1_000_000 / i64::from(RATE)
}

fn frames(micros: i64) -> usize {
    usize::try_from(micros * i64::from(RATE) / 1_000_000).unwrap_or(0)
}

/// Where decoded sound goes; the stream itself lives on its own thread (cpal's is not Send).
pub struct AudioOut {
    ring: Arc<Mutex<Ring>>,
    _stop: mpsc::Sender<()>,
}

impl AudioOut {
    /// Opens the default output; `muted` silences it while set.
    pub fn open(clock: MediaClock, muted: Arc<AtomicBool>) -> Result<AudioOut, String> {
        let ring = Arc::new(Mutex::new(Ring::default()));
        let (ready_tx, ready) = mpsc::sync_channel(1);
        let (stop, stopped) = mpsc::channel::<()>();
        let (for_stream, mute) = (ring.clone(), muted.clone());
        std::thread::Builder::new()
            .name("preview-sound".into())
            .spawn(move || {
                match open_stream(for_stream, mute, clock).map_err(|detail| {
                    tracing::debug!("preview sound: {detail}");
                    "no sound output device is available".to_string()
                }) {
                    Ok(stream) => {
                        let _ = ready_tx.send(Ok(()));
                        let _ = stopped.recv();
                        drop(stream);
                    }
                    Err(error) => {
                        let _ = ready_tx.send(Err(error));
                    }
                }
            })
            .map_err(|e| format!("cannot start the sound thread: {e}"))?;
        ready.recv_timeout(Duration::from_secs(5)).map_err(|_| "the sound output did not start within 5 s".to_string())??;
        Ok(AudioOut { ring, _stop: stop })
    }

    /// Decoded interleaved stereo whose first frame is at media time `start` (µs).
    pub fn push(&self, start: i64, samples: &[f32]) {
        let mut ring = self.ring.lock().unwrap_or_else(|p| p.into_inner());
        if ring.samples.is_empty() || (start - ring.end()).abs() > 50_000 {
            ring.samples.clear();
            ring.start = start;
        }
        ring.samples.extend(samples);
        let excess = ring.end() - ring.start - MAX_HELD_MICROS;
        if excess > 0 {
            ring.skip(frames(excess));
        }
    }

    /// When the test tone's recent beeps were heard.
    pub fn beeps(&self) -> Vec<Instant> {
        self.ring.lock().map(|ring| ring.beeps.iter().copied().collect()).unwrap_or_default()
    }
}

fn open_stream(ring: Arc<Mutex<Ring>>, muted: Arc<AtomicBool>, clock: MediaClock) -> Result<cpal::Stream, String> {
    let device = cpal::default_host().default_output_device().ok_or("no sound output device")?;
    let takes_48k_stereo = device.supported_output_configs().map_err(|e| e.to_string())?.any(|c| {
        c.channels() as usize == CHANNELS && c.sample_format() == cpal::SampleFormat::F32 && c.min_sample_rate() <= RATE && RATE <= c.max_sample_rate()
    });
    if !takes_48k_stereo {
        return Err("the sound output takes no 48 kHz stereo".into());
    }
    let config = cpal::StreamConfig { channels: CHANNELS as u16, sample_rate: RATE, buffer_size: cpal::BufferSize::Default };
    let stream = device
        .build_output_stream(
            config,
            move |data: &mut [f32], info: &cpal::OutputCallbackInfo| {
                let stamp = info.timestamp();
                let heard_at = Instant::now() + stamp.playback.duration_since(stamp.callback);
                let mut ring = ring.lock().unwrap_or_else(|p| p.into_inner());
                fill(&mut ring, data, clock.media_at(heard_at), heard_at);
                if muted.load(Ordering::Relaxed) {
                    data.fill(0.0);
                }
            },
            |error| tracing::warn!("preview sound: {error}"),
            None,
        )
        .map_err(|e| e.to_string())?;
    stream.play().map_err(|e| e.to_string())?;
    Ok(stream)
}

/// Fills an output buffer that will be heard from `heard_at`, whose media time is `due`.
fn fill(ring: &mut Ring, data: &mut [f32], due: Option<i64>, heard_at: Instant) {
    data.fill(0.0);
    let Some(due) = due else { return };
    if ring.start < due - TOLERANCE_MICROS {
        ring.skip(frames(due - ring.start));
    }
    let total = data.len() / CHANNELS;
    let gap = if ring.start > due + TOLERANCE_MICROS { frames(ring.start - due).min(total) } else { 0 };
    let take = (total - gap).min(ring.frames());
    for frame in 0..take {
        let left = ring.samples.pop_front().unwrap_or(0.0);
        let right = ring.samples.pop_front().unwrap_or(0.0);
        data[(gap + frame) * CHANNELS] = left;
        data[(gap + frame) * CHANNELS + 1] = right;
        if left.abs().max(right.abs()) >= BEEP_LEVEL {
            if ring.quiet_frames >= QUIET_BEFORE_BEEP {
                ring.beeps.push_back(heard_at + Duration::from_micros(micros(gap + frame) as u64));
                if ring.beeps.len() > 20 {
                    ring.beeps.pop_front();
                }
            }
            ring.quiet_frames = 0;
        } else {
            ring.quiet_frames += 1;
        }
    }
    ring.start += micros(take);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn late_sound_is_skipped_and_early_sound_waits_behind_silence() {
        let mut ring = Ring { start: 1_000_000, samples: (0..4_800).map(|i| i as f32).collect(), ..Ring::default() };
        let mut out = vec![0.0; 480 * CHANNELS];
        // Due 10 ms after the held sound starts: its first 480 frames are skipped.
        fill(&mut ring, &mut out, Some(1_010_000), Instant::now());
        assert_eq!(out[0], (480 * CHANNELS) as f32);
        assert_eq!(ring.start, 1_020_000);
        // Due 5 ms before the held sound (beyond the tolerance when 6 ms): silence first.
        let mut out = vec![1.0; 480 * CHANNELS];
        fill(&mut ring, &mut out, Some(1_014_000), Instant::now());
        assert!(out[..288 * CHANNELS].iter().all(|&s| s == 0.0), "6 ms of silence");
        assert_ne!(out[288 * CHANNELS], 0.0);
    }
}
