//! The broadcaster engine publishing the synthetic sources over RTMP to
//! nginx-rtmp and to `onair serve`, checked with ffprobe and ffmpeg.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{NginxRtmp, Server, assert_in_sync, av_offsets, decode_count, free_port, get_bytes, run, wait_for};
use onair::encode::quality::QualityKnob;
use onair::engine::{AudioChoice, Command as EngineCommand, Engine, EngineConfig, VideoChoice};
use onair::publish::shared::PublishState;
use onair::publish::target::PublishTarget;

fn onair_publish(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_onair")).arg("publish").args(args).stdin(Stdio::null()).output().expect("run onair publish")
}

/// Video bitrate over the listed segments after the first, in kbit/s.
fn video_kbps(server: &Server, key: &str, playlist: &m3u8_rs::MediaPlaylist) -> f64 {
    let (mut bytes, mut seconds) = (0usize, 0f64);
    for segment in playlist.segments.iter().skip(1).take(5) {
        bytes += get_bytes(&server.url(&format!("/live/{key}/video/{}", segment.uri))).expect("segment").len();
        seconds += f64::from(segment.duration);
    }
    assert!(seconds >= 8.0, "need about 10 s of segments, have {seconds}");
    bytes as f64 * 8.0 / seconds / 1000.0
}

fn media_playlist(server: &Server, key: &str) -> Option<m3u8_rs::MediaPlaylist> {
    let text = server.get(&format!("/live/{key}/video/playlist.m3u8"))?;
    match m3u8_rs::parse_playlist_res(text.as_bytes()) {
        Ok(m3u8_rs::Playlist::MediaPlaylist(playlist)) => Some(playlist),
        _ => None,
    }
}

#[test]
fn the_tone_through_the_mixer_stays_in_sync_with_the_picture() {
    // The mixer holds each input's sound in a jitter buffer before mixing it: its
    // blocks carry the time their sound was captured, not the time they were mixed.
    let server = Server::start("[streams]\ngrace_seconds = 1.0\n[ladder]\nenabled = false\n");
    let url = server.rtmp_url("mixed");
    let output = onair_publish(&["--video", "test", "--mix", "tone", "--to", &url, "--quality", "1", "--duration", "12"]);
    assert!(output.status.success(), "onair publish failed: {}", String::from_utf8_lossy(&output.stderr));
    wait_for("the stream to end", Duration::from_secs(30), || media_playlist(&server, "mixed").filter(|p| p.end_list));
    assert_in_sync(&av_offsets(&server.url("/live/mixed/index.m3u8")));
}

#[test]
fn test_sources_published_to_onair_serve_keep_size_bitrate_and_sync() {
    let server = Server::start("[streams]\ngrace_seconds = 1.0\n");
    let url = server.rtmp_url("engine");
    let output = onair_publish(&["--video", "test", "--audio", "tone", "--to", &url, "--quality", "1", "--bitrate", "1000", "--duration", "14"]);
    assert!(output.status.success(), "onair publish failed: {}", String::from_utf8_lossy(&output.stderr));
    let playlist = wait_for("the stream to end", Duration::from_secs(30), || media_playlist(&server, "engine").filter(|p| p.end_list));
    let (ok, probe, stderr) = run(
        "ffprobe",
        &["-v", "error", "-show_entries", "stream=codec_name,width,height,sample_rate,channels", "-of", "compact", &server.url("/live/engine/index.m3u8")],
    );
    assert!(ok, "{stderr}");
    assert!(probe.contains("codec_name=h264|width=640|height=360"), "{probe}");
    assert!(probe.contains("codec_name=aac|sample_rate=48000|channels=2"), "{probe}");
    let kbps = video_kbps(&server, "engine", &playlist);
    assert!((800.0..=1200.0).contains(&kbps), "video bitrate {kbps:.0} kbit/s is not within 20 % of 1000");
    assert_in_sync(&av_offsets(&server.url("/live/engine/index.m3u8")));
    let listed: f64 = playlist.segments.iter().map(|s| f64::from(s.duration)).sum();
    let frames = decode_count(&server.url("/live/engine/index.m3u8"), "v");
    assert!((frames as f64 - listed * 30.0).abs() <= 1.5, "decoded {frames} frames from {listed:.3} s listed");
}

#[test]
fn test_sources_published_to_nginx_rtmp_are_recorded_in_sync() {
    let nginx = NginxRtmp::start("engine");
    let port = nginx.port;
    let url = format!("rtmp://127.0.0.1:{port}/live/recorded");
    let output = onair_publish(&["--to", &url, "--quality", "1", "--bitrate", "900", "--duration", "12"]);
    let recorded = nginx.recording("recorded");
    wait_for("nginx to close the recording", Duration::from_secs(10), || {
        let (ok, probe, _) = run("ffprobe", &["-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", &recorded.display().to_string()]);
        (ok && probe.trim().parse::<f64>().is_ok_and(|d| d > 10.0)).then_some(())
    });
    assert!(output.status.success(), "onair publish failed: {}", String::from_utf8_lossy(&output.stderr));
    let path = recorded.display().to_string();
    let (_, probe, _) = run("ffprobe", &["-v", "error", "-show_entries", "stream=codec_name,width,height,sample_rate", "-of", "compact", &path]);
    assert!(probe.contains("codec_name=h264|width=640|height=360") && probe.contains("codec_name=aac|sample_rate=48000"), "{probe}");
    // Video bitrate from the packets between 1 s and 11 s.
    let (_, packets, _) = run("ffprobe", &["-v", "error", "-select_streams", "v", "-show_entries", "packet=pts_time,size", "-of", "csv=p=0", &path]);
    let bytes: usize = packets
        .lines()
        .filter_map(|l| l.split_once(','))
        .filter(|(t, _)| t.parse::<f64>().is_ok_and(|t| (1.0..11.0).contains(&t)))
        .filter_map(|(_, size)| size.trim().parse::<usize>().ok())
        .sum();
    let kbps = bytes as f64 * 8.0 / 10.0 / 1000.0;
    assert!((720.0..=1080.0).contains(&kbps), "video bitrate {kbps:.0} kbit/s is not within 20 % of 900");
    assert_in_sync(&av_offsets(&path));
}

fn start_engine(url: &str, knob: QualityKnob) -> Engine {
    let target = PublishTarget::parse(url).unwrap();
    Engine::start(EngineConfig::new(VideoChoice::TestPattern, AudioChoice::TestTone, target, knob)).expect("engine starts")
}

#[test]
fn the_knob_changes_bitrate_and_size_without_reconnecting() {
    let server = Server::start("[streams]\ngrace_seconds = 1.0\n");
    let engine = start_engine(&server.rtmp_url("knob"), QualityKnob::new(1, Some(500)).unwrap());
    wait_for("live", Duration::from_secs(15), || (engine.status().state == PublishState::Live).then_some(()));
    wait_for("a steady low bitrate", Duration::from_secs(10), || (engine.status().sent_kbps > 300.0 && engine.status().sent_kbps < 800.0).then_some(()));
    let moved = Instant::now();
    engine.send(EngineCommand::SetQuality(QualityKnob::new(1, Some(1500)).unwrap()));
    wait_for("the bitrate to follow the knob", Duration::from_secs(6), || (engine.status().sent_kbps > 1200.0).then_some(()));
    eprintln!("bitrate followed the knob in {:.2} s", moved.elapsed().as_secs_f64());
    // A position with another resolution: new SPS/PPS on the same connection.
    engine.send(EngineCommand::SetQuality(QualityKnob::new(2, None).unwrap()));
    wait_for("854x480 in the playlist", Duration::from_secs(20), || {
        let playlist = server.get("/live/knob/video/playlist.m3u8")?;
        playlist.contains("init-2.mp4").then_some(())
    });
    // The ladder is rebuilt for the new size: a 480p source gets a 360p rung.
    wait_for("a 360p rung for the 480p source", Duration::from_secs(20), || {
        server.get("/live/knob/index.m3u8").filter(|m| m.contains("RESOLUTION=640x360") && m.contains("360p/playlist.m3u8"))
    });
    std::thread::sleep(Duration::from_secs(3));
    let last = engine.shutdown();
    assert!(matches!(last.state, PublishState::Stopped));
    let log = server.log();
    assert_eq!(log.matches("publishing over RTMP").count(), 1, "one connection throughout:\n{log}");
    let (ok, probe, _) = run("ffprobe", &["-v", "error", "-show_entries", "stream=width,height", "-of", "csv=p=0", &server.url("/live/knob/video/init-2.mp4")]);
    assert!(ok && probe.contains("854,480"), "{probe}");
    wait_for("the stream to end", Duration::from_secs(20), || server.get("/live/knob/video/playlist.m3u8").filter(|p| p.contains("ENDLIST")));
    let frames = decode_count(&server.url("/live/knob/video/playlist.m3u8"), "v");
    assert!(frames > 100, "decoded {frames} frames across the size change");
}

#[test]
fn publishing_resumes_by_itself_after_the_server_restarts() {
    let rtmp_port = free_port();
    let config = format!("[rtmp]\nlisten = \"127.0.0.1:{rtmp_port}\"\n[streams]\ngrace_seconds = 30.0\n");
    let first = Server::start_exact(&config);
    let engine = start_engine(&format!("rtmp://127.0.0.1:{rtmp_port}/live/resume"), QualityKnob::new(1, None).unwrap());
    wait_for("live", Duration::from_secs(15), || (engine.status().state == PublishState::Live).then_some(()));
    std::thread::sleep(Duration::from_secs(2));
    drop(first);
    wait_for("the engine to notice", Duration::from_secs(10), || matches!(engine.status().state, PublishState::Reconnecting { .. }).then_some(()));
    let restarted = Instant::now();
    let second = Server::start_exact(&config);
    wait_for("live again", Duration::from_secs(15), || (engine.status().state == PublishState::Live).then_some(()));
    let took = restarted.elapsed();
    eprintln!("resumed {:.2} s after the server came back", took.as_secs_f64());
    assert!(took < Duration::from_secs(10), "took {took:?}");
    wait_for("segments on the new server", Duration::from_secs(20), || second.get("/live/resume/index.m3u8"));
    engine.shutdown();
}

#[test]
fn bad_urls_refused_keys_and_missing_cameras_are_clear_errors() {
    let started = Instant::now();
    let output = onair_publish(&["--to", "ftp://127.0.0.1/live/key"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("Expected rtmp://HOST[:PORT]/APP/KEY") && stderr.contains("whip://"), "{stderr}");
    let output = onair_publish(&["--video", "camera", "--to", "rtmp://127.0.0.1:1/live/key"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--video test"), "{stderr}");
    // A key that is live already: refused once, not retried.
    let server = Server::start("");
    let holder = start_engine(&server.rtmp_url("busy"), QualityKnob::new(1, None).unwrap());
    wait_for("the first publisher", Duration::from_secs(15), || (holder.status().state == PublishState::Live).then_some(()));
    let output = onair_publish(&["--to", &server.rtmp_url("busy"), "--quality", "1", "--duration", "20"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("refused"), "{stderr}");
    assert_eq!(server.log().matches("publish refused").count(), 1, "no retry storm:\n{}", server.log());
    holder.shutdown();
    assert!(started.elapsed() < Duration::from_secs(60));
}
