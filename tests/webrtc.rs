//! WebRTC against a real server: headless Chromium publishing over WHIP
//! (H.264 + Opus from a canvas with the capture stamp and WebAudio) into
//! HLS, DASH and the ladder;
//! `onair publish` over WHIP, its sound in sync with its picture, and
//! through a relay that loses 2 % of datagrams and delays them 40 ms;
//! WHEP's and WHIP's refusals (an offer that is not SDP, the wrong content
//! type, a stream that is not live, a source with B-frames, a wrong bearer
//! token); and garbage on the UDP port, none of which disturbs the rest.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use common::relay::LossyRelay;
use common::{Publisher, Server, assert_in_sync, av_offsets, decode_count, decode_i420, repo_path, require, run, wait_for};
use onair::media::stamp;

const BAD_SDP: &str = "v=0\r\nthis is not an offer\r\n";

/// POSTs `body` as `content_type` to the stream's WHEP URL: (status, body).
fn offer(server: &Server, key: &str, content_type: &str, body: &str) -> (u16, String) {
    let agent = ureq::Agent::config_builder().http_status_as_error(false).build().new_agent();
    let mut response =
        agent.post(&server.url(&format!("/live/{key}/whep"))).header("Content-Type", content_type).send(body).expect("the WHEP POST is answered");
    (response.status().as_u16(), response.body_mut().read_to_string().unwrap_or_default())
}

#[test]
fn whep_refuses_what_it_cannot_play_and_says_why() {
    let server = Server::start("");
    let (status, why) = offer(&server, "nobody", "application/sdp", BAD_SDP);
    assert_eq!(status, 404, "no stream: {why}");
    assert!(why.contains("no live stream"), "{why}");

    // x264 with B-frames: presentation order differs from decode order.
    let _bframes = Publisher::spawn(
        "-f lavfi -i testsrc2=size=320x240:rate=30",
        "-c:v libx264 -preset ultrafast -bf 2 -g 30 -pix_fmt yuv420p",
        &server.rtmp_url("bframes"),
    );
    wait_for("the B-frame stream to be packaged", Duration::from_secs(20), || server.get("/live/bframes/index.m3u8"));
    let (status, why) = wait_for("the B-frames to be noticed", Duration::from_secs(10), || {
        let answer = offer(&server, "bframes", "application/sdp", BAD_SDP);
        (answer.0 != 400).then_some(answer)
    });
    assert_eq!(status, 409, "{why}");
    // 240p: every rung of the ladder is at or above it, so there is none to send instead.
    assert!(why.contains("B-frames") && why.contains("-bf 0") && why.contains("ladder"), "the refusal says what to change: {why}");

    // Baseline from x264: watchable, so only the offer itself can be refused.
    let _baseline = Publisher::spawn(
        "-f lavfi -i testsrc2=size=320x240:rate=30",
        "-c:v libx264 -preset ultrafast -profile:v baseline -g 30 -pix_fmt yuv420p",
        &server.rtmp_url("plain"),
    );
    wait_for("the baseline stream to be packaged", Duration::from_secs(20), || server.get("/live/plain/index.m3u8"));
    let (status, why) = offer(&server, "plain", "application/sdp", BAD_SDP);
    assert_eq!(status, 400, "{why}");
    assert!(why.contains("not valid SDP"), "{why}");
    let (status, why) = offer(&server, "plain", "text/plain", BAD_SDP);
    assert_eq!(status, 415, "{why}");
    assert!(why.contains("application/sdp"), "{why}");

    let metrics = server.get("/metrics").expect("/metrics");
    let refused = metrics.lines().find_map(|l| l.strip_prefix("onair_webrtc_refused_total ")).and_then(|v| v.parse::<u64>().ok());
    assert!(refused.is_some_and(|n| n >= 4), "each refusal is counted: {refused:?}");
    let log = server.log();
    assert!(log.contains("WHEP offer refused") && log.contains("B-frames"), "each refusal is logged: {log}");
}

#[test]
fn garbage_on_the_webrtc_port_is_dropped_and_the_server_carries_on() {
    let server = Server::start("");
    let target = server.webrtc.as_deref().and_then(|u| u.strip_prefix("udp://")).expect("the server announces its WebRTC port").to_string();
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    // Plain noise, something shaped like STUN with no session, a DTLS-looking record, an RTP-looking header.
    let mut stun = vec![0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42];
    stun.extend_from_slice(&[7; 12]);
    let datagrams: Vec<Vec<u8>> = vec![
        b"hello".to_vec(),
        vec![0xff; 1500],
        stun,
        vec![22, 254, 253, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 1, 2, 3, 4, 5],
        vec![0x80, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 9, 9, 9],
    ];
    for _ in 0..50 {
        for datagram in &datagrams {
            socket.send_to(datagram, &target).unwrap();
        }
    }
    socket.send_to(&[], &target).unwrap();
    // The server still answers, and still takes a publisher.
    let _publisher =
        Publisher::spawn("-f lavfi -i testsrc2=size=320x240:rate=30", "-c:v libx264 -preset ultrafast -profile:v baseline -g 30", &server.rtmp_url("after"));
    wait_for("a stream after the garbage", Duration::from_secs(20), || server.get("/live/after/index.m3u8"));
    let (status, _) = offer(&server, "after", "application/sdp", BAD_SDP);
    assert_eq!(status, 400, "WHEP still answers");
}

/// Video frames ffprobe decodes from `url`; a decoder error fails the test.
/// Decoded, not muxed: a browser's frames come when they come, and a
/// rendition that declares 30 fps would have ffmpeg's null muxer round two
/// close ones onto one tick of that rate and report it as an error.
fn decoded_frames(url: &str) -> u64 {
    let (ok, counted, stderr) =
        run("ffprobe", &["-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", url]);
    assert!(ok && stderr.trim().is_empty(), "ffprobe failed to decode {url}:\n{stderr}");
    // An HLS input lists its streams once per program.
    counted.lines().next().and_then(|n| n.trim().parse().ok()).unwrap_or(0)
}

/// Runs tests/browser/whip.mjs for `seconds`; returns its JSON report.
fn publish_from_chromium(url: &str, seconds: u32, token: Option<&str>) -> serde_json::Value {
    require("node");
    assert!(std::path::Path::new("/usr/bin/chromium").exists(), "Chromium is not installed: run packaging/setup.sh");
    assert!(repo_path("node_modules/playwright-core").exists(), "playwright-core is not installed: run packaging/setup.sh");
    let mut command = std::process::Command::new("node");
    command.arg(repo_path("tests/browser/whip.mjs")).args([url, &seconds.to_string()]);
    if let Some(token) = token {
        command.args(["--token", token]);
    }
    let output = command.stdin(std::process::Stdio::null()).output().expect("run node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "whip.mjs failed: {}\n{stdout}", String::from_utf8_lossy(&output.stderr));
    let line = stdout.lines().rev().find(|l| l.starts_with('{')).unwrap_or_else(|| panic!("no report from whip.mjs: {stdout}"));
    serde_json::from_str(line).expect("whip.mjs report is JSON")
}

#[test]
fn chromium_publishes_over_whip_into_hls_dash_and_the_ladder() {
    // Shedding has its own test: here Chromium's encoder, the ladder's decoder
    // and one rung's encoder share a busy machine, and the rung must stay.
    let server = Server::start_exact(
        "[rtmp]\nlisten = \"127.0.0.1:0\"\npublish_secret = \"s3cret-token\"\n[streams]\ngrace_seconds = 30.0\n\
         [ladder]\nmax_lag_ms = 20000\nrungs = [{ name = \"360p\", height = 360, bitrate_kbps = 800 }]\n",
    );
    let url = server.url("/live/browser/whip");
    let refused = publish_from_chromium(&url, 1, Some("wrong"));
    assert_eq!(refused["status"], 401, "a wrong bearer token is refused: {refused}");
    assert!(refused["error"].as_str().unwrap_or("").contains("wrong publish secret"), "{refused}");

    let report = publish_from_chromium(&url, 12, Some("s3cret-token"));
    let log = || server.log();
    assert_eq!(report["status"], 201, "{report}\n{}", log());
    assert_eq!(report["connected"], true, "{report}\n{}", log());
    assert_eq!((report["videoCodec"].as_str(), report["audioCodec"].as_str()), (Some("video/H264"), Some("audio/opus")), "{report}");
    assert_eq!(report["deleted"], 200, "the session is DELETEd: {report}");
    // The DELETE ends the publish: the stream waits for its publisher, its segments closed.
    let api = wait_for("the publisher to be gone", Duration::from_secs(10), || {
        let text = server.get("/api/streams")?;
        text.contains("waiting-for-publisher").then_some(text)
    });
    assert!(api.contains("\"protocol\": \"webrtc\"") || api.contains("\"protocol\":\"webrtc\""), "{api}");

    // The source rendition and the AAC made from the Opus decode without an error.
    let video = server.url("/live/browser/video/playlist.m3u8");
    let frames = decoded_frames(&video);
    // Chromium sends what it manages on a busy two-core machine: 10 to 30 frames a second.
    assert!(frames >= 100, "about ten seconds of video: {frames} frames\n{}", log());
    let audio = server.url("/live/browser/audio/playlist.m3u8");
    decode_count(&audio, "a");
    let (ok, codec, stderr) =
        run("ffprobe", &["-v", "error", "-select_streams", "a:0", "-show_entries", "stream=codec_name,sample_rate", "-of", "csv=p=0", &audio]);
    assert!(ok && codec.lines().next() == Some("aac,48000"), "the sound is AAC at 48 kHz: {codec} {stderr}");
    let (_, duration, _) = run("ffprobe", &["-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", &audio]);
    let seconds: f64 = duration.trim().parse().unwrap_or(0.0);
    assert!(seconds >= 8.0, "about ten seconds of sound: {seconds} s\n{}", log());
    // Segments follow the segment target although browsers make keyframes only when asked.
    let playlist = server.get("/live/browser/video/playlist.m3u8").unwrap();
    let longest = playlist.lines().filter_map(|l| l.strip_prefix("#EXTINF:")).filter_map(|d| d.trim_end_matches(',').parse::<f64>().ok()).fold(0.0, f64::max);
    // Asked at the 2 s target, a busy browser makes its keyframe within a second or two.
    assert!(longest > 0.0 && longest <= 4.0, "segments near the 2 s target: the longest is {longest} s\n{playlist}");
    // The ladder made its rungs from the WebRTC source, and DASH lists them too;
    // the canvas's capture stamp is read from the 360p rung's frames.
    let rung = decode_i420(&server.url("/live/browser/360p/playlist.m3u8"), 640, 360);
    let stamps: Vec<u64> = rung.iter().filter_map(|frame| stamp::read(&frame[..640 * 360], 640, 360, 640)).collect();
    assert!(
        stamps.len() * 10 >= rung.len() * 9 && rung.len() >= 100,
        "the capture stamp is read in {} of {} frames\n{}\n{}",
        stamps.len(),
        rung.len(),
        server.get("/api/streams").unwrap_or_default(),
        log()
    );
    assert!(stamps.windows(2).all(|w| w[1] >= w[0]), "the stamps are in order");
    let mpd = server.get("/live/browser/manifest.mpd").expect("the MPD");
    assert!(mpd.contains("mp4a.40.2") && mpd.contains("height=\"360\""), "{mpd}");
}

fn onair_publish(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_onair"))
        .arg("publish")
        .args(args)
        .env("ONAIR_LOG", "info")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run onair publish")
}

#[test]
fn the_studio_publishes_over_whip_with_sound_in_sync_and_a_wrong_token_is_refused() {
    let server =
        Server::start_exact("[rtmp]\nlisten = \"127.0.0.1:0\"\npublish_secret = \"studio-token\"\n[streams]\ngrace_seconds = 1.0\n[ladder]\nenabled = false\n");
    let base = server.url("/live/studio/whip").replacen("http://", "whip://", 1);

    let refused = onair_publish(&["--to", &format!("{base}?token=wrong"), "--duration", "10"]);
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "a wrong token fails the publish: {said}");
    assert!(said.contains("bearer token") && said.contains("wrong publish secret"), "the refusal says what was wrong: {said}");
    assert!(!said.contains("wrong\"") && !said.contains("token=wrong"), "the token is not shown: {said}");

    let url = format!("{base}?token=studio-token");
    let output = onair_publish(&["--video", "test", "--audio", "tone", "--to", &url, "--quality", "1", "--duration", "12"]);
    let log = || server.log();
    assert!(output.status.success(), "onair publish over WHIP failed: {}\n{}", String::from_utf8_lossy(&output.stderr), log());
    let playlist = wait_for("the stream to end", Duration::from_secs(30), || server.media_playlist("studio", "video").filter(|p| p.end_list));
    let api = server.get("/api/streams").unwrap_or_default();
    assert!(log().contains("WHIP publisher offered"), "{}", log());
    let index = server.url("/live/studio/index.m3u8");
    let (ok, probe, stderr) = run("ffprobe", &["-v", "error", "-show_entries", "stream=codec_name,width,height,sample_rate", "-of", "compact", &index]);
    assert!(
        ok && probe.contains("codec_name=h264|width=640|height=360") && probe.contains("codec_name=aac|sample_rate=48000"),
        "{probe}{stderr}{api}\n{}",
        log()
    );
    let listed = listed_seconds(&playlist.segments);
    let frames = decode_count(&server.url("/live/studio/video/playlist.m3u8"), "v");
    assert!(listed >= 9.0 && frames as f64 >= listed * 30.0 - 3.0, "{frames} frames decoded from {listed:.3} s listed: none lost on loopback\n{}", log());
    assert_in_sync(&av_offsets(&index));
}

/// The largest gap between consecutive video frames' presentation times, in seconds.
fn longest_frame_gap(url: &str) -> f64 {
    let (ok, times, stderr) = run("ffprobe", &["-v", "error", "-select_streams", "v:0", "-show_entries", "packet=pts_time", "-of", "csv=p=0", url]);
    assert!(ok, "{stderr}");
    let mut times: Vec<f64> = times.lines().filter_map(|l| l.trim().trim_end_matches(',').parse().ok()).collect();
    times.sort_by(f64::total_cmp);
    times.windows(2).map(|w| w[1] - w[0]).fold(0.0, f64::max)
}

fn metric(server: &Server, name: &str) -> u64 {
    let metrics = server.get("/metrics").expect("/metrics");
    metrics.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok()).unwrap_or_else(|| panic!("no {name} in\n{metrics}"))
}

#[test]
fn whip_from_the_studio_through_loss_is_repaired_and_keeps_playing() {
    // The server offers 127.0.0.2 as its candidate, on its own port: the relay
    // listens there and hands every datagram on to the server, and back.
    let port = UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let server = Server::start(&format!(
        // Keyframes asked for after a loss cut segments short: the window holds the whole stream.
        "[webrtc]\nlisten = \"127.0.0.1:{port}\"\npublic_ips = [\"127.0.0.2\"]\n[streams]\ngrace_seconds = 1.0\n[segments]\nwindow = 30\n[ladder]\nenabled = false\n"
    ));
    let relay = LossyRelay::start_at(([127, 0, 0, 2], port).into(), ([127, 0, 0, 1], port).into(), 2, Duration::from_millis(40), None);
    let url = server.url("/live/lossy/whip").replacen("http://", "whip://", 1);
    let output = onair_publish(&["--video", "test", "--audio", "tone", "--to", &url, "--quality", "1", "--duration", "12"]);
    drop(relay);
    let log = || server.log();
    assert!(output.status.success(), "onair publish through loss failed: {}\n{}", String::from_utf8_lossy(&output.stderr), log());
    let playlist = wait_for("the stream to end", Duration::from_secs(30), || server.media_playlist("lossy", "video").filter(|p| p.end_list));
    let nacks = metric(&server, "onair_whip_nacks_total");
    assert!(nacks > 0, "2 % of the packets were lost: some were asked for again\n{}", log());
    let video = server.url("/live/lossy/video/playlist.m3u8");
    let listed = listed_seconds(&playlist.segments);
    let frames = decoded_frames(&video);
    assert!(
        listed >= 9.0 && frames as f64 >= listed * 30.0 * 0.9,
        "{frames} frames decoded from {listed:.3} s listed: loss was repaired\n{}\n{}\n{}\nthe studio said:\n{}",
        server.get("/live/lossy/video/playlist.m3u8").unwrap_or_default(),
        server.get("/api/streams").unwrap_or_default(),
        log(),
        String::from_utf8_lossy(&output.stderr)
    );
    // The studio's keyframes are 2 s apart: a frame that could not be
    // completed stops the picture until the next at most.
    let gap = longest_frame_gap(&video);
    assert!(gap <= 2.0, "the picture froze for {gap:.3} s, longer than a GOP");
    decode_count(&server.url("/live/lossy/audio/playlist.m3u8"), "a");
}

/// Seconds of media `segments` list.
fn listed_seconds(segments: &[m3u8_rs::MediaSegment]) -> f64 {
    segments.iter().map(|s| f64::from(s.duration)).sum()
}

/// The last `count` video segments of an ended stream: their bitrate in
/// kbit/s, their listed seconds, and the frames ffprobe decodes from them
/// (behind their initialization segment, in one file).
fn late_video(server: &Server, key: &str, count: usize) -> (f64, f64, u64) {
    let playlist = server.media_playlist(key, "video").expect("the media playlist");
    let late = &playlist.segments[playlist.segments.len().saturating_sub(count)..];
    let init = playlist.segments.iter().rev().find_map(|s| s.map.as_ref()).expect("an EXT-X-MAP");
    let fetch = |uri: &str| common::get_bytes(&server.url(&format!("/live/{key}/video/{uri}"))).expect("a listed file");
    let media: Vec<u8> = late.iter().flat_map(|s| fetch(&s.uri)).collect();
    let seconds = listed_seconds(late);
    let kbps = media.len() as f64 * 8.0 / seconds / 1000.0;
    let path = std::env::temp_dir().join(format!("onair-late-{key}-{}.mp4", std::process::id()));
    std::fs::write(&path, [fetch(&init.uri), media].concat()).expect("write the late segments");
    let frames = decoded_frames(path.to_str().expect("a UTF-8 temporary path"));
    let _ = std::fs::remove_file(&path);
    (kbps, seconds, frames)
}

#[test]
fn whip_from_the_studio_through_a_narrow_uplink_lowers_the_bitrate_and_keeps_playing() {
    // The same stream twice through a relay on the server's public address:
    // first with room to spare, then through an uplink of CAP_KBPS, below
    // what the knob asks (quality 2: 1500 kbit/s of video).
    const CAP_KBPS: u64 = 700;
    let port = UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let server = Server::start(&format!(
        "[webrtc]\nlisten = \"127.0.0.1:{port}\"\npublic_ips = [\"127.0.0.2\"]\n[streams]\ngrace_seconds = 1.0\n[segments]\nwindow = 30\n[ladder]\nenabled = false\n"
    ));
    let (public, local) = (SocketAddr::from(([127, 0, 0, 2], port)), SocketAddr::from(([127, 0, 0, 1], port)));
    let publish = |key: &str, seconds: &str| {
        let url = server.url(&format!("/live/{key}/whip")).replacen("http://", "whip://", 1);
        let output = onair_publish(&["--video", "test", "--audio", "tone", "--to", &url, "--quality", "2", "--duration", seconds]);
        let said = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(output.status.success(), "onair publish to {key} failed: {said}\n{}", server.log());
        wait_for("the stream to end", Duration::from_secs(30), || server.media_playlist(key, "video").filter(|p| p.end_list));
        said
    };

    let open = LossyRelay::start_at(public, local, 0, Duration::from_millis(20), None);
    publish("open", "10");
    drop(open);
    let (open_kbps, _, _) = late_video(&server, "open", 3);
    assert!(open_kbps > CAP_KBPS as f64 * 1.3, "with room to spare the picture takes the knob's bitrate, well above the cap: {open_kbps:.0} kbit/s");

    let narrow = LossyRelay::capped_at(public, local, CAP_KBPS, Duration::from_millis(20));
    let said = publish("narrow", "24");
    drop(narrow);
    assert!(said.contains("what the network carries"), "the studio follows the estimate down:\n{said}");
    // The first seconds overflow the uplink's queue until the estimate comes
    // down, and frames are lost there; once it has settled, the last segments
    // carry every frame the studio made (30 a second).
    let (narrow_kbps, late_seconds, late_frames) = late_video(&server, "narrow", 3);
    assert!(
        late_seconds >= 4.0 && late_frames as f64 >= late_seconds * 30.0 * 0.95,
        "{late_frames} frames decoded from the last {late_seconds:.3} s ({narrow_kbps:.0} kbit/s, {open_kbps:.0} with room): none lost once the estimate settled\nthe studio said:\n{said}\n{}",
        server.log()
    );
    let video = server.url("/live/narrow/video/playlist.m3u8");
    let listed = listed_seconds(&server.media_playlist("narrow", "video").unwrap().segments);
    let frames = decoded_frames(&video);
    assert!(
        listed >= 20.0 && frames as f64 >= listed * 30.0 * 0.7,
        "{frames} frames decoded from {listed:.3} s listed: the stream plays on through the narrow uplink\nthe studio said:\n{said}\n{}",
        server.log()
    );
    eprintln!(
        "video: {open_kbps:.0} kbit/s with room, {narrow_kbps:.0} kbit/s through {CAP_KBPS}; {frames} frames over {listed:.1} s, {late_frames} over the last {late_seconds:.1} s"
    );
    decode_count(&server.url("/live/narrow/audio/playlist.m3u8"), "a");
}
