//! HTTPS and RTMPS: ffmpeg publishes over RTMPS, curl, ffmpeg and Chromium
//! fetch over HTTPS checking a test CA's certificate, SIGHUP swaps in a
//! renewed certificate, and a bad certificate path stops the server naming it.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::player::{assert_played, one_at_a_time, play_in};
use common::test_ca::TestCa;
use common::{Publisher, Server, require, run, wait_for};

/// The names the server's certificates carry.
const LOCAL: &str = "DNS:localhost,IP:127.0.0.1";

/// The server's `[tls]` section and both TLS listeners on free ports; it
/// begins inside the `[rtmp]` section `Server::start` opens.
fn tls_config(ca: &TestCa, name: &str) -> String {
    format!(
        "tls_listen = \"127.0.0.1:0\"\n[http]\nlisten = \"127.0.0.1:0\"\ntls_listen = \"127.0.0.1:0\"\n[tls]\ncertificate = \"{}\"\nkey = \"{}\"\n[ladder]\nenabled = false\n",
        ca.path(&format!("{name}.pem")).display(),
        ca.path(&format!("{name}.key")).display()
    )
}

/// `https://127.0.0.1:PORT` as `https://localhost:PORT`, the name the certificate carries.
fn by_name(url: &str) -> String {
    url.replace("127.0.0.1", "localhost")
}

/// The serial of the certificate the server presents, as openssl's client sees it.
fn presented_serial(https: &str) -> Option<String> {
    let connect = https.trim_start_matches("https://");
    let script = format!("openssl s_client -connect {connect} -servername localhost </dev/null 2>/dev/null | openssl x509 -noout -serial");
    let output = Command::new("sh").args(["-c", &script]).output().ok()?;
    output.status.success().then(|| String::from_utf8_lossy(&output.stdout).trim().to_string())
}

#[test]
fn ffmpeg_publishes_over_rtmps_and_curl_ffmpeg_and_chromium_play_over_https() {
    let _one = one_at_a_time();
    require("curl");
    let ca = TestCa::new("play");
    ca.issue("server", LOCAL);
    let server = Server::start(&format!("{}[segments]\ntarget_ms = 1000\n", tls_config(&ca, "server")));
    let (rtmps, https) = (server.rtmps.clone().expect("an RTMPS listener"), by_name(server.https.as_deref().expect("an HTTPS listener")));
    let _publisher = Publisher::spawn(
        "-f lavfi -i testsrc2=size=640x360:rate=30 -f lavfi -i sine=frequency=440",
        "-c:v libx264 -preset veryfast -tune zerolatency -g 30 -pix_fmt yuv420p -c:a aac -t 40",
        &format!("{}/secure", by_name(&rtmps)),
    );
    wait_for("the RTMPS stream's playlist", Duration::from_secs(20), || server.get("/live/secure/index.m3u8"));

    let ca_file = ca.path("ca.pem");
    let ca_file = ca_file.to_str().unwrap();
    let master = format!("{https}/live/secure/index.m3u8");
    let (ok, body, error) = run("curl", &["-fsS", "--cacert", ca_file, &master]);
    assert!(ok && body.starts_with("#EXTM3U"), "curl over HTTPS with the test CA: {error}");
    let (ok, _, error) = run("curl", &["-fsS", &master]);
    assert!(!ok && error.contains("certificate"), "without the CA curl must refuse the certificate: {error}");

    // ffmpeg as a player: three seconds of the live stream, the certificate checked.
    let (ok, progress, error) = run(
        "ffmpeg",
        &[
            "-hide_banner",
            "-v",
            "error",
            "-tls_verify",
            "1",
            "-ca_file",
            ca_file,
            "-i",
            &master,
            "-t",
            "3",
            "-f",
            "null",
            "-",
            "-progress",
            "pipe:1",
            "-nostats",
        ],
    );
    let frames: u64 = progress.lines().filter_map(|l| l.strip_prefix("frame=")).next_back().and_then(|n| n.trim().parse().ok()).unwrap_or(0);
    assert!(ok && frames >= 60 && error.trim().is_empty(), "ffmpeg decoded {frames} frames over verified HTTPS: {error}");

    let spki = ca.spki_hash("server");
    let report = play_in(&format!("{https}/live/secure/"), "llhls", 6, &[], &[("ONAIR_CHROMIUM_TRUST_SPKI", &spki)]);
    assert_played(&report, 3.0);
}

#[test]
fn sighup_serves_a_renewed_certificate_and_a_broken_one_keeps_the_last() {
    require("openssl");
    let ca = TestCa::new("reload");
    let first = ca.issue("server", LOCAL);
    let server = Server::start(&tls_config(&ca, "server"));
    let https = server.https.clone().expect("an HTTPS listener");
    assert_eq!(presented_serial(&https).as_deref(), Some(first.as_str()));

    // certbot's renewal writes new files over the old ones, then signals.
    let renewed = ca.issue("renewed", LOCAL);
    assert_ne!(renewed, first);
    std::fs::copy(ca.path("renewed.pem"), ca.path("server.pem")).unwrap();
    std::fs::copy(ca.path("renewed.key"), ca.path("server.key")).unwrap();
    let hangup = || assert!(Command::new("kill").args(["-HUP", &server.pid().to_string()]).status().unwrap().success());
    hangup();
    wait_for("the renewed certificate", Duration::from_secs(10), || (presented_serial(&https).as_deref() == Some(renewed.as_str())).then_some(()));

    std::fs::write(ca.path("server.pem"), "half a file\n").unwrap();
    hangup();
    wait_for("the failed reload in the log", Duration::from_secs(10), || server.log().contains("not reloaded").then_some(()));
    assert!(server.log().contains("server.pem"), "the log names the file: {}", server.log());
    assert_eq!(presented_serial(&https).as_deref(), Some(renewed.as_str()), "the last good certificate stays");
    assert!(server.get("/api/streams").is_some(), "plain HTTP carries on");
}

#[test]
fn a_missing_certificate_file_stops_the_server_naming_it() {
    let dir = std::env::temp_dir().join(format!("onair-tls-missing-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("onair.toml");
    let missing = dir.join("no-such-cert.pem");
    std::fs::write(
        &config,
        format!(
            "[rtmp]\nlisten = \"127.0.0.1:0\"\n[http]\nlisten = \"127.0.0.1:0\"\ntls_listen = \"127.0.0.1:0\"\n[srt]\nlisten = \"127.0.0.1:0\"\n[webrtc]\nlisten = \"127.0.0.1:0\"\n[tls]\ncertificate = \"{}\"\nkey = \"{}\"\n",
            missing.display(),
            missing.display()
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_onair"))
        .args(["serve", "--config"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start onair serve");
    let status = wait_for("onair serve to exit", Duration::from_secs(20), || child.try_wait().ok().flatten());
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(!status.success(), "a server without its certificate must not start");
    assert!(stderr.contains("no-such-cert.pem") && stderr.contains("tls.certificate"), "the error names the file and the setting: {stderr}");
}
