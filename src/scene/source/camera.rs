//! A camera as a layer: the device is read on a thread of its own (it paces
//! itself), and each output frame takes the newest picture it delivered.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{LayerSource, Picture};
use crate::capture::VideoSource;
use crate::capture::camera::{CameraSource, find_camera};
use crate::capture::clock::{CaptureClock, CaptureTime};
use crate::capture::frames::VideoFrame;

/// A camera that delivers nothing for this long is said to have stalled.
const STALL: Duration = Duration::from_secs(2);

#[derive(Default)]
struct Delivered {
    frame: Option<VideoFrame>,
    at: Option<Instant>,
    problem: Option<String>,
}

pub struct CameraLayer {
    delivered: Arc<Mutex<Delivered>>,
    stop: Arc<AtomicBool>,
    shown: Option<VideoFrame>,
    shown_at: Option<Instant>,
    generation: u64,
    problem: Option<String>,
}

impl CameraLayer {
    pub fn open(selector: Option<String>, fps: u32, clock: CaptureClock) -> CameraLayer {
        let delivered = Arc::new(Mutex::new(Delivered::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (into, stopping) = (delivered.clone(), stop.clone());
        let spawned = std::thread::Builder::new().name("camera layer".into()).spawn(move || {
            let opened = find_camera(selector.as_deref()).and_then(|index| CameraSource::open(index, 1280, 720, fps, clock));
            let mut camera = match opened {
                Ok(camera) => camera,
                Err(error) => return into.lock().unwrap_or_else(|p| p.into_inner()).problem = Some(format!("camera: {error}")),
            };
            while !stopping.load(Ordering::Relaxed) {
                let next = camera.next_frame();
                let mut delivered = into.lock().unwrap_or_else(|p| p.into_inner());
                match next {
                    Ok(frame) => (delivered.frame, delivered.at) = (Some(frame), Some(Instant::now())),
                    Err(error) => return delivered.problem = Some(format!("camera stopped: {error}; showing its last picture")),
                }
            }
        });
        let problem = spawned.err().map(|error| format!("camera thread: {error}"));
        CameraLayer { delivered, stop, shown: None, shown_at: None, generation: 0, problem }
    }
}

impl LayerSource for CameraLayer {
    fn update(&mut self, _now: CaptureTime, _size: (usize, usize)) {
        let mut delivered = self.delivered.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(frame) = delivered.frame.take() {
            (self.shown, self.shown_at) = (Some(frame), delivered.at);
            self.generation += 1;
        }
        self.problem = delivered.problem.clone().or_else(|| {
            let stalled = self.shown_at.is_some_and(|at| at.elapsed() > STALL);
            stalled.then(|| "camera stalled: showing its last picture".to_string())
        });
    }

    fn picture(&self) -> Option<Picture<'_>> {
        Some(Picture::of_frame(self.shown.as_ref()?, self.generation))
    }

    fn warning(&self) -> Option<String> {
        self.problem.clone()
    }
}

impl Drop for CameraLayer {
    fn drop(&mut self) {
        // The thread ends after the device's next frame; a camera that
        // hangs is left to it rather than hanging the compositor.
        self.stop.store(true, Ordering::Relaxed);
    }
}
