//! The bounded outgoing queue between the encoders and the network.
//!
//! Encoders never wait. Once the backlog passes half its allowed span,
//! non-reference video frames are dropped as they arrive; past the full
//! span, video is dropped from the oldest frame up to the next keyframe
//! (the rest of a GOP, so nothing is sent whose reference was dropped), and
//! audio older than the span goes too. Sequence headers are never dropped.

use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;

use crate::media::codec::CodecConfig;
use crate::media::time::{TimeBase, Timestamp};

#[derive(Clone, Debug, PartialEq)]
pub enum OutgoingKind {
    /// A codec configuration (a sequence header): every connection sends the newest first.
    Config(CodecConfig),
    Video {
        keyframe: bool,
        reference: bool,
    },
    Audio,
}

/// One encoded frame (or codec configuration) on its way to every driver,
/// which serialises it for its protocol at the edge (FLV for RTMP, TS for SRT).
#[derive(Clone, Debug)]
pub struct Outgoing {
    pub kind: OutgoingKind,
    pub dts: Timestamp,
    pub pts: Timestamp,
    /// Video: length-prefixed NAL units (4-byte lengths); audio: one raw AAC frame.
    pub data: Bytes,
    /// Capture time (µs on the capture clock), for capture-to-send latency.
    pub captured_micros: i64,
}

impl Outgoing {
    pub fn config(config: CodecConfig, at: Timestamp) -> Outgoing {
        Outgoing {
            kind: OutgoingKind::Config(config),
            dts: at,
            pts: at,
            data: Bytes::new(),
            captured_micros: at.rescale(TimeBase::MICROS).map_or(0, |t| t.value),
        }
    }

    fn is_video(&self) -> bool {
        matches!(self.kind, OutgoingKind::Video { .. })
    }

    fn is_media(&self) -> bool {
        matches!(self.kind, OutgoingKind::Video { .. } | OutgoingKind::Audio)
    }

    fn is_keyframe(&self) -> bool {
        matches!(self.kind, OutgoingKind::Video { keyframe: true, .. })
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DropCounts {
    pub video_frames: u64,
    pub audio_frames: u64,
}

impl DropCounts {
    /// The drops after `earlier`.
    pub fn since(self, earlier: DropCounts) -> DropCounts {
        DropCounts {
            video_frames: self.video_frames.saturating_sub(earlier.video_frames),
            audio_frames: self.audio_frames.saturating_sub(earlier.audio_frames),
        }
    }

    pub fn total(self) -> u64 {
        self.video_frames + self.audio_frames
    }
}

pub struct OutgoingQueue {
    items: VecDeque<Outgoing>,
    max_span: Timestamp,
    video_config: Option<Outgoing>,
    audio_config: Option<Outgoing>,
    /// After a drop or a reconnect, video resumes at a keyframe.
    waiting_for_keyframe: bool,
    pub drops: DropCounts,
}

impl OutgoingQueue {
    pub fn new(max_span: Duration) -> OutgoingQueue {
        let max_span = Timestamp::from_duration(max_span, TimeBase::MICROS).unwrap_or(Timestamp::new(i64::MAX, TimeBase::MICROS));
        OutgoingQueue { items: VecDeque::new(), max_span, video_config: None, audio_config: None, waiting_for_keyframe: false, drops: DropCounts::default() }
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Media time the queued media spans.
    pub fn span(&self) -> Duration {
        let media = |item: &&Outgoing| item.is_media();
        match (self.items.iter().find(media), self.items.iter().rev().find(media)) {
            (Some(first), Some(last)) => last.dts.checked_sub(first.dts).ok().and_then(Timestamp::to_duration).unwrap_or_default(),
            _ => Duration::ZERO,
        }
    }

    fn half_span(&self) -> Timestamp {
        Timestamp::new(self.max_span.value / 2, self.max_span.base)
    }

    /// Adds an item; returns true when video was dropped and a keyframe is wanted.
    pub fn push(&mut self, item: Outgoing) -> bool {
        match &item.kind {
            OutgoingKind::Config(CodecConfig::H264(_)) => self.video_config = Some(item.clone()),
            OutgoingKind::Config(CodecConfig::Aac(_)) => self.audio_config = Some(item.clone()),
            OutgoingKind::Video { reference: false, keyframe: false } if self.span() > self.half_span().to_duration().unwrap_or_default() => {
                self.drops.video_frames += 1;
                return false;
            }
            _ => {}
        }
        let horizon = item.dts.checked_sub(self.max_span).unwrap_or(item.dts);
        self.items.push_back(item);
        let mut dropped_video = false;
        while self.items.iter().find(|i| i.is_video()).is_some_and(|oldest| oldest.dts < horizon) {
            if !self.drop_gop_tail() {
                break;
            }
            dropped_video = true;
        }
        let before = self.items.len();
        self.items.retain(|i| !(i.kind == OutgoingKind::Audio && i.dts < horizon));
        self.drops.audio_frames += (before - self.items.len()) as u64;
        dropped_video
    }

    pub fn pop(&mut self) -> Option<Outgoing> {
        loop {
            let item = self.items.pop_front()?;
            if let OutgoingKind::Video { keyframe, .. } = item.kind {
                if self.waiting_for_keyframe && !keyframe {
                    self.drops.video_frames += 1;
                    continue;
                }
                if keyframe {
                    self.waiting_for_keyframe = false;
                }
            }
            return Some(item);
        }
    }

    /// A new connection: it needs the codec configurations first and video from a keyframe.
    pub fn resync(&mut self) -> Vec<Outgoing> {
        self.waiting_for_keyframe = true;
        self.items.retain(|item| !matches!(item.kind, OutgoingKind::Config(_)));
        self.video_config.iter().chain(self.audio_config.iter()).cloned().collect()
    }

    /// Drops video from the oldest queued frame up to the next queued keyframe.
    fn drop_gop_tail(&mut self) -> bool {
        let Some(first) = self.items.iter().position(Outgoing::is_video) else { return false };
        let next_keyframe = self.items.iter().enumerate().skip(first + 1).find(|(_, item)| item.is_keyframe()).map(|(i, _)| i);
        let end = next_keyframe.unwrap_or(self.items.len());
        let before = self.items.len();
        let mut index = 0;
        self.items.retain(|item| {
            let drop = index >= first && index < end && item.is_video();
            index += 1;
            !drop
        });
        let dropped = (before - self.items.len()) as u64;
        self.drops.video_frames += dropped;
        if next_keyframe.is_none() {
            self.waiting_for_keyframe = true;
        }
        dropped > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::codec::{AacConfig, H264Config};

    fn at(ms: i64) -> Timestamp {
        Timestamp::new(ms * 1000, TimeBase::MICROS)
    }

    fn frame(kind: OutgoingKind, ms: i64, data: &'static [u8]) -> Outgoing {
        Outgoing { kind, dts: at(ms), pts: at(ms), data: Bytes::from_static(data), captured_micros: ms * 1000 }
    }

    fn video(ms: i64, keyframe: bool) -> Outgoing {
        frame(OutgoingKind::Video { keyframe, reference: true }, ms, b"")
    }

    fn audio(ms: i64) -> Outgoing {
        frame(OutgoingKind::Audio, ms, b"")
    }

    fn h264_config() -> CodecConfig {
        let avcc = Bytes::from_static(b"v");
        CodecConfig::H264(H264Config { avcc, profile_idc: 66, constraint_flags: 0, level_idc: 31, width: 2, height: 2, frame_rate: None, nal_length_size: 4 })
    }

    fn aac_config() -> CodecConfig {
        CodecConfig::Aac(AacConfig { asc: Bytes::from_static(b"a"), object_type: 2, sample_rate: 48_000, channels: 2 })
    }

    #[test]
    fn congestion_drops_the_rest_of_a_gop_then_resumes_at_a_keyframe() {
        let mut queue = OutgoingQueue::new(Duration::from_millis(1000));
        queue.push(Outgoing::config(h264_config(), at(0)));
        // 2 s of 30 fps video, keyframe every second, with audio; nothing is sent.
        for frame in 0..60 {
            let ms = frame * 1000 / 30;
            queue.push(video(ms, frame % 30 == 0));
            queue.push(audio(ms));
        }
        assert!(queue.span() <= Duration::from_millis(1000));
        assert!(queue.drops.video_frames >= 30, "{:?}", queue.drops);
        // What remains of video starts at a keyframe.
        let first_video = std::iter::from_fn(|| queue.pop()).find(|item| matches!(item.kind, OutgoingKind::Video { .. })).unwrap();
        assert_eq!(first_video.kind, OutgoingKind::Video { keyframe: true, reference: true });
    }

    #[test]
    fn non_reference_frames_go_first() {
        let non_reference = |ms| frame(OutgoingKind::Video { keyframe: false, reference: false }, ms, b"");
        let mut queue = OutgoingQueue::new(Duration::from_millis(100));
        queue.push(video(0, true));
        queue.push(non_reference(33));
        queue.push(video(66, false));
        // Past half the span: a non-reference frame is not queued; reference frames still are.
        queue.push(non_reference(80));
        queue.push(video(90, false));
        assert_eq!(queue.drops.video_frames, 1);
        assert_eq!(queue.len(), 4);
    }

    #[test]
    fn a_new_connection_gets_headers_and_a_keyframe_first() {
        let mut queue = OutgoingQueue::new(Duration::from_millis(5000));
        queue.push(Outgoing::config(h264_config(), at(0)));
        queue.push(Outgoing::config(aac_config(), at(0)));
        queue.push(video(0, true));
        queue.push(video(33, false));
        while queue.pop().is_some() {}
        queue.push(video(66, false));
        queue.push(video(100, true));
        let headers = queue.resync();
        assert_eq!(headers.len(), 2);
        assert_eq!(headers.iter().map(|h| h.kind.clone()).collect::<Vec<_>>(), [OutgoingKind::Config(h264_config()), OutgoingKind::Config(aac_config())]);
        let next = queue.pop().unwrap();
        assert_eq!(next.dts, at(100), "the P-frame before the keyframe is skipped");
        assert_eq!(queue.drops.video_frames, 1);
    }
}
