//! Encoded media as it travels from ingest to the packager.

use bytes::Bytes;

use super::time::Timestamp;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TrackKind {
    Video,
    Audio,
}

/// One access unit (video: length-prefixed NAL units; audio: one raw AAC frame).
#[derive(Clone, Debug, PartialEq)]
pub struct EncodedFrame {
    pub kind: TrackKind,
    pub dts: Timestamp,
    pub pts: Timestamp,
    pub keyframe: bool,
    pub data: Bytes,
}

impl EncodedFrame {
    /// Composition offset (pts - dts) in the frame's time base.
    pub fn composition_offset(&self) -> i64 {
        self.pts.value - self.dts.value
    }
}
