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
    fn garbage_is_an_error() {
        assert!(parse_asc(Bytes::from_static(&[0x12])).is_err());
        assert!(parse_asc(Bytes::from_static(&[0x17, 0x80])).is_err()); // index 15 without the 24 bits
        assert!(parse_asc(Bytes::from_static(&[0x16, 0x80])).is_err()); // reserved index 13
    }
}
