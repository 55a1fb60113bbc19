//! The response pieces the router, the live paths and the player page
//! share: cache policies, MIME types, bodies and common headers.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use crate::media::frame::TrackKind;
use crate::server::hub::Hub;

pub const PLAYLIST_CACHE: &str = "max-age=1";
pub const SEGMENT_CACHE: &str = "public, max-age=31536000, immutable";

/// Counted, and open to players on other origins (the live paths, which
/// skip the router, get them in `connection.rs`). A plain function, not an
/// async middleware: it runs on every response of a fan-out burst.
pub fn common_headers(hub: &Hub, mut response: Response) -> Response {
    hub.metrics.count_http(response.status().as_u16());
    let headers = response.headers_mut();
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static("Content-Length, Date"));
    response
}

/// The MIME type of a track's init segments, segments and parts.
pub fn media_type(kind: TrackKind) -> &'static str {
    match kind {
        TrackKind::Video => "video/mp4",
        TrackKind::Audio => "audio/mp4",
    }
}

pub fn not_found_response() -> Response {
    (StatusCode::NOT_FOUND, "not found\n").into_response()
}

pub fn body(content_type: &'static str, cache: &'static str, data: Bytes) -> Response {
    let mut response = Response::new(Body::from(data));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    response
}

pub fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}
