//! nginx started with the shipped edge configuration
//! (`packaging/edge/onair-edge.conf`), its three marked values pointed at
//! a test's origin, a free port and a scratch directory.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{free_port, repo_path, require, wait_for};

pub struct Edge {
    child: Child,
    pub port: u16,
    directory: PathBuf,
}

/// One line of the edge's access log.
#[derive(Debug)]
pub struct Logged {
    pub status: u16,
    /// HIT, MISS, EXPIRED, REVALIDATED, UPDATING, STALE or - (not cacheable).
    pub cache: String,
    /// Whether the request went on to the origin.
    pub to_origin: bool,
    pub uri: String,
}

impl Edge {
    /// An edge in front of `origin` (`127.0.0.1:PORT`), named `name` for its directory.
    pub fn start(name: &str, origin: &str) -> Edge {
        require("nginx");
        let directory = std::env::temp_dir().join(format!("onair-edge-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&directory);
        std::fs::create_dir_all(&directory).unwrap();
        let port = free_port();
        let shipped = std::fs::read_to_string(repo_path("packaging/edge/onair-edge.conf")).expect("packaging/edge/onair-edge.conf");
        let dir = directory.display().to_string();
        let mut edge = shipped;
        for (marked, value) in [
            ("/var/cache/nginx/onair", format!("{dir}/cache")),
            ("server 127.0.0.1:8080;", format!("server {origin};")),
            ("listen 127.0.0.1:8081;", format!("listen 127.0.0.1:{port};")),
            ("/var/log/nginx/onair-edge.log", format!("{dir}/access.log")),
        ] {
            assert!(edge.contains(marked), "the edge configuration has `{marked}`");
            edge = edge.replace(marked, &value);
        }
        std::fs::write(directory.join("onair-edge.conf"), edge).unwrap();
        // What Debian's nginx.conf around conf.d/ amounts to, in the scratch directory.
        let main = format!(
            "daemon off;\nmaster_process off;\nworker_processes 1;\npid {dir}/nginx.pid;\nerror_log {dir}/error.log warn;\n\
             events {{ worker_connections 4096; }}\n\
             http {{\n  client_body_temp_path {dir}/body;\n  proxy_temp_path {dir}/proxy;\n  fastcgi_temp_path {dir}/fastcgi;\n  \
             uwsgi_temp_path {dir}/uwsgi;\n  scgi_temp_path {dir}/scgi;\n  include {dir}/onair-edge.conf;\n}}\n"
        );
        std::fs::write(directory.join("nginx.conf"), main).unwrap();
        let child = Command::new("nginx")
            .args(["-p", &dir, "-c", &format!("{dir}/nginx.conf"), "-e", &format!("{dir}/error.log")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nginx");
        let edge = Edge { child, port, directory };
        wait_for("the edge to listen", Duration::from_secs(10), || std::net::TcpStream::connect(("127.0.0.1", port)).ok());
        edge
    }

    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Every request the edge has answered, in order.
    pub fn log(&self) -> Vec<Logged> {
        let text = std::fs::read_to_string(self.directory.join("access.log")).unwrap_or_default();
        text.lines()
            .filter_map(|line| {
                let mut fields = line.split(' ');
                let (_time, status, cache, upstream) = (fields.next()?, fields.next()?, fields.next()?, fields.next()?);
                let uri = fields.next()?.trim_matches('"');
                Some(Logged { status: status.parse().ok()?, cache: cache.into(), to_origin: upstream != "-", uri: uri.into() })
            })
            .collect()
    }

    /// For each URI, how many times the edge asked the origin for it.
    pub fn origin_requests(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for logged in self.log().into_iter().filter(|l| l.to_origin) {
            *counts.entry(logged.uri).or_insert(0) += 1;
        }
        counts
    }

    pub fn errors(&self) -> String {
        std::fs::read_to_string(self.directory.join("error.log")).unwrap_or_default()
    }
}

impl Drop for Edge {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.directory);
    }
}
