//! Helpers for tests that run the real `onair` binary against real peers.
#![allow(dead_code)]

pub mod edge;
pub mod player;
pub mod relay;
pub mod test_ca;

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Fails the test with a pointer to setup.sh when a tool is missing.
pub fn require(tool: &str) {
    let found = Command::new("sh").arg("-c").arg(format!("command -v {tool}")).stdout(Stdio::null()).status().is_ok_and(|s| s.success());
    assert!(found, "`{tool}` is not installed: run packaging/setup.sh");
}

/// Polls `condition` until it returns Some or the deadline passes.
pub fn wait_for<T>(what: &str, timeout: Duration, mut condition: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = condition() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub struct Server {
    child: Child,
    pub rtmp: String,
    /// `srt://127.0.0.1:PORT`
    pub srt: String,
    pub http: String,
    /// `udp://127.0.0.1:PORT`, where WebRTC media flows.
    pub webrtc: Option<String>,
    /// `rtmps://127.0.0.1:PORT/live` and `https://127.0.0.1:PORT`, when configured.
    pub rtmps: Option<String>,
    pub https: Option<String>,
    pub log: std::sync::Arc<std::sync::Mutex<String>>,
    _config: tempfile_path::TempPath,
}

mod tempfile_path {
    pub struct TempPath(pub std::path::PathBuf);
    impl Drop for TempPath {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

impl Server {
    /// Starts `onair serve` on free loopback ports with `config` (TOML) appended.
    pub fn start(config: &str) -> Server {
        Server::start_exact(&format!("[rtmp]\nlisten = \"127.0.0.1:0\"\n{config}"))
    }

    /// Starts `onair serve` with exactly this config (HTTP on a free port unless it says otherwise).
    pub fn start_exact(config: &str) -> Server {
        let path = std::env::temp_dir().join(format!("onair-test-{}-{}.toml", std::process::id(), unique()));
        let http = if config.contains("[http]") { String::new() } else { "[http]\nlisten = \"127.0.0.1:0\"\n".to_string() };
        let srt = if config.contains("[srt]") { String::new() } else { "[srt]\nlisten = \"127.0.0.1:0\"\n".to_string() };
        let webrtc = if config.contains("[webrtc]") { String::new() } else { "[webrtc]\nlisten = \"127.0.0.1:0\"\n".to_string() };
        let toml = format!("{http}{srt}{webrtc}{config}");
        std::fs::write(&path, toml).expect("write test config");
        let mut child = Command::new(env!("CARGO_BIN_EXE_onair"))
            .args(["serve", "--config"])
            .arg(&path)
            .env("ONAIR_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start onair serve");
        let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let stderr = child.stderr.take().expect("stderr");
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap().push_str(&(line + "\n"));
            }
        });
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut reader = onair::server::announce::AnnouncementReader::default();
        let deadline = Instant::now() + Duration::from_secs(20);
        let announced = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = rx.recv_timeout(left).unwrap_or_else(|_| panic!("onair serve did not report its addresses; log:\n{}", log.lock().unwrap()));
            if let Some(announced) = reader.read(&line) {
                break announced;
            }
        };
        Server {
            child,
            rtmp: announced.rtmp,
            srt: announced.srt,
            http: announced.http,
            webrtc: announced.webrtc,
            rtmps: announced.rtmps,
            https: announced.https,
            log,
            _config: tempfile_path::TempPath(path),
        }
    }

    pub fn rtmp_url(&self, key: &str) -> String {
        format!("{}/{key}", self.rtmp)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.http)
    }

    pub fn get(&self, path: &str) -> Option<String> {
        get_text(&self.url(path))
    }

    /// The stream's HLS master playlist; None until it exists, a panic if it does not parse.
    pub fn master_playlist(&self, key: &str) -> Option<m3u8_rs::MasterPlaylist> {
        let text = self.get(&format!("/live/{key}/index.m3u8"))?;
        match m3u8_rs::parse_playlist_res(text.as_bytes()) {
            Ok(m3u8_rs::Playlist::MasterPlaylist(master)) => Some(master),
            other => panic!("not a master playlist: {other:?}\n{text}"),
        }
    }

    /// A rendition's media playlist; None until it exists, a panic if it does not parse.
    pub fn media_playlist(&self, key: &str, rendition: &str) -> Option<m3u8_rs::MediaPlaylist> {
        let text = self.get(&format!("/live/{key}/{rendition}/playlist.m3u8"))?;
        match m3u8_rs::parse_playlist_res(text.as_bytes()) {
            Ok(m3u8_rs::Playlist::MediaPlaylist(media)) => Some(media),
            other => panic!("not a media playlist: {other:?}\n{text}"),
        }
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Whether the server process has a library whose file name starts with `stem` mapped (from /proc/PID/maps).
    pub fn maps_library(&self, stem: &str) -> bool {
        let maps = std::fs::read_to_string(format!("/proc/{}/maps", self.child.id())).expect("the server's /proc/PID/maps");
        maps.lines().filter_map(|line| line.split_whitespace().nth(5)).any(|path| path.rsplit('/').next().is_some_and(|name| name.starts_with(stem)))
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    COUNTER.fetch_add(1, Ordering::SeqCst)
}

/// GET a URL; None unless the status is 200.
pub fn get_text(url: &str) -> Option<String> {
    let mut response = ureq::get(url).call().ok()?;
    response.body_mut().read_to_string().ok()
}

pub fn get_bytes(url: &str) -> Option<Vec<u8>> {
    let mut response = ureq::get(url).call().ok()?;
    let mut out = Vec::new();
    response.body_mut().as_reader().read_to_end(&mut out).ok()?;
    Some(out)
}

/// The status of a GET, following nothing.
pub fn status(url: &str) -> u16 {
    match ureq::get(url).call() {
        Ok(response) => response.status().as_u16(),
        Err(ureq::Error::StatusCode(code)) => code,
        Err(other) => panic!("GET {url} failed: {other}"),
    }
}

/// An ffmpeg that publishes a synthetic stream; killed on drop.
pub struct Publisher(pub Child);

impl Publisher {
    /// `ffmpeg -re` with lavfi inputs, then `output_args`, to `url`.
    pub fn spawn(input_args: &str, output_args: &str, url: &str) -> Publisher {
        Publisher::spawn_as(input_args, output_args, "flv", url)
    }

    /// ffmpeg publishing in container `format` (`flv` for RTMP, `mpegts` for SRT).
    pub fn spawn_as(input_args: &str, output_args: &str, format: &str, url: &str) -> Publisher {
        require("ffmpeg");
        let mut args: Vec<String> = vec!["-hide_banner".into(), "-loglevel".into(), "error".into(), "-re".into()];
        args.extend(input_args.split_whitespace().map(String::from));
        args.extend(output_args.split_whitespace().map(String::from));
        args.extend(["-f".into(), format.into(), url.into()]);
        let child = Command::new("ffmpeg").args(&args).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("start ffmpeg");
        Publisher(child)
    }

    /// Waits for ffmpeg to exit; returns (success, stderr).
    pub fn finish(mut self, timeout: Duration) -> (bool, String) {
        let status = wait_for("ffmpeg publisher to exit", timeout, || self.0.try_wait().ok().flatten());
        let mut stderr = String::new();
        if let Some(mut pipe) = self.0.stderr.take() {
            let _ = pipe.read_to_string(&mut stderr);
        }
        (status.success(), stderr)
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs a command to completion and returns (success, stdout, stderr).
pub fn run(program: &str, args: &[&str]) -> (bool, String, String) {
    require(program);
    let output = Command::new(program).args(args).stdin(Stdio::null()).output().unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    (output.status.success(), String::from_utf8_lossy(&output.stdout).into_owned(), String::from_utf8_lossy(&output.stderr).into_owned())
}

/// Decodes `url` with `ffmpeg -xerror`; returns the number of video frames (or audio frames if `stream` is "a").
pub fn decode_count(url: &str, stream: &str) -> u64 {
    let map = format!("0:{stream}:0");
    let (ok, stdout, stderr) =
        run("ffmpeg", &["-hide_banner", "-v", "error", "-xerror", "-i", url, "-map", &map, "-f", "null", "-", "-progress", "pipe:1", "-nostats"]);
    assert!(ok, "ffmpeg -xerror failed to decode {url}:\n{stderr}");
    assert!(stderr.trim().is_empty(), "ffmpeg reported errors decoding {url}:\n{stderr}");
    let frames = stdout.lines().filter_map(|l| l.strip_prefix("frame=")).next_back();
    match frames {
        Some(count) => count.trim().parse().expect("frame count"),
        None => stdout.lines().filter(|l| l.starts_with("out_time_us=")).count() as u64,
    }
}

pub fn repo_path(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// Flash times (video frames with mean luma over 200) and beep onsets (audio
/// peaks over -12 dBFS after quiet) in a decoded output, on one timeline.
pub fn flashes_and_beeps(url: &str) -> (Vec<f64>, Vec<f64>) {
    let escaped = url.replace(':', "\\\\:");
    let graph = format!("movie={escaped}:s=dv+da[v][a];[v]signalstats[out0];[a]asetnsamples=n=48,astats=metadata=1:reset=1[out1]");
    let (ok, stdout, stderr) = run(
        "ffprobe",
        &[
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            &graph,
            "-show_entries",
            "frame=media_type,pts_time:frame_tags=lavfi.signalstats.YAVG,lavfi.astats.Overall.Peak_level",
            "-of",
            "csv=p=0",
        ],
    );
    assert!(ok, "ffprobe could not analyse {url}: {stderr}");
    let mut flashes = Vec::new();
    let mut beeps = Vec::new();
    let mut quiet = true;
    let mut previous_flash = false;
    for line in stdout.lines() {
        let fields: Vec<&str> = line.split(',').collect();
        if fields.len() < 3 {
            continue;
        }
        let Ok(time) = fields[1].parse::<f64>() else { continue };
        let value = fields[2].parse::<f64>().unwrap_or(-200.0);
        match fields[0] {
            "video" => {
                let flash = value > 200.0;
                if flash && !previous_flash {
                    flashes.push(time);
                }
                previous_flash = flash;
            }
            "audio" => {
                if value > -12.0 && quiet {
                    beeps.push(time);
                    quiet = false;
                } else if value < -15.0 {
                    quiet = true;
                }
            }
            _ => {}
        }
    }
    (flashes, beeps)
}

/// Each flash after the first second paired with the nearest beep: the A/V offsets in seconds.
pub fn av_offsets(url: &str) -> Vec<f64> {
    let (flashes, beeps) = flashes_and_beeps(url);
    assert!(flashes.len() >= 3 && beeps.len() >= 3, "too few flashes ({flashes:?}) or beeps ({beeps:?}) in {url}");
    flashes
        .iter()
        .filter(|&&flash| flash >= 1.0)
        .filter_map(|&flash| beeps.iter().map(|&beep| beep - flash).min_by(|a, b| a.abs().total_cmp(&b.abs())))
        .collect()
}

/// One frame at 30 fps, and 2 ms for where the onset detector puts a beep.
pub const ONE_FRAME: f64 = 1.0 / 30.0 + 0.002;

/// Every flash that has a beep near it is within one frame of it; the last
/// flash may have lost its beep when the stream ended.
pub fn assert_in_sync(offsets: &[f64]) {
    let matched: Vec<f64> = offsets.iter().copied().filter(|d| d.abs() < 0.5).collect();
    assert!(matched.len() + 1 >= offsets.len() && matched.len() >= 8, "flashes without beeps: {offsets:?}");
    assert!(matched.iter().all(|d| d.abs() <= ONE_FRAME), "beeps versus flashes: {offsets:?}");
}

/// A free loopback TCP port.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A fragment's decode time (tfdt) and its samples' durations.
pub type FragmentTiming = (u64, Vec<u32>);
/// A segment's number and its fragments' timing.
pub type SegmentTiming = (u64, Vec<FragmentTiming>);

/// One segment's fragments, read with mp4-atom: each fragment's decode
/// time (tfdt) and its samples' durations (tfhd defaults applied).
pub fn fragment_timing(segment: &[u8]) -> Vec<FragmentTiming> {
    use mp4_atom::{Decode, Mdat, Moof};
    let mut buf = segment;
    let mut fragments = Vec::new();
    while !buf.is_empty() {
        let moof = Moof::decode(&mut buf).expect("a moof");
        Mdat::decode(&mut buf).expect("its mdat");
        let traf = &moof.traf[0];
        let tfdt = traf.tfdt.as_ref().expect("tfdt").base_media_decode_time;
        let default = traf.tfhd.default_sample_duration;
        let durations = traf.trun.iter().flat_map(|trun| trun.samples.iter()).map(|s| s.duration.or(default).expect("a sample duration")).collect();
        fragments.push((tfdt, durations));
    }
    fragments
}

/// Every listed segment of `rendition` of an ended stream, in order: its
/// number and its fragments' timing.
pub fn listed_segment_timing(server: &Server, key: &str, rendition: &str) -> Vec<SegmentTiming> {
    let playlist = server.media_playlist(key, rendition).expect("the media playlist");
    let first = playlist.media_sequence;
    playlist
        .segments
        .iter()
        .enumerate()
        .map(|(i, segment)| {
            let bytes = get_bytes(&server.url(&format!("/live/{key}/{rendition}/{}", segment.uri))).expect("a listed segment");
            (first + i as u64, fragment_timing(&bytes))
        })
        .collect()
}

/// Checks a track's timeline is continuous: each fragment's tfdt is the
/// first's plus every sample duration before it, exactly.
pub fn assert_tfdt_is_the_sum_of_durations(segments: &[SegmentTiming]) {
    let mut expected: Option<u64> = None;
    for (number, fragments) in segments {
        for (tfdt, durations) in fragments {
            if let Some(expected) = expected {
                assert_eq!(*tfdt, expected, "segment {number}: tfdt is the sum of the durations before it");
            }
            expected = Some(tfdt + durations.iter().map(|&d| u64::from(d)).sum::<u64>());
        }
    }
}

/// Every sample duration of `segments`, in order.
pub fn all_durations(segments: &[SegmentTiming]) -> Vec<u32> {
    segments.iter().flat_map(|(_, fragments)| fragments).flat_map(|(_, durations)| durations.iter().copied()).collect()
}

/// A single-process nginx with the RTMP module, recording every stream it
/// gets to `DIR/record/KEY.flv`; stopped on drop.
pub struct NginxRtmp {
    child: Child,
    pub port: u16,
    pub directory: PathBuf,
}

impl NginxRtmp {
    pub fn start(name: &str) -> NginxRtmp {
        NginxRtmp::launch(name, None)
    }

    /// With nginx's stream module in front, terminating TLS on the port returned
    /// with `certificate` and `key` (PEM files) and passing RTMP on: an RTMPS endpoint.
    pub fn start_tls(name: &str, certificate: &std::path::Path, key: &std::path::Path) -> (NginxRtmp, u16) {
        let tls_port = free_port();
        let nginx = NginxRtmp::launch(name, Some((tls_port, certificate, key)));
        wait_for("nginx to listen for TLS", Duration::from_secs(10), || std::net::TcpStream::connect(("127.0.0.1", tls_port)).ok());
        (nginx, tls_port)
    }

    fn launch(name: &str, tls: Option<(u16, &std::path::Path, &std::path::Path)>) -> NginxRtmp {
        require("nginx");
        let directory = std::env::temp_dir().join(format!("onair-nginx-{name}-{}", std::process::id()));
        std::fs::create_dir_all(directory.join("record")).unwrap();
        let module = |file: &str| {
            ["/usr/lib/nginx/modules", "/usr/share/nginx/modules"]
                .into_iter()
                .map(|dir| format!("{dir}/{file}"))
                .find(|p| std::path::Path::new(p).exists())
                .unwrap_or_else(|| panic!("nginx's {file} is not installed: run packaging/setup.sh"))
        };
        let port = free_port();
        // nginx wants every load_module before the blocks.
        let (mut modules, mut stream) = (format!("load_module {};\n", module("ngx_rtmp_module.so")), String::new());
        if let Some((tls_port, certificate, key)) = tls {
            modules += &format!("load_module {};\n", module("ngx_stream_module.so"));
            stream = format!(
                "stream {{ server {{ listen 127.0.0.1:{tls_port} ssl; ssl_certificate {}; ssl_certificate_key {}; proxy_pass 127.0.0.1:{port}; }} }}\n",
                certificate.display(),
                key.display()
            );
        }
        let config = format!(
            "{modules}daemon off;\nmaster_process off;\nworker_processes 1;\npid {dir}/nginx.pid;\nerror_log {dir}/error.log warn;\n\
             events {{ worker_connections 64; }}\n{stream}rtmp {{ server {{ listen 127.0.0.1:{port}; application live {{ live on; record all; record_path {dir}/record; record_unique off; }} }} }}\n",
            dir = directory.display()
        );
        std::fs::write(directory.join("nginx.conf"), config).unwrap();
        let child = Command::new("nginx")
            .args([
                "-p",
                &directory.display().to_string(),
                "-c",
                &directory.join("nginx.conf").display().to_string(),
                "-e",
                &directory.join("error.log").display().to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nginx");
        wait_for("nginx to listen", Duration::from_secs(10), || std::net::TcpStream::connect(("127.0.0.1", port)).ok());
        NginxRtmp { child, port, directory }
    }

    /// Where nginx records stream `key`.
    pub fn recording(&self, key: &str) -> PathBuf {
        self.directory.join("record").join(format!("{key}.flv"))
    }
}

impl Drop for NginxRtmp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.directory);
    }
}

/// Every video frame of `url` decoded to I420 at its own size (which must be `width` × `height`).
pub fn decode_i420(url: &str, width: usize, height: usize) -> Vec<Vec<u8>> {
    require("ffmpeg");
    let output = Command::new("ffmpeg")
        // Passthrough: the frames as they are, none duplicated into a gap.
        .args(["-hide_banner", "-v", "error", "-i", url, "-map", "0:v:0", "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "yuv420p", "pipe:1"])
        .stdin(Stdio::null())
        .output()
        .expect("run ffmpeg");
    assert!(output.status.success(), "ffmpeg could not decode {url}: {}", String::from_utf8_lossy(&output.stderr));
    let size = width * height * 3 / 2;
    assert!(output.stdout.len().is_multiple_of(size), "{url} is not {width}x{height}: {} bytes", output.stdout.len());
    output.stdout.chunks_exact(size).map(<[u8]>::to_vec).collect()
}

/// (Y, U, V) of the pixel at (x, y) of an I420 frame.
pub fn yuv_at(frame: &[u8], width: usize, height: usize, x: usize, y: usize) -> (u8, u8, u8) {
    let luma = width * height;
    let chroma = (y / 2) * (width / 2) + x / 2;
    (frame[y * width + x], frame[luma + chroma], frame[luma + luma / 4 + chroma])
}

/// A virtual X display of its own, stopped when dropped.
pub struct Xvfb {
    child: Child,
    pub display: String,
}

impl Xvfb {
    /// `size` as WIDTHxHEIGHT; the root window is black.
    pub fn start(size: &str) -> Xvfb {
        require("Xvfb");
        require("xdpyinfo");
        let display = format!(":{}", 90 + (std::process::id() + unique() as u32) % 400);
        let child = Command::new("Xvfb")
            .args([&display, "-screen", "0", &format!("{size}x24"), "-br", "-nolisten", "tcp"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start Xvfb");
        let xvfb = Xvfb { child, display };
        wait_for("Xvfb", Duration::from_secs(10), || {
            Command::new("xdpyinfo").args(["-display", &xvfb.display]).stdout(Stdio::null()).stderr(Stdio::null()).status().ok().filter(|s| s.success())
        });
        xvfb
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A PulseAudio daemon of the test's own, with null sinks; stopped when dropped.
pub struct Pulse {
    daemon: Child,
    pub runtime: std::path::PathBuf,
}

impl Pulse {
    /// One null sink, `onair_test`, whose monitor is the default source.
    pub fn start() -> Pulse {
        Pulse::with_sinks(&["onair_test"])
    }

    /// Null sinks by these names; the first one's monitor is the default source.
    pub fn with_sinks(sinks: &[&str]) -> Pulse {
        require("pulseaudio");
        require("pactl");
        require("paplay");
        // One daemon per test: tests of this file run side by side.
        static STARTED: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let instance = STARTED.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let runtime = std::env::temp_dir().join(format!("onair-pulse-{}-{instance}", std::process::id()));
        std::fs::create_dir_all(&runtime).unwrap();
        let socket = runtime.join("native");
        let daemon = Command::new("pulseaudio")
            .args(["--daemonize=no", "--exit-idle-time=-1", "--disallow-exit", "-n", "--log-target=stderr"])
            .args(sinks.iter().map(|sink| format!("--load=module-null-sink sink_name={sink}")))
            .arg(format!("--load=module-native-protocol-unix socket={} auth-anonymous=1", socket.display()))
            .env("XDG_RUNTIME_DIR", &runtime)
            .env("HOME", &runtime)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start pulseaudio");
        let pulse = Pulse { daemon, runtime };
        wait_for("PulseAudio to accept clients", Duration::from_secs(15), || {
            pulse.command("pactl").args(["set-default-source", &format!("{}.monitor", sinks[0])]).status().ok().filter(|s| s.success())
        });
        pulse
    }

    /// A command that talks to this PulseAudio.
    pub fn command(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        command
            .env("PULSE_SERVER", format!("unix:{}", self.runtime.join("native").display()))
            .env("XDG_RUNTIME_DIR", &self.runtime)
            .env("HOME", &self.runtime)
            .stdin(Stdio::null());
        command
    }
}

impl Drop for Pulse {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
        let _ = std::fs::remove_dir_all(&self.runtime);
    }
}
