//! The microphone's level before going live, as a sound check: the selected
//! input (or the test tone) read on its own thread. Going live hands the
//! device to the engine, whose status then carries the level.

use std::sync::atomic::Ordering;

use super::background::Background;
use super::settings::MicrophoneSetting;
use crate::capture::clock::CaptureClock;
use crate::capture::frames::AudioLevel;
use crate::engine::open_audio;

pub struct SourceMeter {
    pub microphone: MicrophoneSetting,
    capture: Background<AudioLevel>,
}

impl SourceMeter {
    pub fn start(microphone: MicrophoneSetting) -> SourceMeter {
        let choice = microphone.choice();
        let capture = Background::spawn("source-meter", AudioLevel::SILENT, move |publish, stop| {
            let Some(mut source) = open_audio(&choice, CaptureClock::start()).map_err(|e| e.to_string())? else { return Ok(()) };
            while !stop.load(Ordering::SeqCst) {
                publish(AudioLevel::measure(&source.next_buffer().map_err(|e| e.to_string())?.samples));
            }
            Ok(())
        });
        SourceMeter { microphone, capture }
    }

    pub fn level(&self) -> AudioLevel {
        self.capture.latest()
    }

    pub fn error(&self) -> Option<String> {
        self.capture.error()
    }
}
