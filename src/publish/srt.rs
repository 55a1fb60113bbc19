//! The SRT publishing driver: MPEG-TS over an SRT caller connection, seven
//! TS packets per SRT payload, with the same queue, reconnect and status as RTMP.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::queue::{Outgoing, OutgoingKind};
use super::session::{Failure, resolve, run_with_reconnect};
use super::shared::{LinkStats, PublishShared, PublishState};
use super::target::SrtTarget;
use crate::media::aac::adts_header;
use crate::media::codec::{AacConfig, CodecConfig};
use crate::media::h264::{avcc_parameter_sets, length_prefixed_units};
use crate::media::time::{TimeBase, Timestamp};
use crate::media::ts::mux::TsMuxer;
use crate::media::ts::{PACKET_SIZE, null_packet};
use crate::srt::{SrtError, SrtOptions, SrtSocket};

const PAYLOAD_BYTES: usize = 7 * PACKET_SIZE;
const PADDING_INTERVAL: Duration = Duration::from_millis(20);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the round trip and loss are read for the status.
const LINK_REPORT_INTERVAL: Duration = Duration::from_millis(500);

pub async fn run(target: SrtTarget, shared: Arc<PublishShared>, stop: watch::Receiver<bool>) {
    let label = target.display();
    let for_session = shared.clone();
    let host = format!("{}:{}", target.host, target.port);
    run_with_reconnect(label, host, shared, stop, async move |stop: &mut watch::Receiver<bool>| publish_once(&target, &for_session, stop).await).await;
}

/// What the TS muxer needs from the sequence headers.
#[derive(Default)]
struct Codecs {
    parameter_sets: Vec<Vec<u8>>,
    aac: Option<AacConfig>,
}

impl Codecs {
    fn learn(&mut self, item: &Outgoing) {
        match &item.kind {
            OutgoingKind::Config(CodecConfig::H264(h264)) => {
                self.parameter_sets = avcc_parameter_sets(&h264.avcc).into_iter().map(<[u8]>::to_vec).collect();
            }
            OutgoingKind::Config(CodecConfig::Aac(aac)) => self.aac = Some(aac.clone()),
            _ => {}
        }
    }
}

async fn publish_once(target: &SrtTarget, shared: &PublishShared, stop: &mut watch::Receiver<bool>) -> Result<(), Failure> {
    let transient = |reason: String| Failure::Transient { reason, was_live: false };
    let address = resolve(&target.host, target.port).await?;
    let options = SrtOptions {
        latency: Duration::from_millis(u64::from(target.latency_ms)),
        passphrase: target.passphrase.clone(),
        key_length: target.key_length,
        stream_id: target.stream_id.clone(),
        connect_timeout: Some(CONNECT_TIMEOUT),
        eager_retransmission: true,
    };
    let socket = match tokio::task::spawn_blocking(move || SrtSocket::connect(address, &options)).await {
        Err(error) => return Err(transient(format!("the SRT connect task failed: {error}"))),
        Ok(Err(SrtError::NoAnswer(_))) => {
            return Err(transient(format!(
                "no SRT answer from {address} within {} s; check the address and that the server listens for SRT there",
                CONNECT_TIMEOUT.as_secs()
            )));
        }
        Ok(Err(error)) if error.is_passphrase_refusal() => {
            return Err(Failure::Refused(format!("{error}; check the passphrase in the SRT URL")));
        }
        Ok(Err(error @ SrtError::Rejected { .. })) => return Err(Failure::Refused(error.to_string())),
        Ok(Err(error)) => return Err(transient(error.to_string())),
        Ok(Ok(socket)) => Arc::new(socket),
    };
    let latency = Duration::from_millis(u64::from(target.latency_ms));
    let warming = socket.clone();
    if let Ok(Err(error)) = tokio::task::spawn_blocking(move || warm_up(&warming, latency)).await {
        return Err(transient(format!("send failed: {error}")));
    }
    tracing::info!(target = %target.display(), "live over SRT");
    shared.set_state(PublishState::Live);
    let mut codecs = Codecs::default();
    let headers = shared.resync();
    shared.request_keyframe();
    for header in &headers {
        codecs.learn(header);
    }
    let has_audio = codecs.aac.is_some();
    let mut muxer = TsMuxer::new(true, has_audio);
    let mut packets = Vec::new();
    muxer.write_tables(&mut packets);
    let mut link_reported = std::time::Instant::now();
    loop {
        if link_reported.elapsed() >= LINK_REPORT_INTERVAL {
            link_reported = std::time::Instant::now();
            if let Some(stats) = socket.stats() {
                let loss_percent = if stats.packets_sent > 0 { 100.0 * stats.packets_reported_lost as f64 / stats.packets_sent as f64 } else { 0.0 };
                shared.set_link_stats(LinkStats { rtt_ms: stats.rtt_ms, loss_percent });
            }
        }
        while let Some(item) = shared.pop() {
            codecs.learn(&item);
            mux(&mut muxer, &codecs, &item, &mut packets);
            if matches!(item.kind, OutgoingKind::Video { .. }) {
                shared.count_video_frame(item.captured_micros);
            }
        }
        // Whole payloads only; a partial one waits for the next frame.
        let whole = packets.len() / PAYLOAD_BYTES * PAYLOAD_BYTES;
        if whole > 0 {
            let payloads: Vec<u8> = packets.drain(..whole).collect();
            send(&socket, payloads, shared).await?;
        }
        tokio::select! {
            _ = shared.wait_for_media() => {}
            _ = stop.changed() => {
                if !packets.is_empty() {
                    send(&socket, std::mem::take(&mut packets), shared).await?;
                }
                let _ = tokio::task::spawn_blocking(move || drain(&socket, latency)).await;
                return Ok(());
            }
        }
    }
}

/// Sends TS packets in SRT payloads of seven, off the async runtime.
async fn send(socket: &Arc<SrtSocket>, packets: Vec<u8>, shared: &PublishShared) -> Result<(), Failure> {
    let socket = socket.clone();
    let sent = tokio::task::spawn_blocking(move || -> Result<usize, SrtError> {
        for payload in packets.chunks(PAYLOAD_BYTES) {
            socket.send(payload)?;
        }
        Ok(packets.len())
    })
    .await;
    match sent {
        Ok(Ok(bytes)) => {
            shared.count_sent(bytes);
            Ok(())
        }
        Ok(Err(error)) => Err(Failure::Transient { reason: format!("send failed: {error}"), was_live: true }),
        Err(error) => Err(Failure::Transient { reason: format!("the SRT send task failed: {error}"), was_live: true }),
    }
}

/// Sends a payload of null TS packets every `PADDING_INTERVAL` for `duration`
/// or until `done`: they carry nothing, but a loss before them gets noticed.
fn pad_with_nulls(socket: &SrtSocket, duration: Duration, done: impl Fn(&SrtSocket) -> bool) -> Result<(), SrtError> {
    let payload: Vec<u8> = std::iter::repeat_n(null_packet(), PAYLOAD_BYTES / PACKET_SIZE).flatten().collect();
    let until = Instant::now() + duration;
    while Instant::now() < until && !done(socket) {
        socket.send(&payload)?;
        std::thread::sleep(PADDING_INTERVAL);
    }
    Ok(())
}

/// A loss in a connection's first moments is sometimes not recovered (the
/// peers have no round-trip estimate yet): null TS packets take that place
/// for one latency instead of the first keyframe.
fn warm_up(socket: &SrtSocket, latency: Duration) -> Result<(), SrtError> {
    pad_with_nulls(socket, latency, |_| false)
}

/// Closing drops what SRT has not delivered yet, on both sides: the receiver
/// hands a packet to its reader only a latency after it was sent, and one
/// that quits when the caller leaves (srt-live-transmit does) drops what it
/// still holds, acknowledged or not. A lost packet is only noticed (and
/// resent) when a later one arrives. So null TS packets follow the last media
/// for the latency and a margin, then the acknowledgements are awaited.
fn drain(socket: &SrtSocket, latency: Duration) {
    let _ = pad_with_nulls(socket, latency + Duration::from_millis(200), |s| !s.is_connected());
    let deadline = Instant::now() + Duration::from_secs(1);
    while Instant::now() < deadline && socket.is_connected() && socket.stats().is_some_and(|s| s.unacknowledged > 0) {
        std::thread::sleep(Duration::from_millis(10));
    }
    if let Some(stats) = socket.stats() {
        tracing::info!(
            "SRT sent {} packets, {} retransmitted, {} dropped as too late, {} unacknowledged at close",
            stats.packets_sent,
            stats.packets_retransmitted,
            stats.packets_send_dropped,
            stats.unacknowledged
        );
    }
}

/// Serialises one encoded frame as TS packets, its pts and dts exactly on
/// the 90 kHz clock.
fn mux(muxer: &mut TsMuxer, codecs: &Codecs, item: &Outgoing, out: &mut Vec<u8>) {
    let ts_time = |time: Timestamp| time.rescale(TimeBase::MPEG_90K).map_or(0, |t| t.value.max(0) as u64);
    let (pts, dts) = (ts_time(item.pts), ts_time(item.dts));
    match &item.kind {
        OutgoingKind::Video { keyframe, .. } => {
            let units: Vec<&[u8]> = length_prefixed_units(&item.data).collect();
            let sets: Vec<&[u8]> = codecs.parameter_sets.iter().map(Vec::as_slice).collect();
            muxer.write_video(pts, dts, *keyframe, &sets, &units, out);
        }
        OutgoingKind::Audio => {
            let Some(config) = &codecs.aac else { return };
            let Some(header) = adts_header(config, item.data.len()) else { return };
            let mut frame = header.to_vec();
            frame.extend_from_slice(&item.data);
            muxer.write_audio(pts, &frame, out);
        }
        OutgoingKind::Config(_) => {}
    }
}
