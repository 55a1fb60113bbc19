//! MPEG-TS as SRT carries it: a sans-IO demuxer and muxer for H.264 + AAC.

pub mod demux;
pub mod mux;
pub mod psi;

pub const PACKET_SIZE: usize = 188;
pub const SYNC_BYTE: u8 = 0x47;
pub const STREAM_TYPE_H264: u8 = 0x1b;
pub const STREAM_TYPE_AAC_ADTS: u8 = 0x0f;

/// A null packet (PID 0x1FFF): demuxers skip it; it carries nothing but its place in the stream.
pub fn null_packet() -> [u8; PACKET_SIZE] {
    let mut packet = [0xff; PACKET_SIZE];
    packet[..4].copy_from_slice(&[SYNC_BYTE, 0x1f, 0xff, 0x10]);
    packet
}
