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
pub mod limits;
pub mod metrics;
pub mod package;
pub mod record;
pub mod serve;
pub mod tls;
pub mod webrtc;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use tokio::net::{TcpListener, TcpSocket};

use self::config::ServerConfig;
use self::hub::Hub;
use self::limits::{Gate, Listener};
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
    Tls(#[from] tls::TlsError),
    #[error(transparent)]
    WebRtc(#[from] webrtc::endpoint::EndpointError),
}

/// A running server: its bound addresses and the hub.
pub struct RunningServer {
    pub rtmp_addr: SocketAddr,
    pub srt_addr: SocketAddr,
    pub http_addr: SocketAddr,
    /// HTTPS and RTMPS, when `[http]`/`[rtmp]` `tls_listen` are set.
    pub https_addr: Option<SocketAddr>,
    pub rtmps_addr: Option<SocketAddr>,
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
    raise_open_file_limit();
    let rtmp = bind(config.rtmp.listen, "RTMP", "rtmp.listen", "--rtmp ADDR")?;
    let http = bind(config.http.listen, "HTTP", "http.listen", "--http ADDR")?;
    let rtmps = config.rtmp.tls_listen.map(|addr| bind(addr, "RTMPS", "rtmp.tls_listen", "no flag")).transpose()?;
    let https = config.http.tls_listen.map(|addr| bind(addr, "HTTPS", "http.tls_listen", "no flag")).transpose()?;
    let certificates = match (&config.tls.certificate, &config.tls.key) {
        (Some(certificate), Some(key)) if rtmps.is_some() || https.is_some() => Some(tls::Certificates::open(certificate, key)?),
        _ => None,
    };
    let address = |listener: &TcpListener, configured: SocketAddr| listener.local_addr().unwrap_or(configured);
    let rtmp_addr = address(&rtmp, config.rtmp.listen);
    let http_addr = address(&http, config.http.listen);
    let rtmps_addr = rtmps.as_ref().zip(config.rtmp.tls_listen).map(|(l, a)| address(l, a));
    let https_addr = https.as_ref().zip(config.http.tls_listen).map(|(l, a)| address(l, a));
    let srt_listen = config.srt.listen;
    let limits = config.limits.clone();
    let recorder = record::Recorder::start(&config.record)
        .map_err(|error| ServeError::Record { directory: config.record.directory.clone().unwrap_or_default(), error })?;
    let media = media_runtime().map_err(|error| ServeError::Media { error })?;
    let metrics = Arc::new(Metrics::default());
    let gate = |listener: Listener| Gate::new(listener, &limits, metrics.listener(listener));
    let tls_for = |alpn: &[&[u8]]| certificates.as_ref().map(|c| c.acceptor(alpn)).transpose();
    let (https_tls, rtmps_tls) = (tls_for(&[b"http/1.1"])?, tls_for(&[])?);
    let webrtc = webrtc::endpoint::Endpoint::start(&config.webrtc, metrics.clone())?;
    let webrtc_addr = webrtc.candidates[0];
    let hub = Arc::new(Hub::new(config, metrics.clone()).with_recorder(recorder).with_runtime(media.clone()).with_webrtc(webrtc));
    let srt =
        ingest::srt::bind(&hub).map_err(|error| ServeError::Bind { what: "SRT", addr: srt_listen, config_key: "srt.listen", flag: "--srt ADDR", error })?;
    let srt_addr = srt.local_addr();
    let mut rtmp_listeners = vec![(rtmp, gate(Listener::Rtmp), None)];
    if let Some(rtmps) = rtmps {
        rtmp_listeners.push((rtmps, gate(Listener::Rtmps), rtmps_tls));
    }
    for (listener, gate, tls) in rtmp_listeners {
        let listener = listener.into_std().map_err(|error| ServeError::Media { error })?;
        let hub = hub.clone();
        media.spawn(async move {
            match tokio::net::TcpListener::from_std(listener) {
                Ok(tcp) => ingest::rtmp::serve(ingest::rtmp::RtmpListener { tcp, gate, tls }, hub).await,
                Err(error) => tracing::error!("RTMP ingest cannot start: {error}"),
            }
        });
    }
    ingest::srt::serve(srt, hub.clone());
    let app = serve::connection::Connections { hub: hub.clone(), router: serve::http::router(hub.clone()) };
    let mut http_listeners = vec![serve::listener::HttpListener { tcp: http, gate: gate(Listener::Http), tls: None }];
    if let Some(https) = https {
        http_listeners.push(serve::listener::HttpListener { tcp: https, gate: gate(Listener::Https), tls: https_tls });
    }
    for listener in http_listeners {
        tokio::spawn(serve::listener::serve(listener, app.clone(), limits.clone()));
    }
    if let Some(certificates) = &certificates {
        certificates.reload_on_hangup();
    }
    tokio::spawn(end_streams_when_due(hub.clone()));
    Ok(RunningServer { rtmp_addr, srt_addr, http_addr, https_addr, rtmps_addr, webrtc_addr, hub })
}

/// Every connection is a file descriptor: the soft limit (often 1024) would
/// refuse viewers long before `[limits] max_connections`, so it is raised to
/// the hard limit the system grants.
fn raise_open_file_limit() {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit and setrlimit read and write only the struct passed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit { rlim_cur: limit.rlim_max, rlim_max: limit.rlim_max };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) != 0 {
                tracing::debug!("cannot raise the open file limit from {}", limit.rlim_cur);
            }
        }
    }
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
