//! The CLI as a user meets it: failures that say what happened and exit
//! non-zero, no C library chatter on stderr, one style for bad arguments.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::Server;

fn onair(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_onair")).args(args).stdin(Stdio::null()).output().expect("run onair")
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn publishing_to_a_closed_port_says_could_not_connect_and_fails() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let started = Instant::now();
    let output = onair(&["publish", "--to", &format!("rtmp://127.0.0.1:{port}/live/x"), "--duration", "30"]);
    let text = stderr(&output);
    assert!(!output.status.success(), "{text}");
    assert!(started.elapsed() < Duration::from_secs(10), "it gave up after {:?}", started.elapsed());
    assert!(text.contains(&format!("could not connect to 127.0.0.1:{port}")), "{text}");
    assert!(!text.contains("reconnecting") && !text.contains("retrying"), "a target that never answered is not a reconnect: {text}");
}

#[test]
fn devices_prints_nothing_on_stderr() {
    let output = onair(&["devices"]);
    assert!(output.status.success());
    assert_eq!(stderr(&output), "", "stdout was:\n{}", String::from_utf8_lossy(&output.stdout));
    let listed = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(!listed.contains("Discard all samples"), "ALSA's null device is not a microphone:\n{listed}");
}

#[test]
fn a_publish_prints_no_encoder_chatter() {
    let server = Server::start("");
    let output = onair(&["publish", "--to", &server.rtmp_url("quiet"), "--duration", "3"]);
    let text = stderr(&output);
    assert!(output.status.success(), "{text}");
    assert!(text.contains("live"), "{text}");
    assert!(!text.contains("OpenH264") && !text.contains("ALSA lib"), "{text}");
}

#[test]
fn bad_arguments_share_one_message_style() {
    for (args, says) in [
        (vec!["--quality", "9"], "quality 9 does not exist; choose 1 to 5"),
        (vec!["--quality", "300"], "quality 300 does not exist; choose 1 to 5"),
        (vec!["--video", "webcam"], "use test, camera or camera:ID"),
        (vec!["--audio", "mic:"], "use tone, mic, mic:NAME or none"),
    ] {
        let mut all = vec!["publish", "--to", "rtmp://127.0.0.1:1/live/x"];
        all.extend(&args);
        let output = onair(&all);
        let text = stderr(&output);
        assert!(!output.status.success());
        assert!(text.starts_with("error: invalid value") && text.contains(says), "{args:?}: {text}");
    }
}
