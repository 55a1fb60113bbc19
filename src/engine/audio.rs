//! The audio thread: capture, meter, encode AAC, queue with timestamps from the capture clock.

use std::sync::Arc;

use super::{EngineShared, log_failure};
use crate::capture::AudioSource;
use crate::capture::frames::{AUDIO_RATE, AudioLevel};
use crate::encode::aac::AacEncoder;
use crate::media::codec::CodecConfig;
use crate::media::time::{TimeBase, Timestamp};
use crate::publish::queue::{Outgoing, OutgoingKind};

pub fn run(mut source: Box<dyn AudioSource>, shared: Arc<EngineShared>, bitrate_kbps: u32) {
    let mut encoder = match AacEncoder::new(bitrate_kbps) {
        Ok(encoder) => encoder,
        Err(error) => {
            log_failure(&shared, &error.to_string());
            return;
        }
    };
    shared.publish.push(Outgoing::config(CodecConfig::Aac(encoder.config().clone()), Timestamp::zero(TimeBase::MICROS)));
    // Capture time of input sample zero; every output frame is placed from it.
    let mut origin_micros: Option<i64> = None;
    let mut fed: i64 = 0;
    while !shared.stopping() {
        let buffer = match source.next_buffer() {
            Ok(buffer) => buffer,
            Err(error) => {
                log_failure(&shared, &format!("audio capture stopped: {error}"));
                return;
            }
        };
        shared.set_audio_level(AudioLevel::measure(&buffer.samples));
        let origin = *origin_micros.get_or_insert(buffer.captured.micros);
        // Re-anchor when the device's clock and the sample count part by more than 100 ms.
        let expected = origin + fed * 1_000_000 / i64::from(AUDIO_RATE);
        if (buffer.captured.micros - expected).abs() > 100_000 {
            tracing::debug!("audio clock drift of {} ms corrected", (buffer.captured.micros - expected) / 1000);
            origin_micros = Some(buffer.captured.micros - fed * 1_000_000 / i64::from(AUDIO_RATE));
        }
        fed += (buffer.samples.len() / 2) as i64;
        let frames = match encoder.encode(&buffer.samples) {
            Ok(frames) => frames,
            Err(error) => {
                log_failure(&shared, &error.to_string());
                return;
            }
        };
        let origin = origin_micros.unwrap_or(origin);
        for frame in frames {
            let micros = origin + frame.first_sample * 1_000_000 / i64::from(AUDIO_RATE);
            if micros < 0 {
                // Encoder priming before the capture clock began: nothing to play.
                continue;
            }
            let time = Timestamp::new(micros, TimeBase::MICROS);
            shared.publish.push(Outgoing { kind: OutgoingKind::Audio, dts: time, pts: time, data: frame.data, captured_micros: micros });
        }
    }
}
