//! The mixer on a real sound server: three PulseAudio null sinks play a
//! 440 Hz tone, a 1 kHz tone and white noise; `onair publish --mix` takes
//! their monitors as inputs, and the published AAC, decoded by ffmpeg,
//! holds each at its set gain, none of a muted one, and the noise lowered
//! by noise suppression while the tones pass.

mod common;

use std::process::{Child, Stdio};

use common::{Pulse, Server, wait_for};

const RATE: f64 = 48_000.0;

/// Mean power of `frequency` over 100 ms Hann-windowed blocks (Goertzel), in
/// dB: the window keeps the tones' leakage out of the noise's bins.
fn power_db(samples: &[f32], frequency: f64) -> f64 {
    let block = 4800;
    let coefficient = 2.0 * (2.0 * std::f64::consts::PI * frequency / RATE).cos();
    let mut total = 0.0;
    let blocks = samples.chunks_exact(block);
    let count = blocks.len().max(1);
    for chunk in blocks {
        let (mut s1, mut s2) = (0.0, 0.0);
        for (n, &x) in chunk.iter().enumerate() {
            let hann = 0.5 - 0.5 * (2.0 * std::f64::consts::PI * n as f64 / (block - 1) as f64).cos();
            let s0 = f64::from(x) * hann + coefficient * s1 - s2;
            (s2, s1) = (s1, s0);
        }
        let power = s1 * s1 + s2 * s2 - coefficient * s1 * s2;
        total += power / (block * block) as f64;
    }
    10.0 * (total / count as f64).max(1e-20).log10()
}

/// The noise's level: mean power over bins between and above the tones.
fn noise_db(samples: &[f32]) -> f64 {
    let bins: Vec<f64> = (0..17).map(|i| 3000.0 + 250.0 * f64::from(i)).collect();
    let mean = bins.iter().map(|&f| 10f64.powf(power_db(samples, f) / 10.0)).sum::<f64>() / bins.len() as f64;
    10.0 * mean.log10()
}

fn play(pulse: &Pulse, sink: &str, lavfi: &str) -> Child {
    let file = pulse.runtime.join(format!("{sink}.wav"));
    let (ok, _, stderr) =
        common::run("ffmpeg", &["-v", "error", "-y", "-f", "lavfi", "-i", lavfi, "-t", "40", "-ar", "48000", "-ac", "2", &file.display().to_string()]);
    assert!(ok, "{stderr}");
    pulse.command("paplay").arg(format!("--device={sink}")).arg(&file).stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("paplay")
}

/// Publishes the test pattern with these mixer inputs for a few seconds; the stream's sound, mono, from its second second on.
fn publish_mix(pulse: &Pulse, server: &Server, key: &str, inputs: &[&str]) -> Vec<f32> {
    let mut command = pulse.command(env!("CARGO_BIN_EXE_onair"));
    command.args(["publish", "--video", "test", "--quality", "1", "--duration", "6", "--to", &server.rtmp_url(key)]);
    for input in inputs {
        command.args(["--mix", input]);
    }
    let output = command.output().expect("run onair publish");
    assert!(output.status.success(), "onair publish failed: {}", String::from_utf8_lossy(&output.stderr));
    let playlist = format!("/live/{key}/index.m3u8");
    wait_for("the stream to end", std::time::Duration::from_secs(30), || {
        server.get(&format!("/live/{key}/audio/playlist.m3u8")).filter(|text| text.contains("#EXT-X-ENDLIST"))
    });
    let decoded = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-i", &server.url(&playlist), "-map", "0:a:0", "-ac", "1", "-ar", "48000", "-f", "f32le", "pipe:1"])
        .output()
        .expect("run ffmpeg");
    assert!(decoded.status.success(), "{}", String::from_utf8_lossy(&decoded.stderr));
    let samples: Vec<f32> = decoded.stdout.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    assert!(samples.len() > 4 * 48_000, "{} samples of sound", samples.len());
    samples[48_000..].to_vec()
}

#[test]
fn two_tones_and_noise_mix_at_their_gains_mute_removes_one_and_suppression_lowers_the_noise() {
    let pulse = Pulse::with_sinks(&["onair_a", "onair_b", "onair_noise"]);
    let server = Server::start("[ladder]\nenabled = false\n[segments]\nwindow = 100\n");
    let mut players = vec![
        play(&pulse, "onair_a", "sine=frequency=440:sample_rate=48000"),
        play(&pulse, "onair_b", "sine=frequency=1000:sample_rate=48000"),
        play(&pulse, "onair_noise", "anoisesrc=color=white:amplitude=0.3:sample_rate=48000"),
    ];

    let plain = publish_mix(&pulse, &server, "plain", &["desktop:onair_a.monitor", "desktop:onair_b.monitor,gain=-12", "desktop:onair_noise.monitor"]);
    let (a, b, noise) = (power_db(&plain, 440.0), power_db(&plain, 1000.0), noise_db(&plain));
    assert!((a - b - 12.0).abs() < 2.0, "the 1 kHz input at -12 dB is {:.1} dB under the 440 Hz one", a - b);
    assert!(a > noise + 20.0, "the tone stands over the noise: {a:.1} vs {noise:.1} dB");

    let treated = publish_mix(&pulse, &server, "treated", &["desktop:onair_a.monitor", "desktop:onair_b.monitor,mute", "desktop:onair_noise.monitor,denoise"]);
    let (a2, b2, noise2) = (power_db(&treated, 440.0), power_db(&treated, 1000.0), noise_db(&treated));
    eprintln!("440 Hz {a:.1} -> {a2:.1} dB, 1 kHz {b:.1} -> {b2:.1} dB (muted), noise {noise:.1} -> {noise2:.1} dB (suppressed)");
    assert!(a2 - b2 > 40.0, "the muted 1 kHz input is still in the mix: {b2:.1} dB against {a2:.1}");
    assert!(noise - noise2 >= 10.0, "noise suppression lowered the noise by {:.1} dB only ({noise:.1} -> {noise2:.1})", noise - noise2);
    assert!((a2 - a).abs() < 1.5, "the tone passes unchanged beside the suppressed input: {a:.1} -> {a2:.1} dB");

    for player in &mut players {
        let _ = player.kill();
        let _ = player.wait();
    }
}
