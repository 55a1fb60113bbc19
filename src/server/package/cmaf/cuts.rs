//! Where the source's video cut, and how the tracks that follow it (audio,
//! ladder rungs) cut at the same instant: the vocabulary the segmenter, its
//! rungs and the window share.

use super::track::{TrackChunk, TrackInit, TrackPart, TrackSegment, TrackSegmenter};
use crate::media::time::{TimeBase, Timestamp};
use crate::media::wallclock::UnixMillis;

/// Video tracks' timescale: MPEG's 90 kHz, which every common frame rate
/// (29.97 fps is 3003 ticks a frame) divides exactly.
pub const VIDEO_TIMESCALE: u32 = 90_000;
pub const VIDEO_BASE: TimeBase = TimeBase::MPEG_90K;

#[derive(Clone, Debug)]
pub enum SegmenterEvent {
    Init(TrackInit),
    /// The newest frames of the part being written; the part follows later.
    Chunk(TrackChunk),
    /// A part of the segment being written (LL-HLS); its segment follows later.
    Part(TrackPart),
    Segment(TrackSegment, SegmentTiming),
    /// The target duration is fixed for the stream's life once the first segment closes.
    TargetDuration(u32),
}

/// Where a segment sits in wall-clock time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SegmentTiming {
    pub wall_start: UnixMillis,
}

#[derive(Default, Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmenterStats {
    pub frames_in: u64,
    pub frames_dropped: u64,
    pub segments: u64,
    /// Segments cut between keyframes because the publisher's keyframe interval is too long.
    pub forced_cuts: u64,
}

/// Where video cut, for audio and rungs to follow when their frames reach that time.
#[derive(Clone, Copy, Debug)]
pub struct Cut {
    pub number: u64,
    /// The cut's instant on the stream timeline (the video's 90 kHz).
    pub at: Timestamp,
    /// A part boundary inside segment `number`, not its end.
    pub part_only: bool,
}

/// Where the source's video opened a session or cut, for a rung to follow.
#[derive(Clone, Copy, Debug)]
pub enum Boundary {
    /// The source's first segment of a session starts here.
    Start {
        at: Timestamp,
    },
    Cut(Cut),
}

impl Boundary {
    pub fn at(&self) -> Timestamp {
        match self {
            Boundary::Start { at } => *at,
            Boundary::Cut(cut) => cut.at,
        }
    }

    /// Whether a segment (not just a part) begins here: a rung may start only there.
    pub fn opens_segment(&self) -> bool {
        match self {
            Boundary::Start { .. } => true,
            Boundary::Cut(cut) => !cut.part_only,
        }
    }
}

/// The media time and wall clock of a session's first frame: segments are
/// placed in wall-clock time from it.
#[derive(Clone, Copy, Debug)]
pub struct Anchor {
    pub media: Timestamp,
    pub wall: UnixMillis,
}

/// What a track following the source's cuts needs to emit its segments.
pub struct FollowContext<'a> {
    pub anchor: Option<Anchor>,
    pub target_duration: &'a mut Option<u32>,
    pub stats: &'a mut SegmenterStats,
    /// A video part being written goes out in chunks of this many 90 kHz
    /// ticks (parts are cut and chunks are on).
    pub chunk_ticks: Option<i64>,
    /// The number of the source's open segment.
    pub open_number: u64,
}

/// `time` in ticks of `timescale`, rounded to the nearest; saturates where
/// no stream reaches (an i64 of 90 kHz ticks is three million years).
pub fn ticks(time: Timestamp, timescale: u32) -> i64 {
    let base = TimeBase::new(timescale).unwrap_or(VIDEO_BASE);
    time.rescale(base).map_or(if time.value < 0 { i64::MIN } else { i64::MAX }, |t| t.value)
}

/// A following track (audio, a rung) reaches a time where video cut: a part, or the end of a segment.
pub fn follow_cut(track: &mut TrackSegmenter, cut: Cut, context: &mut FollowContext<'_>, out: &mut Vec<SegmenterEvent>) {
    let at = ticks(cut.at, track.timescale);
    if cut.part_only {
        if let Some(part) = track.cut_part(cut.number, Some(at)) {
            out.push(SegmenterEvent::Part(part));
        }
    } else if let Some(closed) = track.close(cut.number, Some(at)) {
        emit_segment(closed, context, out);
    }
}

/// Hands out a closed segment (its last part first), fixing the target
/// duration with the stream's first and placing it in wall-clock time.
pub fn emit_segment((segment, last_part): (TrackSegment, Option<TrackPart>), context: &mut FollowContext<'_>, out: &mut Vec<SegmenterEvent>) {
    if let Some(part) = last_part {
        out.push(SegmenterEvent::Part(part));
    }
    if context.target_duration.is_none() {
        let seconds = segment.duration as f64 / f64::from(segment.timescale.max(1));
        let td = seconds.round().max(1.0) as u32;
        *context.target_duration = Some(td);
        out.push(SegmenterEvent::TargetDuration(td));
    }
    let wall_start = match (context.anchor, TimeBase::new(segment.timescale)) {
        (Some(anchor), Some(base)) => {
            let since = Timestamp::new(segment.start, base).checked_sub(anchor.media).map_or(0, Timestamp::as_millis);
            UnixMillis(anchor.wall.0.saturating_add(since))
        }
        _ => UnixMillis(0),
    };
    context.stats.segments += 1;
    out.push(SegmenterEvent::Segment(segment, SegmentTiming { wall_start }));
}
