//! HTTP's accept loop, for the plain listener and the HTTPS one: each
//! connection is admitted by its listener's gate, given `[limits]
//! handshake_seconds` for TLS, then served as HTTP/1.1 with its request
//! heads bounded in size and in time (slowloris, idle keep-alives).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use super::connection::{ConnectionService, Connections};
use crate::server::config::LimitsConfig;
use crate::server::limits::{Gate, ListenerCounts, Timeout};

/// One listening socket and what stands at it.
pub struct HttpListener {
    pub tcp: TcpListener,
    pub gate: Arc<Gate>,
    /// HTTPS when set.
    pub tls: Option<TlsAcceptor>,
}

/// How each connection's HTTP/1.1 is run.
fn http1(limits: &LimitsConfig) -> http1::Builder {
    let mut builder = http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(limits.header()).max_buf_size(limits.max_header_bytes.max(8192));
    builder
}

pub async fn serve(listener: HttpListener, connections: Connections, limits: LimitsConfig) {
    let http = http1(&limits);
    let (handshake, header) = (limits.handshake(), limits.header());
    loop {
        let (tcp, peer) = match listener.tcp.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of file descriptors, most likely: accepting again at
                // once would spin.
                tracing::warn!("HTTP accept failed: {error}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Some(admitted) = listener.gate.admit(peer) else { continue };
        // Without Nagle: a part larger than one loopback segment would otherwise
        // hold its tail until the client acknowledges the head.
        let _ = tcp.set_nodelay(true);
        let service = connections.for_peer(peer, listener.tls.is_some());
        let (http, tls, gate) = (http.clone(), listener.tls.clone(), listener.gate.clone());
        tokio::spawn(async move {
            let _admitted = admitted;
            // A connection that sends nothing costs its task alone: HTTP's
            // buffers and TLS's state are made for the first bytes, and each
            // stage is boxed so the waiting task is small.
            let (wait, timeout) = if tls.is_some() { (handshake, Timeout::Handshake) } else { (header, Timeout::Header) };
            // peek, not readable(): a new socket is taken as ready until a read says otherwise.
            match tokio::time::timeout(wait, tcp.peek(&mut [0u8; 1])).await {
                Ok(Ok(n)) if n > 0 => {}
                Ok(_) => return,
                Err(_) => return gate.counts().timed_out(timeout),
            }
            let Some(tls) = tls else { return Box::pin(serve_connection(&http, tcp, service, gate.counts())).await };
            match tokio::time::timeout(handshake, Box::pin(tls.accept(tcp))).await {
                Ok(Ok(stream)) => Box::pin(serve_connection(&http, stream, service, gate.counts())).await,
                Ok(Err(error)) => tracing::debug!(%peer, "TLS handshake failed: {error}"),
                Err(_) => gate.counts().timed_out(Timeout::Handshake),
            }
        });
    }
}

async fn serve_connection<S>(http: &http1::Builder, mut io: S, service: ConnectionService, counts: &ListenerCounts)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let peer = service.peer;
    let service = TowerToHyperService::new(service.map_request(|request: Request<Incoming>| request.map(axum::body::Body::new)));
    if let Err(error) = http.serve_connection(TokioIo::new(&mut io), service).await {
        if error.is_timeout() {
            counts.timed_out(Timeout::Header);
        } else {
            tracing::debug!(%peer, "HTTP connection ended: {error}");
        }
    }
    // A TLS client (GnuTLS in ffmpeg) takes a close without close_notify for
    // an error, not for the end of an idle keep-alive connection.
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, io.shutdown()).await;
}

/// How long a closing connection may take to send its last bytes.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);
