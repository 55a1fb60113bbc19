//! The segmenter: frames in, CMAF segments out, cut on keyframes.
//!
//! Video drives the cuts: a segment closes at the first keyframe at or after
//! the target duration. Audio closes its segment of the same number at the
//! first audio frame at or after that cut, so both tracks share numbers and
//! boundaries. Audio-only streams cut on duration alone. Sans-IO: frames and
//! `now` come in, segments and init segments go out.

use std::collections::VecDeque;

use super::cuts::{Boundary, Cut, FollowContext, VIDEO_BASE, emit_segment, follow_cut};
pub use super::cuts::{SegmentTiming, SegmenterEvent, SegmenterStats, VIDEO_TIMESCALE};
use super::parameter_sets::with_parameter_sets;
use super::rung::RungFrame;
use super::rungs::RungSet;
use super::timeline::{Placed, StreamTimeline};
use super::track::{HeldFrame, TrackSegmenter};
use crate::media::codec::CodecConfig;
use crate::media::frame::{EncodedFrame, TrackKind};
use crate::media::time::{TimeBase, Timestamp};
use crate::media::wallclock::UnixMillis;

/// Before the target duration is fixed, no segment may grow past this.
const FIRST_SEGMENT_CAP_MS: i64 = 20_000;
/// Parts shorter than this cost more in requests than they save in latency.
pub const MIN_PART_MS: u32 = 200;
/// The part being written goes out in chunks of about this length unless
/// told otherwise, each a write to every reader of it: shorter costs more
/// writes for little gain.
const CHUNK_MS: u32 = 100;
/// Audio frames further than this from their expected time start a new run.
const AUDIO_RESYNC_FRAMES: i64 = 2;
/// Samples in an AAC frame.
const AAC_FRAME_SAMPLES: i64 = 1024;

/// Borrows only the fields it names, so it works while a track is borrowed.
macro_rules! follow_context {
    ($segmenter:ident) => {
        FollowContext {
            anchor: $segmenter.timeline.anchor(),
            target_duration: &mut $segmenter.target_duration,
            stats: &mut $segmenter.stats,
            chunk_ticks: chunk_ticks($segmenter.part_target_ms, $segmenter.chunk_ms),
            open_number: $segmenter.next_number,
        }
    };
}

pub struct Segmenter {
    target_ms: i64,
    /// LL-HLS part target in milliseconds; None makes one part per segment.
    part_target_ms: Option<i64>,
    /// Chunks of video parts being written, in milliseconds; None sends parts whole.
    chunk_ms: Option<u32>,
    target_duration: Option<u32>,
    video: Option<TrackSegmenter>,
    audio: Option<TrackSegmenter>,
    /// Ladder rungs: video tracks that follow the source video's cuts.
    rungs: RungSet,
    /// Tracks are fixed by the first frame; later sequence headers only reconfigure.
    tracks_fixed: bool,
    video_started: bool,
    next_number: u64,
    first_number: u64,
    cuts: VecDeque<Cut>,
    timeline: StreamTimeline,
    last_video_time: Option<(Timestamp, Timestamp)>,
    pub stats: SegmenterStats,
}

impl Segmenter {
    /// `first_number` numbers the first segment; streams that reuse a key
    /// start elsewhere so cached segment URLs never collide.
    pub fn new(target_ms: u32, first_number: u64) -> Segmenter {
        Segmenter {
            target_ms: i64::from(target_ms.max(100)),
            part_target_ms: None,
            chunk_ms: Some(CHUNK_MS),
            target_duration: None,
            video: None,
            audio: None,
            rungs: RungSet::default(),
            tracks_fixed: false,
            video_started: false,
            next_number: first_number,
            first_number,
            cuts: VecDeque::new(),
            timeline: StreamTimeline::default(),
            last_video_time: None,
            stats: SegmenterStats::default(),
        }
    }

    /// Cuts parts of about `part_target_ms` (never above it, 200 ms at least) inside segments.
    pub fn with_parts(mut self, part_target_ms: Option<u32>) -> Segmenter {
        self.part_target_ms = part_target_ms.map(|ms| i64::from(ms.max(MIN_PART_MS)));
        self
    }

    /// Video parts being written go out in chunks of about `chunk_ms` (None: whole).
    pub fn set_chunks(&mut self, chunk_ms: Option<u32>) {
        self.chunk_ms = chunk_ms;
    }

    pub fn part_target_ms(&self) -> Option<u32> {
        self.part_target_ms.map(|ms| ms as u32)
    }

    pub fn target_duration(&self) -> Option<u32> {
        self.target_duration
    }

    pub fn has_track(&self, kind: TrackKind) -> bool {
        match kind {
            TrackKind::Video => self.video.is_some(),
            TrackKind::Audio => self.audio.is_some(),
        }
    }

    /// A sequence header arrived. Before the first frame it defines a track;
    /// afterwards it takes effect at the next segment (video: next keyframe).
    pub fn configure(&mut self, config: CodecConfig) -> Vec<SegmenterEvent> {
        let (slot, kind, timescale, track_id) = match &config {
            CodecConfig::H264(_) => (&mut self.video, TrackKind::Video, VIDEO_TIMESCALE, 1),
            CodecConfig::Aac(aac) => (&mut self.audio, TrackKind::Audio, aac.sample_rate, 2),
        };
        match slot {
            Some(track) => {
                if track.timescale != timescale {
                    // A new sample rate cannot continue the same timeline.
                    tracing::warn!("audio sample rate changed mid-stream from {} to {}; keeping the first", track.timescale, timescale);
                    return Vec::new();
                }
                if track.config != config {
                    track.pending_config = Some(config);
                }
                Vec::new()
            }
            None if self.tracks_fixed && self.next_number > self.first_number => {
                tracing::warn!("{kind:?} sequence header after the stream started; this track is ignored");
                Vec::new()
            }
            None => {
                let late = self.tracks_fixed;
                let track = TrackSegmenter::new(kind, track_id, timescale, config);
                let init = track.init();
                *slot = Some(track);
                if late {
                    // A relay (nginx-rtmp's push) sent the other track first: no
                    // segment exists yet, so both start over together.
                    tracing::info!("{kind:?} sequence header after the first frames; starting the stream with both tracks");
                    for track in [&mut self.video, &mut self.audio].into_iter().flatten() {
                        track.restart();
                    }
                    self.rungs.restart(false);
                    self.video_started = false;
                    self.cuts.clear();
                }
                vec![SegmenterEvent::Init(init)]
            }
        }
    }

    /// A publisher (re)starts on this stream: its timestamps are re-based onto
    /// the stream's timeline and its first segment follows a discontinuity.
    pub fn begin_session(&mut self) {
        self.timeline.begin_session();
        self.video_started = false;
        self.cuts.clear();
        let had_segments = self.next_number > self.first_number;
        for track in [&mut self.video, &mut self.audio].into_iter().flatten() {
            track.held = None;
            track.discontinuity_next = had_segments;
        }
        self.rungs.restart(had_segments);
    }

    /// Adds ladder rung `rung` (or gives it a new configuration from its next segment on).
    pub fn configure_rung(&mut self, rung: usize, name: &str, config: CodecConfig) -> Vec<SegmenterEvent> {
        self.rungs.configure(rung, name, config, self.next_number > self.first_number)
    }

    /// Whether there was such a rung.
    pub fn remove_rung(&mut self, rung: usize) -> bool {
        self.rungs.remove(rung)
    }

    /// A transcoded frame of rung `rung`; it joins at the next source segment boundary.
    pub fn push_rung(&mut self, rung: usize, frame: RungFrame) -> Vec<SegmenterEvent> {
        let mut out = Vec::new();
        self.rungs.push(rung, frame, &mut follow_context!(self), &mut out);
        out
    }

    /// Rung `rung` has had all its frames (its ladder drained): it closes
    /// where the source closed.
    pub fn finish_rung(&mut self, rung: usize) -> Vec<SegmenterEvent> {
        let mut out = Vec::new();
        self.rungs.finish(rung, &mut follow_context!(self), &mut out);
        out
    }

    /// The stream time (dts, pts at 90 kHz) the last source video frame was
    /// put at, if it was taken: the ladder stamps its transcoded frames with it.
    pub fn last_video_time(&self) -> Option<(Timestamp, Timestamp)> {
        self.last_video_time
    }

    pub fn push(&mut self, frame: EncodedFrame, now: UnixMillis) -> Vec<SegmenterEvent> {
        self.stats.frames_in += 1;
        self.tracks_fixed = true;
        if frame.kind == TrackKind::Video {
            self.last_video_time = None;
        }
        let mut out = Vec::new();
        let Some(placed) = self.stream_time(&frame, now) else {
            self.stats.frames_dropped += 1;
            return out;
        };
        match frame.kind {
            TrackKind::Video => self.push_video(placed, frame, &mut out),
            TrackKind::Audio => self.push_audio(placed.dts, frame, &mut out),
        }
        out
    }

    /// Closes every open segment: the publisher has gone.
    pub fn flush(&mut self, out: &mut Vec<SegmenterEvent>) {
        let mut video_end = None;
        if let Some(video) = &mut self.video {
            let duration = video.last_duration.max(1);
            video.finalize_held(duration);
            if !video.samples.is_empty() {
                let number = self.next_number;
                if let Some(closed) = video.close(number, None) {
                    self.next_number += 1;
                    let end = closed.0.start + closed.0.duration;
                    video_end = Some((number, Timestamp::new(end, VIDEO_BASE)));
                    self.timeline.reach(end, VIDEO_TIMESCALE);
                    emit_segment(closed, &mut follow_context!(self), out);
                }
            }
        }
        // Rungs get their last frames later; they close when their ladder has drained.
        if let Some((number, at)) = video_end {
            self.rungs.mark_present(Boundary::Cut(Cut { number, at, part_only: false }));
        }
        let video_number = video_end.map(|(number, _)| number);
        if let Some(audio) = &mut self.audio {
            audio.finalize_held(AAC_FRAME_SAMPLES);
            let has_video = self.video.is_some();
            let mut context = follow_context!(self);
            while let Some(cut) = self.cuts.pop_front() {
                follow_cut(audio, cut, &mut context, out);
            }
            let last_number = if has_video {
                video_number
            } else {
                let number = self.next_number;
                self.next_number += 1;
                Some(number)
            };
            match last_number {
                Some(number) => {
                    if let Some(closed) = audio.close(number, None) {
                        self.timeline.reach(closed.0.start + closed.0.duration, closed.0.timescale);
                        emit_segment(closed, &mut context, out);
                    }
                }
                // No video segment to follow: what audio holds goes, parts included.
                None => audio.restart(),
            }
        }
    }

    /// Maps a frame onto the stream timeline in its track's timescale; `None` drops it.
    fn stream_time(&mut self, frame: &EncodedFrame, now: UnixMillis) -> Option<Placed> {
        let track = match frame.kind {
            TrackKind::Video => self.video.as_ref(),
            TrackKind::Audio => self.audio.as_ref(),
        }?;
        let timescale = TimeBase::new(track.timescale)?;
        self.timeline.place(frame, timescale, now)
    }

    fn push_video(&mut self, placed: Placed, frame: EncodedFrame, out: &mut Vec<SegmenterEvent>) {
        let Some(video) = &mut self.video else { return };
        let Placed { dts, pts } = placed;
        let at = Timestamp::new(dts, VIDEO_BASE);
        if !self.video_started {
            if !frame.keyframe {
                self.stats.frames_dropped += 1;
                return;
            }
            self.video_started = true;
            self.rungs.mark(Boundary::Start { at });
        }
        if let Some(held) = &video.held {
            let duration = dts - held.dts;
            if duration <= 0 {
                // Decode times must increase; drop the offender rather than the stream.
                self.stats.frames_dropped += 1;
                return;
            }
            video.finalize_held(duration);
        }
        let cap_ms = match self.target_duration {
            Some(td) => i64::from(td) * 1000 + 400,
            None => FIRST_SEGMENT_CAP_MS,
        };
        if let Some(elapsed) = video.elapsed(dts) {
            let reconfigure = frame.keyframe && video.pending_config.is_some();
            let on_time = frame.keyframe && elapsed >= ms_ticks(self.target_ms, VIDEO_TIMESCALE);
            let too_long = elapsed + video.last_duration > ms_ticks(cap_ms, VIDEO_TIMESCALE);
            if (on_time || reconfigure || too_long) && !video.samples.is_empty() {
                if too_long && !frame.keyframe {
                    self.stats.forced_cuts += 1;
                    if self.stats.forced_cuts == 1 {
                        tracing::warn!(
                            "the publisher's keyframe interval is longer than the segment limit of {cap_ms} ms; \
                             cutting between keyframes (set the encoder's keyframe interval to 2 s)"
                        );
                    }
                }
                let number = self.next_number;
                if let Some(closed) = video.close(number, None) {
                    self.next_number += 1;
                    let cut = Cut { number, at, part_only: false };
                    self.cuts.push_back(cut);
                    self.rungs.mark(Boundary::Cut(cut));
                    emit_segment(closed, &mut follow_context!(self), out);
                }
            }
        }
        if let Some(part_ms) = self.part_target_ms {
            // Cut before this frame if it would carry the open part past the target.
            let part_ticks = ms_ticks(part_ms, VIDEO_TIMESCALE);
            if video.part_elapsed(dts).is_some_and(|elapsed| elapsed + video.last_duration > part_ticks) {
                let number = self.next_number;
                if let Some(part) = video.cut_part(number, None) {
                    let cut = Cut { number, at, part_only: true };
                    self.cuts.push_back(cut);
                    self.rungs.mark(Boundary::Cut(cut));
                    out.push(SegmenterEvent::Part(part));
                }
            }
            // Every cut due is made, so what is finalized stays in the open
            // part. It goes out in chunks of about `chunk_ms`, and all of it
            // once the frame about to be held will be the part's last (the
            // next frame would carry it past the target), so a part that ends
            // on its duration leaves a single frame for its readers at its
            // completion. One cut short by a keyframe leaves up to a chunk.
            if let Some(chunk_ticks) = chunk_ticks(self.part_target_ms, self.chunk_ms) {
                let last_held = video.part_elapsed(dts).is_some_and(|elapsed| elapsed + 2 * video.last_duration > part_ticks);
                if (video.unchunked_duration() >= chunk_ticks || last_held)
                    && let Some(chunk) = video.cut_chunk(self.next_number)
                {
                    out.push(SegmenterEvent::Chunk(chunk));
                }
            }
        }
        if video.segment_start.is_none()
            && frame.keyframe
            && let Some(init) = video.apply_pending_config()
        {
            out.push(SegmenterEvent::Init(init));
            if let Some(audio) = &mut self.audio {
                // Both tracks start a new period together.
                audio.discontinuity_next = true;
            }
        }
        let composition_offset = (pts - dts).clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32;
        self.timeline.reach(dts, VIDEO_TIMESCALE);
        let data = if frame.keyframe { with_parameter_sets(&video.config, frame.data) } else { frame.data };
        self.last_video_time = Some((at, Timestamp::new(pts, VIDEO_BASE)));
        video.hold(HeldFrame { dts, composition_offset, keyframe: frame.keyframe, data });
    }

    /// `dts` is in the audio track's timescale (its sample rate).
    fn push_audio(&mut self, mut dts: i64, frame: EncodedFrame, out: &mut Vec<SegmenterEvent>) {
        let has_video = self.video.is_some();
        if has_video && !self.video_started {
            self.stats.frames_dropped += 1;
            return;
        }
        let Some(audio) = &mut self.audio else { return };
        if let Some(held) = &audio.held {
            let expected = held.dts + AAC_FRAME_SAMPLES;
            let tolerance = AAC_FRAME_SAMPLES * AUDIO_RESYNC_FRAMES;
            if dts > expected + tolerance {
                // A gap: the held frame stretches to cover it.
                audio.finalize_held(dts - held.dts);
            } else if dts < expected - tolerance {
                self.stats.frames_dropped += 1;
                return;
            } else {
                // Millisecond (RTMP) and 90 kHz (TS) timestamps round a
                // frame's start; AAC frames are exactly 1024 samples.
                dts = expected;
                audio.finalize_held(AAC_FRAME_SAMPLES);
            }
        }
        let Some(base) = TimeBase::new(audio.timescale) else { return };
        if has_video {
            let mut context = follow_context!(self);
            while let Some(cut) = self.cuts.front().copied() {
                if Timestamp::new(dts, base) < cut.at {
                    break;
                }
                self.cuts.pop_front();
                follow_cut(audio, cut, &mut context, out);
            }
        } else if let Some(elapsed) = audio.elapsed(dts) {
            if elapsed >= ms_ticks(self.target_ms, audio.timescale) && !audio.samples.is_empty() {
                let number = self.next_number;
                if let Some(closed) = audio.close(number, None) {
                    self.next_number += 1;
                    emit_segment(closed, &mut follow_context!(self), out);
                }
            } else if let Some(part_ms) = self.part_target_ms {
                let part_ticks = ms_ticks(part_ms, audio.timescale);
                if audio.part_elapsed(dts).is_some_and(|elapsed| elapsed + AAC_FRAME_SAMPLES > part_ticks)
                    && let Some(part) = audio.cut_part(self.next_number, None)
                {
                    out.push(SegmenterEvent::Part(part));
                }
            }
        }
        if audio.segment_start.is_none()
            && let Some(init) = audio.apply_pending_config()
        {
            out.push(SegmenterEvent::Init(init));
        }
        self.timeline.reach(dts, audio.timescale);
        audio.hold(HeldFrame { dts, composition_offset: 0, keyframe: true, data: frame.data });
    }
}

/// The chunk length in video ticks, when parts are cut and chunked.
fn chunk_ticks(part_target_ms: Option<i64>, chunk_ms: Option<u32>) -> Option<i64> {
    part_target_ms.and(chunk_ms).map(|ms| ms_ticks(i64::from(ms), VIDEO_TIMESCALE))
}

/// A configured length in milliseconds (a target, a cap) as ticks of `timescale`.
fn ms_ticks(ms: i64, timescale: u32) -> i64 {
    super::cuts::ticks(Timestamp::new(ms, TimeBase::MILLIS), timescale)
}
