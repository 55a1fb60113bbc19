//! Capture-to-available latency, SRT versus RTMP, in the same run.
//!
//! `cargo bench --bench capture_to_available -- SECONDS` starts `onair serve`
//! (LL-HLS on, 1 s segments) and two `onair publish` engines sending the test
//! pattern at the same time, one over RTMP and one over SRT. For each stream it
//! waits on a blocking playlist reload for the first part of every next
//! segment; the moment the reload answers, that part is available. The part's
//! first frame is decoded and its capture stamp read: available − captured is
//! the latency of that frame, from the camera's clock to a viewer's request.
//! Prints p50/p95 per protocol and their ratio.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use onair::media::h264::{append_annexb, length_prefixed_units};
use onair::media::stamp;
use onair::media::wallclock::UnixMillis;
use onair::player::fmp4;
use onair::server::announce::{Announced, AnnouncementReader};
use openh264::formats::YUVSource;

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn get(url: &str) -> Option<String> {
    ureq::get(url).call().ok()?.body_mut().read_to_string().ok()
}

fn get_bytes(url: &str) -> Option<Vec<u8>> {
    ureq::get(url).call().ok()?.body_mut().with_config().limit(64 << 20).read_to_vec().ok()
}

fn hint(playlist: &str) -> Option<(u64, u32)> {
    let line = playlist.lines().find(|l| l.starts_with("#EXT-X-PRELOAD-HINT:"))?;
    let uri = line.split("URI=\"").nth(1)?.split('"').next()?;
    let (number, index) = uri.trim_start_matches("part-").trim_end_matches(".m4s").split_once('.')?;
    Some((number.parse().ok()?, index.parse().ok()?))
}

/// Latencies in ms for every segment's first part of one stream, until `end`.
fn measure(base: String, end: Instant) -> Vec<f64> {
    let playlist_url = format!("{base}/video/playlist.m3u8");
    let mut latencies = Vec::new();
    let Some(first) = (0..200).find_map(|_| {
        get(&playlist_url).and_then(|p| hint(&p)).or_else(|| {
            std::thread::sleep(Duration::from_millis(100));
            None
        })
    }) else {
        eprintln!("{playlist_url}: no LL-HLS playlist appeared");
        return latencies;
    };
    let mut decoder = openh264::decoder::Decoder::new().expect("H.264 decoder");
    let mut number = first.0 + 1;
    while Instant::now() < end {
        if get(&format!("{playlist_url}?_HLS_msn={number}&_HLS_part=0")).is_none() {
            break;
        }
        let available = UnixMillis::from_system_time(SystemTime::now()).0;
        let Some(part) = get_bytes(&format!("{base}/video/part-{number}.0.m4s")) else { break };
        let samples = fmp4::fragment_samples(&part);
        if let Some(first) = samples.first().filter(|s| s.keyframe) {
            // Keyframes carry their SPS and PPS in-band.
            let mut annexb = Vec::new();
            append_annexb(&mut annexb, length_prefixed_units(&first.data));
            if let Ok(Some(picture)) = decoder.decode(&annexb) {
                let (width, height) = picture.dimensions();
                let (stride, _, _) = picture.strides();
                if let Some(captured) = stamp::read(picture.y(), width, height, stride) {
                    latencies.push((available - captured as i64) as f64);
                }
            }
        }
        number += 1;
    }
    latencies
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if !args.iter().any(|a| a == "--bench") {
        println!("capture_to_available runs under `cargo bench`");
        return;
    }
    let seconds: u64 = args.iter().skip(1).find(|a| !a.starts_with("--")).and_then(|s| s.parse().ok()).unwrap_or(60);
    let binary = env!("CARGO_BIN_EXE_onair");
    let config = std::env::temp_dir().join(format!("onair-c2a-{}.toml", std::process::id()));
    std::fs::write(
        &config,
        "[rtmp]\nlisten = \"127.0.0.1:0\"\n[srt]\nlisten = \"127.0.0.1:0\"\n[http]\nlisten = \"127.0.0.1:0\"\n[segments]\ntarget_ms = 1000\n",
    )
    .expect("write config");
    let mut server = Command::new(binary).args(["serve", "--config"]).arg(&config).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().expect("onair serve");
    let stdout = server.stdout.take().expect("stdout");
    let server = Killed(server);
    let mut reader = AnnouncementReader::default();
    let Some(Announced { rtmp, srt, http }) = BufReader::new(stdout).lines().map_while(Result::ok).find_map(|line| reader.read(&line)) else {
        panic!("onair serve did not report its addresses")
    };
    let duration = (seconds + 5).to_string();
    let publish = |url: String| {
        Killed(
            Command::new(binary)
                .args(["publish", "--video", "test", "--audio", "tone", "--quality", "2", "--duration", &duration, "--to", &url])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("onair publish"),
        )
    };
    let _rtmp_publisher = publish(format!("{rtmp}/over-rtmp"));
    let _srt_publisher = publish(format!("{srt}?streamid=publish:live/over-srt&latency=120"));
    let end = Instant::now() + Duration::from_secs(seconds);
    let (over_rtmp, over_srt) = std::thread::scope(|scope| {
        let a = scope.spawn(|| measure(format!("{http}/live/over-rtmp"), end));
        let b = scope.spawn(|| measure(format!("{http}/live/over-srt"), end));
        (a.join().unwrap_or_default(), b.join().unwrap_or_default())
    });
    drop(server);
    let _ = std::fs::remove_file(&config);
    println!("| path | parts | p50 ms | p95 ms |");
    println!("|---|---|---|---|");
    let mut medians = Vec::new();
    for (label, mut values) in [("RTMP", over_rtmp), ("SRT (latency 120 ms)", over_srt)] {
        values.sort_by(f64::total_cmp);
        let (p50, p95) = (percentile(&values, 0.5), percentile(&values, 0.95));
        medians.push(p50);
        println!("| {label} | {} | {p50:.0} | {p95:.0} |", values.len());
    }
    println!("SRT / RTMP median: {:.2}x", medians[1] / medians[0]);
}
