use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use onair::server::config::ServerConfig;

/// OnAir: a live-streaming studio and a small, fast live origin.
///
/// Publish RTMP or SRT to the bundled server and watch it as HLS, LL-HLS or DASH.
#[derive(Parser)]
#[command(name = "onair", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the live server: RTMP and SRT ingest, HLS, LL-HLS and DASH over HTTP.
    ///
    /// Publish with e.g. `ffmpeg -re -i input.mp4 -c copy -f flv rtmp://127.0.0.1:1935/live/KEY`
    /// or over SRT to srt://127.0.0.1:8890?streamid=publish:live/KEY,
    /// and watch http://127.0.0.1:8080/live/KEY/index.m3u8.
    Serve(ServeArgs),
    /// List cameras (with their formats) and microphones.
    Devices,
    /// Show a microphone's level (peak and RMS in dBFS) for a few seconds, or every mixer input's.
    Meter {
        /// Part of the microphone's name; the default input when omitted.
        #[arg(long, value_name = "NAME")]
        mic: Option<String>,
        /// Mixer inputs, as `onair publish --mix` takes them: a sound check of each.
        #[arg(long, value_name = "INPUT", action = clap::ArgAction::Append, value_parser = parse_mix)]
        mix: Vec<onair::mixer::InputSpec>,
        #[arg(long, default_value_t = 3.0, value_name = "SECS")]
        seconds: f64,
    },
    /// Watch a stream with the app's preview player and print its glass-to-glass latency.
    ///
    /// Give a media playlist, e.g. http://127.0.0.1:8080/live/KEY/video/playlist.m3u8; the latency
    /// is read from the capture stamp of OnAir's test pattern.
    Watch {
        #[arg(value_name = "PLAYLIST_URL")]
        url: String,
        #[arg(long, default_value_t = 30.0, value_name = "SECS")]
        seconds: f64,
    },
    /// Publish a camera or the test pattern, with a microphone or the test tone, to an RTMP or SRT URL.
    ///
    /// Example: onair publish --video test --audio tone --to rtmp://127.0.0.1:1935/live/mykey --quality 3
    Publish(PublishArgs),
    /// Record a camera or the test pattern to an MP4 file, without publishing.
    ///
    /// The file is written as it goes (a crash keeps all but the last second) and made seekable
    /// when the recording ends. Without FILE it goes to the Videos folder, named by the time (UTC).
    Record {
        #[arg(value_name = "FILE")]
        file: Option<std::path::PathBuf>,
        #[command(flatten)]
        source: SourceArgs,
    },
}

#[derive(clap::Args)]
struct PublishArgs {
    /// Where to publish: rtmp://HOST[:PORT]/APP/KEY, srt://HOST:PORT?streamid=publish:APP/KEY[&passphrase=..][&latency=MS],
    /// or over WebRTC to a WHIP endpoint: whip://HOST:PORT/live/KEY/whip (https:// or whips:// over TLS)[?token=BEARER].
    /// Give it more than once to go live to several places from one encode.
    #[arg(long, value_name = "URL", value_parser = parse_target, required = true, action = clap::ArgAction::Append)]
    to: Vec<onair::publish::target::PublishTarget>,
    /// Also record what is sent (the same encode) to this MP4 file.
    #[arg(long, value_name = "FILE")]
    record: Option<std::path::PathBuf>,
    #[command(flatten)]
    source: SourceArgs,
}

/// What to capture and how to encode it.
#[derive(clap::Args)]
struct SourceArgs {
    /// `test` for the test pattern, `camera` for the first camera, `camera:ID` for one by index or name.
    #[arg(long, default_value = "test", value_name = "SOURCE", value_parser = parse_video)]
    video: onair::engine::VideoChoice,
    /// `tone` for the test tone, `mic` or `mic:NAME` for a microphone, `none` for no audio.
    #[arg(long, default_value = "tone", value_name = "SOURCE", value_parser = parse_audio)]
    audio: onair::engine::AudioChoice,
    /// A scene file (TOML: `[[layers]]` with `source`, `x`, `y`, `width`, `height`), drawn instead of
    /// --video. Give it more than once to switch while live: type a scene's number and Enter.
    #[arg(long, value_name = "FILE", action = clap::ArgAction::Append)]
    scene: Vec<PathBuf>,
    /// How typed scene numbers switch: `cut` or `fade` (300 ms).
    #[arg(long, default_value = "cut", value_name = "KIND", value_parser = parse_transition)]
    transition: onair::scene::Transition,
    /// A mixer input, instead of --audio; give it more than once to mix several. mic, mic:NAME,
    /// desktop (what the computer plays), desktop:NAME (a sound server source, e.g. an output's
    /// .monitor) or tone, then any of ,gain=DB ,mute ,denoise ,gate=DB.
    /// Example: --mix mic,denoise,gate=-50 --mix desktop,gain=-12
    #[arg(long, value_name = "INPUT", action = clap::ArgAction::Append, value_parser = parse_mix)]
    mix: Vec<onair::mixer::InputSpec>,
    /// Quality knob position: 1 to 5, or its name: 360p, 480p, 720p, 720p60, 1080p.
    #[arg(long, default_value = "3", value_name = "N", value_parser = parse_quality)]
    quality: u8,
    /// Exact video bitrate in kbit/s instead of the preset's.
    #[arg(long, value_name = "KBPS")]
    bitrate: Option<u32>,
    /// Stop after this many seconds.
    #[arg(long, value_name = "SECS")]
    duration: Option<f64>,
    /// Seconds between keyframes (the server's segments follow them).
    #[arg(long, default_value_t = 2, value_name = "SECS", value_parser = clap::value_parser!(u32).range(1..=10))]
    keyframe_interval: u32,
}

#[derive(clap::Args)]
struct ServeArgs {
    /// TOML config file; every field is optional (see --print-config).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// RTMP listen address (config: rtmp.listen) [default: 127.0.0.1:1935].
    #[arg(long, value_name = "ADDR")]
    rtmp: Option<SocketAddr>,
    /// SRT listen address (config: srt.listen) [default: 127.0.0.1:8890].
    #[arg(long, value_name = "ADDR")]
    srt: Option<SocketAddr>,
    /// HTTP listen address (config: http.listen) [default: 127.0.0.1:8080].
    #[arg(long, value_name = "ADDR")]
    http: Option<SocketAddr>,
    /// WebRTC (WHEP) UDP address, one port for every peer (config: webrtc.listen) [default: 127.0.0.1:8189].
    #[arg(long, value_name = "ADDR")]
    webrtc: Option<SocketAddr>,
    /// Serve each stream's source rendition only: no transcoded ladder (config: ladder.enabled).
    #[arg(long)]
    no_ladder: bool,
    /// Print the effective configuration as TOML and exit.
    #[arg(long)]
    print_config: bool,
}

fn main() -> std::process::ExitCode {
    return_large_buffers_to_the_system();
    // Before descriptor 2 is rerouted: clap prints its errors there and exits.
    let cli = Cli::parse();
    let chatter = onair::terminal::route_native_chatter();
    init_logging();
    install_panic_logger();
    if let Err(error) = &chatter {
        tracing::debug!("native libraries' stderr is not filtered: {error}");
    }
    let result = match cli.command {
        Some(Command::Serve(args)) => serve(args),
        Some(Command::Devices) => devices(),
        Some(Command::Meter { mix, seconds, .. }) if !mix.is_empty() => meter_mix(&mix, seconds),
        Some(Command::Meter { mic, seconds, .. }) => meter(mic, seconds),
        Some(Command::Publish(args)) => {
            let mut targets = args.to;
            targets.extend(args.record.map(|path| onair::publish::target::PublishTarget::File(onair::publish::target::FileTarget { path })));
            publish(args.source, targets)
        }
        Some(Command::Record { file, source }) => {
            let target = file.map_or_else(|| onair::publish::target::FileTarget::named_by_time(None), |path| onair::publish::target::FileTarget { path });
            publish(source, vec![onair::publish::target::PublishTarget::File(target)])
        }
        Some(Command::Watch { url, seconds }) => watch(url, seconds),
        None => desktop(),
    };
    let code = match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            onair::terminal::say(&format!("error: {error:#}"));
            std::process::ExitCode::FAILURE
        }
    };
    drop(chatter);
    code
}

fn parse_video(text: &str) -> Result<onair::engine::VideoChoice, String> {
    use onair::engine::VideoChoice;
    match text.split_once(':') {
        None if text == "test" => Ok(VideoChoice::TestPattern),
        None if text == "camera" => Ok(VideoChoice::Camera(None)),
        Some(("camera", id)) if !id.is_empty() => Ok(VideoChoice::Camera(Some(id.to_string()))),
        _ => Err("use test, camera or camera:ID (`onair devices` lists the cameras)".into()),
    }
}

fn parse_audio(text: &str) -> Result<onair::engine::AudioChoice, String> {
    use onair::engine::AudioChoice;
    match text.split_once(':') {
        None if text == "tone" => Ok(AudioChoice::TestTone),
        None if text == "none" => Ok(AudioChoice::None),
        None if text == "mic" => Ok(AudioChoice::Microphone(None)),
        Some(("mic", name)) if !name.is_empty() => Ok(AudioChoice::Microphone(Some(name.to_string()))),
        _ => Err("use tone, mic, mic:NAME or none (`onair devices` lists the microphones)".into()),
    }
}

fn parse_mix(text: &str) -> Result<onair::mixer::InputSpec, String> {
    text.parse().map_err(|error: onair::mixer::spec::InputSpecError| error.to_string())
}

fn parse_transition(text: &str) -> Result<onair::scene::Transition, String> {
    match text {
        "cut" => Ok(onair::scene::Transition::Cut),
        "fade" => Ok(onair::scene::Transition::FADE),
        _ => Err("use cut or fade".into()),
    }
}

fn parse_target(text: &str) -> Result<onair::publish::target::PublishTarget, String> {
    onair::publish::target::PublishTarget::parse(text).map_err(|error| error.to_string())
}

/// A knob position by number or by name; any other value gets the knob's own message.
fn parse_quality(text: &str) -> Result<u8, String> {
    use onair::encode::quality::{KnobError, PRESETS, QualityKnob};
    if let Some(preset) = PRESETS.iter().find(|p| p.name.eq_ignore_ascii_case(text.trim())) {
        return Ok(preset.position);
    }
    let names: Vec<&str> = PRESETS.iter().map(|p| p.name).collect();
    let refuse = |position: String| format!("quality {position} does not exist; choose 1 to {} ({})", PRESETS.len(), names.join(", "));
    match text.trim().parse::<u8>() {
        Ok(position) => QualityKnob::new(position, None).map(|knob| knob.position).map_err(|error| match error {
            KnobError::NoSuchPosition { position, .. } => refuse(position.to_string()),
            other => other.to_string(),
        }),
        Err(_) => Err(refuse(text.trim().to_string())),
    }
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let mut config = match &args.config {
        Some(path) => ServerConfig::load(path)?,
        None => ServerConfig::default(),
    };
    if let Some(addr) = args.rtmp {
        config.rtmp.listen = addr;
    }
    if let Some(addr) = args.srt {
        config.srt.listen = addr;
    }
    if let Some(addr) = args.http {
        config.http.listen = addr;
    }
    if let Some(addr) = args.webrtc {
        config.webrtc.listen = addr;
    }
    if args.no_ladder {
        config.ladder.enabled = false;
    }
    if args.print_config {
        print!("{}", config.to_toml());
        return Ok(());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let app = config.rtmp.app.clone();
        let server = onair::server::start(config).await?;
        // One machine-readable line per listener, for scripts and tests.
        for line in onair::server::announce::tls_lines(server.rtmps_addr, server.https_addr, &app) {
            println!("{line}");
        }
        for line in onair::server::announce::lines(server.rtmp_addr, server.srt_addr, server.http_addr, server.webrtc_addr, &app) {
            println!("{line}");
        }
        tracing::info!("ready: publish to rtmp://{}/{app}/KEY, watch http://{}/live/KEY/index.m3u8", server.rtmp_addr, server.http_addr);
        tokio::signal::ctrl_c().await.context("cannot wait for Ctrl-C")?;
        tracing::info!("shutting down");
        anyhow::Ok(())
    })
}

/// With a display: the desktop app. Without one: the bundled server alone.
fn desktop() -> anyhow::Result<()> {
    let has_display = std::env::var_os("DISPLAY").is_some() || std::env::var_os("WAYLAND_DISPLAY").is_some();
    if has_display {
        onair::gui::run(onair::gui::GuiOptions::from_env())
    } else {
        onair::terminal::say("onair: no display found, so running the bundled server only (`onair serve`); `onair --help` lists the rest");
        serve(ServeArgs { config: None, rtmp: None, srt: None, http: None, webrtc: None, no_ladder: false, print_config: false })
    }
}

fn watch(url: String, seconds: f64) -> anyhow::Result<()> {
    let player = onair::player::HlsPreview::start(url.clone());
    let started = std::time::Instant::now();
    let (mut latencies, mut shown) = (Vec::new(), 0);
    while started.elapsed().as_secs_f64() < seconds {
        std::thread::sleep(std::time::Duration::from_millis(10));
        let status = player.status();
        if status.frames_decoded > shown {
            shown = status.frames_decoded;
            latencies.extend(status.latency_ms);
        }
    }
    let status = player.status();
    latencies.sort_unstable();
    let at = |p: f64| latencies.get(((latencies.len().saturating_sub(1)) as f64 * p).round() as usize).copied();
    let sound = match (status.av_offset_ms, &status.sound_error) {
        (Some(offset), _) => format!("; A/V offset {offset:.0} ms (sound after picture)"),
        (None, Some(error)) => format!("; no sound: {error}"),
        (None, None) => "; no beep heard".into(),
    };
    match (at(0.5), at(0.95)) {
        (Some(p50), Some(p95)) => {
            println!("glass-to-glass p50 {p50} ms, p95 {p95} ms over {} pictures ({} parts or segments) of {url}{sound}", latencies.len(), status.segments)
        }
        _ => anyhow::bail!("no stamped picture from {url} in {seconds} s{}", status.error.map(|e| format!(": {e}")).unwrap_or_default()),
    }
    Ok(())
}

fn devices() -> anyhow::Result<()> {
    match onair::capture::camera::list_cameras() {
        Ok(cameras) if cameras.is_empty() => println!("Cameras: none found. Use the test pattern: --video test"),
        Ok(cameras) => {
            println!("Cameras:");
            for camera in cameras {
                println!("  camera:{}  {}", camera.index, camera.name);
                for format in camera.formats {
                    println!("      {format}");
                }
            }
        }
        Err(error) => println!("Cameras: {error}. Use the test pattern: --video test"),
    }
    match onair::capture::microphone::list_microphones() {
        Ok(microphones) if microphones.is_empty() => println!("Microphones: none found. Use the test tone: --audio tone"),
        Ok(microphones) => {
            let (usable, unusable): (Vec<_>, Vec<_>) = microphones.into_iter().partition(|m| !m.default_config.starts_with("unusable"));
            if usable.is_empty() {
                println!("Microphones: none usable. Use the test tone: --audio tone");
            } else {
                println!("Microphones:");
            }
            for microphone in usable {
                println!("  mic:{}  ({})", microphone.name, microphone.default_config);
            }
            if !unusable.is_empty() {
                println!("  ({} more audio inputs are not usable right now)", unusable.len());
            }
        }
        Err(error) => println!("Microphones: {error}. Use the test tone: --audio tone"),
    }
    Ok(())
}

fn meter(mic: Option<String>, seconds: f64) -> anyhow::Result<()> {
    use onair::capture::AudioSource;
    use onair::capture::frames::AudioLevel;
    let clock = onair::capture::clock::CaptureClock::start();
    let mut microphone = onair::capture::microphone::Microphone::open(mic.as_deref(), clock)?;
    println!("listening to {}", microphone.describe());
    let started = std::time::Instant::now();
    let mut last_line = started;
    let mut samples = Vec::new();
    let print = |samples: &[i16]| {
        let level = AudioLevel::measure(samples);
        println!("peak {:6.1} dBFS  rms {:6.1} dBFS{}", level.peak_dbfs, level.rms_dbfs, if level.clipped() { "  CLIP" } else { "" });
    };
    while started.elapsed().as_secs_f64() < seconds {
        samples.extend(microphone.next_buffer()?.samples);
        if last_line.elapsed() >= std::time::Duration::from_millis(500) {
            print(&samples);
            samples.clear();
            last_line = std::time::Instant::now();
        }
    }
    if !samples.is_empty() {
        print(&samples);
    }
    Ok(())
}

/// Every mixer input's meter, twice a second: a sound check before going live.
fn meter_mix(inputs: &[onair::mixer::InputSpec], seconds: f64) -> anyhow::Result<()> {
    use onair::capture::AudioSource;
    let mut mixer = onair::mixer::Mixer::open(inputs, onair::capture::clock::CaptureClock::start());
    let control = mixer.control();
    println!("listening to the {}", mixer.describe());
    let started = std::time::Instant::now();
    let mut last_line = started;
    while started.elapsed().as_secs_f64() < seconds {
        mixer.next_buffer()?;
        if last_line.elapsed() >= std::time::Duration::from_millis(500) {
            let status = control.status();
            for input in &status.inputs {
                println!("{}", input.line());
            }
            if let Some(master) = status.master {
                println!("  mix | {:.0} dBFS peak {:.0} rms | limiter {:.1} dB", master.peak_dbfs, master.rms_dbfs, status.limiting_db);
            }
            last_line = std::time::Instant::now();
        }
    }
    Ok(())
}

fn publish(args: SourceArgs, targets: Vec<onair::publish::target::PublishTarget>) -> anyhow::Result<()> {
    use onair::engine::{Command as EngineCommand, Engine, EngineConfig};
    use onair::publish::shared::PublishState;

    let scenes = args.scene.iter().map(|path| onair::scene::Scene::load(path)).collect::<Result<Vec<_>, _>>()?;
    let video = scenes.first().map_or(args.video, |scene| onair::engine::VideoChoice::Scene(scene.clone()));
    let audio = if args.mix.is_empty() { args.audio } else { onair::engine::AudioChoice::Mix(args.mix.clone()) };
    let knob = onair::encode::quality::QualityKnob::new(args.quality, args.bitrate)?;
    let first = targets.first().cloned().ok_or_else(|| anyhow::anyhow!("--to names no target"))?;
    let mut config = EngineConfig::new(video, audio, first, knob);
    config.targets = targets.clone();
    config.keyframe_interval_secs = args.keyframe_interval;
    let shown: Vec<String> = targets.iter().map(|t| t.display()).collect();
    let engine = Engine::start(config)?;
    let interrupted = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = interrupted.clone();
    ctrlc_handler(move || flag.store(true, std::sync::atomic::Ordering::SeqCst))?;
    let (files, servers): (Vec<_>, Vec<_>) = targets.iter().partition(|t| matches!(t, onair::publish::target::PublishTarget::File(_)));
    let mut doing: Vec<String> = files.iter().map(|t| t.display()).collect();
    if !servers.is_empty() {
        doing.insert(0, format!("publishing to {}", servers.iter().map(|t| t.display()).collect::<Vec<_>>().join(" and ")));
    }
    onair::terminal::say(&format!("{} ({}), Ctrl-C to end", doing.join(" and "), engine.status().video_source));
    let switches = scene_switches(&scenes)?;
    let started = std::time::Instant::now();
    let mut last_line = std::time::Instant::now() - std::time::Duration::from_secs(1);
    loop {
        // A typed scene number goes on air at once; otherwise this paces the status line.
        if let Ok(index) = switches.recv_timeout(std::time::Duration::from_millis(100)) {
            engine.send(EngineCommand::ShowScene(scenes[index].clone(), args.transition));
        }
        let status = engine.status();
        if last_line.elapsed() >= std::time::Duration::from_millis(500) && status.state != PublishState::Idle && !status.state.is_over() {
            onair::terminal::show_status(&status.lines());
            last_line = std::time::Instant::now();
        }
        match &status.state {
            PublishState::Failed(failure) => {
                onair::terminal::end_status();
                anyhow::bail!("{failure}");
            }
            PublishState::Stopped => {
                onair::terminal::end_status();
                return Ok(());
            }
            _ => {}
        }
        let out_of_time = args.duration.is_some_and(|limit| started.elapsed().as_secs_f64() >= limit);
        if out_of_time || interrupted.load(std::sync::atomic::Ordering::SeqCst) {
            engine.send(EngineCommand::Stop);
            let last = engine.shutdown();
            onair::terminal::show_status(&last.lines());
            onair::terminal::end_status();
            if let PublishState::Failed(failure) = &last.state {
                anyhow::bail!("{failure}");
            }
            if last.uptime.is_zero() {
                anyhow::bail!("the stream never went live: it was still connecting to {}", shown.join(" and "));
            }
            return Ok(());
        }
    }
}

/// With several scenes, a line on stdin with a scene's number (from 1) switches to it.
fn scene_switches(scenes: &[onair::scene::Scene]) -> anyhow::Result<std::sync::mpsc::Receiver<usize>> {
    let (tx, rx) = std::sync::mpsc::channel();
    if scenes.len() < 2 {
        return Ok(rx);
    }
    let names: Vec<String> = scenes.iter().enumerate().map(|(i, s)| format!("{} {}", i + 1, s.name)).collect();
    onair::terminal::say(&format!("scenes: {}; type a number and Enter to switch", names.join(", ")));
    let count = scenes.len();
    std::thread::Builder::new().name("scene keys".into()).spawn(move || {
        for line in std::io::stdin().lines().map_while(Result::ok) {
            match line.trim().parse::<usize>() {
                Ok(number) if (1..=count).contains(&number) => {
                    if tx.send(number - 1).is_err() {
                        return;
                    }
                }
                _ => onair::terminal::say(&format!("scenes are 1 to {count}")),
            }
        }
    })?;
    Ok(rx)
}

/// Ctrl-C ends the stream cleanly instead of killing the process.
fn ctrlc_handler(on_interrupt: impl Fn() + Send + 'static) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    std::thread::Builder::new().name("signals".into()).spawn(move || {
        runtime.block_on(async {
            if tokio::signal::ctrl_c().await.is_ok() {
                on_interrupt();
            }
        })
    })?;
    Ok(())
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("ONAIR_LOG").unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).with_target(false).with_writer(onair::terminal::LogWriter).init();
}

/// Panics are bugs; they go to the log with their location instead of raw stderr.
fn install_panic_logger() {
    std::panic::set_hook(Box::new(|info| {
        tracing::error!("internal error (please report): {info}");
    }));
}

/// Segments are megabytes each and live for seconds. glibc raises its mmap
/// threshold after the first such buffer is freed, after which segments come
/// from the heap and fragment it; a fixed threshold keeps them mmapped, so a
/// segment that leaves the window goes back to the system.
fn return_large_buffers_to_the_system() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only tunes the allocator and is called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
    }
}
