//! The source preview before going live: the selected camera (or the test
//! pattern) captured on its own thread at its own rate. Going live hands the
//! device to the engine, which then feeds the preview itself.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use super::settings::CameraSetting;
use crate::capture::camera::{CameraSource, find_camera};
use crate::capture::clock::CaptureClock;
use crate::capture::pattern::TestPattern;
use crate::capture::{CaptureError, VideoSource};
use crate::engine::Preview;
use crate::engine::video::preview_of;

pub struct SourcePreview {
    pub camera: CameraSetting,
    latest: Arc<Mutex<Option<Arc<Preview>>>>,
    error: Arc<Mutex<Option<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl SourcePreview {
    pub fn start(camera: CameraSetting, width: usize, height: usize, fps: u32) -> SourcePreview {
        let latest = Arc::new(Mutex::new(None));
        let error = Arc::new(Mutex::new(None));
        let stop = Arc::new(AtomicBool::new(false));
        let (frames, errors, stopping, selector) = (latest.clone(), error.clone(), stop.clone(), camera.clone());
        let thread = std::thread::Builder::new()
            .name("source-preview".into())
            .spawn(move || {
                let clock = CaptureClock::start();
                let opened: Result<Box<dyn VideoSource>, CaptureError> = match &selector {
                    CameraSetting::TestPattern => Ok(Box::new(TestPattern::new(width, height, fps, clock))),
                    CameraSetting::Device(id) => find_camera(Some(id))
                        .and_then(|index| CameraSource::open(index, width, height, fps, clock))
                        .map(|camera| Box::new(camera) as Box<dyn VideoSource>),
                };
                let mut source = match opened {
                    Ok(source) => source,
                    Err(error) => {
                        *errors.lock().unwrap_or_else(|p| p.into_inner()) = Some(error.to_string());
                        return;
                    }
                };
                while !stopping.load(Ordering::SeqCst) {
                    match source.next_frame() {
                        Ok(frame) => *frames.lock().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(preview_of(&frame))),
                        Err(message) => {
                            *errors.lock().unwrap_or_else(|p| p.into_inner()) = Some(message.to_string());
                            return;
                        }
                    }
                }
            })
            .ok();
        SourcePreview { camera, latest, error, stop, thread }
    }

    pub fn latest(&self) -> Option<Arc<Preview>> {
        self.latest.lock().ok()?.clone()
    }

    pub fn error(&self) -> Option<String> {
        self.error.lock().ok()?.clone()
    }
}

impl Drop for SourcePreview {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
