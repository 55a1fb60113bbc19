//! MPEG-TS as SRT carries it: a sans-IO demuxer and muxer for H.264 + AAC.

pub mod demux;
pub mod mux;
pub mod psi;

pub const PACKET_SIZE: usize = 188;
pub const SYNC_BYTE: u8 = 0x47;
pub const STREAM_TYPE_H264: u8 = 0x1b;
pub const STREAM_TYPE_AAC_ADTS: u8 = 0x0f;
