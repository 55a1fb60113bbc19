//! Real sound paths: PulseAudio with a null sink stands in for a microphone
//! (a tone plays into it, and cpal through ALSA's pulse plugin captures it
//! via `onair meter`) and for speakers (the preview player's sound is heard
//! on the sink's monitor, in step with the picture).

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::{Pulse, wait_for};

fn peaks(output: &str) -> Vec<f64> {
    output.lines().filter_map(|l| l.strip_prefix("peak")).filter_map(|rest| rest.split_whitespace().next()?.parse().ok()).collect()
}

#[test]
fn a_tone_played_into_a_null_sink_is_captured_with_a_level() {
    let pulse = Pulse::start();
    // Silence first: the monitor of an idle sink reads as (near) nothing.
    let quiet = pulse.command(env!("CARGO_BIN_EXE_onair")).args(["meter", "--seconds", "1.5"]).output().unwrap();
    assert!(quiet.status.success(), "{}", String::from_utf8_lossy(&quiet.stderr));
    let quiet_peaks = peaks(&String::from_utf8_lossy(&quiet.stdout));
    assert!(!quiet_peaks.is_empty() && quiet_peaks.iter().all(|&p| p < -60.0), "idle sink should be silent: {quiet_peaks:?}");

    let tone = pulse.runtime.join("tone.wav");
    let (ok, _, stderr) = common::run(
        "ffmpeg",
        &["-v", "error", "-y", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "20", "-ac", "2", &tone.display().to_string()],
    );
    assert!(ok, "{stderr}");
    let mut player = pulse.command("paplay").arg(&tone).stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("paplay");
    let loud = pulse.command(env!("CARGO_BIN_EXE_onair")).args(["meter", "--seconds", "2.5"]).output().unwrap();
    let _ = player.kill();
    let _ = player.wait();
    let stdout = String::from_utf8_lossy(&loud.stdout);
    assert!(loud.status.success(), "{}", String::from_utf8_lossy(&loud.stderr));
    let loud_peaks = peaks(&stdout);
    // ffmpeg's sine is at 1/8 of full scale: about -18 dBFS.
    assert!(loud_peaks.iter().any(|&p| (-24.0..-12.0).contains(&p)), "the tone was not captured: {stdout}");
}

#[test]
fn the_preview_plays_the_streams_sound_in_step_with_its_picture() {
    let pulse = Pulse::start();
    // No ladder: its transcoding would take most of a core from the encoder and the preview this measures.
    let server = common::Server::start("[ladder]\nenabled = false\n");
    let onair = env!("CARGO_BIN_EXE_onair");
    let mut publisher =
        pulse.command(onair).args(["publish", "--to", &server.rtmp_url("av"), "--duration", "40"]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    wait_for("the stream's playlist", Duration::from_secs(20), || server.get("/live/av/video/playlist.m3u8"));
    let watcher = pulse
        .command(onair)
        .args(["watch", &server.url("/live/av/video/playlist.m3u8"), "--seconds", "12"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // While it plays, the sink's monitor hears the stream's tone: the sound reaches the device.
    // The meter listens for as long as the preview plays, since on a busy machine the
    // preview's sound can start several seconds after its window opens.
    let meter = pulse.command(onair).args(["meter", "--seconds", "12"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let output = watcher.wait_with_output().unwrap();
    let heard = meter.wait_with_output().unwrap();
    let _ = publisher.kill();
    let _ = publisher.wait();
    let report = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{report}{}", String::from_utf8_lossy(&output.stderr));
    eprintln!("{report}");
    let heard_peaks = peaks(&String::from_utf8_lossy(&heard.stdout));
    assert!(heard_peaks.iter().any(|&p| p > -30.0), "the preview's sound did not reach the sink: {heard_peaks:?}");
    let number_after = |label: &str| report.split_once(label).and_then(|(_, rest)| rest.split_whitespace().next()?.parse::<f64>().ok());
    let offset = number_after("A/V offset ").unwrap_or_else(|| panic!("no A/V offset in: {report}"));
    assert!(offset.abs() <= 33.0, "lip sync within one frame: sound {offset} ms after picture ({report})");
    let p50 = number_after("glass-to-glass p50 ").unwrap_or_else(|| panic!("no latency in: {report}"));
    assert!(p50 < 1500.0, "the preview plays at low latency, not a segment-deep buffer behind: {report}");
}
