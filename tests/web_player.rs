//! The web player page in headless Chromium (driven by tests/browser/play.mjs
//! through playwright-core): LL-HLS and classic HLS through hls.js,
//! low-latency DASH through dash.js and WebRTC over WHEP play the
//! engine's test pattern, glass-to-glass latency is read from the capture
//! stamp in decoded frames, WebRTC keeps playing through a relay that loses
//! 2 % of its datagrams and plays a source with B-frames from the ladder's
//! rung, and playback carries on across a publisher reconnect.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::player::{Engine, assert_played, one_at_a_time, page_of, play, play_with};
use common::relay::LossyRelay;
use common::{Server, free_port, require, wait_for};

#[test]
fn ll_hls_hls_and_ll_dash_play_in_chromium_with_glass_to_glass_from_the_capture_stamp() {
    let _turn = one_at_a_time();
    let server = Server::start("[streams]\ngrace_seconds = 5.0\n");
    let _engine = Engine::start(&server, "web", 40);
    wait_for("the first segment", Duration::from_secs(20), || server.get("/live/web/index.m3u8"));
    let page = page_of(&server, "web");
    for (mode, engine, budget_ms) in [("llhls", "hls", 4000.0), ("dash", "dash", 6000.0), ("hls", "hls", 15000.0)] {
        let report = play(&page, mode, 8);
        assert_played(&report, 5.0);
        assert_eq!(report["engine"], engine, "{report}");
        let g2g = &report["glassToGlass"];
        assert!(g2g["count"].as_u64().unwrap_or(0) >= 5, "the stamp is read from decoded frames: {report}");
        let p50 = g2g["p50"].as_f64().unwrap();
        assert!(p50 > 0.0 && p50 < budget_ms, "{mode}: glass-to-glass p50 {p50} ms: {report}");
        eprintln!("{mode}: glass-to-glass p50 {p50} ms, p95 {} ms", g2g["p95"]);
    }
}

#[test]
fn webrtc_plays_over_whep_in_chromium_with_sound_well_under_a_second_behind() {
    let _turn = one_at_a_time();
    let server = Server::start("");
    let _engine = Engine::start(&server, "rtc", 40);
    wait_for("the first segment", Duration::from_secs(20), || server.get("/live/rtc/index.m3u8"));
    let page = page_of(&server, "rtc");
    // While it plays, the stream's own WebRTC figures show what is being sent.
    let playing = std::sync::atomic::AtomicBool::new(true);
    let (report, sent_kbps) = std::thread::scope(|scope| {
        let sampler = scope.spawn(|| {
            let mut rates = Vec::new();
            while playing.load(std::sync::atomic::Ordering::Relaxed) {
                rates.extend(webrtc_figures(&server, "rtc").and_then(|f| f["sent_kbps"].as_u64()).filter(|&kbps| kbps > 0));
                std::thread::sleep(Duration::from_millis(250));
            }
            rates
        });
        let report = play(&page, "webrtc", 10);
        playing.store(false, std::sync::atomic::Ordering::Relaxed);
        (report, sampler.join().expect("the sampler"))
    });
    let log = || server.log();
    assert_eq!(report["engine"], "webrtc", "{report}\nserver log:\n{}", log());
    assert_played(&report, 7.0);
    let tracks = &report["webrtc"];
    assert_eq!((tracks["videoTracks"].as_u64(), tracks["audioTracks"].as_u64()), (Some(1), Some(1)), "a picture and a sound track: {report}");
    let g2g = &report["glassToGlass"];
    assert!(g2g["count"].as_u64().unwrap_or(0) >= 5, "the stamp is read from decoded frames: {report}");
    let p50 = g2g["p50"].as_f64().unwrap();
    // LL-HLS's budget in this file is 4 s; WebRTC's must be far below it.
    assert!(p50 > 0.0 && p50 < 1000.0, "webrtc: glass-to-glass p50 {p50} ms: {report}");
    eprintln!("webrtc: glass-to-glass p50 {p50} ms, p95 {} ms, startup {} s", g2g["p95"], report["startupSeconds"]);
    let metrics = server.get("/metrics").expect("/metrics");
    let sent = metric(&metrics, "onair_webrtc_sent_bytes_total");
    let figures = webrtc_figures(&server, "rtc").expect("the stream's WebRTC figures");
    assert!(sent > 0 && figures["bytes_sent"].as_u64() == Some(sent), "the one stream was sent what the server sent: {figures} vs {sent}");
    // The viewer was sent the stream at about the rate it comes in (its picture and sound).
    let ingest = webrtc_stream(&server, "rtc").and_then(|s| s["ingest_kbps"].as_u64()).unwrap_or(0);
    let median = median_of(sent_kbps.clone());
    assert!(
        median as f64 >= ingest as f64 * 0.5 && median as f64 <= ingest as f64 * 2.0 + 200.0,
        "sent at {median} kbit/s ({sent_kbps:?}) while {ingest} kbit/s came in"
    );
}

/// `/api/streams`' entry for `key`.
fn webrtc_stream(server: &Server, key: &str) -> Option<serde_json::Value> {
    let streams: serde_json::Value = serde_json::from_str(&server.get("/api/streams")?).ok()?;
    streams.as_array()?.iter().find(|s| s["key"] == key).cloned()
}

/// What `key`'s WebRTC viewers were sent and asked for, from `/api/streams`.
fn webrtc_figures(server: &Server, key: &str) -> Option<serde_json::Value> {
    webrtc_stream(server, key).map(|s| s["webrtc"].clone())
}

fn metric(metrics: &str, name: &str) -> u64 {
    metrics.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok()).unwrap_or(0)
}

fn median_of(mut values: Vec<u64>) -> u64 {
    values.sort_unstable();
    values.get(values.len() / 2).copied().unwrap_or(0)
}

#[test]
fn webrtc_through_two_percent_loss_is_repaired_and_never_freezes_for_a_gop() {
    let _turn = one_at_a_time();
    // The server offers 127.0.0.2 as its candidate, on its own port: the relay
    // listens there, loses 2 % each way, delays 40 ms, and hands the rest on.
    let port = std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let server = Server::start(&format!("[webrtc]\nlisten = \"127.0.0.1:{port}\"\npublic_ips = [\"127.0.0.2\"]\n"));
    let _relay = LossyRelay::start_at(([127, 0, 0, 2], port).into(), ([127, 0, 0, 1], port).into(), 2, Duration::from_millis(40), None);
    let _engine = Engine::start(&server, "lossy", 40);
    wait_for("the first segment", Duration::from_secs(20), || server.get("/live/lossy/index.m3u8"));
    let report = play(&page_of(&server, "lossy"), "webrtc", 12);
    let log = || server.log();
    assert_eq!(report["engine"], "webrtc", "{report}\nserver log:\n{}", log());
    assert_played(&report, 9.0);
    // The studio's keyframes are 2 s apart: no frame goes undecoded for as long.
    let freeze = report["longestFreeze"].as_f64().unwrap_or(f64::MAX);
    assert!(freeze < 2.0, "the picture froze for {freeze} s: {report}");
    let metrics = server.get("/metrics").expect("/metrics");
    let nacks = metric(&metrics, "onair_webrtc_nacks_total");
    assert!(nacks > 0, "lost packets were asked for again: {report}\n{metrics}");
    let figures = webrtc_figures(&server, "lossy").expect("the stream's WebRTC figures");
    assert_eq!(figures["nacks"].as_u64(), Some(nacks), "the stream counts its viewers' NACKs: {figures}");
    eprintln!("webrtc through 2 % loss: {nacks} NACKs, longest freeze {freeze} s, {report}");
}

/// ffmpeg as an RTMP server on `port`: it takes one publisher and pushes
/// its picture, re-encoded by x264 with B-frames and a keyframe every 10 s,
/// and its sound as it is, to `url`; killed on drop.
struct BFrameRelay(Child);

impl BFrameRelay {
    fn start(port: u16, url: &str) -> BFrameRelay {
        require("ffmpeg");
        let input = format!("rtmp://127.0.0.1:{port}/live/in");
        let child = Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-listen", "1", "-i", &input])
            .args(["-c:v", "libx264", "-preset", "ultrafast", "-bf", "2", "-g", "300", "-keyint_min", "300", "-sc_threshold", "0", "-pix_fmt", "yuv420p"])
            .args(["-c:a", "copy", "-f", "flv", url])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start ffmpeg");
        BFrameRelay(child)
    }
}

impl Drop for BFrameRelay {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Whether a TCP socket listens on `port` (from /proc/net/tcp: state 0A).
fn listening(port: u16) -> bool {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    let local = format!(":{port:04X}");
    table.lines().skip(1).any(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        fields.len() > 3 && fields[1].ends_with(&local) && fields[3] == "0A"
    })
}

#[test]
fn a_b_frame_source_plays_over_whep_from_the_ladders_rung_which_keyframes_for_each_new_viewer() {
    let _turn = one_at_a_time();
    let server = Server::start("[streams]\ngrace_seconds = 5.0\n[ladder]\nmax_lag_ms = 20000\n");
    // The engine's 480p stamped pattern, re-encoded with B-frames: the ladder's 360p rung is what WebRTC can show.
    let port = free_port();
    let _relay = BFrameRelay::start(port, &server.rtmp_url("bframes"));
    // Not probed by connecting: ffmpeg takes one connection only.
    wait_for("ffmpeg to listen for RTMP", Duration::from_secs(10), || listening(port).then_some(()));
    let _engine = Engine::to(&format!("rtmp://127.0.0.1:{port}/live/in"), 60, 2);
    let log = || server.log();
    let rung = wait_for("WebRTC viewers to be given the rung", Duration::from_secs(40), || {
        let streams: serde_json::Value = serde_json::from_str(&server.get("/api/streams")?).ok()?;
        let stream = streams.as_array()?.iter().find(|s| s["key"] == "bframes")?.clone();
        stream["webrtc_rung"].as_str().map(str::to_string)
    });
    assert_eq!(rung, "360p", "the largest rung below the 480p source");
    let report = play(&page_of(&server, "bframes"), "webrtc", 10);
    assert_eq!(report["engine"], "webrtc", "{report}\nserver log:\n{}", log());
    assert_played(&report, 6.0);
    let tracks = &report["webrtc"];
    assert_eq!((tracks["videoTracks"].as_u64(), tracks["audioTracks"].as_u64()), (Some(1), Some(1)), "a picture and a sound track: {report}");
    let g2g = &report["glassToGlass"];
    assert!(g2g["count"].as_u64().unwrap_or(0) >= 5, "the stamp is read from the rung's decoded frames: {report}");
    // The source's keyframes are 10 s apart: a viewer starts well before the
    // next one only because the rung made one when it connected.
    let startup = report["startupSeconds"].as_f64().unwrap_or(f64::MAX);
    assert!(startup < 4.0, "the viewer waited {startup} s for a keyframe: {report}\nserver log:\n{}", log());
    assert!(log().contains("the source has B-frames"), "the change of source is logged: {}", log());
    eprintln!("B-frame source over WHEP from the 360p rung: start-up {startup} s, glass-to-glass p50 {} ms", g2g["p50"]);
}

#[test]
fn every_mode_keeps_playing_across_a_publisher_reconnect() {
    let _turn = one_at_a_time();
    let server = Server::start("[streams]\ngrace_seconds = 10.0\n");
    let mut engine = Some(Engine::start(&server, "again", 120));
    wait_for("the first segment", Duration::from_secs(20), || server.get("/live/again/index.m3u8"));
    let page = page_of(&server, "again");
    for mode in ["llhls", "dash", "hls"] {
        let report = std::thread::scope(|scope| {
            let playing = scope.spawn(|| play(&page, mode, 20));
            // The publisher drops out a few seconds in and comes back on the same key.
            std::thread::sleep(Duration::from_secs(6));
            drop(engine.take());
            engine = Some(Engine::start(&server, "again", 120));
            playing.join().unwrap()
        });
        // A few seconds go to the reconnect; the rest plays.
        let log = || server.log();
        assert!(report["advanced"].as_f64().unwrap_or(0.0) >= 10.0, "{mode}: {report}\nserver log:\n{}", log());
        assert!(report["glassToGlass"]["count"].as_u64().unwrap_or(0) > 10, "{mode}: {report}\nserver log:\n{}", log());
    }
}

#[test]
fn forced_switches_across_the_ladder_play_through_in_hls_js_and_dash_js() {
    let _turn = one_at_a_time();
    // 720p from the engine: the ladder adds 480p and 360p (never shed here: a
    // busy machine must not take a rendition from under the player).
    let server = Server::start("[streams]\ngrace_seconds = 5.0\n[ladder]\nmax_lag_ms = 20000\n");
    let _engine = Engine::with_quality(&server, "ladder", 90, 3);
    wait_for("the rungs in the master playlist", Duration::from_secs(40), || {
        server.get("/live/ladder/index.m3u8").filter(|m| m.matches("#EXT-X-STREAM-INF").count() == 3)
    });
    let page = page_of(&server, "ladder");
    for mode in ["llhls", "dash"] {
        let report = play_with(&page, mode, 24, &["--switch-levels"]);
        if report["stalls"] != 0 {
            eprintln!("{mode} stalled; server log:\n{}", server.log());
        }
        assert_played(&report, 18.0);
        let heights: Vec<u64> = report["levels"].as_array().unwrap().iter().map(|l| l["height"].as_u64().unwrap_or(0)).collect();
        let mut sorted = heights.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, [360, 480, 720], "{mode}: the player sees every rendition: {report}");
        let switched = report["switched"].as_array().unwrap();
        assert_eq!(switched.len(), 4, "{mode}: each rendition, then auto: {report}");
        for switch in switched {
            assert_eq!(switch["accepted"], true, "{mode}: {switch}");
            assert_eq!(switch["reached"], true, "{mode}: the player got to the rendition: {switch}\n{report}");
        }
        assert_eq!(report["stalls"], 0, "{mode}: switching stalled playback: {report}");
        eprintln!("{mode}: switched through {heights:?} with 0 stalls, {} dropped frames", report["droppedFrames"]);
    }
}
