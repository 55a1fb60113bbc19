//! A WHIP publisher's media made the hub's: H.264 access units (Annex B
//! from str0m's depacketizer) become length-prefixed frames with their
//! parameter sets as the stream's configuration, Opus is decoded and
//! encoded to AAC once, and both tracks are put on one timeline: by when
//! their first packets arrived, then, once the publisher's sender reports
//! pair each track's RTP clock with its wall clock, by those (the sound is
//! moved into place once, with silence or by dropping samples, since the
//! tracks' arrival differs by what each took to encode and send, by more
//! than half a second on a busy machine). Reports that came before a
//! track's first packet are not used: they pair no real RTP time. Video that arrives broken is dropped until
//! the next keyframe, which is asked for (PLI), at most once a second.
//! Browsers make keyframes only when asked, so one is asked for each
//! segment target: segments stay the length they are meant to be.

use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;

use crate::encode::aac::AacEncoder;
use crate::encode::aac_to_opus::{PACKET_SAMPLES, RATE};
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

/// A sound offset from the sender reports smaller than this is left alone.
const SYNC_TOLERANCE: i64 = RATE as i64 / 200;
/// The sound is moved by the reports at most this far: placing by arrival
/// can be off by more than half a second on a busy machine, and a move is
/// once, at the start (silence added or sound dropped).
const MAX_REPORTED_MOVE: i64 = 3 * RATE as i64;
/// The sound is held this long at most for both tracks' sender reports, so
/// that it starts in place; a sender whose reports come later has its sound
/// placed by arrival until then, and moved once they come.
const REPORT_WAIT: Duration = Duration::from_secs(2);

/// A sender report's pairing of a track's RTP time with the sender's wall clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SenderClock {
    pub wall: SystemTime,
    /// The RTP timestamp's 32 bits, at the track's rate.
    pub rtp: u32,
}

impl SenderClock {
    /// The extended RTP time of this report, given a nearby extended time `near`.
    fn extended(self, near: i64) -> i64 {
        near + i64::from((self.rtp.wrapping_sub(near as u32)) as i32)
    }
}

/// The offset (48 kHz) that puts the sound's RTP time `audio_rtp` where
/// the video is at the same wall time: from each track's sender report and
/// the video's RTP time `video_rtp` with its offset onto the stream's timeline.
fn audio_offset_from_reports(video: SenderClock, video_rtp: i64, video_offset: i64, audio: SenderClock, audio_rtp: i64) -> i64 {
    let apart = match audio.wall.duration_since(video.wall) {
        Ok(later) => later.as_micros() as i64,
        Err(earlier) => -(earlier.duration().as_micros() as i64),
    };
    // The video's stream time at the audio report's wall time, at 90 kHz, then 48 kHz.
    let video_at = video.extended(video_rtp) + video_offset + apart * 90 / 1000;
    video_at * i64::from(RATE) / 90_000 - audio.extended(audio_rtp)
}

/// `report` unless it is `stale`, the one that was newest when the track's
/// first packet came: a sender may report before it has sent anything
/// (str0m then pairs RTP time 0 with its clock), and only a report made
/// while media flowed pairs the track's real RTP time with its wall clock.
fn fresh_report(report: Option<SenderClock>, stale: Option<SenderClock>) -> Option<SenderClock> {
    report.filter(|report| Some(*report) != stale)
}

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
    /// The sound's report that came before its first packet (see `fresh_report`).
    stale_audio_report: Option<Option<SenderClock>>,
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
    /// The newest sender report, and the newest frame's RTP time.
    sender: Option<SenderClock>,
    last_rtp: i64,
    /// The report that came before the first frame (see `fresh_report`).
    stale_report: Option<Option<SenderClock>>,
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
    /// Put by the sender reports yet (else by arrival).
    reported: bool,
    /// Samples to move the sound by: silence to add (positive) or sound to drop.
    shift: i64,
    /// Decoded sound held for the reports, from the first packet's arrival on (at most REPORT_WAIT).
    held: Vec<i16>,
    first_arrival: Instant,
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
        Ok(WhipIngest {
            publisher,
            started,
            video: video_in,
            audio: None,
            stale_audio_report: None,
            video_expected: video,
            aac,
            keyframe_every,
            last_keyframe: None,
        })
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
    pub fn video(&mut self, annexb: &[u8], rtp: i64, contiguous: bool, arrived: Instant, sender: Option<SenderClock>) -> Wanted {
        let stale = *self.video.stale_report.get_or_insert(sender);
        self.video.sender = fresh_report(sender, stale).or(self.video.sender);
        self.video.last_rtp = rtp;
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
    pub fn audio(&mut self, packet: &[u8], rtp: i64, arrived: Instant, sender: Option<SenderClock>) -> Wanted {
        let stale_audio = *self.stale_audio_report.get_or_insert(sender);
        if self.video_expected && self.video.parameter_sets.is_none() {
            return Wanted::Nothing;
        }
        if self.audio.is_none() {
            let Some(encoder) = self.aac.take() else { return Wanted::Nothing };
            match opus::Decoder::new(RATE, opus::Channels::Stereo) {
                Ok(decoder) => {
                    let offset = self.since_start(arrived, OPUS_BASE) - rtp;
                    self.audio = Some(AudioIn {
                        decoder,
                        encoder,
                        offset,
                        origin: rtp + offset,
                        expected: None,
                        pcm: vec![0; 5760 * 2],
                        reported: false,
                        shift: 0,
                        held: Vec::new(),
                        first_arrival: arrived,
                    });
                }
                Err(error) => {
                    tracing::warn!(key = self.key(), "a WebRTC publisher's Opus cannot be decoded: {error}");
                    return Wanted::Nothing;
                }
            }
        }
        let Some(audio) = self.audio.as_mut() else { return Wanted::Nothing };
        if !audio.reported
            && let (Some(video_report), Some(video_offset), Some(audio_report)) = (self.video.sender, self.video.offset, fresh_report(sender, stale_audio))
        {
            let wanted = audio_offset_from_reports(video_report, self.video.last_rtp, video_offset, audio_report, rtp);
            let shift = wanted - audio.offset;
            let shift_ms = shift * 1000 / i64::from(RATE);
            if shift.abs() >= MAX_REPORTED_MOVE {
                tracing::warn!(key = %self.publisher.key(), shift_ms, "a WebRTC publisher's sender reports put its sound too far from where it arrived to move it; it stays where it arrived");
            } else if shift.abs() > SYNC_TOLERANCE {
                tracing::info!(key = %self.publisher.key(), shift_ms, "WebRTC sound moved into place by the sender reports");
                audio.shift = shift;
                audio.offset = wanted;
            }
            audio.reported = true;
        }
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
                audio.held.clear();
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
        if !audio.reported && arrived.duration_since(audio.first_arrival) < REPORT_WAIT {
            audio.held.extend_from_slice(&decoded);
            return Wanted::Nothing;
        }
        if !audio.held.is_empty() {
            decoded.splice(0..0, std::mem::take(&mut audio.held));
        }
        if audio.shift > 0 {
            decoded.splice(0..0, std::iter::repeat_n(0i16, 2 * audio.shift as usize));
            audio.shift = 0;
        } else if audio.shift < 0 {
            let dropped = (2 * audio.shift.unsigned_abs() as usize).min(decoded.len());
            decoded.drain(..dropped);
            audio.shift += (dropped / 2) as i64;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn report(wall_ms: u64, rtp: u32) -> SenderClock {
        SenderClock { wall: SystemTime::UNIX_EPOCH + Duration::from_millis(wall_ms), rtp }
    }

    #[test]
    fn sender_reports_put_the_sound_at_the_pictures_wall_time() {
        // Video RTP 9_000 was at wall 10 s and sits at stream time 0 (offset -9_000).
        let video = report(10_000, 9_000);
        // Audio RTP 4_800 was at wall 10.5 s: it belongs half a second into the stream.
        let audio = report(10_500, 4_800);
        let offset = audio_offset_from_reports(video, 9_000, -9_000, audio, 4_800);
        assert_eq!(4_800 + offset, 24_000);
        // The same across the 32-bit wrap of either clock, from extended times nearby.
        let wrapped_video = report(10_000, 9_000u32.wrapping_sub(20_000));
        let near = (1i64 << 32) + 9_000 - 20_000 + 900;
        let offset = audio_offset_from_reports(wrapped_video, near, -(near - 900), audio, 4_800);
        assert_eq!(4_800 + offset, 24_000);
    }
}
