//! RTMPS: `onair publish` to an `rtmps://` endpoint (nginx's stream module
//! terminating TLS with a test certificate, in front of nginx-rtmp) with the
//! certificate's authority trusted; a certificate for another name or from
//! an authority not trusted fails at once with what is wrong, never a retry.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::test_ca::TestCa;
use common::{NginxRtmp, run, wait_for};

/// A test authority, another one, and a certificate the first issued for `localhost` only.
fn certificates(name: &str) -> TestCa {
    let ca = TestCa::new(&format!("rtmps-{name}"));
    ca.authority("other-ca");
    ca.issue("server", "DNS:localhost");
    ca
}

/// `onair publish` to `url` trusting only the authorities in `roots`.
fn publish(url: &str, roots: &Path, seconds: &str) -> (bool, String, Duration) {
    let started = Instant::now();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_onair"))
        .args(["publish", "--video", "test", "--audio", "tone", "--quality", "1", "--duration", seconds, "--to", url])
        .env("SSL_CERT_FILE", roots)
        .env_remove("SSL_CERT_DIR")
        .output()
        .expect("run onair publish");
    (output.status.success(), String::from_utf8_lossy(&output.stderr).into_owned(), started.elapsed())
}

#[test]
fn onair_publish_goes_live_over_rtmps_to_nginx_behind_tls() {
    let certificates = certificates("ok");
    let (nginx, tls_port) = NginxRtmp::start_tls("rtmps", &certificates.path("server.pem"), &certificates.path("server.key"));
    let (ok, stderr, _) = publish(&format!("rtmps://localhost:{tls_port}/live/secure"), &certificates.path("ca.pem"), "5");
    assert!(ok, "{stderr}");
    assert!(stderr.contains(&format!("rtmps://localhost:{tls_port}/live/se")), "the target is shown as RTMPS: {stderr}");
    let recorded = nginx.recording("secure").display().to_string();
    let probe = wait_for("nginx-rtmp to close the recording", Duration::from_secs(10), || {
        let (ok, probe, _) = run("ffprobe", &["-v", "error", "-show_entries", "stream=codec_name,width,height", "-of", "compact", &recorded]);
        (ok && probe.contains("aac")).then_some(probe)
    });
    assert!(probe.contains("codec_name=h264|width=640|height=360"), "{probe}");
    let frames = common::decode_count(&recorded, "v");
    assert!(frames >= 100, "{frames} frames arrived through TLS");
}

#[test]
fn a_certificate_for_another_name_or_from_an_untrusted_authority_fails_at_once_saying_why() {
    let certificates = certificates("bad");
    let (_nginx, tls_port) = NginxRtmp::start_tls("rtmps-bad", &certificates.path("server.pem"), &certificates.path("server.key"));
    let cases = [
        (format!("rtmps://127.0.0.1:{tls_port}/live/x"), certificates.path("ca.pem"), "not valid for the name 127.0.0.1"),
        (format!("rtmps://localhost:{tls_port}/live/x"), certificates.path("other-ca.pem"), "issued by an authority this system does not trust"),
    ];
    for (url, roots, expected) in cases {
        let (ok, stderr, took) = publish(&url, &roots, "20");
        assert!(!ok, "{url} must fail: {stderr}");
        assert!(stderr.contains(expected), "{url}: the error says {expected:?}:\n{stderr}");
        assert!(!stderr.contains("reconnecting"), "{url}: no retry: {stderr}");
        assert!(took < Duration::from_secs(8), "{url}: it fails at once, not after retries ({took:?})");
    }
}
