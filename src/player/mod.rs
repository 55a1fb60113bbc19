//! The in-app preview player: reads the local server's HLS over HTTP like any
//! client, demuxes the fMP4, decodes H.264 with OpenH264, and measures
//! glass-to-glass latency from the capture stamp in each picture.

pub mod fmp4;
pub mod http;

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
    let base = playlist_url.rsplit_once('/').map_or(playlist_url, |(base, _)| base).to_string();
    let report = |update: &dyn Fn(&mut PlayerStatus)| {
        if let Ok(mut shared) = shared.lock() {
            update(&mut shared.status);
        }
    };
    let mut decoder = match Decoder::new() {
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
    let mut next: Option<u64> = None;
    let mut current_init = String::new();
    let mut parameter_sets: Vec<Vec<u8>> = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        let listed = match http::get(playlist_url).map(|body| parse_media_playlist(&String::from_utf8_lossy(&body))) {
            Ok(listed) => listed,
            Err(error) => {
                report(&|s| s.error = Some(error.to_string()));
                std::thread::sleep(Duration::from_millis(500));
                continue;
            }
        };
        // Join at the live edge, then take every new segment in order.
        let from = next.unwrap_or_else(|| listed.last().map_or(0, |(n, _, _)| *n));
        for (number, uri, init) in listed.into_iter().filter(|(n, _, _)| *n >= from) {
            if stop.load(Ordering::SeqCst) {
                return;
            }
            if init != current_init {
                match http::get(&format!("{base}/{init}")) {
                    Ok(body) => {
                        parameter_sets =
                            fmp4::init_avcc(&body).map(|avcc| avcc_parameter_sets(&avcc).into_iter().map(<[u8]>::to_vec).collect()).unwrap_or_default();
                        current_init = init;
                    }
                    Err(error) => {
                        report(&|s| s.error = Some(error.to_string()));
                        break;
                    }
                }
            }
            let segment = match http::get(&format!("{base}/{uri}")) {
                Ok(segment) => segment,
                Err(error) => {
                    report(&|s| s.error = Some(error.to_string()));
                    break;
                }
            };
            play_segment(&fmp4::fragment_samples(&segment), &parameter_sets, &mut decoder, shared, stop);
            report(&|s| {
                s.segments += 1;
                s.error = None;
            });
            next = Some(number + 1);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Decodes a segment's samples, showing each picture at its own pace.
fn play_segment(samples: &[fmp4::Sample], parameter_sets: &[Vec<u8>], decoder: &mut Decoder, shared: &Mutex<Shared>, stop: &AtomicBool) {
    let started = Instant::now();
    let first_dts = samples.first().map_or(0, |s| s.dts);
    for sample in samples {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let due = started + Duration::from_micros((sample.dts - first_dts) * 1_000_000 / 90_000);
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        let mut annexb = Vec::with_capacity(sample.data.len() + 64);
        if sample.keyframe {
            append_annexb(&mut annexb, parameter_sets.iter().map(Vec::as_slice));
        }
        append_annexb(&mut annexb, length_prefixed_units(&sample.data));
        let Ok(Some(picture)) = decoder.decode(&annexb) else { continue };
        let (width, height) = picture.dimensions();
        let (y_stride, u_stride, v_stride) = picture.strides();
        let latency_ms = stamp::read(picture.y(), width, height, y_stride).map(|captured| UnixMillis::from_system_time(SystemTime::now()).0 - captured as i64);
        let (w, h, rgba) = i420_to_rgba_preview([picture.y(), picture.u(), picture.v()], [y_stride, u_stride, v_stride], width, height, 320);
        if let Ok(mut shared) = shared.lock() {
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
