//! The SRT publishing driver: MPEG-TS over an SRT caller connection, seven
//! TS packets per SRT payload, with the same queue, reconnect and status as RTMP.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::SinkExt;
use srt_tokio::SrtSocket;
use tokio::sync::watch;

use super::queue::{Outgoing, OutgoingKind};
use super::session::{Failure, resolve, run_with_reconnect};
use super::shared::{PublishShared, PublishState};
use super::target::SrtTarget;
use crate::media::aac::{adts_header, parse_asc};
use crate::media::codec::AacConfig;
use crate::media::h264::{avcc_parameter_sets, length_prefixed_units};
use crate::media::ts::PACKET_SIZE;
use crate::media::ts::mux::TsMuxer;

const PACKETS_PER_PAYLOAD: usize = 7;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

pub async fn run(target: SrtTarget, shared: Arc<PublishShared>, stop: watch::Receiver<bool>) {
    let label = target.display();
    let for_session = shared.clone();
    run_with_reconnect(label, shared, stop, async move |stop: &mut watch::Receiver<bool>| publish_once(&target, &for_session, stop).await).await;
}

/// What the TS muxer needs from the sequence headers.
#[derive(Default)]
struct Codecs {
    parameter_sets: Vec<Vec<u8>>,
    aac: Option<AacConfig>,
}

impl Codecs {
    fn learn(&mut self, item: &Outgoing) {
        match item.kind {
            OutgoingKind::VideoHeader => {
                self.parameter_sets = item.body.get(5..).map(|avcc| avcc_parameter_sets(avcc).into_iter().map(<[u8]>::to_vec).collect()).unwrap_or_default();
            }
            OutgoingKind::AudioHeader => {
                self.aac = item.body.get(2..).and_then(|asc| parse_asc(Bytes::copy_from_slice(asc)).ok());
            }
            _ => {}
        }
    }
}

async fn publish_once(target: &SrtTarget, shared: &PublishShared, stop: &mut watch::Receiver<bool>) -> Result<(), Failure> {
    let transient = |reason: String| Failure::Transient { reason, was_live: false };
    let address = resolve(&target.host, target.port).await?;
    let mut builder = SrtSocket::builder().latency(Duration::from_millis(u64::from(target.latency_ms)));
    if let Some(passphrase) = &target.passphrase {
        builder = builder.encryption(16, passphrase.clone());
    }
    let call = builder.call(address, target.stream_id.as_deref());
    let mut socket = match tokio::time::timeout(CONNECT_TIMEOUT, call).await {
        Err(_) => return Err(transient(format!("no SRT answer from {address} within {} s", CONNECT_TIMEOUT.as_secs()))),
        Ok(Err(error)) if error.to_string().to_lowercase().contains("reject") => {
            return Err(Failure::Fatal(format!("the server refused the stream: {error}")));
        }
        Ok(Err(error)) => return Err(transient(format!("cannot connect to {address}: {error}"))),
        Ok(Ok(socket)) => socket,
    };
    tracing::info!(target = %target.display(), "live over SRT");
    shared.set_state(PublishState::Live);
    let live_failure = |reason: String| Failure::Transient { reason, was_live: true };
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
    loop {
        while let Some(item) = shared.pop() {
            codecs.learn(&item);
            mux(&mut muxer, &codecs, &item, &mut packets);
            if matches!(item.kind, OutgoingKind::Video { .. }) {
                shared.count_video_frame(item.captured_micros);
            }
        }
        // Whole payloads only; a partial one waits for the next frame.
        let whole = packets.len() / (PACKET_SIZE * PACKETS_PER_PAYLOAD) * (PACKET_SIZE * PACKETS_PER_PAYLOAD);
        for chunk in packets[..whole].chunks(PACKET_SIZE * PACKETS_PER_PAYLOAD) {
            socket.feed((Instant::now(), Bytes::copy_from_slice(chunk))).await.map_err(|e| live_failure(format!("send failed: {e:?}")))?;
            shared.count_sent(chunk.len());
        }
        if whole > 0 {
            socket.flush().await.map_err(|e| live_failure(format!("send failed: {e:?}")))?;
            packets.drain(..whole);
        }
        tokio::select! {
            _ = shared.wait_for_media() => {}
            _ = stop.changed() => {
                if !packets.is_empty() {
                    let _ = socket.send((Instant::now(), Bytes::from(std::mem::take(&mut packets)))).await;
                }
                // Closing drops what is still in SRT's send buffer: give it the latency to drain.
                tokio::time::sleep(Duration::from_millis(u64::from(target.latency_ms) + 200)).await;
                let _ = socket.close().await;
                return Ok(());
            }
        }
    }
}

fn mux(muxer: &mut TsMuxer, codecs: &Codecs, item: &Outgoing, out: &mut Vec<u8>) {
    let time_90k = (item.timestamp_ms.max(0) as u64) * 90;
    match item.kind {
        OutgoingKind::Video { keyframe, .. } => {
            let Some(nalus) = item.body.get(5..) else { return };
            let units: Vec<&[u8]> = length_prefixed_units(nalus).collect();
            let sets: Vec<&[u8]> = codecs.parameter_sets.iter().map(Vec::as_slice).collect();
            muxer.write_video(time_90k, time_90k, keyframe, &sets, &units, out);
        }
        OutgoingKind::Audio => {
            let (Some(config), Some(raw)) = (&codecs.aac, item.body.get(2..)) else { return };
            let Some(header) = adts_header(config, raw.len()) else { return };
            let mut frame = header.to_vec();
            frame.extend_from_slice(raw);
            muxer.write_audio(time_90k, &frame, out);
        }
        OutgoingKind::VideoHeader | OutgoingKind::AudioHeader => {}
    }
}
