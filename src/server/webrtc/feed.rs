//! What a stream's WebRTC viewers are sent, made once per stream however
//! many watch: each video access unit with the parameter sets before every
//! keyframe (a viewer joins on a keyframe and needs them there), cut into
//! RTP payloads once for all of them, from the source or, when it has
//! B-frames, from the ladder's largest rung (`video_line`); and the audio
//! as Opus. Nothing is made while nobody watches.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::endpoint::MediaLane;
use super::peer::PeerCounts;
use super::video_line::{VideoLines, VideoSource, ViewerFrame};
use super::viewer_stats::{ViewerStats, ViewerTally};
use crate::encode::aac_to_opus::{AacToOpus, RATE};
use crate::media::codec::{AacConfig, CodecConfig};
use crate::media::frame::{EncodedFrame, TrackKind};
use crate::media::time::{TimeBase, Timestamp};
use crate::media::wallclock::MediaAnchor;
use str0m::unversioned::{H264Packetizer, Packetizer};

/// A rung makes a keyframe for WebRTC viewers at most this often, however
/// many ask: each one costs every HLS and DASH viewer of the rung bitrate.
const KEYFRAME_REQUEST_INTERVAL: Duration = Duration::from_secs(1);

/// RTP payload bytes of H.264 sized as str0m sizes its own: its datagram
/// MTU less the SRTP tag, rounded down to the cipher's block.
const RTP_PAYLOAD: usize = (str0m::DATAGRAM_MTU_TARGET - 16) & !15;

/// One access unit or Opus packet on its way to every viewer of a stream.
#[derive(Clone, Debug)]
pub struct RtcMedia {
    pub key: Arc<str>,
    pub keyframe: bool,
    /// Presentation time at the RTP clock: 90 kHz video, 48 kHz Opus.
    pub time: Timestamp,
    /// When that time is, on this machine's clock: the sender reports' pairing
    /// of RTP and wall time, the same for both tracks so they play in sync.
    pub wallclock: std::time::Instant,
    pub payload: RtcPayload,
}

#[derive(Clone, Debug)]
pub enum RtcPayload {
    /// One access unit as RTP payloads (STAP-A, FU-A), cut once for every
    /// viewer: each viewer's session only numbers and encrypts them.
    Video(Arc<[Arc<[u8]>]>),
    /// One Opus packet.
    Audio(Arc<[u8]>),
}

/// Why a stream cannot be watched over WebRTC as it is published.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unwatchable {
    #[error("stream {0:?} has no video yet")]
    NoVideo(String),
    #[error(
        "stream {0:?} has B-frames, which WebRTC players cannot show in order, and no ladder rung to send instead; publish without them (x264: -bf 0 or -profile:v baseline; OBS: Profile baseline), turn the ladder on with a rung below the source's height, or watch it over HLS or DASH"
    )]
    BFrames(String),
}

pub struct RtcFeed {
    key: Arc<str>,
    endpoint: Option<MediaLane>,
    watching: AtomicUsize,
    /// One more than the rung a viewer asked a keyframe of; 0 when none is wanted.
    keyframe_wanted: AtomicUsize,
    state: Mutex<FeedState>,
    tally: Mutex<ViewerTally>,
}

#[derive(Default)]
struct FeedState {
    video: VideoLines,
    audio: Option<AacConfig>,
    transcoder: Option<AacToOpus>,
    /// A media time and the instant it was sent at, for every later one's wall clock.
    anchor: MediaAnchor,
    /// When a rung was last asked for a keyframe.
    keyframe_asked: Option<Instant>,
    /// Cuts access units into RTP payloads; keeps the parameter sets to put before the next IDR.
    packetizer: H264Packetizer,
}

impl RtcFeed {
    pub fn new(key: &str, endpoint: Option<MediaLane>) -> RtcFeed {
        RtcFeed {
            key: key.into(),
            endpoint,
            watching: AtomicUsize::new(0),
            keyframe_wanted: AtomicUsize::new(0),
            state: Mutex::new(FeedState::default()),
            tally: Mutex::default(),
        }
    }

    fn state(&self) -> MutexGuard<'_, FeedState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn viewers(&self) -> usize {
        self.watching.load(Ordering::Relaxed)
    }

    /// A viewer's transport counts since its last report.
    pub fn count(&self, new: &PeerCounts, now: Instant) {
        self.tally.lock().unwrap_or_else(|p| p.into_inner()).add(new, now);
    }

    /// What the stream's viewers were sent and asked for.
    pub fn viewer_stats(&self) -> ViewerStats {
        self.tally.lock().unwrap_or_else(|p| p.into_inner()).stats(self.viewers() > 0)
    }

    /// A viewer starts; media is made for as long as one watches.
    pub fn watch(self: &Arc<Self>) -> Watching {
        self.watching.fetch_add(1, Ordering::Relaxed);
        Watching(self.clone())
    }

    /// The video's H.264 profile_level_id (what the SDP negotiates), once its
    /// configuration came, unless the stream cannot be watched as it is.
    pub fn profile_level_id(&self) -> Result<u32, Unwatchable> {
        self.state().video.profile_level_id(&self.key)
    }

    /// The ladder rung viewers are sent instead of the source, if they are.
    pub fn rung_name(&self) -> Option<String> {
        self.state().video.rung_name(&self.key).map(str::to_string)
    }

    /// A new publisher: its clock starts over, so times are anchored again.
    pub fn begin_session(&self) {
        let mut state = self.state();
        state.anchor.reset();
        state.video.begin_session();
    }

    pub fn configure(&self, config: &CodecConfig) {
        let mut state = self.state();
        match config {
            CodecConfig::H264(h264) => state.video.configure_source(h264),
            CodecConfig::Aac(aac) => {
                state.audio = Some(aac.clone());
                state.transcoder = None;
            }
        }
    }

    pub fn configure_rung(&self, rung: usize, name: &str, config: &CodecConfig) {
        if let CodecConfig::H264(h264) = config {
            self.state().video.configure_rung(rung, name, h264);
        }
    }

    /// The rung was shed, rebuilt or finished; the next largest takes its place.
    pub fn remove_rung(&self, rung: usize) {
        let mut state = self.state();
        let before = state.video.source(&self.key);
        state.video.remove_rung(rung);
        let after = state.video.source(&self.key);
        if before == Ok(VideoSource::Rung(rung)) && self.viewers() > 0 {
            match after {
                Ok(VideoSource::Rung(next)) => {
                    tracing::info!(key = %self.key, "WebRTC viewers now get ladder rung {next}: the rung they had is gone");
                    drop(state);
                    self.ask_rung_keyframe(next, Instant::now());
                }
                _ => tracing::warn!(key = %self.key, "WebRTC viewers get no picture: the ladder has no rung left and the source has B-frames"),
            }
        }
    }

    /// Where the packager put a source video frame presented at `pts`: rung
    /// frames are on that timeline, and are sent on the publisher's.
    pub fn place(&self, pts: Timestamp, placed: Timestamp) {
        self.state().video.place(pts, placed);
    }

    /// A viewer joined or lost a picture: when its video is a rung, which can
    /// make a keyframe, the rung is asked for one (the source's come when
    /// its publisher makes them, within a GOP).
    pub fn request_keyframe(&self, now: Instant) {
        let source = self.state().video.source(&self.key);
        if let Ok(VideoSource::Rung(rung)) = source {
            self.ask_rung_keyframe(rung, now);
        }
    }

    fn ask_rung_keyframe(&self, rung: usize, now: Instant) {
        let mut state = self.state();
        if state.keyframe_asked.is_some_and(|at| now.duration_since(at) < KEYFRAME_REQUEST_INTERVAL) {
            return;
        }
        state.keyframe_asked = Some(now);
        self.keyframe_wanted.store(rung + 1, Ordering::Relaxed);
    }

    /// Asked by rung `rung` before each picture it encodes: whether to make it a keyframe.
    pub fn take_keyframe_request(&self, rung: usize) -> bool {
        self.keyframe_wanted.compare_exchange(rung + 1, 0, Ordering::Relaxed, Ordering::Relaxed).is_ok()
    }

    /// A frame of the publisher's.
    pub fn push(&self, frame: &EncodedFrame) {
        let watched = self.viewers() > 0;
        let mut state = self.state();
        if frame.kind == TrackKind::Video && state.video.observe_source(frame.pts) {
            tracing::info!(key = %self.key, "the source has B-frames: WebRTC viewers get the ladder's largest rung, when there is one");
        }
        let Some(endpoint) = self.endpoint.as_ref().filter(|_| watched) else {
            // Nobody watches: the transcoder and the clock start afresh with the next viewer.
            state.transcoder = None;
            state.anchor.reset();
            return;
        };
        let state = &mut *state;
        match frame.kind {
            TrackKind::Video => {
                if let Some(video) = state.video.from_source(&frame.data, frame.pts, frame.keyframe, &self.key) {
                    self.send_video(endpoint, &mut state.anchor, &mut state.packetizer, video);
                }
            }
            TrackKind::Audio => {
                let Some(config) = &state.audio else { return };
                if state.transcoder.is_none() {
                    match AacToOpus::new(config) {
                        Ok(transcoder) => state.transcoder = Some(transcoder),
                        Err(error) => {
                            tracing::warn!(key = %self.key, "WebRTC viewers get no sound: {error}");
                            state.audio = None;
                            return;
                        }
                    }
                }
                let packets = state.transcoder.as_mut().map(|t| t.push(frame)).unwrap_or_default();
                for packet in packets {
                    let time = Timestamp::new(packet.time, TimeBase::new(RATE).unwrap_or(TimeBase::MICROS));
                    let wallclock = state.anchor.instant(time);
                    let media = RtcMedia { key: self.key.clone(), keyframe: true, time, wallclock, payload: RtcPayload::Audio(packet.data.into()) };
                    endpoint.send(media);
                }
            }
        }
    }

    /// A frame of ladder rung `rung`, on the stream timeline.
    pub fn push_rung(&self, rung: usize, data: &[u8], pts: Timestamp, keyframe: bool) {
        let Some(endpoint) = self.endpoint.as_ref().filter(|_| self.viewers() > 0) else { return };
        let mut state = self.state();
        let state = &mut *state;
        if let Some(video) = state.video.from_rung(rung, data, pts, keyframe, &self.key) {
            self.send_video(endpoint, &mut state.anchor, &mut state.packetizer, video);
        }
    }

    fn send_video(&self, endpoint: &MediaLane, anchor: &mut MediaAnchor, packetizer: &mut H264Packetizer, video: ViewerFrame) {
        let Ok(time) = video.pts.rescale(TimeBase::MPEG_90K) else { return };
        let wallclock = anchor.instant(video.pts);
        let packets = match packetizer.packetize(RTP_PAYLOAD, &video.data) {
            Ok(packets) if !packets.is_empty() => packets,
            Ok(_) => return,
            Err(error) => {
                tracing::warn!(key = %self.key, "an access unit could not be cut into RTP packets, skipped: {error}");
                return;
            }
        };
        let payload = RtcPayload::Video(packets.into_iter().map(Arc::from).collect());
        endpoint.send(RtcMedia { key: self.key.clone(), keyframe: video.keyframe, time, wallclock, payload });
    }
}

/// One viewer's share in a feed; the count drops with it.
pub struct Watching(Arc<RtcFeed>);

impl Watching {
    pub fn feed(&self) -> &RtcFeed {
        &self.0
    }
}

impl Drop for Watching {
    fn drop(&mut self) {
        self.0.watching.fetch_sub(1, Ordering::Relaxed);
    }
}
