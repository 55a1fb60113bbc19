//! The stamped test pattern published by `onair publish`, and the browser
//! harness (tests/browser/play.mjs) that plays a page in headless Chromium.

use std::process::{Child, Command, Stdio};

use super::{Server, repo_path, require};

/// `onair publish` of the stamped test pattern; killed on drop.
pub struct Engine(Child);

impl Engine {
    pub fn start(server: &Server, key: &str, seconds: u32) -> Engine {
        Engine::with_quality(server, key, seconds, 1)
    }

    pub fn with_quality(server: &Server, key: &str, seconds: u32, quality: u8) -> Engine {
        Engine::to(&server.rtmp_url(key), seconds, quality)
    }

    pub fn to(url: &str, seconds: u32, quality: u8) -> Engine {
        let child = Command::new(env!("CARGO_BIN_EXE_onair"))
            .args(["publish", "--video", "test", "--audio", "tone", "--quality", &quality.to_string(), "--duration", &seconds.to_string()])
            .args(["--to", url])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start onair publish");
        Engine(child)
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One browser test at a time: each runs a real-time publisher and Chromium,
/// and two of them side by side overload a two-core machine and measure that.
static ONE_BROWSER_TEST: std::sync::Mutex<()> = std::sync::Mutex::new(());

pub fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_BROWSER_TEST.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Runs the browser harness; returns its JSON report.
pub fn play(page: &str, mode: &str, seconds: u32) -> serde_json::Value {
    play_with(page, mode, seconds, &[])
}

pub fn play_with(page: &str, mode: &str, seconds: u32, extra: &[&str]) -> serde_json::Value {
    play_in(page, mode, seconds, extra, &[])
}

/// `play_with`, the harness run with `env` added (`ONAIR_CHROMIUM_TRUST_SPKI`).
pub fn play_in(page: &str, mode: &str, seconds: u32, extra: &[&str], env: &[(&str, &str)]) -> serde_json::Value {
    require("node");
    assert!(std::path::Path::new("/usr/bin/chromium").exists(), "Chromium is not installed: run packaging/setup.sh");
    assert!(repo_path("node_modules/playwright-core").exists(), "playwright-core is not installed: run packaging/setup.sh");
    let output = Command::new("node")
        .arg(repo_path("tests/browser/play.mjs"))
        .args([page, mode, &seconds.to_string()])
        .args(extra)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "play.mjs failed: {}\n{stdout}", String::from_utf8_lossy(&output.stderr));
    let line = stdout.lines().rev().find(|l| l.starts_with('{')).unwrap_or_else(|| panic!("no report from play.mjs: {stdout}"));
    serde_json::from_str(line).expect("play.mjs report is JSON")
}

pub fn assert_played(report: &serde_json::Value, at_least: f64) {
    let advanced = report["advanced"].as_f64().unwrap_or(0.0);
    assert!(advanced >= at_least, "video advanced {advanced} s: {report}");
    assert!(report["decodedFrames"].as_u64().unwrap_or(0) > 0, "{report}");
    assert_eq!(report["errors"].as_array().map_or(1, Vec::len), 0, "player errors: {report}");
}

pub fn page_of(server: &Server, key: &str) -> String {
    let page = server.url(&format!("/live/{key}/"));
    let html = server.get(&format!("/live/{key}/")).expect("the player page");
    assert!(html.contains("hls.js dash.js"), "the players are built in");
    page
}
