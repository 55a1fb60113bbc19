//! libsrt and FFmpeg open only when a stream needs them: an idle server
//! maps neither (nor the libraries libavcodec depends on), the first SRT
//! caller opens libsrt and the first ladder opens libavcodec and libswscale.

mod common;

use std::time::Duration;

use common::{Publisher, Server, require, wait_for};

const LIBRARIES: [&str; 3] = ["libsrt", "libavcodec", "libswscale"];

#[test]
fn an_idle_server_maps_neither_libsrt_nor_ffmpeg_until_an_srt_stream_with_a_ladder_comes() {
    require("ffmpeg");
    let server = Server::start("[streams]\ngrace_seconds = 1.0\n");
    // The server is ready (it announced its addresses) and has had a moment to settle.
    wait_for("the server's HTTP answer", Duration::from_secs(10), || server.get("/api/streams"));
    for library in LIBRARIES {
        assert!(!server.maps_library(library), "an idle server maps {library}");
    }
    let url = format!("{}?streamid=publish:live/lazy", server.srt);
    let publisher = Publisher::spawn_as(
        "-f lavfi -i testsrc2=size=1280x720:rate=30 -f lavfi -i sine=frequency=440:sample_rate=48000 -t 6",
        "-c:v libx264 -preset superfast -g 30 -pix_fmt yuv420p -c:a aac",
        "mpegts",
        &url,
    );
    wait_for("the ladder's rungs in the master playlist", Duration::from_secs(40), || server.master_playlist("lazy").filter(|m| m.variants.len() == 3));
    for library in LIBRARIES {
        assert!(server.maps_library(library), "{library} is not mapped while an SRT stream is transcoded");
    }
    let (ok, stderr) = publisher.finish(Duration::from_secs(60));
    assert!(ok, "ffmpeg failed to publish over SRT: {stderr}");
}
