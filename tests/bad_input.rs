//! Hostile and broken input: the connection that sent it closes with a log
//! line, everything else keeps serving, nothing panics.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use bytes::Bytes;
use common::{Publisher, Server, status, wait_for};
use onair::media::time::{TimeBase, Timestamp};
use onair::rtmp::link::LinkError;
use onair::rtmp::server::{RtmpError, RtmpServerConnection};
use onair::server::ingest::flv_ingest::FlvDepacketizer;
use proptest::prelude::*;

fn connect(server: &Server) -> TcpStream {
    let addr = server.rtmp.trim_start_matches("rtmp://").split('/').next().unwrap().to_string();
    let stream = TcpStream::connect(addr).expect("connect to RTMP port");
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream
}

/// Sends bytes, then more junk (up to 16 MiB) until the server closes the connection.
fn send_and_expect_close(mut socket: TcpStream, bytes: &[u8]) {
    let _ = socket.write_all(bytes);
    let junk = vec![0x5au8; 1 << 20];
    for _ in 0..16 {
        if socket.write_all(&junk).is_err() {
            break;
        }
    }
    let mut sink = [0u8; 65536];
    loop {
        match socket.read(&mut sink) {
            Ok(0) => return,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return,
            Err(e) => panic!("the server kept a bad connection open: {e}"),
        }
    }
}

/// A client handshake (C0 + C1, then C2 echoing S1) so later bytes reach the chunk parser.
fn handshake(socket: &mut TcpStream) {
    let mut c0c1 = vec![3u8];
    c0c1.extend(std::iter::repeat_n(0u8, 1536));
    socket.write_all(&c0c1).unwrap();
    let mut s0s1s2 = vec![0u8; 1 + 1536 * 2];
    socket.read_exact(&mut s0s1s2).unwrap();
    socket.write_all(&s0s1s2[1..1537]).unwrap();
}

#[test]
fn garbage_on_the_rtmp_port_closes_that_connection_and_streams_carry_on() {
    let mut server = Server::start("[streams]\ngrace_seconds = 1.0\n");
    let live =
        Publisher::spawn("-f lavfi -i testsrc2=size=320x240:rate=30 -t 12", "-c:v libx264 -preset veryfast -g 30 -pix_fmt yuv420p", &server.rtmp_url("steady"));
    wait_for("the live stream", Duration::from_secs(30), || server.get("/live/steady/index.m3u8"));

    // Random bytes instead of a handshake.
    send_and_expect_close(connect(&server), &[0x55; 4000]);
    // A valid handshake followed by a chunk claiming an absurd message length.
    let mut socket = connect(&server);
    handshake(&mut socket);
    send_and_expect_close(socket, &[0x03, 0, 0, 0, 0xff, 0xff, 0xff, 0x14, 0, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef]);
    // A valid handshake, then a SetChunkSize of 2^31-1 and junk.
    let mut socket = connect(&server);
    handshake(&mut socket);
    let mut junk = vec![0x02, 0, 0, 0, 0, 0, 4, 0x01, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff];
    junk.extend((0..20_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
    send_and_expect_close(socket, &junk);
    // Truncated handshake then silence: the idle timeout is not waited for here;
    // the point is that the live stream keeps going meanwhile.
    let _idle = connect(&server);

    let before = server.get("/live/steady/video/playlist.m3u8").unwrap();
    wait_for("the live stream to keep producing segments", Duration::from_secs(20), || {
        let now = server.get("/live/steady/video/playlist.m3u8")?;
        (now != before).then_some(())
    });
    assert!(server.is_running());
    let log = server.log();
    assert!(log.contains("RTMP connection closed"), "each bad connection is logged:\n{log}");
    assert!(!log.contains("panicked") && !log.contains("internal error"), "no panic:\n{log}");
    assert!(live.finish(Duration::from_secs(60)).0, "the good publisher was disturbed");
}

#[test]
fn http_serves_known_paths_only_with_the_right_headers() {
    let server = Server::start("[streams]\ngrace_seconds = 30.0\n");
    let live = Publisher::spawn(
        "-f lavfi -i testsrc2=size=320x240:rate=30 -f lavfi -i sine=sample_rate=48000 -t 4",
        "-c:v libx264 -preset veryfast -g 30 -pix_fmt yuv420p -c:a aac",
        &server.rtmp_url("web"),
    );
    assert!(live.finish(Duration::from_secs(60)).0);
    let playlist = wait_for("the playlist", Duration::from_secs(20), || server.get("/live/web/video/playlist.m3u8"));
    let segment = playlist.lines().find(|l| l.starts_with("seg-")).unwrap().to_string();

    let response = ureq::get(&server.url("/live/web/index.m3u8")).call().unwrap();
    assert_eq!(response.headers()["content-type"], "application/vnd.apple.mpegurl");
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
    assert!(response.headers()["cache-control"].to_str().unwrap().contains("max-age=1"));
    let response = ureq::get(&server.url(&format!("/live/web/video/{segment}"))).call().unwrap();
    assert_eq!(response.headers()["content-type"], "video/mp4");
    assert!(response.headers()["cache-control"].to_str().unwrap().contains("immutable"));
    let response = ureq::get(&server.url("/live/web/manifest.mpd")).call().unwrap();
    assert_eq!(response.headers()["content-type"], "application/dash+xml");
    let head = ureq::head(&server.url(&format!("/live/web/video/{segment}"))).call().unwrap();
    assert_eq!(head.status(), 200);

    for path in [
        "/live/web/../../../etc/passwd",
        "/live/web/video/../../../../etc/passwd",
        "/live/web/video/seg-1.m4s",
        "/live/web/video/init-9.mp4",
        "/live/web/video/seg-abc.m4s",
        "/live/nobody/index.m3u8",
        "/live/web/subtitles/playlist.m3u8",
        "/etc/passwd",
        "/live/web/%2e%2e/%2e%2e/etc/passwd",
    ] {
        assert_eq!(status(&server.url(path)), 404, "{path}");
    }

    let api: serde_json::Value = serde_json::from_str(&server.get("/api/streams").unwrap()).unwrap();
    let stream = &api[0];
    assert_eq!(stream["key"], "web");
    assert_eq!(stream["width"], 320);
    assert_eq!(stream["audio_codec"], "mp4a.40.2");
    assert!(stream["segments_produced"].as_u64().unwrap() >= 2);
    assert!(stream["viewers"].as_u64().unwrap() >= 1);
    let metrics = server.get("/metrics").unwrap();
    assert!(metrics.contains("onair_streams_live 1"), "{metrics}");
    assert!(metrics.contains("onair_http_requests_total{status=\"404\"}"), "{metrics}");
    assert!(metrics.contains("onair_segment_listing_delay_seconds{quantile=\"0.99\"}"), "{metrics}");
    assert!(server.get("/").unwrap().contains("href=\"/live/web/index.m3u8\""));
    assert!(server.get("/time").unwrap().ends_with('Z'));
}

#[test]
fn a_busy_port_is_a_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_onair"))
        .args(["serve", "--webrtc", "127.0.0.1:0", "--rtmp", "127.0.0.1:0", "--http", &format!("127.0.0.1:{port}")])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&format!("127.0.0.1:{port}")) && stderr.contains("http.listen"), "{stderr}");
}

proptest! {
    // benches/fuzz.sh raises the case count to millions through ONAIR_FUZZ_CASES.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("ONAIR_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// FLV tag bodies of any shape: an error or a frame, never a panic.
    #[test]
    fn flv_bodies_never_panic(video in proptest::collection::vec(any::<u8>(), 0..256), audio in proptest::collection::vec(any::<u8>(), 0..64), ms in any::<i64>()) {
        let ts = Timestamp::new(ms, TimeBase::MILLIS);
        let mut depacketizer = FlvDepacketizer::default();
        let _ = depacketizer.video(ts, &Bytes::from(video.clone()));
        let _ = depacketizer.audio(ts, &Bytes::from(audio));
        // Also as a sequence header followed by a frame.
        let mut header = vec![0x17, 0, 0, 0, 0];
        header.extend_from_slice(&video);
        let _ = depacketizer.video(ts, &Bytes::from(header));
        let mut frame = vec![0x17, 1, 0, 0, 0];
        frame.extend_from_slice(&video);
        let _ = depacketizer.video(ts, &Bytes::from(frame));
    }

    /// Bytes after a valid handshake reach the chunk reader and the command
    /// decoder, which are this crate's own: errors, never a (contained) panic.
    #[test]
    fn rtmp_sessions_never_panic_out(chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..512), 1..8)) {
        let mut connection = RtmpServerConnection::new("live", 1 << 20);
        let mut c0c1 = vec![3u8];
        c0c1.extend(std::iter::repeat_n(0u8, 1536));
        let _ = connection.receive(&c0c1);
        let reply = connection.take_outgoing();
        prop_assert_eq!(reply.len(), 1 + 1536 * 2);
        let _ = connection.receive(&reply[1..1537]);
        for chunk in chunks {
            if let Err(error) = connection.receive(&chunk) {
                prop_assert!(!matches!(error, RtmpError::Link(LinkError::Contained(_))), "{}", error);
                break;
            }
        }
    }
}
