//! Limits that hold under abuse, with a stream live: 5,000 RTMP connections
//! that never handshake and 5,000 HTTP clients sending their headers a byte
//! a second are closed on time while viewers are served as before; caps per
//! address and per listener refuse the excess and count it; a flood of
//! garbage UDP at the SRT port leaves the SRT publisher untouched.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::player::Engine;
use common::{Publisher, Server, wait_for};

/// Abusers come from 127.0.0.2 and up, so the viewer on 127.0.0.1 is not
/// held to their per-address share.
const ABUSER_ADDRESSES: u8 = 10;

/// The soft open-file limit raised to the hard one: the test holds 10,000 sockets.
fn raise_open_files() {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit and setrlimit read and write only the struct passed.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        limit.rlim_cur = limit.rlim_max;
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
    }
    assert!(limit.rlim_cur >= 12_000, "the test needs 12000 open files; the hard limit is {}", limit.rlim_cur);
}

fn address_of(url: &str) -> SocketAddr {
    let authority = url.split("://").nth(1).and_then(|rest| rest.split('/').next()).expect("a URL with an address");
    authority.parse().expect("an IP:port address")
}

/// `count` connections to `target`, spread over `addresses` loopback
/// addresses from 127.0.0.`first_address` up.
fn connect_many(target: SocketAddr, count: usize, first_address: u8, addresses: u8) -> Vec<TcpStream> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_io().build().unwrap();
    runtime.block_on(async {
        let mut pending = Vec::with_capacity(count);
        for i in 0..count {
            let source = SocketAddr::new(IpAddr::from([127, 0, 0, first_address + (i % usize::from(addresses)) as u8]), 0);
            pending.push(async move {
                let socket = tokio::net::TcpSocket::new_v4()?;
                socket.bind(source)?;
                socket.connect(target).await?.into_std()
            });
        }
        let mut connected = Vec::with_capacity(count);
        for future in pending {
            connected.push(future.await.expect("connect"));
        }
        connected
    })
}

/// Whether the peer has closed `socket` (it is non-blocking).
fn closed(socket: &mut TcpStream) -> bool {
    let mut buffer = [0u8; 512];
    loop {
        match socket.read(&mut buffer) {
            Ok(0) => return true,
            // A 408 before the close, for HTTP.
            Ok(_) => continue,
            Err(error) if error.kind() == ErrorKind::WouldBlock => return false,
            Err(_) => return true,
        }
    }
}

/// The server's resident memory, in megabytes.
fn rss_megabytes(server: &Server) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.pid())).expect("the server's /proc status");
    let kilobytes: f64 = status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok()).unwrap();
    kilobytes / 1024.0
}

fn metric(server: &Server, series: &str) -> u64 {
    let text = server.get("/metrics").expect("metrics");
    text.lines().find_map(|line| line.strip_prefix(series)?.trim().parse().ok()).unwrap_or_else(|| panic!("no {series} in:\n{text}"))
}

/// Milliseconds each of `count` playlist requests took, sorted.
fn playlist_times(server: &Server, key: &str, count: usize) -> Vec<f64> {
    let url = server.url(&format!("/live/{key}/video/playlist.m3u8"));
    let mut times: Vec<f64> = (0..count)
        .map(|_| {
            let start = Instant::now();
            assert!(common::get_text(&url).is_some_and(|p| p.contains("#EXTINF")), "the playlist is served");
            std::thread::sleep(Duration::from_millis(20));
            start.elapsed().as_secs_f64() * 1000.0 - 20.0
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times
}

fn p99(sorted: &[f64]) -> f64 {
    sorted[((sorted.len() - 1) as f64 * 0.99).round() as usize]
}

fn listed_segments(server: &Server, key: &str) -> u64 {
    server.media_playlist(key, "video").map_or(0, |p| p.media_sequence + p.segments.len() as u64)
}

#[test]
fn ten_thousand_idle_and_slow_connections_are_closed_on_time_while_viewers_carry_on() {
    raise_open_files();
    let timeout = 4.0;
    let server = Server::start(&format!(
        "[limits]\nhandshake_seconds = {timeout}\nheader_seconds = {timeout}\n[ladder]\nenabled = false\n[segments]\ntarget_ms = 1000\n"
    ));
    let _engine = Engine::start(&server, "live", 120);
    wait_for("the stream's first segments", Duration::from_secs(30), || (listed_segments(&server, "live") >= 3).then_some(()));
    let before = playlist_times(&server, "live", 100);
    let rss_before = rss_megabytes(&server);

    let (http, rtmp) = (address_of(&server.http), address_of(&server.rtmp));
    let started = Instant::now();
    let mut slow = connect_many(http, 5_000, 2, ABUSER_ADDRESSES);
    let mut idle = connect_many(rtmp, 5_000, 2, ABUSER_ADDRESSES);
    for socket in slow.iter_mut() {
        socket.write_all(b"GET /api/streams HTTP/1.1\r\n").expect("the request line");
        socket.set_nonblocking(true).unwrap();
    }
    for socket in idle.iter_mut() {
        socket.set_nonblocking(true).unwrap();
    }
    let connected = started.elapsed();
    let open = |listener: &str| metric(&server, &format!("onair_connections_open{{listener=\"{listener}\"}}"));
    wait_for("all 10000 connections to be open", Duration::from_secs(10), || (open("http") >= 5_000 && open("rtmp") >= 5_000).then_some(()));
    let rss_held = rss_megabytes(&server);
    let segments_before = listed_segments(&server, "live");

    // While they are held: the slow ones send a header byte a second, the viewer polls.
    let mut during = Vec::new();
    let mut slow_closed_at = vec![None; slow.len()];
    let mut idle_closed_at = vec![None; idle.len()];
    let deadline = started + Duration::from_secs_f64(timeout + 6.0);
    while Instant::now() < deadline && (slow_closed_at.contains(&None) || idle_closed_at.contains(&None)) {
        let tick = Instant::now();
        for (socket, closed_at) in slow.iter_mut().zip(slow_closed_at.iter_mut()).filter(|(_, at)| at.is_none()) {
            if socket.write(b"X").is_err() || closed(socket) {
                *closed_at = Some(started.elapsed());
            }
        }
        for (socket, closed_at) in idle.iter_mut().zip(idle_closed_at.iter_mut()).filter(|(_, at)| at.is_none()) {
            if closed(socket) {
                *closed_at = Some(started.elapsed());
            }
        }
        during.extend(playlist_times(&server, "live", 10));
        std::thread::sleep(Duration::from_secs(1).saturating_sub(tick.elapsed()));
    }
    during.sort_by(f64::total_cmp);
    let latest = |times: &[Option<Duration>]| times.iter().map(|t| t.map_or(f64::INFINITY, |t| t.as_secs_f64())).fold(0.0, f64::max);
    let (slow_last, idle_last) = (latest(&slow_closed_at), latest(&idle_closed_at));
    println!(
        "connected 10000 in {:.1} s; RSS {rss_before:.0} MB before, {rss_held:.0} MB holding them; last closed at {slow_last:.1} s (HTTP), {idle_last:.1} s (RTMP); playlist p99 {:.1} ms before, {:.1} ms during",
        connected.as_secs_f64(),
        p99(&before),
        p99(&during)
    );
    let allowed = connected.as_secs_f64() + timeout + 2.0;
    assert!(slow_last <= allowed, "the slow HTTP clients were closed by {slow_last:.1} s, allowed {allowed:.1} s");
    assert!(idle_last <= allowed, "the idle RTMP connections were closed by {idle_last:.1} s, allowed {allowed:.1} s");
    assert!(rss_held - rss_before < 160.0, "10000 held connections cost {:.0} MB (bound 160 MB)", rss_held - rss_before);
    assert!(p99(&during) <= p99(&before).max(5.0) * 10.0, "playlist p99 {:.1} ms during, {:.1} ms before", p99(&during), p99(&before));
    assert!(listed_segments(&server, "live") > segments_before, "the stream kept making segments");
    assert!(metric(&server, "onair_connections_timed_out_total{listener=\"http\",stage=\"header\"}") >= 5_000);
    assert!(metric(&server, "onair_connections_timed_out_total{listener=\"rtmp\",stage=\"handshake\"}") >= 5_000);
    wait_for("the closed connections to be let go", Duration::from_secs(5), || (open("http") <= 2 && open("rtmp") <= 1).then_some(()));
}

#[test]
fn caps_refuse_the_excess_per_address_and_per_listener_and_count_it() {
    let server = Server::start("[limits]\nmax_connections = 6\nmax_connections_per_address = 4\nmax_streams = 1\n[ladder]\nenabled = false\n");
    let rtmp = address_of(&server.rtmp);
    let mut held = connect_many(rtmp, 4, 2, 1);
    held.iter_mut().for_each(|s| s.set_nonblocking(true).unwrap());
    let open = || metric(&server, "onair_connections_open{listener=\"rtmp\"}");
    wait_for("four held connections", Duration::from_secs(5), || (open() == 4).then_some(()));

    let mut fifth_from_same = connect_many(rtmp, 1, 2, 1).remove(0);
    fifth_from_same.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert!(matches!(fifth_from_same.read(&mut [0u8; 16]), Ok(0) | Err(_)), "a fifth from one address is closed at once");
    let others: Vec<_> = (0..2).map(|i| connect_many(rtmp, 1, 3 + i, 1).remove(0)).collect();
    wait_for("six held connections", Duration::from_secs(5), || (open() == 6).then_some(()));
    let mut seventh = connect_many(rtmp, 1, 6, 1).remove(0);
    seventh.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert!(matches!(seventh.read(&mut [0u8; 16]), Ok(0) | Err(_)), "a seventh is closed at once");
    assert_eq!(metric(&server, "onair_connections_refused_total{listener=\"rtmp\",reason=\"max_connections_per_address\"}"), 1);
    assert_eq!(metric(&server, "onair_connections_refused_total{listener=\"rtmp\",reason=\"max_connections\"}"), 1);
    assert!(server.log().contains("max_connections_per_address") && server.log().contains("max_connections)"), "{}", server.log());
    drop((held, others));
    wait_for("the held connections to be let go", Duration::from_secs(5), || (open() == 0).then_some(()));

    // One stream at most: the second key is refused and says why.
    let _first = Engine::start(&server, "first", 30);
    wait_for("the first stream", Duration::from_secs(20), || server.get("/live/first/index.m3u8"));
    let second = Publisher::spawn("-f lavfi -i testsrc2=size=320x240:rate=30", "-c:v libx264 -preset veryfast -t 10", &server.rtmp_url("second"));
    let (ok, _) = second.finish(Duration::from_secs(20));
    assert!(!ok, "a second stream past max_streams is refused");
    assert!(server.log().contains("max_streams"), "{}", server.log());
    assert!(server.get("/live/second/index.m3u8").is_none());
    assert!(server.get("/live/first/index.m3u8").is_some(), "the first stream carries on");
}

#[test]
fn garbage_udp_at_the_srt_port_leaves_the_srt_publisher_alone() {
    let server = Server::start("[ladder]\nenabled = false\n");
    let url = format!("{}?streamid=publish:live/srtcam&latency=200000", server.srt);
    let _publisher = Publisher::spawn_as(
        "-f lavfi -i testsrc2=size=320x240:rate=30 -f lavfi -i sine",
        "-c:v libx264 -preset veryfast -g 30 -pix_fmt yuv420p -c:a aac -t 60",
        "mpegts",
        &url,
    );
    let stream = || -> Option<serde_json::Value> {
        let streams: serde_json::Value = serde_json::from_str(&server.get("/api/streams")?).ok()?;
        streams.as_array()?.iter().find(|s| s["key"] == "srtcam").cloned()
    };
    let frames = || stream().and_then(|s| s["frames"].as_u64()).unwrap_or(0);
    wait_for("the SRT stream to run", Duration::from_secs(30), || (frames() > 60).then_some(()));
    let (publisher, frames_before, started) = (stream().unwrap()["publisher"].clone(), frames(), Instant::now());

    let target = address_of(&server.srt);
    let flood = std::net::UdpSocket::bind("127.0.0.2:0").expect("a flooding socket");
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut sent = 0u64;
    while started.elapsed() < Duration::from_secs(5) {
        for _ in 0..200 {
            // xorshift: sizes and bytes that look like nothing in particular,
            // a control packet's high bit among them.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let datagram: Vec<u8> = (0..(state % 1400 + 1)).map(|i| (state >> (i % 57)) as u8).collect();
            if flood.send_to(&datagram, target).is_ok() {
                sent += 1;
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let seconds = started.elapsed().as_secs_f64();
    let made = frames() - frames_before;
    println!("{sent} garbage datagrams in {seconds:.1} s; the publisher sent {made} frames meanwhile");
    assert!(sent >= 50_000, "the flood was {sent} datagrams");
    assert!(made as f64 >= 30.0 * seconds * 0.9, "{made} frames arrived in {seconds:.1} s of flood");
    let after = stream().expect("the stream");
    assert_eq!(after["state"], "live");
    assert_eq!(after["publisher"], publisher, "the same SRT connection publishes");
}
