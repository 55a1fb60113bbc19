//! The ABR ladder beside ffmpeg's, in the same run, and the latency it adds.
//!
//! `cargo bench --bench ladder -- SECONDS` makes a 1080p30 source (libx264
//! veryfast with B-frames, 6 Mbit/s, 2 s keyframes, noise so it is not
//! trivially compressible), then for SECONDS of steady state:
//!
//! 1. ffmpeg (`-re`) decodes it, scales and encodes 720p/480p/360p at 3000/1400/800
//!    kbit/s with libx264 `-preset ultrafast`: its CPU and speed.
//! 2. `onair serve` ingests it (`ffmpeg -re -c copy` over RTMP) and runs its ladder:
//!    CPU of the ladder's threads (decode, and one per rung) and of the whole
//!    server, and the media each rung produced per wall second.
//!    Meanwhile one client per rendition waits on each hinted LL-HLS part;
//!    a rung's part arriving later than the source's part of the same number
//!    is the latency the ladder adds.

mod support;

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::{Killed, cpu_seconds, get, get_bytes, percentile, preload_hint, serve};

const RUNGS: [(&str, u32, u32); 3] = [("720p", 1280, 3000), ("480p", 854, 1400), ("360p", 640, 800)];
const WARM_UP: Duration = Duration::from_secs(8);

/// CPU seconds of the whole process and of its threads whose names start with one of `prefixes`.
fn cpu(pid: u32, prefixes: &[&str]) -> (f64, f64) {
    let process = cpu_seconds(&format!("/proc/{pid}/stat")).map_or(0.0, |s| s.1);
    let mut threads = 0.0;
    if let Ok(entries) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for entry in entries.flatten() {
            if let Some((comm, seconds)) = cpu_seconds(&format!("{}/stat", entry.path().display()))
                && prefixes.iter().any(|p| comm.starts_with(p))
            {
                threads += seconds;
            }
        }
    }
    (process, threads)
}

/// `later - earlier` in milliseconds, negative when `later` came first.
fn signed_ms(later: Instant, earlier: Instant) -> f64 {
    (later.saturating_duration_since(earlier).as_secs_f64() - earlier.saturating_duration_since(later).as_secs_f64()) * 1000.0
}

fn make_source(path: &std::path::Path, seconds: u64) {
    eprintln!("making a {seconds} s 1080p30 source…");
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=30,noise=alls=10:allf=t+u"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", &seconds.to_string()])
        .args(["-c:v", "libx264", "-preset", "veryfast", "-bf", "2", "-g", "60", "-keyint_min", "60", "-sc_threshold", "0", "-pix_fmt", "yuv420p"])
        .args(["-b:v", "6000k", "-maxrate", "6000k", "-bufsize", "12000k", "-c:a", "aac", "-b:a", "128k", "-f", "flv"])
        .arg(path)
        .status()
        .expect("run ffmpeg (run packaging/setup.sh)");
    assert!(status.success(), "ffmpeg could not make the source");
}

/// ffmpeg's ladder of the same rungs: (cores, speed).
fn ffmpeg_ladder(source: &std::path::Path, seconds: u64) -> (f64, f64) {
    let mut filter = String::from("[0:v]split=3[s0][s1][s2]");
    for (index, (_, width, _)) in RUNGS.iter().enumerate() {
        filter.push_str(&format!(";[s{index}]scale={width}:-2[o{index}]"));
    }
    let mut command = Command::new("ffmpeg");
    command.args(["-hide_banner", "-v", "error", "-re", "-i"]).arg(source).args(["-filter_complex", &filter]);
    for (index, (_, _, kbps)) in RUNGS.iter().enumerate() {
        let rate = format!("{kbps}k");
        let buffer = format!("{}k", kbps * 2);
        command.args(["-map", &format!("[o{index}]"), "-c:v", "libx264", "-preset", "ultrafast", "-b:v", &rate, "-maxrate", &rate, "-bufsize", &buffer]);
        command.args(["-g", "60", "-an", "-f", "null", "-"]);
    }
    let child = Killed(command.args(["-progress", "pipe:1", "-nostats"]).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().expect("ffmpeg"));
    let speeds = Arc::new(Mutex::new(Vec::<f64>::new()));
    let mut child = child;
    let stdout = child.0.stdout.take().expect("stdout");
    let reader = {
        let speeds = speeds.clone();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(speed) = line.strip_prefix("speed=").and_then(|s| s.trim().trim_end_matches('x').parse::<f64>().ok()) {
                    speeds.lock().unwrap().push(speed);
                }
            }
        })
    };
    std::thread::sleep(WARM_UP);
    let (start, _) = cpu(child.pid(), &[]);
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs(seconds));
    let (end, _) = cpu(child.pid(), &[]);
    let wall = started.elapsed().as_secs_f64();
    drop(child);
    let _ = reader.join();
    let speed = speeds.lock().unwrap().last().copied().unwrap_or(f64::NAN);
    ((end - start) / wall, speed)
}

/// When each part arrived, by (rendition, segment number, part index).
type Arrivals = Arc<Mutex<HashMap<(String, u64, u32), Instant>>>;

/// Waits on every hinted part of one rendition; records when each arrived.
fn follow_parts(base: String, rendition: String, until: Instant, arrivals: Arrivals) {
    let playlist = format!("{base}/{rendition}/playlist.m3u8");
    while Instant::now() < until {
        let Some((number, index)) = get(&playlist).and_then(|p| preload_hint(&p)) else {
            std::thread::sleep(Duration::from_millis(100));
            continue;
        };
        if get_bytes(&format!("{base}/{rendition}/part-{number}.{index}.m4s")).is_some() {
            arrivals.lock().unwrap().insert((rendition.clone(), number, index), Instant::now());
        }
    }
}

struct OnairRun {
    ladder_cores: f64,
    server_cores: f64,
    /// Media seconds per wall second, per rung, from the frames each encoded.
    speeds: Vec<(String, f64)>,
    /// Rung part minus source part, ms, per rung.
    added: Vec<(String, Vec<f64>)>,
    part_target_ms: f64,
}

fn frames_by_rung(http: &str) -> HashMap<String, (u64, String)> {
    let report: serde_json::Value = get(&format!("{http}/api/streams")).and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default();
    let mut frames = HashMap::new();
    for stream in report.as_array().into_iter().flatten() {
        for rung in stream["ladder"]["rungs"].as_array().into_iter().flatten() {
            frames.insert(
                rung["name"].as_str().unwrap_or("").to_string(),
                (rung["frames"].as_u64().unwrap_or(0), rung["state"].as_str().unwrap_or("").to_string()),
            );
        }
    }
    frames
}

fn onair_ladder(source: &std::path::Path, seconds: u64) -> OnairRun {
    let (server, announced) = serve("");
    let url = format!("{}/ladder", announced.rtmp);
    let _publisher = Killed(
        Command::new("ffmpeg")
            .args(["-hide_banner", "-v", "error", "-re", "-i"])
            .arg(source)
            .args(["-c", "copy", "-f", "flv", &url])
            .stdin(Stdio::null())
            .spawn()
            .expect("ffmpeg publisher"),
    );
    let base = format!("{}/live/ladder", announced.http);
    let until = Instant::now() + WARM_UP + Duration::from_secs(seconds);
    let arrivals = Arc::new(Mutex::new(HashMap::new()));
    let followers: Vec<_> = std::iter::once("video")
        .chain(RUNGS.iter().map(|r| r.0))
        .map(|rendition| {
            let (base, rendition, arrivals) = (base.clone(), rendition.to_string(), arrivals.clone());
            std::thread::spawn(move || follow_parts(base, rendition, until, arrivals))
        })
        .collect();
    std::thread::sleep(WARM_UP);
    let (process_start, ladder_start) = cpu(server.pid(), &["ladder-", "rung-"]);
    let frames_start = frames_by_rung(&announced.http);
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs(seconds));
    let (process_end, ladder_end) = cpu(server.pid(), &["ladder-", "rung-"]);
    let frames_end = frames_by_rung(&announced.http);
    let wall = started.elapsed().as_secs_f64();
    for follower in followers {
        let _ = follower.join();
    }
    let playlist = get(&format!("{base}/video/playlist.m3u8")).unwrap_or_default();
    let part_target_ms =
        playlist.lines().find_map(|l| l.strip_prefix("#EXT-X-PART-INF:PART-TARGET=")).and_then(|v| v.parse::<f64>().ok()).map_or(f64::NAN, |s| s * 1000.0);
    let arrivals = arrivals.lock().unwrap();
    let added = RUNGS
        .iter()
        .map(|(name, _, _)| {
            let mut deltas: Vec<f64> = arrivals
                .iter()
                .filter(|((rendition, _, _), _)| rendition == name)
                .filter_map(|((_, number, index), at)| {
                    let source = arrivals.get(&("video".to_string(), *number, *index))?;
                    Some(signed_ms(*at, *source))
                })
                .collect();
            deltas.sort_by(f64::total_cmp);
            (name.to_string(), deltas)
        })
        .collect();
    let speeds = RUNGS
        .iter()
        .map(|(name, _, _)| {
            let start = frames_start.get(*name).map_or(0, |f| f.0);
            let (end, state) = frames_end.get(*name).cloned().unwrap_or((0, "absent".into()));
            let speed = (end - start) as f64 / 30.0 / wall;
            (format!("{name} ({state})"), speed)
        })
        .collect();
    OnairRun { ladder_cores: (ladder_end - ladder_start) / wall, server_cores: (process_end - process_start) / wall, speeds, added, part_target_ms }
}

fn main() {
    let seconds: u64 = std::env::args().skip(1).find(|a| !a.starts_with('-')).and_then(|a| a.parse().ok()).unwrap_or(30);
    let directory = std::env::temp_dir().join(format!("onair-ladder-bench-{}", std::process::id()));
    std::fs::create_dir_all(&directory).expect("temp dir");
    let source = directory.join("source-1080p30.flv");
    make_source(&source, seconds + WARM_UP.as_secs() + 10);

    eprintln!("ffmpeg ladder for {seconds} s…");
    let (ffmpeg_cores, ffmpeg_speed) = ffmpeg_ladder(&source, seconds);
    eprintln!("onair ladder for {seconds} s…");
    let onair = onair_ladder(&source, seconds);
    let _ = std::fs::remove_dir_all(&directory);

    println!("\n1080p30 6 Mbit/s source → 720p 3000 / 480p 1400 / 360p 800 kbit/s, {seconds} s steady state\n");
    println!("| ladder | CPU cores | real time |");
    println!("|---|---|---|");
    println!("| ffmpeg: decode, scale, libx264 ultrafast ×3 | {ffmpeg_cores:.2} | speed {ffmpeg_speed:.2}× |");
    let speeds: Vec<String> = onair.speeds.iter().map(|(name, speed)| format!("{name} {speed:.2}×")).collect();
    println!("| onair: libavcodec decode, libswscale area scale, OpenH264 ×3 (ladder threads) | {:.2} | {} |", onair.ladder_cores, speeds.join(", "));
    println!("| onair: whole server (ingest, packaging, HTTP and ladder) | {:.2} | |", onair.server_cores);
    println!("\nladder CPU / ffmpeg CPU = {:.2}×", onair.ladder_cores / ffmpeg_cores);
    println!("\nLatency a rung adds: its LL-HLS part available minus the source's same part (part target {:.0} ms)\n", onair.part_target_ms);
    println!("| rung | parts | p50 ms | p95 ms | max ms |");
    println!("|---|---|---|---|---|");
    for (name, deltas) in &onair.added {
        let max = deltas.last().copied().unwrap_or(f64::NAN);
        println!("| {name} | {} | {:.0} | {:.0} | {max:.0} |", deltas.len(), percentile(deltas, 0.5), percentile(deltas, 0.95));
    }
}
