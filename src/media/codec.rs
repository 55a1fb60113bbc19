//! Codec configurations as carried in sequence headers, and their RFC 6381 names.

use bytes::Bytes;

/// H.264 decoder configuration: the avcC record plus the facts read from its SPS.
#[derive(Clone, Debug, PartialEq)]
pub struct H264Config {
    /// AVCDecoderConfigurationRecord, as it goes into the `avcC` box.
    pub avcc: Bytes,
    pub profile_idc: u8,
    pub constraint_flags: u8,
    pub level_idc: u8,
    pub width: u32,
    pub height: u32,
    /// Frame rate from the SPS's VUI timing info, when present.
    pub frame_rate: Option<f64>,
    /// Bytes of the NAL length prefix (1, 2 or 4).
    pub nal_length_size: u8,
}

impl H264Config {
    /// `avc1.PPCCLL`, as HLS CODECS and DASH @codecs want it.
    pub fn codec_string(&self) -> String {
        format!("avc1.{:02x}{:02x}{:02x}", self.profile_idc, self.constraint_flags, self.level_idc)
    }
}

/// AAC decoder configuration: the AudioSpecificConfig and what it says.
#[derive(Clone, Debug, PartialEq)]
pub struct AacConfig {
    pub asc: Bytes,
    pub object_type: u8,
    pub sample_rate: u32,
    pub channels: u8,
}

impl AacConfig {
    pub fn codec_string(&self) -> String {
        format!("mp4a.40.{}", self.object_type)
    }

    /// Samples per AAC frame: 1024 for AAC-LC and HE-AAC's core.
    pub fn samples_per_frame(&self) -> u32 {
        1024
    }
}

/// What a track carries; the packager writes init segments from this.
#[derive(Clone, Debug, PartialEq)]
pub enum CodecConfig {
    H264(H264Config),
    Aac(AacConfig),
}
