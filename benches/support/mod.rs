//! What the benchmark harnesses share: a server and publishers as child
//! processes, the LL-HLS preload hint, percentiles.

// Each harness uses its own part of this.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use onair::server::announce::{Announced, AnnouncementReader};

pub mod arrival;
pub mod nginx;

/// The `onair` binary the benches run: this build's, or `ONAIR_BENCH_BINARY`
/// to compare another build in the same conditions.
fn binary() -> String {
    std::env::var("ONAIR_BENCH_BINARY").unwrap_or_else(|_| env!("CARGO_BIN_EXE_onair").to_string())
}

/// A child process, killed and reaped on drop.
pub struct Killed(pub Child);

impl Killed {
    pub fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `onair serve` with `config` (TOML; every listener on a free loopback port
/// unless it says otherwise) and waits for the addresses it announces.
pub fn serve(config: &str) -> (Killed, Announced) {
    let path = std::env::temp_dir().join(format!("onair-bench-{}.toml", std::process::id()));
    let toml = format!(
        "[rtmp]\nlisten = \"127.0.0.1:0\"\n[srt]\nlisten = \"127.0.0.1:0\"\n[http]\nlisten = \"127.0.0.1:0\"\n[webrtc]\nlisten = \"127.0.0.1:0\"\n{config}"
    );
    std::fs::write(&path, toml).expect("write the server config");
    let mut child = Command::new(binary()).args(["serve", "--config"]).arg(&path).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().expect("onair serve");
    let stdout = child.stdout.take().expect("stdout");
    let server = Killed(child);
    let mut reader = AnnouncementReader::default();
    let announced = BufReader::new(stdout).lines().map_while(Result::ok).find_map(|line| reader.read(&line)).expect("onair serve did not report its addresses");
    let _ = std::fs::remove_file(&path);
    (server, announced)
}

/// `onair publish` of the test pattern and tone at knob position `quality` to `url`.
pub fn publish(quality: &str, seconds: u64, url: &str) -> Killed {
    let duration = seconds.to_string();
    Killed(
        Command::new(binary())
            .args(["publish", "--video", "test", "--audio", "tone", "--quality", quality, "--duration", &duration, "--to", url])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("onair publish"),
    )
}

/// The part an LL-HLS playlist hints at: (segment number, part index).
pub fn preload_hint(playlist: &str) -> Option<(u64, u32)> {
    let line = playlist.lines().find(|l| l.starts_with("#EXT-X-PRELOAD-HINT:"))?;
    let uri = line.split("URI=\"").nth(1)?.split('"').next()?;
    let (number, index) = uri.trim_start_matches("part-").trim_end_matches(".m4s").split_once('.')?;
    Some((number.parse().ok()?, index.parse().ok()?))
}

/// GET a URL as text; None on any failure.
pub fn get(url: &str) -> Option<String> {
    ureq::get(url).call().ok()?.body_mut().read_to_string().ok()
}

/// GET a URL's bytes (up to 64 MiB); None on any failure.
pub fn get_bytes(url: &str) -> Option<Vec<u8>> {
    ureq::get(url).call().ok()?.body_mut().with_config().limit(64 << 20).read_to_vec().ok()
}

/// A process's or thread's name and its CPU time (user + system) in seconds,
/// from a /proc `stat` file.
pub fn cpu_seconds(stat_path: &str) -> Option<(String, f64)> {
    let text = std::fs::read_to_string(stat_path).ok()?;
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text[open + 1..close].to_string();
    let fields: Vec<&str> = text.get(close + 2..)?.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf reads a constant.
    let per_second = (unsafe { libc::sysconf(libc::_SC_CLK_TCK) }).max(1) as f64;
    Some((comm, ticks as f64 / per_second))
}

/// CPU seconds (user + system) that `who` (`libc::RUSAGE_SELF`,
/// `RUSAGE_CHILDREN`, `RUSAGE_THREAD`) has used.
pub fn rusage_seconds(who: i32) -> f64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct it is given.
    let usage = unsafe {
        libc::getrusage(who, usage.as_mut_ptr());
        usage.assume_init()
    };
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

/// The `p` quantile (0..=1) of sorted values; NaN when there are none.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() { f64::NAN } else { sorted[((sorted.len() - 1) as f64 * p).round() as usize] }
}
