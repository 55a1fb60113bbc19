//! LL-HLS fan-out: thousands of clients doing blocking playlist reloads and
//! part fetches against one live stream on loopback.
//!
//! `cargo bench --bench fanout -- CLIENTS SECONDS` starts `onair serve` and an
//! `onair publish` (the test pattern, 1/3 s parts), then runs CLIENTS clients
//! on one thread of a small runtime, each over its own keep-alive
//! connection: wait for the next part with `_HLS_msn`/`_HLS_part`, fetch it,
//! repeat. A part's delivery lag at one client is the time its bytes arrived
//! minus the first time any client saw the part listed (the moment it existed,
//! within a few hundred microseconds). Reports p50/p99 of that lag, parts missed
//! (a client skipping a part it should have had), and the server's CPU and
//! peak memory from /proc.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use onair::server::announce::{Announced, AnnouncementReader};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader as AsyncBufReader};
use tokio::net::TcpStream;

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

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
            if let Some((name, value)) = header.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0; length];
        self.stream.read_exact(&mut body).await?;
        Ok((status, body))
    }
}

fn hint(playlist: &str) -> Option<(u64, u32)> {
    let line = playlist.lines().find(|l| l.starts_with("#EXT-X-PRELOAD-HINT:"))?;
    let uri = line.split("URI=\"").nth(1)?.split('"').next()?;
    let (number, index) = uri.trim_start_matches("part-").trim_end_matches(".m4s").split_once('.')?;
    Some((number.parse().ok()?, index.parse().ok()?))
}

/// Parts listed in a playlist, in order.
fn listed_parts(playlist: &str) -> Vec<(u64, u32)> {
    playlist
        .lines()
        .filter(|l| l.starts_with("#EXT-X-PART:"))
        .filter_map(|l| l.split("URI=\"part-").nth(1)?.split(".m4s").next()?.split_once('.').and_then(|(n, i)| Some((n.parse().ok()?, i.parse().ok()?))))
        .collect()
}

#[derive(Default)]
struct Results {
    /// First time any client saw each part listed.
    first_seen: HashMap<(u64, u32), Instant>,
    /// (part, when its bytes arrived) per delivery.
    deliveries: Vec<((u64, u32), Instant)>,
    missed: u64,
    errors: u64,
}

async fn client(host: String, key: String, start: (u64, u32), end: Instant, results: Arc<Mutex<Results>>) {
    let Ok(mut connection) = Connection::open(&host).await else {
        results.lock().unwrap().errors += 1;
        return;
    };
    let playlist = format!("/live/{key}/video/playlist.m3u8");
    let mut want = start;
    while Instant::now() < end {
        let Ok((200, body)) = connection.get(&format!("{playlist}?_HLS_msn={}&_HLS_part={}", want.0, want.1)).await else {
            results.lock().unwrap().errors += 1;
            return;
        };
        let seen = Instant::now();
        let text = String::from_utf8_lossy(&body);
        let parts = listed_parts(&text);
        {
            let mut results = results.lock().unwrap();
            for part in parts.iter().filter(|p| **p >= want) {
                results.first_seen.entry(*part).or_insert(seen);
            }
        }
        // Take every listed part from the wanted one on, in order.
        let Some(from) = parts.iter().position(|p| *p >= want) else { continue };
        let found = parts[from];
        // Asking for the part after a segment's last means the next segment's first.
        let next_segment = found == (want.0 + 1, 0) && want.1 > 0;
        if found != want && !next_segment {
            // The wanted part is not listed although a later one is.
            results.lock().unwrap().missed += 1;
        }
        for part in parts[from..].to_vec() {
            match connection.get(&format!("/live/{key}/video/part-{}.{}.m4s", part.0, part.1)).await {
                Ok((200, _)) => results.lock().unwrap().deliveries.push((part, Instant::now())),
                _ => {
                    results.lock().unwrap().missed += 1;
                }
            }
            want = (part.0, part.1 + 1);
        }
        if let Some(next) = hint(&text) {
            want = next;
        }
    }
}

fn proc_stat(pid: u32) -> (f64, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    let cpu = (ticks(11) + ticks(12)) / 100.0;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let peak_kb = status.lines().find_map(|l| l.strip_prefix("VmHWM:")).and_then(|v| v.trim().trim_end_matches(" kB").parse().ok()).unwrap_or(0);
    (cpu, peak_kb)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() { f64::NAN } else { sorted[((sorted.len() - 1) as f64 * p).round() as usize] }
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
    let binary = env!("CARGO_BIN_EXE_onair");
    let mut server = Command::new(binary)
        .args(["serve", "--rtmp", "127.0.0.1:0", "--srt", "127.0.0.1:0", "--http", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("onair serve");
    let stdout = server.stdout.take().expect("stdout");
    let server_pid = server.id();
    let _server = Killed(server);
    let mut reader = AnnouncementReader::default();
    let Some(Announced { rtmp, http, .. }) = BufReader::new(stdout).lines().map_while(Result::ok).find_map(|line| reader.read(&line)) else {
        panic!("onair serve did not report its addresses")
    };
    let _publisher = Killed(
        Command::new(binary)
            .args(["publish", "--video", "test", "--audio", "tone", "--quality", "2", "--duration", &(seconds + 30).to_string(), "--to", &format!("{rtmp}/fan")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("onair publish"),
    );
    let host = http.trim_start_matches("http://").to_string();
    let playlist_url = format!("{http}/live/fan/video/playlist.m3u8");
    let start = (0..300)
        .find_map(|_| {
            let text = ureq::get(&playlist_url).call().ok().and_then(|mut r| r.body_mut().read_to_string().ok());
            text.and_then(|t| hint(&t)).or_else(|| {
                std::thread::sleep(Duration::from_millis(100));
                None
            })
        })
        .expect("the stream never appeared");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let results = Arc::new(Mutex::new(Results::default()));
    let (cpu_before, _) = proc_stat(server_pid);
    let started = Instant::now();
    let end = started + Duration::from_secs(seconds);
    runtime.block_on(async {
        let tasks: Vec<_> = (0..clients).map(|_| tokio::spawn(client(host.clone(), "fan".into(), start, end, results.clone()))).collect();
        for task in tasks {
            let _ = task.await;
        }
    });
    let elapsed = started.elapsed().as_secs_f64();
    let (cpu_after, peak_kb) = proc_stat(server_pid);
    let results = results.lock().unwrap();
    let mut lags: Vec<f64> =
        results.deliveries.iter().filter_map(|(part, at)| results.first_seen.get(part).map(|seen| at.saturating_duration_since(*seen).as_secs_f64() * 1000.0)).collect();
    lags.sort_by(f64::total_cmp);
    println!("{clients} LL-HLS clients for {elapsed:.1} s: {} part deliveries, {} parts", lags.len(), results.first_seen.len());
    println!("part existence -> delivery: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms", percentile(&lags, 0.5), percentile(&lags, 0.99), lags.last().copied().unwrap_or(f64::NAN));
    println!("parts missed: {}, client errors: {}", results.missed, results.errors);
    println!("server: {:.2} cores, peak RSS {:.1} MB", (cpu_after - cpu_before) / elapsed, peak_kb as f64 / 1024.0);
}
