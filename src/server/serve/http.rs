//! HTTP: the router (index page, player page, API, metrics); the live
//! paths skip it and are answered in `connection.rs`.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use bytes::Bytes;
use serde::Serialize;
use tower::util::MapResponseLayer;

use super::response::{Cache, body, common_headers, html_escape, not_found_response};
use crate::media::codec::CodecConfig;
use crate::media::frame::TrackKind;
use crate::media::wallclock::UnixMillis;
use crate::server::hub::{Hub, IngestProtocol, LiveStream, StreamState};
use crate::server::ladder::RungState;
use crate::server::package::hls::codec_string;

pub fn router(hub: Arc<Hub>) -> Router {
    let admin = Router::new()
        .route("/api/streams", get(api_streams))
        .route("/api/recordings", get(super::vod::list))
        .route("/metrics", get(metrics))
        .route_layer(axum::middleware::from_fn_with_state(hub.clone(), super::admin::require_token));
    Router::new()
        .merge(admin)
        .route("/", get(index))
        .route("/time", get(time))
        .route("/vod/{*path}", get(super::vod::file))
        .route("/live/{key}", get(to_player_page))
        .route("/live/{key}/", get(player_page))
        .route("/live/{key}/whep", post(crate::server::webrtc::whep::offer).options(crate::server::webrtc::whep::preflight))
        .route("/live/{key}/whep/{id}", delete(crate::server::webrtc::whep::stop).options(crate::server::webrtc::whep::preflight))
        .route("/live/{key}/whip", post(crate::server::webrtc::whip::offer).options(crate::server::webrtc::whep::preflight))
        .route("/live/{key}/whip/{id}", delete(crate::server::webrtc::whep::stop).options(crate::server::webrtc::whep::preflight))
        .route("/assets/{name}", get(asset))
        .fallback(not_found)
        .layer(axum::extract::DefaultBodyLimit::max(hub.config().limits.max_body_bytes))
        .layer(MapResponseLayer::new({
            let hub = hub.clone();
            move |response| common_headers(&hub, response)
        }))
        .with_state(hub)
}

async fn not_found() -> Response {
    not_found_response()
}

/// The page is served for any key: it waits for a stream that is not live yet.
async fn player_page(Path(key): Path<String>) -> Response {
    super::player_page::page(&key)
}

async fn to_player_page(Path(key): Path<String>) -> Response {
    let mut response = StatusCode::PERMANENT_REDIRECT.into_response();
    if let Ok(location) = HeaderValue::from_str(&format!("/live/{}/", urlencode_path(&key))) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

pub(crate) fn urlencode_path(text: &str) -> String {
    text.bytes().map(|b| if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.') { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

async fn asset(Path(name): Path<String>) -> Response {
    match super::player_page::script(&name) {
        Some(response) => response,
        None => not_found_response(),
    }
}

async fn time() -> Response {
    let now = UnixMillis::from_system_time(SystemTime::now()).to_iso8601();
    body("text/plain; charset=utf-8", Cache::NoStore, Bytes::from(now))
}

#[derive(Serialize)]
struct StreamReport {
    key: String,
    protocol: IngestProtocol,
    /// SRT round trip, loss and retransmissions; absent for RTMP.
    transport: Option<crate::server::hub::IngestStats>,
    state: ReportedState,
    publisher: String,
    video_codec: Option<String>,
    audio_codec: Option<String>,
    width: Option<u32>,
    height: Option<u32>,
    fps: Option<f64>,
    audio_sample_rate: Option<u32>,
    ingest_kbps: u64,
    uptime_seconds: f64,
    frames: u64,
    frames_dropped: u64,
    segments_produced: u64,
    forced_cuts: u64,
    viewers: usize,
    /// WebRTC (WHEP) viewers connected or connecting.
    webrtc_viewers: usize,
    /// What the WebRTC viewers were sent (and the rate now) and asked for.
    webrtc: crate::server::webrtc::viewer_stats::ViewerStats,
    /// The ladder rung WebRTC viewers get instead of a source with B-frames; null: the source.
    webrtc_rung: Option<String>,
    target_duration: Option<u32>,
    hls: String,
    dash: String,
    /// Where a WHEP player POSTs its offer.
    whep: String,
    /// What players are offered: the source's video, the ladder's rungs, the audio.
    renditions: Vec<RenditionReport>,
    /// The transcoding ladder: each rung running, shed or failed, with its lag and CPU.
    ladder: Option<crate::server::ladder::LadderStatus>,
    /// The `[[forward]]` destinations the stream is pushed to.
    forwards: Vec<crate::server::forward::ForwardReport>,
}

/// What a rendition is to the stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum RenditionRole {
    /// The publisher's own video.
    Source,
    /// A ladder rung transcoded from it.
    Rung,
    Audio,
}

/// A stream's state as the API and the index page name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
enum ReportedState {
    Live,
    WaitingForPublisher,
    Ended,
}

impl std::fmt::Display for ReportedState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ReportedState::Live => "live",
            ReportedState::WaitingForPublisher => "waiting-for-publisher",
            ReportedState::Ended => "ended",
        })
    }
}

#[derive(Serialize)]
struct RenditionReport {
    name: String,
    role: RenditionRole,
    width: Option<u32>,
    height: Option<u32>,
    /// Measured over the retained segments, bits per second.
    average_bandwidth: u64,
    peak_bandwidth: u64,
    playlist: String,
}

fn report(stream: &LiveStream, now: Instant) -> StreamReport {
    let snapshot = stream.snapshot();
    let (frames, dropped, segments, forced, uptime, bytes_in) = {
        let packager = stream.packager();
        (packager.frames, packager.dropped_frames(), packager.segments, packager.forced_cuts(), now.duration_since(packager.started), packager.bytes_in)
    };
    let window = &snapshot.window;
    let video = window.video.as_ref();
    let h264 = video.and_then(|t| match &t.codec {
        CodecConfig::H264(h) => Some(h.clone()),
        CodecConfig::Aac(_) => None,
    });
    let aac = window.audio.as_ref().and_then(|t| match &t.codec {
        CodecConfig::Aac(a) => Some(a.clone()),
        CodecConfig::H264(_) => None,
    });
    let state = match stream.state() {
        StreamState::Live => ReportedState::Live,
        StreamState::Waiting { .. } => ReportedState::WaitingForPublisher,
        StreamState::Ended { .. } => ReportedState::Ended,
    };
    let uptime_seconds = uptime.as_secs_f64();
    StreamReport {
        key: stream.key.clone(),
        protocol: stream.protocol(),
        transport: stream.ingest_stats(),
        state,
        publisher: stream.peer.lock().map(|p| p.to_string()).unwrap_or_default(),
        video_codec: video.map(|t| codec_string(&t.codec)),
        audio_codec: window.audio.as_ref().map(|t| codec_string(&t.codec)),
        width: h264.as_ref().map(|h| h.width),
        height: h264.as_ref().map(|h| h.height),
        fps: video.and_then(|t| t.frame_rate()),
        audio_sample_rate: aac.map(|a| a.sample_rate),
        // What the publisher sends: the source's tracks, not the ladder's.
        ingest_kbps: window.tracks().filter(|t| t.rung.is_none()).map(|t| t.bandwidth().1).sum::<u64>() / 1000,
        uptime_seconds,
        frames,
        frames_dropped: dropped,
        segments_produced: segments,
        forced_cuts: forced,
        viewers: stream.viewers(now),
        webrtc_viewers: stream.rtc.viewers(),
        webrtc: stream.rtc.viewer_stats(),
        webrtc_rung: stream.rtc.rung_name(),
        target_duration: window.target_duration,
        hls: format!("/live/{}/index.m3u8", stream.key),
        dash: format!("/live/{}/manifest.mpd", stream.key),
        whep: format!("/live/{}/whep", stream.key),
        renditions: window.tracks().map(|t| rendition_report(&stream.key, t)).collect(),
        ladder: stream.ladder_status(),
        forwards: stream.forwards.as_ref().map(|f| f.report()).unwrap_or_default(),
    }
    .with_fallback_bitrate(bytes_in, uptime_seconds)
}

fn rendition_report(key: &str, track: &crate::server::package::cmaf::window::TrackWindow) -> RenditionReport {
    let (peak_bandwidth, average_bandwidth) = track.bandwidth();
    let size = match &track.codec {
        CodecConfig::H264(h264) => Some((h264.width, h264.height)),
        CodecConfig::Aac(_) => None,
    };
    let role = match (track.kind, track.rung) {
        (_, Some(_)) => RenditionRole::Rung,
        (TrackKind::Video, None) => RenditionRole::Source,
        (TrackKind::Audio, None) => RenditionRole::Audio,
    };
    RenditionReport {
        name: track.name.clone(),
        role,
        width: size.map(|s| s.0),
        height: size.map(|s| s.1),
        average_bandwidth,
        peak_bandwidth,
        playlist: format!("/live/{key}/{}/playlist.m3u8", track.name),
    }
}

impl StreamReport {
    /// Before the first segment, the bitrate comes from bytes received so far.
    fn with_fallback_bitrate(mut self, bytes_in: u64, uptime: f64) -> StreamReport {
        if self.ingest_kbps == 0 && uptime > 0.0 {
            self.ingest_kbps = (bytes_in as f64 * 8.0 / uptime / 1000.0) as u64;
        }
        self
    }
}

async fn api_streams(State(hub): State<Arc<Hub>>) -> Response {
    let now = Instant::now();
    let reports: Vec<StreamReport> = hub.list().iter().map(|s| report(s, now)).collect();
    let json = serde_json::to_vec_pretty(&reports).unwrap_or_default();
    body("application/json", Cache::NoStore, Bytes::from(json))
}

async fn metrics(State(hub): State<Arc<Hub>>) -> Response {
    let mut text = hub.metrics.render(hub.live_count());
    let ladders: Vec<_> = hub.list().iter().filter_map(|s| s.ladder_status().map(|l| (s.key.clone(), l))).collect();
    crate::server::metrics::render_ladders(&mut text, &ladders);
    body("text/plain; version=0.0.4", Cache::NoStore, Bytes::from(text))
}

/// The index page's list of recordings (recording is on).
fn recordings_table(entries: &[crate::server::record::RecordingEntry]) -> String {
    let mut rows = String::new();
    for entry in entries {
        let key = html_escape(&entry.key);
        let state = serde_json::to_value(entry.state).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default();
        rows.push_str(&format!(
            "<tr><td>{key}</td><td>{}</td><td>{:.0} s</td><td>{state}</td><td>{:.1} MB</td>\
             <td><a href=\"{}\">Watch</a> · <a href=\"{}\">HLS</a> · <a href=\"{}\">DASH</a></td></tr>\n",
            html_escape(&entry.start),
            entry.duration_seconds,
            entry.bytes as f64 / 1e6,
            html_escape(&entry.player),
            html_escape(&entry.hls),
            html_escape(&entry.dash)
        ));
    }
    if rows.is_empty() {
        rows = "<tr><td colspan=\"6\">No recordings yet: every live stream is recorded as it goes.</td></tr>".into();
    }
    format!("<h2>Recordings</h2><table><tr><th>Key</th><th>Started</th><th>Length</th><th>State</th><th>Size</th><th>Watch</th></tr>\n{rows}</table>")
}

async fn index(State(hub): State<Arc<Hub>>) -> Response {
    let now = Instant::now();
    let mut rows = String::new();
    for stream in hub.list() {
        let r = report(&stream, now);
        let key = html_escape(&r.key);
        let size = match (r.width, r.height) {
            (Some(w), Some(h)) => format!("{w}×{h}"),
            _ => "audio only".into(),
        };
        // The ladder's rungs below the source, and any it had to shed.
        let mut rungs: Vec<String> = r.renditions.iter().filter(|v| v.role == RenditionRole::Rung).map(|v| v.name.clone()).collect();
        if let Some(ladder) = &r.ladder {
            rungs.extend(ladder.rungs.iter().filter(|rung| rung.state != RungState::Running).map(|rung| format!("{} {}", rung.name, rung.state)));
        }
        let rungs = if rungs.is_empty() { "—".to_string() } else { html_escape(&rungs.join(" · ")) };
        rows.push_str(&format!(
            "<tr><td>{key}</td><td>{}</td><td>{size}</td><td>{rungs}</td><td>{} kbit/s</td><td>{:.0} s</td><td>{}</td>\
             <td><a href=\"/live/{key}/\">Watch</a> · <a href=\"/live/{key}/index.m3u8\">HLS</a> · <a href=\"/live/{key}/manifest.mpd\">DASH</a></td></tr>\n",
            r.state, r.ingest_kbps, r.uptime_seconds, r.viewers
        ));
    }
    if rows.is_empty() {
        rows = "<tr><td colspan=\"8\">No streams yet. Publish to <code>rtmp://HOST:PORT/live/KEY</code> to start one.</td></tr>".into();
    }
    let recordings = match hub.recorder() {
        Some(recorder) => {
            let recorder = recorder.clone();
            recordings_table(&tokio::task::spawn_blocking(move || recorder.list()).await.unwrap_or_default())
        }
        None => String::new(),
    };
    let page = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>OnAir — live streams</title>\
         <meta http-equiv=\"refresh\" content=\"5\"><style>body{{font-family:system-ui,sans-serif;margin:2em;color:#222}}\
         table{{border-collapse:collapse}}td,th{{padding:.4em .8em;border-bottom:1px solid #ddd;text-align:left}}</style></head>\
         <body><h1>OnAir — live streams</h1><table><tr><th>Key</th><th>State</th><th>Size</th><th>Ladder</th><th>Ingest</th><th>Uptime</th><th>Viewers</th><th>Watch</th></tr>\n{rows}</table>{recordings}</body></html>"
    );
    body("text/html; charset=utf-8", Cache::NoStore, Bytes::from(page))
}
