//! WHIP, as RFC 9725 has it: `POST /live/KEY/whip` with an SDP offer to
//! send answers 201 Created with the answer and a `Location` the publisher
//! DELETEs to stop. The bearer token is the stream's publish secret when
//! one is set (`rtmp.publish_secret`, `[rtmp.publish_secrets]`). What the
//! publisher sends enters the hub as RTMP's and SRT's does.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use str0m::Rtc;
use str0m::media::Pt;

use super::ingest::WhipIngest;
use super::peer::Role;
use super::signal::{Refused, Signal};
use crate::server::hub::{Hub, IngestProtocol, PublishError};
use crate::server::ingest::publish_secret::{self, PublishName};

/// The H.264 profiles taken from publishers (packetization-mode 1): what
/// browsers and OBS send. The answer takes the offer's payload numbers.
const H264_PROFILES: [(u8, u8, u32); 4] = [(102, 103, 0x42e01f), (104, 105, 0x42001f), (106, 107, 0x4d001f), (108, 109, 0x64001f)];

pub async fn offer(
    State(hub): State<Arc<Hub>>,
    Path(key): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match answer(&hub, &key, peer, &headers, &body) {
        Ok(created) => created,
        Err(refused) => {
            let unauthorized = refused.status == StatusCode::UNAUTHORIZED;
            let mut response = Signal::Whip.refuse(&hub, &key, refused);
            if unauthorized {
                response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            response
        }
    }
}

fn answer(hub: &Hub, key: &str, peer: SocketAddr, headers: &HeaderMap, body: &[u8]) -> Result<Response, Refused> {
    let endpoint = Signal::endpoint(hub, headers)?;
    let token = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer ")).map(str::trim);
    publish_secret::check(&hub.config().rtmp, &PublishName::with_secret(key, token))
        .map_err(|refusal| Refused::new(StatusCode::UNAUTHORIZED, format!("{refusal} (WHIP: the bearer token)")))?;
    let conflict = |refused: PublishError| {
        let status = if matches!(refused, PublishError::BadKey(_)) { StatusCode::BAD_REQUEST } else { StatusCode::CONFLICT };
        Refused::new(status, refused)
    };
    hub.may_publish(key).map_err(conflict)?;
    let offer = Signal::parse(body)?;
    let mut config = Rtc::builder()
        .set_ice_lite(true)
        .clear_codecs()
        .enable_opus(true)
        .set_reordering_size_video(hub.config().webrtc.repair_frames())
        .set_stats_interval(Some(super::whep::STATS_INTERVAL));
    for (pt, rtx, profile) in H264_PROFILES {
        config.codec_config().add_h264(Pt::from(pt), Some(Pt::from(rtx)), true, profile);
    }
    let mut rtc = config.build(Instant::now());
    let answer = Signal::answer(&endpoint, &mut rtc, offer, "the offer sends no H.264 (packetization-mode 1): send H.264, with Opus for sound")?;
    let publisher = hub.publish(key, IngestProtocol::WebRtc, peer).map_err(conflict)?;
    let (video, audio) = (answer.contains("m=video"), answer.contains("opus/48000"));
    let keyframe_every = std::time::Duration::from_millis(u64::from(hub.config().segments.target_ms));
    let ingest = WhipIngest::new(publisher, video, audio, keyframe_every, Instant::now()).map_err(conflict)?;
    let id = endpoint.add(key, rtc, Role::Publisher(Box::new(ingest)));
    tracing::info!(key, %peer, session = id, "WHIP publisher offered");
    Ok(Signal::Whip.created(key, id, answer))
}
