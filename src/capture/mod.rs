//! Where pictures and sound come from: cameras, microphones, and synthetic
//! sources that carry a capture stamp for measuring latency and A/V sync.

pub mod camera;
pub mod clock;
pub mod convert;
pub mod frames;
pub mod microphone;
pub mod pattern;
pub mod pulse;
pub mod tone;

use frames::{AudioBuffer, VideoFrame};

#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("{0}")]
    NoDevice(String),
    #[error("{0}")]
    Device(String),
}

/// A blocking source of pictures, paced by the device (or by the capture clock).
pub trait VideoSource: Send {
    fn next_frame(&mut self) -> Result<VideoFrame, CaptureError>;
    /// Frames from now on come at this size and rate.
    fn set_output(&mut self, width: usize, height: usize, fps: u32);
    fn size(&self) -> (usize, usize);
    fn describe(&self) -> String;
    /// Takes back a frame the encoder is done with, to draw the next one in its memory.
    fn recycle(&mut self, _frame: VideoFrame) {}
}

/// A blocking source of 48 kHz stereo buffers.
pub trait AudioSource: Send {
    fn next_buffer(&mut self) -> Result<AudioBuffer, CaptureError>;
    fn describe(&self) -> String;
}
