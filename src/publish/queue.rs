//! The bounded outgoing queue between the encoders and the network.
//!
//! Encoders never wait. Once the backlog passes half its allowed span,
//! non-reference video frames are dropped as they arrive; past the full
//! span, video is dropped from the oldest frame up to the next keyframe
//! (the rest of a GOP, so nothing is sent whose reference was dropped), and
//! audio older than the span goes too. Sequence headers are never dropped.

use std::collections::VecDeque;

use bytes::Bytes;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutgoingKind {
    VideoHeader,
    AudioHeader,
    Video { keyframe: bool, reference: bool },
    Audio,
}

/// One FLV tag body ready for the RTMP session.
#[derive(Clone, Debug)]
pub struct Outgoing {
    pub kind: OutgoingKind,
    /// RTMP timestamp (decode time) in milliseconds.
    pub timestamp_ms: i64,
    pub body: Bytes,
    /// Capture time (µs on the capture clock), for capture-to-send latency.
    pub captured_micros: i64,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DropCounts {
    pub video_frames: u64,
    pub audio_frames: u64,
}

pub struct OutgoingQueue {
    items: VecDeque<Outgoing>,
    max_span_ms: i64,
    video_header: Option<Outgoing>,
    audio_header: Option<Outgoing>,
    /// After a drop or a reconnect, video resumes at a keyframe.
    waiting_for_keyframe: bool,
    pub drops: DropCounts,
}

impl OutgoingQueue {
    pub fn new(max_span_ms: i64) -> OutgoingQueue {
        OutgoingQueue { items: VecDeque::new(), max_span_ms, video_header: None, audio_header: None, waiting_for_keyframe: false, drops: DropCounts::default() }
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Media time the queued media spans, in milliseconds.
    pub fn span_ms(&self) -> i64 {
        let media = |item: &&Outgoing| matches!(item.kind, OutgoingKind::Video { .. } | OutgoingKind::Audio);
        match (self.items.iter().find(media), self.items.iter().rev().find(media)) {
            (Some(first), Some(last)) => last.timestamp_ms - first.timestamp_ms,
            _ => 0,
        }
    }

    /// Adds an item; returns true when video was dropped and a keyframe is wanted.
    pub fn push(&mut self, item: Outgoing) -> bool {
        match item.kind {
            OutgoingKind::VideoHeader => self.video_header = Some(item.clone()),
            OutgoingKind::AudioHeader => self.audio_header = Some(item.clone()),
            OutgoingKind::Video { reference: false, keyframe: false } if self.span_ms() > self.max_span_ms / 2 => {
                self.drops.video_frames += 1;
                return false;
            }
            _ => {}
        }
        let newest = item.timestamp_ms;
        self.items.push_back(item);
        let horizon = newest - self.max_span_ms;
        let mut dropped_video = false;
        while self.items.iter().find(|i| matches!(i.kind, OutgoingKind::Video { .. })).is_some_and(|oldest| oldest.timestamp_ms < horizon) {
            if !self.drop_gop_tail() {
                break;
            }
            dropped_video = true;
        }
        let before = self.items.len();
        self.items.retain(|i| !(i.kind == OutgoingKind::Audio && i.timestamp_ms < horizon));
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

    /// A new connection: it needs the sequence headers first and video from a keyframe.
    pub fn resync(&mut self) -> Vec<Outgoing> {
        self.waiting_for_keyframe = true;
        self.items.retain(|item| !matches!(item.kind, OutgoingKind::VideoHeader | OutgoingKind::AudioHeader));
        self.video_header.iter().chain(self.audio_header.iter()).cloned().collect()
    }

    /// Drops video from the oldest queued frame up to the next queued keyframe.
    fn drop_gop_tail(&mut self) -> bool {
        let is_video = |item: &Outgoing| matches!(item.kind, OutgoingKind::Video { .. });
        let Some(first) = self.items.iter().position(is_video) else { return false };
        let next_keyframe =
            self.items.iter().enumerate().skip(first + 1).find(|(_, item)| matches!(item.kind, OutgoingKind::Video { keyframe: true, .. })).map(|(i, _)| i);
        let end = next_keyframe.unwrap_or(self.items.len());
        let before = self.items.len();
        let mut index = 0;
        self.items.retain(|item| {
            let drop = index >= first && index < end && is_video(item);
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

    fn video(ms: i64, keyframe: bool) -> Outgoing {
        Outgoing { kind: OutgoingKind::Video { keyframe, reference: true }, timestamp_ms: ms, body: Bytes::new(), captured_micros: ms * 1000 }
    }

    fn audio(ms: i64) -> Outgoing {
        Outgoing { kind: OutgoingKind::Audio, timestamp_ms: ms, body: Bytes::new(), captured_micros: ms * 1000 }
    }

    #[test]
    fn congestion_drops_the_rest_of_a_gop_then_resumes_at_a_keyframe() {
        let mut queue = OutgoingQueue::new(1000);
        queue.push(Outgoing { kind: OutgoingKind::VideoHeader, timestamp_ms: 0, body: Bytes::new(), captured_micros: 0 });
        // 2 s of 30 fps video, keyframe every second, with audio; nothing is sent.
        for frame in 0..60 {
            let ms = frame * 1000 / 30;
            queue.push(video(ms, frame % 30 == 0));
            queue.push(audio(ms));
        }
        assert!(queue.span_ms() <= 1000);
        assert!(queue.drops.video_frames >= 30, "{:?}", queue.drops);
        // What remains of video starts at a keyframe.
        let first_video = std::iter::from_fn(|| queue.pop()).find(|item| matches!(item.kind, OutgoingKind::Video { .. })).unwrap();
        assert_eq!(first_video.kind, OutgoingKind::Video { keyframe: true, reference: true });
    }

    #[test]
    fn non_reference_frames_go_first() {
        let non_reference =
            |ms| Outgoing { kind: OutgoingKind::Video { keyframe: false, reference: false }, timestamp_ms: ms, body: Bytes::new(), captured_micros: 0 };
        let mut queue = OutgoingQueue::new(100);
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
        let mut queue = OutgoingQueue::new(5000);
        queue.push(Outgoing { kind: OutgoingKind::VideoHeader, timestamp_ms: 0, body: Bytes::from_static(b"v"), captured_micros: 0 });
        queue.push(Outgoing { kind: OutgoingKind::AudioHeader, timestamp_ms: 0, body: Bytes::from_static(b"a"), captured_micros: 0 });
        queue.push(video(0, true));
        queue.push(video(33, false));
        while queue.pop().is_some() {}
        queue.push(video(66, false));
        queue.push(video(100, true));
        let headers = queue.resync();
        assert_eq!(headers.len(), 2);
        let next = queue.pop().unwrap();
        assert_eq!(next.timestamp_ms, 100, "the P-frame before the keyframe is skipped");
        assert_eq!(queue.drops.video_frames, 1);
    }
}
