//! FLV tag bodies from a publisher turned into codec configs and frames.

use bytes::Bytes;

use crate::media::aac::{AacError, parse_asc};
use crate::media::codec::CodecConfig;
use crate::media::flv::{FlvAudio, FlvError, FlvVideo, parse_audio, parse_video};
use crate::media::frame::{EncodedFrame, TrackKind};
use crate::media::h264::{H264Error, nal_types, parse_avcc};
use crate::media::time::Timestamp;

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Flv(#[from] FlvError),
    #[error("bad H.264 data at {} ms: {source}", time.as_millis())]
    H264 { time: Timestamp, source: H264Error },
    #[error("bad AAC configuration: {0}")]
    Aac(#[from] AacError),
}

impl IngestError {
    /// A codec this server does not package (as opposed to broken data).
    pub fn is_unsupported_codec(&self) -> bool {
        matches!(self, IngestError::Flv(FlvError::UnsupportedVideoCodec(_) | FlvError::UnsupportedAudioCodec(_)) | IngestError::Aac(AacError::ObjectType(_)))
    }
}

#[derive(Debug, PartialEq)]
pub enum IngestItem {
    Config(CodecConfig),
    Frame(EncodedFrame),
}

#[derive(Default)]
pub struct FlvDepacketizer {
    nal_length_size: Option<u8>,
    audio_configured: bool,
    /// Frames that arrived before their sequence header.
    pub frames_without_config: u64,
}

impl FlvDepacketizer {
    /// `time` is the tag's extended RTMP timestamp (milliseconds).
    pub fn video(&mut self, time: Timestamp, body: &Bytes) -> Result<Option<IngestItem>, IngestError> {
        let h264_error = |source| IngestError::H264 { time, source };
        match parse_video(body)? {
            FlvVideo::SequenceHeader(avcc) => {
                let config = parse_avcc(avcc).map_err(h264_error)?;
                self.nal_length_size = Some(config.nal_length_size);
                Ok(Some(IngestItem::Config(CodecConfig::H264(config))))
            }
            FlvVideo::Frame { keyframe, composition_ms, data } => {
                let Some(nal_length_size) = self.nal_length_size else {
                    self.frames_without_config += 1;
                    return Ok(None);
                };
                nal_types(&data, nal_length_size).map_err(h264_error)?;
                let dts = time;
                let pts = Timestamp::new(time.value.saturating_add(i64::from(composition_ms)), time.base);
                Ok(Some(IngestItem::Frame(EncodedFrame { kind: TrackKind::Video, dts, pts, keyframe, data })))
            }
            FlvVideo::EndOfSequence | FlvVideo::Info => Ok(None),
        }
    }

    pub fn audio(&mut self, time: Timestamp, body: &Bytes) -> Result<Option<IngestItem>, IngestError> {
        match parse_audio(body)? {
            FlvAudio::SequenceHeader(asc) => {
                let config = parse_asc(asc)?;
                self.audio_configured = true;
                Ok(Some(IngestItem::Config(CodecConfig::Aac(config))))
            }
            FlvAudio::Frame(data) => {
                if !self.audio_configured || data.is_empty() {
                    self.frames_without_config += 1;
                    return Ok(None);
                }
                Ok(Some(IngestItem::Frame(EncodedFrame { kind: TrackKind::Audio, dts: time, pts: time, keyframe: true, data })))
            }
        }
    }
}
