//! What a stream's WebRTC viewers are sent, made once per stream however
//! many watch: each video access unit in Annex B with the parameter sets
//! before every keyframe (str0m packetizes it; a viewer joins on a
//! keyframe and needs them there), and the audio as Opus. Nothing is made
//! while nobody watches.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use super::endpoint::MediaLane;
use crate::encode::aac_to_opus::{AacToOpus, RATE};
use crate::media::codec::{AacConfig, CodecConfig, H264Config};
use crate::media::frame::{EncodedFrame, TrackKind};
use crate::media::h264::{append_annexb, avcc_parameter_sets, nal_units};
use crate::media::time::{TimeBase, Timestamp};
use crate::media::wallclock::MediaAnchor;

/// One access unit or Opus packet on its way to every viewer of a stream.
#[derive(Clone, Debug)]
pub struct RtcMedia {
    pub key: Arc<str>,
    pub track: TrackKind,
    pub keyframe: bool,
    /// Presentation time at the RTP clock: 90 kHz video, 48 kHz Opus.
    pub time: Timestamp,
    /// When that time is, on this machine's clock: the sender reports' pairing
    /// of RTP and wall time, the same for both tracks so they play in sync.
    pub wallclock: std::time::Instant,
    pub data: Arc<[u8]>,
}

/// Why a stream cannot be watched over WebRTC as it is published.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unwatchable {
    #[error("stream {0:?} has no video yet")]
    NoVideo(String),
    #[error(
        "stream {0:?} has B-frames, which WebRTC players cannot show in order; publish without them (x264: -bf 0 or -profile:v baseline; OBS: Profile baseline) or watch it over HLS or DASH"
    )]
    BFrames(String),
}

pub struct RtcFeed {
    key: Arc<str>,
    endpoint: Option<MediaLane>,
    watching: AtomicUsize,
    state: Mutex<FeedState>,
}

#[derive(Default)]
struct FeedState {
    video: Option<H264Config>,
    /// SPS and PPS in Annex B, put before every keyframe.
    parameter_sets: Vec<u8>,
    audio: Option<AacConfig>,
    transcoder: Option<AacToOpus>,
    /// The latest presentation time seen; an earlier one after it is a B-frame.
    newest_pts: Option<Timestamp>,
    reordered: bool,
    /// A media time and the instant it was sent at, for every later one's wall clock.
    anchor: MediaAnchor,
}

impl RtcFeed {
    pub fn new(key: &str, endpoint: Option<MediaLane>) -> RtcFeed {
        RtcFeed { key: key.into(), endpoint, watching: AtomicUsize::new(0), state: Mutex::new(FeedState::default()) }
    }

    fn state(&self) -> MutexGuard<'_, FeedState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn viewers(&self) -> usize {
        self.watching.load(Ordering::Relaxed)
    }

    /// A viewer starts; media is made for as long as one watches.
    pub fn watch(self: &Arc<Self>) -> Watching {
        self.watching.fetch_add(1, Ordering::Relaxed);
        Watching(self.clone())
    }

    /// The video's H.264 profile_level_id (what the SDP negotiates), once its
    /// configuration came, unless the stream cannot be watched as it is.
    pub fn profile_level_id(&self) -> Result<u32, Unwatchable> {
        let state = self.state();
        let Some(video) = &state.video else { return Err(Unwatchable::NoVideo(self.key.to_string())) };
        if state.reordered {
            return Err(Unwatchable::BFrames(self.key.to_string()));
        }
        Ok(u32::from(video.profile_idc) << 16 | u32::from(video.constraint_flags) << 8 | u32::from(video.level_idc))
    }

    /// A new publisher: its clock starts over, so times are anchored again.
    pub fn begin_session(&self) {
        let mut state = self.state();
        state.anchor.reset();
        state.newest_pts = None;
        state.reordered = false;
    }

    pub fn configure(&self, config: &CodecConfig) {
        let mut state = self.state();
        match config {
            CodecConfig::H264(h264) => {
                state.parameter_sets.clear();
                append_annexb(&mut state.parameter_sets, avcc_parameter_sets(&h264.avcc));
                state.video = Some(h264.clone());
            }
            CodecConfig::Aac(aac) => {
                state.audio = Some(aac.clone());
                state.transcoder = None;
            }
        }
    }

    pub fn push(&self, frame: &EncodedFrame) {
        let watched = self.viewers() > 0;
        let mut state = self.state();
        if frame.kind == TrackKind::Video {
            if state.newest_pts.is_some_and(|newest| frame.pts < newest) {
                state.reordered = true;
            }
            state.newest_pts = Some(state.newest_pts.map_or(frame.pts, |newest| newest.max(frame.pts)));
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
                let Some(video) = &state.video else { return };
                let mut data = Vec::with_capacity(frame.data.len() + state.parameter_sets.len() + 16);
                if frame.keyframe {
                    data.extend_from_slice(&state.parameter_sets);
                }
                append_annexb(&mut data, nal_units(&frame.data, video.nal_length_size));
                let Ok(time) = frame.pts.rescale(TimeBase::MPEG_90K) else { return };
                let wallclock = state.anchor.instant(frame.pts);
                let media = RtcMedia { key: self.key.clone(), track: TrackKind::Video, keyframe: frame.keyframe, time, wallclock, data: data.into() };
                endpoint.send(media);
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
                    let media = RtcMedia { key: self.key.clone(), track: TrackKind::Audio, keyframe: true, time, wallclock, data: packet.data.into() };
                    endpoint.send(media);
                }
            }
        }
    }
}

/// One viewer's share in a feed; the count drops with it.
pub struct Watching(Arc<RtcFeed>);

impl Drop for Watching {
    fn drop(&mut self) {
        self.0.watching.fetch_sub(1, Ordering::Relaxed);
    }
}
