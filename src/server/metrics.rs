//! Process-wide counters, exported as Prometheus text on /metrics.

use crate::server::ladder::RungState;
use crate::server::limits::{Listener, ListenerCounts};
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

struct StatusCounts([AtomicU64; 500]);

impl Default for StatusCounts {
    fn default() -> StatusCounts {
        StatusCounts(std::array::from_fn(|_| AtomicU64::new(0)))
    }
}

#[derive(Default)]
pub struct Metrics {
    pub bytes_in: AtomicU64,
    pub segments_produced: AtomicU64,
    pub ingest_errors: AtomicU64,
    pub connections_accepted: AtomicU64,
    pub publishes_refused: AtomicU64,
    /// WebRTC viewers connected or connecting.
    pub webrtc_viewers: AtomicU64,
    pub webrtc_bytes_sent: AtomicU64,
    pub webrtc_nacks: AtomicU64,
    /// Keyframe requests, PLI and FIR.
    pub webrtc_keyframe_requests: AtomicU64,
    pub webrtc_packets_lost: AtomicU64,
    /// NACKs and keyframe requests sent to WebRTC (WHIP) publishers.
    pub whip_nacks: AtomicU64,
    pub whip_keyframe_requests: AtomicU64,
    pub webrtc_refused: AtomicU64,
    /// `/api/*` and `/metrics` requests without the admin token.
    pub admin_refused: AtomicU64,
    /// Media the WebRTC thread could not take in time, dropped for its viewers.
    pub webrtc_media_dropped: AtomicU64,
    pub webrtc_datagrams_dropped: AtomicU64,
    /// Per TCP listener, in `Listener::ALL`'s order: open, refused, timed out.
    pub listeners: [std::sync::Arc<ListenerCounts>; 4],
    /// By status code, 100..=599; counted without a lock, as every request is.
    http_requests: StatusCounts,
    /// Microseconds from a frame's arrival to the segment it completed being listed.
    listing_delays: Mutex<DelayRing>,
}

/// The newest delays, for percentiles without unbounded memory.
#[derive(Default)]
struct DelayRing {
    values: Vec<u64>,
    next: usize,
}

const DELAY_RING: usize = 4096;

impl DelayRing {
    fn push(&mut self, value: u64) {
        if self.values.len() < DELAY_RING {
            self.values.push(value);
        } else {
            self.values[self.next] = value;
        }
        self.next = (self.next + 1) % DELAY_RING;
    }

    fn percentile(&self, p: f64) -> Option<u64> {
        let mut sorted = self.values.clone();
        sorted.sort_unstable();
        let last = sorted.len().checked_sub(1)?;
        sorted.get(((last as f64) * p).round() as usize).copied()
    }
}

impl Metrics {
    pub fn add(counter: &AtomicU64, amount: u64) {
        counter.fetch_add(amount, Ordering::Relaxed);
    }

    pub fn add_webrtc(&self, counts: &crate::server::webrtc::peer::PeerCounts) {
        Metrics::add(&self.webrtc_bytes_sent, counts.bytes_sent);
        Metrics::add(&self.webrtc_nacks, counts.nacks);
        Metrics::add(&self.webrtc_keyframe_requests, counts.plis + counts.firs);
        Metrics::add(&self.webrtc_packets_lost, counts.packets_lost);
    }

    /// What the server asked of a WHIP publisher: `counts` as the peer keeps them.
    pub fn add_whip(&self, counts: &crate::server::webrtc::peer::PeerCounts) {
        Metrics::add(&self.whip_nacks, counts.nacks);
        Metrics::add(&self.whip_keyframe_requests, counts.plis + counts.firs);
    }

    pub fn listener(&self, listener: Listener) -> std::sync::Arc<ListenerCounts> {
        self.listeners[listener as usize].clone()
    }

    fn render_listeners(&self, out: &mut String) {
        type Field = fn(&ListenerCounts) -> &AtomicU64;
        let family = |out: &mut String, name: &str, help: &str, kind: &str, series: &[(&str, Field)]| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (labels, value) in series {
                for listener in Listener::ALL {
                    let count = value(&self.listeners[listener as usize]).load(Ordering::Relaxed);
                    let _ = writeln!(out, "{name}{{listener=\"{}\"{labels}}} {count}", listener.label());
                }
            }
        };
        family(out, "onair_connections_open", "TCP connections open, by listener.", "gauge", &[("", |c| &c.open)]);
        family(
            out,
            "onair_connections_refused_total",
            "TCP connections refused at accept: the listener or the address held its most ([limits]).",
            "counter",
            &[(",reason=\"max_connections\"", |c| &c.refused_full), (",reason=\"max_connections_per_address\"", |c| &c.refused_address)],
        );
        family(
            out,
            "onair_connections_timed_out_total",
            "Connections closed for taking too long: a handshake, or an HTTP request's headers ([limits]).",
            "counter",
            &[(",stage=\"handshake\"", |c| &c.handshake_timeouts), (",stage=\"header\"", |c| &c.header_timeouts)],
        );
    }

    pub fn count_http(&self, status: u16) {
        if let Some(count) = status.checked_sub(100).and_then(|i| self.http_requests.0.get(usize::from(i))) {
            count.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn record_listing_delay(&self, micros: u64) {
        if let Ok(mut ring) = self.listing_delays.lock() {
            ring.push(micros);
        }
    }

    /// (p50, p99, count) of listing delays in microseconds.
    pub fn listing_delay_percentiles(&self) -> Option<(u64, u64, usize)> {
        let ring = self.listing_delays.lock().ok()?;
        Some((ring.percentile(0.5)?, ring.percentile(0.99)?, ring.values.len()))
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
        gauge(&mut out, "onair_webrtc_viewers", "WebRTC (WHEP) viewers connected or connecting.", "gauge", self.webrtc_viewers.load(Ordering::Relaxed));
        gauge(
            &mut out,
            "onair_webrtc_sent_bytes_total",
            "Bytes sent to WebRTC viewers, retransmissions included.",
            "counter",
            self.webrtc_bytes_sent.load(Ordering::Relaxed),
        );
        gauge(&mut out, "onair_webrtc_nacks_total", "NACKs WebRTC viewers sent.", "counter", self.webrtc_nacks.load(Ordering::Relaxed));
        gauge(
            &mut out,
            "onair_webrtc_media_dropped_total",
            "Access units and Opus packets dropped because the WebRTC thread could not keep up.",
            "counter",
            self.webrtc_media_dropped.load(Ordering::Relaxed),
        );
        gauge(
            &mut out,
            "onair_webrtc_datagrams_dropped_total",
            "WebRTC datagrams dropped because the UDP send buffer was full.",
            "counter",
            self.webrtc_datagrams_dropped.load(Ordering::Relaxed),
        );
        gauge(&mut out, "onair_whip_nacks_total", "NACKs sent to WebRTC (WHIP) publishers.", "counter", self.whip_nacks.load(Ordering::Relaxed));
        gauge(
            &mut out,
            "onair_whip_keyframe_requests_total",
            "PLIs and FIRs sent to WebRTC (WHIP) publishers.",
            "counter",
            self.whip_keyframe_requests.load(Ordering::Relaxed),
        );
        gauge(
            &mut out,
            "onair_webrtc_keyframe_requests_total",
            "PLIs and FIRs WebRTC viewers sent.",
            "counter",
            self.webrtc_keyframe_requests.load(Ordering::Relaxed),
        );
        gauge(
            &mut out,
            "onair_webrtc_packets_lost_total",
            "Packets WebRTC viewers reported lost.",
            "counter",
            self.webrtc_packets_lost.load(Ordering::Relaxed),
        );
        gauge(&mut out, "onair_webrtc_refused_total", "WHEP offers refused.", "counter", self.webrtc_refused.load(Ordering::Relaxed));
        gauge(
            &mut out,
            "onair_admin_refused_total",
            "API and metrics requests refused for a missing or wrong [http] admin_token.",
            "counter",
            self.admin_refused.load(Ordering::Relaxed),
        );
        if let Some((p50, p99, count)) = self.listing_delay_percentiles() {
            out.push_str("# HELP onair_segment_listing_delay_seconds From the arrival of the frame that completes a segment to the segment being listed.\n# TYPE onair_segment_listing_delay_seconds summary\n");
            let _ = writeln!(out, "onair_segment_listing_delay_seconds{{quantile=\"0.5\"}} {:.6}", p50 as f64 / 1e6);
            let _ = writeln!(out, "onair_segment_listing_delay_seconds{{quantile=\"0.99\"}} {:.6}", p99 as f64 / 1e6);
            let _ = writeln!(out, "onair_segment_listing_delay_seconds_count {count}");
        }
        self.render_listeners(&mut out);
        out.push_str("# HELP onair_http_requests_total HTTP requests by response status.\n# TYPE onair_http_requests_total counter\n");
        for (offset, count) in self.http_requests.0.iter().enumerate() {
            let count = count.load(Ordering::Relaxed);
            if count > 0 {
                let _ = writeln!(out, "onair_http_requests_total{{status=\"{}\"}} {count}", offset + 100);
            }
        }
        out
    }
}

/// The ladders of live streams: rungs by state, each rung's lag and CPU.
pub fn render_ladders(out: &mut String, ladders: &[(String, crate::server::ladder::LadderStatus)]) {
    if ladders.is_empty() {
        return;
    }
    out.push_str("# HELP onair_ladder_cores CPU cores a stream's ladder used over the last second.\n# TYPE onair_ladder_cores gauge\n");
    for (key, ladder) in ladders {
        let _ = writeln!(out, "onair_ladder_cores{{key=\"{}\"}} {:.3}", label(key), ladder.cores);
    }
    out.push_str("# HELP onair_ladder_rungs Ladder rungs by state (running, shed, failed).\n# TYPE onair_ladder_rungs gauge\n");
    for (key, ladder) in ladders {
        for state in RungState::ALL {
            let count = ladder.rungs.iter().filter(|r| r.state == state).count();
            let _ = writeln!(out, "onair_ladder_rungs{{key=\"{}\",state=\"{state}\"}} {count}", label(key));
        }
    }
    out.push_str("# HELP onair_ladder_rung_shed A rung shed because the ladder could not keep up (1) or running (0).\n# TYPE onair_ladder_rung_shed gauge\n");
    for (key, ladder) in ladders {
        for rung in &ladder.rungs {
            let _ =
                writeln!(out, "onair_ladder_rung_shed{{key=\"{}\",rung=\"{}\"}} {}", label(key), label(&rung.name), u8::from(rung.state == RungState::Shed));
        }
    }
    out.push_str(
        "# HELP onair_ladder_rung_lag_seconds From a source frame's arrival to the rung's encoded frame.\n# TYPE onair_ladder_rung_lag_seconds gauge\n",
    );
    for (key, ladder) in ladders {
        for rung in ladder.rungs.iter().filter(|r| r.state == RungState::Running) {
            let _ = writeln!(out, "onair_ladder_rung_lag_seconds{{key=\"{}\",rung=\"{}\"}} {:.4}", label(key), label(&rung.name), rung.lag_ms / 1000.0);
        }
    }
}

/// Keys and rung names are restricted to URL-safe characters; escape anyway.
fn label(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}
