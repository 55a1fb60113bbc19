//! The in-app preview player: reads the local server's HLS over HTTP like any
//! client (Low-Latency HLS parts with blocking playlist reloads when the
//! server offers them, as the viewers' players do), demuxes the fMP4,
//! decodes H.264 with OpenH264 and AAC with fdk-aac, plays the sound on the
//! default output device on the picture's clock, and measures glass-to-glass
//! latency from the capture stamp in each picture and the A/V offset from the
//! test pattern's flashes and the test tone's beeps.

pub mod audio_out;
pub mod clock;
pub mod fmp4;
pub mod http;
pub mod ll_hls;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use openh264::decoder::Decoder;
use openh264::formats::YUVSource;

use self::audio_out::AudioOut;
use self::clock::MediaClock;
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
    /// Why there is no sound, when there is none.
    pub sound_error: Option<String>,
    /// When a beep is heard minus when its flash was shown (median of the
    /// recent pairs), with the test sources: positive when sound is late.
    pub av_offset_ms: Option<f64>,
}

#[derive(Default)]
struct Shared {
    frame: Option<Arc<PlayerFrame>>,
    status: PlayerStatus,
    /// When the recent white flashes of the test pattern were shown.
    flashes: VecDeque<Instant>,
}

pub struct HlsPreview {
    shared: Arc<Mutex<Shared>>,
    stop: Arc<AtomicBool>,
    /// The sound output, once its thread has opened it.
    sound: Arc<Mutex<Option<Arc<AudioOut>>>>,
    muted: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl HlsPreview {
    /// Plays `playlist_url` (a media playlist, such as `.../live/KEY/video/playlist.m3u8`),
    /// with the stream's `audio/playlist.m3u8` on the default output device when there is one.
    pub fn start(playlist_url: String) -> HlsPreview {
        let shared = Arc::new(Mutex::new(Shared::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let clock = MediaClock::default();
        let mut threads = Vec::new();
        let (for_video, stopping, video_clock, url) = (shared.clone(), stop.clone(), clock.clone(), playlist_url.clone());
        threads.extend(std::thread::Builder::new().name("hls-preview".into()).spawn(move || play(&url, Track::Video, &for_video, &stopping, video_clock)).ok());
        let audio_url =
            playlist_url.rsplit_once('/').and_then(|(rendition, _)| rendition.rsplit_once('/')).map(|(stream, _)| format!("{stream}/audio/playlist.m3u8"));
        let sound = Arc::new(Mutex::new(None));
        let muted = Arc::new(AtomicBool::new(false));
        if let Some(url) = audio_url {
            let (for_audio, stopping, slot, mute) = (shared.clone(), stop.clone(), sound.clone(), muted.clone());
            // Opening the device can take a while: never on the caller's (the UI's) thread.
            let sound_thread = move || match AudioOut::open(clock.clone(), mute) {
                Ok(output) => {
                    let output = Arc::new(output);
                    *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(output.clone());
                    play(&url, Track::Audio(output), &for_audio, &stopping, clock);
                }
                Err(error) => {
                    tracing::info!("the preview has no sound: {error}");
                    if let Ok(mut shared) = for_audio.lock() {
                        shared.status.sound_error = Some(error);
                    }
                }
            };
            threads.extend(std::thread::Builder::new().name("hls-preview-sound".into()).spawn(sound_thread).ok());
        }
        HlsPreview { shared, stop, sound, muted, threads }
    }

    fn sound(&self) -> Option<Arc<AudioOut>> {
        self.sound.lock().ok()?.clone()
    }

    pub fn frame(&self) -> Option<Arc<PlayerFrame>> {
        self.shared.lock().ok()?.frame.clone()
    }

    pub fn status(&self) -> PlayerStatus {
        let Ok(shared) = self.shared.lock() else { return PlayerStatus::default() };
        let mut status = shared.status.clone();
        if let Some(sound) = self.sound() {
            status.av_offset_ms = av_offset_ms(&shared.flashes, &sound.beeps());
        }
        status
    }

    pub fn set_muted(&self, muted: bool) {
        self.muted.store(muted, Ordering::Relaxed);
    }
}

impl Drop for HlsPreview {
    /// The threads end on their own: one may be in a blocking playlist
    /// reload (up to a few parts long) or opening the sound device, and the
    /// UI that drops the player must not wait for either.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.threads.clear();
    }
}

/// Each flash paired with the beep nearest it (within half a second): the median of beep minus flash.
fn av_offset_ms(flashes: &VecDeque<Instant>, beeps: &[Instant]) -> Option<f64> {
    let signed_ms = |beep: Instant, flash: Instant| match beep.checked_duration_since(flash) {
        Some(late) => late.as_secs_f64() * 1000.0,
        None => -(flash.duration_since(beep).as_secs_f64() * 1000.0),
    };
    let mut offsets: Vec<f64> = flashes
        .iter()
        .filter_map(|&flash| beeps.iter().map(|&beep| signed_ms(beep, flash)).min_by(|a, b| a.abs().total_cmp(&b.abs())))
        .filter(|offset| offset.abs() < 500.0)
        .collect();
    offsets.sort_by(f64::total_cmp);
    offsets.get(offsets.len() / 2).copied()
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

/// What a player thread does with the samples it fetches.
enum Track {
    /// Decodes and shows each picture when the media clock says it is due.
    Video,
    /// Decodes ahead and hands the sound to the output, which plays it on that clock.
    Audio(Arc<AudioOut>),
}

/// A track's decoder, made from its init segment.
enum Decoding {
    None,
    Video { decoder: Box<Decoder>, parameter_sets: Vec<Vec<u8>> },
    Audio { decoder: Box<fdk_aac::dec::Decoder>, sink: Arc<AudioOut> },
}

fn play(playlist_url: &str, track: Track, shared: &Mutex<Shared>, stop: &AtomicBool, clock: MediaClock) {
    let is_video = matches!(track, Track::Video);
    let report = |update: &dyn Fn(&mut PlayerStatus)| {
        if let Ok(mut shared) = shared.lock() {
            update(&mut shared.status);
        }
    };
    if is_video
        && let Some(master) = playlist_url.rsplit_once('/').and_then(|(stream, _)| stream.rsplit_once('/')).map(|(stream, _)| format!("{stream}/index.m3u8"))
        && let Ok(body) = http::get(&master)
    {
        let text = String::from_utf8_lossy(&body);
        let renditions: Vec<String> = text.lines().filter(|l| !l.starts_with('#') && l.ends_with(".m3u8")).map(str::to_string).collect();
        report(&|s| s.renditions = renditions.clone());
    }
    let mut player = Player {
        base: playlist_url.rsplit_once('/').map_or(playlist_url, |(base, _)| base).to_string(),
        track,
        decoding: Decoding::None,
        init: String::new(),
        timescale: 90_000,
        clock,
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
            Err(http::FetchError::Status { status: 404, .. }) => {}
            Err(error) if is_video => report(&|s| s.error = Some(error.to_string())),
            Err(_) => {}
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    if first.contains("#EXT-X-PART-INF") {
        player.follow_parts(playlist_url);
    } else {
        player.follow_segments(playlist_url);
    }
}

struct Player<'a> {
    base: String,
    track: Track,
    decoding: Decoding,
    /// The init segment the decoder was made from.
    init: String,
    timescale: u32,
    clock: MediaClock,
    shared: &'a Mutex<Shared>,
    stop: &'a AtomicBool,
}

impl Player<'_> {
    fn report(&self, update: impl FnOnce(&mut PlayerStatus)) {
        // The sound's thread reports nothing: a missing audio track is no error of the picture's.
        if matches!(self.track, Track::Video)
            && let Ok(mut shared) = self.shared.lock()
        {
            update(&mut shared.status);
        }
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// A decoder for the track an init segment describes.
    fn decoding_for(&self, init: &[u8]) -> Decoding {
        match &self.track {
            Track::Video => match Decoder::new() {
                Ok(decoder) => Decoding::Video {
                    decoder: Box::new(decoder),
                    parameter_sets: fmp4::init_avcc(init).map(|avcc| avcc_parameter_sets(&avcc).into_iter().map(<[u8]>::to_vec).collect()).unwrap_or_default(),
                },
                Err(_) => Decoding::None,
            },
            Track::Audio(sink) => {
                let mut decoder = fdk_aac::dec::Decoder::new(fdk_aac::dec::Transport::Raw);
                match fmp4::init_asc(init).map(|asc| decoder.config_raw(&asc)) {
                    Some(Ok(())) => Decoding::Audio { decoder: Box::new(decoder), sink: sink.clone() },
                    _ => Decoding::None,
                }
            }
        }
    }

    /// Fetches `uri` (and its init segment when it changed) and plays its
    /// samples: at their pace, or as fast as they decode while catching up.
    fn play(&mut self, uri: &str, init: &str, paced: bool) -> Result<(), http::FetchError> {
        if init != self.init {
            let body = http::get(&format!("{}/{init}", self.base))?;
            self.timescale = fmp4::init_timescale(&body).filter(|&t| t > 0).unwrap_or(90_000);
            self.decoding = self.decoding_for(&body);
            self.init = init.to_string();
        }
        let media = http::get(&format!("{}/{uri}", self.base))?;
        for sample in fmp4::fragment_samples(&media) {
            if self.stopped() {
                break;
            }
            // Pictures and sound are due at their presentation times.
            let pts = i128::from(sample.dts) + i128::from(sample.composition_offset);
            let micros = i64::try_from(pts * 1_000_000 / i128::from(self.timescale)).unwrap_or(i64::MAX);
            match &mut self.decoding {
                Decoding::Video { .. } => {
                    if paced {
                        self.clock.wait(micros, self.stop);
                    } else {
                        self.clock.reset();
                    }
                    self.show(&sample);
                }
                Decoding::Audio { decoder, sink } => hear(decoder, sink, micros, &sample.data),
                Decoding::None => {}
            }
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
                    // A refused reload (a part too far ahead after a restart) would be refused again: rejoin.
                    wanted = None;
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
                // Not there yet, and the server did not hold the reload (an ended stream): ask again shortly.
                std::thread::sleep(Duration::from_millis(50));
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
        let Decoding::Video { decoder, parameter_sets } = &mut self.decoding else { return };
        let mut annexb = Vec::with_capacity(sample.data.len() + 64);
        if sample.keyframe {
            append_annexb(&mut annexb, parameter_sets.iter().map(Vec::as_slice));
        }
        append_annexb(&mut annexb, length_prefixed_units(&sample.data));
        let Ok(Some(picture)) = decoder.decode(&annexb) else { return };
        let shown_at = Instant::now();
        let (width, height) = picture.dimensions();
        let (y_stride, u_stride, v_stride) = picture.strides();
        let latency_ms = stamp::read(picture.y(), width, height, y_stride).map(|captured| UnixMillis::from_system_time(SystemTime::now()).0 - captured as i64);
        let flash = mean_luma(picture.y(), width, height, y_stride) > 200;
        let (w, h, rgba) = i420_to_rgba_preview([picture.y(), picture.u(), picture.v()], [y_stride, u_stride, v_stride], width, height, 320);
        if let Ok(mut shared) = self.shared.lock() {
            shared.frame = Some(Arc::new(PlayerFrame { width: w, height: h, rgba }));
            shared.status.frames_decoded += 1;
            if latency_ms.is_some() {
                shared.status.latency_ms = latency_ms;
            }
            if flash {
                shared.flashes.push_back(shown_at);
                if shared.flashes.len() > 20 {
                    shared.flashes.pop_front();
                }
            }
        }
    }
}

/// The mean of every 16th luma sample of every 16th row.
fn mean_luma(y: &[u8], width: usize, height: usize, stride: usize) -> u32 {
    let (mut sum, mut count) = (0u64, 0u64);
    for row in (0..height).step_by(16) {
        for &value in y.get(row * stride..row * stride + width).unwrap_or(&[]).iter().step_by(16) {
            sum += u64::from(value);
            count += 1;
        }
    }
    sum.checked_div(count).map_or(0, |mean| mean as u32)
}

/// Decodes one AAC frame and hands it to the output as stereo at media time `micros`.
fn hear(decoder: &mut fdk_aac::dec::Decoder, sink: &AudioOut, micros: i64, frame: &[u8]) {
    if decoder.fill(frame).is_err() {
        return;
    }
    let mut pcm = vec![0i16; 2048 * 8];
    if decoder.decode_frame(&mut pcm).is_err() {
        return;
    }
    let info = decoder.stream_info();
    let channels = (info.numChannels.max(1)) as usize;
    // The decoder's output lags its input by `outputDelay` samples: the sound it
    // gives back for this frame began that much earlier.
    let rate = i64::from(info.sampleRate.max(1));
    let micros = micros - i64::from(info.outputDelay) * 1_000_000 / rate;
    let samples = &pcm[..decoder.decoded_frame_size().min(pcm.len())];
    let stereo: Vec<f32> = samples
        .chunks(channels)
        .flat_map(|frame| {
            let left = f32::from(frame[0]) / 32768.0;
            let right = f32::from(*frame.get(1).unwrap_or(&frame[0])) / 32768.0;
            [left, right]
        })
        .collect();
    sink.push(micros, &stereo);
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
