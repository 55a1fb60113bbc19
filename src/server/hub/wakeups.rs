//! Who is woken when the live edge moves.
//!
//! Thousands of requests may wait at the live edge of one stream. Each waits
//! on its own rendition, so an audio part wakes no request for video. And a
//! change wakes the requests for media (parts, the segment being written)
//! before the blocking playlist reloads: the media is what a player is
//! waiting to play, while the playlist only names the part after it.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use tokio::sync::Notify;

use crate::media::frame::TrackKind;

/// A rendition, as the segmenter's events name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TrackKey {
    pub kind: TrackKind,
    /// The ladder rung; None for the source's tracks.
    pub rung: Option<usize>,
}

/// What a request waits for; media is woken first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Waiting {
    Media,
    Playlist,
}

#[derive(Default)]
struct TrackWaiters {
    media: Notify,
    playlist: Notify,
}

impl TrackWaiters {
    fn of(&self, waiting: Waiting) -> &Notify {
        match waiting {
            Waiting::Media => &self.media,
            Waiting::Playlist => &self.playlist,
        }
    }
}

/// One stream's waiters, by rendition. A request for a rendition the stream
/// does not have (yet) waits on every change of what it waits for.
#[derive(Default)]
pub struct Wakeups {
    tracks: RwLock<HashMap<TrackKey, Arc<TrackWaiters>>>,
    any: TrackWaiters,
}

/// Where one request waits; it holds its rendition's waiters alive.
pub struct WaitPoint {
    key: Option<TrackKey>,
    track: Option<Arc<TrackWaiters>>,
    waiting: Waiting,
    wakeups: Arc<Wakeups>,
}

impl WaitPoint {
    /// The rendition it waits on; None: any change.
    pub fn key(&self) -> Option<TrackKey> {
        self.key
    }

    pub fn notify(&self) -> &Notify {
        match &self.track {
            Some(track) => track.of(self.waiting),
            None => self.wakeups.any.of(self.waiting),
        }
    }
}

impl Wakeups {
    /// Where a request for `track` (None: not in the stream) waits.
    pub fn point(self: &Arc<Self>, key: Option<TrackKey>, waiting: Waiting) -> WaitPoint {
        let track = key.map(|key| {
            if let Some(found) = self.read().get(&key) {
                return found.clone();
            }
            self.tracks.write().unwrap_or_else(|p| p.into_inner()).entry(key).or_default().clone()
        });
        WaitPoint { key, track, waiting, wakeups: self.clone() }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<TrackKey, Arc<TrackWaiters>>> {
        self.tracks.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Wakes the waiters of the renditions that changed, media first, then
    /// those of renditions not in the stream. Call after the new snapshot is out.
    pub fn wake(&self, changed: &[TrackKey]) {
        self.wake_waiting(changed, &[Waiting::Media, Waiting::Playlist]);
    }

    /// Wakes only the media requests of the renditions that changed: the
    /// part being written grew, which no playlist shows.
    pub fn wake_media(&self, changed: &[TrackKey]) {
        self.wake_waiting(changed, &[Waiting::Media]);
    }

    fn wake_waiting(&self, changed: &[TrackKey], order: &[Waiting]) {
        let tracks = self.read();
        let changed: Vec<&Arc<TrackWaiters>> = changed.iter().filter_map(|key| tracks.get(key)).collect();
        for &waiting in order {
            for track in &changed {
                track.of(waiting).notify_waiters();
            }
        }
        drop(tracks);
        for &waiting in order {
            self.any.of(waiting).notify_waiters();
        }
    }

    /// Wakes every waiter: the stream ended, or a rendition left it.
    pub fn wake_all(&self) {
        let keys: Vec<TrackKey> = self.read().keys().copied().collect();
        self.wake(&keys);
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;

    use super::*;

    const VIDEO: TrackKey = TrackKey { kind: TrackKind::Video, rung: None };
    const AUDIO: TrackKey = TrackKey { kind: TrackKind::Audio, rung: None };

    fn woken(notified: &mut std::pin::Pin<&mut tokio::sync::futures::Notified<'_>>) -> bool {
        let waker = std::task::Waker::noop();
        notified.as_mut().poll(&mut std::task::Context::from_waker(waker)).is_ready()
    }

    #[test]
    fn a_change_wakes_only_its_renditions_waiters() {
        let wakeups = Arc::new(Wakeups::default());
        let video = wakeups.point(Some(VIDEO), Waiting::Media);
        let audio = wakeups.point(Some(AUDIO), Waiting::Playlist);
        let absent = wakeups.point(None, Waiting::Playlist);
        let mut video_wait = std::pin::pin!(video.notify().notified());
        let mut audio_wait = std::pin::pin!(audio.notify().notified());
        let mut absent_wait = std::pin::pin!(absent.notify().notified());
        video_wait.as_mut().enable();
        audio_wait.as_mut().enable();
        absent_wait.as_mut().enable();
        wakeups.wake(&[AUDIO]);
        assert!(!woken(&mut video_wait), "an audio part must not wake a video request");
        assert!(woken(&mut audio_wait));
        assert!(woken(&mut absent_wait), "a request for a rendition not yet there sees every change");
        wakeups.wake_all();
        assert!(woken(&mut video_wait));
    }

    #[test]
    fn a_growing_part_wakes_no_playlist_reload() {
        let wakeups = Arc::new(Wakeups::default());
        let playlist = wakeups.point(Some(VIDEO), Waiting::Playlist);
        let media = wakeups.point(Some(VIDEO), Waiting::Media);
        let mut playlist_wait = std::pin::pin!(playlist.notify().notified());
        let mut media_wait = std::pin::pin!(media.notify().notified());
        playlist_wait.as_mut().enable();
        media_wait.as_mut().enable();
        wakeups.wake_media(&[VIDEO]);
        assert!(woken(&mut media_wait));
        assert!(!woken(&mut playlist_wait), "a chunk changes no playlist");
    }

    /// A waker that records, in order, which request it belongs to.
    struct Recorder(&'static str, Arc<std::sync::Mutex<Vec<&'static str>>>);

    impl std::task::Wake for Recorder {
        fn wake(self: Arc<Self>) {
            self.1.lock().unwrap().push(self.0);
        }
    }

    #[test]
    fn media_requests_are_woken_before_playlist_reloads() {
        let wakeups = Arc::new(Wakeups::default());
        let order = Arc::new(std::sync::Mutex::new(Vec::new()));
        // The playlist reload started waiting first, and is still woken second.
        let playlist = wakeups.point(Some(VIDEO), Waiting::Playlist);
        let media = wakeups.point(Some(VIDEO), Waiting::Media);
        let mut playlist_wait = std::pin::pin!(playlist.notify().notified());
        let mut media_wait = std::pin::pin!(media.notify().notified());
        for (name, wait) in [("playlist", &mut playlist_wait), ("media", &mut media_wait)] {
            let waker = std::task::Waker::from(Arc::new(Recorder(name, order.clone())));
            assert!(wait.as_mut().poll(&mut std::task::Context::from_waker(&waker)).is_pending());
        }
        wakeups.wake(&[VIDEO]);
        assert_eq!(*order.lock().unwrap(), ["media", "playlist"]);
    }

    #[test]
    fn a_rendition_nobody_waits_for_is_skipped() {
        let wakeups = Wakeups::default();
        wakeups.wake(&[VIDEO]);
        assert!(wakeups.read().is_empty());
    }
}
