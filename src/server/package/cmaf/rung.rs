//! A ladder rung's video track. Its frames come from the transcoder, later
//! than the source's but with the source's timestamps, and it cuts exactly
//! where the source's video cut: every rendition shares segment and part
//! boundaries, numbers and tfdt, which is what lets a player switch between
//! them without a stall.

use std::collections::VecDeque;

use bytes::Bytes;

use super::cuts::{Boundary, FollowContext, SegmenterEvent, VIDEO_TIMESCALE, follow_cut, ticks};
use super::parameter_sets::with_parameter_sets;
use super::track::{HeldFrame, TrackSegmenter};
use crate::media::time::Timestamp;

/// A rung that stops taking frames must not hold the source's cuts forever.
const MAX_PENDING_BOUNDARIES: usize = 1024;

/// One transcoded frame, on the stream timeline the source's frame was put on.
#[derive(Clone, Debug)]
pub struct RungFrame {
    pub dts: Timestamp,
    pub pts: Timestamp,
    pub keyframe: bool,
    /// Length-prefixed NAL units.
    pub data: Bytes,
}

pub struct RungTrack {
    pub track: TrackSegmenter,
    boundaries: VecDeque<Boundary>,
    /// Taking frames: it began on a keyframe at a source segment boundary.
    started: bool,
}

impl RungTrack {
    pub fn new(track: TrackSegmenter) -> RungTrack {
        RungTrack { track, boundaries: VecDeque::new(), started: false }
    }

    pub fn mark(&mut self, boundary: Boundary) {
        if self.boundaries.len() >= MAX_PENDING_BOUNDARIES {
            self.restart(false);
        }
        self.boundaries.push_back(boundary);
    }

    /// Forgets the open segment; the rung rejoins at the next source segment.
    pub fn restart(&mut self, discontinuity: bool) {
        self.track.restart();
        self.track.discontinuity_next |= discontinuity;
        self.boundaries.clear();
        self.started = false;
    }

    /// The held frame lasts until `next`, but never past the next boundary: a
    /// frame lost just before one must not stretch the part or segment beyond
    /// the source's.
    fn finalize_held_until(&mut self, next: i64) {
        let Some(held) = &self.track.held else { return };
        let boundary = self.boundaries.front().map(|b| ticks(b.at(), VIDEO_TIMESCALE)).filter(|&at| at > held.dts && at < next);
        let duration = boundary.unwrap_or(next) - held.dts;
        self.track.finalize_held(duration);
    }

    /// Takes one transcoded frame.
    pub fn push(&mut self, frame: RungFrame, context: &mut FollowContext<'_>, out: &mut Vec<SegmenterEvent>) {
        let dts = ticks(frame.dts, VIDEO_TIMESCALE);
        let pts = ticks(frame.pts, VIDEO_TIMESCALE);
        if self.track.held.as_ref().is_some_and(|held| dts <= held.dts) {
            return;
        }
        self.finalize_held_until(dts);
        // Whether a source segment starts at this very frame, or started at a frame this rung never got.
        let (mut opens_here, mut opening_missed) = (false, false);
        while let Some(boundary) = self.boundaries.front().copied() {
            if boundary.at() > frame.dts {
                break;
            }
            self.boundaries.pop_front();
            if let (true, Boundary::Cut(cut)) = (self.started, boundary) {
                follow_cut(&mut self.track, cut, context, out);
            }
            if boundary.opens_segment() {
                opens_here = boundary.at() == frame.dts;
                opening_missed = !opens_here;
            }
        }
        let starts_aligned = opens_here && frame.keyframe;
        if self.started && (opening_missed || (opens_here && !frame.keyframe)) {
            // The segment would not start with a keyframe at the source's
            // boundary: the rung sits this segment out and rejoins at the next.
            tracing::warn!(rung = %self.track.name, "a rung frame at a segment start is missing or not a keyframe; the rung rejoins at the next segment");
            self.track.restart();
            self.started = false;
        }
        if !self.started {
            if !starts_aligned {
                return;
            }
            self.started = true;
        }
        if self.track.segment_start.is_none()
            && frame.keyframe
            && let Some(init) = self.track.apply_pending_config()
        {
            out.push(SegmenterEvent::Init(init));
        }
        if let Some(chunk_ticks) = context.chunk_ticks {
            self.chunk(dts, chunk_ticks, out, context.open_number);
        }
        let composition_offset = (pts - dts).clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32;
        let data = if frame.keyframe { with_parameter_sets(&self.track.config, frame.data) } else { frame.data };
        self.track.hold(HeldFrame { dts, composition_offset, keyframe: frame.keyframe, data });
    }

    /// Before the frame at `dts` is held: what is finalized of the open part
    /// goes out as a chunk, as the source's does, every `chunk_ticks` and all of
    /// it when that frame is the last before the source's next cut. Every
    /// cut up to `dts` is made, so what is finalized stays in this part; its
    /// segment is the one the next cut closes a part of, or the source's
    /// open one when the rung has caught up with every cut.
    fn chunk(&mut self, dts: i64, chunk_ticks: i64, out: &mut Vec<SegmenterEvent>, open_number: u64) {
        let (number, next_cut) = match self.boundaries.front() {
            Some(Boundary::Cut(cut)) => (cut.number, Some(ticks(cut.at, VIDEO_TIMESCALE))),
            // The rung is still in a session that has ended.
            Some(Boundary::Start { .. }) => return,
            None => (open_number, None),
        };
        let last_held = next_cut.is_some_and(|at| at <= dts + self.track.last_duration);
        if (self.track.unchunked_duration() >= chunk_ticks || last_held)
            && let Some(chunk) = self.track.cut_chunk(number)
        {
            out.push(SegmenterEvent::Chunk(chunk));
        }
    }

    /// Every frame of the session is in: the rung follows the cuts still
    /// pending, the last of which is where the source's last segment ended.
    /// Its last frame lasts until the next of them, so frames the rung lost
    /// at the very end leave no segment shorter than the source's (as a
    /// frame lost before any other boundary lasts until that boundary).
    pub fn finish(&mut self, context: &mut FollowContext<'_>, out: &mut Vec<SegmenterEvent>) {
        if let Some(held) = &self.track.held {
            let step = held.dts + self.track.last_duration.max(1);
            let next_cut = self.boundaries.front().map(|b| ticks(b.at(), VIDEO_TIMESCALE)).filter(|&at| at > held.dts);
            self.finalize_held_until(next_cut.unwrap_or(step));
        }
        if self.started {
            while let Some(boundary) = self.boundaries.pop_front() {
                if let Boundary::Cut(cut) = boundary {
                    follow_cut(&mut self.track, cut, context, out);
                }
            }
        }
        self.restart(false);
    }
}
