//! A sans-IO MPEG-TS demuxer for H.264 + AAC (ADTS): bytes in, configs and frames out.
//!
//! Loss-tolerant: a continuity-counter gap marks the PES being assembled as
//! damaged; it is dropped and counted, and video resumes at the next keyframe.

use std::collections::HashMap;

use bytes::Bytes;

use super::psi::{parse_pat, parse_pmt};
use super::{PACKET_SIZE, STREAM_TYPE_AAC_ADTS, STREAM_TYPE_H264, SYNC_BYTE};
use crate::media::aac::{AdtsHeader, parse_asc};
use crate::media::codec::{AacConfig, CodecConfig, H264Config};
use crate::media::frame::{EncodedFrame, TrackKind};
use crate::media::h264::{annexb_nal_units, build_avcc, length_prefixed, parse_avcc};
use crate::media::time::{TimeBase, Timestamp, WrapExtender};

/// A PES larger than this is garbage, not video.
const MAX_PES_BYTES: usize = 16 << 20;

#[derive(Debug, PartialEq)]
pub enum TsEvent {
    Config(CodecConfig),
    Frame(EncodedFrame),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TsError {
    #[error("the transport stream carries stream type 0x{0:02x}, which is not H.264 or AAC; publish H.264 + AAC")]
    UnsupportedStream(u8),
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TsStats {
    pub packets: u64,
    pub continuity_errors: u64,
    pub frames_dropped: u64,
    pub resyncs: u64,
    /// Frames dropped because their clock leapt implausibly far ahead.
    pub timestamp_jumps: u64,
}

#[derive(Default)]
struct Pes {
    data: Vec<u8>,
    damaged: bool,
    started: bool,
}

pub struct TsDemuxer {
    pending: Vec<u8>,
    pmt_pid: Option<u16>,
    video_pid: Option<u16>,
    audio_pid: Option<u16>,
    continuity: HashMap<u16, u8>,
    pes: HashMap<u16, Pes>,
    video_clock: WrapExtender,
    audio_clock: WrapExtender,
    h264: Option<H264Config>,
    sps: Option<Vec<u8>>,
    pps: Option<Vec<u8>>,
    aac: Option<AacConfig>,
    waiting_for_keyframe: bool,
    /// Frames held until every stream the PMT lists has its configuration,
    /// so the packager learns all tracks before the first frame.
    held: Vec<TsEvent>,
    released: bool,
    pub stats: TsStats,
}

/// Frames held at most while waiting for a listed stream's configuration.
const MAX_HELD_FRAMES: usize = 600;

impl Default for TsDemuxer {
    fn default() -> Self {
        TsDemuxer {
            pending: Vec::new(),
            pmt_pid: None,
            video_pid: None,
            audio_pid: None,
            continuity: HashMap::new(),
            pes: HashMap::new(),
            video_clock: WrapExtender::mpeg_ts(),
            audio_clock: WrapExtender::mpeg_ts(),
            h264: None,
            sps: None,
            pps: None,
            aac: None,
            waiting_for_keyframe: true,
            held: Vec::new(),
            released: false,
            stats: TsStats::default(),
        }
    }
}

impl TsDemuxer {
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<TsEvent>, TsError> {
        self.pending.extend_from_slice(bytes);
        let mut events = Vec::new();
        let mut offset = 0;
        while self.pending.len() - offset >= PACKET_SIZE {
            if self.pending[offset] != SYNC_BYTE {
                // Lost alignment: find the next sync byte.
                self.stats.resyncs += 1;
                offset += 1;
                continue;
            }
            let packet: [u8; PACKET_SIZE] = self.pending[offset..offset + PACKET_SIZE].try_into().unwrap_or([0; PACKET_SIZE]);
            offset += PACKET_SIZE;
            self.packet(&packet, &mut events)?;
        }
        self.pending.drain(..offset);
        Ok(self.gate(events))
    }

    fn gate(&mut self, events: Vec<TsEvent>) -> Vec<TsEvent> {
        if self.released {
            return events;
        }
        let (configs, frames): (Vec<_>, Vec<_>) = events.into_iter().partition(|e| matches!(e, TsEvent::Config(_)));
        self.held.extend(frames);
        let listed = self.video_pid.is_some() || self.audio_pid.is_some();
        let configured = (self.video_pid.is_none() || self.h264.is_some()) && (self.audio_pid.is_none() || self.aac.is_some());
        let mut out = configs;
        if (listed && configured) || self.held.len() > MAX_HELD_FRAMES {
            self.released = true;
            out.append(&mut self.held);
        }
        out
    }

    /// The end of the stream: completes the PES units still being assembled.
    pub fn flush(&mut self) -> Vec<TsEvent> {
        let mut events = Vec::new();
        for pid in [self.video_pid, self.audio_pid].into_iter().flatten() {
            if let Some(pes) = self.pes.remove(&pid) {
                // Without a declared length, the last unit cannot be known to be whole.
                if declared_length(&pes.data).is_some_and(|length| length > 0) {
                    self.finish_pes(pid, pes, &mut events);
                } else {
                    self.stats.frames_dropped += 1;
                }
            }
        }
        self.released = true;
        let mut out = std::mem::take(&mut self.held);
        out.extend(events);
        out
    }

    fn packet(&mut self, packet: &[u8; PACKET_SIZE], events: &mut Vec<TsEvent>) -> Result<(), TsError> {
        self.stats.packets += 1;
        let transport_error = packet[1] & 0x80 != 0;
        let unit_start = packet[1] & 0x40 != 0;
        let pid = u16::from_be_bytes([packet[1] & 0x1f, packet[2]]);
        let adaptation = (packet[3] >> 4) & 0b11;
        let counter = packet[3] & 0x0f;
        if transport_error || pid == 0x1fff {
            return Ok(());
        }
        let payload_start = match adaptation {
            0b01 => 4,
            0b11 => 5 + usize::from(packet[4]),
            _ => return Ok(()),
        };
        let Some(payload) = packet.get(payload_start..) else { return Ok(()) };
        if let Some(previous) = self.continuity.insert(pid, counter)
            && (previous + 1) & 0x0f != counter
            && previous != counter
        {
            self.stats.continuity_errors += 1;
            if let Some(pes) = self.pes.get_mut(&pid) {
                pes.damaged = true;
            }
        }
        if pid == 0 {
            if unit_start {
                let pointer = usize::from(*payload.first().unwrap_or(&0));
                if let Some(pmt) = payload.get(1 + pointer..).and_then(parse_pat) {
                    self.pmt_pid = Some(pmt);
                }
            }
        } else if Some(pid) == self.pmt_pid {
            if unit_start {
                let pointer = usize::from(*payload.first().unwrap_or(&0));
                if let Some(map) = payload.get(1 + pointer..).and_then(parse_pmt) {
                    for (stream_type, stream_pid) in map.streams {
                        match stream_type {
                            STREAM_TYPE_H264 => self.video_pid = Some(stream_pid),
                            STREAM_TYPE_AAC_ADTS => self.audio_pid = Some(stream_pid),
                            // Private data and metadata streams are ignored; other media is refused.
                            0x06 | 0x15 | 0x86 => {}
                            other => return Err(TsError::UnsupportedStream(other)),
                        }
                    }
                }
            }
        } else if Some(pid) == self.video_pid || Some(pid) == self.audio_pid {
            if unit_start {
                if let Some(done) = self.pes.remove(&pid) {
                    self.finish_pes(pid, done, events);
                }
                self.pes.insert(pid, Pes { data: payload.to_vec(), damaged: false, started: true });
            } else if let Some(pes) = self.pes.get_mut(&pid) {
                if pes.data.len() + payload.len() > MAX_PES_BYTES {
                    pes.damaged = true;
                } else {
                    pes.data.extend_from_slice(payload);
                }
            }
        }
        Ok(())
    }

    fn finish_pes(&mut self, pid: u16, pes: Pes, events: &mut Vec<TsEvent>) {
        let is_video = Some(pid) == self.video_pid;
        let truncated = declared_length(&pes.data).is_some_and(|length| length > 0 && pes.data.len() < 6 + length);
        if pes.damaged || !pes.started || truncated {
            self.stats.frames_dropped += 1;
            if is_video {
                self.waiting_for_keyframe = true;
            }
            return;
        }
        let Some((pts, dts, body)) = parse_pes(&pes.data) else {
            self.stats.frames_dropped += 1;
            return;
        };
        if is_video {
            self.video(pts, dts, body, events);
        } else {
            self.audio(pts, body, events);
        }
    }

    /// A PES timestamp on the extended 90 kHz timeline; `None` (counted)
    /// when the extender refuses it as an absurd jump.
    fn extend(&mut self, track: TrackKind, raw: u64) -> Option<Timestamp> {
        let clock = match track {
            TrackKind::Video => &mut self.video_clock,
            TrackKind::Audio => &mut self.audio_clock,
        };
        match clock.extend(raw) {
            Ok(time) => Some(time),
            Err(_) => {
                self.stats.timestamp_jumps += 1;
                self.stats.frames_dropped += 1;
                None
            }
        }
    }

    fn video(&mut self, pts: u64, dts: u64, body: &[u8], events: &mut Vec<TsEvent>) {
        let Some(dts) = self.extend(TrackKind::Video, dts) else { return };
        // pts never precedes dts: the offset is taken modulo the 33-bit wrap.
        let pts = Timestamp::new(dts.value + (pts as i64 - dts.value).rem_euclid(1 << 33).min(90_000 * 10), dts.base);
        let mut keyframe = false;
        let mut picture = Vec::new();
        for unit in annexb_nal_units(body) {
            match unit[0] & 0x1f {
                7 => self.sps = Some(unit.to_vec()),
                8 => self.pps = Some(unit.to_vec()),
                9 => {}
                kind => {
                    keyframe |= kind == 5;
                    picture.push(unit);
                }
            }
        }
        if let (Some(sps), Some(pps)) = (&self.sps, &self.pps)
            && let Ok(config) = build_avcc(sps, pps).and_then(parse_avcc)
            && self.h264.as_ref() != Some(&config)
        {
            self.h264 = Some(config.clone());
            events.push(TsEvent::Config(CodecConfig::H264(config)));
        }
        if picture.is_empty() || self.h264.is_none() || (self.waiting_for_keyframe && !keyframe) {
            if !picture.is_empty() {
                self.stats.frames_dropped += 1;
            }
            return;
        }
        self.waiting_for_keyframe = false;
        events.push(TsEvent::Frame(EncodedFrame { kind: TrackKind::Video, dts, pts, keyframe, data: Bytes::from(length_prefixed(&picture)) }));
    }

    fn audio(&mut self, pts: u64, body: &[u8], events: &mut Vec<TsEvent>) {
        let Some(pts) = self.extend(TrackKind::Audio, pts) else { return };
        let mut rest = body;
        // The PES's frames follow its pts by exactly 1024 samples each.
        let mut samples = 0i64;
        while let Some(header) = AdtsHeader::parse(rest) {
            let Some(frame) = rest.get(header.header_length..header.frame_length) else { break };
            if let Ok(config) = parse_asc(header.audio_specific_config())
                && self.aac.as_ref() != Some(&config)
            {
                self.aac = Some(config.clone());
                events.push(TsEvent::Config(CodecConfig::Aac(config)));
            }
            if let Some(config) = &self.aac
                && let Some(rate) = TimeBase::new(config.sample_rate)
                && let Ok(time) = pts.checked_add(Timestamp::new(samples, rate))
            {
                events.push(TsEvent::Frame(EncodedFrame { kind: TrackKind::Audio, dts: time, pts: time, keyframe: true, data: Bytes::copy_from_slice(frame) }));
                samples += 1024;
            }
            rest = &rest[header.frame_length..];
        }
    }
}

/// PES_packet_length: bytes after the length field, 0 for "unbounded".
fn declared_length(data: &[u8]) -> Option<usize> {
    Some(usize::from(u16::from_be_bytes([*data.get(4)?, *data.get(5)?])))
}

/// (pts, dts, payload) of a PES packet; dts equals pts when absent.
fn parse_pes(data: &[u8]) -> Option<(u64, u64, &[u8])> {
    if data.get(..3)? != [0, 0, 1] {
        return None;
    }
    let flags = *data.get(7)?;
    let header_length = usize::from(*data.get(8)?);
    let timestamp = |at: usize| -> Option<u64> {
        let b = data.get(at..at + 5)?;
        Some((u64::from(b[0] >> 1 & 0x07) << 30) | (u64::from(b[1]) << 22) | (u64::from(b[2] >> 1) << 15) | (u64::from(b[3]) << 7) | u64::from(b[4] >> 1))
    };
    let pts = if flags & 0x80 != 0 { timestamp(9)? } else { return None };
    let dts = if flags & 0x40 != 0 { timestamp(14)? } else { pts };
    let end = match declared_length(data)? {
        0 => data.len(),
        length => (6 + length).min(data.len()),
    };
    Some((pts, dts, data.get(9 + header_length..end)?))
}
