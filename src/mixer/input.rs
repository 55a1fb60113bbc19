//! One mixer input: its source read on a thread of its own into a short
//! buffer the mixer takes 10 ms blocks from. A source that stops or fails
//! leaves its input silent with the reason; the mix goes on.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use super::dsp::BLOCK;
use super::spec::{InputSource, InputSpec};
use crate::capture::clock::CaptureClock;
use crate::capture::microphone::Microphone;
use crate::capture::pulse::{DEFAULT_MONITOR, PulseSource};
use crate::capture::tone::TestTone;
use crate::capture::{AudioSource, CaptureError};

/// What an input holds before the mixer starts taking from it: room for
/// the device's delivery jitter (a sound server's null sink renders in
/// bursts of 25 ms and more).
const PREBUFFER: usize = 6 * BLOCK * 2;
/// How long the prebuffer holds sound before it is mixed, in microseconds.
pub const PREBUFFER_MICROS: i64 = (PREBUFFER / 2 * 1_000_000 / crate::capture::frames::AUDIO_RATE as usize) as i64;
/// More than this (a device's clock running fast) is dropped.
const MOST: usize = 20 * BLOCK * 2;

#[derive(Default)]
struct Buffered {
    samples: VecDeque<f32>,
    /// Taking blocks; false until PREBUFFER is reached, and again after an underrun.
    flowing: bool,
    /// Blocks it had too little for, since it started.
    underruns: u64,
    stopped: Option<String>,
}

pub struct Input {
    pub name: String,
    buffered: Arc<Mutex<Buffered>>,
    stop: Arc<AtomicBool>,
}

impl Input {
    pub fn open(spec: &InputSpec, clock: CaptureClock) -> Input {
        let buffered = Arc::new(Mutex::new(Buffered::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let opened: Result<Box<dyn AudioSource>, CaptureError> = match &spec.source {
            InputSource::Tone => Ok(Box::new(TestTone::new(clock))),
            InputSource::DefaultInput => Microphone::open(None, clock).map(|m| Box::new(m) as Box<dyn AudioSource>),
            InputSource::Microphone(name) => Microphone::open(Some(name), clock).map(|m| Box::new(m) as Box<dyn AudioSource>),
            InputSource::Source(name) => PulseSource::open(Some(name), clock).map(|s| Box::new(s) as Box<dyn AudioSource>),
            InputSource::Desktop => PulseSource::open(Some(DEFAULT_MONITOR), clock).map(|s| Box::new(s) as Box<dyn AudioSource>),
        };
        let name = match &opened {
            Ok(source) => source.describe(),
            Err(_) => spec.source.to_string(),
        };
        match opened {
            Ok(source) => {
                let (into, stopping, label) = (buffered.clone(), stop.clone(), name.clone());
                let spawned = std::thread::Builder::new().name("mixer input".into()).spawn(move || read(source, &into, &stopping, &label));
                if let Err(error) = spawned {
                    buffered.lock().unwrap_or_else(|p| p.into_inner()).stopped = Some(format!("cannot start its thread: {error}"));
                }
            }
            Err(error) => {
                tracing::warn!("mixer input {name}: {error}; the mix goes on without it");
                buffered.lock().unwrap_or_else(|p| p.into_inner()).stopped = Some(error.to_string());
            }
        }
        Input { name, buffered, stop }
    }

    /// The next 10 ms block into `block` (BLOCK stereo frames); silence while it
    /// has none. Returns false when the input has stopped.
    pub fn take(&self, block: &mut [f32]) -> bool {
        let mut buffered = self.buffered.lock().unwrap_or_else(|p| p.into_inner());
        block.fill(0.0);
        if !buffered.flowing {
            buffered.flowing = buffered.samples.len() >= PREBUFFER;
        }
        if buffered.flowing {
            if buffered.samples.len() < block.len() {
                // An underrun: wait for the buffer to fill again rather than stutter.
                buffered.flowing = false;
                buffered.underruns += 1;
            } else {
                let length = block.len();
                for (out, sample) in block.iter_mut().zip(buffered.samples.drain(..length)) {
                    *out = sample;
                }
            }
        }
        buffered.stopped.is_none()
    }

    pub fn underruns(&self) -> u64 {
        self.buffered.lock().unwrap_or_else(|p| p.into_inner()).underruns
    }

    pub fn problem(&self) -> Option<String> {
        self.buffered.lock().unwrap_or_else(|p| p.into_inner()).stopped.clone()
    }
}

impl Drop for Input {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn read(mut source: Box<dyn AudioSource>, into: &Mutex<Buffered>, stop: &AtomicBool, name: &str) {
    while !stop.load(Ordering::Relaxed) {
        let buffer = source.next_buffer();
        let mut buffered = into.lock().unwrap_or_else(|p| p.into_inner());
        match buffer {
            Ok(buffer) => {
                buffered.samples.extend(buffer.samples.iter().map(|&s| f32::from(s) / 32768.0));
                let excess = buffered.samples.len().saturating_sub(MOST);
                buffered.samples.drain(..excess - excess % 2);
            }
            Err(error) => {
                tracing::warn!("mixer input {name} stopped: {error}; the mix goes on without it");
                buffered.stopped = Some(format!("stopped: {error}"));
                return;
            }
        }
    }
}
