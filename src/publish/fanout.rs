//! One encode, several targets: every encoded frame is handed to each
//! target's own queue (a reference-counted copy), so a slow or dead target
//! drops by its own policy and never stalls or delays the others. Targets
//! come and go while the encode runs.

use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use super::queue::{Outgoing, OutgoingKind};
use super::shared::{EncoderSignals, MediaDescription, PublishShared};
use crate::capture::clock::CaptureClock;
use crate::media::codec::CodecConfig;

pub struct Fanout {
    signals: Arc<EncoderSignals>,
    queue_span: Duration,
    clock: CaptureClock,
    targets: RwLock<Vec<Arc<PublishShared>>>,
    /// The newest video and audio configurations, for a target that joins later.
    configs: Mutex<[Option<Outgoing>; 2]>,
}

impl Fanout {
    /// `targets` queues, each holding up to `queue_span` of media before it drops.
    pub fn new(targets: usize, queue_span: Duration, clock: CaptureClock) -> Fanout {
        let signals = Arc::new(EncoderSignals::default());
        let targets = (0..targets).map(|_| Arc::new(PublishShared::new(queue_span, clock, signals.clone()))).collect();
        Fanout { signals, queue_span, clock, targets: RwLock::new(targets), configs: Mutex::new([None, None]) }
    }

    /// From an encoder thread: never waits on any network.
    pub fn push(&self, item: Outgoing) {
        if let OutgoingKind::Config(config) = &item.kind {
            let slot = usize::from(matches!(config, CodecConfig::Aac(_)));
            self.configs.lock().unwrap_or_else(|p| p.into_inner())[slot] = Some(item.clone());
        }
        let targets = self.targets.read().unwrap_or_else(|p| p.into_inner());
        let Some((last, rest)) = targets.split_last() else { return };
        for target in rest {
            target.push(item.clone());
        }
        last.push(item);
    }

    /// Each target's side, in the order they were added.
    pub fn targets(&self) -> Vec<Arc<PublishShared>> {
        self.targets.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// A new target, fed from now on: it gets the codec configurations at
    /// once and starts at the keyframe the encoder is asked for.
    pub fn add(&self) -> Arc<PublishShared> {
        let target = Arc::new(PublishShared::new(self.queue_span, self.clock, self.signals.clone()));
        for config in self.configs.lock().unwrap_or_else(|p| p.into_inner()).iter().flatten() {
            target.push(config.clone());
        }
        target.request_keyframe();
        self.targets.write().unwrap_or_else(|p| p.into_inner()).push(target.clone());
        target
    }

    /// The target is no longer fed.
    pub fn remove(&self, target: &Arc<PublishShared>) {
        self.targets.write().unwrap_or_else(|p| p.into_inner()).retain(|t| !Arc::ptr_eq(t, target));
    }

    /// The least video bitrate any target's path carries, if one says.
    pub fn video_limit_kbps(&self) -> Option<u32> {
        self.targets.read().unwrap_or_else(|p| p.into_inner()).iter().filter_map(|t| t.video_limit_kbps()).min()
    }

    pub fn take_keyframe_request(&self) -> bool {
        self.signals.take_keyframe_request()
    }

    pub fn set_media_description(&self, media: MediaDescription) {
        self.signals.set_media_description(media);
    }

    /// The encode has a sound track (said before any target starts).
    pub fn expect_sound(&self) {
        self.signals.expect_sound();
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::media::time::{TimeBase, Timestamp};
    use crate::publish::queue::OutgoingKind;
    use crate::publish::shared::PublishState;

    fn video(ms: i64, keyframe: bool) -> Outgoing {
        let at = Timestamp::new(ms, TimeBase::MILLIS);
        Outgoing { kind: OutgoingKind::Video { keyframe, reference: true }, dts: at, pts: at, data: Bytes::from_static(b"frame"), captured_micros: ms * 1000 }
    }

    #[test]
    fn a_stalled_target_drops_on_its_own_while_the_other_gets_every_frame() {
        let fanout = Fanout::new(2, Duration::from_millis(500), CaptureClock::start());
        let [sending, stalled] = &fanout.targets()[..] else { panic!("two targets") };
        // Both connected: the stalled one's socket just does not drain.
        sending.set_state(PublishState::Live);
        stalled.set_state(PublishState::Live);
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
    fn only_frames_shed_while_live_or_reconnecting_count_as_dropped() {
        let fanout = Fanout::new(1, Duration::from_millis(500), CaptureClock::start());
        let target = fanout.targets()[0].clone();
        let mut frame = 0;
        let mut push_a_second = || {
            for _ in 0..30 {
                fanout.push(video(frame * 1000 / 30, frame % 30 == 0));
                frame += 1;
            }
        };
        target.set_state(PublishState::Connecting);
        push_a_second();
        assert!(target.queue_depth() < 30, "the queue sheds while connecting");
        assert_eq!(target.drops().total(), 0, "but nothing was dropped before the first connection");
        target.set_state(PublishState::Live);
        push_a_second();
        let live = target.drops().total();
        assert!(live > 0);
        target.set_state(PublishState::Reconnecting { attempt: 1, last_error: "reset".into() });
        push_a_second();
        let reconnecting = target.drops().total();
        assert!(reconnecting > live, "a drop while reconnecting counts");
        target.set_state(PublishState::Stopped);
        push_a_second();
        assert_eq!(target.drops().total(), reconnecting, "nothing counts after the end");
    }

    #[test]
    fn any_target_asking_for_a_keyframe_reaches_the_encoder_once() {
        let fanout = Fanout::new(2, Duration::from_secs(1), CaptureClock::start());
        fanout.targets()[1].request_keyframe();
        assert!(fanout.take_keyframe_request());
        assert!(!fanout.take_keyframe_request());
    }
}
