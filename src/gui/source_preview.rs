//! The source preview before going live: the selected camera (or the test
//! pattern) captured on its own thread at its own rate. Going live hands the
//! device to the engine, which then feeds the preview itself.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::background::Background;
use super::settings::CameraSetting;
use crate::capture::VideoSource;
use crate::capture::camera::{CameraSource, find_camera};
use crate::capture::clock::CaptureClock;
use crate::capture::pattern::TestPattern;
use crate::engine::Preview;
use crate::engine::video::preview_of;

pub struct SourcePreview {
    pub camera: CameraSetting,
    capture: Background<Option<Arc<Preview>>>,
}

impl SourcePreview {
    pub fn start(camera: CameraSetting, width: usize, height: usize, fps: u32) -> SourcePreview {
        let selector = camera.clone();
        let capture = Background::spawn("source-preview", None, move |publish, stop| {
            let clock = CaptureClock::start();
            let mut source: Box<dyn VideoSource> = match &selector {
                CameraSetting::TestPattern => Box::new(TestPattern::new(width, height, fps, clock)),
                CameraSetting::Device(id) => {
                    Box::new(find_camera(Some(id)).and_then(|index| CameraSource::open(index, width, height, fps, clock)).map_err(|e| e.to_string())?)
                }
            };
            while !stop.load(Ordering::SeqCst) {
                publish(Some(Arc::new(preview_of(&source.next_frame().map_err(|e| e.to_string())?))));
            }
            Ok(())
        });
        SourcePreview { camera, capture }
    }

    pub fn latest(&self) -> Option<Arc<Preview>> {
        self.capture.latest()
    }

    pub fn error(&self) -> Option<String> {
        self.capture.error()
    }
}
