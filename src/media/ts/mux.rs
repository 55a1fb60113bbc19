//! A sans-IO MPEG-TS muxer for H.264 + AAC: frames in, 188-byte packets out.
//!
//! PAT and PMT go before every keyframe, PCR rides on the video PID, each
//! access unit starts with an AUD and keyframes carry SPS and PPS.

use super::psi::{ProgramMap, write_pat, write_pmt};
use super::{PACKET_SIZE, STREAM_TYPE_AAC_ADTS, STREAM_TYPE_H264, SYNC_BYTE};
use crate::media::h264::append_annexb;

pub const PMT_PID: u16 = 0x1000;
pub const VIDEO_PID: u16 = 0x100;
pub const AUDIO_PID: u16 = 0x101;
/// The decoder buffers this much before presenting; PCR runs this far ahead of DTS.
const PCR_LEAD_90K: u64 = 9_000;

pub struct TsMuxer {
    has_video: bool,
    has_audio: bool,
    continuity: [u8; 4],
}

impl TsMuxer {
    pub fn new(has_video: bool, has_audio: bool) -> TsMuxer {
        TsMuxer { has_video, has_audio, continuity: [0; 4] }
    }

    fn counter(&mut self, pid: u16) -> u8 {
        let slot = match pid {
            0 => 0,
            PMT_PID => 1,
            VIDEO_PID => 2,
            _ => 3,
        };
        let value = self.continuity[slot];
        self.continuity[slot] = (value + 1) & 0x0f;
        value
    }

    pub fn write_tables(&mut self, out: &mut Vec<u8>) {
        let mut streams = Vec::new();
        if self.has_video {
            streams.push((STREAM_TYPE_H264, VIDEO_PID));
        }
        if self.has_audio {
            streams.push((STREAM_TYPE_AAC_ADTS, AUDIO_PID));
        }
        let pcr_pid = if self.has_video { VIDEO_PID } else { AUDIO_PID };
        self.write_section(0, &write_pat(PMT_PID), out);
        self.write_section(PMT_PID, &write_pmt(&ProgramMap { pcr_pid, streams }), out);
    }

    fn write_section(&mut self, pid: u16, section: &[u8], out: &mut Vec<u8>) {
        let mut packet = [0xffu8; PACKET_SIZE];
        packet[0] = SYNC_BYTE;
        packet[1] = 0x40 | (pid >> 8) as u8;
        packet[2] = pid as u8;
        packet[3] = 0x10 | self.counter(pid);
        packet[4] = 0; // pointer field
        let len = section.len().min(PACKET_SIZE - 5);
        packet[5..5 + len].copy_from_slice(&section[..len]);
        out.extend_from_slice(&packet);
    }

    /// One access unit as Annex-B; AUD and (for keyframes) SPS/PPS are added here.
    pub fn write_video(&mut self, pts: u64, dts: u64, keyframe: bool, parameter_sets: &[&[u8]], units: &[&[u8]], out: &mut Vec<u8>) {
        if keyframe {
            self.write_tables(out);
        }
        let mut elementary = vec![0, 0, 0, 1, 0x09, 0xf0];
        if keyframe {
            append_annexb(&mut elementary, parameter_sets.iter().copied());
        }
        append_annexb(&mut elementary, units.iter().copied());
        let pes = pes_packet(0xe0, pts, Some(dts), &elementary);
        self.write_pes(VIDEO_PID, &pes, Some(dts.saturating_sub(PCR_LEAD_90K)), keyframe, out);
    }

    /// One ADTS frame (header included).
    pub fn write_audio(&mut self, pts: u64, adts_frame: &[u8], out: &mut Vec<u8>) {
        let pes = pes_packet(0xc0, pts, None, adts_frame);
        let pcr = (!self.has_video).then(|| pts.saturating_sub(PCR_LEAD_90K));
        self.write_pes(AUDIO_PID, &pes, pcr, false, out);
    }

    fn write_pes(&mut self, pid: u16, pes: &[u8], pcr: Option<u64>, random_access: bool, out: &mut Vec<u8>) {
        let mut rest = pes;
        let mut first = true;
        while !rest.is_empty() {
            let mut packet = [0xffu8; PACKET_SIZE];
            packet[0] = SYNC_BYTE;
            packet[1] = if first { 0x40 } else { 0 } | (pid >> 8) as u8;
            packet[2] = pid as u8;
            let counter = self.counter(pid);
            // Adaptation field: PCR and random-access flag on the first packet, stuffing on the last.
            let mut adaptation = Vec::new();
            if first && (pcr.is_some() || random_access) {
                let mut flags = 0u8;
                if random_access {
                    flags |= 0x40;
                }
                adaptation.push(flags);
                if let Some(pcr) = pcr {
                    adaptation[0] |= 0x10;
                    let base = pcr & ((1 << 33) - 1);
                    adaptation.extend_from_slice(&[
                        (base >> 25) as u8,
                        (base >> 17) as u8,
                        (base >> 9) as u8,
                        (base >> 1) as u8,
                        ((base & 1) << 7) as u8 | 0x7e,
                        0,
                    ]);
                }
            }
            let room = PACKET_SIZE - 4 - if adaptation.is_empty() { 0 } else { 1 + adaptation.len() };
            let take = rest.len().min(room);
            if take < room {
                // Stuff the adaptation field so the payload ends the packet.
                let stuffing = room - take;
                if adaptation.is_empty() {
                    if stuffing == 1 {
                        adaptation = Vec::new();
                    } else {
                        adaptation.push(0);
                        adaptation.extend(std::iter::repeat_n(0xff, stuffing - 2));
                    }
                    // With no flags byte needed, a single byte of stuffing is an empty field.
                    if stuffing == 1 {
                        packet[3] = 0x30 | counter;
                        packet[4] = 0;
                        packet[5..5 + take].copy_from_slice(&rest[..take]);
                        out.extend_from_slice(&packet);
                        rest = &rest[take..];
                        first = false;
                        continue;
                    }
                } else {
                    adaptation.extend(std::iter::repeat_n(0xff, stuffing));
                }
            }
            let mut at = 4;
            if adaptation.is_empty() {
                packet[3] = 0x10 | counter;
            } else {
                packet[3] = 0x30 | counter;
                packet[4] = adaptation.len() as u8;
                packet[5..5 + adaptation.len()].copy_from_slice(&adaptation);
                at = 5 + adaptation.len();
            }
            packet[at..at + take].copy_from_slice(&rest[..take]);
            out.extend_from_slice(&packet);
            rest = &rest[take..];
            first = false;
        }
    }
}

fn pes_packet(stream_id: u8, pts: u64, dts: Option<u64>, payload: &[u8]) -> Vec<u8> {
    let header_data = if dts.is_some() { 10 } else { 5 };
    let length = 3 + header_data + payload.len();
    let mut pes = Vec::with_capacity(9 + header_data + payload.len());
    pes.extend_from_slice(&[0, 0, 1, stream_id]);
    // Video PES may exceed 65535 bytes: length 0 means unbounded.
    let length_field = if length > 0xffff { 0 } else { length as u16 };
    pes.extend_from_slice(&length_field.to_be_bytes());
    pes.push(0x80);
    pes.push(if dts.is_some() { 0xc0 } else { 0x80 });
    pes.push(header_data as u8);
    write_timestamp(&mut pes, if dts.is_some() { 0x3 } else { 0x2 }, pts);
    if let Some(dts) = dts {
        write_timestamp(&mut pes, 0x1, dts);
    }
    pes.extend_from_slice(payload);
    pes
}

fn write_timestamp(out: &mut Vec<u8>, marker: u8, value: u64) {
    let value = value & ((1 << 33) - 1);
    out.push((marker << 4) | (((value >> 30) as u8 & 0x07) << 1) | 1);
    out.push((value >> 22) as u8);
    out.push((((value >> 15) as u8) << 1) | 1);
    out.push((value >> 7) as u8);
    out.push(((value as u8) << 1) | 1);
}

#[cfg(test)]
mod tests {
    use super::super::demux::{TsDemuxer, TsEvent};
    use super::*;
    use crate::media::aac::adts_header;
    use crate::media::codec::CodecConfig;

    const SPS: [u8; 24] =
        [0x67, 0x42, 0xc0, 0x0d, 0xd9, 0x01, 0x41, 0xfb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00, 0x00, 0x03, 0x03, 0xc0, 0xf1, 0x42, 0xa4, 0x80];
    const PPS: [u8; 4] = [0x68, 0xcb, 0x83, 0xcb];

    fn stream(frames: u64) -> Vec<u8> {
        let mut muxer = TsMuxer::new(true, true);
        let config = crate::media::aac::parse_asc(bytes::Bytes::from_static(&[0x11, 0x90])).unwrap();
        let mut out = Vec::new();
        for i in 0..frames {
            let keyframe = i % 30 == 0;
            // Picture sizes vary so packets split at every boundary.
            let picture: Vec<u8> =
                std::iter::once(if keyframe { 0x65 } else { 0x41 }).chain((0..(i as usize * 37) % 900 + 1).map(|b| (b % 251) as u8 | 1)).collect();
            let dts = 90_000 + i * 3000;
            muxer.write_video(dts + 6000, dts, keyframe, &[&SPS, &PPS], &[&picture], &mut out);
            let raw = vec![0x21u8; 200 + i as usize % 50];
            let mut adts = adts_header(&config, raw.len()).unwrap().to_vec();
            adts.extend_from_slice(&raw);
            muxer.write_audio(dts, &adts, &mut out);
        }
        out
    }

    #[test]
    fn muxed_frames_demux_back_with_their_timestamps() {
        let ts = stream(60);
        assert_eq!(ts.len() % PACKET_SIZE, 0);
        let mut demuxer = TsDemuxer::default();
        // Feed in SRT-sized payloads of 7 packets.
        let mut events: Vec<TsEvent> = ts.chunks(7 * PACKET_SIZE).flat_map(|chunk| demuxer.push(chunk).unwrap()).collect();
        events.extend(demuxer.flush());
        let configs = events.iter().filter(|e| matches!(e, TsEvent::Config(_))).count();
        assert_eq!(configs, 2);
        let video: Vec<_> = events
            .iter()
            .filter_map(|e| match e {
                TsEvent::Frame(f) if f.kind == crate::media::frame::TrackKind::Video => Some(f),
                _ => None,
            })
            .collect();
        assert_eq!(video.len(), 60);
        assert_eq!(video[1].dts.value, 93_000);
        assert_eq!(video[1].pts.value - video[1].dts.value, 6000);
        assert!(video[0].keyframe && !video[1].keyframe);
        let audio = events.iter().filter(|e| matches!(e, TsEvent::Frame(f) if f.kind == crate::media::frame::TrackKind::Audio)).count();
        assert_eq!(audio, 60);
        assert!(events.iter().any(|e| matches!(e, TsEvent::Config(CodecConfig::H264(h)) if h.width == 320)));
        assert_eq!(demuxer.stats.continuity_errors, 0);
    }

    #[test]
    fn lost_packets_drop_damaged_frames_and_video_resumes_at_a_keyframe() {
        let ts = stream(120);
        let packets: Vec<&[u8]> = ts.chunks(PACKET_SIZE).collect();
        for seed in 1..40u64 {
            let mut state = seed;
            let kept: Vec<u8> = packets
                .iter()
                .filter(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state % 50 != 0
                })
                .flat_map(|p| p.iter().copied())
                .collect();
            let mut demuxer = TsDemuxer::default();
            let mut events = demuxer.push(&kept).unwrap();
            events.extend(demuxer.flush());
            let video: Vec<_> = events
                .iter()
                .filter_map(|e| match e {
                    TsEvent::Frame(f) if f.kind == crate::media::frame::TrackKind::Video => Some(f),
                    _ => None,
                })
                .collect();
            // After any loss, the next frame handed on is a keyframe.
            if let Some(first) = video.first() {
                assert!(first.keyframe);
            }
            assert!(demuxer.stats.continuity_errors > 0 || kept.len() == ts.len());
            assert!(video.len() < 120 || kept.len() == ts.len());
        }
    }
}
