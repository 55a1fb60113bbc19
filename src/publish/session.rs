//! The reconnect loop every publishing protocol shares: connect, publish
//! until the connection drops, wait with backoff, try again; stop for good
//! when the user stops, the server refuses, or the first connection fails
//! (as OBS does: a target that never answered is reported, not retried).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::reconnect::ReconnectPolicy;
use super::shared::{PublishFailure, PublishShared, PublishState};

pub enum Failure {
    /// Network trouble: worth another try once the stream has been live.
    /// `was_live` (this connection carried the stream) resets the backoff.
    Transient { reason: String, was_live: bool },
    /// Not worth retrying: the server refused the stream.
    Refused(String),
    /// Not worth retrying: the name does not resolve.
    Unresolved(String),
    /// Not worth retrying: the server's TLS certificate cannot be trusted.
    Certificate(String),
}

/// The first address of `host`; a name that does not resolve is not worth retrying.
pub async fn resolve(host: &str, port: u16) -> Result<std::net::SocketAddr, Failure> {
    let mut addresses = tokio::net::lookup_host((host, port)).await.map_err(|e| Failure::Unresolved(e.to_string()))?;
    addresses.next().ok_or_else(|| Failure::Unresolved("the name has no address".into()))
}

/// A plain TCP connection, or TLS over one (RTMPS, HTTPS).
pub trait Connection: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Connection for T {}

/// Connects to `host:port` within `timeout`, over TLS (checked against the
/// system's roots) when `tls`; returns the connection and the address reached.
pub async fn connect(host: &str, port: u16, tls: bool, timeout: Duration) -> Result<(Box<dyn Connection>, std::net::SocketAddr), Failure> {
    let transient = |reason: String| Failure::Transient { reason, was_live: false };
    let address = resolve(host, port).await?;
    let tcp = tokio::time::timeout(timeout, tokio::net::TcpStream::connect(address))
        .await
        .map_err(|_| transient(format!("no answer from {address} within {} s; check the address and your network", timeout.as_secs())))?
        .map_err(|e| transient(connect_error_text(&e)))?;
    let _ = tcp.set_nodelay(true);
    if !tls {
        return Ok((Box::new(tcp), address));
    }
    match tokio::time::timeout(timeout, super::tls::connect(tcp, host)).await {
        Err(_) => Err(transient(format!("the TLS handshake with {address} did not finish within {} s", timeout.as_secs()))),
        Ok(Err(super::tls::TlsFailure::Certificate(reason))) => Err(Failure::Certificate(reason)),
        Ok(Err(handshake)) => Err(transient(handshake.to_string())),
        Ok(Ok(stream)) => Ok((Box::new(stream), address)),
    }
}

/// A connect error as a streamer reads it: what it means, then the system's words.
pub fn connect_error_text(error: &std::io::Error) -> String {
    use std::io::ErrorKind;
    let meaning = match error.kind() {
        ErrorKind::ConnectionRefused => "nothing accepts streams on that port; check the address and that the server runs",
        ErrorKind::TimedOut => "no answer; check the address and your network",
        ErrorKind::HostUnreachable | ErrorKind::NetworkUnreachable => "the network cannot reach it",
        ErrorKind::PermissionDenied => "the system does not allow this connection (a firewall?)",
        _ => return error.to_string(),
    };
    format!("{meaning} ({error})")
}

pub async fn run_with_reconnect(
    label: String,
    host: String,
    shared: Arc<PublishShared>,
    mut stop: watch::Receiver<bool>,
    mut publish_once: impl AsyncFnMut(&mut watch::Receiver<bool>) -> Result<(), Failure>,
) {
    let mut policy = ReconnectPolicy::standard(std::process::id() as u64 ^ 0x5eed);
    loop {
        if *stop.borrow() {
            shared.set_state(PublishState::Stopped);
            return;
        }
        let (_, live_since) = shared.state();
        if live_since.is_none() {
            shared.set_state(PublishState::Connecting);
        }
        let host = host.clone();
        let failed = |failure: PublishFailure| {
            tracing::info!(target = %label, "publishing stopped: {failure}");
            shared.set_state(PublishState::Failed(failure));
        };
        let outcome = publish_once(&mut stop).await;
        if *stop.borrow() {
            // Cancelled while connecting: whatever the attempt ended in, the user ended it.
            shared.set_state(PublishState::Stopped);
            return;
        }
        match outcome {
            Ok(()) => {
                shared.set_state(PublishState::Stopped);
                return;
            }
            Err(Failure::Refused(reason)) => return failed(PublishFailure::Refused { host, reason }),
            Err(Failure::Unresolved(reason)) => return failed(PublishFailure::Unresolved { host, reason }),
            Err(Failure::Certificate(reason)) => return failed(PublishFailure::Certificate { host, reason }),
            Err(Failure::Transient { reason, was_live: false }) if live_since.is_none() => return failed(PublishFailure::Unreachable { host, reason }),
            Err(Failure::Transient { reason, was_live }) => {
                if was_live {
                    policy.succeeded();
                }
                let delay = policy.next_delay();
                tracing::warn!(target = %label, "connection lost: {reason}; retrying in {:.1} s", delay.as_secs_f64());
                shared.set_state(PublishState::Reconnecting { attempt: policy.attempt(), last_error: reason });
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = stop.changed() => {}
                }
            }
        }
    }
}
