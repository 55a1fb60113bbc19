//! The RTMP ingest driver: accepts TCP connections and feeds the hub.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::flv_ingest::{FlvDepacketizer, IngestError, IngestItem};
use super::publish_secret::{self, PublishName, SecretRefusal};
use crate::rtmp::server::{RtmpError, RtmpEvent, RtmpServerConnection};
use crate::server::hub::{Hub, IngestProtocol, PublishError, Publisher};
use crate::server::metrics::Metrics;

/// A connection that sends nothing for this long is closed.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Why one RTMP connection was closed; the log line names its peer.
#[derive(Debug, thiserror::Error)]
pub enum RtmpIngestError {
    #[error("no data for {} s", IDLE_TIMEOUT.as_secs())]
    Idle,
    #[error("read failed: {0}")]
    Read(std::io::Error),
    #[error("write failed: {0}")]
    Write(std::io::Error),
    #[error(transparent)]
    Protocol(#[from] RtmpError),
    #[error("publish refused: {0}")]
    SecretRefused(#[from] SecretRefusal),
    #[error("publish refused: {0}")]
    Refused(#[from] PublishError),
    #[error("stream {key:?} refused: {source}")]
    Unsupported { key: String, source: IngestError },
    #[error("stream {key:?}: {source}")]
    BadMedia { key: String, source: IngestError },
}

pub async fn serve(listener: TcpListener, hub: Arc<Hub>) {
    loop {
        match listener.accept().await {
            Ok((socket, peer)) => {
                Metrics::add(&hub.metrics.connections_accepted, 1);
                let hub = hub.clone();
                tokio::spawn(async move {
                    if let Err(reason) = handle_connection(socket, peer, &hub).await {
                        Metrics::add(&hub.metrics.ingest_errors, 1);
                        tracing::warn!(%peer, "RTMP connection closed: {reason}");
                    }
                });
            }
            Err(error) => {
                tracing::warn!("RTMP accept failed: {error}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn handle_connection(mut socket: TcpStream, peer: SocketAddr, hub: &Hub) -> Result<(), RtmpIngestError> {
    let _ = socket.set_nodelay(true);
    let config = &hub.config().rtmp;
    let mut connection = RtmpServerConnection::new(&config.app, config.max_message_bytes);
    let mut depacketizer = FlvDepacketizer::default();
    let mut publisher: Option<Publisher> = None;
    let mut buffer = vec![0u8; 64 * 1024];
    // One timer for the connection, moved on only when it fires: a timeout
    // around every read would add and remove a timer entry per read.
    let idle = tokio::time::sleep(IDLE_TIMEOUT);
    tokio::pin!(idle);
    let mut last_read = tokio::time::Instant::now();
    loop {
        let read = tokio::select! {
            read = socket.read(&mut buffer) => read,
            () = &mut idle => {
                if last_read.elapsed() >= IDLE_TIMEOUT {
                    return Err(RtmpIngestError::Idle);
                }
                idle.as_mut().reset(last_read + IDLE_TIMEOUT);
                continue;
            }
        };
        let read = match read {
            Err(error) => return Err(RtmpIngestError::Read(error)),
            Ok(0) => {
                if let Some(publisher) = &publisher {
                    tracing::info!(%peer, key = publisher.key(), "publisher disconnected");
                }
                return Ok(());
            }
            Ok(n) => n,
        };
        last_read = tokio::time::Instant::now();
        let arrived = std::time::Instant::now();
        Metrics::add(&hub.metrics.bytes_in, read as u64);
        let events = connection.receive(&buffer[..read]);
        let outcome = match events {
            Ok(events) => handle_events(events, &mut connection, &mut depacketizer, &mut publisher, hub, peer, arrived),
            Err(error) => Err(error.into()),
        };
        let outgoing = connection.take_outgoing();
        if !outgoing.is_empty() {
            socket.write_all(&outgoing).await.map_err(RtmpIngestError::Write)?;
        }
        match outcome {
            Ok(true) => {}
            Ok(false) => return Ok(()),
            Err(error) => {
                linger(&mut socket).await;
                return Err(error);
            }
        }
    }
}

/// Returns false when the publisher finished cleanly.
fn handle_events(
    events: Vec<RtmpEvent>,
    connection: &mut RtmpServerConnection,
    depacketizer: &mut FlvDepacketizer,
    publisher: &mut Option<Publisher>,
    hub: &Hub,
    peer: SocketAddr,
    arrived: std::time::Instant,
) -> Result<bool, RtmpIngestError> {
    for event in events {
        match event {
            RtmpEvent::PublishRequested { request_id, name, connect_query } => {
                if publisher.is_some() {
                    connection.reject_publish(request_id, "this connection is already publishing")?;
                    continue;
                }
                let name = PublishName::parse(&name, connect_query.as_deref());
                if let Err(refusal) = publish_secret::check(&hub.config().rtmp, &name) {
                    Metrics::add(&hub.metrics.publishes_refused, 1);
                    connection.reject_publish(request_id, &refusal.to_string())?;
                    return Err(refusal.into());
                }
                let key = name.key;
                match hub.publish(&key, IngestProtocol::Rtmp, peer) {
                    Ok(accepted) => {
                        connection.accept_publish(request_id)?;
                        tracing::info!(%peer, key, "publishing over RTMP");
                        *publisher = Some(accepted);
                    }
                    Err(refusal) => {
                        Metrics::add(&hub.metrics.publishes_refused, 1);
                        connection.reject_publish(request_id, &refusal.to_string())?;
                        return Err(refusal.into());
                    }
                }
            }
            RtmpEvent::Metadata { width, height, frame_rate, encoder } => {
                tracing::debug!(%peer, ?width, ?height, ?frame_rate, ?encoder, "stream metadata");
            }
            RtmpEvent::Video { time, body } => {
                let Some(active) = publisher.as_ref() else { continue };
                let item = depacketizer.video(time, &body);
                feed(item, active, connection, arrived)?;
            }
            RtmpEvent::Audio { time, body } => {
                let Some(active) = publisher.as_ref() else { continue };
                let item = depacketizer.audio(time, &body);
                feed(item, active, connection, arrived)?;
            }
            RtmpEvent::PublishFinished => {
                if let Some(finished) = publisher.take() {
                    tracing::info!(%peer, key = finished.key(), "publisher finished");
                }
                return Ok(false);
            }
        }
    }
    Ok(true)
}

fn feed(
    item: Result<Option<IngestItem>, IngestError>,
    publisher: &Publisher,
    connection: &mut RtmpServerConnection,
    arrived: std::time::Instant,
) -> Result<(), RtmpIngestError> {
    let key = || publisher.key().to_string();
    match item {
        Ok(None) => Ok(()),
        Ok(Some(IngestItem::Config(config))) => Ok(publisher.configure(config)?),
        Ok(Some(IngestItem::Frame(frame))) => Ok(publisher.push(frame, arrived)?),
        Err(source) if source.is_unsupported_codec() => {
            connection.refuse_stream(&source.to_string());
            Err(RtmpIngestError::Unsupported { key: key(), source })
        }
        Err(source) => Err(RtmpIngestError::BadMedia { key: key(), source }),
    }
}

/// Lets the peer read a final status message before the connection closes.
async fn linger(socket: &mut TcpStream) {
    let _ = socket.shutdown().await;
    let mut sink = [0u8; 4096];
    let drain = async { while matches!(socket.read(&mut sink).await, Ok(n) if n > 0) {} };
    let _ = tokio::time::timeout(Duration::from_millis(500), drain).await;
}
