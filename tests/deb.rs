//! The .deb a person installs: `packaging/build-deb.sh` packages this build's
//! binary, apt installs it on this machine, the installed program runs from
//! /usr/bin, Debian's own validators accept its desktop entry, AppStream
//! metadata and systemd unit, and it removes cleanly.

mod common;

use std::path::Path;
use std::process::Command;

use common::{repo_path, require, run};

fn root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

#[test]
fn the_package_installs_runs_validates_and_removes_cleanly() {
    for tool in ["dpkg-deb", "dpkg-shlibdeps", "desktop-file-validate", "appstreamcli", "systemd-analyze", "apt-get"] {
        require(tool);
    }
    assert!(root(), "installing the .deb needs root: run the test suite as root (or with sudo)");
    assert!(!installed(), "an onair package is installed already: remove it first (apt-get purge onair)");

    let build = Command::new(repo_path("packaging/build-deb.sh")).args(["--binary", env!("CARGO_BIN_EXE_onair")]).output().expect("run build-deb.sh");
    let stdout = String::from_utf8_lossy(&build.stdout);
    assert!(build.status.success(), "build-deb.sh failed: {}", String::from_utf8_lossy(&build.stderr));
    let deb = repo_path(stdout.lines().last().expect("build-deb.sh names the package"));
    assert!(deb.exists(), "{} was not written", deb.display());

    let (ok, fields, error) = run("dpkg-deb", &["-f", deb.to_str().unwrap(), "Depends"]);
    assert!(ok, "{error}");
    for library in ["libavcodec", "libswscale", "libsrt", "libopus0"] {
        assert!(fields.contains(library), "{library} is opened at run time and must be a dependency: {fields}");
    }

    let (ok, _, error) = run("apt-get", &["install", "-y", "-qq", "--no-install-recommends", deb.to_str().unwrap()]);
    let removed = Removal;
    assert!(ok, "apt-get install {} failed: {error}", deb.display());

    let (ok, version, error) = run("/usr/bin/onair", &["--version"]);
    assert!(ok && version.contains(env!("CARGO_PKG_VERSION")), "/usr/bin/onair --version: {version} {error}");
    let (ok, config, error) = run("/usr/bin/onair", &["serve", "--config", "/etc/onair/onair.toml", "--print-config"]);
    assert!(ok && config.contains("[limits]") && config.contains("127.0.0.1:8080"), "the installed config: {config} {error}");
    let (ok, user, _) = run("getent", &["passwd", "onair"]);
    assert!(ok && user.contains("/var/lib/onair"), "the service's user: {user}");

    let (ok, _, error) = run("desktop-file-validate", &["/usr/share/applications/onair.desktop"]);
    assert!(ok && error.trim().is_empty(), "desktop-file-validate: {error}");
    assert!(Path::new("/usr/share/icons/hicolor/scalable/apps/onair.svg").exists(), "the desktop entry's icon");
    let (ok, out, error) = run("appstreamcli", &["validate", "--no-net", "/usr/share/metainfo/org.onair.Studio.metainfo.xml"]);
    assert!(ok, "appstreamcli validate: {out} {error}");
    let (ok, out, error) = run("systemd-analyze", &["verify", "/lib/systemd/system/onair.service"]);
    assert!(ok && error.trim().is_empty(), "systemd-analyze verify: {out} {error}");

    drop(removed);
    assert!(!installed(), "onair is still installed after apt-get purge");
    for path in ["/usr/bin/onair", "/lib/systemd/system/onair.service", "/usr/share/applications/onair.desktop", "/etc/onair/onair.toml"] {
        assert!(!Path::new(path).exists(), "{path} is left after apt-get purge");
    }
}

fn installed() -> bool {
    let (_, status, _) = run("dpkg-query", &["-W", "-f=${Status}", "onair"]);
    status.contains("install ok installed")
}

/// Purges the package however the test ends.
struct Removal;

impl Drop for Removal {
    fn drop(&mut self) {
        let _ = Command::new("apt-get").args(["purge", "-y", "-qq", "onair"]).output();
    }
}
