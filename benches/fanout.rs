//! LL-HLS fan-out: thousands of clients doing blocking playlist reloads and
//! part fetches against one live stream on loopback.
//!
//! `cargo bench --bench fanout -- CLIENTS SECONDS [QUALITY] [--parts-only] [--whole-parts]`
//! starts `onair serve` and an `onair publish` (the test pattern at knob
//! position QUALITY, default 2, in 1/3 s parts), then runs CLIENTS clients as
//! an LL-HLS player does, over two keep-alive connections each: one asks for
//! the next part before it exists (the server holds it until it does), the
//! other does blocking playlist reloads, delta updates after the first as
//! hls.js asks for them. `--parts-only` leaves the playlist connections out,
//! for onair and nginx alike, to show what the parts alone cost.
//! `--whole-parts` has onair send each part whole once complete
//! (`segments.chunk_ms = 0`), as it did before it streamed them.
//!
//! A part's delivery lag at one client is when its last byte arrived there
//! minus when it first arrived at any client (the moment it existed, give or
//! take the server's write). onair streams the hinted part in chunks while
//! it is written, so most of its bytes are out before it exists and its
//! completion leaves the last frame to send. Arrival is the kernel's receive stamp on the
//! client's socket: the load tool shares the two cores with the server, and
//! when it reads is up to the scheduler, which on a real network is other
//! machines' business; when it read is reported beside. Reports p50/p99 of
//! that lag, parts missed (a client without a part that others got, between
//! its first and last), and the server's CPU and peak memory from /proc.
//!
//! The peer, in the same run: nginx (two workers, sendfile) serving one such
//! part and the playlist as static files to the same number of clients, each
//! asking for both, on its two connections, at the same instant once per
//! part duration. nginx cannot hold a request until a part exists, so there
//! the clients hold theirs, and it sends the whole part at that instant, as
//! any server of finished files must. The spread from the first delivery of
//! a part to each one is the same measure over the same requests and bytes,
//! and shows what two shared cores allow a mature server for the same burst.

mod support;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use onair::server::announce::Announced;
use support::arrival::{self, Nanos};
use support::nginx::Nginx;
use support::{cpu_seconds, get, get_bytes, percentile, preload_hint, publish, serve};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::watch;

/// One keep-alive HTTP/1.1 connection that reads Content-Length and chunked
/// bodies (onair streams a part still being written chunk by chunk).
///
/// The load tool shares the two cores with the server it measures, so it
/// keeps its own work small: a connection holds a read buffer only while it
/// has unread bytes, so the one it takes is the one just freed, still in
/// cache, rather than one of thousands of idle ones. It holds most of a
/// part, so whatever has arrived of one takes one or two `recvmsg`.
struct Connection {
    stream: TcpStream,
    host: String,
    /// What was read and not yet parsed starts at `at`.
    buf: Vec<u8>,
    at: usize,
    /// The kernel's receive stamp of the newest read.
    stamp: Option<Nanos>,
}

/// The most one read takes: a 1.5 Mbit/s stream's 1/3 s part, and under
/// the allocator's mmap threshold, so it is reused rather than mapped anew.
const SCRATCH: usize = 64 * 1024;
/// A response head longer than this is not HTTP from either server.
const MAX_LINE: usize = 16 * 1024;

impl Connection {
    async fn open(host: &str) -> std::io::Result<Connection> {
        let stream = TcpStream::connect(host).await?;
        arrival::enable(&stream)?;
        Ok(Connection { stream, host: host.to_string(), buf: Vec::new(), at: 0, stamp: None })
    }

    /// Reads more from the socket.
    async fn fill(&mut self) -> std::io::Result<()> {
        if self.at == self.buf.len() {
            // All parsed: the buffer goes back to the allocator while the connection waits.
            self.buf = Vec::new();
            self.at = 0;
        }
        let (read, stamp) = arrival::read(&self.stream, &mut self.buf, SCRATCH).await?;
        if read == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        self.stamp = stamp;
        Ok(())
    }

    /// The next line, without its CRLF.
    async fn line(&mut self) -> std::io::Result<String> {
        loop {
            if let Some(end) = self.buf[self.at..].windows(2).position(|pair| pair == b"\r\n") {
                let line = String::from_utf8_lossy(&self.buf[self.at..self.at + end]).into_owned();
                self.at += end + 2;
                return Ok(line);
            }
            if self.buf.len() - self.at > MAX_LINE {
                return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "a response line without an end"));
            }
            self.fill().await?;
        }
    }

    /// Reads `len` body bytes, kept in `body` when there is one.
    async fn take(&mut self, mut len: usize, mut body: Option<&mut Vec<u8>>) -> std::io::Result<()> {
        loop {
            let here = (self.buf.len() - self.at).min(len);
            if let Some(body) = body.as_deref_mut() {
                body.extend_from_slice(&self.buf[self.at..self.at + here]);
            }
            self.at += here;
            len -= here;
            if len == 0 {
                return Ok(());
            }
            self.fill().await?;
        }
    }

    /// The response to a GET of `path`; its body kept only when `keep_body`,
    /// but read to the end either way.
    async fn get(&mut self, path: &str, keep_body: bool) -> std::io::Result<Response> {
        let request = format!("GET {path} HTTP/1.1\r\nHost: {}\r\n\r\n", self.host);
        self.stream.write_all(request.as_bytes()).await?;
        let status_line = self.line().await?;
        let status: u16 = status_line.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let (mut length, mut chunked) = (0usize, false);
        loop {
            let header = self.line().await?;
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap_or(0);
                } else if name.eq_ignore_ascii_case("transfer-encoding") {
                    chunked = value.trim().eq_ignore_ascii_case("chunked");
                }
            }
        }
        let mut body = Vec::new();
        let mut keep = keep_body.then_some(&mut body);
        if chunked {
            loop {
                let size_line = self.line().await?;
                let size = usize::from_str_radix(size_line.split(';').next().unwrap_or("").trim(), 16)
                    .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("a bad chunk size: {size_line:?}")))?;
                if size == 0 {
                    while !self.line().await?.is_empty() {}
                    break;
                }
                self.take(size, keep.as_deref_mut()).await?;
                if !self.line().await?.is_empty() {
                    return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "a chunk longer than its size"));
                }
            }
        } else {
            self.take(length, keep).await?;
        }
        Ok(Response { status, body, arrived: self.stamp, read: arrival::now() })
    }
}

struct Response {
    status: u16,
    body: Vec<u8>,
    /// When the body's last byte reached the socket, as the kernel stamped
    /// it; None when the kernel gave no stamp.
    arrived: Option<Nanos>,
    /// When the load tool had read all of it.
    read: Nanos,
}

/// One part at one client.
struct Delivery {
    part: (u64, u32),
    arrived: Option<Nanos>,
    read: Nanos,
}

/// What one client saw; merged after the run so clients share no lock.
#[derive(Default)]
struct ClientLog {
    /// When each part's bytes arrived, in the order they arrived.
    delivered: Vec<Delivery>,
    missed: u64,
    error: bool,
}

/// The part loop of an LL-HLS client: ask for the hinted part before it
/// exists (the server holds the request and answers when it does), then the
/// next; past a segment's last part comes the next segment's first.
async fn part_loop(host: String, key: String, start: (u64, u32), end: Instant) -> ClientLog {
    let mut log = ClientLog::default();
    let Ok(mut connection) = Connection::open(&host).await else {
        log.error = true;
        return log;
    };
    let mut want = start;
    let mut misses_in_a_row = 0;
    while Instant::now() < end {
        match connection.get(&format!("/live/{key}/video/part-{}.{}.m4s", want.0, want.1), false).await {
            Ok(Response { status: 200, arrived, read, .. }) => {
                log.delivered.push(Delivery { part: want, arrived, read });
                misses_in_a_row = 0;
                want = (want.0, want.1 + 1);
            }
            Ok(Response { status: 404, .. }) if want.1 > 0 && misses_in_a_row == 0 => {
                misses_in_a_row += 1;
                want = (want.0 + 1, 0);
            }
            _ => {
                log.error = true;
                return log;
            }
        }
    }
    log
}

/// The playlist loop of the same client: blocking reloads for the next part,
/// as hls.js does beside its part requests; the whole playlist first, then
/// delta updates (`_HLS_skip=YES`), as hls.js asks once it has one.
async fn playlist_loop(host: String, key: String, start: (u64, u32), end: Instant) -> bool {
    let Ok(mut connection) = Connection::open(&host).await else { return false };
    let playlist = format!("/live/{key}/video/playlist.m3u8");
    let mut want = start;
    let mut skip = "";
    while Instant::now() < end {
        let Ok(Response { status: 200, body, .. }) = connection.get(&format!("{playlist}?_HLS_msn={}&_HLS_part={}{skip}", want.0, want.1), true).await else {
            return false;
        };
        skip = "&_HLS_skip=YES";
        match preload_hint(&String::from_utf8_lossy(&body)) {
            Some(next) => want = next,
            None => return false,
        }
    }
    true
}

/// A loop of a client of nginx: every part duration, the same static file,
/// asked for by every client at once.
async fn nginx_loop(host: String, path: String, mut rounds: watch::Receiver<u64>) -> ClientLog {
    let mut log = ClientLog::default();
    let Ok(mut connection) = Connection::open(&host).await else {
        log.error = true;
        return log;
    };
    while rounds.changed().await.is_ok() {
        let round = *rounds.borrow_and_update();
        match connection.get(&path, false).await {
            Ok(Response { status: 200, arrived, read, .. }) => log.delivered.push(Delivery { part: (round, 0), arrived, read }),
            _ => {
                log.error = true;
                return log;
            }
        }
    }
    log
}

/// CPU seconds of `pid` and of its child processes (nginx's workers).
fn tree_cpu_seconds(pid: u32) -> f64 {
    let mut total = proc_stat(pid).0;
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        // The parent's pid is the second field after the parenthesised name.
        let parent = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(1)).and_then(|p| p.parse::<u32>().ok());
        if parent == Some(pid) {
            total += cpu_seconds(&entry.path().join("stat").to_string_lossy()).map_or(0.0, |(_, s)| s);
        }
    }
    total
}

/// Delivery lags, each sorted, in milliseconds, and parts missed.
struct Lags {
    /// From a part's first arrival at any client's socket to its arrival at each.
    arrived: Vec<f64>,
    /// Deliveries without a kernel stamp, left out of `arrived`.
    unstamped: usize,
    /// The same without each client's first part, which it asked for while still connecting.
    arrived_steady: Vec<f64>,
    /// From the first client that read a part to when each had read it.
    read: Vec<f64>,
    parts: usize,
    missed: u64,
}

/// Each delivery's lag behind the part's first delivery, by the clock `at`,
/// sorted; without each client's first `skip` deliveries.
fn spread(logs: &[ClientLog], at: impl Fn(&Delivery) -> Option<Nanos>, skip: usize) -> Vec<f64> {
    // A part exists from the moment the first client got it (within the
    // server's own write time, a fraction of a millisecond on loopback).
    let mut first: HashMap<(u64, u32), Nanos> = HashMap::new();
    for delivery in logs.iter().flat_map(|l| &l.delivered) {
        if let Some(at) = at(delivery) {
            let entry = first.entry(delivery.part).or_insert(at);
            *entry = (*entry).min(at);
        }
    }
    let lag = |d: &Delivery| Some((at(d)? - first.get(&d.part)?).max(0) as f64 / 1e6);
    let mut lags: Vec<f64> = logs.iter().flat_map(|l| l.delivered.iter().skip(skip)).filter_map(lag).collect();
    lags.sort_by(f64::total_cmp);
    lags
}

fn lags(logs: &[ClientLog]) -> Lags {
    // A client missed a part when it never got one that others did, between its first and last.
    let mut all_parts: Vec<(u64, u32)> = logs.iter().flat_map(|l| l.delivered.iter().map(|d| d.part)).collect();
    all_parts.sort();
    all_parts.dedup();
    let gaps: u64 = logs
        .iter()
        .map(|l| {
            let (Some(first), Some(last)) = (l.delivered.first(), l.delivered.last()) else { return 0 };
            let expected = all_parts.iter().filter(|p| **p >= first.part && **p <= last.part).count();
            expected.saturating_sub(l.delivered.len()) as u64
        })
        .sum();
    Lags {
        arrived: spread(logs, |d| d.arrived, 0),
        unstamped: logs.iter().flat_map(|l| &l.delivered).filter(|d| d.arrived.is_none()).count(),
        arrived_steady: spread(logs, |d| d.arrived, 1),
        read: spread(logs, |d| Some(d.read), 0),
        parts: all_parts.len(),
        missed: logs.iter().map(|l| l.missed).sum::<u64>() + gaps,
    }
}

fn report(name: &str, lags: &Lags, errors: usize, server_cores: f64, peak_kb: Option<u64>, client_cores: f64) {
    let summary = |lags: &[f64]| {
        format!("p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms", percentile(lags, 0.5), percentile(lags, 0.99), lags.last().copied().unwrap_or(f64::NAN))
    };
    println!("{name}: {} part deliveries, {} parts", lags.read.len(), lags.parts);
    if lags.unstamped > 0 {
        println!("  {} deliveries had no kernel stamp and are left out of the arrival figures", lags.unstamped);
    }
    println!("  part existence -> arrival at the client's socket: {}", summary(&lags.arrived));
    println!("    after each client's first part: {}", summary(&lags.arrived_steady));
    println!("  part existence -> read by the load tool: {}", summary(&lags.read));
    println!("  parts missed: {}, clients that failed: {errors}", lags.missed);
    let memory = peak_kb.map_or(String::new(), |kb| format!(", peak RSS {:.1} MB", kb as f64 / 1024.0));
    println!("  server: {server_cores:.2} cores{memory}; the clients: {client_cores:.2} cores");
}

fn proc_stat(pid: u32) -> (f64, u64) {
    let cpu = cpu_seconds(&format!("/proc/{pid}/stat")).map_or(0.0, |(_, seconds)| seconds);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let peak_kb = status.lines().find_map(|l| l.strip_prefix("VmHWM:")).and_then(|v| v.trim().trim_end_matches(" kB").parse().ok()).unwrap_or(0);
    (cpu, peak_kb)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if !args.iter().any(|a| a == "--bench") {
        println!("fanout runs under `cargo bench`");
        return;
    }
    let numbers: Vec<u64> = args.iter().skip(1).filter_map(|a| a.parse().ok()).collect();
    let clients = numbers.first().copied().unwrap_or(2000) as usize;
    let seconds = numbers.get(1).copied().unwrap_or(30);
    // The knob position of the published stream: 1 (360p, 0.8 Mbit/s) .. 5.
    let quality = numbers.get(2).copied().unwrap_or(2).to_string();
    let playlist_clients = if args.iter().any(|a| a == "--parts-only") { 0 } else { clients };
    // The source rendition alone, as when these figures were first taken: the
    // ladder's rungs would add their own notifications to every waiter.
    let whole_parts = args.iter().any(|a| a == "--whole-parts");
    let chunks = if whole_parts { "[segments]\nchunk_ms = 0\n" } else { "" };
    let (server, Announced { rtmp, http, .. }) = serve(&format!("[ladder]\nenabled = false\n{chunks}"));
    let server_pid = server.pid();
    let _publisher = publish(&quality, 2 * seconds + 60, &format!("{rtmp}/fan"));
    let host = http.trim_start_matches("http://").to_string();
    let playlist_url = format!("{http}/live/fan/video/playlist.m3u8");
    let start = (0..300)
        .find_map(|_| {
            get(&playlist_url).and_then(|t| preload_hint(&t)).or_else(|| {
                std::thread::sleep(Duration::from_millis(100));
                None
            })
        })
        .expect("the stream never appeared");
    // The clients get both cores' worth of threads: on one, their own
    // queueing would dominate what is measured.
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let (own_before, _) = proc_stat(std::process::id());
    let (cpu_before, _) = proc_stat(server_pid);
    let started = Instant::now();
    let end = started + Duration::from_secs(seconds);
    let (logs, playlists_ok): (Vec<ClientLog>, usize) = runtime.block_on(async {
        let playlists: Vec<_> = (0..playlist_clients).map(|_| tokio::spawn(playlist_loop(host.clone(), "fan".into(), start, end))).collect();
        let parts: Vec<_> = (0..clients).map(|_| tokio::spawn(part_loop(host.clone(), "fan".into(), start, end))).collect();
        let mut logs = Vec::with_capacity(parts.len());
        for task in parts {
            logs.push(task.await.unwrap_or_default());
        }
        let mut ok = 0;
        for task in playlists {
            ok += usize::from(task.await.unwrap_or(false));
        }
        (logs, ok)
    });
    let elapsed = started.elapsed().as_secs_f64();
    let (cpu_after, peak_kb) = proc_stat(server_pid);
    let (own_after, _) = proc_stat(std::process::id());
    let errors = logs.iter().filter(|l| l.error).count() + (playlist_clients - playlists_ok);
    let loops = if playlist_clients == 0 { "part requests only" } else { "part requests and playlist reloads" };
    let parts = if whole_parts { "parts sent whole" } else { "parts streamed in chunks" };
    println!("{clients} clients for {elapsed:.1} s each, quality {quality}, {loops}, {parts}");
    report(
        "onair, LL-HLS (hinted parts held until they exist)",
        &lags(&logs),
        errors,
        (cpu_after - cpu_before) / elapsed,
        Some(peak_kb),
        (own_after - own_before) / elapsed,
    );

    // The peer: the newest whole part, as a file nginx serves.
    let playlist = get(&playlist_url).expect("the playlist");
    let part =
        playlist.lines().filter_map(|l| l.strip_prefix("#EXT-X-PART:")?.split("URI=\"").nth(1)?.split('"').next()).next_back().expect("a part in the playlist");
    let bytes = get_bytes(&format!("{http}/live/fan/video/{part}")).expect("the part");
    let root = std::env::temp_dir().join(format!("onair-fanout-{}", std::process::id()));
    std::fs::create_dir_all(&root).expect("nginx root");
    std::fs::write(root.join("part.m4s"), &bytes).expect("the part file");
    std::fs::write(root.join("playlist.m3u8"), &playlist).expect("the playlist file");
    let nginx = Nginx::serve(&root, 2, 2 * clients);
    let nginx_host = format!("127.0.0.1:{}", nginx.port);
    let part_ms = playlist.lines().find_map(|l| l.strip_prefix("#EXT-X-PART-INF:PART-TARGET=")).and_then(|t| t.parse::<f64>().ok()).unwrap_or(0.333);
    let (own_before, _) = proc_stat(std::process::id());
    let nginx_before = tree_cpu_seconds(nginx.pid());
    let started = Instant::now();
    let logs: Vec<ClientLog> = runtime.block_on(async {
        let (rounds, receiver) = watch::channel(0u64);
        let playlists: Vec<_> =
            (0..playlist_clients).map(|_| tokio::spawn(nginx_loop(nginx_host.clone(), "/playlist.m3u8".into(), receiver.clone()))).collect();
        let parts: Vec<_> = (0..clients).map(|_| tokio::spawn(nginx_loop(nginx_host.clone(), "/part.m4s".into(), receiver.clone()))).collect();
        let mut ticks = tokio::time::interval(Duration::from_secs_f64(part_ms));
        for round in 1..=(seconds as f64 / part_ms) as u64 {
            ticks.tick().await;
            rounds.send_replace(round);
        }
        drop(rounds);
        let mut logs = Vec::with_capacity(parts.len());
        for task in parts {
            logs.push(task.await.unwrap_or_default());
        }
        for task in playlists {
            // Only their failures count.
            let playlist_log = task.await.unwrap_or_default();
            logs.push(ClientLog { error: playlist_log.error, ..ClientLog::default() });
        }
        logs
    });
    let elapsed = started.elapsed().as_secs_f64();
    let nginx_cores = (tree_cpu_seconds(nginx.pid()) - nginx_before) / elapsed;
    let (own_after, _) = proc_stat(std::process::id());
    let errors = logs.iter().filter(|l| l.error).count();
    report(
        &format!("nginx, the same {} byte part (and {} byte playlist) to every client at once", bytes.len(), playlist.len()),
        &lags(&logs),
        errors,
        nginx_cores,
        None,
        (own_after - own_before) / elapsed,
    );
    drop(nginx);
    let _ = std::fs::remove_dir_all(&root);
    let _ = std::fs::remove_dir_all(root.with_extension("nginx"));
}
