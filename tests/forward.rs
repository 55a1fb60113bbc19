//! Restream: `onair serve` pushes each live stream's source rendition, as
//! it came, to the `[[forward]]` destinations: nginx-rtmp and
//! srt-live-transmit both get decodable H.264 and AAC, `/api/streams`
//! shows each destination's state, and one that goes away and comes back
//! is forwarded to again.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{NginxRtmp, Publisher, Server, decode_count, free_port, require, run, wait_for};

const INPUT: &str = "-f lavfi -i testsrc2=size=640x360:rate=30 -f lavfi -i sine=frequency=440:sample_rate=48000";
const X264: &str = "-c:v libx264 -preset superfast -g 30 -pix_fmt yuv420p -b:v 1000k -c:a aac -b:a 96k";

/// Stream `key`'s forwards as `/api/streams` reports them.
fn forwards(server: &Server, key: &str) -> Vec<serde_json::Value> {
    let text = server.get("/api/streams").unwrap_or_default();
    let streams: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    let stream = streams.as_array().and_then(|all| all.iter().find(|s| s["key"] == key)).cloned().unwrap_or_default();
    stream["forwards"].as_array().cloned().unwrap_or_default()
}

/// The states of stream `key`'s forwards.
fn forward_states(server: &Server, key: &str) -> Vec<String> {
    forwards(server, key).iter().map(|d| d["state"].as_str().unwrap_or_default().to_string()).collect()
}

#[test]
fn a_stream_is_forwarded_to_nginx_rtmp_and_srt_live_transmit_as_decodable_h264_and_aac() {
    require("srt-live-transmit");
    let nginx = NginxRtmp::start("forward");
    let srt_port = free_port();
    let captured = std::env::temp_dir().join(format!("onair-forward-{}.ts", std::process::id()));
    let mut receiver = Command::new("srt-live-transmit")
        .args([&format!("srt://127.0.0.1:{srt_port}?mode=listener"), "file://con"])
        .stdout(std::fs::File::create(&captured).expect("the capture file"))
        .stderr(Stdio::null())
        .spawn()
        .expect("start srt-live-transmit");
    let server = Server::start(&format!(
        "[ladder]\nenabled = false\n[streams]\ngrace_seconds = 1.0\n\
         [[forward]]\nurl = \"rtmp://127.0.0.1:{}/live/{{key}}\"\n\
         [[forward]]\nurl = \"srt://127.0.0.1:{srt_port}?streamid=publish:live/{{key}}\"\nkeys = [\"fwd\"]\n",
        nginx.port
    ));
    let publisher = Publisher::spawn(&format!("{INPUT} -t 8"), X264, &server.rtmp_url("fwd"));
    wait_for("both forwards live", Duration::from_secs(20), || (forward_states(&server, "fwd") == ["live", "live"]).then_some(()));
    let (ok, stderr) = publisher.finish(Duration::from_secs(60));
    assert!(ok, "ffmpeg failed to publish: {stderr}");
    wait_for("the forwards to stop with the stream", Duration::from_secs(20), || (forward_states(&server, "fwd") == ["stopped", "stopped"]).then_some(()));
    let _ = receiver.kill();
    let _ = receiver.wait();

    let recorded = nginx.recording("fwd");
    let flv = wait_for("nginx to close its recording", Duration::from_secs(10), || {
        let (ok, probe, _) = run("ffprobe", &["-v", "error", "-show_entries", "stream=codec_name", "-of", "csv=p=0", &recorded.display().to_string()]);
        (ok && probe.contains("h264") && probe.contains("aac")).then_some(probe)
    });
    assert!(flv.contains("h264") && flv.contains("aac"), "{flv}");
    let frames = decode_count(&recorded.display().to_string(), "v");
    assert!(frames >= 200, "nginx-rtmp got {frames} decodable frames of 240");
    let ts = captured.display().to_string();
    let (_, probe, _) = run("ffprobe", &["-v", "error", "-show_entries", "stream=codec_name", "-of", "csv=p=0", &ts]);
    assert!(probe.contains("h264") && probe.contains("aac"), "srt-live-transmit's capture: {probe}");
    let frames = decode_count(&ts, "v");
    assert!(frames >= 200, "srt-live-transmit got {frames} decodable frames of 240");
    let _ = std::fs::remove_file(&captured);
}

#[test]
fn a_destination_that_goes_away_and_comes_back_is_forwarded_to_again() {
    let port = free_port();
    let destination = format!("[rtmp]\nlisten = \"127.0.0.1:{port}\"\n[ladder]\nenabled = false\n[streams]\ngrace_seconds = 30.0\n");
    let first = Server::start_exact(&destination);
    let server = Server::start(&format!("[ladder]\nenabled = false\n[[forward]]\nurl = \"rtmp://127.0.0.1:{port}/live/again\"\n"));
    let _publisher = Publisher::spawn(&format!("{INPUT} -t 60"), X264, &server.rtmp_url("src"));
    wait_for("the forward live", Duration::from_secs(20), || (forward_states(&server, "src") == ["live"]).then_some(()));
    wait_for("segments at the destination", Duration::from_secs(20), || first.media_playlist("again", "video").filter(|p| !p.segments.is_empty()));
    // Its bitrate, about the stream's 1.1 Mbit/s, from samples the reports take.
    let kbps = wait_for("the forward's bitrate", Duration::from_secs(10), || forwards(&server, "src").first()?["kbps"].as_f64().filter(|&k| k > 300.0));
    assert!(kbps < 5_000.0, "{kbps} kbit/s forwarded of a 1.1 Mbit/s stream");
    assert!(forwards(&server, "src")[0]["error"].is_null(), "no error while live");
    drop(first);
    wait_for("the forward to reconnect", Duration::from_secs(15), || forward_states(&server, "src").first().filter(|s| s.starts_with("reconnecting")).cloned());
    let error = forwards(&server, "src")[0]["error"].as_str().map(str::to_string).unwrap_or_default();
    assert!(!error.is_empty(), "a reconnecting forward says why: {:?}", forwards(&server, "src"));
    assert!(server.media_playlist("src", "video").is_some(), "the origin's own stream carries on");
    let back = Server::start_exact(&destination);
    wait_for("the forward live again", Duration::from_secs(20), || (forward_states(&server, "src") == ["live"]).then_some(()));
    wait_for("segments at the destination again", Duration::from_secs(20), || back.media_playlist("again", "video").filter(|p| !p.segments.is_empty()));
}
