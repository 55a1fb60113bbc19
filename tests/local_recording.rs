//! Recording in the studio: `onair publish --record FILE` writes the very
//! frames it sends (no second encode) to an MP4 that survives `kill -9`
//! (fragmented as it goes) and that a clean stop makes seekable, with its
//! duration; `onair record FILE` records without publishing; a full disk
//! stops the recording, says so, and the stream goes on.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Server, run, wait_for};

fn temp_file(name: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("onair-local-{name}-{}.mp4", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

/// The MD5 of every decoded video frame, in order.
fn frame_hashes(input: &str) -> Vec<String> {
    let (ok, stdout, stderr) = run("ffmpeg", &["-hide_banner", "-v", "error", "-i", input, "-map", "0:v:0", "-f", "framemd5", "-"]);
    assert!(ok, "ffmpeg framemd5 of {input}: {stderr}");
    stdout.lines().filter(|l| !l.starts_with('#')).filter_map(|l| l.rsplit(',').next()).map(|h| h.trim().to_string()).collect()
}

/// Seconds of video `ffmpeg -xerror` decodes from `path`.
fn decoded_seconds(path: &Path) -> Option<f64> {
    let (ok, stdout, _) = run(
        "ffmpeg",
        &["-hide_banner", "-v", "error", "-xerror", "-i", &path.display().to_string(), "-map", "0:v:0", "-f", "null", "-", "-progress", "pipe:1", "-nostats"],
    );
    let micros = stdout.lines().filter_map(|l| l.strip_prefix("out_time_us=")).filter_map(|v| v.trim().parse::<f64>().ok()).next_back();
    ok.then_some(micros? / 1e6)
}

#[test]
fn a_clean_stop_leaves_a_seekable_mp4_of_its_length_holding_the_frames_the_server_got() {
    let server = Server::start("[ladder]\nenabled = false\n[streams]\ngrace_seconds = 1.0\n");
    let file = temp_file("clean");
    let output = Command::new(env!("CARGO_BIN_EXE_onair"))
        .args(["publish", "--video", "test", "--audio", "tone", "--quality", "1", "--duration", "8"])
        .args(["--to", &server.rtmp_url("rec"), "--record", &file.display().to_string()])
        .output()
        .expect("run onair publish");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("publishing to rtmp://") && stderr.contains(&format!("recording to {}", file.display())), "{stderr}");
    let path = file.display().to_string();

    let (_, probe, _) =
        run("ffprobe", &["-v", "error", "-show_entries", "format=duration:stream=codec_name,width,height,sample_rate", "-of", "compact", &path]);
    assert!(probe.contains("codec_name=h264|width=640|height=360") && probe.contains("codec_name=aac|sample_rate=48000"), "{probe}");
    let duration: f64 =
        probe.lines().find_map(|l| l.strip_prefix("format|duration=")).and_then(|d| d.parse().ok()).unwrap_or_else(|| panic!("no duration: {probe}"));
    assert!((7.0..=9.0).contains(&duration), "the header says how long it is: {duration} s of about 8");
    let decoded = decoded_seconds(&file).expect("ffmpeg -xerror decodes the recording");
    assert!((decoded - duration).abs() < 0.5, "decoded {decoded} s, listed {duration} s");
    let (ok, _, seek_errors) = run("ffmpeg", &["-v", "error", "-xerror", "-ss", "5", "-i", &path, "-frames:v", "5", "-f", "null", "-"]);
    assert!(ok && seek_errors.is_empty(), "a seek to 5 s: {seek_errors}");

    let recorded = frame_hashes(&path);
    wait_for("the server's stream to end", Duration::from_secs(20), || server.media_playlist("rec", "video").filter(|p| p.end_list));
    let received = frame_hashes(&server.url("/live/rec/video/playlist.m3u8"));
    let start = received
        .iter()
        .position(|h| *h == recorded[0])
        .unwrap_or_else(|| panic!("the recording's first frame is not among the {} the server got", received.len()));
    let compared = recorded.len().min(received.len() - start).min(300);
    assert!(compared >= 200, "only {compared} frames to compare");
    assert_eq!(recorded[..compared], received[start..start + compared], "the recording holds the very frames that were sent");
    let _ = std::fs::remove_file(&file);
}

#[test]
fn a_recording_killed_with_sigkill_decodes_to_within_two_seconds_of_the_kill() {
    let file = temp_file("killed");
    let mut recorder = Command::new(env!("CARGO_BIN_EXE_onair"))
        .args(["record", &file.display().to_string(), "--video", "test", "--audio", "tone", "--quality", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start onair record");
    let (live_tx, live_rx) = std::sync::mpsc::channel();
    let stderr = recorder.stderr.take().expect("stderr");
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).split(b'\r').map_while(Result::ok) {
            if String::from_utf8_lossy(&line).contains("live |") {
                let _ = live_tx.send(Instant::now());
            }
        }
    });
    let live = live_rx.recv_timeout(Duration::from_secs(20)).expect("the recording goes live");
    wait_for("six seconds on disk", Duration::from_secs(30), || decoded_seconds(&file).filter(|&s| s >= 6.0));
    recorder.kill().expect("kill -9");
    let ran = live.elapsed().as_secs_f64();
    let _ = recorder.wait();
    let decoded = decoded_seconds(&file).expect("ffmpeg -xerror decodes what a killed recording left");
    assert!(decoded >= ran - 2.0, "{decoded:.2} s decode of the {ran:.2} s it ran before the kill");
    let _ = std::fs::remove_file(&file);
}

#[test]
fn a_full_disk_stops_the_recording_with_its_reason_and_the_stream_goes_on() {
    common::require("unshare");
    let server = Server::start("[ladder]\nenabled = false\n[streams]\ngrace_seconds = 1.0\n");
    let folder = std::env::temp_dir().join(format!("onair-full-disk-{}", std::process::id()));
    std::fs::create_dir_all(&folder).unwrap();
    let file = folder.join("filled.mp4");
    // A 384 KiB disk of the publisher's own (a tmpfs in a mount namespace only
    // it sees): a few seconds of the stream fill it. What was written up to
    // then is counted in the same namespace once the publisher is done.
    let script = format!(
        "mount -t tmpfs -o size=384k onair-full {dir} || exit 90; \"$0\" \"$@\"; status=$?; \
         ffmpeg -v error -xerror -i {file} -map 0:v:0 -f null - && echo decodes-cleanly; \
         ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames -of csv=p=0 {file}; exit $status",
        dir = folder.display(),
        file = file.display()
    );
    let output = Command::new("unshare")
        .args(["--user", "--map-root-user", "--mount", "sh", "-c", &script, env!("CARGO_BIN_EXE_onair")])
        .args(["publish", "--video", "test", "--audio", "tone", "--quality", "1", "--duration", "10"])
        .args(["--to", &server.rtmp_url("full"), "--record", &file.display().to_string()])
        .output()
        .expect("run onair publish in a mount namespace");
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert_ne!(output.status.code(), Some(90), "cannot mount a small tmpfs in a user namespace: {stderr}");
    assert!(stderr.contains(&format!("the disk holding {} is full", file.display())), "the reason, in words: {stderr}");
    assert!(output.status.success(), "the stream itself went on to its end: {stderr}");
    let written: u64 = stdout.trim().lines().next_back().and_then(|n| n.trim().parse().ok()).unwrap_or(0);
    assert!(written >= 30, "what was recorded before the disk filled plays: {written} frames ({stdout})");
    assert!(stdout.contains("decodes-cleanly"), "the file ends at its last whole fragment, not in the middle of one: {stdout}{stderr}");

    // The server got the whole stream, past the moment the disk filled.
    let playlist = wait_for("the stream to end on the server", Duration::from_secs(20), || server.media_playlist("full", "video").filter(|p| p.end_list));
    let received: f32 = playlist.segments.iter().map(|s| s.duration).sum();
    assert!(received >= 8.5, "{received} s reached the server of the 10 s sent");
    let _ = std::fs::remove_dir_all(&folder);
}
