//! The sources a layer shows. A live source (the test pattern, a screen, a
//! window, a camera) brings its picture up to date once per output frame;
//! a still one (an image, a text, a colour) makes it once. A source that
//! fails keeps its last picture and says why, so the stream never stops for it.

mod camera;
mod pattern;
mod screen;
mod still;

use std::path::PathBuf;

use super::spec::{Layer, SourceSpec};
use crate::capture::clock::{CaptureClock, CaptureTime};
use crate::media::scale::Planes;

pub use screen::ScreenCapture;

/// What makes two layers show the same picture: the spec, and for text its style.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SourceKey {
    pub spec: SourceSpec,
    text: Option<(u32, String, Option<PathBuf>)>,
}

impl SourceKey {
    pub fn of(layer: &Layer) -> SourceKey {
        let text = matches!(layer.source, SourceSpec::Text(_)).then(|| (layer.text.size.to_bits(), layer.text.color.clone(), layer.text.font.clone()));
        SourceKey { spec: layer.source.clone(), text }
    }
}

/// A source's current picture.
pub struct Picture<'a> {
    pub planes: Planes<'a>,
    /// Changes whenever the picture does, so an unchanged one is not scaled again.
    pub generation: u64,
    /// When it was captured, for a live source.
    pub captured: Option<CaptureTime>,
}

impl Picture<'_> {
    /// A captured or rendered frame's picture.
    pub fn of_frame(frame: &crate::capture::frames::VideoFrame, generation: u64) -> Picture<'_> {
        Picture {
            planes: Planes::tight(crate::media::scale::PixelFormat::I420, &frame.i420, frame.width, frame.height),
            generation,
            captured: Some(frame.captured),
        }
    }
}

pub trait LayerSource: Send {
    /// Brings the picture up to date for the output frame at `now`; `size`
    /// is the size it is shown at, which a synthetic source renders at.
    fn update(&mut self, now: CaptureTime, size: (usize, usize));
    /// None while it has no picture yet (or never will: see `warning`).
    fn picture(&self) -> Option<Picture<'_>>;
    /// Why the picture is old or missing, in words for the user.
    fn warning(&self) -> Option<String>;
}

/// Opens the source a layer names. Opening never fails: a source that
/// cannot start shows nothing and says why, and keeps trying where that can help.
pub fn open(layer: &Layer, fps: u32, clock: CaptureClock) -> Box<dyn LayerSource> {
    match &layer.source {
        SourceSpec::TestPattern => Box::new(pattern::PatternLayer::new(fps, clock)),
        SourceSpec::Screen(index) => Box::new(ScreenCapture::screen(*index)),
        SourceSpec::Window(title) => Box::new(ScreenCapture::window(title)),
        SourceSpec::Camera(selector) => Box::new(camera::CameraLayer::open(selector.clone(), fps, clock)),
        SourceSpec::Image(path) => Box::new(still::Still::image(path)),
        SourceSpec::Text(words) => Box::new(still::Still::text(words, &layer.text)),
        SourceSpec::Color(rgb) => Box::new(still::Still::color(*rgb)),
    }
}
