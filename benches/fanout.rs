//! LL-HLS fan-out: thousands of clients doing blocking playlist reloads and
//! part fetches against one live stream on loopback.
//!
//! `cargo bench --bench fanout -- CLIENTS SECONDS [QUALITY]` starts `onair serve`
//! and an `onair publish` (the test pattern at knob position QUALITY, default 2,
//! in 1/3 s parts), then runs CLIENTS clients
//! as an LL-HLS player does, over two keep-alive connections each: one asks
//! for the next part before it exists (the server holds it until it does),
//! the other does blocking playlist reloads. A part's delivery lag at one
//! client is when its bytes arrived minus when the first client got them (the
//! moment it existed, give or take the server's write). Reports p50/p99 of
//! that lag, parts missed (a client without a part that others got, between
//! its first and last), and the server's CPU and peak memory from /proc.

mod support;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use onair::server::announce::Announced;
use support::{cpu_seconds, get, percentile, preload_hint, publish, serve};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader as AsyncBufReader};
use tokio::net::TcpStream;

/// One keep-alive HTTP/1.1 connection that reads Content-Length bodies.
struct Connection {
    stream: AsyncBufReader<TcpStream>,
    host: String,
}

impl Connection {
    async fn open(host: &str) -> std::io::Result<Connection> {
        Ok(Connection { stream: AsyncBufReader::new(TcpStream::connect(host).await?), host: host.to_string() })
    }

    async fn get(&mut self, path: &str) -> std::io::Result<(u16, Vec<u8>)> {
        let request = format!("GET {path} HTTP/1.1\r\nHost: {}\r\n\r\n", self.host);
        self.stream.get_mut().write_all(request.as_bytes()).await?;
        let mut line = String::new();
        self.stream.read_line(&mut line).await?;
        let status: u16 = line.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let mut length = 0usize;
        loop {
            line.clear();
            if self.stream.read_line(&mut line).await? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        self.stream.read_exact(&mut body).await?;
        Ok((status, body))
    }
}

/// What one client saw; merged after the run so clients share no lock.
#[derive(Default)]
struct ClientLog {
    /// When each part's bytes arrived, in the order they arrived.
    delivered: Vec<((u64, u32), Instant)>,
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
        match connection.get(&format!("/live/{key}/video/part-{}.{}.m4s", want.0, want.1)).await {
            Ok((200, _)) => {
                log.delivered.push((want, Instant::now()));
                misses_in_a_row = 0;
                want = (want.0, want.1 + 1);
            }
            Ok((404, _)) if want.1 > 0 && misses_in_a_row == 0 => {
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
/// as hls.js does beside its part requests.
async fn playlist_loop(host: String, key: String, start: (u64, u32), end: Instant) -> bool {
    let Ok(mut connection) = Connection::open(&host).await else { return false };
    let playlist = format!("/live/{key}/video/playlist.m3u8");
    let mut want = start;
    while Instant::now() < end {
        let Ok((200, body)) = connection.get(&format!("{playlist}?_HLS_msn={}&_HLS_part={}", want.0, want.1)).await else { return false };
        match preload_hint(&String::from_utf8_lossy(&body)) {
            Some(next) => want = next,
            None => return false,
        }
    }
    true
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
    // The source rendition alone, as when these figures were first taken: the
    // ladder's rungs would add their own notifications to every waiter.
    let (server, Announced { rtmp, http, .. }) = serve("[ladder]\nenabled = false\n");
    let server_pid = server.pid();
    let _publisher = publish(&quality, seconds + 30, &format!("{rtmp}/fan"));
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
        let playlists: Vec<_> = (0..clients).map(|_| tokio::spawn(playlist_loop(host.clone(), "fan".into(), start, end))).collect();
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
    // A part exists from the moment the first client got it (within the
    // server's own write time, a fraction of a millisecond on loopback).
    let mut first_delivered: HashMap<(u64, u32), Instant> = HashMap::new();
    for (part, at) in logs.iter().flat_map(|l| &l.delivered) {
        let entry = first_delivered.entry(*part).or_insert(*at);
        *entry = (*entry).min(*at);
    }
    let mut lags: Vec<f64> = logs
        .iter()
        .flat_map(|l| &l.delivered)
        .filter_map(|(part, at)| first_delivered.get(part).map(|first| at.saturating_duration_since(*first).as_secs_f64() * 1000.0))
        .collect();
    lags.sort_by(f64::total_cmp);
    // The same without each client's first part, which it asked for while still connecting.
    let mut steady: Vec<f64> = logs
        .iter()
        .flat_map(|l| l.delivered.iter().skip(1))
        .filter_map(|(part, at)| first_delivered.get(part).map(|first| at.saturating_duration_since(*first).as_secs_f64() * 1000.0))
        .collect();
    steady.sort_by(f64::total_cmp);
    // A client missed a part when it never got one that others did, between its first and last.
    let all_parts: Vec<(u64, u32)> = {
        let mut parts: Vec<_> = first_delivered.keys().copied().collect();
        parts.sort();
        parts
    };
    let gaps: u64 = logs
        .iter()
        .map(|l| {
            let (Some(first), Some(last)) = (l.delivered.first(), l.delivered.last()) else { return 0 };
            let expected = all_parts.iter().filter(|p| **p >= first.0 && **p <= last.0).count();
            expected.saturating_sub(l.delivered.len()) as u64
        })
        .sum();
    let missed: u64 = logs.iter().map(|l| l.missed).sum::<u64>() + gaps;
    let errors = logs.iter().filter(|l| l.error).count() + (clients - playlists_ok);
    println!("{clients} LL-HLS clients for {elapsed:.1} s: {} part deliveries, {} parts", lags.len(), first_delivered.len());
    println!(
        "part existence -> delivery: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        percentile(&lags, 0.5),
        percentile(&lags, 0.99),
        lags.last().copied().unwrap_or(f64::NAN)
    );
    println!("  after each client's first part: p50 {:.1} ms, p99 {:.1} ms", percentile(&steady, 0.5), percentile(&steady, 0.99));
    println!("parts missed: {missed}, clients that failed: {errors}");
    println!(
        "server: {:.2} cores, peak RSS {:.1} MB; the clients: {:.2} cores",
        (cpu_after - cpu_before) / elapsed,
        peak_kb as f64 / 1024.0,
        (own_after - own_before) / elapsed
    );
}
