//! One live stream: its segmenter and window, and the snapshot viewers read.
//!
//! The publisher's task feeds frames in; every change makes an immutable
//! snapshot. Its playlists and MPD are rendered once, by the first request
//! that needs them, and shared by every later one, so a stream nobody
//! watches renders nothing and serving is a lookup and a reference-count
//! increment. A chunk of the part being written changes no playlist: its
//! snapshot shares the rendering of the one before.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use bytes::Bytes;
use tokio::sync::watch;

use crate::media::codec::CodecConfig;
use crate::media::frame::{EncodedFrame, TrackKind};
use crate::media::time::Timestamp;
use crate::media::wallclock::UnixMillis;
use crate::server::hub::wakeups::{TrackKey, Wakeups};
use crate::server::package::cmaf::pieces::Pieces;
use crate::server::package::cmaf::rung::RungFrame;
use crate::server::package::cmaf::segmenter::{Segmenter, SegmenterEvent};
use crate::server::package::cmaf::window::MediaWindow;
use crate::server::package::{dash, hls};
use crate::server::record::Recording;

/// What viewers and the API read; replaced whole on every change.
#[derive(Clone, Debug)]
pub struct StreamSnapshot {
    pub key: String,
    /// Shared with its rendering when the snapshot is the change's own.
    pub window: Arc<MediaWindow>,
    pub live: bool,
    /// The playlists and MPD of the window as it was at the last change
    /// that altered them.
    rendering: Arc<Rendering>,
}

/// A window's playlists and MPD, rendered on first use.
#[derive(Debug)]
struct Rendering {
    window: Arc<MediaWindow>,
    now: UnixMillis,
    rendered: OnceLock<Rendered>,
}

#[derive(Debug)]
struct Rendered {
    /// None until the first segment exists.
    master: Option<Bytes>,
    /// Media playlists by rendition name.
    playlists: BTreeMap<String, MediaPlaylist>,
    mpd: Option<String>,
}

impl Rendering {
    fn new(window: Arc<MediaWindow>, now: UnixMillis) -> Rendering {
        Rendering { window, now, rendered: OnceLock::new() }
    }

    fn get(&self) -> &Rendered {
        self.rendered.get_or_init(|| {
            let window = &self.window;
            if !window.has_segments() {
                return Rendered { master: None, playlists: BTreeMap::new(), mpd: None };
            }
            // A rung without a segment yet is not offered; its playlist would be empty.
            let playlists = window
                .tracks()
                .filter(|t| t.rung.is_none() || !t.segments.is_empty())
                .map(|track| {
                    let full = Bytes::from(hls::media_playlist(window, track, false));
                    let delta = window.part_target_ms.map(|_| Bytes::from(hls::media_playlist(window, track, true)));
                    (track.name.clone(), MediaPlaylist { full, delta })
                })
                .collect();
            Rendered { master: Some(Bytes::from(hls::master_playlist(window))), playlists, mpd: Some(dash::manifest(window, self.now)) }
        })
    }
}

/// One rendition's media playlist, whole and as a delta update.
#[derive(Clone, Debug)]
pub struct MediaPlaylist {
    pub full: Bytes,
    /// The `_HLS_skip=YES` update (low latency only).
    pub delta: Option<Bytes>,
}

impl StreamSnapshot {
    fn empty(key: &str) -> StreamSnapshot {
        let window = Arc::new(MediaWindow::new(1, 0));
        let rendering = Arc::new(Rendering::new(window.clone(), UnixMillis(0)));
        StreamSnapshot { key: key.to_string(), window, live: true, rendering }
    }

    /// The master playlist; None until the first segment exists.
    pub fn master(&self) -> Option<&Bytes> {
        self.rendering.get().master.as_ref()
    }

    /// A rendition's media playlist, whole and as a delta update.
    pub fn playlist(&self, name: &str) -> Option<&MediaPlaylist> {
        self.rendering.get().playlists.get(name)
    }

    pub fn mpd(&self) -> Option<&str> {
        self.rendering.get().mpd.as_deref()
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
    wakeups: Arc<Wakeups>,
    /// The stream's recording, when the server records this key.
    recording: Option<Recording>,
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
            wakeups: Arc::new(Wakeups::default()),
            recording: None,
        }
    }

    /// Also writes the stream's source and audio segments to `recording`.
    pub fn with_recording(mut self, recording: Recording) -> Packager {
        self.recording = Some(recording);
        self
    }

    /// Streams video parts being written in chunks of about `chunk_ms`; 0 sends them whole.
    pub fn with_chunks(mut self, chunk_ms: u32) -> Packager {
        self.segmenter.set_chunks((chunk_ms > 0).then_some(chunk_ms));
        self
    }

    /// Where requests wait for the snapshots this packager publishes.
    pub fn wakeups(&self) -> Arc<Wakeups> {
        self.wakeups.clone()
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
        if let Some(recording) = &mut self.recording {
            recording.finish(now);
        }
        self.window.ended = true;
        self.publish(now, false);
        self.wakeups.wake_all();
    }

    fn apply(&mut self, events: Vec<SegmenterEvent>, now: UnixMillis) -> usize {
        if events.is_empty() {
            return 0;
        }
        let mut completed = 0;
        let mut changed = Vec::new();
        let mut everything = false;
        let only_chunks = events.iter().all(|e| matches!(e, SegmenterEvent::Chunk(_)));
        for event in events {
            let track = match &event {
                SegmenterEvent::Chunk(chunk) => Some(TrackKey { kind: chunk.kind, rung: chunk.rung }),
                SegmenterEvent::Init(init) => {
                    self.write_file(format!("{}/init-{}.mp4", init.name, init.version), init.data.clone());
                    Some(TrackKey { kind: init.kind, rung: init.rung })
                }
                SegmenterEvent::Segment(segment, _) => {
                    if segment.rung.is_none() {
                        completed += 1;
                    }
                    self.write_file(format!("{}/seg-{}.m4s", segment.name, segment.number), segment.data.clone());
                    Some(TrackKey { kind: segment.kind, rung: segment.rung })
                }
                SegmenterEvent::Part(part) => Some(TrackKey { kind: part.kind, rung: part.rung }),
                SegmenterEvent::TargetDuration(_) => None,
            };
            match track {
                Some(track) if !changed.contains(&track) => changed.push(track),
                Some(_) => {}
                None => everything = true,
            }
            if let Some(recording) = &mut self.recording {
                recording.take(&event, now);
            }
            self.window.apply(event);
        }
        self.segments += completed as u64;
        if only_chunks {
            self.publish_growing_part();
            self.wakeups.wake_media(&changed);
            return 0;
        }
        self.publish(now, true);
        if everything {
            self.wakeups.wake_all();
        } else {
            self.wakeups.wake(&changed);
        }
        completed
    }

    fn publish(&mut self, now: UnixMillis, live: bool) {
        let window = Arc::new(self.window.clone());
        let rendering = Arc::new(Rendering::new(window.clone(), now));
        if self.directory.is_some() {
            // The mirror on disk gets every playlist as it changes.
            let rendered = rendering.get();
            if let Some(master) = &rendered.master {
                self.write_file("index.m3u8".into(), master.clone());
            }
            for (name, playlist) in &rendered.playlists {
                self.write_file(format!("{name}/playlist.m3u8"), playlist.full.clone());
            }
        }
        let snapshot = StreamSnapshot { key: self.key.clone(), live: live && !window.ended, window, rendering };
        self.snapshot.send_replace(Arc::new(snapshot));
    }

    /// Only a part being written grew: the playlists and the MPD stand, and
    /// the new snapshot carries them over rather than render them again.
    fn publish_growing_part(&mut self) {
        let previous = self.snapshot.borrow().clone();
        let snapshot =
            StreamSnapshot { key: previous.key.clone(), window: Arc::new(self.window.clone()), live: previous.live, rendering: previous.rendering.clone() };
        self.snapshot.send_replace(Arc::new(snapshot));
    }

    /// Adds or reconfigures ladder rung `rung`.
    pub fn configure_rung(&mut self, rung: usize, name: &str, config: CodecConfig, now: UnixMillis) {
        let events = self.segmenter.configure_rung(rung, name, config);
        self.apply(events, now);
    }

    /// A transcoded frame of rung `rung`.
    pub fn push_rung(&mut self, rung: usize, frame: RungFrame, now: UnixMillis) {
        let events = self.segmenter.push_rung(rung, frame);
        self.apply(events, now);
    }

    /// Rung `rung` has had all its frames for this session.
    pub fn finish_rung(&mut self, rung: usize, now: UnixMillis) {
        let events = self.segmenter.finish_rung(rung);
        self.apply(events, now);
    }

    /// Rung `rung` is shed or rebuilt: it leaves the playlists and the MPD.
    /// A rung the stream never had changes nothing, and wakes no viewer.
    pub fn remove_rung(&mut self, rung: usize, now: UnixMillis) {
        let packaged = self.segmenter.remove_rung(rung);
        let listed = self.window.remove_rung(rung);
        if packaged || listed {
            self.publish(now, true);
            self.wakeups.wake_all();
        }
    }

    /// Where the last source video frame went on the stream timeline, if it was taken.
    pub fn last_video_time(&self) -> Option<(Timestamp, Timestamp)> {
        self.segmenter.last_video_time()
    }

    /// Mirrors a file into the configured directory, off the async runtime.
    fn write_file(&self, relative: String, data: impl Into<Pieces>) {
        let data = data.into();
        let Some(directory) = &self.directory else { return };
        let path = directory.join(relative);
        let write = move || data.write_to(&path);
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

/// Seconds since the Unix epoch: a stream created later numbers its segments higher.
fn first_segment_number() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removing_a_rung_the_stream_never_had_wakes_no_viewer() {
        let mut packager = Packager::new("key", 2000, Some(334), 6, None);
        let mut viewer = packager.subscribe();
        viewer.mark_unchanged();
        packager.remove_rung(2, UnixMillis(1_000));
        assert!(!viewer.has_changed().unwrap(), "nothing changed, so no snapshot went out");
    }
}
