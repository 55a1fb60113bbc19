//! Live streams by key: who may publish, republish within the grace period,
//! and when a stream ends.

pub mod stream;
pub mod wakeups;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::media::codec::CodecConfig;
use crate::media::frame::{EncodedFrame, TrackKind};
pub use crate::media::shown::shown_key;
use crate::media::wallclock::UnixMillis;
use crate::server::config::{ConflictPolicy, LadderConfig, ServerConfig};
use crate::server::forward::Forwards;
use crate::server::hub::stream::{Packager, StreamSnapshot};
use crate::server::hub::wakeups::{TrackKey, WaitPoint, Waiting, Wakeups};
use crate::server::ladder::{Ladder, LadderStatus, RungSink, SourceFrame};
use crate::server::metrics::Metrics;
use crate::server::package::cmaf::rung::RungFrame;
use crate::server::record::{Recorder, Recording};
use crate::server::webrtc::endpoint::Endpoint;
use crate::server::webrtc::feed::RtcFeed;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum StreamState {
    /// A publisher is connected.
    Live,
    /// The publisher left; it may come back until the grace period ends.
    Waiting { since: Instant },
    /// Over: playlists end, the MPD is static; removed after a while.
    Ended { since: Instant },
}

/// How a publisher reached the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum IngestProtocol {
    Rtmp,
    Srt,
    #[serde(rename = "webrtc")]
    WebRtc,
}

impl std::fmt::Display for IngestProtocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            IngestProtocol::Rtmp => "rtmp",
            IngestProtocol::Srt => "srt",
            IngestProtocol::WebRtc => "webrtc",
        })
    }
}

/// Transport statistics of the current publisher (SRT: from the socket and the TS demuxer).
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct IngestStats {
    pub rtt_ms: f64,
    pub packets_received: u64,
    pub packets_lost: u64,
    pub packets_retransmitted: u64,
    pub packets_dropped: u64,
    pub continuity_errors: u64,
    pub frames_dropped: u64,
}

pub struct LiveStream {
    pub key: String,
    protocol: Mutex<IngestProtocol>,
    ingest_stats: Mutex<Option<IngestStats>>,
    pub peer: Mutex<SocketAddr>,
    packager: Mutex<Packager>,
    state: Mutex<StreamState>,
    /// Incremented by each publisher; a replaced publisher sees a newer one.
    session: AtomicU64,
    viewers: Mutex<HashMap<u64, Instant>>,
    /// The current publisher's transcoding ladder, if the stream has one.
    ladder: Mutex<Option<Ladder>>,
    /// The destinations the stream is pushed to, if any.
    pub forwards: Option<Forwards>,
    /// What its WebRTC viewers are sent.
    pub rtc: Arc<RtcFeed>,
    /// The packager's snapshots, read without its lock: requests never wait
    /// while a frame is packaged and the playlists rendered.
    snapshots: watch::Receiver<Arc<StreamSnapshot>>,
    wakeups: Arc<Wakeups>,
    pub created: Instant,
    /// The ended stream this one took the key over from: its playlists are
    /// served until this one has a segment, so a returning publisher's
    /// viewers never meet a 404 in between.
    replaced: Mutex<Option<Arc<LiveStream>>>,
}

impl LiveStream {
    pub fn packager(&self) -> MutexGuard<'_, Packager> {
        self.packager.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The protocol of the current (or last) publisher.
    pub fn protocol(&self) -> IngestProtocol {
        *self.protocol.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn ingest_stats(&self) -> Option<IngestStats> {
        *self.ingest_stats.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn set_ingest_stats(&self, stats: IngestStats) {
        *self.ingest_stats.lock().unwrap_or_else(|p| p.into_inner()) = Some(stats);
    }

    pub fn state(&self) -> StreamState {
        *self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn set_state(&self, state: StreamState) {
        *self.state.lock().unwrap_or_else(|p| p.into_inner()) = state;
    }

    pub fn snapshot(&self) -> Arc<StreamSnapshot> {
        self.snapshots.borrow().clone()
    }

    /// The stream whose media answers requests for this key: this one, or
    /// the ended one it replaced while this one has no segment yet.
    pub fn serving(self: &Arc<Self>) -> Arc<LiveStream> {
        let mut replaced = self.replaced.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(previous) = replaced.as_ref() {
            if self.snapshot().master().is_none() {
                return previous.clone();
            }
            *replaced = None;
        }
        self.clone()
    }

    /// Where a request for `track` waits for the next snapshot.
    pub fn wait_point(&self, track: Option<TrackKey>, waiting: Waiting) -> WaitPoint {
        self.wakeups.point(track, waiting)
    }

    /// Records a viewer (a hash of address and user agent) for the recent-viewers count.
    pub fn saw_viewer(&self, viewer: u64, now: Instant) {
        if let Ok(mut viewers) = self.viewers.lock() {
            viewers.insert(viewer, now);
            if viewers.len() > 4096 {
                viewers.retain(|_, seen| now.duration_since(*seen) < VIEWER_WINDOW);
            }
        }
    }

    fn ladder(&self) -> MutexGuard<'_, Option<Ladder>> {
        self.ladder.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn ladder_status(&self) -> Option<LadderStatus> {
        self.ladder().as_ref().map(Ladder::status)
    }

    pub fn viewers(&self, now: Instant) -> usize {
        self.viewers.lock().map_or(0, |mut viewers| {
            viewers.retain(|_, seen| now.duration_since(*seen) < VIEWER_WINDOW);
            viewers.len()
        })
    }
}

const VIEWER_WINDOW: Duration = Duration::from_secs(15);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PublishError {
    #[error("stream key {0:?} is already live; a second publisher is refused")]
    AlreadyLive(String),
    #[error("stream key {0:?} is not valid: use 1-128 characters of letters, digits, '-', '_' or '.'")]
    BadKey(String),
    #[error("a newer publisher took over stream {0:?}")]
    Replaced(String),
    #[error("the server carries its most live streams ({0}, [limits] max_streams)")]
    TooManyStreams(usize),
}

pub struct Hub {
    config: ServerConfig,
    /// `ladder.enabled`, switchable while running (the desktop app's checkbox).
    ladder_on: AtomicBool,
    streams: Mutex<HashMap<String, Arc<LiveStream>>>,
    pub metrics: Arc<Metrics>,
    /// Told when a stream starts waiting for its publisher, so the task
    /// that ends streams sleeps until the next deadline instead of polling.
    expiry_changed: Arc<tokio::sync::Notify>,
    /// Writes the recorded keys' streams to disk, when recording is on.
    recorder: Option<Arc<Recorder>>,
    /// Where forwards to `[[forward]]` destinations run.
    runtime: Option<tokio::runtime::Handle>,
    /// The WebRTC port, when the server runs one.
    webrtc: Option<Arc<Endpoint>>,
}

impl Hub {
    pub fn new(config: ServerConfig, metrics: Arc<Metrics>) -> Hub {
        let ladder_on = AtomicBool::new(config.ladder.enabled);
        Hub {
            config,
            ladder_on,
            streams: Mutex::new(HashMap::new()),
            metrics,
            expiry_changed: Arc::new(tokio::sync::Notify::new()),
            recorder: None,
            runtime: None,
            webrtc: None,
        }
    }

    /// Records the keys `record.keys` names (all when empty) with `recorder`.
    pub fn with_recorder(mut self, recorder: Option<Arc<Recorder>>) -> Hub {
        self.recorder = recorder;
        self
    }

    /// Runs streams' forwards on `runtime` (none run without one).
    pub fn with_runtime(mut self, runtime: tokio::runtime::Handle) -> Hub {
        self.runtime = Some(runtime);
        self
    }

    /// Serves WebRTC viewers through `endpoint`.
    pub fn with_webrtc(mut self, endpoint: Arc<Endpoint>) -> Hub {
        self.webrtc = Some(endpoint);
        self
    }

    pub fn webrtc(&self) -> Option<&Arc<Endpoint>> {
        self.webrtc.as_ref()
    }

    pub fn recorder(&self) -> Option<&Arc<Recorder>> {
        self.recorder.as_ref()
    }

    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// Turns the ladder on or off for publishers that start from now on.
    pub fn set_ladder(&self, on: bool) {
        self.ladder_on.store(on, Ordering::Relaxed);
    }

    pub fn ladder_on(&self) -> bool {
        self.ladder_on.load(Ordering::Relaxed)
    }

    fn streams(&self) -> MutexGuard<'_, HashMap<String, Arc<LiveStream>>> {
        self.streams.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn get(&self, key: &str) -> Option<Arc<LiveStream>> {
        self.streams().get(key).cloned()
    }

    /// Streams sorted by key.
    pub fn list(&self) -> Vec<Arc<LiveStream>> {
        let mut streams: Vec<_> = self.streams().values().cloned().collect();
        streams.sort_by(|a, b| a.key.cmp(&b.key));
        streams
    }

    pub fn live_count(&self) -> usize {
        self.streams().values().filter(|s| !matches!(s.state(), StreamState::Ended { .. })).count()
    }

    /// Whether `key` could be published now, without taking it: lets SRT
    /// refuse at the handshake rather than after accepting.
    pub fn may_publish(&self, key: &str) -> Result<(), PublishError> {
        if !valid_key(key) {
            return Err(PublishError::BadKey(shown_key(key)));
        }
        let streams = self.streams();
        let live = streams.get(key).is_some_and(|s| s.state() == StreamState::Live);
        if live && self.config.streams.on_conflict == ConflictPolicy::Refuse {
            return Err(PublishError::AlreadyLive(key.to_string()));
        }
        self.room_for(&streams, key)
    }

    /// Whether `key` may start a new stream under `[limits] max_streams`; a
    /// publisher continuing its stream always may.
    fn room_for(&self, streams: &HashMap<String, Arc<LiveStream>>, key: &str) -> Result<(), PublishError> {
        let continues = streams.get(key).is_some_and(|s| !matches!(s.state(), StreamState::Ended { .. }));
        let most = self.config.limits.max_streams;
        let live = streams.values().filter(|s| !matches!(s.state(), StreamState::Ended { .. })).count();
        if continues || live < most { Ok(()) } else { Err(PublishError::TooManyStreams(most)) }
    }

    /// A publisher asks for `key`.
    pub fn publish(&self, key: &str, protocol: IngestProtocol, peer: SocketAddr) -> Result<Publisher, PublishError> {
        if !valid_key(key) {
            return Err(PublishError::BadKey(shown_key(key)));
        }
        let mut streams = self.streams();
        self.room_for(&streams, key)?;
        let existing = streams.get(key).cloned();
        let stream = match existing {
            Some(stream) => match stream.state() {
                StreamState::Live if self.config.streams.on_conflict == ConflictPolicy::Refuse => {
                    return Err(PublishError::AlreadyLive(key.to_string()));
                }
                StreamState::Live | StreamState::Waiting { .. } => {
                    tracing::info!(key, %peer, "publisher continues stream");
                    stream
                }
                StreamState::Ended { .. } => self.new_stream(&mut streams, key, protocol, peer, Some(stream.serving())),
            },
            None => self.new_stream(&mut streams, key, protocol, peer, None),
        };
        let session = stream.session.fetch_add(1, Ordering::SeqCst) + 1;
        *stream.peer.lock().unwrap_or_else(|p| p.into_inner()) = peer;
        *stream.protocol.lock().unwrap_or_else(|p| p.into_inner()) = protocol;
        *stream.ingest_stats.lock().unwrap_or_else(|p| p.into_inner()) = None;
        {
            let mut packager = stream.packager();
            if session > 1 {
                // A takeover ends the old publisher's segments first.
                packager.flush(UnixMillis::from_system_time(std::time::SystemTime::now()));
            }
            packager.begin_session();
        }
        if let Some(forwards) = &stream.forwards {
            forwards.begin_session();
        }
        stream.rtc.begin_session();
        stream.set_state(StreamState::Live);
        let ladder = (self.ladder_on() && self.config.ladder.covers(key)).then(|| self.config.ladder.clone());
        Ok(Publisher { stream, session, metrics: self.metrics.clone(), ladder, expiry_changed: self.expiry_changed.clone() })
    }

    fn new_stream(
        &self,
        streams: &mut HashMap<String, Arc<LiveStream>>,
        key: &str,
        protocol: IngestProtocol,
        peer: SocketAddr,
        replaced: Option<Arc<LiveStream>>,
    ) -> Arc<LiveStream> {
        let segments = &self.config.segments;
        let mut packager =
            Packager::new(key, segments.target_ms, segments.low_latency.then_some(segments.part_target_ms), segments.window, segments.directory.clone())
                .with_chunks(segments.chunk_ms);
        if let Some(recorder) = self.recorder.as_ref().filter(|_| self.config.record.covers(key)) {
            packager = packager.with_recording(Recording::begin(recorder, key, UnixMillis::from_system_time(std::time::SystemTime::now())));
        }
        let stream = Arc::new(LiveStream {
            key: key.to_string(),
            protocol: Mutex::new(protocol),
            ingest_stats: Mutex::new(None),
            peer: Mutex::new(peer),
            snapshots: packager.subscribe(),
            wakeups: packager.wakeups(),
            packager: Mutex::new(packager),
            state: Mutex::new(StreamState::Live),
            session: AtomicU64::new(0),
            viewers: Mutex::new(HashMap::new()),
            ladder: Mutex::new(None),
            forwards: self.runtime.as_ref().and_then(|runtime| Forwards::start(key, &self.config.forward, runtime)),
            rtc: Arc::new(RtcFeed::new(key, self.webrtc.as_ref().map(|endpoint| endpoint.media_lane()))),
            created: Instant::now(),
            replaced: Mutex::new(replaced),
        });
        streams.insert(key.to_string(), stream.clone());
        tracing::info!(key, %peer, "new stream");
        stream
    }

    /// Ends streams whose grace period ran out and forgets long-ended ones.
    /// When the next stream's grace period or keep time runs out, if any
    /// stream is waiting or ended: [`Hub::tick`] is due then, and not before.
    pub fn next_expiry(&self) -> Option<Instant> {
        let (grace, keep) = self.expiry_periods();
        self.streams()
            .values()
            .filter_map(|stream| match stream.state() {
                StreamState::Waiting { since } => Some(since + grace),
                StreamState::Ended { since } => Some(since + keep),
                StreamState::Live => None,
            })
            .min()
    }

    /// Resolves when a stream starts waiting, which may bring the next expiry forward.
    pub async fn expiry_changed(&self) {
        self.expiry_changed.notified().await;
    }

    fn expiry_periods(&self) -> (Duration, Duration) {
        let grace = Duration::from_secs_f64(self.config.streams.grace_seconds.max(0.0));
        let keep = Duration::from_secs_f64(self.config.streams.keep_ended_seconds.max(0.0));
        (grace, keep)
    }

    pub fn tick(&self, now: Instant, wall: UnixMillis) {
        let (grace, keep) = self.expiry_periods();
        let mut streams = self.streams();
        streams.retain(|key, stream| match stream.state() {
            StreamState::Waiting { since } if now.duration_since(since) >= grace => {
                tracing::info!(key, "publisher did not come back; stream ended");
                stream.packager().end(wall);
                if let Some(forwards) = &stream.forwards {
                    forwards.stop();
                }
                stream.set_state(StreamState::Ended { since: now });
                true
            }
            // A stream that never produced a segment (a refused codec) has nothing to keep.
            StreamState::Ended { since } => now.duration_since(since) < keep && stream.packager().segments > 0,
            _ => true,
        });
    }
}

fn valid_key(key: &str) -> bool {
    (1..=128).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')) && key != "." && key != ".."
}

/// The right to feed one stream; dropping it starts the grace period.
pub struct Publisher {
    stream: Arc<LiveStream>,
    session: u64,
    metrics: Arc<Metrics>,
    /// None when the stream gets no ladder.
    ladder: Option<LadderConfig>,
    expiry_changed: Arc<tokio::sync::Notify>,
}

/// Rung output goes into the stream's packager; a stream that is gone takes nothing.
struct StreamSink(Weak<LiveStream>);

fn wall_now() -> UnixMillis {
    UnixMillis::from_system_time(std::time::SystemTime::now())
}

impl RungSink for StreamSink {
    fn configure(&self, rung: usize, name: &str, config: CodecConfig) {
        if let Some(stream) = self.0.upgrade() {
            stream.rtc.configure_rung(rung, name, &config);
            stream.packager().configure_rung(rung, name, config, wall_now());
        }
    }

    fn push(&self, rung: usize, frame: RungFrame) {
        if let Some(stream) = self.0.upgrade() {
            stream.rtc.push_rung(rung, &frame.data, frame.pts, frame.keyframe);
            stream.packager().push_rung(rung, frame, wall_now());
        }
    }

    fn remove(&self, rung: usize) {
        if let Some(stream) = self.0.upgrade() {
            stream.rtc.remove_rung(rung);
            stream.packager().remove_rung(rung, wall_now());
        }
    }

    fn finish(&self, rung: usize) {
        if let Some(stream) = self.0.upgrade() {
            stream.rtc.remove_rung(rung);
            stream.packager().finish_rung(rung, wall_now());
        }
    }

    fn keyframe_wanted(&self, rung: usize) -> bool {
        self.0.upgrade().is_some_and(|stream| stream.rtc.take_keyframe_request(rung))
    }
}

impl Publisher {
    pub fn key(&self) -> &str {
        &self.stream.key
    }

    fn check_current(&self) -> Result<(), PublishError> {
        if self.stream.session.load(Ordering::SeqCst) == self.session { Ok(()) } else { Err(PublishError::Replaced(self.stream.key.clone())) }
    }

    pub fn configure(&self, config: CodecConfig) -> Result<(), PublishError> {
        self.check_current()?;
        if let (CodecConfig::H264(h264), Some(ladder_config)) = (&config, &self.ladder) {
            let mut ladder = self.stream.ladder();
            match ladder.as_mut() {
                Some(ladder) => ladder.reconfigure(h264.clone()),
                None => match Ladder::start(&self.stream.key, ladder_config, h264.clone(), Arc::new(StreamSink(Arc::downgrade(&self.stream)))) {
                    Ok(started) => *ladder = Some(started),
                    Err(error) => tracing::error!(key = %self.stream.key, "cannot start the ladder's thread: {error}; only the source rendition is offered"),
                },
            }
        }
        if let Some(forwards) = &self.stream.forwards {
            forwards.configure(&config);
        }
        self.stream.rtc.configure(&config);
        self.stream.packager().configure(config, wall_now());
        Ok(())
    }

    /// `arrived` is when the frame's bytes came off the socket.
    pub fn push(&self, frame: EncodedFrame, arrived: Instant) -> Result<(), PublishError> {
        self.check_current()?;
        if let Some(forwards) = &self.stream.forwards {
            forwards.push(&frame);
        }
        self.stream.rtc.push(&frame);
        let for_ladder = (frame.kind == TrackKind::Video && self.ladder.is_some()).then(|| (frame.data.clone(), frame.keyframe));
        let source_pts = (frame.kind == TrackKind::Video).then_some(frame.pts);
        let (segments, placed) = {
            let mut packager = self.stream.packager();
            let segments = packager.push(frame, wall_now());
            (segments, packager.last_video_time())
        };
        if let (Some(pts), Some((_, placed_pts))) = (source_pts, placed) {
            self.stream.rtc.place(pts, placed_pts);
        }
        if let (Some((data, keyframe)), Some((dts, pts))) = (for_ladder, placed)
            && let Some(ladder) = self.stream.ladder().as_mut()
        {
            ladder.feed(SourceFrame { data, keyframe, dts, pts, arrived });
        }
        if segments > 0 {
            Metrics::add(&self.metrics.segments_produced, segments as u64);
            self.metrics.record_listing_delay(arrived.elapsed().as_micros() as u64);
        }
        Ok(())
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        if self.check_current().is_err() {
            return;
        }
        let segments = self.stream.packager().flush(wall_now());
        Metrics::add(&self.metrics.segments_produced, segments as u64);
        // The ladder stops with its publisher, after the flush: its rungs then
        // close their last segments where the source's closed.
        self.stream.ladder().take();
        self.stream.set_state(StreamState::Waiting { since: Instant::now() });
        self.expiry_changed.notify_one();
        tracing::info!(key = %self.stream.key, "publisher left; waiting for it to come back");
    }
}
