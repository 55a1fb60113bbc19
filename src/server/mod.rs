//! The bundled live server: RTMP and SRT in, CMAF segments listed by HLS and DASH out.
//!
//! One folder a stage, in the order media flows: `ingest` (connections to
//! streams) → `hub` (live streams by key, each stream's packager and who
//! is woken) → `ladder` (transcoded rungs) → `package` (CMAF, HLS, DASH) →
//! `serve` (HTTP). `docs/architecture.md` draws it.

pub mod announce;
pub mod config;
pub mod control;
pub mod forward;
pub mod hub;
pub mod ingest;
pub mod ladder;
pub mod metrics;
pub mod package;
pub mod record;
pub mod serve;
pub mod webrtc;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use axum::serve::ListenerExt;
use tokio::net::{TcpListener, TcpSocket};

use self::config::ServerConfig;
use self::hub::Hub;
use self::metrics::Metrics;
use crate::media::wallclock::UnixMillis;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot listen for {what} on {addr}: {error}. Another program may use the port; set `{config_key}` in the config or pass {flag}")]
    Bind { what: &'static str, addr: SocketAddr, config_key: &'static str, flag: &'static str, error: std::io::Error },
    #[error("cannot record to {}: {error}. Set `record.directory` to a directory the server may write", directory.display())]
    Record { directory: std::path::PathBuf, error: std::io::Error },
    #[error("cannot start the thread for RTMP ingest and forwards: {error}")]
    Media { error: std::io::Error },
    #[error(transparent)]
    WebRtc(#[from] webrtc::endpoint::EndpointError),
}

/// A running server: its bound addresses and the hub.
pub struct RunningServer {
    pub rtmp_addr: SocketAddr,
    pub srt_addr: SocketAddr,
    pub http_addr: SocketAddr,
    /// Where WebRTC peers send their media.
    pub webrtc_addr: SocketAddr,
    pub hub: Arc<Hub>,
}

/// Connections a listener queues before it accepts them. Thousands of viewers
/// arriving at once (a stream going live, a restart) must not overflow it: a
/// dropped SYN costs its viewer a full second before the client retries.
const LISTEN_BACKLOG: u32 = 4096;

fn bind(addr: SocketAddr, what: &'static str, config_key: &'static str, flag: &'static str) -> Result<TcpListener, ServeError> {
    let listen = || {
        let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
        socket.set_reuseaddr(true)?;
        socket.bind(addr)?;
        socket.listen(LISTEN_BACKLOG)
    };
    listen().map_err(|error| ServeError::Bind { what, addr, config_key, flag, error })
}

/// A thread of its own for RTMP handshakes and the forwards' drivers: a
/// single-threaded runtime wakes for a read with none of the work-stealing
/// scheduler's hand-offs. A publishing RTMP connection leaves it for a reader
/// thread of its own (`ingest::rtmp`). HTTP stays on the workers.
fn media_runtime() -> std::io::Result<tokio::runtime::Handle> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let handle = runtime.handle().clone();
    std::thread::Builder::new().name("media".into()).spawn(move || runtime.block_on(std::future::pending::<()>()))?;
    Ok(handle)
}

/// Binds every listener, then runs ingest, HTTP and housekeeping on the current runtime.
pub async fn start(config: ServerConfig) -> Result<RunningServer, ServeError> {
    let rtmp = bind(config.rtmp.listen, "RTMP", "rtmp.listen", "--rtmp ADDR")?;
    let http = bind(config.http.listen, "HTTP", "http.listen", "--http ADDR")?;
    let rtmp_addr = rtmp.local_addr().unwrap_or(config.rtmp.listen);
    let http_addr = http.local_addr().unwrap_or(config.http.listen);
    let srt_listen = config.srt.listen;
    let recorder = record::Recorder::start(&config.record)
        .map_err(|error| ServeError::Record { directory: config.record.directory.clone().unwrap_or_default(), error })?;
    let media = media_runtime().map_err(|error| ServeError::Media { error })?;
    let metrics = Arc::new(Metrics::default());
    let webrtc = webrtc::endpoint::Endpoint::start(&config.webrtc, metrics.clone())?;
    let webrtc_addr = webrtc.candidates[0];
    let hub = Arc::new(Hub::new(config, metrics).with_recorder(recorder).with_runtime(media.clone()).with_webrtc(webrtc));
    let srt =
        ingest::srt::bind(&hub).map_err(|error| ServeError::Bind { what: "SRT", addr: srt_listen, config_key: "srt.listen", flag: "--srt ADDR", error })?;
    let srt_addr = srt.local_addr();
    let rtmp = rtmp.into_std().map_err(|error| ServeError::Media { error })?;
    let for_rtmp = hub.clone();
    media.spawn(async move {
        match tokio::net::TcpListener::from_std(rtmp) {
            Ok(listener) => ingest::rtmp::serve(listener, for_rtmp).await,
            Err(error) => tracing::error!("RTMP ingest cannot start: {error}"),
        }
    });
    ingest::srt::serve(srt, hub.clone());
    let app = serve::connection::Connections { hub: hub.clone(), router: serve::http::router(hub.clone()) };
    tokio::spawn(async move {
        // Without Nagle: a part larger than one loopback segment would otherwise
        // hold its tail until the client acknowledges the head.
        let http = http.tap_io(|tcp| {
            if let Err(error) = tcp.set_nodelay(true) {
                tracing::debug!("cannot turn off Nagle's algorithm: {error}");
            }
        });
        if let Err(error) = axum::serve(http, app).await {
            tracing::error!("HTTP server stopped: {error}");
        }
    });
    tokio::spawn(end_streams_when_due(hub.clone()));
    Ok(RunningServer { rtmp_addr, srt_addr, http_addr, webrtc_addr, hub })
}

/// Ends streams whose publisher did not come back, and forgets ended ones,
/// each at its deadline: an idle server is never woken by a timer.
async fn end_streams_when_due(hub: Arc<Hub>) {
    loop {
        match hub.next_expiry() {
            Some(due) => {
                tokio::select! {
                    _ = tokio::time::sleep_until(due.into()) => {}
                    _ = hub.expiry_changed() => {}
                }
            }
            None => hub.expiry_changed().await,
        }
        hub.tick(Instant::now(), UnixMillis::from_system_time(SystemTime::now()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_port_another_program_listens_on_is_refused_with_the_setting_to_change() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap();
        let error = bind(addr, "HTTP", "http.listen", "--http ADDR").unwrap_err().to_string();
        assert!(error.contains(&addr.to_string()) && error.contains("http.listen") && error.contains("--http ADDR"), "{error}");
        drop(taken);
        let listener = bind(addr, "HTTP", "http.listen", "--http ADDR").expect("the port is free again");
        assert_eq!(listener.local_addr().unwrap(), addr);
    }
}
