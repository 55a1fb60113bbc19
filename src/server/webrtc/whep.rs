//! WHEP, as the IETF draft has it: `POST /live/KEY/whep` with an SDP offer
//! answers 201 Created with the SDP answer and a `Location` the viewer
//! DELETEs to leave. No trickle ICE: the server is ICE-lite and its
//! candidates are in the answer.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use str0m::change::SdpOffer;
use str0m::media::Pt;
use str0m::{Candidate, Rtc};

use super::peer::Role;
use crate::server::hub::Hub;
use crate::server::metrics::Metrics;

/// Sender reports, egress statistics: how often a viewer's counts refresh.
const STATS_INTERVAL: Duration = Duration::from_secs(1);

/// The H.264 payload type offered; the answer takes the browser's number for it.
const H264_PT: u8 = 102;
const H264_RTX_PT: u8 = 103;

fn refuse(hub: &Hub, status: StatusCode, reason: impl std::fmt::Display, key: &str) -> Response {
    Metrics::add(&hub.metrics.webrtc_refused, 1);
    tracing::info!(key, "WHEP offer refused: {reason}");
    (status, format!("{reason}\n")).into_response()
}

pub async fn offer(State(hub): State<Arc<Hub>>, Path(key): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    let sdp_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.trim().starts_with("application/sdp"));
    if !sdp_type {
        return refuse(&hub, StatusCode::UNSUPPORTED_MEDIA_TYPE, "send the offer as Content-Type: application/sdp", &key);
    }
    let Some(endpoint) = hub.webrtc() else {
        return refuse(&hub, StatusCode::SERVICE_UNAVAILABLE, "WebRTC is not running on this server", &key);
    };
    let Some(stream) = hub.get(&key) else {
        return refuse(&hub, StatusCode::NOT_FOUND, format!("no live stream {key:?}"), &key);
    };
    let profile_level_id = match stream.rtc.profile_level_id() {
        Ok(id) => id,
        Err(unwatchable) => return refuse(&hub, StatusCode::CONFLICT, unwatchable, &key),
    };
    let offer = match std::str::from_utf8(&body).map_err(|e| e.to_string()).and_then(|sdp| SdpOffer::from_sdp_string(sdp).map_err(|e| e.to_string())) {
        Ok(offer) => offer,
        Err(error) => return refuse(&hub, StatusCode::BAD_REQUEST, format!("the offer is not valid SDP: {error}"), &key),
    };
    let mut config = Rtc::builder().set_ice_lite(true).clear_codecs().enable_opus(true).set_stats_interval(Some(STATS_INTERVAL));
    config.codec_config().add_h264(Pt::from(H264_PT), Some(Pt::from(H264_RTX_PT)), true, profile_level_id);
    let mut rtc = config.build(Instant::now());
    for &addr in &endpoint.candidates {
        match Candidate::host(addr, "udp") {
            Ok(candidate) => {
                rtc.add_local_candidate(candidate);
            }
            Err(error) => tracing::warn!("WebRTC candidate {addr} refused: {error}"),
        }
    }
    let answer = match rtc.sdp_api().accept_offer(offer) {
        Ok(answer) => answer.to_sdp_string(),
        Err(error) => return refuse(&hub, StatusCode::BAD_REQUEST, format!("the offer cannot be answered: {error}"), &key),
    };
    if !answer.contains("H264/90000") {
        let reason = format!("the offer has no H.264 the stream can be sent as (profile-level-id {profile_level_id:06x}, packetization-mode 1)");
        return refuse(&hub, StatusCode::NOT_ACCEPTABLE, reason, &key);
    }
    let id = endpoint.add(&key, rtc, Role::Viewer(stream.rtc.watch()));
    tracing::info!(key, peer = id, "WHEP viewer offered");
    let mut response = (StatusCode::CREATED, answer).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/sdp"));
    if let Ok(location) = HeaderValue::from_str(&format!("/live/{}/whep/{id}", crate::server::serve::http::urlencode_path(&key))) {
        headers.insert(header::LOCATION, location);
    }
    response
}

pub async fn stop(State(hub): State<Arc<Hub>>, Path((key, id)): Path<(String, u64)>) -> Response {
    match hub.webrtc() {
        Some(endpoint) => {
            endpoint.close(&key, id);
            StatusCode::OK.into_response()
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// CORS preflight: a player on another origin posts SDP and deletes its session.
pub async fn preflight() -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    let headers = response.headers_mut();
    headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("POST, DELETE, OPTIONS"));
    headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static("Content-Type, Authorization"));
    response
}
