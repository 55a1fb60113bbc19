//! Compositing 1080p30 beside ffmpeg's overlay filter graph, in the same run.
//!
//! `cargo bench --bench compose -- SECONDS` starts a 1920×1080 Xvfb and, for
//! SECONDS each at 30 frames a second, composes the same picture twice:
//!
//! 1. OnAir's compositor (this process): the screen (MIT-SHM), the test
//!    pattern as a 480×270 picture-in-picture, a 256×256 PNG logo with
//!    alpha and a line of text, into I420.
//! 2. ffmpeg: `x11grab` of the same screen, `testsrc2` at 480×270, the same
//!    PNG, `overlay` twice and `drawtext`, into yuv420p, to `-f null`.
//!
//! Each side's CPU counts the X server's too (it copies the screen for both).
//! Prints cores, CPU per frame and the ratio.

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use onair::capture::clock::CaptureClock;
use onair::scene::compose::Compositor;
use onair::scene::{Layer, Scene, SourceSpec};
use support::{Killed, cpu_seconds};

const FPS: u32 = 30;

fn process_cpu(pid: u32) -> f64 {
    cpu_seconds(&format!("/proc/{pid}/stat")).map_or(0.0, |s| s.1)
}

/// CPU seconds of this process (RUSAGE_SELF) or of its children that ended and were waited for (RUSAGE_CHILDREN).
fn rusage_cpu(who: libc::c_int) -> f64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct it is given.
    let usage = unsafe {
        libc::getrusage(who, usage.as_mut_ptr());
        usage.assume_init()
    };
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

fn main() {
    let seconds: u64 = std::env::args().skip(1).find(|a| !a.starts_with('-')).and_then(|a| a.parse().ok()).unwrap_or(20);
    let frames = seconds * u64::from(FPS);
    let display = format!(":{}", 200 + std::process::id() % 100);
    let xvfb = Killed(
        Command::new("Xvfb")
            .args([&display, "-screen", "0", "1920x1080x24", "-nolisten", "tcp"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("Xvfb (packaging/setup.sh installs it)"),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while !Command::new("xdpyinfo").args(["-display", &display]).stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success()) {
        assert!(Instant::now() < deadline, "Xvfb did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    // SAFETY: set before any thread of this process reads the environment.
    unsafe { std::env::set_var("DISPLAY", &display) };
    let logo = std::env::temp_dir().join(format!("onair-bench-logo-{}.png", std::process::id()));
    let image =
        image::RgbaImage::from_fn(256, 256, |x, y| image::Rgba([255, (x % 256) as u8, (y % 256) as u8, if (x / 32 + y / 32) % 2 == 0 { 255 } else { 96 }]));
    image.save(&logo).unwrap();
    let font = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

    // OnAir.
    let scene = Scene::new(
        "bench",
        vec![
            Layer::new(SourceSpec::Screen(None)),
            Layer::new(SourceSpec::TestPattern).at(1400, 770, 480, 270),
            Layer::new(SourceSpec::Image(logo.clone())).at(40, 40, 256, 256),
            Layer {
                text: onair::scene::spec::TextStyle { size: 64.0, color: "#FFFFFF".into(), font: Some(font.into()) },
                ..Layer::new(SourceSpec::Text("LIVE".into())).at(40, 960, 200, 80)
            },
        ],
    );
    let clock = CaptureClock::start();
    let mut compositor = Compositor::new(1920, 1080, FPS, clock);
    let mut canvas = Vec::new();
    compositor.compose(&scene, None, clock.now(), &mut canvas);
    let (cpu_before, x_before, started) = (rusage_cpu(libc::RUSAGE_SELF), process_cpu(xvfb.pid()), Instant::now());
    let mut spent = Vec::new();
    for frame in 0..frames {
        let due = started + Duration::from_micros(frame * 1_000_000 / u64::from(FPS));
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        let composing = Instant::now();
        let composed = compositor.compose(&scene, None, clock.now(), &mut canvas);
        spent.push(composing.elapsed().as_secs_f64() * 1000.0);
        assert!(composed.warnings.is_empty(), "{:?}", composed.warnings);
    }
    let wall = started.elapsed().as_secs_f64();
    let onair_cpu = rusage_cpu(libc::RUSAGE_SELF) - cpu_before;
    let onair_x = process_cpu(xvfb.pid()) - x_before;
    spent.sort_by(f64::total_cmp);

    // ffmpeg.
    let graph = format!(
        "[0:v][1:v]overlay=1400:770[a];[a][2:v]overlay=40:40[b];[b]drawtext=fontfile={font}:text=LIVE:fontsize=64:fontcolor=white:x=40:y=960,format=yuv420p[out]"
    );
    let x_before = process_cpu(xvfb.pid());
    let ffmpeg_started = Instant::now();
    let mut ffmpeg = Killed(
        Command::new("ffmpeg")
            .args(["-hide_banner", "-v", "error", "-f", "x11grab", "-framerate", "30", "-video_size", "1920x1080", "-i", &display])
            .args(["-f", "lavfi", "-i", "testsrc2=size=480x270:rate=30", "-loop", "1", "-framerate", "30", "-i"])
            .arg(&logo)
            .args(["-filter_complex", &graph, "-map", "[out]", "-frames:v", &frames.to_string(), "-f", "null", "-"])
            .stdin(Stdio::null())
            .spawn()
            .expect("ffmpeg (packaging/setup.sh installs it)"),
    );
    let children_before = rusage_cpu(libc::RUSAGE_CHILDREN);
    let status = ffmpeg.0.wait().expect("wait for ffmpeg");
    assert!(status.success(), "ffmpeg failed");
    let ffmpeg_cpu = rusage_cpu(libc::RUSAGE_CHILDREN) - children_before;
    let ffmpeg_wall = ffmpeg_started.elapsed().as_secs_f64();
    let ffmpeg_x = process_cpu(xvfb.pid()) - x_before;
    let _ = std::fs::remove_file(&logo);

    let onair_cores = (onair_cpu + onair_x) / wall;
    let ffmpeg_cores = (ffmpeg_cpu + ffmpeg_x) / ffmpeg_wall;
    let per_frame = |cpu: f64| cpu * 1000.0 / frames as f64;
    println!("{frames} frames of 1920x1080 at {FPS} fps: screen + 480x270 test pattern + 256x256 PNG logo + text");
    println!(
        "onair compositor: {onair_cores:.3} cores ({:.2} ms CPU per frame: {:.2} composing, {:.2} in the X server), compose time p50 {:.2} ms, p99 {:.2} ms, over {wall:.1} s",
        per_frame(onair_cpu + onair_x),
        per_frame(onair_cpu),
        per_frame(onair_x),
        support::percentile(&spent, 0.5),
        support::percentile(&spent, 0.99)
    );
    println!(
        "ffmpeg overlay graph: {ffmpeg_cores:.3} cores ({:.2} ms CPU per frame: {:.2} ffmpeg, {:.2} in the X server), over {ffmpeg_wall:.1} s",
        per_frame(ffmpeg_cpu + ffmpeg_x),
        per_frame(ffmpeg_cpu),
        per_frame(ffmpeg_x)
    );
    println!("onair / ffmpeg CPU: {:.2}x", onair_cores / ffmpeg_cores);
    drop(xvfb);
}
