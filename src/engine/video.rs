//! The video thread: capture, apply the knob, encode, queue. Never blocks on the network.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use super::{EngineShared, log_failure};
use crate::capture::VideoSource;
use crate::encode::h264::H264Encoder;
use crate::encode::quality::QualityKnob;
use crate::media::codec::CodecConfig;
use crate::media::time::{TimeBase, Timestamp};
use crate::publish::queue::{Outgoing, OutgoingKind};
use crate::publish::shared::MediaDescription;

/// The least a congestion limit takes video to: below it a picture is mush.
const MIN_VIDEO_KBPS: u32 = 150;

pub fn run(mut source: Box<dyn VideoSource>, shared: Arc<EngineShared>, keyframe_interval_secs: u32) {
    let mut knob = shared.knob();
    let mut knob_generation = shared.knob_generation.load(Ordering::SeqCst);
    let mut encoder: Option<H264Encoder> = None;
    // The size the encoder was made for: a composed scene's frame made before a
    // knob change can still arrive at the old size, and then the one after it
    // at the new; each size gets an encoder of its own.
    let mut encoded_size = (0, 0);
    while !shared.stopping() {
        let generation = shared.knob_generation.load(Ordering::SeqCst);
        if generation != knob_generation {
            knob_generation = generation;
            let next = shared.knob();
            apply_knob(&mut encoder, &mut source, knob, next, &shared);
            knob = next;
        }
        let frame = match source.next_frame() {
            Ok(frame) => frame,
            Err(error) => {
                log_failure(&shared, &format!("video capture stopped: {error}"));
                return;
            }
        };
        if (frame.width, frame.height) != encoded_size {
            encoder = None;
        }
        if encoder.is_none() {
            encoded_size = (frame.width, frame.height);
            let preset = knob.preset();
            match H264Encoder::new(frame.width, frame.height, preset.fps, knob.video_kbps(), keyframe_interval_secs) {
                Ok(created) => {
                    encoder = Some(created);
                    shared.encoders_started.fetch_add(1, Ordering::SeqCst);
                }
                Err(error) => {
                    log_failure(&shared, &error.to_string());
                    return;
                }
            }
            shared.publish.set_media_description(MediaDescription {
                width: frame.width as u32,
                height: frame.height as u32,
                fps: preset.fps as f32,
                video_kbps: knob.video_kbps(),
                audio_kbps: preset.audio_kbps,
            });
        }
        shared.offer_preview(&frame);
        let Some(active) = encoder.as_mut() else { continue };
        if shared.publish.take_keyframe_request() {
            active.force_keyframe();
        }
        follow_path_limit(active, &knob, &shared);
        let started = Instant::now();
        let encoded = active.encode(&frame);
        shared.record_encode_time(started.elapsed());
        let captured_micros = frame.captured.micros;
        source.recycle(frame);
        let encoded = match encoded {
            Ok(Some(encoded)) => encoded,
            Ok(None) => continue,
            Err(error) => {
                log_failure(&shared, &error.to_string());
                return;
            }
        };
        // The capture clock's microseconds are the stream's media time; each
        // driver converts to its protocol's clock. No B-frames: pts = dts.
        let time = Timestamp::new(captured_micros, TimeBase::MICROS);
        if let Some(config) = encoded.config {
            shared.publish.push(Outgoing::config(CodecConfig::H264(config), time));
        }
        shared.publish.push(Outgoing {
            kind: OutgoingKind::Video { keyframe: encoded.keyframe, reference: true },
            dts: time,
            pts: time,
            data: encoded.data,
            captured_micros,
        });
    }
}

/// The knob's bitrate is the ceiling; a congestion-aware target's path may
/// carry less. A change under 5 % waits, so the encoder is not retuned every frame.
fn follow_path_limit(encoder: &mut H264Encoder, knob: &QualityKnob, shared: &EngineShared) {
    let ceiling = knob.video_kbps();
    let wanted = shared.publish.video_limit_kbps().map_or(ceiling, |limit| limit.clamp(MIN_VIDEO_KBPS.min(ceiling), ceiling));
    let current = encoder.bitrate_kbps();
    if wanted != current && (wanted == ceiling || wanted.abs_diff(current) * 20 > current) {
        match encoder.set_bitrate(wanted) {
            Ok(()) => tracing::info!("video bitrate {wanted} kbit/s ({})", if wanted == ceiling { "the knob's" } else { "what the network carries" }),
            Err(error) => tracing::warn!("{error}"),
        }
    }
}

/// A new knob position: same size and rate changes the bitrate in place;
/// anything else restarts the encoder, whose first frame is a keyframe with new SPS/PPS.
fn apply_knob(encoder: &mut Option<H264Encoder>, source: &mut Box<dyn VideoSource>, old: QualityKnob, new: QualityKnob, shared: &EngineShared) {
    let (old_preset, new_preset) = (old.preset(), new.preset());
    let same_shape = (old_preset.width, old_preset.height, old_preset.fps) == (new_preset.width, new_preset.height, new_preset.fps);
    if same_shape {
        if let Some(active) = encoder.as_mut()
            && let Err(error) = active.set_bitrate(new.video_kbps())
        {
            tracing::warn!("{error}; restarting the encoder instead");
            *encoder = None;
        }
    } else {
        let (width, height) = new.size();
        source.set_output(width, height, new_preset.fps);
        *encoder = None;
    }
    let (width, height) = new.size();
    shared.publish.set_media_description(MediaDescription {
        width: width as u32,
        height: height as u32,
        fps: new_preset.fps as f32,
        video_kbps: new.video_kbps(),
        audio_kbps: new_preset.audio_kbps,
    });
    tracing::info!("quality {} ({}x{} {} fps, {} kbit/s)", new.position, width, height, new_preset.fps, new.video_kbps());
}

/// A 320-pixel-wide RGBA copy of an I420 frame.
pub fn preview_of(frame: &crate::capture::frames::VideoFrame) -> super::Preview {
    let luma = frame.width * frame.height;
    let (y, chroma) = frame.i420.split_at(luma);
    let (u, v) = chroma.split_at(luma / 4);
    let chroma_stride = frame.width / 2;
    let (width, height, rgba) =
        crate::capture::convert::i420_to_rgba_preview([y, u, v], [frame.width, chroma_stride, chroma_stride], frame.width, frame.height, 320);
    super::Preview { width, height, rgba, captured_micros: frame.captured.micros }
}
