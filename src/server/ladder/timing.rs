//! Gives decoded pictures their timestamps back. A decoder returns pictures
//! in display order, later than their input when the source reorders
//! (B-frames): each picture takes the smallest pending pts, and the oldest
//! pending dts, so a rung's decode times are exactly the source's and its
//! keyframes land on the source's segment boundaries.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::time::Instant;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct FrameTiming {
    pub pts_ms: i64,
    pub dts_ms: i64,
    pub keyframe: bool,
    /// When the source frame reached the server: a rung's lag is measured from it.
    pub arrived: Instant,
}

/// More pending than any H.264 reorder depth means pictures were lost in the decoder.
const MAX_PENDING: usize = 32;

#[derive(Default)]
pub struct Retimer {
    pending: BinaryHeap<Reverse<(i64, bool, Instant)>>,
    decode_times: VecDeque<i64>,
}

impl Retimer {
    /// A source frame went into the decoder.
    pub fn input(&mut self, dts_ms: i64, pts_ms: i64, keyframe: bool, arrived: Instant) {
        if self.decode_times.len() >= MAX_PENDING {
            self.clear();
        }
        self.pending.push(Reverse((pts_ms, keyframe, arrived)));
        self.decode_times.push_back(dts_ms);
    }

    /// A picture came out of the decoder.
    pub fn output(&mut self) -> Option<FrameTiming> {
        let Reverse((pts_ms, keyframe, arrived)) = self.pending.pop()?;
        let dts_ms = self.decode_times.pop_front()?;
        Some(FrameTiming { pts_ms, dts_ms: dts_ms.min(pts_ms), keyframe, arrived })
    }

    pub fn clear(&mut self) {
        self.pending.clear();
        self.decode_times.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reordered_pictures_get_display_pts_and_source_dts() {
        let now = Instant::now();
        let mut retimer = Retimer::default();
        // Decode order I P B B with pts 0 99 33 66 and dts -66 -33 0 33 (ms, 30 fps).
        let frames = [(-66, 0, true), (-33, 99, false), (0, 33, false), (33, 66, false)];
        for (dts, pts, key) in frames {
            retimer.input(dts, pts, key, now);
        }
        let out: Vec<_> = std::iter::from_fn(|| retimer.output()).map(|t| (t.dts_ms, t.pts_ms, t.keyframe)).collect();
        assert_eq!(out, [(-66, 0, true), (-33, 33, false), (0, 66, false), (33, 99, false)]);
    }

    #[test]
    fn without_reordering_timestamps_pass_through() {
        let now = Instant::now();
        let mut retimer = Retimer::default();
        for i in 0..5 {
            retimer.input(i * 33, i * 33, i == 0, now);
            let timing = retimer.output().unwrap();
            assert_eq!((timing.dts_ms, timing.pts_ms, timing.keyframe), (i * 33, i * 33, i == 0));
        }
        assert!(retimer.output().is_none());
    }
}
