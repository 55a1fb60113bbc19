//! One track's open segment: samples waiting for their duration and their segment.

use bytes::Bytes;

use super::fragment::{SampleInfo, write_fragment};
use super::init::{TrackConfig, write_init};
use super::pieces::Pieces;
use crate::media::codec::CodecConfig;
use crate::media::frame::TrackKind;

/// A sample whose duration is known, waiting for its segment to close.
#[derive(Clone, Debug)]
pub struct PendingSample {
    pub dts: i64,
    pub info: SampleInfo,
    pub data: Bytes,
}

/// The newest frame: its duration is known only when the next one arrives.
#[derive(Clone, Debug)]
pub struct HeldFrame {
    pub dts: i64,
    pub composition_offset: i32,
    pub keyframe: bool,
    pub data: Bytes,
}

/// A CMAF chunk of the segment being written: an LL-HLS part. A segment's
/// bytes are its parts' bytes, concatenated.
#[derive(Clone, Debug)]
pub struct TrackPart {
    pub kind: TrackKind,
    /// The ladder rung it belongs to; None for the source's tracks.
    pub rung: Option<usize>,
    /// The media sequence number of the segment it belongs to.
    pub number: u64,
    pub index: u32,
    pub start: i64,
    pub duration: i64,
    /// Starts with a keyframe (audio parts always do).
    pub independent: bool,
    pub init_version: u32,
    pub discontinuity: bool,
    pub data: Pieces,
}

/// The newest bytes of a part still being written: one CMAF chunk (moof +
/// mdat) of the frames finalized since the last. A request for the hinted
/// part streams these as they come, so when the part completes only its
/// last frame is left to send. The part's bytes are its chunks' bytes.
#[derive(Clone, Debug)]
pub struct TrackChunk {
    pub kind: TrackKind,
    pub rung: Option<usize>,
    pub number: u64,
    /// The part it belongs to.
    pub index: u32,
    /// Where it starts in the part's bytes.
    pub offset: usize,
    pub data: Bytes,
}

/// A part of a closed segment, as playlists list it; its bytes are the
/// segment's pieces `first_piece..first_piece + pieces`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PartSpan {
    pub duration: i64,
    pub independent: bool,
    pub first_piece: usize,
    pub pieces: usize,
}

/// A closed segment of one track, ready to list.
#[derive(Clone, Debug)]
pub struct TrackSegment {
    pub kind: TrackKind,
    pub rung: Option<usize>,
    /// The rendition's name in URLs.
    pub name: String,
    pub number: u64,
    /// Decode time of the first sample, in `timescale` ticks.
    pub start: i64,
    pub duration: i64,
    pub timescale: u32,
    pub discontinuity: bool,
    pub init_version: u32,
    pub samples: u32,
    pub parts: Vec<PartSpan>,
    pub data: Pieces,
}

/// A new initialization segment for a track.
#[derive(Clone, Debug)]
pub struct TrackInit {
    pub kind: TrackKind,
    pub rung: Option<usize>,
    /// The rendition's name in URLs: `video`, `audio`, or the rung's name.
    pub name: String,
    pub version: u32,
    pub config: TrackConfig,
    pub data: Bytes,
}

pub struct TrackSegmenter {
    pub kind: TrackKind,
    pub rung: Option<usize>,
    pub name: String,
    pub timescale: u32,
    track_id: u32,
    pub config: CodecConfig,
    pub init_version: u32,
    /// A new configuration that takes effect when the next segment opens.
    pub pending_config: Option<CodecConfig>,
    pub samples: Vec<PendingSample>,
    pub held: Option<HeldFrame>,
    pub segment_start: Option<i64>,
    segment_discontinuity: bool,
    /// The next segment to open follows a discontinuity.
    pub discontinuity_next: bool,
    pub last_duration: i64,
    /// Decode time just past the last finalized sample.
    pub end: Option<i64>,
    /// Samples before this index are already in parts of the open segment.
    part_start: usize,
    parts: Vec<TrackPart>,
    /// Chunks of the open part already handed out, and the index of the
    /// first sample not in one (at least `part_start`).
    chunks: Vec<Bytes>,
    chunk_start: usize,
    fragment_sequence: u32,
}

impl TrackSegmenter {
    pub fn new(kind: TrackKind, track_id: u32, timescale: u32, config: CodecConfig) -> TrackSegmenter {
        let name = match kind {
            TrackKind::Video => "video",
            TrackKind::Audio => "audio",
        };
        TrackSegmenter {
            kind,
            rung: None,
            name: name.to_string(),
            timescale,
            track_id,
            config,
            init_version: 1,
            pending_config: None,
            samples: Vec::new(),
            held: None,
            segment_start: None,
            segment_discontinuity: false,
            discontinuity_next: false,
            last_duration: 0,
            end: None,
            part_start: 0,
            parts: Vec::new(),
            chunks: Vec::new(),
            chunk_start: 0,
            fragment_sequence: 0,
        }
    }

    /// A video track of ladder rung `rung`, named `name` in URLs.
    pub fn for_rung(rung: usize, name: &str, config: CodecConfig) -> TrackSegmenter {
        let mut track = TrackSegmenter::new(TrackKind::Video, 1, super::cuts::VIDEO_TIMESCALE, config);
        track.rung = Some(rung);
        track.name = name.to_string();
        track
    }

    pub fn init(&self) -> TrackInit {
        let config = TrackConfig { track_id: self.track_id, timescale: self.timescale, codec: self.config.clone() };
        let data = write_init(&config);
        TrackInit { kind: self.kind, rung: self.rung, name: self.name.clone(), version: self.init_version, config, data }
    }

    /// Applies a pending configuration; returns the new init when it differs.
    pub fn apply_pending_config(&mut self) -> Option<TrackInit> {
        let config = self.pending_config.take()?;
        if config == self.config {
            return None;
        }
        self.config = config;
        self.init_version += 1;
        self.discontinuity_next = true;
        Some(self.init())
    }

    /// Forgets the open segment and its parts: the stream starts over.
    pub fn restart(&mut self) {
        self.samples.clear();
        self.held = None;
        self.parts.clear();
        self.part_start = 0;
        self.chunks.clear();
        self.chunk_start = 0;
        self.segment_start = None;
        self.end = None;
    }

    /// Gives the held frame its duration and moves it into the open segment.
    pub fn finalize_held(&mut self, duration: i64) {
        if let Some(held) = self.held.take() {
            let duration = duration.clamp(1, i64::from(u32::MAX));
            self.last_duration = duration;
            self.end = Some(held.dts + duration);
            let info =
                SampleInfo { duration: duration as u32, size: held.data.len() as u32, keyframe: held.keyframe, composition_offset: held.composition_offset };
            self.samples.push(PendingSample { dts: held.dts, info, data: held.data });
        }
    }

    /// Holds a new frame, opening a segment if none is open.
    pub fn hold(&mut self, frame: HeldFrame) {
        if self.segment_start.is_none() {
            self.segment_start = Some(self.samples.first().map_or(frame.dts, |s| s.dts));
            self.segment_discontinuity = std::mem::take(&mut self.discontinuity_next);
        }
        self.held = Some(frame);
    }

    /// Decode time elapsed in the open segment up to `dts`.
    pub fn elapsed(&self, dts: i64) -> Option<i64> {
        self.segment_start.map(|start| dts - start)
    }

    /// Decode time elapsed in the open part up to `dts`; None when it holds no sample.
    pub fn part_elapsed(&self, dts: i64) -> Option<i64> {
        self.samples.get(self.part_start).map(|first| dts - first.dts)
    }

    /// One fragment of `samples`, numbered next.
    fn fragment(&mut self, samples: std::ops::Range<usize>) -> Option<(i64, Bytes)> {
        let taken = &self.samples[samples];
        let start = taken.first()?.dts;
        let infos: Vec<SampleInfo> = taken.iter().map(|s| s.info).collect();
        let payload: Vec<&[u8]> = taken.iter().map(|s| &s.data[..]).collect();
        self.fragment_sequence = self.fragment_sequence.wrapping_add(1);
        Some((start, write_fragment(self.fragment_sequence, self.track_id, start.max(0) as u64, &infos, &payload)))
    }

    /// How long the finalized samples of the open part that no chunk holds last.
    pub fn unchunked_duration(&self) -> i64 {
        self.samples[self.chunk_start.max(self.part_start)..].iter().map(|s| i64::from(s.info.duration)).sum()
    }

    /// Hands out the samples finalized since the last chunk as a chunk of
    /// the open part of segment `number`. Only for samples certain to be in
    /// that part: the caller has made every cut due before them.
    pub fn cut_chunk(&mut self, number: u64) -> Option<TrackChunk> {
        let from = self.chunk_start.max(self.part_start);
        let (_, data) = self.fragment(from..self.samples.len())?;
        self.chunk_start = self.samples.len();
        let offset = self.chunks.iter().map(Bytes::len).sum();
        self.chunks.push(data.clone());
        Some(TrackChunk { kind: self.kind, rung: self.rung, number, index: self.parts.len() as u32, offset, data })
    }

    /// Cuts a part of segment `number` from the samples not yet in one that
    /// decode before `before` (all of them when `None`). A part handed out
    /// in chunks ends with a chunk of the rest, so its bytes are the chunks';
    /// samples already in a chunk stay in this part whatever `before` says,
    /// as readers have them.
    pub fn cut_part(&mut self, number: u64, before: Option<i64>) -> Option<TrackPart> {
        let pending = &self.samples[self.part_start..];
        let limit = self.part_start + before.map_or(pending.len(), |limit| pending.iter().position(|s| s.dts >= limit).unwrap_or(pending.len()));
        let chunked_to = self.chunk_start.max(self.part_start);
        let end = if self.chunks.is_empty() { limit } else { limit.max(chunked_to) };
        let taken = &self.samples[self.part_start..end];
        let first = taken.first()?;
        let start = first.dts;
        let independent = first.info.keyframe;
        let duration: i64 = taken.iter().map(|s| i64::from(s.info.duration)).sum();
        let chunks = std::mem::take(&mut self.chunks);
        self.chunk_start = end;
        let rest = self.fragment(if chunks.is_empty() { self.part_start } else { chunked_to }..end).map(|(_, data)| data);
        let data: Pieces = chunks.into_iter().chain(rest).collect();
        let part = TrackPart {
            kind: self.kind,
            rung: self.rung,
            number,
            index: self.parts.len() as u32,
            start,
            duration,
            independent,
            init_version: self.init_version,
            discontinuity: self.segment_discontinuity,
            data,
        };
        self.part_start = end;
        self.parts.push(part.clone());
        Some(part)
    }

    /// Closes the open segment with the samples that decode before `before`
    /// (all of them when `None`); later samples start the next segment. The
    /// last part is cut first and returned with the segment.
    pub fn close(&mut self, number: u64, before: Option<i64>) -> Option<(TrackSegment, Option<TrackPart>)> {
        let last_part = self.cut_part(number, before);
        let rest = self.samples.split_off(self.part_start);
        let taken = std::mem::replace(&mut self.samples, rest);
        let parts = std::mem::take(&mut self.parts);
        self.part_start = 0;
        self.chunk_start = 0;
        let discontinuity = self.segment_discontinuity;
        self.segment_start = None;
        self.segment_discontinuity = false;
        if let Some(first) = self.samples.first() {
            // The leftover samples open the next segment.
            self.segment_start = Some(first.dts);
            self.segment_discontinuity = std::mem::take(&mut self.discontinuity_next);
        } else if let Some(held) = &self.held {
            self.segment_start = Some(held.dts);
            self.segment_discontinuity = std::mem::take(&mut self.discontinuity_next);
        }
        let first = taken.first()?;
        let start = first.dts;
        let duration: i64 = taken.iter().map(|s| i64::from(s.info.duration)).sum();
        let mut spans = Vec::with_capacity(parts.len());
        let mut data = Pieces::default();
        for part in parts {
            spans.push(PartSpan { duration: part.duration, independent: part.independent, first_piece: data.count(), pieces: part.data.count() });
            part.data.into_iter().for_each(|piece| data.push(piece));
        }
        let segment = TrackSegment {
            kind: self.kind,
            rung: self.rung,
            name: self.name.clone(),
            number,
            start,
            duration,
            timescale: self.timescale,
            discontinuity,
            init_version: self.init_version,
            samples: taken.len() as u32,
            parts: spans,
            data,
        };
        Some((segment, last_part))
    }
}
