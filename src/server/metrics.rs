//! Process-wide counters, exported as Prometheus text on /metrics.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Default)]
pub struct Metrics {
    pub bytes_in: AtomicU64,
    pub segments_produced: AtomicU64,
    pub ingest_errors: AtomicU64,
    pub connections_accepted: AtomicU64,
    pub publishes_refused: AtomicU64,
    http_requests: Mutex<BTreeMap<u16, u64>>,
}

impl Metrics {
    pub fn add(counter: &AtomicU64, amount: u64) {
        counter.fetch_add(amount, Ordering::Relaxed);
    }

    pub fn count_http(&self, status: u16) {
        if let Ok(mut map) = self.http_requests.lock() {
            *map.entry(status).or_default() += 1;
        }
    }

    pub fn render(&self, streams_live: usize) -> String {
        let mut out = String::new();
        let gauge = |out: &mut String, name: &str, help: &str, kind: &str, value: u64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}");
        };
        gauge(&mut out, "onair_streams_live", "Streams with a publisher or within their grace period.", "gauge", streams_live as u64);
        gauge(&mut out, "onair_ingest_bytes_total", "Bytes received from publishers.", "counter", self.bytes_in.load(Ordering::Relaxed));
        gauge(&mut out, "onair_segments_produced_total", "CMAF segments produced, all tracks.", "counter", self.segments_produced.load(Ordering::Relaxed));
        gauge(&mut out, "onair_ingest_errors_total", "Publisher connections closed for bad input.", "counter", self.ingest_errors.load(Ordering::Relaxed));
        gauge(&mut out, "onair_ingest_connections_total", "Publisher connections accepted.", "counter", self.connections_accepted.load(Ordering::Relaxed));
        gauge(&mut out, "onair_publishes_refused_total", "Publish requests refused.", "counter", self.publishes_refused.load(Ordering::Relaxed));
        out.push_str("# HELP onair_http_requests_total HTTP requests by response status.\n# TYPE onair_http_requests_total counter\n");
        if let Ok(map) = self.http_requests.lock() {
            for (status, count) in map.iter() {
                let _ = writeln!(out, "onair_http_requests_total{{status=\"{status}\"}} {count}");
            }
        }
        out
    }
}
