//! The test pattern as a layer, rendered at the size it is shown at, at the
//! output frame's own time: composing it adds no wait for a capture.

use super::{LayerSource, Picture};
use crate::capture::VideoSource;
use crate::capture::clock::{CaptureClock, CaptureTime};
use crate::capture::frames::VideoFrame;
use crate::capture::pattern::TestPattern;

pub struct PatternLayer {
    fps: u32,
    clock: CaptureClock,
    pattern: Option<TestPattern>,
    frame: Option<VideoFrame>,
    generation: u64,
}

impl PatternLayer {
    pub fn new(fps: u32, clock: CaptureClock) -> PatternLayer {
        PatternLayer { fps, clock, pattern: None, frame: None, generation: 0 }
    }
}

impl LayerSource for PatternLayer {
    fn update(&mut self, now: CaptureTime, (width, height): (usize, usize)) {
        let (width, height) = (width.max(16) & !1, height.max(16) & !1);
        let pattern = match &mut self.pattern {
            Some(pattern) if pattern.size() == (width, height) => pattern,
            slot => slot.insert(TestPattern::new(width, height, self.fps, self.clock)),
        };
        // The pattern flashes on the frame whose grid slot holds a second's start.
        let index = now.micros.max(0) as u64 * u64::from(self.fps) / 1_000_000;
        self.frame = Some(pattern.render(index, now));
        self.generation += 1;
    }

    fn picture(&self) -> Option<Picture<'_>> {
        Some(Picture::of_frame(self.frame.as_ref()?, self.generation))
    }

    fn warning(&self) -> Option<String> {
        None
    }
}
