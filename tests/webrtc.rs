//! WHEP's refusals and the WebRTC port's resilience, against a real server:
//! an offer that is not SDP, the wrong content type, a stream that is not
//! live, a source with B-frames (which WebRTC players would show out of
//! order), and garbage on the UDP port, none of which disturbs the rest.

mod common;

use std::net::UdpSocket;
use std::time::Duration;

use common::{Publisher, Server, wait_for};

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
    assert!(why.contains("B-frames") && why.contains("-bf 0"), "the refusal says what to change: {why}");

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
