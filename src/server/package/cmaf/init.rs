//! CMAF initialization segments (ftyp + moov) for one track, and the
//! header of a recording's file with several.

use bytes::Bytes;

use super::mp4::{BoxWriter, UNITY_MATRIX};
use crate::media::codec::{AacConfig, CodecConfig, H264Config};

/// Everything an init segment says about its one track.
#[derive(Clone, Debug, PartialEq)]
pub struct TrackConfig {
    pub track_id: u32,
    pub timescale: u32,
    pub codec: CodecConfig,
}

pub fn write_init(track: &TrackConfig) -> Bytes {
    write_movie(std::slice::from_ref(track), None)
}

/// The `ftyp` + `moov` of a file with several tracks (a recording). With a
/// `duration` in milliseconds, mvhd and mehd say how long the movie is: the
/// bytes are as long whatever the duration, so a recording writes them
/// with 0 first and over themselves once it knows.
pub fn write_movie(tracks: &[TrackConfig], duration: Option<u64>) -> Bytes {
    let mut w = BoxWriter::with_capacity(1024 * tracks.len().max(1));
    w.begin(b"ftyp").bytes(b"iso6").u32(0).bytes(b"iso6").bytes(b"cmfc").bytes(b"mp41").end();
    w.begin(b"moov");
    let next_track_id = tracks.iter().map(|t| t.track_id).max().unwrap_or(0) + 1;
    write_mvhd(&mut w, next_track_id, duration.map_or(0, |ms| ms.min(u64::from(u32::MAX)) as u32));
    for track in tracks {
        write_trak(&mut w, track);
    }
    w.begin(b"mvex");
    if let Some(ms) = duration {
        w.begin_full(b"mehd", 1, 0).u64(ms).end();
    }
    for track in tracks {
        w.begin_full(b"trex", 0, 0).u32(track.track_id).u32(1).u32(0).u32(0).u32(0).end();
    }
    w.end();
    w.end(); // moov
    Bytes::from(w.finish())
}

fn write_trak(w: &mut BoxWriter, track: &TrackConfig) {
    w.begin(b"trak");
    write_tkhd(w, track);
    w.begin(b"mdia");
    w.begin_full(b"mdhd", 0, 0).u32(0).u32(0).u32(track.timescale).u32(0).u16(0x55c4).u16(0).end();
    let (handler, name): (&[u8; 4], &[u8]) = match track.codec {
        CodecConfig::H264(_) => (b"vide", b"OnAir video\0"),
        CodecConfig::Aac(_) => (b"soun", b"OnAir audio\0"),
    };
    w.begin_full(b"hdlr", 0, 0).u32(0).bytes(handler).zeros(12).bytes(name).end();
    w.begin(b"minf");
    match track.codec {
        CodecConfig::H264(_) => w.begin_full(b"vmhd", 0, 1).zeros(8).end(),
        CodecConfig::Aac(_) => w.begin_full(b"smhd", 0, 0).zeros(4).end(),
    };
    w.begin(b"dinf").begin_full(b"dref", 0, 0).u32(1).begin_full(b"url ", 0, 1).end().end().end();
    w.begin(b"stbl");
    w.begin_full(b"stsd", 0, 0).u32(1);
    match &track.codec {
        CodecConfig::H264(h264) => write_avc1(w, h264),
        CodecConfig::Aac(aac) => write_mp4a(w, aac),
    }
    w.end();
    w.begin_full(b"stts", 0, 0).u32(0).end();
    w.begin_full(b"stsc", 0, 0).u32(0).end();
    w.begin_full(b"stsz", 0, 0).u32(0).u32(0).end();
    w.begin_full(b"stco", 0, 0).u32(0).end();
    w.end(); // stbl
    w.end(); // minf
    w.end(); // mdia
    w.end(); // trak
}

fn write_mvhd(w: &mut BoxWriter, next_track_id: u32, duration_ms: u32) {
    w.begin_full(b"mvhd", 0, 0).u32(0).u32(0).u32(1000).u32(duration_ms);
    w.u32(0x0001_0000).u16(0x0100).zeros(10);
    for v in UNITY_MATRIX {
        w.u32(v);
    }
    w.zeros(24).u32(next_track_id).end();
}

fn write_tkhd(w: &mut BoxWriter, track: &TrackConfig) {
    let (volume, width, height) = match &track.codec {
        CodecConfig::H264(h264) => (0, h264.width, h264.height),
        CodecConfig::Aac(_) => (0x0100, 0, 0),
    };
    w.begin_full(b"tkhd", 0, 3).u32(0).u32(0).u32(track.track_id).u32(0).u32(0);
    w.zeros(8).u16(0).u16(0).u16(volume).u16(0);
    for v in UNITY_MATRIX {
        w.u32(v);
    }
    w.u32(width << 16).u32(height << 16).end();
}

fn write_avc1(w: &mut BoxWriter, h264: &H264Config) {
    w.begin(b"avc1").zeros(6).u16(1);
    w.zeros(16).u16(h264.width as u16).u16(h264.height as u16);
    w.u32(0x0048_0000).u32(0x0048_0000).u32(0).u16(1).zeros(32).u16(0x0018).u16(0xffff);
    w.begin(b"avcC").bytes(&h264.avcc).end();
    w.end();
}

fn write_mp4a(w: &mut BoxWriter, aac: &AacConfig) {
    let rate_field = if aac.sample_rate <= 0xffff { aac.sample_rate << 16 } else { 0 };
    w.begin(b"mp4a").zeros(6).u16(1);
    w.zeros(8).u16(u16::from(aac.channels)).u16(16).u16(0).u16(0).u32(rate_field);
    w.begin_full(b"esds", 0, 0);
    let asc_len = aac.asc.len();
    let decoder_specific = 2 + asc_len;
    let decoder_config = 13 + decoder_specific;
    let es = 3 + 2 + decoder_config + 3;
    descriptor(w, 0x03, es).u16(0).u8(0);
    descriptor(w, 0x04, decoder_config).u8(0x40).u8(0x15).u24(0).u32(0).u32(0);
    descriptor(w, 0x05, asc_len).bytes(&aac.asc);
    descriptor(w, 0x06, 1).u8(0x02);
    w.end();
    w.end();
}

/// An MPEG-4 descriptor header; lengths here are always under 128 (one size byte).
fn descriptor(w: &mut BoxWriter, tag: u8, len: usize) -> &mut BoxWriter {
    debug_assert!(len < 128);
    w.u8(tag).u8(len as u8)
}
