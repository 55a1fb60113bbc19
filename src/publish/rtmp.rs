//! The RTMP publishing driver: connects (over TLS for RTMPS), publishes,
//! drains the outgoing queue, and reconnects with backoff when the
//! connection drops.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;

use super::queue::{Outgoing, OutgoingKind};
use super::session::{Failure, connect, run_with_reconnect};
use super::shared::{PublishShared, PublishState};
use super::target::RtmpTarget;
use crate::media::codec::CodecConfig;
use crate::media::flv::{aac_tag_header, avc_tag_header};
use crate::media::time::Timestamp;
use crate::rtmp::client::{RtmpClientConnection, RtmpClientError};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs until stopped or refused; the final state says which.
pub async fn run(target: RtmpTarget, shared: Arc<PublishShared>, stop: watch::Receiver<bool>) {
    let label = target.display();
    let for_session = shared.clone();
    let host = format!("{}:{}", target.host, target.port);
    run_with_reconnect(label, host, shared, stop, async move |stop: &mut watch::Receiver<bool>| publish_once(&target, &for_session, stop).await).await;
}

async fn publish_once(target: &RtmpTarget, shared: &PublishShared, stop: &mut watch::Receiver<bool>) -> Result<(), Failure> {
    let transient = |reason: String| Failure::Transient { reason, was_live: false };
    let (mut socket, _) = connect(&target.host, target.port, target.tls, CONNECT_TIMEOUT).await?;
    let mut connection = RtmpClientConnection::new(&target.app, &target.key, &target.tc_url()).map_err(|e| transient(e.to_string()))?;
    let mut buffer = vec![0u8; 16 * 1024];
    let handshake = async {
        while !connection.is_publishing() {
            let outgoing = connection.take_outgoing();
            socket.write_all(&outgoing).await.map_err(|e| transient(format!("write failed: {e}")))?;
            let read = socket.read(&mut buffer).await.map_err(|e| transient(format!("read failed: {e}")))?;
            if read == 0 {
                return Err(transient("the server closed the connection during setup".into()));
            }
            connection.receive(&buffer[..read]).map_err(classify)?;
        }
        Ok(())
    };
    tokio::time::timeout(CONNECT_TIMEOUT, handshake).await.map_err(|_| transient("the server did not accept the publish within 10 s".into()))??;

    tracing::info!(target = %target.display(), "live");
    shared.set_state(PublishState::Live);
    let live_failure = |reason: String| Failure::Transient { reason, was_live: true };
    connection.send_metadata(&shared.media_description()).map_err(classify)?;
    let headers = shared.resync();
    shared.request_keyframe();
    for header in &headers {
        send(&mut connection, header).map_err(classify)?;
    }
    loop {
        let outgoing = connection.take_outgoing();
        if !outgoing.is_empty() {
            socket.write_all(&outgoing).await.map_err(|e| live_failure(format!("send failed: {e}")))?;
            shared.count_sent(outgoing.len());
        }
        tokio::select! {
            _ = shared.wait_for_media() => {}
            read = socket.read(&mut buffer) => {
                match read {
                    Ok(0) => return Err(live_failure("the server closed the connection".into())),
                    Ok(n) => { connection.receive(&buffer[..n]).map_err(|e| match classify(e) {
                        Failure::Transient { reason, .. } => live_failure(reason),
                        fatal => fatal,
                    })?; }
                    Err(e) => return Err(live_failure(format!("read failed: {e}"))),
                }
            }
            _ = stop.changed() => {
                connection.finish().ok();
                let outgoing = connection.take_outgoing();
                let _ = socket.write_all(&outgoing).await;
                let _ = socket.shutdown().await;
                return Ok(());
            }
        }
        while let Some(item) = shared.pop() {
            send(&mut connection, &item).map_err(|e| live_failure(e.to_string()))?;
            if matches!(item.kind, OutgoingKind::Video { .. }) {
                shared.count_video_frame(item.captured_micros);
            }
        }
    }
}

/// Sends one encoded frame or configuration as the FLV tag RTMP carries, at
/// its decode time; pts reaches the peer as the composition offset. The tag's
/// header and the frame go to the chunk writer apart, so the frame is copied once.
fn send(connection: &mut RtmpClientConnection, item: &Outgoing) -> Result<(), RtmpClientError> {
    match &item.kind {
        OutgoingKind::Config(CodecConfig::H264(config)) => connection.send_video(&avc_tag_header(true, 0, 0), &config.avcc, item.dts),
        OutgoingKind::Config(CodecConfig::Aac(config)) => connection.send_audio(&aac_tag_header(true), &config.asc, item.dts),
        OutgoingKind::Video { keyframe, .. } => {
            let composition = item.pts.checked_sub(item.dts).map_or(0, Timestamp::as_millis);
            let composition_ms = composition.clamp(-(1 << 23), (1 << 23) - 1) as i32;
            connection.send_video(&avc_tag_header(*keyframe, 1, composition_ms), &item.data, item.dts)
        }
        OutgoingKind::Audio => connection.send_audio(&aac_tag_header(false), &item.data, item.dts),
    }
}

fn classify(error: RtmpClientError) -> Failure {
    match error {
        RtmpClientError::Refused(reason) => Failure::Refused(reason),
        other => Failure::Transient { reason: other.to_string(), was_live: false },
    }
}
