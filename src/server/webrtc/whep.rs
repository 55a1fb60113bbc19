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
use str0m::Rtc;
use str0m::media::Pt;

use super::peer::Role;
use super::signal::{Refused, Signal};
use crate::server::hub::Hub;

/// Sender reports, egress statistics: how often a viewer's counts refresh.
pub const STATS_INTERVAL: Duration = Duration::from_secs(1);

/// The H.264 payload type offered; the answer takes the browser's number for it.
const H264_PT: u8 = 102;
const H264_RTX_PT: u8 = 103;

pub async fn offer(State(hub): State<Arc<Hub>>, Path(key): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    match answer(&hub, &key, &headers, &body) {
        Ok(created) => created,
        Err(refused) => Signal::Whep.refuse(&hub, &key, refused),
    }
}

fn answer(hub: &Hub, key: &str, headers: &HeaderMap, body: &[u8]) -> Result<Response, Refused> {
    let endpoint = Signal::endpoint(hub, headers)?;
    let stream = hub.get(key).ok_or_else(|| Refused::new(StatusCode::NOT_FOUND, format!("no live stream {key:?}")))?;
    let profile_level_id = stream.rtc.profile_level_id().map_err(|unwatchable| Refused::new(StatusCode::CONFLICT, unwatchable))?;
    let offer = Signal::parse(body)?;
    let mut config = Rtc::builder().set_ice_lite(true).clear_codecs().enable_opus(true).set_stats_interval(Some(STATS_INTERVAL));
    config.codec_config().add_h264(Pt::from(H264_PT), Some(Pt::from(H264_RTX_PT)), true, profile_level_id);
    let mut rtc = config.build(Instant::now());
    let no_h264 = format!("the offer has no H.264 the stream can be sent as (profile-level-id {profile_level_id:06x}, packetization-mode 1)");
    let answer = Signal::answer(&endpoint, &mut rtc, offer, &no_h264)?;
    let id = endpoint.add(key, rtc, Role::Viewer(stream.rtc.watch()));
    tracing::info!(key, peer = id, "WHEP viewer offered");
    Ok(Signal::Whep.created(key, id, answer))
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
