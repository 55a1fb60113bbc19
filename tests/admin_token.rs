//! `[http] admin_token`: `/api/*` and `/metrics` open only to its bearer,
//! while a live stream's player page, playlists and segments stay public.

mod common;

use std::time::Duration;

use common::{Publisher, Server, wait_for};

/// Status and body of a GET with `authorization`, if any.
fn get_as(url: &str, authorization: Option<&str>) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut request = agent.get(url);
    if let Some(value) = authorization {
        request = request.header("Authorization", value);
    }
    let mut response = request.call().expect("the server answers");
    (response.status().as_u16(), response.body_mut().read_to_string().unwrap_or_default())
}

#[test]
fn the_api_and_metrics_need_the_admin_token_and_the_audience_does_not() {
    let server = Server::start("[http]\nadmin_token = \"adm1n-t0ken\"\n[ladder]\nenabled = false\n");
    let _publisher =
        Publisher::spawn("-f lavfi -i testsrc2=size=320x240:rate=30 -t 30", "-c:v libx264 -preset ultrafast -g 30 -pix_fmt yuv420p", &server.rtmp_url("open"));
    wait_for("the stream", Duration::from_secs(20), || server.get("/live/open/video/playlist.m3u8").filter(|p| p.contains("#EXTINF")));

    for path in ["/api/streams", "/api/recordings", "/metrics"] {
        let (status, said) = get_as(&server.url(path), None);
        assert_eq!(status, 401, "{path} without the token: {said}");
        assert!(said.contains("Authorization: Bearer") && said.contains("admin_token"), "the refusal says what to send: {said}");
        let (status, said) = get_as(&server.url(path), Some("Bearer not-the-token"));
        assert_eq!(status, 401, "{path} with a wrong token");
        assert!(said.contains("not this server's"), "{said}");
    }
    let (status, streams) = get_as(&server.url("/api/streams"), Some("Bearer adm1n-t0ken"));
    assert!(status == 200 && streams.contains("\"open\""), "the token opens the API: {status} {streams}");
    let (status, metrics) = get_as(&server.url("/metrics"), Some("Bearer adm1n-t0ken"));
    assert_eq!(status, 200);
    let refused: u64 = metrics.lines().find_map(|l| l.strip_prefix("onair_admin_refused_total ")?.parse().ok()).expect("the refusal counter");
    assert_eq!(refused, 6, "each refusal is counted:\n{metrics}");
    let logged = server.log().matches("refused: ").count();
    assert_eq!(logged, 1, "six refusals from one address are one log line:\n{}", server.log());

    // The audience needs no token.
    for path in ["/live/open/", "/live/open/index.m3u8", "/live/open/video/playlist.m3u8", "/time"] {
        assert_eq!(get_as(&server.url(path), None).0, 200, "{path} is public");
    }
    let playlist = server.media_playlist("open", "video").expect("the playlist");
    let segment = &playlist.segments[0].uri;
    assert_eq!(get_as(&server.url(&format!("/live/open/video/{segment}")), None).0, 200, "segments are public");
}
