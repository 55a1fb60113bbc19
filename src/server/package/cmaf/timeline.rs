//! The stream timeline: one continuous media clock across publisher
//! sessions. A session's timestamps are moved by one offset (kept in 90 kHz)
//! so a republish continues where the last session ended, and each frame
//! lands in its track's own timescale without passing through milliseconds.

use super::cuts::{Anchor, VIDEO_BASE};
use crate::media::frame::EncodedFrame;
use crate::media::time::{TimeBase, Timestamp};
use crate::media::wallclock::UnixMillis;

/// A frame's place on the stream timeline, in its track's timescale.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placed {
    pub dts: i64,
    pub pts: i64,
}

#[derive(Debug)]
pub struct StreamTimeline {
    /// Added to the session's timestamps; fixed by its first frame.
    session_offset: Option<Timestamp>,
    anchor: Option<Anchor>,
    /// The furthest instant any track has reached.
    end: Timestamp,
}

impl Default for StreamTimeline {
    fn default() -> StreamTimeline {
        StreamTimeline { session_offset: None, anchor: None, end: Timestamp::zero(VIDEO_BASE) }
    }
}

impl StreamTimeline {
    /// A publisher (re)starts: its first frame goes where the stream ended.
    pub fn begin_session(&mut self) {
        self.session_offset = None;
        self.anchor = None;
    }

    pub fn anchor(&self) -> Option<Anchor> {
        self.anchor
    }

    /// Maps a frame onto the timeline in ticks of `timescale`; `None` when
    /// its time cannot be represented (an overflow, not a wrap).
    pub fn place(&mut self, frame: &EncodedFrame, timescale: TimeBase, now: UnixMillis) -> Option<Placed> {
        let dts = frame.dts.rescale(VIDEO_BASE).ok()?;
        let offset = match self.session_offset {
            Some(offset) => offset,
            None => *self.session_offset.insert(self.end.checked_sub(dts).ok()?),
        };
        let dts = dts.checked_add(offset).ok()?;
        let pts = frame.pts.rescale(VIDEO_BASE).ok()?.checked_add(offset).ok()?;
        self.anchor.get_or_insert(Anchor { media: dts, wall: now });
        Some(Placed { dts: dts.rescale(timescale).ok()?.value, pts: pts.rescale(timescale).ok()?.value })
    }

    /// A track has reached `ticks` of `timescale`.
    pub fn reach(&mut self, ticks: i64, timescale: u32) {
        if let Some(at) = TimeBase::new(timescale).and_then(|base| Timestamp::new(ticks, base).rescale(VIDEO_BASE).ok()) {
            self.end = self.end.max(at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::frame::TrackKind;

    fn frame(kind: TrackKind, dts: i64, pts: i64, base: TimeBase) -> EncodedFrame {
        EncodedFrame { kind, dts: Timestamp::new(dts, base), pts: Timestamp::new(pts, base), keyframe: true, data: Default::default() }
    }

    #[test]
    fn ninety_khz_frames_keep_their_exact_ticks() {
        let mut timeline = StreamTimeline::default();
        let start = 1_234_567;
        for n in 0..1000 {
            let dts = start + n * 3003;
            let placed = timeline.place(&frame(TrackKind::Video, dts, dts + 6006, VIDEO_BASE), VIDEO_BASE, UnixMillis(0)).unwrap();
            assert_eq!(placed, Placed { dts: n * 3003, pts: n * 3003 + 6006 });
        }
    }

    #[test]
    fn a_republish_continues_where_the_stream_ended_in_every_timescale() {
        let mut timeline = StreamTimeline::default();
        timeline.reach(90_000 * 10, 90_000);
        timeline.begin_session();
        let rate = TimeBase::new(44_100).unwrap();
        let video = timeline.place(&frame(TrackKind::Video, 5000, 5000, TimeBase::MILLIS), VIDEO_BASE, UnixMillis(0)).unwrap();
        assert_eq!(video.dts, 900_000);
        let audio = timeline.place(&frame(TrackKind::Audio, 5000, 5000, TimeBase::MILLIS), rate, UnixMillis(0)).unwrap();
        assert_eq!(audio.dts, 441_000);
        assert_eq!(timeline.anchor().unwrap().media, Timestamp::new(10_000, TimeBase::MILLIS));
    }

    #[test]
    fn an_unrepresentable_time_is_refused() {
        let mut timeline = StreamTimeline::default();
        let huge = frame(TrackKind::Video, i64::MAX / 2, i64::MAX / 2, TimeBase::MILLIS);
        assert!(timeline.place(&huge, VIDEO_BASE, UnixMillis(0)).is_none());
    }
}
