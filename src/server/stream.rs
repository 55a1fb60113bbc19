//! One live stream: its segmenter and window, and the snapshot viewers read.
//!
//! The publisher's task feeds frames in; every change re-renders the
//! playlists once into an immutable snapshot, so serving a request is a
//! lookup and a reference-count increment.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use tokio::sync::watch;

use super::cmaf::segmenter::{Segmenter, SegmenterEvent};
use super::cmaf::window::{MediaWindow, TrackWindow};
use super::{dash, hls};
use crate::media::codec::CodecConfig;
use crate::media::frame::{EncodedFrame, TrackKind};
use crate::media::wallclock::UnixMillis;

/// What viewers and the API read; replaced whole on every change.
#[derive(Clone, Debug)]
pub struct StreamSnapshot {
    pub key: String,
    pub window: MediaWindow,
    /// None until the first segment exists.
    pub master: Option<Bytes>,
    pub video_playlist: Option<Bytes>,
    pub audio_playlist: Option<Bytes>,
    /// `_HLS_skip=YES` updates (low latency only).
    pub video_delta: Option<Bytes>,
    pub audio_delta: Option<Bytes>,
    pub mpd: Option<String>,
    pub live: bool,
}

impl StreamSnapshot {
    fn empty(key: &str) -> StreamSnapshot {
        StreamSnapshot {
            key: key.to_string(),
            window: MediaWindow::new(1, 0),
            master: None,
            video_playlist: None,
            audio_playlist: None,
            video_delta: None,
            audio_delta: None,
            mpd: None,
            live: true,
        }
    }
}

pub struct Packager {
    segmenter: Segmenter,
    window: MediaWindow,
    pub started: Instant,
    pub frames: u64,
    pub bytes_in: u64,
    pub segments: u64,
    directory: Option<std::path::PathBuf>,
    key: String,
    snapshot: watch::Sender<Arc<StreamSnapshot>>,
}

impl Packager {
    /// `part_target_ms` turns on LL-HLS parts.
    pub fn new(key: &str, target_ms: u32, part_target_ms: Option<u32>, window: usize, directory: Option<std::path::PathBuf>) -> Packager {
        let (snapshot, _) = watch::channel(Arc::new(StreamSnapshot::empty(key)));
        let segmenter = Segmenter::new(target_ms, first_segment_number()).with_parts(part_target_ms);
        let mut media_window = MediaWindow::new(window, 2);
        media_window.part_target_ms = segmenter.part_target_ms();
        Packager {
            segmenter,
            window: media_window,
            started: Instant::now(),
            frames: 0,
            bytes_in: 0,
            segments: 0,
            directory: directory.map(|d| d.join(key)),
            key: key.to_string(),
            snapshot,
        }
    }

    pub fn subscribe(&self) -> watch::Receiver<Arc<StreamSnapshot>> {
        self.snapshot.subscribe()
    }

    pub fn snapshot(&self) -> Arc<StreamSnapshot> {
        self.snapshot.borrow().clone()
    }

    pub fn has_track(&self, kind: TrackKind) -> bool {
        self.segmenter.has_track(kind)
    }

    pub fn dropped_frames(&self) -> u64 {
        self.segmenter.stats.frames_dropped
    }

    pub fn forced_cuts(&self) -> u64 {
        self.segmenter.stats.forced_cuts
    }

    pub fn begin_session(&mut self) {
        self.segmenter.begin_session();
    }

    pub fn configure(&mut self, config: CodecConfig, now: UnixMillis) {
        let events = self.segmenter.configure(config);
        self.apply(events, now);
    }

    /// Returns the number of segments this frame completed.
    pub fn push(&mut self, frame: EncodedFrame, now: UnixMillis) -> usize {
        self.frames += 1;
        self.bytes_in += frame.data.len() as u64;
        let events = self.segmenter.push(frame, now);
        self.apply(events, now)
    }

    /// The publisher is gone: close open segments.
    pub fn flush(&mut self, now: UnixMillis) -> usize {
        let mut events = Vec::new();
        self.segmenter.flush(&mut events);
        self.apply(events, now)
    }

    /// The stream is over: playlists get ENDLIST, the MPD turns static.
    pub fn end(&mut self, now: UnixMillis) {
        self.window.ended = true;
        self.publish(now, false);
    }

    fn apply(&mut self, events: Vec<SegmenterEvent>, now: UnixMillis) -> usize {
        if events.is_empty() {
            return 0;
        }
        let mut completed = 0;
        for event in events {
            match &event {
                SegmenterEvent::Init(init) => self.write_file(format!("{}/init-{}.mp4", kind_dir(init.kind), init.version), init.data.clone()),
                SegmenterEvent::Segment(segment, _) => {
                    completed += 1;
                    self.write_file(format!("{}/seg-{}.m4s", kind_dir(segment.kind), segment.number), segment.data.clone());
                }
                SegmenterEvent::Part(_) | SegmenterEvent::TargetDuration(_) => {}
            }
            self.window.apply(event);
        }
        self.segments += completed as u64;
        self.publish(now, true);
        completed
    }

    fn publish(&mut self, now: UnixMillis, live: bool) {
        let window = &self.window;
        let ready = window.has_segments();
        let playlist = |track: Option<&TrackWindow>, delta: bool| {
            track.filter(|_| ready && (!delta || window.part_target_ms.is_some())).map(|t| Bytes::from(hls::media_playlist(window, t, delta)))
        };
        let video_playlist = playlist(window.video.as_ref(), false);
        let audio_playlist = playlist(window.audio.as_ref(), false);
        let video_delta = playlist(window.video.as_ref(), true);
        let audio_delta = playlist(window.audio.as_ref(), true);
        let master = ready.then(|| Bytes::from(hls::master_playlist(window)));
        let mpd = ready.then(|| dash::manifest(window, now));
        if let Some(master) = &master {
            self.write_file("index.m3u8".into(), master.clone());
        }
        if let Some(playlist) = &video_playlist {
            self.write_file("video/playlist.m3u8".into(), playlist.clone());
        }
        if let Some(playlist) = &audio_playlist {
            self.write_file("audio/playlist.m3u8".into(), playlist.clone());
        }
        let snapshot = StreamSnapshot {
            key: self.key.clone(),
            window: window.clone(),
            master,
            video_playlist,
            audio_playlist,
            video_delta,
            audio_delta,
            mpd,
            live: live && !window.ended,
        };
        self.snapshot.send_replace(Arc::new(snapshot));
    }

    /// Mirrors a file into the configured directory, off the async runtime.
    fn write_file(&self, relative: String, data: Bytes) {
        let Some(directory) = &self.directory else { return };
        let path = directory.join(relative);
        let write = move || {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            let temporary = path.with_extension("tmp");
            std::fs::write(&temporary, &data)?;
            std::fs::rename(&temporary, &path)
        };
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn_blocking(move || {
                    if let Err(error) = write() {
                        tracing::warn!("cannot write to the segment directory: {error}");
                    }
                });
            }
            Err(_) => {
                if let Err(error) = write() {
                    tracing::warn!("cannot write to the segment directory: {error}");
                }
            }
        }
    }
}

fn kind_dir(kind: TrackKind) -> &'static str {
    match kind {
        TrackKind::Video => "video",
        TrackKind::Audio => "audio",
    }
}

/// Seconds since the Unix epoch: a stream created later numbers its segments higher.
fn first_segment_number() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_secs())
}
