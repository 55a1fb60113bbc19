//! FLV audio and video tag bodies, as RTMP carries them.

use bytes::Bytes;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FlvError {
    #[error("{kind} tag body is {len} bytes, too short for its header")]
    Truncated { kind: &'static str, len: usize },
    #[error("video codec {0} is not supported; publish H.264 (AVC)")]
    UnsupportedVideoCodec(String),
    #[error("audio codec {0} is not supported; publish AAC")]
    UnsupportedAudioCodec(String),
}

#[derive(Debug, PartialEq)]
pub enum FlvVideo {
    /// AVCDecoderConfigurationRecord.
    SequenceHeader(Bytes),
    /// Length-prefixed NAL units with the composition time offset in milliseconds.
    Frame {
        keyframe: bool,
        composition_ms: i32,
        data: Bytes,
    },
    EndOfSequence,
    /// Frame-type 5 (video info/command frames): nothing to package.
    Info,
}

#[derive(Debug, PartialEq)]
pub enum FlvAudio {
    /// AudioSpecificConfig.
    SequenceHeader(Bytes),
    /// One raw AAC frame.
    Frame(Bytes),
}

pub fn parse_video(body: &Bytes) -> Result<FlvVideo, FlvError> {
    let truncated = || FlvError::Truncated { kind: "video", len: body.len() };
    let first = *body.first().ok_or_else(truncated)?;
    if first & 0x80 != 0 {
        // Enhanced RTMP: a FourCC names the codec (hvc1, av01, vp09).
        let fourcc = body.get(1..5).ok_or_else(truncated)?;
        return Err(FlvError::UnsupportedVideoCodec(String::from_utf8_lossy(fourcc).into_owned()));
    }
    let frame_type = first >> 4;
    let codec_id = first & 0x0f;
    if codec_id != 7 {
        return Err(FlvError::UnsupportedVideoCodec(video_codec_name(codec_id)));
    }
    if frame_type == 5 {
        return Ok(FlvVideo::Info);
    }
    if body.len() < 5 {
        return Err(truncated());
    }
    let composition = ((i32::from(body[2]) << 16) | (i32::from(body[3]) << 8) | i32::from(body[4])) << 8 >> 8;
    let payload = body.slice(5..);
    match body[1] {
        0 => Ok(FlvVideo::SequenceHeader(payload)),
        1 => Ok(FlvVideo::Frame { keyframe: frame_type == 1, composition_ms: composition, data: payload }),
        _ => Ok(FlvVideo::EndOfSequence),
    }
}

pub fn parse_audio(body: &Bytes) -> Result<FlvAudio, FlvError> {
    let truncated = || FlvError::Truncated { kind: "audio", len: body.len() };
    let first = *body.first().ok_or_else(truncated)?;
    let format = first >> 4;
    if format != 10 {
        return Err(FlvError::UnsupportedAudioCodec(audio_codec_name(format)));
    }
    let packet_type = *body.get(1).ok_or_else(truncated)?;
    let payload = body.slice(2..);
    Ok(if packet_type == 0 { FlvAudio::SequenceHeader(payload) } else { FlvAudio::Frame(payload) })
}

/// The five bytes before an AVC tag's data: frame type and codec 7, packet type, composition time.
pub fn avc_tag_header(keyframe: bool, packet_type: u8, composition_ms: i32) -> [u8; 5] {
    let composition = composition_ms.to_be_bytes();
    [if keyframe { 0x17 } else { 0x27 }, packet_type, composition[1], composition[2], composition[3]]
}

/// The two bytes before an AAC tag's data (44 kHz/16-bit/stereo flags, as FLV requires for AAC).
pub fn aac_tag_header(sequence_header: bool) -> [u8; 2] {
    [0xaf, if sequence_header { 0 } else { 1 }]
}

fn video_codec_name(id: u8) -> String {
    match id {
        2 => "Sorenson H.263".into(),
        3 => "Screen video".into(),
        4 => "VP6".into(),
        5 => "VP6 with alpha".into(),
        6 => "Screen video v2".into(),
        12 => "HEVC (legacy FLV id 12)".into(),
        other => format!("with FLV id {other}"),
    }
}

fn audio_codec_name(id: u8) -> String {
    match id {
        0 | 3 => "linear PCM".into(),
        1 => "ADPCM".into(),
        2 => "MP3".into(),
        4..=6 => "Nellymoser".into(),
        7 => "G.711 A-law".into(),
        8 => "G.711 mu-law".into(),
        11 => "Speex".into(),
        14 => "MP3 8 kHz".into(),
        other => format!("with FLV id {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn avc_frame_with_negative_composition_time() {
        let body = Bytes::from_static(&[0x17, 1, 0xff, 0xff, 0xdf, 0, 0, 0, 1, 0x65]);
        assert_eq!(parse_video(&body).unwrap(), FlvVideo::Frame { keyframe: true, composition_ms: -33, data: Bytes::from_static(&[0, 0, 0, 1, 0x65]) });
    }

    #[test]
    fn other_codecs_are_refused_by_name() {
        let err = parse_video(&Bytes::from_static(&[0x12, 0, 0])).unwrap_err();
        assert_eq!(err.to_string(), "video codec Sorenson H.263 is not supported; publish H.264 (AVC)");
        let err = parse_video(&Bytes::from_static(&[0x90, b'h', b'v', b'c', b'1'])).unwrap_err();
        assert!(err.to_string().contains("hvc1"));
        let err = parse_audio(&Bytes::from_static(&[0x2f, 0])).unwrap_err();
        assert!(err.to_string().contains("MP3"));
    }

    #[test]
    fn written_bodies_parse_back() {
        let body = Bytes::from([&avc_tag_header(false, 1, -40)[..], &[0, 0, 0, 1, 0x41]].concat());
        assert_eq!(parse_video(&body).unwrap(), FlvVideo::Frame { keyframe: false, composition_ms: -40, data: Bytes::from_static(&[0, 0, 0, 1, 0x41]) });
        let audio = Bytes::from([&aac_tag_header(true)[..], &[0x11, 0x90]].concat());
        assert_eq!(parse_audio(&audio).unwrap(), FlvAudio::SequenceHeader(Bytes::from_static(&[0x11, 0x90])));
    }

    #[test]
    fn truncated_bodies_are_errors() {
        assert!(parse_video(&Bytes::new()).is_err());
        assert!(parse_video(&Bytes::from_static(&[0x17, 1])).is_err());
        assert!(parse_audio(&Bytes::from_static(&[0xaf])).is_err());
    }
}
