//! AAC-LC encoding with the Fraunhofer FDK encoder.

use bytes::Bytes;
use fdk_aac::enc::{AudioObjectType, BitRate, ChannelMode, Encoder, EncoderParams, Transport};

use super::EncodeError;
use crate::capture::frames::{AUDIO_CHANNELS, AUDIO_RATE};
use crate::media::aac::parse_asc;
use crate::media::codec::AacConfig;

pub const FRAME_SAMPLES: usize = 1024;

/// One raw AAC frame and the position of its first sample in the input.
pub struct EncodedAudio {
    pub data: Bytes,
    /// Input sample (per channel) this frame starts at, encoder delay removed.
    pub first_sample: i64,
}

pub struct AacEncoder {
    encoder: Encoder,
    config: AacConfig,
    /// Priming samples the encoder emits before the input's first sample.
    delay: i64,
    pending: Vec<i16>,
    frames_out: i64,
    output: Vec<u8>,
}

impl AacEncoder {
    pub fn new(bitrate_kbps: u32) -> Result<AacEncoder, EncodeError> {
        let encoder = Encoder::new(EncoderParams {
            bit_rate: BitRate::Cbr(bitrate_kbps * 1000),
            sample_rate: AUDIO_RATE,
            transport: Transport::Raw,
            channels: ChannelMode::Stereo,
            audio_object_type: AudioObjectType::Mpeg4LowComplexity,
        })
        .map_err(|e| EncodeError::Audio(format!("cannot start the AAC encoder: {e:?}")))?;
        let info = encoder.info().map_err(|e| EncodeError::Audio(format!("AAC encoder info: {e:?}")))?;
        let asc_len = (info.confSize as usize).min(info.confBuf.len());
        let asc = Bytes::copy_from_slice(&info.confBuf[..asc_len]);
        let config = parse_asc(asc).map_err(|e| EncodeError::Audio(format!("AAC encoder wrote an unreadable config: {e}")))?;
        let output = vec![0u8; (info.maxOutBufBytes as usize).max(8192)];
        Ok(AacEncoder { encoder, config, delay: i64::from(info.nDelay), pending: Vec::new(), frames_out: 0, output })
    }

    pub fn config(&self) -> &AacConfig {
        &self.config
    }

    /// Feeds interleaved stereo samples; returns the frames that completed.
    pub fn encode(&mut self, samples: &[i16]) -> Result<Vec<EncodedAudio>, EncodeError> {
        self.pending.extend_from_slice(samples);
        let mut frames = Vec::new();
        let chunk = FRAME_SAMPLES * AUDIO_CHANNELS;
        while self.pending.len() >= chunk {
            let info = self.encoder.encode(&self.pending[..chunk], &mut self.output).map_err(|e| EncodeError::Audio(format!("AAC encoding failed: {e:?}")))?;
            let consumed = info.input_consumed.min(self.pending.len());
            self.pending.drain(..consumed.max(1));
            if info.output_size > 0 {
                // Output frame n decodes to input samples starting at n*1024 - delay.
                let first_sample = self.frames_out * FRAME_SAMPLES as i64 - self.delay;
                self.frames_out += 1;
                frames.push(EncodedAudio { data: Bytes::copy_from_slice(&self.output[..info.output_size]), first_sample });
            }
        }
        Ok(frames)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_aac_lc_48k_stereo_with_its_delay() {
        let mut encoder = AacEncoder::new(128).unwrap();
        assert_eq!((encoder.config().object_type, encoder.config().sample_rate, encoder.config().channels), (2, 48_000, 2));
        let tone: Vec<i16> = (0..48_000)
            .flat_map(|i| {
                let v = ((i as f64 / 48.0).sin() * 8000.0) as i16;
                [v, v]
            })
            .collect();
        let frames = encoder.encode(&tone).unwrap();
        assert!(frames.len() >= 40, "one second gives ~46 frames, got {}", frames.len());
        assert!(frames[0].first_sample < 0, "the first frames are encoder priming");
        assert!(frames.windows(2).all(|w| w[1].first_sample - w[0].first_sample == 1024));
    }
}
