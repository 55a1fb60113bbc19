//! The microphone's level before going live, as a sound check: the selected
//! input (or the test tone) read on its own thread. Going live hands the
//! device to the engine, whose status then carries the level.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use super::settings::MicrophoneSetting;
use crate::capture::clock::CaptureClock;
use crate::capture::frames::AudioLevel;
use crate::engine::open_audio;

pub struct SourceMeter {
    pub microphone: MicrophoneSetting,
    level: Arc<Mutex<AudioLevel>>,
    error: Arc<Mutex<Option<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl SourceMeter {
    pub fn start(microphone: MicrophoneSetting) -> SourceMeter {
        let level = Arc::new(Mutex::new(AudioLevel::SILENT));
        let error = Arc::new(Mutex::new(None));
        let stop = Arc::new(AtomicBool::new(false));
        let (levels, errors, stopping, choice) = (level.clone(), error.clone(), stop.clone(), microphone.choice());
        let thread = std::thread::Builder::new()
            .name("source-meter".into())
            .spawn(move || {
                let mut source = match open_audio(&choice, CaptureClock::start()) {
                    Ok(Some(source)) => source,
                    Ok(None) => return,
                    Err(failure) => {
                        *errors.lock().unwrap_or_else(|p| p.into_inner()) = Some(failure.to_string());
                        return;
                    }
                };
                while !stopping.load(Ordering::SeqCst) {
                    match source.next_buffer() {
                        Ok(buffer) => *levels.lock().unwrap_or_else(|p| p.into_inner()) = AudioLevel::measure(&buffer.samples),
                        Err(failure) => {
                            *errors.lock().unwrap_or_else(|p| p.into_inner()) = Some(failure.to_string());
                            return;
                        }
                    }
                }
            })
            .ok();
        SourceMeter { microphone, level, error, stop, thread }
    }

    pub fn level(&self) -> AudioLevel {
        *self.level.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn error(&self) -> Option<String> {
        self.error.lock().ok()?.clone()
    }
}

impl Drop for SourceMeter {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
