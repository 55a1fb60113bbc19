//! The in-app preview player: reads the local server's HLS over HTTP like any
//! client (Low-Latency HLS parts with blocking playlist reloads when the
//! server offers them, as the viewers' players do), demuxes the fMP4,
//! decodes H.264 with OpenH264, and measures glass-to-glass latency from the
//! capture stamp in each picture.

pub mod fmp4;
pub mod http;
pub mod ll_hls;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use openh264::decoder::Decoder;
use openh264::formats::YUVSource;

use crate::capture::convert::i420_to_rgba_preview;
use crate::media::h264::{append_annexb, avcc_parameter_sets, length_prefixed_units};
use crate::media::stamp;
use crate::media::wallclock::UnixMillis;

/// A decoded picture, small, ready for the screen.
#[derive(Clone, Debug)]
pub struct PlayerFrame {
    pub width: usize,
    pub height: usize,
    pub rgba: Vec<u8>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct PlayerStatus {
    pub frames_decoded: u64,
    pub segments: u64,
    /// Capture stamp to this picture on screen, when the picture carries a stamp.
    pub latency_ms: Option<i64>,
    pub error: Option<String>,
    /// Media playlists the master lists (read once, by the player thread).
    pub renditions: Vec<String>,
}

#[derive(Default)]
struct Shared {
    frame: Option<Arc<PlayerFrame>>,
    status: PlayerStatus,
}

pub struct HlsPreview {
    shared: Arc<Mutex<Shared>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl HlsPreview {
    /// Plays `playlist_url` (a media playlist, such as `.../live/KEY/video/playlist.m3u8`).
    pub fn start(playlist_url: String) -> HlsPreview {
        let shared = Arc::new(Mutex::new(Shared::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (for_thread, stopping) = (shared.clone(), stop.clone());
        let thread = std::thread::Builder::new().name("hls-preview".into()).spawn(move || play(&playlist_url, &for_thread, &stopping)).ok();
        HlsPreview { shared, stop, thread }
    }

    pub fn frame(&self) -> Option<Arc<PlayerFrame>> {
        self.shared.lock().ok()?.frame.clone()
    }

    pub fn status(&self) -> PlayerStatus {
        self.shared.lock().map(|s| s.status.clone()).unwrap_or_default()
    }
}

impl Drop for HlsPreview {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// One listed segment: its number, its URI and the init segment it needs.
fn parse_media_playlist(text: &str) -> Vec<(u64, String, String)> {
    let mut map = String::new();
    let mut segments = Vec::new();
    for line in text.lines() {
        if let Some(uri) = line.strip_prefix("#EXT-X-MAP:URI=\"").and_then(|rest| rest.strip_suffix('"')) {
            map = uri.to_string();
        } else if !line.starts_with('#') && !line.trim().is_empty() {
            let number = line.trim_start_matches("seg-").trim_end_matches(".m4s").parse().unwrap_or(0);
            segments.push((number, line.trim().to_string(), map.clone()));
        }
    }
    segments
}

fn play(playlist_url: &str, shared: &Mutex<Shared>, stop: &AtomicBool) {
    let report = |update: &dyn Fn(&mut PlayerStatus)| {
        if let Ok(mut shared) = shared.lock() {
            update(&mut shared.status);
        }
    };
    let decoder = match Decoder::new() {
        Ok(decoder) => decoder,
        Err(error) => {
            report(&|s| s.error = Some(format!("cannot start the H.264 decoder: {error}")));
            return;
        }
    };
    if let Some(master) = playlist_url.rsplit_once('/').and_then(|(stream, _)| stream.rsplit_once('/')).map(|(stream, _)| format!("{stream}/index.m3u8"))
        && let Ok(body) = http::get(&master)
    {
        let text = String::from_utf8_lossy(&body);
        let renditions: Vec<String> = text.lines().filter(|l| !l.starts_with('#') && l.ends_with(".m3u8")).map(str::to_string).collect();
        report(&|s| s.renditions = renditions.clone());
    }
    let mut player = Player {
        base: playlist_url.rsplit_once('/').map_or(playlist_url, |(base, _)| base).to_string(),
        decoder,
        init: String::new(),
        parameter_sets: Vec::new(),
        pacer: Pacer::default(),
        shared,
        stop,
    };
    // Until the stream's first segment exists the playlist answers 404: that is starting, not an error.
    let first = loop {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        match http::get(playlist_url) {
            Ok(body) => break String::from_utf8_lossy(&body).into_owned(),
            Err(http::FetchError::Status { status: 404, .. }) => report(&|s| s.error = None),
            Err(error) => report(&|s| s.error = Some(error.to_string())),
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    if first.contains("#EXT-X-PART-INF") {
        player.follow_parts(playlist_url);
    } else {
        player.follow_segments(playlist_url);
    }
}

/// Shows each picture at its decode time's distance from the first, and
/// starts over from now when the pictures fall half a second behind.
#[derive(Default)]
struct Pacer {
    anchor: Option<(Instant, u64)>,
}

impl Pacer {
    fn wait(&mut self, dts: u64, stop: &AtomicBool) {
        let now = Instant::now();
        let due = self.anchor.filter(|&(_, first)| dts >= first).map(|(at, first)| at + Duration::from_micros((dts - first) * 1_000_000 / 90_000));
        match due {
            Some(due) if due + Duration::from_millis(500) >= now => {
                if due > now && !stop.load(Ordering::SeqCst) {
                    std::thread::sleep(due - now);
                }
            }
            _ => self.anchor = Some((now, dts)),
        }
    }
}

struct Player<'a> {
    base: String,
    decoder: Decoder,
    /// The init segment the parameter sets came from.
    init: String,
    parameter_sets: Vec<Vec<u8>>,
    pacer: Pacer,
    shared: &'a Mutex<Shared>,
    stop: &'a AtomicBool,
}

impl Player<'_> {
    fn report(&self, update: impl FnOnce(&mut PlayerStatus)) {
        if let Ok(mut shared) = self.shared.lock() {
            update(&mut shared.status);
        }
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Fetches `uri` (and its init segment when it changed) and plays its
    /// samples: at their pace, or as fast as they decode while catching up.
    fn play(&mut self, uri: &str, init: &str, paced: bool) -> Result<(), http::FetchError> {
        if init != self.init {
            let body = http::get(&format!("{}/{init}", self.base))?;
            self.parameter_sets = fmp4::init_avcc(&body).map(|avcc| avcc_parameter_sets(&avcc).into_iter().map(<[u8]>::to_vec).collect()).unwrap_or_default();
            self.init = init.to_string();
        }
        let media = http::get(&format!("{}/{uri}", self.base))?;
        for sample in fmp4::fragment_samples(&media) {
            if self.stopped() {
                break;
            }
            if paced {
                self.pacer.wait(sample.dts, self.stop);
            } else {
                self.pacer = Pacer::default();
            }
            self.show(&sample);
        }
        self.report(|s| {
            s.segments += 1;
            s.error = None;
        });
        Ok(())
    }

    /// Low-Latency HLS: from the newest independent part, each part in
    /// order, asking for the next with a blocking playlist reload, so a part
    /// plays as soon as it is whole.
    fn follow_parts(&mut self, playlist_url: &str) {
        let mut wanted: Option<(u64, u32)> = None;
        while !self.stopped() {
            let url = match wanted {
                Some((number, index)) => format!("{playlist_url}?_HLS_msn={number}&_HLS_part={index}"),
                None => playlist_url.to_string(),
            };
            let parts = match http::get(&url) {
                Ok(body) => ll_hls::parse_parts(&String::from_utf8_lossy(&body)),
                Err(error) => {
                    self.report(|s| s.error = Some(error.to_string()));
                    std::thread::sleep(Duration::from_millis(200));
                    continue;
                }
            };
            let next = match wanted {
                None => ll_hls::live_edge(&parts),
                Some((number, index)) => parts
                    .iter()
                    .find(|p| (p.number, p.index) == (number, index))
                    .or_else(|| index.checked_sub(1).and_then(|last| ll_hls::after(&parts, number, last))),
            };
            // Fallen out of the window (a stall, a restarted stream): join at the live edge again.
            let behind_the_window = parts.first().zip(wanted).is_some_and(|(oldest, wanted)| (oldest.number, oldest.index) > wanted);
            let next = next.or_else(|| if behind_the_window { ll_hls::live_edge(&parts) } else { None });
            let Some(part) = next.cloned() else {
                // Not there yet: the reload held as long as the server holds one; ask again.
                if wanted.is_none() {
                    std::thread::sleep(Duration::from_millis(100));
                }
                continue;
            };
            // Joining starts at a keyframe up to a segment back: the parts
            // before the newest decode at once, so playback starts at the edge.
            let newest = parts.last().map(|p| (p.number, p.index));
            match self.play(&part.uri, &part.init, Some((part.number, part.index)) >= newest) {
                Ok(()) => wanted = Some((part.number, part.index + 1)),
                Err(error) => {
                    self.report(|s| s.error = Some(error.to_string()));
                    wanted = None;
                }
            }
        }
    }

    /// Classic HLS: every new segment in order, the playlist reloaded between.
    fn follow_segments(&mut self, playlist_url: &str) {
        let mut next: Option<u64> = None;
        while !self.stopped() {
            let listed = match http::get(playlist_url).map(|body| parse_media_playlist(&String::from_utf8_lossy(&body))) {
                Ok(listed) => listed,
                Err(error) => {
                    self.report(|s| s.error = Some(error.to_string()));
                    std::thread::sleep(Duration::from_millis(500));
                    continue;
                }
            };
            // Join at the live edge, then take every new segment in order.
            let from = next.unwrap_or_else(|| listed.last().map_or(0, |(n, _, _)| *n));
            for (number, uri, init) in listed.into_iter().filter(|(n, _, _)| *n >= from) {
                if self.stopped() {
                    return;
                }
                if let Err(error) = self.play(&uri, &init, true) {
                    self.report(|s| s.error = Some(error.to_string()));
                    break;
                }
                next = Some(number + 1);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Decodes one sample and puts its picture on screen, with its latency.
    fn show(&mut self, sample: &fmp4::Sample) {
        let mut annexb = Vec::with_capacity(sample.data.len() + 64);
        if sample.keyframe {
            append_annexb(&mut annexb, self.parameter_sets.iter().map(Vec::as_slice));
        }
        append_annexb(&mut annexb, length_prefixed_units(&sample.data));
        let Ok(Some(picture)) = self.decoder.decode(&annexb) else { return };
        let (width, height) = picture.dimensions();
        let (y_stride, u_stride, v_stride) = picture.strides();
        let latency_ms = stamp::read(picture.y(), width, height, y_stride).map(|captured| UnixMillis::from_system_time(SystemTime::now()).0 - captured as i64);
        let (w, h, rgba) = i420_to_rgba_preview([picture.y(), picture.u(), picture.v()], [y_stride, u_stride, v_stride], width, height, 320);
        if let Ok(mut shared) = self.shared.lock() {
            shared.frame = Some(Arc::new(PlayerFrame { width: w, height: h, rgba }));
            shared.status.frames_decoded += 1;
            if latency_ms.is_some() {
                shared.status.latency_ms = latency_ms;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_playlists_list_segments_with_their_init() {
        let text =
            "#EXTM3U\n#EXT-X-MAP:URI=\"init-1.mp4\"\n#EXTINF:2.0,\nseg-7.m4s\n#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"init-2.mp4\"\n#EXTINF:2.0,\nseg-8.m4s\n";
        assert_eq!(parse_media_playlist(text), [(7, "seg-7.m4s".into(), "init-1.mp4".into()), (8, "seg-8.m4s".into(), "init-2.mp4".into())]);
    }
}
