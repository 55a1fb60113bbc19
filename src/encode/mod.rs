//! Encoders: H.264 (OpenH264) and AAC-LC (FDK), under the quality knob, and
//! the AAC-to-Opus transcode WebRTC needs.

pub mod aac;
pub mod aac_to_opus;
pub mod h264;
pub mod quality;

#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    #[error("{0}")]
    Video(String),
    #[error("{0}")]
    Audio(String),
}
