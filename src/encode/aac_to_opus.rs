//! A stream's AAC made Opus for its WebRTC viewers, once per stream however
//! many watch: decoded (fdk-aac), brought to 48 kHz stereo where it is not
//! (rubato), and encoded in 20 ms packets (libopus). Packet times follow the
//! AAC's, less the decoder's and resampler's delays, so sound stays with the
//! picture.

use rubato::{FftFixedIn, Resampler};

use crate::media::codec::AacConfig;
use crate::media::frame::EncodedFrame;
use crate::media::time::TimeBase;

/// Opus's clock and the only rate WebRTC's Opus runs at.
pub const RATE: u32 = 48_000;
/// Samples per channel in one 20 ms packet.
pub const PACKET_SAMPLES: usize = 960;
const OPUS_BASE: TimeBase = match TimeBase::new(RATE) {
    Some(base) => base,
    None => TimeBase::MICROS,
};
/// Further apart than this, the AAC's time wins over the count of samples
/// made (a gap in the source, a new publisher).
const MAX_DRIFT: i64 = RATE as i64 / 10;

#[derive(Debug, thiserror::Error)]
pub enum TranscodeError {
    #[error("the AAC decoder refuses the stream's AudioSpecificConfig: {0:?}")]
    Config(fdk_aac::dec::DecoderError),
    #[error("cannot resample {rate} Hz to 48 kHz: {error}")]
    Resampler { rate: u32, error: String },
    #[error("the Opus encoder cannot start: {0}")]
    Encoder(opus::Error),
}

/// One 20 ms Opus packet and the time of its first sample, at 48 kHz.
#[derive(Debug, Clone, PartialEq)]
pub struct OpusPacket {
    pub time: i64,
    pub data: Vec<u8>,
}

pub struct AacToOpus {
    decoder: Box<fdk_aac::dec::Decoder>,
    rate: u32,
    resampler: Option<FftFixedIn<f32>>,
    /// Planar samples waiting for the resampler.
    unresampled: [Vec<f32>; 2],
    encoder: opus::Encoder,
    /// Interleaved stereo at 48 kHz waiting to fill a packet.
    pending: Vec<i16>,
    /// The 48 kHz time of `pending`'s first sample.
    pending_time: Option<i64>,
    decoded: Vec<i16>,
    packet: Vec<u8>,
}

impl AacToOpus {
    pub fn new(config: &AacConfig) -> Result<AacToOpus, TranscodeError> {
        let mut decoder = Box::new(fdk_aac::dec::Decoder::new(fdk_aac::dec::Transport::Raw));
        decoder.config_raw(&config.asc).map_err(TranscodeError::Config)?;
        let rate = config.sample_rate.max(1);
        let resampler = (rate != RATE)
            .then(|| FftFixedIn::<f32>::new(rate as usize, RATE as usize, 1024, 2, 2))
            .transpose()
            .map_err(|error| TranscodeError::Resampler { rate, error: error.to_string() })?;
        let mut encoder = opus::Encoder::new(RATE, opus::Channels::Stereo, opus::Application::Audio).map_err(TranscodeError::Encoder)?;
        encoder.set_bitrate(opus::Bitrate::Bits(128_000)).map_err(TranscodeError::Encoder)?;
        Ok(AacToOpus {
            decoder,
            rate,
            resampler,
            unresampled: [Vec::new(), Vec::new()],
            encoder,
            pending: Vec::new(),
            pending_time: None,
            decoded: vec![0; 2048 * 8],
            packet: vec![0; 4000],
        })
    }

    /// Decodes one AAC frame; returns the Opus packets it completed. A frame
    /// the decoder refuses is skipped (its time is filled by the next one).
    pub fn push(&mut self, frame: &EncodedFrame) -> Vec<OpusPacket> {
        if self.decoder.fill(&frame.data).is_err() || self.decoder.decode_frame(&mut self.decoded).is_err() {
            return Vec::new();
        }
        let info = self.decoder.stream_info();
        let channels = (info.numChannels.max(1)) as usize;
        let samples = &self.decoded[..self.decoder.decoded_frame_size().min(self.decoded.len())];
        // The decoder's output lags its input by `outputDelay` samples.
        let decoder_delay = i64::from(info.outputDelay) * i64::from(RATE) / i64::from(self.rate);
        let mut started = frame.pts.rescale(OPUS_BASE).map_or(0, |t| t.value) - decoder_delay;
        let stereo = samples.chunks(channels).map(|s| (s[0], *s.get(1).unwrap_or(&s[0])));
        match &mut self.resampler {
            None => {
                let interleaved: Vec<i16> = stereo.flat_map(|(l, r)| [l, r]).collect();
                self.place(started);
                self.pending.extend(interleaved);
            }
            Some(resampler) => {
                let frames = samples.len() / channels;
                for (left, right) in stereo {
                    self.unresampled[0].push(f32::from(left) / 32768.0);
                    self.unresampled[1].push(f32::from(right) / 32768.0);
                }
                // What waits in the resampler's input started that much before this frame.
                started -= (self.unresampled[0].len() - frames) as i64 * i64::from(RATE) / i64::from(self.rate);
                started -= resampler.output_delay() as i64;
                let mut resampled = Vec::new();
                while self.unresampled[0].len() >= resampler.input_frames_next() {
                    let take = resampler.input_frames_next();
                    let chunk = [&self.unresampled[0][..take], &self.unresampled[1][..take]];
                    if let Ok(out) = resampler.process(&chunk, None) {
                        resampled.extend(out[0].iter().zip(&out[1]).flat_map(|(l, r)| [to_i16(*l), to_i16(*r)]));
                    }
                    self.unresampled[0].drain(..take);
                    self.unresampled[1].drain(..take);
                }
                if !resampled.is_empty() {
                    self.place(started);
                    self.pending.extend(resampled);
                }
            }
        }
        self.encode()
    }

    /// Puts the pending samples' time at the source's when none is set or the
    /// count of samples has drifted from it.
    fn place(&mut self, source_time: i64) {
        let expected = self.pending_time.map(|t| t + (self.pending.len() / 2) as i64);
        if expected.is_none_or(|expected| (expected - source_time).abs() > MAX_DRIFT) {
            if expected.is_some() {
                tracing::debug!(source_time, ?expected, "Opus times follow the source's again");
            }
            self.pending.clear();
            self.pending_time = Some(source_time);
        }
    }

    fn encode(&mut self) -> Vec<OpusPacket> {
        let mut packets = Vec::new();
        while self.pending.len() >= 2 * PACKET_SAMPLES {
            let time = self.pending_time.unwrap_or(0);
            if let Ok(length) = self.encoder.encode(&self.pending[..2 * PACKET_SAMPLES], &mut self.packet) {
                packets.push(OpusPacket { time, data: self.packet[..length].to_vec() });
            }
            self.pending.drain(..2 * PACKET_SAMPLES);
            self.pending_time = Some(time + PACKET_SAMPLES as i64);
        }
        packets
    }
}

fn to_i16(sample: f32) -> i16 {
    (sample * 32768.0).clamp(-32768.0, 32767.0) as i16
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::aac::AacEncoder;
    use crate::media::frame::TrackKind;
    use crate::media::time::Timestamp;

    /// Two seconds of quiet 1 kHz tone with a loud burst starting at `burst`,
    /// through the real AAC encoder, as the hub's frames.
    fn aac_frames(burst: usize) -> (AacConfig, Vec<EncodedFrame>) {
        let mut encoder = AacEncoder::new(128).unwrap();
        let samples: Vec<i16> = (0..2 * RATE as usize)
            .flat_map(|n| {
                let level = if (burst..burst + 2400).contains(&n) { 20_000.0 } else { 1_000.0 };
                let s = (level * (2.0 * std::f64::consts::PI * 1000.0 * n as f64 / f64::from(RATE)).sin()) as i16;
                [s, s]
            })
            .collect();
        let frames = encoder.encode(&samples).unwrap();
        let config = encoder.config().clone();
        let frames = frames
            .into_iter()
            .map(|f| {
                let t = Timestamp::new(f.first_sample, OPUS_BASE);
                EncodedFrame { kind: TrackKind::Audio, dts: t, pts: t, keyframe: true, data: f.data }
            })
            .collect();
        (config, frames)
    }

    #[test]
    fn packets_are_20_ms_apart_decode_with_libopus_and_keep_the_sound_in_place() {
        let burst = 48_000;
        let (config, frames) = aac_frames(burst);
        let mut transcoder = AacToOpus::new(&config).unwrap();
        let packets: Vec<OpusPacket> = frames.iter().flat_map(|f| transcoder.push(f)).collect();
        assert!(packets.len() >= 95, "two seconds make about 100 packets: {}", packets.len());
        assert!(packets.windows(2).all(|w| w[1].time - w[0].time == PACKET_SAMPLES as i64), "contiguous 960-sample steps");
        // libopus decodes what it made; find the burst in time.
        let mut decoder = opus::Decoder::new(RATE, opus::Channels::Stereo).unwrap();
        let mut pcm = vec![0i16; 5760 * 2];
        let mut heard = None;
        for packet in &packets {
            let per_channel = decoder.decode(&packet.data, &mut pcm, false).unwrap();
            assert_eq!(per_channel, PACKET_SAMPLES);
            if heard.is_none()
                && let Some(index) = pcm[..2 * per_channel].iter().step_by(2).position(|s| s.unsigned_abs() > 10_000)
            {
                heard = Some(packet.time + index as i64);
            }
        }
        let heard = heard.expect("the burst is heard");
        // Opus's own look-ahead (6.5 ms) is all the offset there may be, and a quarter-period of the tone.
        let lookahead = i64::from(transcoder.encoder.get_lookahead().unwrap());
        let offset = heard - burst as i64 - lookahead;
        assert!(offset.abs() <= 48 * 2, "the burst at {burst} is heard at {heard}: {offset} samples off after {lookahead} of look-ahead");
    }
}
