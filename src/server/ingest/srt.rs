//! The SRT ingest driver: admits callers by stream id and passphrase, then
//! demuxes their MPEG-TS into the same hub as RTMP.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use srt_protocol::settings::KeySettings;
use srt_tokio::access::{RejectReason, ServerRejectReason};
use srt_tokio::options::Passphrase;
use srt_tokio::{ConnectionRequest, SrtListener};

use super::stream_id::parse_stream_id;
use crate::media::ts::demux::{TsDemuxer, TsEvent};
use crate::server::hub::{Hub, IngestStats};
use crate::server::metrics::Metrics;

/// Binds the UDP socket first so a port of 0 resolves to a real one.
pub async fn bind(addr: SocketAddr, latency: Duration) -> std::io::Result<(SrtListener, srt_tokio::SrtIncoming, SocketAddr)> {
    let socket = tokio::net::UdpSocket::bind(addr).await?;
    let bound = socket.local_addr()?;
    let (listener, incoming) = SrtListener::builder().latency(latency).socket(socket).bind(bound).await?;
    Ok((listener, incoming, bound))
}

/// Admits callers; if the SRT library's listener dies (it panics on some
/// handshakes instead of rejecting them), it is bound again on the same address.
pub async fn serve(mut listener: SrtListener, mut incoming: srt_tokio::SrtIncoming, addr: SocketAddr, latency: Duration, hub: Arc<Hub>) {
    loop {
        while let Some(request) = incoming.incoming().next().await {
            Metrics::add(&hub.metrics.connections_accepted, 1);
            let hub = hub.clone();
            tokio::spawn(async move { admit(request, hub).await });
        }
        Metrics::add(&hub.metrics.ingest_errors, 1);
        tracing::error!("the SRT listener on {addr} stopped on a bad handshake; listening again");
        drop(listener);
        loop {
            match bind(addr, latency).await {
                Ok((new_listener, new_incoming, _)) => {
                    listener = new_listener;
                    incoming = new_incoming;
                    break;
                }
                Err(error) => {
                    tracing::error!("cannot listen for SRT on {addr} again: {error}; retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    }
}

async fn admit(request: ConnectionRequest, hub: Arc<Hub>) {
    let peer = request.remote();
    let stream_id = request.stream_id().map(|id| id.to_string());
    let refuse = |reason: String, code: ServerRejectReason| {
        Metrics::add(&hub.metrics.publishes_refused, 1);
        tracing::warn!(%peer, stream_id = stream_id.as_deref().unwrap_or(""), "SRT connection refused: {reason}");
        RejectReason::Server(code)
    };
    let config = &hub.config().srt;
    if passphrase_missing_for_encrypting_caller(config, &request) {
        let reason = refuse("the caller encrypts but no passphrase is configured for SRT".into(), ServerRejectReason::BadRequest);
        let _ = request.reject(reason).await;
        return;
    }
    let wanted = match parse_stream_id(stream_id.as_deref(), &hub.config().rtmp.app) {
        Ok(wanted) => wanted,
        Err(error) => {
            let reason = refuse(error.to_string(), ServerRejectReason::BadRequest);
            let _ = request.reject(reason).await;
            return;
        }
    };
    let passphrase = config.passphrases.get(&wanted.key).or(config.passphrase.as_ref()).cloned();
    // The key length is the one the caller announced (the library insists they
    // match); the key material itself then decides whether the passphrase is right.
    let key_settings = match passphrase {
        None => None,
        Some(passphrase) => match Passphrase::try_from(passphrase) {
            Ok(passphrase) => Some(KeySettings { key_size: request.key_size(), passphrase }),
            Err(error) => {
                let reason = refuse(format!("the configured passphrase is unusable: {error}"), ServerRejectReason::InternalServerError);
                let _ = request.reject(reason).await;
                return;
            }
        },
    };
    let publisher = match hub.publish(&wanted.key, "srt", peer) {
        Ok(publisher) => publisher,
        Err(error) => {
            let reason = refuse(error.to_string(), ServerRejectReason::Conflict);
            let _ = request.reject(reason).await;
            return;
        }
    };
    let mut socket = match request.accept(key_settings).await {
        Ok(socket) => socket,
        Err(error) => {
            Metrics::add(&hub.metrics.ingest_errors, 1);
            tracing::warn!(%peer, key = wanted.key, "SRT connection failed during setup (a wrong passphrase fails here): {error}");
            return;
        }
    };
    tracing::info!(%peer, key = wanted.key, "publishing over SRT");
    let stream = hub.get(&wanted.key);
    let mut demuxer = TsDemuxer::default();
    let mut statistics = socket.statistics().clone();
    let mut lost_reported = 0;
    loop {
        tokio::select! {
            packet = socket.next() => {
                let Some(Ok((_, bytes))) = packet else { break };
                let arrived = Instant::now();
                Metrics::add(&hub.metrics.bytes_in, bytes.len() as u64);
                let events = match demuxer.push(&bytes) {
                    Ok(events) => events,
                    Err(error) => {
                        Metrics::add(&hub.metrics.ingest_errors, 1);
                        tracing::warn!(%peer, key = wanted.key, "SRT stream refused: {error}");
                        return;
                    }
                };
                for event in events {
                    let fed = match event {
                        TsEvent::Config(config) => publisher.configure(config),
                        TsEvent::Frame(frame) => publisher.push(frame, arrived),
                    };
                    if let Err(error) = fed {
                        tracing::warn!(%peer, key = wanted.key, "SRT publisher closed: {error}");
                        return;
                    }
                }
            }
            Some(stats) = statistics.next() => {
                if let Some(stream) = &stream {
                    stream.set_ingest_stats(IngestStats {
                        rtt_ms: stats.rx_average_rtt.as_secs_f64() * 1000.0,
                        packets_received: stats.rx_data,
                        packets_lost: stats.rx_loss_data,
                        packets_retransmitted: stats.rx_retransmit_data,
                        packets_dropped: stats.rx_dropped_data,
                        continuity_errors: demuxer.stats.continuity_errors,
                        frames_dropped: demuxer.stats.frames_dropped,
                    });
                }
                if demuxer.stats.frames_dropped > lost_reported {
                    tracing::debug!(%peer, key = wanted.key, "{} damaged frames dropped so far", demuxer.stats.frames_dropped);
                    lost_reported = demuxer.stats.frames_dropped;
                }
            }
        }
    }
    for event in demuxer.flush() {
        let _ = match event {
            TsEvent::Config(config) => publisher.configure(config),
            TsEvent::Frame(frame) => publisher.push(frame, Instant::now()),
        };
    }
    tracing::info!(%peer, key = wanted.key, "SRT publisher disconnected");
}

/// A caller that announced a key length while no passphrase exists at all
/// would reach a panic in the library; refuse it here instead.
fn passphrase_missing_for_encrypting_caller(config: &crate::server::config::SrtConfig, request: &ConnectionRequest) -> bool {
    config.passphrase.is_none() && config.passphrases.is_empty() && request.key_size() != srt_tokio::options::KeySize::Unspecified
}
