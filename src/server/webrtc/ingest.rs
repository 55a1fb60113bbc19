//! A WHIP publisher's media made the hub's: H.264 access units (Annex B
//! from str0m's depacketizer) become length-prefixed frames with their
//! parameter sets as the stream's configuration, Opus is decoded and
//! encoded to AAC once, and both tracks are put on one timeline by when
//! their first packets arrived. Video that arrives broken is dropped until
//! the next keyframe, which is asked for (PLI), at most once a second.
//! Browsers make keyframes only when asked, so one is asked for each
//! segment target: segments stay the length they are meant to be.

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::opus::{PACKET_SAMPLES, RATE};
use crate::encode::aac::AacEncoder;
use crate::media::codec::CodecConfig;
use crate::media::frame::{EncodedFrame, TrackKind};
use crate::media::h264::{annexb_nal_units, build_avcc, length_prefixed, parse_avcc};
use crate::media::time::{TimeBase, Timestamp};
use crate::server::hub::{PublishError, Publisher};

const NAL_IDR: u8 = 5;
const NAL_SPS: u8 = 7;
const NAL_PPS: u8 = 8;
const NAL_AUD: u8 = 9;
/// Keyframe requests while video is broken: one a second.
const KEYFRAME_ASK_INTERVAL: Duration = Duration::from_secs(1);
/// A gap in the sound longer than this starts its timeline over instead of
/// being concealed.
const MAX_CONCEALED: i64 = RATE as i64 / 2;
/// The AAC the hub gets from a WebRTC publisher's Opus.
const AAC_KBPS: u32 = 128;
const OPUS_BASE: TimeBase = match TimeBase::new(RATE) {
    Some(base) => base,
    None => TimeBase::MICROS,
};

/// What the endpoint should do for this publisher after a frame.
#[derive(Debug, PartialEq, Eq)]
pub enum Wanted {
    Nothing,
    Keyframe,
    /// The hub refused the publisher (another one took the key): close.
    Close(PublishError),
}

pub struct WhipIngest {
    publisher: Publisher,
    started: Instant,
    video: VideoIn,
    audio: Option<AudioIn>,
    /// The stream's tracks are fixed by its first frame: with video coming,
    /// sound waits for the video's configuration.
    video_expected: bool,
    aac: Option<AacEncoder>,
    /// How often a keyframe is wanted: the segment target.
    keyframe_every: Duration,
    last_keyframe: Option<Instant>,
}

#[derive(Default)]
struct VideoIn {
    parameter_sets: Option<(Vec<u8>, Vec<u8>)>,
    /// RTP time → stream time, fixed by the first frame's arrival.
    offset: Option<i64>,
    /// Broken since a gap: frames wait for a keyframe.
    waiting_for_keyframe: bool,
    asked_at: Option<Instant>,
}

struct AudioIn {
    decoder: opus::Decoder,
    encoder: AacEncoder,
    /// RTP time → stream time, fixed by the first packet's arrival.
    offset: i64,
    /// The stream time of the encoder's first input sample.
    origin: i64,
    /// The RTP time the next packet should have.
    expected: Option<i64>,
    pcm: Vec<i16>,
}

impl WhipIngest {
    /// `video` and `audio`: what the answer agreed to receive. The AAC's
    /// configuration is known before any sound (48 kHz stereo), so it is
    /// given to the hub at once, as RTMP's comes before its frames.
    pub fn new(publisher: Publisher, video: bool, audio: bool, keyframe_every: Duration, started: Instant) -> Result<WhipIngest, PublishError> {
        let aac = audio.then(|| AacEncoder::new(AAC_KBPS)).transpose().unwrap_or_else(|error| {
            tracing::warn!(key = publisher.key(), "a WebRTC publisher's sound cannot be transcoded: {error}");
            None
        });
        if let Some(encoder) = &aac {
            publisher.configure(CodecConfig::Aac(encoder.config().clone()))?;
        }
        let video_in = VideoIn { waiting_for_keyframe: true, ..VideoIn::default() };
        Ok(WhipIngest { publisher, started, video: video_in, audio: None, video_expected: video, aac, keyframe_every, last_keyframe: None })
    }

    pub fn key(&self) -> &str {
        self.publisher.key()
    }

    /// Where `arrived` is on this publisher's timeline, in `base` ticks.
    fn since_start(&self, arrived: Instant, base: TimeBase) -> i64 {
        let micros = arrived.saturating_duration_since(self.started).as_micros() as i64;
        Timestamp::new(micros, TimeBase::MICROS).rescale(base).map_or(0, |t| t.value)
    }

    /// One depacketized H.264 access unit at 90 kHz RTP time `rtp`.
    pub fn video(&mut self, annexb: &[u8], rtp: i64, contiguous: bool, arrived: Instant) -> Wanted {
        let units = annexb_nal_units(annexb);
        let kind = |unit: &[u8]| unit.first().map_or(0, |b| b & 0x1f);
        let sps = units.iter().find(|u| kind(u) == NAL_SPS);
        let pps = units.iter().find(|u| kind(u) == NAL_PPS);
        if let (Some(sps), Some(pps)) = (sps, pps) {
            let sets = (sps.to_vec(), pps.to_vec());
            if self.video.parameter_sets.as_ref() != Some(&sets) {
                match build_avcc(sps, pps).and_then(parse_avcc) {
                    Ok(config) => {
                        if let Err(refused) = self.publisher.configure(CodecConfig::H264(config)) {
                            return Wanted::Close(refused);
                        }
                        self.video.parameter_sets = Some(sets);
                    }
                    Err(error) => tracing::warn!(key = self.key(), "a WebRTC publisher's SPS cannot be read: {error}"),
                }
            }
        }
        let keyframe = units.iter().any(|u| kind(u) == NAL_IDR);
        if !contiguous {
            self.video.waiting_for_keyframe = true;
        }
        if self.video.waiting_for_keyframe && !(keyframe && self.video.parameter_sets.is_some()) {
            return self.ask_for_keyframe(arrived);
        }
        self.video.waiting_for_keyframe = false;
        if keyframe {
            self.last_keyframe = Some(arrived);
        }
        let due = self.last_keyframe.is_some_and(|at| arrived.duration_since(at) >= self.keyframe_every);
        let picture: Vec<&[u8]> = units.into_iter().filter(|u| !matches!(kind(u), NAL_SPS | NAL_PPS | NAL_AUD)).collect();
        if picture.is_empty() {
            return Wanted::Nothing;
        }
        let now = self.since_start(arrived, TimeBase::MPEG_90K);
        let offset = *self.video.offset.get_or_insert(now - rtp);
        let time = Timestamp::new(rtp + offset, TimeBase::MPEG_90K);
        let frame = EncodedFrame { kind: TrackKind::Video, dts: time, pts: time, keyframe, data: Bytes::from(length_prefixed(&picture)) };
        match self.push(frame, arrived) {
            Wanted::Nothing if due => self.ask_for_keyframe(arrived),
            wanted => wanted,
        }
    }

    fn ask_for_keyframe(&mut self, now: Instant) -> Wanted {
        if self.video.asked_at.is_some_and(|at| now.duration_since(at) < KEYFRAME_ASK_INTERVAL) {
            return Wanted::Nothing;
        }
        self.video.asked_at = Some(now);
        Wanted::Keyframe
    }

    /// One Opus packet at 48 kHz RTP time `rtp`.
    pub fn audio(&mut self, packet: &[u8], rtp: i64, arrived: Instant) -> Wanted {
        if self.video_expected && self.video.parameter_sets.is_none() {
            return Wanted::Nothing;
        }
        if self.audio.is_none() {
            let Some(encoder) = self.aac.take() else { return Wanted::Nothing };
            match opus::Decoder::new(RATE, opus::Channels::Stereo) {
                Ok(decoder) => {
                    let offset = self.since_start(arrived, OPUS_BASE) - rtp;
                    self.audio = Some(AudioIn { decoder, encoder, offset, origin: rtp + offset, expected: None, pcm: vec![0; 5760 * 2] });
                }
                Err(error) => {
                    tracing::warn!(key = self.key(), "a WebRTC publisher's Opus cannot be decoded: {error}");
                    return Wanted::Nothing;
                }
            }
        }
        let Some(audio) = self.audio.as_mut() else { return Wanted::Nothing };
        let mut decoded = Vec::new();
        match audio.expected.map(|expected| rtp - expected) {
            Some(gap) if !(0..=MAX_CONCEALED).contains(&gap) => {
                // Out of order, or a long silence: the encoder's count starts over here.
                tracing::debug!(key = %self.publisher.key(), gap, "WebRTC sound restarts its timeline");
                match AacEncoder::new(AAC_KBPS) {
                    Ok(encoder) => audio.encoder = encoder,
                    Err(_) => return Wanted::Nothing,
                }
                audio.origin = rtp + audio.offset;
            }
            Some(gap) => {
                // Lost packets: libopus conceals them, keeping the count of samples true.
                for _ in 0..gap / PACKET_SAMPLES as i64 {
                    if let Ok(n) = audio.decoder.decode(&[], &mut audio.pcm, false) {
                        decoded.extend_from_slice(&audio.pcm[..2 * n]);
                    }
                }
            }
            None => {}
        }
        match audio.decoder.decode(packet, &mut audio.pcm, false) {
            Ok(n) => {
                decoded.extend_from_slice(&audio.pcm[..2 * n]);
                audio.expected = Some(rtp + n as i64);
            }
            Err(error) => {
                tracing::debug!(key = %self.publisher.key(), "an Opus packet does not decode: {error}");
                return Wanted::Nothing;
            }
        }
        let frames = match audio.encoder.encode(&decoded) {
            Ok(frames) => frames,
            Err(error) => {
                tracing::debug!(key = %self.publisher.key(), "AAC encoding failed: {error}");
                return Wanted::Nothing;
            }
        };
        let origin = audio.origin;
        for encoded in frames {
            let time = Timestamp::new(origin + encoded.first_sample, OPUS_BASE);
            let frame = EncodedFrame { kind: TrackKind::Audio, dts: time, pts: time, keyframe: true, data: encoded.data };
            if let Wanted::Close(refused) = self.push(frame, arrived) {
                return Wanted::Close(refused);
            }
        }
        Wanted::Nothing
    }

    fn push(&mut self, frame: EncodedFrame, arrived: Instant) -> Wanted {
        match self.publisher.push(frame, arrived) {
            Ok(()) => Wanted::Nothing,
            Err(refused) => Wanted::Close(refused),
        }
    }
}
