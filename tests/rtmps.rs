//! RTMPS: `onair publish` to an `rtmps://` endpoint (nginx's stream module
//! terminating TLS with a test certificate, in front of nginx-rtmp) with the
//! certificate's authority trusted; a certificate for another name or from
//! an authority not trusted fails at once with what is wrong, never a retry.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{NginxRtmp, require, run, wait_for};

/// A test authority and a certificate it issued for `localhost` only.
struct Certificates {
    directory: PathBuf,
}

impl Certificates {
    fn make(name: &str) -> Certificates {
        require("openssl");
        let directory = std::env::temp_dir().join(format!("onair-tls-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&directory).unwrap();
        let path = |file: &str| directory.join(file).display().to_string();
        let openssl = |args: &[&str]| {
            let (ok, _, stderr) = run("openssl", args);
            assert!(ok, "openssl {args:?}: {stderr}");
        };
        for ca in ["ca", "other-ca"] {
            openssl(&[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                &path(&format!("{ca}.key")),
                "-out",
                &path(&format!("{ca}.pem")),
                "-days",
                "2",
                "-subj",
                &format!("/CN=OnAir test {ca}"),
            ]);
        }
        openssl(&["req", "-newkey", "rsa:2048", "-nodes", "-keyout", &path("server.key"), "-out", &path("server.csr"), "-subj", "/CN=localhost"]);
        std::fs::write(directory.join("ext.cnf"), "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n").unwrap();
        openssl(&[
            "x509",
            "-req",
            "-in",
            &path("server.csr"),
            "-CA",
            &path("ca.pem"),
            "-CAkey",
            &path("ca.key"),
            "-CAcreateserial",
            "-out",
            &path("server.pem"),
            "-days",
            "2",
            "-extfile",
            &path("ext.cnf"),
        ]);
        Certificates { directory }
    }

    fn file(&self, name: &str) -> PathBuf {
        self.directory.join(name)
    }
}

impl Drop for Certificates {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.directory);
    }
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
    let certificates = Certificates::make("ok");
    let (nginx, tls_port) = NginxRtmp::start_tls("rtmps", &certificates.file("server.pem"), &certificates.file("server.key"));
    let (ok, stderr, _) = publish(&format!("rtmps://localhost:{tls_port}/live/secure"), &certificates.file("ca.pem"), "5");
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
    let certificates = Certificates::make("bad");
    let (_nginx, tls_port) = NginxRtmp::start_tls("rtmps-bad", &certificates.file("server.pem"), &certificates.file("server.key"));
    let cases = [
        (format!("rtmps://127.0.0.1:{tls_port}/live/x"), certificates.file("ca.pem"), "not valid for the name 127.0.0.1"),
        (format!("rtmps://localhost:{tls_port}/live/x"), certificates.file("other-ca.pem"), "issued by an authority this system does not trust"),
    ];
    for (url, roots, expected) in cases {
        let (ok, stderr, took) = publish(&url, &roots, "20");
        assert!(!ok, "{url} must fail: {stderr}");
        assert!(stderr.contains(expected), "{url}: the error says {expected:?}:\n{stderr}");
        assert!(!stderr.contains("reconnecting"), "{url}: no retry: {stderr}");
        assert!(took < Duration::from_secs(8), "{url}: it fails at once, not after retries ({took:?})");
    }
}
