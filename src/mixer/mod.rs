//! The audio mixer: several inputs at once (microphones, the desktop's
//! sound, the test tone), each with a meter, gain, mute, noise suppression
//! and a gate, summed to 48 kHz stereo under a limiter for the encoders.
//! It is an `AudioSource`: the engine's audio thread takes its 10 ms blocks
//! on the capture clock, as it would a microphone's.

pub mod dsp;
pub mod hiss;
pub mod input;
pub mod spec;

use std::sync::{Arc, Mutex};
use std::time::Instant;

use self::dsp::{BLOCK, Denoiser, Gate, Limiter, db_to_gain};
use self::hiss::HissSuppressor;
use self::input::Input;
pub use self::spec::{InputSettings, InputSource, InputSpec};
use crate::capture::clock::CaptureClock;
use crate::capture::frames::{AUDIO_RATE, AudioBuffer, AudioLevel};
use crate::capture::{AudioSource, CaptureError};

/// Blocks a meter reading spans (100 ms).
const METER_BLOCKS: usize = 10;

#[derive(Clone, Debug, PartialEq)]
pub struct InputStatus {
    pub name: String,
    /// After gain, suppression and the gate; shown even while muted, as a sound check.
    pub level: AudioLevel,
    pub settings: InputSettings,
    /// Why it is silent, when it stopped or never started.
    pub problem: Option<String>,
    /// Blocks the source delivered too late for (each one silence in the mix).
    pub underruns: u64,
}

impl InputStatus {
    /// One line of the CLI's status block: `  mic NAME | -23 dBFS peak -31 rms | gain -6 dB | muted`.
    pub fn line(&self) -> String {
        let mut flags = String::new();
        if self.settings.muted {
            flags.push_str(" | muted");
        }
        if self.settings.denoise {
            flags.push_str(" | noise suppression");
        }
        if let Some(gate) = self.settings.gate_db {
            flags.push_str(&format!(" | gate {gate:.0} dB"));
        }
        if self.underruns > 0 {
            flags.push_str(&format!(" | {} underruns", self.underruns));
        }
        if let Some(problem) = &self.problem {
            flags.push_str(&format!(" | {problem}"));
        }
        format!("  {} | {:.0} dBFS peak {:.0} rms | gain {:+.0} dB{flags}", self.name, self.level.peak_dbfs, self.level.rms_dbfs, self.settings.gain_db)
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct MixerStatus {
    pub inputs: Vec<InputStatus>,
    pub master: Option<AudioLevel>,
    /// The limiter's deepest gain reduction over the last reading, in dB.
    pub limiting_db: f32,
}

/// Changes an input's settings while the mixer runs; reads its meters.
#[derive(Clone)]
pub struct MixerControl {
    settings: Arc<Mutex<Vec<InputSettings>>>,
    status: Arc<Mutex<MixerStatus>>,
}

impl MixerControl {
    pub fn set(&self, input: usize, settings: InputSettings) {
        if let Some(slot) = self.settings.lock().unwrap_or_else(|p| p.into_inner()).get_mut(input) {
            *slot = settings;
        }
    }

    pub fn status(&self) -> MixerStatus {
        self.status.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// Noise suppression: the spectral suppressor takes the steady hiss RNNoise
/// leaves (first, while that hiss is still steady), then RNNoise what a room
/// adds to a voice.
#[derive(Default)]
struct Suppression {
    voice: Denoiser,
    hiss: HissSuppressor,
}

impl Suppression {
    fn process(&mut self, block: &mut [f32]) {
        self.hiss.process(block);
        self.voice.process(block);
    }
}

struct Channel {
    input: Input,
    denoiser: Option<Box<Suppression>>,
    gate: Gate,
    metered: Vec<f32>,
}

pub struct Mixer {
    channels: Vec<Channel>,
    settings: Arc<Mutex<Vec<InputSettings>>>,
    status: Arc<Mutex<MixerStatus>>,
    limiter: Limiter,
    clock: CaptureClock,
    /// Media time of the first block's first sample, and blocks made since.
    start_micros: Option<i64>,
    blocks: u64,
    block: Vec<f32>,
    mix: Vec<f32>,
    master: Vec<f32>,
    limiting_db: f32,
}

impl Mixer {
    pub fn open(inputs: &[InputSpec], clock: CaptureClock) -> Mixer {
        let channels =
            inputs.iter().map(|spec| Channel { input: Input::open(spec, clock), denoiser: None, gate: Gate::default(), metered: Vec::new() }).collect();
        let settings = Arc::new(Mutex::new(inputs.iter().map(|spec| spec.settings.clone()).collect()));
        Mixer {
            channels,
            settings,
            status: Arc::new(Mutex::new(MixerStatus::default())),
            limiter: Limiter::default(),
            clock,
            start_micros: None,
            blocks: 0,
            block: vec![0.0; BLOCK * 2],
            mix: vec![0.0; BLOCK * 2],
            master: Vec::new(),
            limiting_db: 0.0,
        }
    }

    pub fn control(&self) -> MixerControl {
        MixerControl { settings: self.settings.clone(), status: self.status.clone() }
    }

    /// Mixes one block from every input's newest samples.
    fn mix_block(&mut self) {
        let settings = self.settings.lock().unwrap_or_else(|p| p.into_inner()).clone();
        self.mix.fill(0.0);
        for (channel, settings) in self.channels.iter_mut().zip(&settings) {
            channel.input.take(&mut self.block);
            let gain = db_to_gain(settings.gain_db);
            self.block.iter_mut().for_each(|sample| *sample *= gain);
            match (&mut channel.denoiser, settings.denoise) {
                (Some(denoiser), true) => denoiser.process(&mut self.block),
                (slot @ None, true) => slot.insert(Box::default()).process(&mut self.block),
                (slot, false) => *slot = None,
            }
            if let Some(threshold) = settings.gate_db {
                channel.gate.process(&mut self.block, threshold);
            }
            channel.metered.extend_from_slice(&self.block);
            if !settings.muted {
                self.mix.iter_mut().zip(&self.block).for_each(|(mix, sample)| *mix += sample);
            }
        }
        self.limiting_db = self.limiting_db.min(self.limiter.process(&mut self.mix));
        self.master.extend_from_slice(&self.mix);
        self.blocks += 1;
        if self.blocks.is_multiple_of(METER_BLOCKS as u64) {
            let inputs = self
                .channels
                .iter_mut()
                .zip(settings)
                .map(|(channel, settings)| {
                    let level = AudioLevel::measure_f32(channel.metered.drain(..));
                    InputStatus { name: channel.input.name.clone(), level, settings, problem: channel.input.problem(), underruns: channel.input.underruns() }
                })
                .collect();
            let master = Some(AudioLevel::measure_f32(self.master.drain(..)));
            *self.status.lock().unwrap_or_else(|p| p.into_inner()) = MixerStatus { inputs, master, limiting_db: self.limiting_db };
            self.limiting_db = 0.0;
        }
    }
}

impl AudioSource for Mixer {
    fn next_buffer(&mut self) -> Result<AudioBuffer, CaptureError> {
        let block_micros = |blocks: u64| (blocks * BLOCK as u64 * 1_000_000 / u64::from(AUDIO_RATE)) as i64;
        let start = *self.start_micros.get_or_insert_with(|| self.clock.now().micros);
        // A block is mixed once its last sample is due, like a device's buffer.
        let due = self.clock.instant(start + block_micros(self.blocks + 1));
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        // What a block holds was captured a prebuffer before it is mixed.
        let captured = self.clock.from_micros(start + block_micros(self.blocks) - input::PREBUFFER_MICROS);
        self.mix_block();
        let samples = self.mix.iter().map(|&sample| (sample.clamp(-1.0, 1.0) * 32767.0) as i16).collect();
        Ok(AudioBuffer { samples, captured })
    }

    fn describe(&self) -> String {
        let names: Vec<&str> = self.channels.iter().map(|channel| channel.input.name.as_str()).collect();
        format!("mix of {}", names.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_muted_input_is_metered_but_not_mixed_and_gain_sets_its_level() {
        let clock = CaptureClock::start();
        let tone = |settings| InputSpec { source: InputSource::Tone, settings };
        let mut mixer = Mixer::open(
            &[tone(InputSettings { gain_db: -6.0, ..InputSettings::default() }), tone(InputSettings { muted: true, ..InputSettings::default() })],
            clock,
        );
        let control = mixer.control();
        let (mut loudest, mut gained, mut muted) = (0i16, -120f32, -120f32);
        for _ in 0..120 {
            let buffer = mixer.next_buffer().unwrap();
            loudest = loudest.max(buffer.samples.iter().map(|s| s.saturating_abs()).max().unwrap_or(0));
            if let [first, second] = control.status().inputs.as_slice() {
                (gained, muted) = (gained.max(first.level.peak_dbfs), muted.max(second.level.peak_dbfs));
            }
        }
        assert!((muted - gained - 6.0).abs() < 0.5, "the muted input meters 6 dB over the -6 dB one: {gained} {muted}");
        // The test tone beeps at -6 dBFS: at -6 dB gain the mix peaks near -12.
        let mixed_db = 20.0 * (f32::from(loudest) / 32768.0).log10();
        assert!((mixed_db - gained).abs() < 1.0, "the mix holds only the unmuted input: {mixed_db} dBFS");
        control.set(1, InputSettings::default());
        let mut loudest = 0i16;
        for _ in 0..120 {
            loudest = loudest.max(mixer.next_buffer().unwrap().samples.iter().map(|s| s.saturating_abs()).max().unwrap_or(0));
        }
        let both_db = 20.0 * (f32::from(loudest) / 32768.0).log10();
        assert!(both_db > mixed_db + 2.0, "unmuted, the second tone adds to the mix: {both_db} vs {mixed_db} dBFS");
    }
}
