//! The sliding window of segments that playlists and manifests list.
//!
//! One set of segments serves HLS and DASH. The window keeps the last
//! `listed` segments per track and a few more for clients still fetching.
//! Periods (DASH) and discontinuities (HLS) are the same event: a segment
//! that starts a new timeline or a new init segment.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use bytes::Bytes;

use super::cuts::{SegmentTiming, SegmenterEvent};
use super::pieces::Pieces;
use super::track::{PartSpan, TrackChunk, TrackInit, TrackPart, TrackSegment};
use crate::media::codec::CodecConfig;
use crate::media::frame::TrackKind;
use crate::media::time::{TimeBase, Timestamp};
use crate::media::wallclock::UnixMillis;

#[derive(Clone, Debug)]
pub struct WindowSegment {
    pub number: u64,
    pub start: i64,
    pub duration: i64,
    pub discontinuity: bool,
    pub init_version: u32,
    pub wall_start: UnixMillis,
    pub samples: u32,
    pub parts: Vec<PartSpan>,
    /// Bytes of media, kept when the media itself is not (a recording's window).
    pub size: u64,
    pub data: Pieces,
}

impl WindowSegment {
    pub fn duration_secs(&self, timescale: u32) -> f64 {
        self.duration as f64 / f64::from(timescale)
    }
}

/// A DASH Period: begins at a segment number, on the stream's media timeline.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Period {
    pub first_number: u64,
    /// Media time of the period's first segment on the stream timeline.
    pub media_start: Timestamp,
    pub wall_start: UnixMillis,
}

/// The part being written, as far as its chunks have come.
#[derive(Clone, Debug, Default)]
pub struct GrowingPart {
    pub number: u64,
    pub index: u32,
    pub chunks: Pieces,
}

/// What of a part exists past a point in its bytes.
#[derive(Clone, Debug, PartialEq)]
pub struct PartRead {
    /// The bytes past that point, in pieces as they were written.
    pub pieces: Vec<Bytes>,
    /// The part is whole: these are its last bytes.
    pub complete: bool,
    /// Tells two versions of a part apart: see `first_fragment`.
    pub first_fragment: Option<u32>,
}

/// The sequence number (mfhd) of the fragment `data` begins with. A track
/// never repeats one, even when it restarts and numbers a part again, so a
/// reader part way through a part can tell it is still the same part.
fn first_fragment(data: &[u8]) -> Option<u32> {
    // The moof's header (8 bytes), the mfhd's (8), its version and flags (4).
    let sequence: [u8; 4] = data.get(20..24)?.try_into().ok()?;
    Some(u32::from_be_bytes(sequence))
}

#[derive(Clone, Debug)]
pub struct TrackWindow {
    pub kind: TrackKind,
    /// The ladder rung it carries; None for the source's tracks.
    pub rung: Option<usize>,
    /// Its name in URLs: `/live/KEY/{name}/playlist.m3u8`.
    pub name: String,
    pub timescale: u32,
    pub codec: CodecConfig,
    pub inits: BTreeMap<u32, Bytes>,
    /// Shared with the snapshots made before: a snapshot per chunk copies
    /// the list, not the segments.
    pub segments: VecDeque<Arc<WindowSegment>>,
    /// Discontinuities that have slid out of the listed window (EXT-X-DISCONTINUITY-SEQUENCE).
    pub discontinuity_sequence: u64,
    /// Parts of the segment being written, in order.
    pub open_parts: Vec<TrackPart>,
    /// The part after them, while its chunks come in.
    pub growing: Option<GrowingPart>,
    listed: usize,
}

impl TrackWindow {
    fn empty(init: &TrackInit, listed: usize) -> TrackWindow {
        TrackWindow {
            kind: init.kind,
            rung: init.rung,
            name: init.name.clone(),
            timescale: init.config.timescale,
            codec: init.config.codec.clone(),
            inits: BTreeMap::new(),
            segments: VecDeque::new(),
            discontinuity_sequence: 0,
            open_parts: Vec::new(),
            growing: None,
            listed,
        }
    }

    /// The segments playlists list (the newest `listed` ones).
    pub fn listed(&self) -> impl Iterator<Item = &WindowSegment> {
        self.segments.iter().skip(self.segments.len().saturating_sub(self.listed)).map(|s| &**s)
    }

    pub fn segment(&self, number: u64) -> Option<&WindowSegment> {
        // Numbers rise but may skip one (a rung that sat a segment out, audio
        // that ended before the video when a publisher left), so not by offset.
        let index = self.segments.binary_search_by_key(&number, |s| s.number).ok()?;
        Some(&self.segments[index])
    }

    /// A part's bytes: of the segment being written, or a run of a closed one's.
    pub fn part(&self, number: u64, index: u32) -> Option<Pieces> {
        if let Some(part) = self.open_parts.iter().find(|p| p.number == number && p.index == index) {
            return Some(part.data.clone());
        }
        let segment = self.segment(number)?;
        let span = segment.parts.get(index as usize)?;
        segment.data.run(span.first_piece..span.first_piece.checked_add(span.pieces)?)
    }

    /// The bytes of part `index` of segment `number` past `offset`: all of
    /// them when it is whole, the chunks so far while it is being written.
    /// None when neither, or when `offset` is past what exists.
    pub fn read_part(&self, number: u64, index: u32, offset: usize) -> Option<PartRead> {
        let (data, complete) = match self.part(number, index) {
            Some(whole) => (whole, true),
            None => (self.growing.as_ref().filter(|g| g.number == number && g.index == index)?.chunks.clone(), false),
        };
        let pieces = data.after(offset)?;
        Some(PartRead { pieces, complete, first_fragment: data.piece(0).and_then(|first| first_fragment(first)) })
    }

    /// Whether segment `number` is complete: listed, or already past.
    pub fn closed(&self, number: u64) -> bool {
        self.segments.back().is_some_and(|s| s.number >= number)
    }

    /// The newest part: its segment's number and its index.
    pub fn last_part(&self) -> Option<(u64, u32)> {
        if let Some(part) = self.open_parts.last() {
            return Some((part.number, part.index));
        }
        let segment = self.segments.back()?;
        Some((segment.number, segment.parts.len().saturating_sub(1) as u32))
    }

    /// The number of the segment being written (or the next one to be).
    pub fn open_number(&self) -> Option<u64> {
        self.open_parts.first().map(|p| p.number).or_else(|| self.segments.back().map(|s| s.number + 1))
    }

    /// Whether part `index` of segment `number` exists, or something after it does.
    pub fn has_part_or_later(&self, number: u64, index: u32) -> bool {
        match self.last_part() {
            // A part index past a closed segment's last means the next segment's first.
            _ if self.segment(number).is_some_and(|s| index as usize >= s.parts.len()) => self.has_part_or_later(number + 1, 0),
            Some((last_number, last_index)) => last_number > number || (last_number == number && last_index >= index),
            None => false,
        }
    }

    /// Frames per second: from the SPS when it says, else measured over the window.
    pub fn frame_rate(&self) -> Option<f64> {
        if let CodecConfig::H264(h264) = &self.codec
            && h264.frame_rate.is_some()
        {
            return h264.frame_rate;
        }
        let (frames, ticks) = self.segments.iter().fold((0u64, 0i64), |(f, t), s| (f + u64::from(s.samples), t + s.duration));
        if frames < 2 || ticks <= 0 {
            return None;
        }
        let measured = frames as f64 * f64::from(self.timescale) / ticks as f64;
        // Snap to the common rates the measurement is within 1 % of.
        let common = [23.976, 24.0, 25.0, 29.97, 30.0, 48.0, 50.0, 59.94, 60.0];
        Some(common.into_iter().find(|rate| (measured - rate).abs() / rate < 0.01).unwrap_or((measured * 1000.0).round() / 1000.0))
    }

    /// Peak and average bits per second over the retained segments.
    pub fn bandwidth(&self) -> (u64, u64) {
        let mut peak = 0f64;
        let (mut bytes, mut secs) = (0u64, 0f64);
        for segment in &self.segments {
            let duration = segment.duration_secs(self.timescale);
            if duration > 0.0 {
                peak = peak.max(segment.size as f64 * 8.0 / duration);
            }
            bytes += segment.size;
            secs += duration;
        }
        let average = if secs > 0.0 { bytes as f64 * 8.0 / secs } else { 0.0 };
        (peak.ceil() as u64, average.ceil() as u64)
    }
}

#[derive(Clone, Debug)]
pub struct MediaWindow {
    pub listed: usize,
    retained: usize,
    pub video: Option<TrackWindow>,
    pub audio: Option<TrackWindow>,
    /// The ladder's renditions below the source, by rung index (largest first).
    pub rungs: BTreeMap<usize, TrackWindow>,
    pub target_duration: Option<u32>,
    /// LL-HLS part target; None when low latency is off.
    pub part_target_ms: Option<u32>,
    pub periods: Vec<Period>,
    /// DASH availabilityStartTime: wall clock at media time zero.
    pub availability_start: Option<UnixMillis>,
    pub ended: bool,
    /// A recording's window: every segment listed, playlists of type EVENT
    /// while it grows and VOD once it has ended.
    pub recording: bool,
}

impl MediaWindow {
    pub fn new(listed: usize, extra_retained: usize) -> MediaWindow {
        let listed = listed.max(1);
        MediaWindow {
            listed,
            retained: listed + extra_retained,
            video: None,
            audio: None,
            rungs: BTreeMap::new(),
            target_duration: None,
            part_target_ms: None,
            periods: Vec::new(),
            availability_start: None,
            ended: false,
            recording: false,
        }
    }

    /// A recording's window: unbounded, without parts.
    pub fn for_recording() -> MediaWindow {
        MediaWindow { recording: true, ..MediaWindow::new(usize::MAX / 2, 0) }
    }

    /// Drops the media of each track's newest segment, keeping its place
    /// and size: a recording lists every segment but keeps them on disk.
    pub fn forget_newest_media(&mut self) {
        for track in self.video.iter_mut().chain(self.rungs.values_mut()).chain(self.audio.iter_mut()) {
            if let Some(segment) = track.segments.back_mut() {
                Arc::make_mut(segment).data = Pieces::default();
            }
        }
    }

    pub fn track(&self, kind: TrackKind) -> Option<&TrackWindow> {
        match kind {
            TrackKind::Video => self.video.as_ref(),
            TrackKind::Audio => self.audio.as_ref(),
        }
    }

    /// Every rendition: the source video, the rungs below it, then audio.
    pub fn tracks(&self) -> impl Iterator<Item = &TrackWindow> {
        self.video.iter().chain(self.rungs.values()).chain(self.audio.iter())
    }

    /// The video renditions, source first, then the rungs from the largest down.
    pub fn video_renditions(&self) -> impl Iterator<Item = &TrackWindow> {
        self.video.iter().chain(self.rungs.values())
    }

    /// A rung has the source's frame timing; its own SPS may not say the rate.
    pub fn frame_rate(&self, track: &TrackWindow) -> Option<f64> {
        match (track.rung, &self.video) {
            (Some(_), Some(source)) => source.frame_rate().or_else(|| track.frame_rate()),
            _ => track.frame_rate(),
        }
    }

    /// How long the source's video segment `number` lasts: what a rung's hole stands in for.
    pub fn source_duration(&self, number: u64) -> Option<f64> {
        let video = self.video.as_ref()?;
        video.segment(number).map(|s| s.duration_secs(video.timescale))
    }

    /// A rendition by its name in URLs.
    pub fn rendition(&self, name: &str) -> Option<&TrackWindow> {
        self.tracks().find(|t| t.name == name)
    }

    /// A rung was shed or its ladder rebuilt: players stop seeing it. Whether it was listed.
    pub fn remove_rung(&mut self, rung: usize) -> bool {
        self.rungs.remove(&rung).is_some()
    }

    /// The track whose segments define periods and timing: video when present.
    pub fn lead(&self) -> Option<&TrackWindow> {
        self.video.as_ref().or(self.audio.as_ref())
    }

    pub fn has_segments(&self) -> bool {
        self.lead().is_some_and(|t| !t.segments.is_empty())
    }

    pub fn add_init(&mut self, init: TrackInit) {
        let listed = self.listed;
        let track = match (init.kind, init.rung) {
            (_, Some(rung)) => self.rungs.entry(rung).or_insert_with(|| TrackWindow::empty(&init, listed)),
            (TrackKind::Video, None) => self.video.get_or_insert_with(|| TrackWindow::empty(&init, listed)),
            (TrackKind::Audio, None) => self.audio.get_or_insert_with(|| TrackWindow::empty(&init, listed)),
        };
        track.codec = init.config.codec.clone();
        track.inits.insert(init.version, init.data);
    }

    /// Takes in one segmenter event.
    pub fn apply(&mut self, event: SegmenterEvent) {
        match event {
            SegmenterEvent::Init(init) => self.add_init(init),
            SegmenterEvent::Chunk(chunk) => self.add_chunk(chunk),
            SegmenterEvent::Part(part) => self.add_part(part),
            SegmenterEvent::Segment(segment, timing) => self.add_segment(segment, timing),
            SegmenterEvent::TargetDuration(seconds) => self.target_duration = Some(seconds),
        }
    }

    fn track_mut(&mut self, kind: TrackKind, rung: Option<usize>) -> Option<&mut TrackWindow> {
        match (kind, rung) {
            (_, Some(rung)) => self.rungs.get_mut(&rung),
            (TrackKind::Video, None) => self.video.as_mut(),
            (TrackKind::Audio, None) => self.audio.as_mut(),
        }
    }

    pub fn add_chunk(&mut self, chunk: TrackChunk) {
        let Some(track) = self.track_mut(chunk.kind, chunk.rung) else { return };
        let growing = track.growing.get_or_insert_default();
        if (growing.number, growing.index, growing.chunks.len()) != (chunk.number, chunk.index, chunk.offset) {
            // A new part, or one restarted: what came before is not its start.
            *growing = GrowingPart { number: chunk.number, index: chunk.index, chunks: Pieces::default() };
            if chunk.offset != 0 {
                track.growing = None;
                return;
            }
        }
        growing.chunks.push(chunk.data);
    }

    pub fn add_part(&mut self, part: TrackPart) {
        let Some(track) = self.track_mut(part.kind, part.rung) else { return };
        track.growing = None;
        // A first part starts the segment over (a new segment, or one restarted).
        track.open_parts.retain(|p| p.number == part.number && part.index > 0);
        track.open_parts.push(part);
    }

    pub fn add_segment(&mut self, segment: TrackSegment, timing: SegmentTiming) {
        let is_lead = match (segment.kind, segment.rung) {
            (_, Some(_)) => false,
            (TrackKind::Video, None) => true,
            (TrackKind::Audio, None) => self.video.is_none(),
        };
        let media_start = Timestamp::new(segment.start, TimeBase::new(segment.timescale).unwrap_or(TimeBase::MPEG_90K));
        let start_ms = media_start.as_millis();
        if is_lead {
            if self.availability_start.is_none() {
                self.availability_start = Some(UnixMillis(timing.wall_start.0 - start_ms));
            }
            if self.periods.is_empty() || segment.discontinuity {
                self.periods.push(Period { first_number: segment.number, media_start, wall_start: timing.wall_start });
            }
        }
        let retained = self.retained;
        let listed = self.listed;
        let Some(track) = self.track_mut(segment.kind, segment.rung) else { return };
        track.open_parts.retain(|p| p.number > segment.number);
        track.growing = track.growing.take().filter(|g| g.number > segment.number);
        track.segments.push_back(Arc::new(WindowSegment {
            number: segment.number,
            start: segment.start,
            duration: segment.duration,
            discontinuity: segment.discontinuity,
            init_version: segment.init_version,
            wall_start: timing.wall_start,
            samples: segment.samples,
            parts: segment.parts,
            size: segment.data.len() as u64,
            data: segment.data,
        }));
        while track.segments.len() > retained {
            track.segments.pop_front();
        }
        // Discontinuities before the first listed segment count into the sequence number.
        let first_listed = track.segments.len().saturating_sub(listed);
        if let Some(entering_unlisted) = first_listed.checked_sub(1).and_then(|i| track.segments.get(i))
            && entering_unlisted.discontinuity
            && Some(entering_unlisted.number) == first_unlisted_number(track, listed)
        {
            track.discontinuity_sequence += 1;
        }
        let used: Vec<u32> = track.segments.iter().map(|s| s.init_version).collect();
        let newest = track.inits.keys().next_back().copied();
        track.inits.retain(|version, _| used.contains(version) || Some(*version) == newest);
        let oldest_listed = self.lead().and_then(|t| t.listed().next()).map(|s| s.number);
        if let Some(oldest) = oldest_listed {
            // Keep the period containing the oldest listed segment and all later ones.
            let keep_from = self.periods.iter().rposition(|p| p.first_number <= oldest).unwrap_or(0);
            self.periods.drain(..keep_from);
        }
    }
}

/// The newest segment that just left the listed range, if one did on this add.
fn first_unlisted_number(track: &TrackWindow, listed: usize) -> Option<u64> {
    let index = track.segments.len().checked_sub(listed + 1)?;
    track.segments.get(index).map(|s| s.number)
}
