//! Gives decoded pictures their timestamps back. A decoder returns pictures
//! in display order, later than their input when the source reorders
//! (B-frames): each picture takes the smallest pending pts, and the oldest
//! pending dts, so a rung's decode times are exactly the source's and its
//! keyframes land on the source's segment boundaries.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::time::Instant;

use crate::media::time::Timestamp;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct FrameTiming {
    pub pts: Timestamp,
    pub dts: Timestamp,
    pub keyframe: bool,
    /// When the source frame reached the server: a rung's lag is measured from it.
    pub arrived: Instant,
}

/// More pending than any H.264 reorder depth means pictures were lost in the decoder.
const MAX_PENDING: usize = 32;

#[derive(Default)]
pub struct Retimer {
    pending: BinaryHeap<Reverse<(Timestamp, bool, Instant)>>,
    decode_times: VecDeque<Timestamp>,
}

impl Retimer {
    /// A source frame went into the decoder.
    pub fn input(&mut self, dts: Timestamp, pts: Timestamp, keyframe: bool, arrived: Instant) {
        if self.decode_times.len() >= MAX_PENDING {
            self.clear();
        }
        self.pending.push(Reverse((pts, keyframe, arrived)));
        self.decode_times.push_back(dts);
    }

    /// A picture came out of the decoder.
    pub fn output(&mut self) -> Option<FrameTiming> {
        let Reverse((pts, keyframe, arrived)) = self.pending.pop()?;
        let dts = self.decode_times.pop_front()?;
        Some(FrameTiming { pts, dts: dts.min(pts), keyframe, arrived })
    }

    pub fn clear(&mut self) {
        self.pending.clear();
        self.decode_times.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::time::TimeBase;

    fn at(ticks: i64) -> Timestamp {
        Timestamp::new(ticks, TimeBase::MPEG_90K)
    }

    #[test]
    fn reordered_pictures_get_display_pts_and_source_dts() {
        let now = Instant::now();
        let mut retimer = Retimer::default();
        // Decode order I P B B with pts 0 3 1 2 and dts -2 -1 0 1 frames at 29.97 fps.
        let frames = [(-2, 0, true), (-1, 3, false), (0, 1, false), (1, 2, false)];
        for (dts, pts, key) in frames {
            retimer.input(at(dts * 3003), at(pts * 3003), key, now);
        }
        let out: Vec<_> = std::iter::from_fn(|| retimer.output()).map(|t| (t.dts.value / 3003, t.pts.value / 3003, t.keyframe)).collect();
        assert_eq!(out, [(-2, 0, true), (-1, 1, false), (0, 2, false), (1, 3, false)]);
    }

    #[test]
    fn without_reordering_timestamps_pass_through() {
        let now = Instant::now();
        let mut retimer = Retimer::default();
        for i in 0..5 {
            retimer.input(at(i * 3003), at(i * 3003), i == 0, now);
            let timing = retimer.output().unwrap();
            assert_eq!((timing.dts, timing.pts, timing.keyframe), (at(i * 3003), at(i * 3003), i == 0));
        }
        assert!(retimer.output().is_none());
    }
}
