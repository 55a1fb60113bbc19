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
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use str0m::change::SdpOffer;
use str0m::media::Pt;
use str0m::{Candidate, Rtc};

use super::ingest::WhipIngest;
use super::peer::Role;
use crate::server::hub::{Hub, IngestProtocol, PublishError};
use crate::server::ingest::publish_secret::{self, PublishName};
use crate::server::metrics::Metrics;

/// The H.264 profiles taken from publishers (packetization-mode 1): what
/// browsers and OBS send. The answer takes the offer's payload numbers.
const H264_PROFILES: [(u8, u8, u32); 4] = [(102, 103, 0x42e01f), (104, 105, 0x42001f), (106, 107, 0x4d001f), (108, 109, 0x64001f)];
/// Packets str0m holds to put a frame back in order: a 1080p keyframe is
/// a few hundred.
const REORDER_PACKETS: usize = 1000;

fn refuse(hub: &Hub, status: StatusCode, reason: impl std::fmt::Display, key: &str) -> Response {
    Metrics::add(&hub.metrics.publishes_refused, 1);
    tracing::info!(key, "WHIP offer refused: {reason}");
    (status, format!("{reason}\n")).into_response()
}

pub async fn offer(
    State(hub): State<Arc<Hub>>,
    Path(key): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let sdp_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.trim().starts_with("application/sdp"));
    if !sdp_type {
        return refuse(&hub, StatusCode::UNSUPPORTED_MEDIA_TYPE, "send the offer as Content-Type: application/sdp", &key);
    }
    let Some(endpoint) = hub.webrtc() else {
        return refuse(&hub, StatusCode::SERVICE_UNAVAILABLE, "WebRTC is not running on this server", &key);
    };
    let token = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer ")).map(str::trim);
    if let Err(refusal) = publish_secret::check(&hub.config().rtmp, &PublishName::with_secret(&key, token)) {
        let mut response = refuse(&hub, StatusCode::UNAUTHORIZED, format!("{refusal} (WHIP: the bearer token)"), &key);
        response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return response;
    }
    if let Err(refused) = hub.may_publish(&key) {
        let status = if matches!(refused, PublishError::BadKey(_)) { StatusCode::BAD_REQUEST } else { StatusCode::CONFLICT };
        return refuse(&hub, status, refused, &key);
    }
    let offer = match std::str::from_utf8(&body).map_err(|e| e.to_string()).and_then(|sdp| SdpOffer::from_sdp_string(sdp).map_err(|e| e.to_string())) {
        Ok(offer) => offer,
        Err(error) => return refuse(&hub, StatusCode::BAD_REQUEST, format!("the offer is not valid SDP: {error}"), &key),
    };
    let mut config = Rtc::builder().set_ice_lite(true).clear_codecs().enable_opus(true).set_reordering_size_video(REORDER_PACKETS);
    for (pt, rtx, profile) in H264_PROFILES {
        config.codec_config().add_h264(Pt::from(pt), Some(Pt::from(rtx)), true, profile);
    }
    let mut rtc = config.build(Instant::now());
    for &addr in &endpoint.candidates {
        if let Ok(candidate) = Candidate::host(addr, "udp") {
            rtc.add_local_candidate(candidate);
        }
    }
    let answer = match rtc.sdp_api().accept_offer(offer) {
        Ok(answer) => answer.to_sdp_string(),
        Err(error) => return refuse(&hub, StatusCode::BAD_REQUEST, format!("the offer cannot be answered: {error}"), &key),
    };
    if !answer.contains("H264/90000") {
        return refuse(&hub, StatusCode::NOT_ACCEPTABLE, "the offer sends no H.264 (packetization-mode 1): send H.264, with Opus for sound", &key);
    }
    let publisher = match hub.publish(&key, IngestProtocol::WebRtc, peer) {
        Ok(publisher) => publisher,
        Err(refused) => return refuse(&hub, StatusCode::CONFLICT, refused, &key),
    };
    let (video, audio) = (answer.contains("m=video"), answer.contains("opus/48000"));
    let keyframe_every = std::time::Duration::from_millis(u64::from(hub.config().segments.target_ms));
    let ingest = match WhipIngest::new(publisher, video, audio, keyframe_every, Instant::now()) {
        Ok(ingest) => ingest,
        Err(refused) => return refuse(&hub, StatusCode::CONFLICT, refused, &key),
    };
    let id = endpoint.add(&key, rtc, Role::Publisher(Box::new(ingest)));
    tracing::info!(key, %peer, session = id, "WHIP publisher offered");
    let mut response = (StatusCode::CREATED, answer).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/sdp"));
    if let Ok(location) = HeaderValue::from_str(&format!("/live/{}/whip/{id}", crate::server::serve::http::urlencode_path(&key))) {
        headers.insert(header::LOCATION, location);
    }
    response
}
