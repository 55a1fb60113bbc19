//! One encode, several targets: every encoded frame is handed to each
//! target's own queue (a reference-counted copy), so a slow or dead target
//! drops by its own policy and never stalls or delays the others.

use std::sync::Arc;
use std::time::Duration;

use super::queue::Outgoing;
use super::shared::{EncoderSignals, MediaDescription, PublishShared};
use crate::capture::clock::CaptureClock;

pub struct Fanout {
    signals: Arc<EncoderSignals>,
    targets: Vec<Arc<PublishShared>>,
}

impl Fanout {
    /// `targets` queues, each holding up to `queue_span` of media before it drops.
    pub fn new(targets: usize, queue_span: Duration, clock: CaptureClock) -> Fanout {
        let signals = Arc::new(EncoderSignals::default());
        let targets = (0..targets).map(|_| Arc::new(PublishShared::new(queue_span, clock, signals.clone()))).collect();
        Fanout { signals, targets }
    }

    /// From an encoder thread: never waits on any network.
    pub fn push(&self, item: Outgoing) {
        let Some((last, rest)) = self.targets.split_last() else { return };
        for target in rest {
            target.push(item.clone());
        }
        last.push(item);
    }

    /// Each target's side, in the order they were made.
    pub fn targets(&self) -> &[Arc<PublishShared>] {
        &self.targets
    }

    pub fn take_keyframe_request(&self) -> bool {
        self.signals.take_keyframe_request()
    }

    pub fn set_media_description(&self, media: MediaDescription) {
        self.signals.set_media_description(media);
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::media::time::{TimeBase, Timestamp};
    use crate::publish::queue::OutgoingKind;

    fn video(ms: i64, keyframe: bool) -> Outgoing {
        let at = Timestamp::new(ms, TimeBase::MILLIS);
        Outgoing { kind: OutgoingKind::Video { keyframe, reference: true }, dts: at, pts: at, data: Bytes::from_static(b"frame"), captured_micros: ms * 1000 }
    }

    #[test]
    fn a_stalled_target_drops_on_its_own_while_the_other_gets_every_frame() {
        let fanout = Fanout::new(2, Duration::from_millis(500), CaptureClock::start());
        let [sending, stalled] = fanout.targets() else { panic!("two targets") };
        let mut received = 0;
        for frame in 0..90 {
            fanout.push(video(frame * 1000 / 30, frame % 30 == 0));
            while sending.pop().is_some() {
                received += 1;
            }
        }
        assert_eq!(received, 90);
        assert_eq!(sending.drops().video_frames, 0);
        assert!(stalled.drops().video_frames > 0, "the stalled target drops by its own policy");
        assert!(stalled.queue_depth() < 90);
    }

    #[test]
    fn any_target_asking_for_a_keyframe_reaches_the_encoder_once() {
        let fanout = Fanout::new(2, Duration::from_secs(1), CaptureClock::start());
        fanout.targets()[1].request_keyframe();
        assert!(fanout.take_keyframe_request());
        assert!(!fanout.take_keyframe_request());
    }
}
