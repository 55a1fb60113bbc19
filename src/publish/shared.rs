//! What the encoders and one target's network driver share: that target's
//! queue with its drop policy, its publish state and send counters, and the
//! encoders' signals (a keyframe request, the stream's shape) every target
//! of the same encode shares.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use super::queue::{DropCounts, Outgoing, OutgoingQueue};
use crate::capture::clock::CaptureClock;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PublishState {
    Idle,
    /// The first connection is being made.
    Connecting,
    Live,
    /// A live connection dropped; trying again with backoff.
    Reconnecting {
        attempt: u32,
        last_error: String,
    },
    /// Ended by the user.
    Stopped,
    /// Ended without the user: never connected, refused, or the capture failed.
    /// Nothing retries; the user may.
    Failed(PublishFailure),
}

impl PublishState {
    /// Stopped or failed: nothing runs any more.
    pub fn is_over(&self) -> bool {
        matches!(self, PublishState::Stopped | PublishState::Failed(_))
    }
}

impl std::fmt::Display for PublishState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PublishState::Idle => write!(f, "idle"),
            PublishState::Connecting => write!(f, "connecting"),
            PublishState::Live => write!(f, "live"),
            PublishState::Reconnecting { attempt, .. } => write!(f, "reconnecting (attempt {attempt})"),
            PublishState::Stopped => write!(f, "stopped"),
            PublishState::Failed(failure) => write!(f, "{failure}"),
        }
    }
}

/// Why a stream ended on its own, with the server it was going to.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PublishFailure {
    #[error("could not connect to {host}: {reason}")]
    Unreachable { host: String, reason: String },
    #[error("could not find the server {host}: {reason}")]
    Unresolved { host: String, reason: String },
    #[error("{host} refused the stream: {reason}")]
    Refused { host: String, reason: String },
    /// RTMPS: the server's certificate cannot be trusted.
    #[error("cannot trust {host}: {reason}")]
    Certificate { host: String, reason: String },
    /// The camera, microphone or an encoder failed.
    #[error("{0}")]
    Capture(String),
    /// The recording's file could not be made or written (a full disk); other targets go on.
    #[error("recording stopped: {0}")]
    Recording(RecordingFailure),
}

/// Why a recording's file could not be made or written, with the file.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RecordingFailure {
    #[error("the disk holding {path} is full; what was recorded up to here plays. Free some space, then record again")]
    DiskFull { path: std::path::PathBuf },
    #[error("cannot create {path}: {kind}")]
    Create { path: std::path::PathBuf, kind: std::io::ErrorKind },
    #[error("cannot write {path}: {kind}")]
    Write { path: std::path::PathBuf, kind: std::io::ErrorKind },
}

impl RecordingFailure {
    /// A write to `path` failed: a full disk (or quota) is named as such.
    pub fn of_write(path: &std::path::Path, error: &std::io::Error) -> RecordingFailure {
        let path = path.to_path_buf();
        match error.kind() {
            std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded | std::io::ErrorKind::FileTooLarge => RecordingFailure::DiskFull { path },
            kind => RecordingFailure::Write { path, kind },
        }
    }

    pub fn of_create(path: &std::path::Path, error: &std::io::Error) -> RecordingFailure {
        match RecordingFailure::of_write(path, error) {
            RecordingFailure::Write { path, kind } => RecordingFailure::Create { path, kind },
            full => full,
        }
    }
}

/// How the network path to the target is doing, where the protocol tells (SRT).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LinkStats {
    pub rtt_ms: f64,
    /// Packets the receiver reported lost, as a share of those sent.
    pub loss_percent: f64,
}

/// The stream's shape, for onMetaData.
#[derive(Clone, Copy, Debug, Default)]
pub struct MediaDescription {
    pub width: u32,
    pub height: u32,
    pub fps: f32,
    pub video_kbps: u32,
    pub audio_kbps: u32,
}

/// What the targets fed by one encode tell its encoders, and learn from them.
#[derive(Default)]
pub struct EncoderSignals {
    keyframe_wanted: AtomicBool,
    media: Mutex<MediaDescription>,
    /// The encode has a sound track, whose configuration may come after the video's.
    sound_coming: AtomicBool,
}

impl EncoderSignals {
    pub fn request_keyframe(&self) {
        self.keyframe_wanted.store(true, Ordering::SeqCst);
    }

    /// For the video encoder: true once per request, whichever target made it.
    pub fn take_keyframe_request(&self) -> bool {
        self.keyframe_wanted.swap(false, Ordering::SeqCst)
    }

    pub fn set_media_description(&self, media: MediaDescription) {
        *self.media.lock().unwrap_or_else(|p| p.into_inner()) = media;
    }

    pub fn media_description(&self) -> MediaDescription {
        *self.media.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn expect_sound(&self) {
        self.sound_coming.store(true, Ordering::SeqCst);
    }

    pub fn sound_coming(&self) -> bool {
        self.sound_coming.load(Ordering::SeqCst)
    }
}

/// One target's side of the publish path.
pub struct PublishShared {
    queue: Mutex<OutgoingQueue>,
    media_ready: Notify,
    signals: Arc<EncoderSignals>,
    state: Mutex<StateRecord>,
    pub bytes_sent: AtomicU64,
    pub video_frames_sent: AtomicU64,
    latencies: Mutex<VecDeque<i64>>,
    link: Mutex<Option<LinkStats>>,
    /// The video bitrate this target's path can carry, in kbit/s (0: no limit).
    video_limit_kbps: AtomicU32,
    clock: CaptureClock,
}

const LATENCY_SAMPLES: usize = 300;

/// The state, when the stream first went live, and the queue's drop counts
/// at its first Live and at its end: frames shed while the first connection
/// was being made, or after the end, are not dropped frames.
#[derive(Debug)]
struct StateRecord {
    state: PublishState,
    live_since: Option<Instant>,
    drops_before_live: DropCounts,
    drops_at_end: Option<DropCounts>,
}

impl PublishShared {
    pub fn new(queue_span: Duration, clock: CaptureClock, signals: Arc<EncoderSignals>) -> PublishShared {
        PublishShared {
            queue: Mutex::new(OutgoingQueue::new(queue_span)),
            media_ready: Notify::new(),
            signals,
            state: Mutex::new(StateRecord { state: PublishState::Idle, live_since: None, drops_before_live: DropCounts::default(), drops_at_end: None }),
            bytes_sent: AtomicU64::new(0),
            video_frames_sent: AtomicU64::new(0),
            latencies: Mutex::new(VecDeque::new()),
            link: Mutex::new(None),
            video_limit_kbps: AtomicU32::new(0),
            clock,
        }
    }

    fn queue(&self) -> std::sync::MutexGuard<'_, OutgoingQueue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// From an encoder thread: never waits on the network.
    pub fn push(&self, item: Outgoing) {
        if self.queue().push(item) {
            self.request_keyframe();
        }
        self.media_ready.notify_one();
    }

    pub fn pop(&self) -> Option<Outgoing> {
        self.queue().pop()
    }

    pub fn resync(&self) -> Vec<Outgoing> {
        self.queue().resync()
    }

    pub async fn wait_for_media(&self) {
        self.media_ready.notified().await;
    }

    /// Whether the encode has sound: a driver that fixes its tracks at the
    /// start (WebRTC's offer) waits for its configuration.
    pub fn sound_coming(&self) -> bool {
        self.signals.sound_coming()
    }

    pub fn queue_depth(&self) -> usize {
        self.queue().len()
    }

    /// The media time the waiting frames span.
    pub fn queue_span(&self) -> Duration {
        self.queue().span()
    }

    /// Frames dropped while live or reconnecting.
    pub fn drops(&self) -> DropCounts {
        let now = self.queue().drops;
        let record = self.record();
        match record.live_since {
            None => DropCounts::default(),
            Some(_) => record.drops_at_end.unwrap_or(now).since(record.drops_before_live),
        }
    }

    fn record(&self) -> std::sync::MutexGuard<'_, StateRecord> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn request_keyframe(&self) {
        self.signals.request_keyframe();
    }

    pub fn set_state(&self, state: PublishState) {
        let drops = self.queue().drops;
        let mut record = self.record();
        if state == PublishState::Live && record.live_since.is_none() {
            record.live_since = Some(Instant::now());
            record.drops_before_live = drops;
        }
        if state.is_over() && record.drops_at_end.is_none() {
            record.drops_at_end = Some(drops);
        }
        record.state = state;
    }

    /// The state and when the stream first went live.
    pub fn state(&self) -> (PublishState, Option<Instant>) {
        let record = self.record();
        (record.state.clone(), record.live_since)
    }

    pub fn media_description(&self) -> MediaDescription {
        self.signals.media_description()
    }

    pub fn set_link_stats(&self, stats: LinkStats) {
        *self.link.lock().unwrap_or_else(|p| p.into_inner()) = Some(stats);
    }

    pub fn link_stats(&self) -> Option<LinkStats> {
        *self.link.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A congestion-aware target (WebRTC) says how much video its path
    /// carries; the encoder sends the least of every target's limit and the
    /// knob's bitrate. None lifts the limit.
    pub fn limit_video_kbps(&self, kbps: Option<u32>) {
        self.video_limit_kbps.store(kbps.unwrap_or(0), Ordering::Relaxed);
    }

    pub fn video_limit_kbps(&self) -> Option<u32> {
        Some(self.video_limit_kbps.load(Ordering::Relaxed)).filter(|&kbps| kbps > 0)
    }

    /// The instant `micros` is on the capture clock.
    pub fn capture_instant(&self, micros: i64) -> Instant {
        self.clock.instant(micros)
    }

    pub fn count_sent(&self, bytes: usize) {
        self.bytes_sent.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// A video frame left for the socket: record its capture-to-send latency.
    pub fn count_video_frame(&self, captured_micros: i64) {
        self.video_frames_sent.fetch_add(1, Ordering::Relaxed);
        let latency = self.clock.now().micros - captured_micros;
        let mut latencies = self.latencies.lock().unwrap_or_else(|p| p.into_inner());
        if latencies.len() == LATENCY_SAMPLES {
            latencies.pop_front();
        }
        latencies.push_back(latency);
    }

    /// Capture-to-send latency (p50, p99) in milliseconds over recent frames.
    pub fn latency_ms(&self) -> Option<(f64, f64)> {
        let latencies = self.latencies.lock().unwrap_or_else(|p| p.into_inner());
        let mut sorted: Vec<i64> = latencies.iter().copied().collect();
        sorted.sort_unstable();
        let last = sorted.len().checked_sub(1)?;
        let at = |p: f64| sorted[((last as f64) * p).round() as usize] as f64 / 1000.0;
        Some((at(0.5), at(0.99)))
    }
}
