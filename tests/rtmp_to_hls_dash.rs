//! ffmpeg publishes over RTMP into `onair serve`; ffprobe, ffmpeg and our own
//! parsers read the HLS and DASH that come out.

mod common;

use std::time::Duration;

use common::{Publisher, Server, decode_count, get_text, run, wait_for};
use m3u8_rs::{MasterPlaylist, MediaPlaylist};

const FAST: &str = "[streams]\ngrace_seconds = 1.0\n";

fn av_input(size: &str, seconds: u32, sample_rate: u32) -> String {
    format!("-f lavfi -i testsrc2=size={size}:rate=30 -f lavfi -i sine=frequency=440:sample_rate={sample_rate} -t {seconds}")
}

fn x264(gop: u32) -> String {
    format!(
        "-c:v libx264 -preset veryfast -tune zerolatency -bf 2 -x264-params bframes=2 -g {gop} -keyint_min {gop} -sc_threshold 0 -pix_fmt yuv420p -c:a aac -b:a 64k"
    )
}

fn master(server: &Server, key: &str) -> MasterPlaylist {
    server.master_playlist(key).expect("master playlist")
}

fn media(server: &Server, key: &str, rendition: &str) -> Option<MediaPlaylist> {
    server.media_playlist(key, rendition)
}

/// RFC 8216 4.3.3.1: every EXTINF, rounded to the nearest integer, is at most the target duration.
fn assert_target_duration_rule(playlist: &MediaPlaylist) {
    for segment in &playlist.segments {
        assert!(
            (segment.duration as f64).round() as u64 <= playlist.target_duration,
            "EXTINF {} exceeds EXT-X-TARGETDURATION {}",
            segment.duration,
            playlist.target_duration
        );
    }
}

/// Reloads the media playlist until it ends, checking the rules that hold on every reload.
fn follow_until_end(server: &Server, key: &str, rendition: &str) -> MediaPlaylist {
    let mut last_sequence = 0;
    let mut target = None;
    wait_for("the playlist to end", Duration::from_secs(60), || {
        let playlist = media(server, key, rendition)?;
        assert!(playlist.media_sequence >= last_sequence, "media sequence went back");
        last_sequence = playlist.media_sequence;
        assert_eq!(*target.get_or_insert(playlist.target_duration), playlist.target_duration, "target duration changed");
        assert_target_duration_rule(&playlist);
        playlist.end_list.then_some(playlist)
    })
}

fn ffprobe_streams(url: &str) -> String {
    let (ok, stdout, stderr) = run("ffprobe", &["-v", "error", "-show_entries", "stream=codec_name,width,height,sample_rate", "-of", "compact", url]);
    assert!(ok, "ffprobe {url} failed: {stderr}");
    stdout
}

fn mpd(server: &Server, key: &str) -> dash_mpd_core::MPD {
    let text = server.get(&format!("/live/{key}/manifest.mpd")).expect("MPD");
    dash_mpd_core::parse(&text).unwrap_or_else(|e| panic!("MPD does not parse: {e:?}\n{text}"))
}

#[test]
fn bframes_and_a_2s_gop_come_out_as_hls_and_dash() {
    let server = Server::start(FAST);
    let key = "bframes";
    let publisher = Publisher::spawn(&av_input("320x240", 8, 48_000), &x264(60), &server.rtmp_url(key));

    wait_for("the master playlist", Duration::from_secs(30), || server.get(&format!("/live/{key}/index.m3u8")));
    let master = master(&server, key);
    let variant = &master.variants[0];
    let codecs = variant.codecs.as_deref().unwrap_or_default();
    assert!(codecs.starts_with("avc1.64") && codecs.contains("mp4a.40.2"), "CODECS={codecs}");
    let resolution = variant.resolution.expect("RESOLUTION");
    assert_eq!((resolution.width, resolution.height), (320, 240));
    assert!(variant.average_bandwidth.is_some() && variant.bandwidth > 0);
    assert_eq!(variant.frame_rate, Some(30.0));
    assert_eq!(master.alternatives.len(), 1, "one audio rendition");

    let live = mpd(&server, key);
    assert_eq!(live.mpdtype.as_deref(), Some("dynamic"));
    assert!(live.availabilityStartTime.is_some() && live.minimumUpdatePeriod.is_some() && live.timeShiftBufferDepth.is_some());
    assert_eq!(live.UTCTiming.len(), 1);

    let probe = ffprobe_streams(&server.url(&format!("/live/{key}/index.m3u8")));
    assert!(probe.contains("codec_name=h264|width=320|height=240") && probe.contains("codec_name=aac"), "{probe}");
    let probe = ffprobe_streams(&server.url(&format!("/live/{key}/manifest.mpd")));
    assert!(probe.contains("codec_name=h264|width=320|height=240") && probe.contains("codec_name=aac"), "{probe}");

    let (ok, stderr) = publisher.finish(Duration::from_secs(60));
    assert!(ok, "ffmpeg failed to publish: {stderr}");
    let video = follow_until_end(&server, key, "video");
    assert_eq!(video.target_duration, 2);
    assert!(video.segments.iter().all(|s| s.program_date_time.is_some()));
    let audio = follow_until_end(&server, key, "audio");
    assert_eq!(audio.media_sequence, video.media_sequence, "renditions share segment numbers");
    assert_eq!(audio.segments.len(), video.segments.len());

    let ended = mpd(&server, key);
    assert_eq!(ended.mpdtype.as_deref(), Some("static"));

    let sent = 8 * 30;
    let hls = decode_count(&server.url(&format!("/live/{key}/index.m3u8")), "v");
    let dash = decode_count(&server.url(&format!("/live/{key}/manifest.mpd")), "v");
    assert!(hls.abs_diff(sent) <= 1, "HLS decoded {hls} frames of {sent}");
    assert!(dash.abs_diff(sent) <= 1, "DASH decoded {dash} frames of {sent}");
}

#[test]
fn a_gop_longer_than_the_target_and_44k1_audio_keep_the_target_duration_rule() {
    let server = Server::start(FAST);
    let key = "longgop";
    let publisher = Publisher::spawn(&av_input("320x240", 13, 44_100), &x264(120), &server.rtmp_url(key));
    let (ok, stderr) = publisher.finish(Duration::from_secs(60));
    assert!(ok, "ffmpeg failed to publish: {stderr}");
    let video = follow_until_end(&server, key, "video");
    assert_eq!(video.target_duration, 4, "a 4 s GOP makes 4 s segments");
    assert!(video.segments.len() >= 3);
    let audio = follow_until_end(&server, key, "audio");
    assert_eq!(audio.target_duration, 4);
    let probe = ffprobe_streams(&server.url(&format!("/live/{key}/index.m3u8")));
    assert!(probe.contains("sample_rate=44100"), "{probe}");
    let frames = decode_count(&server.url(&format!("/live/{key}/index.m3u8")), "v");
    assert!(frames.abs_diff(13 * 30) <= 1, "decoded {frames} frames of {}", 13 * 30);
    let frames = decode_count(&server.url(&format!("/live/{key}/manifest.mpd")), "v");
    assert!(frames.abs_diff(13 * 30) <= 1, "DASH decoded {frames} frames of {}", 13 * 30);
}

#[test]
fn a_publisher_that_returns_within_the_grace_period_continues_the_playlists() {
    let server = Server::start("[streams]\ngrace_seconds = 6.0\n");
    let key = "comeback";
    let first = Publisher::spawn(&av_input("320x240", 5, 48_000), &x264(60), &server.rtmp_url(key));
    let (ok, stderr) = first.finish(Duration::from_secs(60));
    assert!(ok, "first publish failed: {stderr}");
    let before = media(&server, key, "video").expect("playlist after first publish");
    assert!(!before.end_list, "the stream must wait for its publisher");
    // The publisher comes back with another resolution: a new init segment.
    let second = Publisher::spawn(&av_input("640x360", 5, 48_000), &x264(60), &server.rtmp_url(key));
    let (ok, stderr) = second.finish(Duration::from_secs(60));
    assert!(ok, "second publish failed: {stderr}");
    let after = follow_until_end(&server, key, "video");
    assert!(after.media_sequence >= before.media_sequence);
    let numbers: Vec<u64> = (0..after.segments.len() as u64).map(|i| after.media_sequence + i).collect();
    let uris: Vec<String> = after.segments.iter().map(|s| s.uri.clone()).collect();
    let expected: Vec<String> = numbers.iter().map(|n| format!("seg-{n}.m4s")).collect();
    assert_eq!(uris, expected, "segment numbers continue without a gap");
    let discontinuities = after.segments.iter().filter(|s| s.discontinuity).count() as u64 + after.discontinuity_sequence;
    assert_eq!(discontinuities, 1, "exactly one discontinuity marks the gap");
    let maps: Vec<String> = after.segments.iter().filter_map(|s| s.map.as_ref().map(|m| m.uri.clone())).collect();
    assert_eq!(maps, ["init-1.mp4", "init-2.mp4"]);
    let manifest = mpd(&server, key);
    assert_eq!(manifest.periods.len(), 2, "a new DASH period after the gap");
    let probe = ffprobe_streams(&server.url(&format!("/live/{key}/video/init-2.mp4")));
    assert!(probe.contains("width=640|height=360"), "{probe}");
}

#[test]
fn a_publisher_that_returns_after_the_grace_period_never_meets_a_404() {
    let server = Server::start(FAST);
    let key = "late";
    let first = Publisher::spawn(&av_input("320x240", 4, 48_000), &x264(30), &server.rtmp_url(key));
    let (ok, stderr) = first.finish(Duration::from_secs(60));
    assert!(ok, "first publish failed: {stderr}");
    let ended = follow_until_end(&server, key, "video");
    assert!(!ended.segments.is_empty());
    // The new stream's first segment is two seconds of video away: until
    // then the ended stream's playlists, MPD and segments answer.
    let second = Publisher::spawn(&av_input("320x240", 6, 48_000), &x264(60), &server.rtmp_url(key));
    let paths = ["index.m3u8", "video/playlist.m3u8", "manifest.mpd"];
    let mut asked = 0;
    wait_for("the new stream's first segment", Duration::from_secs(30), || {
        for path in paths {
            let url = server.url(&format!("/live/{key}/{path}"));
            let code = common::status(&url);
            assert_eq!(code, 200, "{path} answered {code} after {asked} requests while the publisher returned");
            asked += 1;
        }
        media(&server, key, "video").filter(|playlist| !playlist.end_list)
    });
    assert!(asked > 3 * paths.len(), "the gap was polled ({asked} requests)");
    let (ok, stderr) = second.finish(Duration::from_secs(60));
    assert!(ok, "second publish failed: {stderr}");
    let after = follow_until_end(&server, key, "video");
    assert!(!after.segments.is_empty());
}

#[test]
fn a_second_publisher_on_a_live_key_is_refused_and_the_first_carries_on() {
    let server = Server::start(FAST);
    let key = "taken";
    let first = Publisher::spawn(&av_input("320x240", 10, 48_000), &x264(60), &server.rtmp_url(key));
    wait_for("the first segment", Duration::from_secs(30), || server.get(&format!("/live/{key}/index.m3u8")));
    let second = Publisher::spawn(&av_input("320x240", 10, 48_000), &x264(60), &server.rtmp_url(key));
    let (ok, _) = second.finish(Duration::from_secs(30));
    assert!(!ok, "the second publisher must be refused");
    assert!(server.log().contains("already live"), "log:\n{}", server.log());
    let (ok, stderr) = first.finish(Duration::from_secs(60));
    assert!(ok, "the first publisher was disturbed: {stderr}");
    let playlist = follow_until_end(&server, key, "video");
    assert!(playlist.segments.len() >= 4);
}

#[test]
fn publish_secrets_global_and_per_key_admit_ffmpeg_and_onair_and_wrong_or_missing_ones_are_refused() {
    // The lines right after the harness's [rtmp] table belong to it.
    let mut server = Server::start(&format!("publish_secret = \"global-secret-1\"\n[rtmp.publish_secrets]\nstudio = \"studio-secret-2\"\n{FAST}"));
    for (key, query) in [("other", ""), ("other", "?secret=guessed-secret"), ("studio", "?secret=global-secret-1")] {
        let refused = Publisher::spawn(&av_input("320x240", 3, 48_000), &x264(30), &format!("{}{query}", server.rtmp_url(key)));
        assert!(!refused.finish(Duration::from_secs(30)).0, "{key}{query} must be refused");
    }
    let log = wait_for("the refusals in the log", Duration::from_secs(10), || {
        let log = server.log();
        (log.matches("wrong publish secret").count() >= 2 && log.contains("needs a publish secret")).then_some(log)
    });
    assert!(server.is_running(), "{log}");

    // A query on the application is never shown: a wrong one is logged by its name alone.
    let wrong_app = Publisher::spawn(&av_input("320x240", 3, 48_000), &format!("{} -rtmp_app other?secret=leaky-secret-3", x264(30)), &server.rtmp_url("x"));
    assert!(!wrong_app.finish(Duration::from_secs(30)).0, "an unknown application must be refused");
    wait_for("the wrong application in the log", Duration::from_secs(10), || server.log().contains("application \"other\"").then_some(()));

    let global = Publisher::spawn(&av_input("320x240", 3, 48_000), &x264(30), &format!("{}?secret=global-secret-1", server.rtmp_url("global")));
    let studio = Publisher::spawn(&av_input("320x240", 3, 48_000), &x264(30), &format!("{}?x=1&secret=studio-secret-2", server.rtmp_url("studio")));
    // As OBS sends it with the secret in the server URL: on the application, at connect.
    let obs = Publisher::spawn(&av_input("320x240", 3, 48_000), &format!("{} -rtmp_app live?secret=global-secret-1", x264(30)), &server.rtmp_url("obs"));
    for (key, publisher) in [("global", global), ("studio", studio), ("obs", obs)] {
        let (ok, stderr) = publisher.finish(Duration::from_secs(60));
        assert!(ok, "{key} with its secret must be admitted: {stderr}");
        assert!(!follow_until_end(&server, key, "video").segments.is_empty(), "{key} is packaged under its key alone");
    }

    let onair = |secret: &str| {
        let url = format!("{}?secret={secret}", server.rtmp_url("enc"));
        std::process::Command::new(env!("CARGO_BIN_EXE_onair"))
            .args(["publish", "--to", &url, "--quality", "1", "--duration", "3"])
            .output()
            .expect("onair publish")
    };
    let wrong = onair("not-the-secret");
    let stderr = String::from_utf8_lossy(&wrong.stderr);
    assert!(!wrong.status.success() && stderr.contains("wrong publish secret") && stderr.contains("check the ?secret="), "{stderr}");
    let right = onair("global-secret-1");
    assert!(right.status.success(), "{}", String::from_utf8_lossy(&right.stderr));

    // The secrets stay out of the log and of what viewers and the API see.
    let log = server.log();
    let api = get_text(&server.url("/api/streams")).expect("the API");
    for secret in ["global-secret-1", "studio-secret-2", "guessed-secret", "not-the-secret", "leaky-secret-3"] {
        assert!(!log.contains(secret) && !api.contains(secret), "{secret} leaked:\n{log}\n{api}");
    }
}

#[test]
fn audio_only_and_video_only_streams_are_packaged() {
    let directory = std::env::temp_dir().join(format!("onair-mirror-{}", std::process::id()));
    let server = Server::start(&format!("{FAST}[segments]\ndirectory = {:?}\n", directory.display().to_string()));
    let audio = Publisher::spawn("-f lavfi -i sine=frequency=440:sample_rate=48000 -t 6", "-c:a aac -b:a 64k", &server.rtmp_url("radio"));
    let video =
        Publisher::spawn("-f lavfi -i testsrc2=size=320x240:rate=30 -t 6", "-c:v libx264 -preset veryfast -g 60 -pix_fmt yuv420p", &server.rtmp_url("silent"));
    assert!(audio.finish(Duration::from_secs(60)).0);
    assert!(video.finish(Duration::from_secs(60)).0);
    let radio = follow_until_end(&server, "radio", "audio");
    assert!(!radio.segments.is_empty());
    assert!(server.get("/live/radio/video/playlist.m3u8").is_none());
    let radio_master = master(&server, "radio");
    assert_eq!(radio_master.variants[0].codecs.as_deref(), Some("mp4a.40.2"));
    let probe = ffprobe_streams(&server.url("/live/radio/index.m3u8"));
    assert!(probe.contains("codec_name=aac") && !probe.contains("h264"), "{probe}");

    let silent = follow_until_end(&server, "silent", "video");
    assert!(!silent.segments.is_empty());
    let silent_master = master(&server, "silent");
    assert!(silent_master.alternatives.is_empty());
    let frames = decode_count(&server.url("/live/silent/index.m3u8"), "v");
    assert!(frames.abs_diff(180) <= 1, "decoded {frames} of 180");
    let frames = decode_count(&server.url("/live/silent/manifest.mpd"), "v");
    assert!(frames.abs_diff(180) <= 1, "DASH decoded {frames} of 180");

    // The directory mirror holds the same playlist and segments.
    let mirrored = wait_for("the mirrored playlist to end", Duration::from_secs(10), || {
        let text = std::fs::read_to_string(directory.join("silent/video/playlist.m3u8")).ok()?;
        text.contains("#EXT-X-ENDLIST").then_some(text)
    });
    for segment in mirrored.lines().filter(|l| l.starts_with("seg-")) {
        let on_disk = std::fs::read(directory.join("silent/video").join(segment)).expect("mirrored segment");
        assert_eq!(Some(on_disk), common::get_bytes(&server.url(&format!("/live/silent/video/{segment}"))));
    }
    assert!(directory.join("radio/audio/init-1.mp4").exists());
    let _ = std::fs::remove_dir_all(&directory);
}

#[test]
fn other_codecs_are_refused_and_the_server_keeps_running() {
    let mut server = Server::start(FAST);
    let refused = Publisher::spawn("-f lavfi -i testsrc2=size=320x240:rate=30 -t 5", "-c:v flv1 -an", &server.rtmp_url("sorenson"));
    let (ok, _) = refused.finish(Duration::from_secs(30));
    assert!(!ok, "an H.263 stream must be refused");
    assert!(server.log().contains("video codec Sorenson H.263 is not supported"), "log:\n{}", server.log());
    let mp3 = Publisher::spawn("-f lavfi -i sine=sample_rate=44100 -t 5", "-c:a libmp3lame", &server.rtmp_url("mp3"));
    assert!(!mp3.finish(Duration::from_secs(30)).0);
    assert!(server.log().contains("audio codec MP3 is not supported"));
    assert!(server.is_running());
    let good = Publisher::spawn(&av_input("320x240", 4, 48_000), &x264(60), &server.rtmp_url("fine"));
    assert!(good.finish(Duration::from_secs(60)).0);
    assert!(!follow_until_end(&server, "fine", "video").segments.is_empty());
    let _ = get_text(&server.url("/"));
}

#[test]
fn timestamps_near_the_rtmp_wrap_and_in_extended_form_play_through() {
    let server = Server::start(FAST);
    let key = "wrap";
    // Starts 5.3 s before ffmpeg's RTMP clock wraps; every timestamp needs the extended field.
    let publisher = Publisher::spawn(&av_input("320x240", 9, 48_000), &format!("{} -output_ts_offset 4294962", x264(60)), &server.rtmp_url(key));
    let (ok, stderr) = publisher.finish(Duration::from_secs(60));
    assert!(ok, "ffmpeg failed to publish: {stderr}");
    let video = follow_until_end(&server, key, "video");
    let seconds: f32 = video.segments.iter().map(|s| s.duration).sum();
    assert!((seconds - 9.0).abs() < 0.1, "9 s of video listed, got {seconds}");
    let frames = decode_count(&server.url(&format!("/live/{key}/index.m3u8")), "v");
    assert!(frames.abs_diff(270) <= 1, "decoded {frames} of 270");
}
