//! A recording's file, sans I/O: the encoded frames every target gets,
//! as a fragmented MP4 written as it goes, so a crash or a power cut loses
//! at most the last second. A clean stop adds the random-access index
//! (`mfra`) and the movie's duration, so ordinary players seek in it.

use bytes::Bytes;

use super::queue::{Outgoing, OutgoingKind};
use crate::media::codec::{CodecConfig, H264Config};
use crate::media::h264::avcc_parameter_sets;
use crate::media::time::{TimeBase, Timestamp};
use crate::server::package::cmaf::fragment::{SampleInfo, write_fragment};
use crate::server::package::cmaf::init::{TrackConfig, write_movie};
use crate::server::package::cmaf::mp4::BoxWriter;

const VIDEO_TRACK: u32 = 1;
const AUDIO_TRACK: u32 = 2;
const VIDEO_TIMESCALE: u32 = 90_000;
/// Samples an AAC frame holds.
const AAC_FRAME: i64 = 1024;
/// Video waiting this long goes into a fragment at the next keyframe…
const FRAGMENT_AT_KEYFRAME: i64 = 45_000;
/// …or at once, whatever the frame: no more than this is lost in a crash.
const FRAGMENT_AT_MOST: i64 = 90_000;

struct Sample {
    dts: i64,
    composition_offset: i32,
    keyframe: bool,
    data: Bytes,
}

/// One track's samples not yet in a fragment; the newest waits for the
/// next one, which says how long it lasts.
struct Track {
    id: u32,
    timescale: u32,
    ready: Vec<(Sample, u32)>,
    held: Option<Sample>,
    last_duration: i64,
}

impl Track {
    fn new(id: u32, timescale: u32, default_duration: i64) -> Track {
        Track { id, timescale, ready: Vec::new(), held: None, last_duration: default_duration }
    }

    fn push(&mut self, sample: Sample) {
        if let Some(held) = self.held.take() {
            let duration = (sample.dts - held.dts).max(1);
            self.last_duration = duration;
            self.ready.push((held, duration.min(i64::from(u32::MAX)) as u32));
        }
        self.held = Some(sample);
    }

    /// Ticks of the samples ready for a fragment.
    fn ready_span(&self) -> i64 {
        self.ready.iter().map(|(_, d)| i64::from(*d)).sum()
    }

    /// The last sample lasts as long as the one before it.
    fn release_held(&mut self) {
        if let Some(held) = self.held.take() {
            self.ready.push((held, self.last_duration.clamp(1, i64::from(u32::MAX)) as u32));
        }
    }

    /// A fragment of every ready sample: its decode time, whether it starts
    /// with a keyframe, where it ends, and its bytes.
    fn fragment(&mut self, sequence: u32) -> Option<(i64, bool, i64, Bytes)> {
        let first = self.ready.first()?;
        let (base, starts_keyframe) = (first.0.dts.max(0), first.0.keyframe);
        let end = base + self.ready_span();
        let samples: Vec<SampleInfo> = self
            .ready
            .iter()
            .map(|(s, duration)| SampleInfo { duration: *duration, size: s.data.len() as u32, keyframe: s.keyframe, composition_offset: s.composition_offset })
            .collect();
        let payload: Vec<&[u8]> = self.ready.iter().map(|(s, _)| &s.data[..]).collect();
        let bytes = write_fragment(sequence, self.id, base as u64, &samples, &payload);
        self.ready.clear();
        Some((base, starts_keyframe, end, bytes))
    }
}

pub struct Mp4Recording {
    movie: Vec<TrackConfig>,
    video: Option<Track>,
    audio: Option<Track>,
    video_config: Option<H264Config>,
    /// Parameter sets to put in band before the next keyframe: the knob
    /// made a new encoder, whose pictures the header's avcC does not describe.
    in_band: Option<Vec<u8>>,
    /// Capture time of the first frame: media time zero for both tracks.
    origin: Option<Timestamp>,
    /// The next audio frame's decode time, in samples.
    audio_next: Option<i64>,
    sequence: u32,
    /// Bytes of the file so far.
    written: u64,
    /// (decode time, moof offset) of each video fragment that starts with a keyframe.
    random_access: Vec<(i64, u64)>,
    end_ticks: i64,
}

impl Mp4Recording {
    /// A recording of the tracks these configurations describe; its header
    /// is the first thing to write.
    pub fn new(video: Option<H264Config>, audio: Option<crate::media::codec::AacConfig>) -> (Mp4Recording, Bytes) {
        let mut movie = Vec::new();
        if let Some(h264) = &video {
            movie.push(TrackConfig { track_id: VIDEO_TRACK, timescale: VIDEO_TIMESCALE, codec: CodecConfig::H264(h264.clone()) });
        }
        if let Some(aac) = &audio {
            movie.push(TrackConfig { track_id: AUDIO_TRACK, timescale: aac.sample_rate, codec: CodecConfig::Aac(aac.clone()) });
        }
        let header = write_movie(&movie, Some(0));
        let recording = Mp4Recording {
            video: video.as_ref().map(|_| Track::new(VIDEO_TRACK, VIDEO_TIMESCALE, 3000)),
            audio: audio.as_ref().map(|aac| Track::new(AUDIO_TRACK, aac.sample_rate, AAC_FRAME)),
            video_config: video,
            movie,
            in_band: None,
            origin: None,
            audio_next: None,
            sequence: 0,
            written: header.len() as u64,
            random_access: Vec::new(),
            end_ticks: 0,
        };
        (recording, header)
    }

    /// Takes one item of a target's queue; returns the bytes to append, if a fragment closed.
    pub fn push(&mut self, item: &Outgoing) -> Vec<Bytes> {
        let is_media = matches!(item.kind, OutgoingKind::Video { .. } | OutgoingKind::Audio);
        // Configurations carry no capture time of their own.
        let origin = if is_media { *self.origin.get_or_insert(item.dts) } else { self.origin.unwrap_or(item.dts) };
        let since = |time: Timestamp, base: u32| -> i64 {
            let base = TimeBase::new(base).unwrap_or(TimeBase::MPEG_90K);
            match (time.rescale(base), origin.rescale(base)) {
                (Ok(t), Ok(o)) => t.value - o.value,
                _ => 0,
            }
        };
        match &item.kind {
            OutgoingKind::Config(CodecConfig::H264(h264)) => {
                if self.video_config.as_ref().is_some_and(|c| c.avcc != h264.avcc) {
                    let mut sets = Vec::new();
                    for set in avcc_parameter_sets(&h264.avcc) {
                        sets.extend_from_slice(&(set.len() as u32).to_be_bytes());
                        sets.extend_from_slice(set);
                    }
                    self.in_band = Some(sets);
                }
                Vec::new()
            }
            OutgoingKind::Config(CodecConfig::Aac(_)) => Vec::new(),
            OutgoingKind::Video { keyframe, .. } => {
                let Some(video) = &mut self.video else { return Vec::new() };
                let dts = since(item.dts, VIDEO_TIMESCALE);
                let composition_offset = (since(item.pts, VIDEO_TIMESCALE) - dts).clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32;
                let data = match self.in_band.take_if(|_| *keyframe) {
                    Some(mut sets) => {
                        sets.extend_from_slice(&item.data);
                        Bytes::from(sets)
                    }
                    None => item.data.clone(),
                };
                video.push(Sample { dts, composition_offset, keyframe: *keyframe, data });
                let span = video.ready_span();
                if (*keyframe && span >= FRAGMENT_AT_KEYFRAME) || span >= FRAGMENT_AT_MOST {
                    // The keyframe just held starts the next fragment.
                    return self.flush();
                }
                Vec::new()
            }
            OutgoingKind::Audio => {
                let Some(audio) = &mut self.audio else { return Vec::new() };
                let dts = *self.audio_next.get_or_insert_with(|| since(item.dts, audio.timescale).max(0));
                self.audio_next = Some(dts + AAC_FRAME);
                audio.push(Sample { dts, composition_offset: 0, keyframe: true, data: item.data.clone() });
                Vec::new()
            }
        }
    }

    /// A fragment of each track's ready samples.
    fn flush(&mut self) -> Vec<Bytes> {
        let mut out = Vec::new();
        let has_video = self.video.is_some();
        for track in [self.video.as_mut(), self.audio.as_mut()].into_iter().flatten() {
            self.sequence += 1;
            let offset = self.written;
            if let Some((base, starts_keyframe, end, bytes)) = track.fragment(self.sequence) {
                if track.id == VIDEO_TRACK && starts_keyframe {
                    self.random_access.push((base, offset));
                }
                // The lead track (video when there is one) gives the movie's duration.
                if track.id == VIDEO_TRACK || !has_video {
                    self.end_ticks = self.end_ticks.max(end);
                }
                self.written += bytes.len() as u64;
                out.push(bytes);
            }
        }
        out
    }

    /// A clean stop: the last fragments and the index to append, and the
    /// header (with the movie's duration) to write over the first one.
    pub fn finish(&mut self) -> (Vec<Bytes>, Bytes) {
        for track in [self.video.as_mut(), self.audio.as_mut()].into_iter().flatten() {
            track.release_held();
        }
        let mut tail = self.flush();
        let timescale = self.video.as_ref().or(self.audio.as_ref()).map_or(VIDEO_TIMESCALE, |t| t.timescale);
        let duration_ms = (self.end_ticks.max(0) as u64).saturating_mul(1000) / u64::from(timescale.max(1));
        tail.push(self.index());
        (tail, write_movie(&self.movie, Some(duration_ms)))
    }

    /// `mfra`: where each keyframe-led video fragment begins, then `mfro`.
    fn index(&self) -> Bytes {
        let mut w = BoxWriter::with_capacity(64 + self.random_access.len() * 19);
        w.begin(b"mfra");
        w.begin_full(b"tfra", 1, 0).u32(VIDEO_TRACK).u32(0).u32(self.random_access.len() as u32);
        for (time, offset) in &self.random_access {
            // Traf, trun and sample numbers in one byte each: the first of each.
            w.u64(*time as u64).u64(*offset).u8(1).u8(1).u8(1);
        }
        w.end();
        let size = w.position() as u32 + 16;
        w.begin_full(b"mfro", 0, 0).u32(size).end();
        w.end();
        Bytes::from(w.finish())
    }
}
