//! AAC AudioSpecificConfig parsing.

use bytes::Bytes;

use super::bits::{BitReader, OutOfBits};
use super::codec::AacConfig;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AacError {
    #[error("AudioSpecificConfig is truncated: {0}")]
    Truncated(#[from] OutOfBits),
    #[error("AudioSpecificConfig has reserved sampling frequency index {0}")]
    FrequencyIndex(u32),
    #[error("AudioSpecificConfig has channel configuration {0}, which this server does not package")]
    Channels(u32),
    #[error("AAC object type {0} is not supported (AAC-LC, HE-AAC and HE-AACv2 are)")]
    ObjectType(u8),
}

const SAMPLE_RATES: [u32; 13] = [96_000, 88_200, 64_000, 48_000, 44_100, 32_000, 24_000, 22_050, 16_000, 12_000, 11_025, 8_000, 7_350];

pub fn parse_asc(asc: Bytes) -> Result<AacConfig, AacError> {
    let mut r = BitReader::new(&asc);
    let mut object_type = r.bits(5)?;
    if object_type == 31 {
        object_type = 32 + r.bits(6)?;
    }
    let index = r.bits(4)?;
    let sample_rate = match index {
        15 => r.bits(24)?,
        i => *SAMPLE_RATES.get(i as usize).ok_or(AacError::FrequencyIndex(i))?,
    };
    if sample_rate == 0 {
        return Err(AacError::FrequencyIndex(index));
    }
    let channel_config = r.bits(4)?;
    let channels = match channel_config {
        1..=6 => channel_config as u8,
        7 => 8,
        other => return Err(AacError::Channels(other)),
    };
    let object_type = object_type as u8;
    if !matches!(object_type, 2 | 5 | 29) {
        return Err(AacError::ObjectType(object_type));
    }
    Ok(AacConfig { asc, object_type, sample_rate, channels })
}

/// An ADTS frame header: what it says and how long it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AdtsHeader {
    pub object_type: u8,
    pub frequency_index: u8,
    pub channel_config: u8,
    /// Whole frame, header included.
    pub frame_length: usize,
    pub header_length: usize,
}

impl AdtsHeader {
    pub fn parse(data: &[u8]) -> Option<AdtsHeader> {
        if data.len() < 7 || data[0] != 0xff || data[1] & 0xf0 != 0xf0 {
            return None;
        }
        let protection_absent = data[1] & 1 == 1;
        let object_type = ((data[2] >> 6) & 0b11) + 1;
        let frequency_index = (data[2] >> 2) & 0b1111;
        let channel_config = ((data[2] & 1) << 2) | (data[3] >> 6);
        let frame_length = (usize::from(data[3] & 0b11) << 11) | (usize::from(data[4]) << 3) | usize::from(data[5] >> 5);
        let header_length = if protection_absent { 7 } else { 9 };
        if frame_length < header_length || usize::from(frequency_index) >= SAMPLE_RATES.len() {
            return None;
        }
        Some(AdtsHeader { object_type, frequency_index, channel_config, frame_length, header_length })
    }

    /// The two-byte AudioSpecificConfig equivalent to this header.
    pub fn audio_specific_config(&self) -> Bytes {
        let value = (u16::from(self.object_type) << 11) | (u16::from(self.frequency_index) << 7) | (u16::from(self.channel_config) << 3);
        Bytes::copy_from_slice(&value.to_be_bytes())
    }
}

/// A 7-byte ADTS header (no CRC) for a raw frame of `payload_len` bytes.
pub fn adts_header(config: &AacConfig, payload_len: usize) -> Option<[u8; 7]> {
    let index = SAMPLE_RATES.iter().position(|&rate| rate == config.sample_rate)? as u8;
    let length = payload_len + 7;
    if length >= 1 << 13 || config.object_type == 0 || config.object_type > 4 {
        return None;
    }
    let profile = config.object_type - 1;
    let channels = config.channels.min(7);
    Some([
        0xff,
        0xf1,
        (profile << 6) | (index << 2) | (channels >> 2),
        ((channels & 3) << 6) | ((length >> 11) as u8 & 0b11),
        (length >> 3) as u8,
        (((length & 0b111) as u8) << 5) | 0x1f,
        0xfc,
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lc_48k_stereo() {
        let config = parse_asc(Bytes::from_static(&[0x11, 0x90])).unwrap();
        assert_eq!((config.object_type, config.sample_rate, config.channels), (2, 48_000, 2));
        assert_eq!(config.codec_string(), "mp4a.40.2");
    }

    #[test]
    fn lc_44k1_mono() {
        let config = parse_asc(Bytes::from_static(&[0x12, 0x08])).unwrap();
        assert_eq!((config.sample_rate, config.channels), (44_100, 1));
    }

    #[test]
    fn adts_headers_round_trip() {
        let config = parse_asc(Bytes::from_static(&[0x11, 0x90])).unwrap();
        let header = adts_header(&config, 300).unwrap();
        let parsed = AdtsHeader::parse(&header).unwrap();
        assert_eq!((parsed.frame_length, parsed.header_length), (307, 7));
        assert_eq!(parse_asc(parsed.audio_specific_config()).unwrap(), config);
        assert!(AdtsHeader::parse(&[0xff, 0x00, 0, 0, 0, 0, 0]).is_none());
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(parse_asc(Bytes::from_static(&[0x12])).is_err());
        assert!(parse_asc(Bytes::from_static(&[0x17, 0x80])).is_err()); // index 15 without the 24 bits
        assert!(parse_asc(Bytes::from_static(&[0x16, 0x80])).is_err()); // reserved index 13
    }
}
