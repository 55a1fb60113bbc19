//! The real binary under Xvfb: the window opens, goes live with the test
//! sources through the bundled server, and a screenshot shows it (saved to
//! target/screenshots/ for people to look at).

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::{Xvfb, repo_path, require, run, wait_for};

#[test]
fn the_window_goes_live_and_is_not_blank() {
    require("import");
    let xvfb = Xvfb::start("1366x768");
    let display = xvfb.display.clone();
    let home = std::env::temp_dir().join(format!("onair-gui-home-{}", std::process::id()));
    std::fs::create_dir_all(&home).unwrap();
    let mut app = Command::new(env!("CARGO_BIN_EXE_onair"))
        .env("DISPLAY", &display)
        .env("HOME", &home)
        .env("XDG_DATA_HOME", home.join("data"))
        .env("ONAIR_TEST_SOURCES", "1")
        .env("ONAIR_GO_LIVE", "1")
        .env("NO_COLOR", "1")
        .env_remove("WAYLAND_DISPLAY")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start onair");
    let (tx, rx) = mpsc::channel();
    let stderr = app.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut log = String::new();
    wait_for("the app to go live", Duration::from_secs(60), || {
        while let Ok(line) = rx.try_recv() {
            log.push_str(&line);
            log.push('\n');
        }
        log.contains("state: live").then_some(())
    });
    // Let the stats, the source preview and the HLS output (a segment or two behind) fill in.
    std::thread::sleep(Duration::from_secs(8));
    let directory = repo_path("target/screenshots");
    std::fs::create_dir_all(&directory).unwrap();
    let png = directory.join("app-live.png");
    let (ok, _, stderr) = run("import", &["-display", &display, "-window", "root", &png.display().to_string()]);
    let _ = app.kill();
    let _ = app.wait();
    drop(xvfb);
    let _ = std::fs::remove_dir_all(&home);
    assert!(ok, "screenshot failed: {stderr}");
    let (_, colors, _) = run("identify", &["-format", "%k %[fx:standard_deviation]", &png.display().to_string()]);
    let mut fields = colors.split_whitespace();
    let unique: u64 = fields.next().and_then(|v| v.parse().ok()).unwrap_or(0);
    let deviation: f64 = fields.next().and_then(|v| v.parse().ok()).unwrap_or(0.0);
    assert!(unique > 200 && deviation > 0.05, "the screenshot looks blank: {unique} colours, deviation {deviation}; log:\n{log}");
}
