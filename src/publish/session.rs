//! The reconnect loop every publishing protocol shares: connect, publish
//! until the connection drops, wait with backoff, try again; stop for good
//! when the user stops or the server refuses.

use std::sync::Arc;

use tokio::sync::watch;

use super::reconnect::ReconnectPolicy;
use super::shared::{PublishShared, PublishState};

pub enum Failure {
    /// Worth another try (network trouble). `was_live` resets the backoff.
    Transient { reason: String, was_live: bool },
    /// Not worth retrying: the server refused, the name does not resolve.
    Fatal(String),
}

/// The first address of `host`; a name that does not resolve is not worth retrying.
pub async fn resolve(host: &str, port: u16) -> Result<std::net::SocketAddr, Failure> {
    let mut addresses = tokio::net::lookup_host((host, port)).await.map_err(|e| Failure::Fatal(format!("cannot resolve {host}: {e}")))?;
    addresses.next().ok_or_else(|| Failure::Fatal(format!("{host} has no address")))
}

pub async fn run_with_reconnect(
    label: String,
    shared: Arc<PublishShared>,
    mut stop: watch::Receiver<bool>,
    mut publish_once: impl AsyncFnMut(&mut watch::Receiver<bool>) -> Result<(), Failure>,
) {
    let mut policy = ReconnectPolicy::standard(std::process::id() as u64 ^ 0x5eed);
    loop {
        if *stop.borrow() {
            shared.set_state(PublishState::Stopped { reason: "ended by the user".into() });
            return;
        }
        if policy.attempt() == 0 {
            shared.set_state(PublishState::Connecting);
        }
        match publish_once(&mut stop).await {
            Ok(()) => {
                shared.set_state(PublishState::Stopped { reason: "ended by the user".into() });
                return;
            }
            Err(Failure::Fatal(reason)) => {
                tracing::error!(target = %label, "publishing stopped: {reason}");
                shared.set_state(PublishState::Stopped { reason });
                return;
            }
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
