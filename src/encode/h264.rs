//! H.264 encoding with OpenH264: bitrate rate control, a fixed keyframe
//! interval, no frame skipping, and live bitrate changes.

use std::ffi::c_void;

use bytes::Bytes;
use openh264::OpenH264API;
use openh264::encoder::{BitRate, Complexity, Encoder, EncoderConfig, FrameRate, FrameType, IntraFramePeriod, RateControlMode, UsageType};
use openh264::formats::YUVSlices;

use super::EncodeError;
use crate::capture::frames::VideoFrame;
use crate::media::codec::H264Config;
use crate::media::h264::{annexb_nal_units, build_avcc, length_prefixed, parse_avcc};

pub struct EncodedVideo {
    pub keyframe: bool,
    /// Length-prefixed NAL units (parameter sets stripped; they travel in `config`).
    pub data: Bytes,
    /// Present when this frame carries new SPS/PPS.
    pub config: Option<H264Config>,
}

pub struct H264Encoder {
    encoder: Encoder,
    width: usize,
    height: usize,
    bitrate_kbps: u32,
    config: Option<H264Config>,
}

impl H264Encoder {
    pub fn new(width: usize, height: usize, fps: u32, bitrate_kbps: u32, keyframe_interval_secs: u32) -> Result<H264Encoder, EncodeError> {
        let threads = if width * height >= 1280 * 720 { std::thread::available_parallelism().map_or(1, |n| n.get().min(4)) as u16 } else { 1 };
        H264Encoder::build(width, height, bitrate_kbps, H264Encoder::config(fps, bitrate_kbps, fps * keyframe_interval_secs.max(1), threads))
    }

    /// For a ladder rung: one thread (rungs run in parallel already) and
    /// keyframes only where asked for, so they fall on the source's.
    /// Its picture analysis is off too (adaptive quantisation, background
    /// detection), as in x264's `ultrafast`, the preset ladders are measured
    /// against: a ladder's CPU grows with every rung.
    pub fn for_ladder(width: usize, height: usize, fps: u32, bitrate_kbps: u32) -> Result<H264Encoder, EncodeError> {
        let config = H264Encoder::config(fps, bitrate_kbps, 0, 1).adaptive_quantization(false).background_detection(false);
        H264Encoder::build(width, height, bitrate_kbps, config)
    }

    /// `intra_period_frames` 0: no periodic keyframes.
    fn config(fps: u32, bitrate_kbps: u32, intra_period_frames: u32, threads: u16) -> EncoderConfig {
        EncoderConfig::new()
            .bitrate(BitRate::from_bps(bitrate_kbps * 1000))
            .max_frame_rate(FrameRate::from_hz(fps as f32))
            .rate_control_mode(RateControlMode::Bitrate)
            .skip_frames(false)
            .intra_frame_period(IntraFramePeriod::from_num_frames(intra_period_frames))
            .scene_change_detect(false)
            .usage_type(UsageType::CameraVideoRealTime)
            .complexity(Complexity::Low)
            .num_threads(threads)
    }

    fn build(width: usize, height: usize, bitrate_kbps: u32, config: EncoderConfig) -> Result<H264Encoder, EncodeError> {
        let encoder = Encoder::with_api_config(OpenH264API::from_source(), config)
            .map_err(|e| EncodeError::Video(format!("cannot start H.264 encoder {width}x{height}: {e}")))?;
        Ok(H264Encoder { encoder, width, height, bitrate_kbps, config: None })
    }

    pub fn size(&self) -> (usize, usize) {
        (self.width, self.height)
    }

    pub fn bitrate_kbps(&self) -> u32 {
        self.bitrate_kbps
    }

    /// Changes the target bitrate from the next frame on.
    pub fn set_bitrate(&mut self, kbps: u32) -> Result<(), EncodeError> {
        for option in [openh264_sys2::ENCODER_OPTION_BITRATE, openh264_sys2::ENCODER_OPTION_MAX_BITRATE] {
            let mut info = openh264_sys2::SBitrateInfo { iLayer: openh264_sys2::SPATIAL_LAYER_ALL, iBitrate: (kbps * 1000) as i32 };
            // SAFETY: the option takes a pointer to an SBitrateInfo that lives for the call.
            let status = unsafe { self.encoder.raw_api().set_option(option, (&mut info as *mut openh264_sys2::SBitrateInfo).cast::<c_void>()) };
            if status != 0 {
                return Err(EncodeError::Video(format!("OpenH264 refused bitrate {kbps} kbit/s (status {status})")));
            }
        }
        self.bitrate_kbps = kbps;
        Ok(())
    }

    pub fn force_keyframe(&mut self) {
        self.encoder.force_intra_frame();
    }

    pub fn encode(&mut self, frame: &VideoFrame) -> Result<Option<EncodedVideo>, EncodeError> {
        if (frame.width, frame.height) != (self.width, self.height) {
            return Err(EncodeError::Video(format!("frame is {}x{}, encoder is {}x{}", frame.width, frame.height, self.width, self.height)));
        }
        let luma = self.width * self.height;
        if frame.i420.len() != luma + luma / 2 {
            return Err(EncodeError::Video(format!("frame holds {} bytes, not {} for I420", frame.i420.len(), luma + luma / 2)));
        }
        let (y, chroma) = frame.i420.split_at(luma);
        let (u, v) = chroma.split_at(luma / 4);
        let source = YUVSlices::new((y, u, v), (self.width, self.height), (self.width, self.width / 2, self.width / 2));
        let stream = self.encoder.encode(&source).map_err(|e| EncodeError::Video(format!("H.264 encoding failed: {e}")))?;
        let keyframe = matches!(stream.frame_type(), FrameType::IDR | FrameType::I);
        if matches!(stream.frame_type(), FrameType::Skip | FrameType::Invalid) {
            return Ok(None);
        }
        let annexb = stream.to_vec();
        let units = annexb_nal_units(&annexb);
        let (mut sps, mut pps) = (None, None);
        let mut picture = Vec::with_capacity(units.len());
        for unit in units {
            match unit.first().map(|b| b & 0x1f) {
                Some(7) => sps = Some(unit),
                Some(8) => pps = Some(unit),
                Some(9) => {} // access unit delimiters are not carried in FLV/MP4
                _ => picture.push(unit),
            }
        }
        let mut new_config = None;
        if let (Some(sps), Some(pps)) = (sps, pps) {
            let avcc = build_avcc(sps, pps).map_err(|e| EncodeError::Video(e.to_string()))?;
            let config = parse_avcc(avcc).map_err(|e| EncodeError::Video(format!("encoder wrote an unreadable SPS: {e}")))?;
            if self.config.as_ref() != Some(&config) {
                self.config = Some(config.clone());
                new_config = Some(config);
            }
        }
        if picture.is_empty() {
            return Ok(None);
        }
        Ok(Some(EncodedVideo { keyframe, data: Bytes::from(length_prefixed(&picture)), config: new_config }))
    }
}
