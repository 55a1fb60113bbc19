//! The source preview before going live: the selected camera (or the test
//! pattern), or the scene on air composed as the stream would compose it,
//! made on its own thread at its own rate. Going live hands the devices to
//! the engine, which then feeds the preview itself.

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
use crate::scene::program::{ProgramControl, ProgramSource};
use crate::scene::{Scene, Transition};

/// What the preview shows.
#[derive(Clone, Debug, PartialEq)]
pub enum PreviewOf {
    Camera(CameraSetting),
    /// The program: the scene on air, composed.
    Program,
}

pub struct SourcePreview {
    pub of: PreviewOf,
    /// The picture's size: the knob's.
    pub size: (usize, usize),
    /// The scene the program composes; changed in place, not by a restart.
    program: Option<(ProgramControl, Scene)>,
    capture: Background<Option<Arc<Preview>>>,
}

impl SourcePreview {
    pub fn camera(camera: CameraSetting, width: usize, height: usize, fps: u32) -> SourcePreview {
        let selector = camera.clone();
        let capture = Background::spawn("source-preview", None, move |publish, stop| {
            let clock = CaptureClock::start();
            let source: Box<dyn VideoSource> = match &selector {
                CameraSetting::TestPattern => Box::new(TestPattern::new(width, height, fps, clock)),
                CameraSetting::Device(id) => {
                    Box::new(find_camera(Some(id)).and_then(|index| CameraSource::open(index, width, height, fps, clock)).map_err(|e| e.to_string())?)
                }
            };
            show(source, publish, stop)
        });
        SourcePreview { of: PreviewOf::Camera(camera), size: (width, height), program: None, capture }
    }

    pub fn program(scene: &Scene, width: usize, height: usize, fps: u32) -> SourcePreview {
        match ProgramSource::start(scene.clone(), width, height, fps, CaptureClock::start()) {
            Ok(program) => {
                let control = program.control();
                let capture = Background::spawn("program-preview", None, move |publish, stop| show(Box::new(program), publish, stop));
                SourcePreview { of: PreviewOf::Program, size: (width, height), program: Some((control, scene.clone())), capture }
            }
            Err(error) => {
                let capture = Background::spawn("program-preview", None, move |_, _| Err(error.to_string()));
                SourcePreview { of: PreviewOf::Program, size: (width, height), program: None, capture }
            }
        }
    }

    /// Composes `scene` from the next frame on, when it differs from the one shown.
    pub fn show_scene(&mut self, scene: &Scene) {
        if let Some((control, shown)) = self.program.as_mut().filter(|(_, shown)| shown != scene) {
            control.show(scene.clone(), Transition::Cut);
            *shown = scene.clone();
        }
    }

    pub fn latest(&self) -> Option<Arc<Preview>> {
        self.capture.latest()
    }

    pub fn error(&self) -> Option<String> {
        self.capture.error()
    }
}

/// Publishes each frame of `source` as a preview until stopped.
fn show(mut source: Box<dyn VideoSource>, publish: &dyn Fn(Option<Arc<Preview>>), stop: &std::sync::atomic::AtomicBool) -> Result<(), String> {
    while !stop.load(Ordering::SeqCst) {
        let frame = source.next_frame().map_err(|e| e.to_string())?;
        publish(Some(Arc::new(preview_of(&frame))));
        source.recycle(frame);
    }
    Ok(())
}
