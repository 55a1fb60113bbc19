//! The Opus/AAC transcodes WebRTC needs, per stream, beside ffmpeg's.
//!
//! `cargo bench --bench opus_transcode -- SECONDS` encodes SECONDS of 48 kHz
//! stereo (a tone under noise) to AAC with the studio's encoder, then times,
//! in CPU seconds of the thread doing it:
//!
//! 1. WHEP's direction: OnAir's `AacToOpus` (fdk-aac decode, libopus encode
//!    at 128 kbit/s in 20 ms packets), once per stream however many watch;
//! 2. WHIP's direction: libopus decode and the AAC encoder, as `ingest.rs`;
//! 3. ffmpeg turning the same AAC (as ADTS) into Opus with libopus at 128
//!    kbit/s, to `-f null`: its CPU from the kernel's account of the child.
//!
//! Prints each as a share of one core while the audio plays in real time.

mod support;

use std::io::Write;
use std::process::{Command, Stdio};

use onair::encode::aac::AacEncoder;
use onair::encode::aac_to_opus::{AacToOpus, PACKET_SAMPLES, RATE};
use onair::media::aac::adts_header;
use onair::media::frame::{EncodedFrame, TrackKind};
use onair::media::time::{TimeBase, Timestamp};

fn thread_cpu() -> f64 {
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime fills the timespec it is given.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    now.tv_sec as f64 + now.tv_nsec as f64 / 1e9
}

fn children_cpu() -> f64 {
    support::rusage_seconds(libc::RUSAGE_CHILDREN)
}

fn main() {
    let seconds: usize = std::env::args().skip(1).find(|a| !a.starts_with('-')).and_then(|a| a.parse().ok()).unwrap_or(60);
    let mut seed = 0x1234_5678_u32;
    let samples: Vec<i16> = (0..seconds * RATE as usize)
        .flat_map(|n| {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            let noise = f64::from(seed as i32 >> 20);
            let tone = 8000.0 * (2.0 * std::f64::consts::PI * 440.0 * n as f64 / f64::from(RATE)).sin();
            let s = (tone + noise) as i16;
            [s, s]
        })
        .collect();
    let mut encoder = AacEncoder::new(128).expect("the AAC encoder");
    let config = encoder.config().clone();
    let encoded = encoder.encode(&samples).expect("AAC encoding");
    let base = TimeBase::new(RATE).unwrap();
    let frames: Vec<EncodedFrame> = encoded
        .iter()
        .map(|f| {
            let t = Timestamp::new(f.first_sample, base);
            EncodedFrame { kind: TrackKind::Audio, dts: t, pts: t, keyframe: true, data: f.data.clone() }
        })
        .collect();

    // 1. AAC → Opus.
    let mut transcoder = AacToOpus::new(&config).expect("the transcoder");
    let began = thread_cpu();
    let packets: Vec<Vec<u8>> = frames.iter().flat_map(|f| transcoder.push(f)).map(|p| p.data).collect();
    let to_opus = thread_cpu() - began;

    // 2. Opus → AAC.
    let mut decoder = opus::Decoder::new(RATE, opus::Channels::Stereo).unwrap();
    let mut back = AacEncoder::new(128).unwrap();
    let mut pcm = vec![0i16; 5760 * 2];
    let began = thread_cpu();
    let mut aac_frames = 0;
    for packet in &packets {
        let n = decoder.decode(packet, &mut pcm, false).unwrap();
        aac_frames += back.encode(&pcm[..2 * n]).unwrap().len();
    }
    let to_aac = thread_cpu() - began;

    // 3. ffmpeg, the same AAC as ADTS.
    let path = std::env::temp_dir().join(format!("onair-bench-{}.aac", std::process::id()));
    let mut adts = Vec::new();
    for f in &encoded {
        adts.extend_from_slice(&adts_header(&config, f.data.len()).unwrap());
        adts.extend_from_slice(&f.data);
    }
    std::fs::File::create(&path).unwrap().write_all(&adts).unwrap();
    let before = children_cpu();
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-v", "error", "-i"])
        .arg(&path)
        .args(["-c:a", "libopus", "-b:a", "128k", "-frame_duration", "20", "-f", "null", "-"])
        .stdin(Stdio::null())
        .status()
        .expect("ffmpeg (packaging/setup.sh installs it)");
    let ffmpeg = children_cpu() - before;
    let _ = std::fs::remove_file(&path);
    assert!(status.success(), "ffmpeg failed");

    let share = |cpu: f64| 100.0 * cpu / seconds as f64;
    println!(
        "{seconds} s of 48 kHz stereo; {} AAC frames, {} Opus packets of {PACKET_SAMPLES} samples, {aac_frames} AAC frames back",
        frames.len(),
        packets.len()
    );
    println!("AAC -> Opus (WHEP, once per stream): {to_opus:.3} CPU s = {:.2} % of a core", share(to_opus));
    println!("Opus -> AAC (WHIP, once per publisher): {to_aac:.3} CPU s = {:.2} % of a core", share(to_aac));
    println!("ffmpeg AAC -> libopus 128k: {ffmpeg:.3} CPU s = {:.2} % of a core", share(ffmpeg));
    println!("OnAir / ffmpeg (AAC -> Opus): {:.2}x", to_opus / ffmpeg.max(1e-9));
}
