//! The mixer before going live, as a sound check: the same inputs the
//! stream will mix, read on their own threads, each with its meter, and
//! their settings changed as they would be live. Going live hands the
//! devices to the engine, whose status then carries the meters.

use std::sync::atomic::Ordering;

use super::background::Background;
use crate::capture::AudioSource;
use crate::capture::clock::CaptureClock;
use crate::capture::frames::AudioLevel;
use crate::mixer::{InputSettings, InputSource, InputSpec, Mixer, MixerControl, MixerStatus};

pub struct SourceMeter {
    /// What it reads, in the mixer's order: a different list needs a new meter.
    pub sources: Vec<InputSource>,
    control: Option<MixerControl>,
    capture: Background<AudioLevel>,
}

impl SourceMeter {
    pub fn start(inputs: &[InputSpec]) -> SourceMeter {
        let sources = inputs.iter().map(|input| input.source.clone()).collect();
        let mixer = (!inputs.is_empty()).then(|| Mixer::open(inputs, CaptureClock::start()));
        let control = mixer.as_ref().map(Mixer::control);
        let capture = Background::spawn("sound-check", AudioLevel::SILENT, move |publish, stop| {
            let Some(mut mixer) = mixer else { return Ok(()) };
            while !stop.load(Ordering::SeqCst) {
                publish(AudioLevel::measure(&mixer.next_buffer().map_err(|e| e.to_string())?.samples));
            }
            Ok(())
        });
        SourceMeter { sources, control, capture }
    }

    /// The mix's level.
    pub fn level(&self) -> AudioLevel {
        self.capture.latest()
    }

    /// Each input's meter and settings.
    pub fn mixer(&self) -> Option<MixerStatus> {
        self.control.as_ref().map(MixerControl::status)
    }

    pub fn set(&self, input: usize, settings: InputSettings) {
        if let Some(control) = &self.control {
            control.set(input, settings);
        }
    }

    pub fn error(&self) -> Option<String> {
        self.capture.error()
    }
}
