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

/// How long a browser or a shared cache (nginx `proxy_cache`, a CDN) may
/// keep a response: the whole of what lets the origin sit behind a cache tier.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cache {
    /// Segments, closed parts, init segments: a URL's bytes never change.
    Immutable,
    /// Playlists without delivery directives: they change at every part.
    Playlist,
    /// A playlist answered to `_HLS_msn`/`_HLS_part`: it holds at least the
    /// part its URL names, so it stays right as long as viewers ask for that
    /// URL (about a part's time); a segment's time, so a cache collapses
    /// every viewer's request into one without outliving a restart by much.
    Blocked { seconds: u32 },
    /// The embedded player scripts.
    Script,
    /// Kept only if checked with the origin on every use (pages, the MPD).
    Revalidate,
    /// Never kept: live figures, errors, the clock.
    NoStore,
}

impl Cache {
    pub fn header(self) -> HeaderValue {
        match self {
            Cache::Immutable => HeaderValue::from_static("public, max-age=31536000, immutable"),
            Cache::Playlist => HeaderValue::from_static("public, max-age=1"),
            Cache::Blocked { seconds } => HeaderValue::from_str(&format!("public, max-age={seconds}")).expect("digits are a header value"),
            Cache::Script => HeaderValue::from_static("public, max-age=86400"),
            Cache::Revalidate => HeaderValue::from_static("no-cache"),
            Cache::NoStore => HeaderValue::from_static("no-store"),
        }
    }
}

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

/// Never cached: what is missing now (the next segment, a returning
/// publisher's stream) may be there a moment later.
pub fn not_found_response() -> Response {
    (StatusCode::NOT_FOUND, [(header::CACHE_CONTROL, Cache::NoStore.header())], "not found\n").into_response()
}

/// A whole body: one buffer, or a closed segment's parts written one after
/// another under the length of them all.
pub fn body(content_type: &'static str, cache: Cache, data: impl Into<Pieces>) -> Response {
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
    headers.insert(header::CACHE_CONTROL, cache.header());
    response
}

/// A body that changes as the stream goes on (a playlist, the MPD), with an
/// `ETag` of its bytes, and a bodiless 304 when the client or the cache in
/// front already holds them (`If-None-Match`): a cache revalidating an
/// expired playlist that has not changed gets a few header bytes back.
pub fn revalidated(content_type: &'static str, cache: Cache, data: Bytes, if_none_match: Option<&HeaderValue>) -> Response {
    let tag = entity_tag(&data);
    let held =
        if_none_match.and_then(|v| v.to_str().ok()).is_some_and(|list| list.split(',').any(|t| t.trim().trim_start_matches("W/") == tag || t.trim() == "*"));
    let mut response = if held {
        let mut response = StatusCode::NOT_MODIFIED.into_response();
        response.headers_mut().insert(header::CACHE_CONTROL, cache.header());
        response
    } else {
        body(content_type, cache, data)
    };
    response.headers_mut().insert(header::ETAG, HeaderValue::from_str(&tag).expect("hex digits are a header value"));
    response
}

/// A strong validator: a hash of the bytes, quoted.
fn entity_tag(data: &[u8]) -> String {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    data.hash(&mut hasher);
    format!("\"{:016x}{:08x}\"", hasher.finish(), data.len())
}

pub fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag_of(response: &Response) -> HeaderValue {
        response.headers()[header::ETAG].clone()
    }

    #[test]
    fn a_held_playlist_is_a_304_and_a_changed_one_is_sent_whole() {
        let first = revalidated("text/plain", Cache::Playlist, Bytes::from_static(b"#EXTM3U\n1"), None);
        assert_eq!(first.status(), StatusCode::OK);
        let tag = tag_of(&first);
        let again = revalidated("text/plain", Cache::Playlist, Bytes::from_static(b"#EXTM3U\n1"), Some(&tag));
        assert_eq!((again.status(), tag_of(&again)), (StatusCode::NOT_MODIFIED, tag.clone()));
        assert_eq!(again.headers()[header::CACHE_CONTROL], "public, max-age=1", "a 304 renews the cache's lifetime");
        let changed = revalidated("text/plain", Cache::Playlist, Bytes::from_static(b"#EXTM3U\n2"), Some(&tag));
        assert_eq!(changed.status(), StatusCode::OK);
        assert_ne!(tag_of(&changed), tag);
        let listed = HeaderValue::from_str(&format!("\"other\", W/{}", tag.to_str().unwrap())).unwrap();
        assert_eq!(revalidated("text/plain", Cache::Playlist, Bytes::from_static(b"#EXTM3U\n1"), Some(&listed)).status(), StatusCode::NOT_MODIFIED);
    }
}
