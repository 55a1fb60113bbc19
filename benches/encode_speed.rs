//! Encodes the test pattern with OnAir's H.264 encoder as fast as it goes.
//!
//! `cargo bench --bench encode_speed -- WIDTHxHEIGHT FRAMES KBPS OUTDIR`
//! writes OUTDIR/source_WxH.yuv (the raw frames, for peers and PSNR) and
//! OUTDIR/onair_WxH.h264, and prints wall time, CPU time and frames per second.
//! `benches/encode_vs_x264.sh` runs it beside ffmpeg's libx264.

use std::io::Write;
use std::time::Instant;

mod support;

use onair::capture::clock::CaptureClock;
use onair::capture::pattern::TestPattern;
use onair::encode::h264::H264Encoder;
use onair::media::h264::{append_annexb, avcc_parameter_sets, length_prefixed_units};

fn cpu_seconds() -> f64 {
    support::rusage_seconds(libc::RUSAGE_SELF)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if !args.iter().any(|a| a == "--bench") {
        println!("encode_speed runs under `cargo bench` (see benches/encode_vs_x264.sh)");
        return;
    }
    let positional: Vec<&String> = args.iter().skip(1).filter(|a| !a.starts_with("--")).collect();
    let [size, frames, kbps, out] = positional[..] else {
        eprintln!("usage: cargo bench --bench encode_speed -- WIDTHxHEIGHT FRAMES KBPS OUTDIR");
        std::process::exit(2);
    };
    let (width, height) = size.split_once('x').map(|(w, h)| (w.parse::<usize>().unwrap(), h.parse::<usize>().unwrap())).expect("WIDTHxHEIGHT");
    let frames: u64 = frames.parse().expect("FRAMES");
    let kbps: u32 = kbps.parse().expect("KBPS");
    let out = std::path::Path::new(out);
    std::fs::create_dir_all(out).unwrap();

    let clock = CaptureClock::start();
    let pattern = TestPattern::new(width, height, 30, clock);
    let source: Vec<_> = (0..frames).map(|i| pattern.render(i, clock.from_micros(i as i64 * 1_000_000 / 30))).collect();
    let mut raw = std::io::BufWriter::new(std::fs::File::create(out.join(format!("source_{size}.yuv"))).unwrap());
    for frame in &source {
        raw.write_all(&frame.i420).unwrap();
    }
    raw.flush().unwrap();

    let mut encoder = H264Encoder::new(width, height, 30, kbps, 2).expect("encoder");
    let mut annexb = Vec::new();
    let (cpu_before, started) = (cpu_seconds(), Instant::now());
    for frame in &source {
        let Some(encoded) = encoder.encode(frame).expect("encode") else { continue };
        if let Some(config) = &encoded.config {
            append_annexb(&mut annexb, avcc_parameter_sets(&config.avcc));
        }
        append_annexb(&mut annexb, length_prefixed_units(&encoded.data));
    }
    let (wall, cpu) = (started.elapsed().as_secs_f64(), cpu_seconds() - cpu_before);
    std::fs::write(out.join(format!("onair_{size}.h264")), &annexb).unwrap();
    println!(
        "onair-openh264 {size} frames={frames} wall={wall:.3} cpu={cpu:.3} fps={:.1} cores={:.2} kbps={:.0}",
        frames as f64 / wall,
        cpu / wall,
        annexb.len() as f64 * 8.0 / (frames as f64 / 30.0) / 1000.0
    );
}
