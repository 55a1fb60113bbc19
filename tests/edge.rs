//! The origin behind the shipped nginx edge (packaging/edge/onair-edge.conf):
//! 200 simulated LL-HLS viewers through one edge, 20 through a second tier
//! in front of it, and hls.js in Chromium through both, with the origin's
//! share of the requests read from the edges' own logs.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::edge::Edge;
use common::player::{Engine, assert_played, one_at_a_time, page_of, play};
use common::{Server, wait_for};

/// What one simulated viewer got.
#[derive(Debug, Default)]
struct Watched {
    parts: usize,
    /// Parts that left the playlist before this viewer fetched them.
    missed: usize,
    /// Requests answered with anything but a 200.
    failed: Vec<String>,
}

/// The `URI="…"` of a playlist line.
fn quoted_uri(line: &str) -> Option<&str> {
    line.split_once("URI=\"")?.1.split('"').next()
}

/// An LL-HLS viewer as hls.js is one: fetch the hinted part (held until it
/// exists), then reload the playlist blocking on that part, fetch any listed
/// part it has not had, and go on with the new hint, until `stop`.
fn watch(playlist: &str, stop: &AtomicBool) -> Watched {
    let agent: ureq::Agent = ureq::Agent::config_builder().timeout_global(Some(Duration::from_secs(10))).http_status_as_error(false).build().into();
    let base = playlist.rsplit_once('/').expect("a playlist URL").0.to_string();
    let mut watched = Watched::default();
    let get = |url: &str, watched: &mut Watched| -> Option<Vec<u8>> {
        match agent.get(url).call() {
            Ok(mut response) if response.status() == 200 => response.body_mut().read_to_vec().ok(),
            Ok(response) => {
                watched.failed.push(format!("{} {url}", response.status()));
                None
            }
            Err(error) => {
                watched.failed.push(format!("{error} {url}"));
                None
            }
        }
    };
    let mut fetched: Option<String> = None;
    let mut url = playlist.to_string();
    while !stop.load(Ordering::Relaxed) {
        let Some(text) = get(&url, &mut watched).map(|b| String::from_utf8_lossy(&b).into_owned()) else { break };
        let parts: Vec<&str> = text.lines().filter(|l| l.starts_with("#EXT-X-PART:")).filter_map(quoted_uri).collect();
        let new = match fetched.as_deref().map(|last| parts.iter().position(|p| *p == last)) {
            None => &parts[parts.len().saturating_sub(1)..],
            Some(Some(at)) => &parts[at + 1..],
            Some(None) => {
                watched.missed += 1;
                &parts[..]
            }
        };
        for part in new {
            if get(&format!("{base}/{part}"), &mut watched).is_some_and(|b| !b.is_empty()) {
                watched.parts += 1;
            }
            fetched = Some(part.to_string());
        }
        let Some(hint) = text.lines().find(|l| l.starts_with("#EXT-X-PRELOAD-HINT:")).and_then(quoted_uri) else { break };
        if get(&format!("{base}/{hint}"), &mut watched).is_some_and(|b| !b.is_empty()) {
            watched.parts += 1;
            fetched = Some(hint.to_string());
        }
        let (msn, part) = hint.strip_prefix("part-").and_then(|r| r.strip_suffix(".m4s")).and_then(|r| r.split_once('.')).expect("a part-M.P.m4s hint");
        url = format!("{playlist}?_HLS_msn={msn}&_HLS_part={part}");
    }
    watched
}

/// `count` viewers of `playlist` started over the first second, each
/// watching until `seconds` have passed.
fn audience(playlist: &str, count: usize, seconds: u64) -> Vec<Watched> {
    let stop = Arc::new(AtomicBool::new(false));
    let viewers: Vec<_> = (0..count)
        .map(|i| {
            let (playlist, stop) = (playlist.to_string(), stop.clone());
            let start = Duration::from_millis(1000 * i as u64 / count as u64);
            std::thread::spawn(move || {
                std::thread::sleep(start);
                watch(&playlist, &stop)
            })
        })
        .collect();
    let until = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < until {
        std::thread::park_timeout(until - Instant::now());
    }
    stop.store(true, Ordering::Relaxed);
    viewers.into_iter().map(|v| v.join().expect("a viewer")).collect()
}

fn requests_to_origin(server: &Server) -> u64 {
    let metrics = server.get("/metrics").expect("/metrics");
    metrics.lines().filter(|l| l.starts_with("onair_http_requests_total{")).filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok()).sum()
}

fn assert_every_part_arrived(who: &str, watched: &[Watched], seconds: u64, part_seconds: f64) {
    let failed: Vec<&String> = watched.iter().flat_map(|w| &w.failed).collect();
    let missed: usize = watched.iter().map(|w| w.missed).sum();
    let fewest = watched.iter().map(|w| w.parts).min().unwrap_or(0);
    // Each viewer starts within the first second and needs a part's time to settle.
    let expected = (seconds as f64 - 2.0) / part_seconds;
    assert!(failed.is_empty() && missed == 0, "{who}: {} failed requests ({:?}…), {missed} parts missed", failed.len(), &failed[..failed.len().min(5)]);
    assert!(fewest as f64 >= expected * 0.9, "{who}: a viewer got only {fewest} parts of about {expected:.0}");
}

/// Status and `Cache-Control`, `ETag` of a GET, with `If-None-Match` when given.
fn headers_of(url: &str, if_none_match: Option<&str>) -> (u16, String, Option<String>) {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut request = agent.get(url);
    if let Some(tag) = if_none_match {
        request = request.header("If-None-Match", tag);
    }
    let response = request.call().expect("the origin answers");
    let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    (response.status().as_u16(), header("cache-control").unwrap_or_default(), header("etag"))
}

const ORIGIN: &str = "[streams]\ngrace_seconds = 5.0\n[ladder]\nenabled = false\n";

/// An origin with the stamped test pattern live on `key` for `seconds`,
/// an edge in front of it and a second tier in front of that.
fn origin_and_two_tiers(key: &str, seconds: u32) -> (Server, Engine, Edge, Edge) {
    let server = Server::start(ORIGIN);
    let engine = Engine::start(&server, key, seconds);
    wait_for("the first segment", Duration::from_secs(20), || server.get(&format!("/live/{key}/video/playlist.m3u8")).filter(|p| p.contains("#EXTINF")));
    let edge = Edge::start(key, server.http.trim_start_matches("http://"));
    let second = Edge::start(&format!("{key}-tier2"), &edge.address());
    (server, engine, edge, second)
}

#[test]
fn two_hundred_ll_hls_viewers_through_an_edge_cost_the_origin_one_request_per_object() {
    let _turn = one_at_a_time();
    let (server, _engine, edge, second) = origin_and_two_tiers("crowd", 50);
    let part_seconds = 0.334;

    let before = requests_to_origin(&server);
    let (crowd, tier2) = std::thread::scope(|scope| {
        let tier2 = scope.spawn(|| audience(&second.url("/live/crowd/video/playlist.m3u8"), 20, 30));
        (audience(&edge.url("/live/crowd/video/playlist.m3u8"), 200, 30), tier2.join().expect("the second tier"))
    });
    let origin_requests = requests_to_origin(&server) - before;
    assert_every_part_arrived("through the edge", &crowd, 30, part_seconds);
    assert_every_part_arrived("through two tiers", &tier2, 30, part_seconds);

    let log = edge.log();
    let hits = log.iter().filter(|l| l.cache == "HIT").count();
    let per_object = edge.origin_requests();
    let most = per_object.values().copied().max().unwrap_or(0);
    let mean = per_object.values().sum::<usize>() as f64 / per_object.len().max(1) as f64;
    let busiest = per_object.iter().max_by_key(|(_, n)| **n).map(|(uri, _)| uri.clone()).unwrap_or_default();
    eprintln!(
        "edge: {} requests, {:.1} % from its cache; the origin answered {origin_requests} ({} objects, {mean:.2} requests each, at most {most}: {busiest})",
        log.len(),
        100.0 * hits as f64 / log.len().max(1) as f64,
        per_object.len()
    );
    // The origin's own count agrees with the edge's log (the second tier asks
    // the first, never the origin), plus the test's first look at /metrics.
    let asked = per_object.values().sum::<usize>() as u64;
    assert!(origin_requests >= asked && origin_requests <= asked + 2, "the origin answered {origin_requests}, the edge asked {asked}");
    assert!(hits as f64 >= log.len() as f64 * 0.95, "the edge answers from its cache: {hits} hits of {}\n{}", log.len(), edge.errors());
    assert!(most <= 3, "at most a few origin requests for any one object: {most} for {busiest}\n{per_object:?}");
}

#[test]
fn hls_js_plays_ll_hls_through_one_edge_and_through_two_tiers() {
    let _turn = one_at_a_time();
    let (server, _engine, edge, second) = origin_and_two_tiers("edge", 60);
    page_of(&server, "edge");
    for (tiers, page) in [("direct", server.url("/live/edge/")), ("one edge", edge.url("/live/edge/")), ("two tiers", second.url("/live/edge/"))] {
        let report = play(&page, "llhls", 10);
        assert_played(&report, 7.0);
        let g2g = &report["glassToGlass"];
        assert!(g2g["count"].as_u64().unwrap_or(0) >= 5, "{tiers}: the stamp is read from decoded frames: {report}");
        let p50 = g2g["p50"].as_f64().unwrap();
        // The same budget as the direct LL-HLS test: a busy machine, not a benchmark.
        assert!(p50 > 0.0 && p50 < 4000.0, "{tiers}: glass-to-glass p50 {p50} ms: {report}");
        eprintln!("LL-HLS {tiers}: glass-to-glass p50 {p50} ms, p95 {} ms, stalls {}", g2g["p95"], report["stalls"]);
    }
    let through = edge.log();
    assert!(through.iter().any(|l| l.cache == "HIT") && through.iter().all(|l| l.status < 500), "the edge served the player: {through:?}\n{}", edge.errors());
}

#[test]
fn each_response_says_how_long_a_cache_may_keep_it_and_playlists_revalidate() {
    let server = Server::start(ORIGIN);
    let _publisher = common::Publisher::spawn(
        "-f lavfi -i testsrc2=size=320x240:rate=30 -t 30",
        "-c:v libx264 -preset ultrafast -g 30 -pix_fmt yuv420p",
        &server.rtmp_url("kept"),
    );
    let playlist = wait_for("two segments", Duration::from_secs(20), || server.media_playlist("kept", "video").filter(|p| p.segments.len() >= 2));
    let text = server.get("/live/kept/video/playlist.m3u8").unwrap();
    let part = text.lines().filter(|l| l.starts_with("#EXT-X-PART:")).filter_map(quoted_uri).last().expect("a part");
    let init = playlist.segments.iter().find_map(|s| s.map.as_ref()).expect("an init segment").uri.clone();
    let url = |path: &str| server.url(&format!("/live/kept/{path}"));
    let immutable = "public, max-age=31536000, immutable";
    for path in [format!("video/{}", playlist.segments[0].uri), format!("video/{part}"), format!("video/{init}")] {
        assert_eq!(headers_of(&url(&path), None).1, immutable, "{path} never changes");
    }
    let msn = playlist.media_sequence + playlist.segments.len() as u64 - 1;
    let blocked = format!("public, max-age={}", playlist.target_duration);
    assert_eq!(headers_of(&url(&format!("video/playlist.m3u8?_HLS_msn={msn}&_HLS_part=0")), None).1, blocked, "a blocking reload: a segment's time");
    for (path, cache) in [("video/playlist.m3u8", "public, max-age=1"), ("index.m3u8", "public, max-age=1"), ("manifest.mpd", "no-cache")] {
        let (status, said, tag) = headers_of(&url(path), None);
        assert_eq!((status, said.as_str()), (200, cache), "{path}");
        let tag = tag.unwrap_or_else(|| panic!("{path} has an ETag"));
        // Revalidated at once, before the next part can change it.
        let (status, said, again) = headers_of(&url(path), Some(&tag));
        assert!(
            status == 304 || (status == 200 && again.as_deref() != Some(tag.as_str())),
            "{path}: the same bytes are a 304, new ones a 200 with a new tag: {status}"
        );
        assert_eq!(said, cache, "{path}: a 304 renews the lifetime");
    }
    let master = server.get("/live/kept/index.m3u8").unwrap();
    let (_, _, tag) = headers_of(&url("index.m3u8"), None);
    assert_eq!(headers_of(&url("index.m3u8"), tag.as_deref()).0, 304, "the master playlist does not change while it plays:\n{master}");
    for path in ["/live/kept/video/seg-999999.m4s", "/live/gone/index.m3u8", "/time", "/api/streams", "/metrics"] {
        assert_eq!(headers_of(&server.url(path), None).1, "no-store", "{path} is never kept");
    }
}
