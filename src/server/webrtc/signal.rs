//! The HTTP half WHEP and WHIP share: an SDP offer read and checked, the
//! session's candidates and answer, the `201 Created` with its `Location`,
//! and refusals that say why (and are logged and counted).

use std::sync::Arc;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use str0m::change::SdpOffer;
use str0m::{Candidate, Rtc};

use super::endpoint::Endpoint;
use crate::server::hub::Hub;
use crate::server::metrics::Metrics;
use crate::server::serve::http::urlencode_path;

/// Why an offer is refused: the status and what to do, for its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub status: StatusCode,
    pub reason: String,
}

impl Refused {
    pub fn new(status: StatusCode, reason: impl std::fmt::Display) -> Refused {
        Refused { status, reason: reason.to_string() }
    }
}

/// Which way the media of an offer goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    /// WHEP: to a viewer.
    Whep,
    /// WHIP: from a publisher.
    Whip,
}

impl Signal {
    fn name(self) -> &'static str {
        match self {
            Signal::Whep => "WHEP",
            Signal::Whip => "WHIP",
        }
    }

    fn path(self) -> &'static str {
        match self {
            Signal::Whep => "whep",
            Signal::Whip => "whip",
        }
    }

    /// A refused offer: its status and reason in the body, a log line, a count.
    pub fn refuse(self, hub: &Hub, key: &str, refused: Refused) -> Response {
        let counter = match self {
            Signal::Whep => &hub.metrics.webrtc_refused,
            Signal::Whip => &hub.metrics.publishes_refused,
        };
        Metrics::add(counter, 1);
        tracing::info!(key, "{} offer refused: {}", self.name(), refused.reason);
        (refused.status, format!("{}\n", refused.reason)).into_response()
    }

    /// The endpoint an offer goes to, if it came as SDP to a server running one.
    pub fn endpoint(hub: &Hub, headers: &HeaderMap) -> Result<Arc<Endpoint>, Refused> {
        let sdp_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.trim().starts_with("application/sdp"));
        if !sdp_type {
            return Err(Refused::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "send the offer as Content-Type: application/sdp"));
        }
        hub.webrtc().cloned().ok_or_else(|| Refused::new(StatusCode::SERVICE_UNAVAILABLE, "WebRTC is not running on this server"))
    }

    pub fn parse(body: &[u8]) -> Result<SdpOffer, Refused> {
        let sdp = std::str::from_utf8(body).map_err(|e| e.to_string()).and_then(|sdp| SdpOffer::from_sdp_string(sdp).map_err(|e| e.to_string()));
        sdp.map_err(|error| Refused::new(StatusCode::BAD_REQUEST, format!("the offer is not valid SDP: {error}")))
    }

    /// Offers the endpoint's candidates and answers `offer`; refused when
    /// the answer has no H.264 (`no_h264` says why).
    pub fn answer(endpoint: &Endpoint, rtc: &mut Rtc, offer: SdpOffer, no_h264: &str) -> Result<String, Refused> {
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
            Err(error) => return Err(Refused::new(StatusCode::BAD_REQUEST, format!("the offer cannot be answered: {error}"))),
        };
        if !answer.contains("H264/90000") {
            return Err(Refused::new(StatusCode::NOT_ACCEPTABLE, no_h264));
        }
        Ok(answer)
    }

    /// `201 Created`: the answer, and the session's URL to DELETE.
    pub fn created(self, key: &str, id: u64, answer: String) -> Response {
        let mut response = (StatusCode::CREATED, answer).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/sdp"));
        if let Ok(location) = HeaderValue::from_str(&format!("/live/{}/{}/{id}", urlencode_path(key), self.path())) {
            headers.insert(header::LOCATION, location);
        }
        response
    }
}
