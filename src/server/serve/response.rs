//! The response pieces the router, the live paths and the player page
//! share: cache policies, MIME types, bodies and common headers.

use std::convert::Infallible;

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use crate::media::frame::TrackKind;
use crate::server::hub::Hub;
use crate::server::package::cmaf::pieces::Pieces;

pub const PLAYLIST_CACHE: &str = "max-age=1";
pub const SEGMENT_CACHE: &str = "public, max-age=31536000, immutable";

/// Counted, and open to players on other origins (the live paths, which
/// skip the router, get them in `connection.rs`). A plain function, not an
/// async middleware: it runs on every response of a fan-out burst.
pub fn common_headers(hub: &Hub, mut response: Response) -> Response {
    hub.metrics.count_http(response.status().as_u16());
    let headers = response.headers_mut();
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static("Content-Length, Date, Location"));
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

/// A whole body: one buffer, or a closed segment's parts written one after
/// another under the length of them all.
pub fn body(content_type: &'static str, cache: &'static str, data: impl Into<Pieces>) -> Response {
    let data = data.into();
    let length = data.len();
    let mut response = match data.piece(1) {
        None => Response::new(Body::from(data.to_bytes())),
        Some(_) => {
            let mut response = Response::new(Body::from_stream(futures_util::stream::iter(data.into_iter().map(Ok::<Bytes, Infallible>))));
            response.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from(length));
            response
        }
    };
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    response
}

pub fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}
