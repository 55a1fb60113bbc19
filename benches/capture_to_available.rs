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

mod support;

use std::time::{Duration, Instant, SystemTime};

use onair::media::h264::{append_annexb, length_prefixed_units};
use onair::media::stamp;
use onair::media::wallclock::UnixMillis;
use onair::player::fmp4;
use onair::server::announce::Announced;
use openh264::formats::YUVSource;
use support::{get, get_bytes, percentile, preload_hint, publish, serve};

/// Latencies in ms for every segment's first part of one stream, until `end`.
fn measure(base: String, end: Instant) -> Vec<f64> {
    let playlist_url = format!("{base}/video/playlist.m3u8");
    let mut latencies = Vec::new();
    let Some(first) = (0..200).find_map(|_| {
        get(&playlist_url).and_then(|p| preload_hint(&p)).or_else(|| {
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

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if !args.iter().any(|a| a == "--bench") {
        println!("capture_to_available runs under `cargo bench`");
        return;
    }
    let seconds: u64 = args.iter().skip(1).find(|a| !a.starts_with("--")).and_then(|s| s.parse().ok()).unwrap_or(60);
    let (server, Announced { rtmp, srt, http, .. }) = serve("[segments]\ntarget_ms = 1000\n[ladder]\nenabled = false\n");
    let _rtmp_publisher = publish("2", seconds + 5, &format!("{rtmp}/over-rtmp"));
    let _srt_publisher = publish("2", seconds + 5, &format!("{srt}?streamid=publish:live/over-srt&latency=120"));
    let end = Instant::now() + Duration::from_secs(seconds);
    let (over_rtmp, over_srt) = std::thread::scope(|scope| {
        let a = scope.spawn(|| measure(format!("{http}/live/over-rtmp"), end));
        let b = scope.spawn(|| measure(format!("{http}/live/over-srt"), end));
        (a.join().unwrap_or_default(), b.join().unwrap_or_default())
    });
    drop(server);
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
