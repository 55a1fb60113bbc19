//! The segmenter: frames in, CMAF segments out, cut on keyframes.
//!
//! Video drives the cuts: a segment closes at the first keyframe at or after
//! the target duration. Audio closes its segment of the same number at the
//! first audio frame at or after that cut, so both tracks share numbers and
//! boundaries. Audio-only streams cut on duration alone. Sans-IO: frames and
//! `now` come in, segments and init segments go out.

use std::collections::{BTreeMap, VecDeque};

use bytes::Bytes;

use super::rung::{Boundary, RungFrame, RungTrack};
use super::track::{HeldFrame, TrackChunk, TrackInit, TrackPart, TrackSegment, TrackSegmenter};
use crate::media::codec::CodecConfig;
use crate::media::frame::{EncodedFrame, TrackKind};
use crate::media::h264::{avcc_parameter_sets, nal_types};
use crate::media::time::{TimeBase, rescale};
use crate::media::wallclock::UnixMillis;

pub const VIDEO_TIMESCALE: u32 = 90_000;
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

/// Where video cut, for audio to follow when its frames reach that time.
#[derive(Clone, Copy, Debug)]
pub struct Cut {
    pub number: u64,
    /// Media time of the cut in milliseconds of the stream timeline.
    pub at_ms: i64,
    /// A part boundary inside segment `number`, not its end.
    pub part_only: bool,
}

/// Borrows only the fields it names, so it works while a track is borrowed.
macro_rules! follow_context {
    ($segmenter:ident) => {
        FollowContext {
            anchor: $segmenter.anchor,
            target_duration: &mut $segmenter.target_duration,
            stats: &mut $segmenter.stats,
            chunk_ticks: chunk_ticks($segmenter.part_target_ms, $segmenter.chunk_ms),
            open_number: $segmenter.next_number,
        }
    };
}

/// What a track following the source's cuts needs to emit its segments.
pub struct FollowContext<'a> {
    anchor: Option<(i64, UnixMillis)>,
    target_duration: &'a mut Option<u32>,
    stats: &'a mut SegmenterStats,
    /// A video part being written goes out in chunks of this many 90 kHz
    /// ticks (parts are cut and chunks are on).
    pub chunk_ticks: Option<i64>,
    /// The number of the source's open segment.
    pub open_number: u64,
}

#[derive(Default, Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmenterStats {
    pub frames_in: u64,
    pub frames_dropped: u64,
    pub segments: u64,
    /// Segments cut between keyframes because the publisher's keyframe interval is too long.
    pub forced_cuts: u64,
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
    /// Ladder rungs by index: video tracks that follow the source video's cuts.
    rungs: BTreeMap<usize, RungTrack>,
    /// The boundaries of the source's open segment, its start first: a rung
    /// added mid-segment (its encoder's first output comes late) follows them.
    open_segment_boundaries: Vec<Boundary>,
    /// Tracks are fixed by the first frame; later sequence headers only reconfigure.
    tracks_fixed: bool,
    video_started: bool,
    next_number: u64,
    first_number: u64,
    cuts: VecDeque<Cut>,
    /// Added to a session's timestamps so the stream timeline never goes back.
    session_offset_ms: Option<i64>,
    /// The media time and wall clock of the session's first frame.
    anchor: Option<(i64, UnixMillis)>,
    stream_end_ms: i64,
    last_video_time: Option<(i64, i64)>,
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
            rungs: BTreeMap::new(),
            open_segment_boundaries: Vec::new(),
            tracks_fixed: false,
            video_started: false,
            next_number: first_number,
            first_number,
            cuts: VecDeque::new(),
            session_offset_ms: None,
            anchor: None,
            stream_end_ms: 0,
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
                    for rung in self.rungs.values_mut() {
                        rung.restart(false);
                    }
                    self.open_segment_boundaries.clear();
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
        self.session_offset_ms = None;
        self.anchor = None;
        self.video_started = false;
        self.cuts.clear();
        let had_segments = self.next_number > self.first_number;
        for track in [&mut self.video, &mut self.audio].into_iter().flatten() {
            track.held = None;
            track.discontinuity_next = had_segments;
        }
        for rung in self.rungs.values_mut() {
            rung.restart(had_segments);
        }
        self.open_segment_boundaries.clear();
    }

    /// Adds ladder rung `rung` (or gives it a new configuration from its next segment on).
    pub fn configure_rung(&mut self, rung: usize, name: &str, config: CodecConfig) -> Vec<SegmenterEvent> {
        if let Some(existing) = self.rungs.get_mut(&rung) {
            if existing.track.config != config {
                existing.track.pending_config = Some(config);
            }
            return Vec::new();
        }
        let track = TrackSegmenter::for_rung(rung, name, config);
        let init = track.init();
        let mut rung_track = RungTrack::new(track);
        rung_track.track.discontinuity_next = self.next_number > self.first_number;
        for boundary in &self.open_segment_boundaries {
            rung_track.mark(*boundary);
        }
        self.rungs.insert(rung, rung_track);
        vec![SegmenterEvent::Init(init)]
    }

    /// Whether there was such a rung.
    pub fn remove_rung(&mut self, rung: usize) -> bool {
        self.rungs.remove(&rung).is_some()
    }

    /// A transcoded frame of rung `rung`; it joins at the next source segment boundary.
    pub fn push_rung(&mut self, rung: usize, frame: RungFrame) -> Vec<SegmenterEvent> {
        let mut out = Vec::new();
        let Some(track) = self.rungs.get_mut(&rung) else { return out };
        let mut context = follow_context!(self);
        track.push(frame, &mut context, &mut out);
        out
    }

    /// Rung `rung` has had all its frames (its ladder drained): it closes
    /// where the source closed.
    pub fn finish_rung(&mut self, rung: usize) -> Vec<SegmenterEvent> {
        let mut out = Vec::new();
        if let Some(track) = self.rungs.get_mut(&rung) {
            track.finish(&mut follow_context!(self), &mut out);
        }
        out
    }

    /// The stream time (dts, pts in ms) the last source video frame was put at,
    /// if it was taken: the ladder stamps its transcoded frames with it.
    pub fn last_video_time(&self) -> Option<(i64, i64)> {
        self.last_video_time
    }

    pub fn push(&mut self, frame: EncodedFrame, now: UnixMillis) -> Vec<SegmenterEvent> {
        self.stats.frames_in += 1;
        self.tracks_fixed = true;
        if frame.kind == TrackKind::Video {
            self.last_video_time = None;
        }
        let mut out = Vec::new();
        let Some((dts_ms, pts_ms)) = self.stream_time(&frame, now) else {
            self.stats.frames_dropped += 1;
            return out;
        };
        match frame.kind {
            TrackKind::Video => self.push_video(dts_ms, pts_ms, frame, &mut out),
            TrackKind::Audio => self.push_audio(dts_ms, frame, &mut out),
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
                    let end_ms = ticks_to_ms(closed.0.start + closed.0.duration, VIDEO_TIMESCALE);
                    video_end = Some((number, end_ms));
                    self.stream_end_ms = self.stream_end_ms.max(end_ms);
                    emit_segment(closed, &mut follow_context!(self), out);
                }
            }
        }
        // Rungs get their last frames later; they close when their ladder has drained.
        if let Some((number, at_ms)) = video_end {
            for rung in self.rungs.values_mut() {
                rung.mark(Boundary::Cut(Cut { number, at_ms, part_only: false }));
            }
        }
        let video_number = video_end.map(|(number, _)| number);
        if let Some(audio) = &mut self.audio {
            let frame_ticks = 1024;
            audio.finalize_held(frame_ticks);
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
                        let end_ms = ticks_to_ms(closed.0.start + closed.0.duration, closed.0.timescale);
                        self.stream_end_ms = self.stream_end_ms.max(end_ms);
                        emit_segment(closed, &mut context, out);
                    }
                }
                // No video segment to follow: what audio holds goes, parts included.
                None => audio.restart(),
            }
        }
    }

    /// Maps a frame onto the stream timeline in milliseconds; `None` drops it.
    fn stream_time(&mut self, frame: &EncodedFrame, now: UnixMillis) -> Option<(i64, i64)> {
        let dts = rescale(frame.dts.value, frame.dts.base, TimeBase::MILLIS).ok()?;
        let pts = rescale(frame.pts.value, frame.pts.base, TimeBase::MILLIS).ok()?;
        let track_exists = self.has_track(frame.kind);
        if !track_exists {
            return None;
        }
        let offset = *self.session_offset_ms.get_or_insert(self.stream_end_ms - dts);
        let dts = dts.checked_add(offset)?;
        let pts = pts.checked_add(offset)?;
        self.anchor.get_or_insert((dts, now));
        Some((dts, pts))
    }

    fn push_video(&mut self, dts_ms: i64, pts_ms: i64, frame: EncodedFrame, out: &mut Vec<SegmenterEvent>) {
        let Some(video) = &mut self.video else { return };
        if !self.video_started {
            if !frame.keyframe {
                self.stats.frames_dropped += 1;
                return;
            }
            self.video_started = true;
            mark_rungs(&mut self.open_segment_boundaries, &mut self.rungs, Boundary::Start { at_ms: dts_ms });
        }
        let dts = ms_to_ticks(dts_ms, VIDEO_TIMESCALE);
        let pts = ms_to_ticks(pts_ms, VIDEO_TIMESCALE);
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
            let elapsed_ms = ticks_to_ms(elapsed, VIDEO_TIMESCALE);
            let reconfigure = frame.keyframe && video.pending_config.is_some();
            let on_time = frame.keyframe && elapsed_ms >= self.target_ms;
            let too_long = elapsed_ms + ticks_to_ms(video.last_duration, VIDEO_TIMESCALE) > cap_ms;
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
                    let cut = Cut { number, at_ms: dts_ms, part_only: false };
                    self.cuts.push_back(cut);
                    mark_rungs(&mut self.open_segment_boundaries, &mut self.rungs, Boundary::Cut(cut));
                    emit_segment(closed, &mut follow_context!(self), out);
                }
            }
        }
        if let Some(part_ms) = self.part_target_ms {
            // Cut before this frame if it would carry the open part past the target.
            let part_ticks = ms_to_ticks(part_ms, VIDEO_TIMESCALE);
            if video.part_elapsed(dts).is_some_and(|elapsed| elapsed + video.last_duration > part_ticks) {
                let number = self.next_number;
                if let Some(part) = video.cut_part(number, None) {
                    let cut = Cut { number, at_ms: dts_ms, part_only: true };
                    self.cuts.push_back(cut);
                    mark_rungs(&mut self.open_segment_boundaries, &mut self.rungs, Boundary::Cut(cut));
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
        self.stream_end_ms = self.stream_end_ms.max(dts_ms);
        let data = if frame.keyframe { with_parameter_sets(&video.config, frame.data) } else { frame.data };
        self.last_video_time = Some((dts_ms, pts_ms));
        video.hold(HeldFrame { dts, composition_offset, keyframe: frame.keyframe, data });
    }

    fn push_audio(&mut self, dts_ms: i64, frame: EncodedFrame, out: &mut Vec<SegmenterEvent>) {
        let has_video = self.video.is_some();
        if has_video && !self.video_started {
            self.stats.frames_dropped += 1;
            return;
        }
        let Some(audio) = &mut self.audio else { return };
        let frame_ticks = 1024i64;
        let mut dts = ms_to_ticks(dts_ms, audio.timescale);
        if let Some(held) = &audio.held {
            let expected = held.dts + frame_ticks;
            let tolerance = frame_ticks * AUDIO_RESYNC_FRAMES;
            if dts > expected + tolerance {
                // A gap: the held frame stretches to cover it.
                audio.finalize_held(dts - held.dts);
            } else if dts < expected - tolerance {
                self.stats.frames_dropped += 1;
                return;
            } else {
                // Millisecond timestamps jitter; AAC frames are exactly 1024 samples.
                dts = expected;
                audio.finalize_held(frame_ticks);
            }
        }
        if has_video {
            let mut context = follow_context!(self);
            while let Some(cut) = self.cuts.front().copied() {
                if dts < ms_to_ticks(cut.at_ms, audio.timescale) {
                    break;
                }
                self.cuts.pop_front();
                follow_cut(audio, cut, &mut context, out);
            }
        } else if let Some(elapsed) = audio.elapsed(dts) {
            if ticks_to_ms(elapsed, audio.timescale) >= self.target_ms && !audio.samples.is_empty() {
                let number = self.next_number;
                if let Some(closed) = audio.close(number, None) {
                    self.next_number += 1;
                    emit_segment(closed, &mut follow_context!(self), out);
                }
            } else if let Some(part_ms) = self.part_target_ms {
                let part_ticks = ms_to_ticks(part_ms, audio.timescale);
                if audio.part_elapsed(dts).is_some_and(|elapsed| elapsed + frame_ticks > part_ticks)
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
        self.stream_end_ms = self.stream_end_ms.max(dts_ms);
        audio.hold(HeldFrame { dts, composition_offset: 0, keyframe: true, data: frame.data });
    }
}

/// Keyframes carry their SPS and PPS in-band as well as in the init segment,
/// so a decoder that crosses a resolution change without re-reading the init
/// segment (or joins mid-stream) still has the right parameter sets.
pub(super) fn with_parameter_sets(config: &CodecConfig, data: Bytes) -> Bytes {
    let CodecConfig::H264(h264) = config else { return data };
    let size = usize::from(h264.nal_length_size);
    if nal_types(&data, h264.nal_length_size).is_ok_and(|types| types.contains(&7)) {
        return data;
    }
    let sets = avcc_parameter_sets(&h264.avcc);
    let mut out = Vec::with_capacity(data.len() + sets.iter().map(|s| s.len() + size).sum::<usize>());
    for set in sets {
        out.extend_from_slice(&(set.len() as u32).to_be_bytes()[4 - size..]);
        out.extend_from_slice(set);
    }
    out.extend_from_slice(&data);
    Bytes::from(out)
}

/// Hands a boundary of the source's video to every rung, and keeps those of
/// the open segment for rungs still to come.
fn mark_rungs(open_segment: &mut Vec<Boundary>, rungs: &mut BTreeMap<usize, RungTrack>, boundary: Boundary) {
    if boundary.opens_segment() {
        open_segment.clear();
    }
    open_segment.push(boundary);
    for rung in rungs.values_mut() {
        rung.mark(boundary);
    }
}

/// A following track (audio, a rung) reaches a time where video cut: a part, or the end of a segment.
pub(super) fn follow_cut(track: &mut TrackSegmenter, cut: Cut, context: &mut FollowContext<'_>, out: &mut Vec<SegmenterEvent>) {
    let at = ms_to_ticks(cut.at_ms, track.timescale);
    if cut.part_only {
        if let Some(part) = track.cut_part(cut.number, Some(at)) {
            out.push(SegmenterEvent::Part(part));
        }
    } else if let Some(closed) = track.close(cut.number, Some(at)) {
        emit_segment(closed, context, out);
    }
}

fn emit_segment((segment, last_part): (TrackSegment, Option<TrackPart>), context: &mut FollowContext<'_>, out: &mut Vec<SegmenterEvent>) {
    let FollowContext { anchor, target_duration, stats, .. } = context;
    let anchor = *anchor;
    if let Some(part) = last_part {
        out.push(SegmenterEvent::Part(part));
    }
    if target_duration.is_none() {
        let seconds = segment.duration as f64 / f64::from(segment.timescale);
        let td = seconds.round().max(1.0) as u32;
        **target_duration = Some(td);
        out.push(SegmenterEvent::TargetDuration(td));
    }
    let start_ms = ticks_to_ms(segment.start, segment.timescale);
    let wall_start = match anchor {
        Some((media_ms, wall)) => UnixMillis(wall.0 + (start_ms - media_ms)),
        None => UnixMillis(0),
    };
    stats.segments += 1;
    out.push(SegmenterEvent::Segment(segment, SegmentTiming { wall_start }));
}

/// The chunk length in video ticks, when parts are cut and chunked.
fn chunk_ticks(part_target_ms: Option<i64>, chunk_ms: Option<u32>) -> Option<i64> {
    part_target_ms.and(chunk_ms).map(|ms| ms_to_ticks(i64::from(ms), VIDEO_TIMESCALE))
}

pub(super) fn ms_to_ticks(ms: i64, timescale: u32) -> i64 {
    i64::from(timescale).saturating_mul(ms) / 1000
}

fn ticks_to_ms(ticks: i64, timescale: u32) -> i64 {
    rescale(ticks, TimeBase::new(timescale).unwrap_or(TimeBase::MILLIS), TimeBase::MILLIS).unwrap_or(i64::MAX)
}
