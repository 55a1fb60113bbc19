//! Server-side recording: a live stream's source video and audio written to
//! disk as they are made, a VOD (`/vod/KEY/ID/`) once it ends that ffmpeg
//! decodes and hls.js and dash.js seek in, one recording across a republish
//! within the grace period, only the keys configured, and the oldest
//! recording deleted when the disk limit is reached.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::{Publisher, Server, decode_count, repo_path, require, wait_for};

const INPUT: &str = "-f lavfi -i testsrc2=size=640x360:rate=30 -f lavfi -i sine=frequency=440:sample_rate=48000";
const X264: &str = "-c:v libx264 -preset superfast -g 30 -pix_fmt yuv420p -b:v 1500k -c:a aac -b:a 96k";

/// A directory of its own for each test's recordings, removed at the end.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!("onair-recording-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn publish(server: &Server, key: &str, seconds: u32) {
    let publisher = Publisher::spawn(&format!("{INPUT} -t {seconds}"), X264, &server.rtmp_url(key));
    let (ok, stderr) = publisher.finish(Duration::from_secs(60));
    assert!(ok, "ffmpeg failed to publish {key}: {stderr}");
}

fn recordings(server: &Server) -> Vec<serde_json::Value> {
    let text = server.get("/api/recordings").expect("/api/recordings");
    serde_json::from_str::<serde_json::Value>(&text).expect("JSON").as_array().cloned().expect("a list")
}

fn complete(server: &Server, key: &str) -> serde_json::Value {
    wait_for(&format!("the recording of {key} to be complete"), Duration::from_secs(30), || {
        recordings(server).into_iter().find(|r| r["key"] == key && r["state"] == "complete")
    })
}

#[test]
fn a_stream_with_a_republish_becomes_one_vod_that_ffmpeg_decodes_and_hls_js_and_dash_js_seek_in() {
    let dir = TempDir::new("vod");
    let server = Server::start(&format!(
        "[streams]\ngrace_seconds = 3.0\n[ladder]\nenabled = false\n[record]\ndirectory = \"{}\"\nkeys = [\"show\"]\n",
        dir.0.display()
    ));
    let other = std::thread::spawn({
        let url = server.rtmp_url("other");
        move || Publisher::spawn(&format!("{INPUT} -t 4"), X264, &url).finish(Duration::from_secs(60))
    });
    publish(&server, "show", 6);
    // Back within the grace period: the same stream, so the same recording.
    publish(&server, "show", 6);
    assert!(other.join().expect("the other publisher").0, "ffmpeg failed to publish the unrecorded key");
    let recording = complete(&server, "show");
    let listed = recordings(&server);
    assert_eq!(listed.len(), 1, "one recording, of the one key configured: {listed:?}");
    let duration = recording["duration_seconds"].as_f64().expect("duration_seconds");
    assert!((11.0..=13.0).contains(&duration), "two 6 s sessions make about 12 s: {recording}");
    assert!(recording["bytes"].as_u64().is_some_and(|b| b > 500_000), "{recording}");
    let (hls, dash, player) = (recording["hls"].as_str().unwrap(), recording["dash"].as_str().unwrap(), recording["player"].as_str().unwrap());

    let media = server.get(&hls.replace("index.m3u8", "video/playlist.m3u8")).expect("the recording's video playlist");
    let playlist = match m3u8_rs::parse_playlist_res(media.as_bytes()) {
        Ok(m3u8_rs::Playlist::MediaPlaylist(playlist)) => playlist,
        other => panic!("not a media playlist: {other:?}\n{media}"),
    };
    assert_eq!(playlist.playlist_type, Some(m3u8_rs::MediaPlaylistType::Vod), "{media}");
    assert!(playlist.end_list, "{media}");
    assert_eq!(playlist.segments.iter().filter(|s| s.discontinuity).count(), 1, "one discontinuity, at the republish:\n{media}");
    let listed_seconds: f64 = playlist.segments.iter().map(|s| f64::from(s.duration)).sum();
    assert!((listed_seconds - duration).abs() < 0.1, "the playlist lists {listed_seconds} s of {duration}");

    let frames = decode_count(&server.url(hls), "v");
    assert!((340..=370).contains(&frames), "ffmpeg decodes the whole VOD, both sessions: {frames} frames of 360");
    let audio = decoded_audio_seconds(&server.url(hls));
    assert!((audio - duration).abs() < 1.0, "and its audio, all {duration} s of it: {audio} s");

    let text = server.get(dash).expect("the recording's MPD");
    let mpd = dash_mpd_core::parse(&text).unwrap_or_else(|e| panic!("MPD does not parse: {e:?}\n{text}"));
    assert_eq!(mpd.mpdtype.as_deref(), Some("static"), "{text}");
    assert_eq!(mpd.periods.len(), 2, "a period per session:\n{text}");
    let second_start = mpd.periods[1].start.expect("the second period's start").as_secs_f64();
    assert!((5.5..=6.5).contains(&second_start), "the second period follows the first's 6 s with no gap: {second_start}\n{text}");

    let page = server.get(player).expect("the recording's player page");
    assert!(page.contains("index.m3u8") && page.contains("manifest.mpd"), "{page}");
    assert!(server.get("/").expect("index page").contains(player), "the index page links the recording");
    assert_eq!(common::status(&server.url("/vod/show/%2e%2e/%2e%2e/etc/passwd")), 404);

    for mode in ["hls", "dash"] {
        let report = seek(&server.url(player), mode);
        assert_eq!(report["started"], true, "{mode}: {report}");
        assert!(report["duration"].as_f64().is_some_and(|d| (d - duration).abs() < 1.0), "{mode} sees the whole duration: {report}");
        assert!(report["playedAfterSeek"].as_f64().is_some_and(|p| p >= 1.0), "{mode} plays on from the middle: {report}");
        assert!(report["errors"].as_array().is_some_and(Vec::is_empty), "{mode}: {report}");
    }
}

/// Decodes the audio of `url` with `ffmpeg -xerror`; the seconds decoded.
fn decoded_audio_seconds(url: &str) -> f64 {
    let (ok, stdout, stderr) =
        common::run("ffmpeg", &["-hide_banner", "-v", "error", "-xerror", "-i", url, "-map", "0:a:0", "-f", "null", "-", "-progress", "pipe:1", "-nostats"]);
    assert!(ok && stderr.trim().is_empty(), "ffmpeg -xerror failed on the audio of {url}:\n{stderr}");
    let micros = stdout.lines().filter_map(|l| l.strip_prefix("out_time_us=")).filter_map(|v| v.trim().parse::<f64>().ok()).next_back();
    micros.expect("ffmpeg's progress") / 1e6
}

/// Chromium on the recording's page: plays, seeks to the middle, plays on.
fn seek(page: &str, mode: &str) -> serde_json::Value {
    require("node");
    assert!(repo_path("node_modules/playwright-core").exists(), "playwright-core is not installed: run packaging/setup.sh");
    let output = Command::new("node").arg(repo_path("tests/browser/seek.mjs")).args([page, mode]).output().expect("run node");
    assert!(output.status.success(), "seek.mjs failed: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("seek.mjs printed no JSON ({e}): {}", String::from_utf8_lossy(&output.stdout)))
}

#[test]
fn the_oldest_finished_recording_is_deleted_to_stay_under_the_disk_limit() {
    let dir = TempDir::new("limit");
    let server = Server::start(&format!(
        "[streams]\ngrace_seconds = 0.5\n[ladder]\nenabled = false\n[record]\ndirectory = \"{}\"\nmax_megabytes = 1\n",
        dir.0.display()
    ));
    publish(&server, "first", 5);
    let first = complete(&server, "first");
    assert!(first["bytes"].as_u64().is_some_and(|b| b > 500_000), "the first recording alone is over half the limit: {first}");
    publish(&server, "second", 5);
    complete(&server, "second");
    let keys: Vec<String> = recordings(&server).iter().map(|r| r["key"].as_str().unwrap_or_default().to_string()).collect();
    assert_eq!(keys, ["second"], "the first recording made room for the second");
    assert!(server.log().contains("recording deleted to stay under record.max_megabytes"), "{}", server.log());
    assert!(!dir.0.join("first").read_dir().is_ok_and(|mut d| d.next().is_some()), "its files are gone");
}
