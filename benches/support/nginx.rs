//! A plain nginx serving a directory on loopback: the peer for HTTP benchmarks.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::Killed;

pub struct Nginx {
    process: Killed,
    pub root: PathBuf,
    pub port: u16,
}

impl Nginx {
    /// nginx with `workers` worker processes, serving `root` with its usual
    /// static-file settings (sendfile, keep-alive), with room for `connections`.
    pub fn serve(root: &Path, workers: usize, connections: usize) -> Nginx {
        let prefix = root.with_extension("nginx");
        std::fs::create_dir_all(prefix.join("logs")).expect("nginx prefix");
        // nginx's workers drop to `nobody` unless told otherwise; they must read the files.
        // SAFETY: geteuid has no preconditions.
        let user = if unsafe { libc::geteuid() } == 0 { "user root root;" } else { "" };
        let port = free_port();
        let config = include_str!("nginx-static.conf")
            .replace("@USER@", user)
            .replace("@WORKERS@", &workers.to_string())
            .replace("@FILES@", &(connections + 64).to_string())
            .replace("@PREFIX@", &prefix.display().to_string())
            .replace("@PORT@", &port.to_string())
            .replace("@ROOT@", &root.display().to_string());
        let config_path = prefix.join("nginx.conf");
        std::fs::write(&config_path, config).expect("nginx.conf");
        let child = Command::new("nginx")
            .arg("-p")
            .arg(&prefix)
            .arg("-c")
            .arg(&config_path)
            .arg("-e")
            .arg(prefix.join("logs/error.log"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx is not installed: run packaging/setup.sh");
        let process = Killed(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "nginx did not start; see {}/logs/error.log", prefix.display());
            std::thread::sleep(Duration::from_millis(50));
        }
        Nginx { process, root: root.to_path_buf(), port }
    }
}

impl Nginx {
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }
}

impl Drop for Nginx {
    /// SIGTERM, so the master stops its workers too; SIGKILL (from `Killed`) after.
    fn drop(&mut self) {
        let pid = self.process.pid() as libc::pid_t;
        // SAFETY: signals our own child, which is not yet reaped.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline && matches!(self.process.0.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port()
}
