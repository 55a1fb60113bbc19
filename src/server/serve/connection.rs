//! The service each HTTP connection gets.
//!
//! Requests under `/live/KEY/` (playlists, parts, segments, the MPD) come by
//! the thousand at every part, so they are answered here, straight from the
//! path: no route table, no parameter map and no per-request extensions to
//! build and free. Everything else goes through the router.

use std::collections::hash_map::DefaultHasher;
use std::convert::Infallible;
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use tower::Service;

use super::response::{Cache, body, common_headers, media_type, not_found_response, revalidated};
use crate::server::hub::Hub;
use crate::server::hub::stream::StreamSnapshot;
use crate::server::package::dash::UTC_TIMING_PLACEHOLDER;
use crate::server::serve::blocking::parse_part_name;
use crate::server::serve::live_edge;

/// What every accepted connection is served by.
#[derive(Clone)]
pub struct Connections {
    pub hub: Arc<Hub>,
    pub router: Router,
}

impl Connections {
    /// The service for one connection from `peer`; `secure` over HTTPS.
    pub fn for_peer(&self, peer: SocketAddr, secure: bool) -> ConnectionService {
        ConnectionService { hub: self.hub.clone(), router: self.router.clone(), peer, secure }
    }
}

/// One connection's service: the live paths, then the router.
#[derive(Clone)]
pub struct ConnectionService {
    pub hub: Arc<Hub>,
    pub router: Router,
    pub peer: SocketAddr,
    /// Served over HTTPS: the URLs it writes say so.
    pub secure: bool,
}

impl Service<Request> for ConnectionService {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let Some(live) = LiveRequest::read(&request, self.peer, self.secure) else {
            let mut request = request;
            // WHIP names its publisher by the address it posted from.
            request.extensions_mut().insert(axum::extract::ConnectInfo(self.peer));
            let mut router = self.router.clone();
            return Box::pin(async move { router.call(request).await });
        };
        // Everything needed is copied out; the request is freed before any wait.
        drop(request);
        let hub = self.hub.clone();
        Box::pin(async move {
            let response = match live {
                Ok(live) => live.answer(&hub).await,
                Err(response) => response,
            };
            Ok(common_headers(&hub, response))
        })
    }
}

/// A request under `/live/KEY/`, percent-decoded.
struct LiveRequest {
    key: String,
    path: String,
    query: Option<String>,
    viewer: u64,
    host: Option<HeaderValue>,
    secure: bool,
    if_none_match: Option<HeaderValue>,
}

impl LiveRequest {
    /// None for paths that are not `/live/KEY/PATH`; an error response for
    /// one that is, asked with a method other than GET or HEAD, or not UTF-8.
    fn read(request: &Request, peer: SocketAddr, secure: bool) -> Option<Result<LiveRequest, Response>> {
        let (key, path) = request.uri().path().strip_prefix("/live/")?.split_once('/')?;
        // WHEP and WHIP sessions are the router's.
        let session = |name: &str| path == name || path.strip_prefix(name).is_some_and(|rest| rest.starts_with('/'));
        if path.is_empty() || session("whep") || session("whip") {
            return None;
        }
        if request.method() != Method::GET && request.method() != Method::HEAD {
            return Some(Err((StatusCode::METHOD_NOT_ALLOWED, [(header::ALLOW, "GET,HEAD")]).into_response()));
        }
        let (Some(key), Some(path)) = (percent_decode(key), percent_decode(path)) else {
            return Some(Err((StatusCode::BAD_REQUEST, "the path is not valid percent-encoded UTF-8\n").into_response()));
        };
        let headers = request.headers();
        Some(Ok(LiveRequest {
            key,
            path,
            query: request.uri().query().map(str::to_string),
            viewer: viewer_id(peer, headers),
            host: headers.get(header::HOST).cloned(),
            secure,
            if_none_match: headers.get(header::IF_NONE_MATCH).cloned(),
        }))
    }

    async fn answer(self, hub: &Hub) -> Response {
        let Some(stream) = hub.get(&self.key) else { return not_found_response() };
        stream.saw_viewer(self.viewer, Instant::now());
        let stream = stream.serving();
        if let Some((rendition, file)) = self.path.split_once('/') {
            if file == "playlist.m3u8" {
                return live_edge::media_playlist(&stream, rendition, self.query.as_deref(), self.if_none_match.as_ref())
                    .await
                    .unwrap_or_else(not_found_response);
            }
            if let Some((number, index)) = parse_part_name(file) {
                return live_edge::part(stream.clone(), rendition, number, index).await.unwrap_or_else(not_found_response);
            }
            if let Some(number) = file.strip_prefix("seg-").and_then(|rest| rest.strip_suffix(".m4s")).and_then(|n| n.parse().ok())
                && let Some(response) = live_edge::open_segment(stream.clone(), rendition, number)
            {
                return response;
            }
        }
        let host = self.host.as_ref().and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1");
        let origin = format!("{}://{host}", if self.secure { "https" } else { "http" });
        serve_live_path(&stream.snapshot(), &self.path, &origin, self.if_none_match.as_ref()).unwrap_or_else(not_found_response)
    }
}

/// `%XX` escapes decoded; None when one is malformed or the result is not UTF-8.
pub(crate) fn percent_decode(text: &str) -> Option<String> {
    if !text.contains('%') {
        return Some(text.to_string());
    }
    let mut bytes = Vec::with_capacity(text.len());
    let mut rest = text.as_bytes();
    while let Some((&byte, tail)) = rest.split_first() {
        if byte == b'%' {
            let hex = std::str::from_utf8(tail.get(..2)?).ok()?;
            bytes.push(u8::from_str_radix(hex, 16).ok()?);
            rest = &tail[2..];
        } else {
            bytes.push(byte);
            rest = tail;
        }
    }
    String::from_utf8(bytes).ok()
}

fn serve_live_path(snapshot: &StreamSnapshot, path: &str, origin: &str, if_none_match: Option<&HeaderValue>) -> Option<Response> {
    const M3U8: &str = "application/vnd.apple.mpegurl";
    match path {
        "index.m3u8" => return snapshot.master().map(|b| revalidated(M3U8, Cache::Playlist, b.clone(), if_none_match)),
        "manifest.mpd" => {
            let mpd = snapshot.mpd()?;
            let text = mpd.replace(UTC_TIMING_PLACEHOLDER, &format!("{origin}/time"));
            // Low-latency players refresh it every second: never a stale one.
            return Some(revalidated("application/dash+xml", Cache::Revalidate, Bytes::from(text), if_none_match));
        }
        _ => {}
    }
    let (rendition, file) = path.split_once('/')?;
    let track = snapshot.window.rendition(rendition)?;
    let mime = media_type(track.kind);
    if let Some(version) = file.strip_prefix("init-").and_then(|rest| rest.strip_suffix(".mp4")) {
        let version: u32 = version.parse().ok()?;
        return track.inits.get(&version).map(|data| body(mime, Cache::Immutable, data.clone()));
    }
    if let Some(number) = file.strip_prefix("seg-").and_then(|rest| rest.strip_suffix(".m4s")) {
        let number: u64 = number.parse().ok()?;
        return track.segment(number).map(|segment| body(mime, Cache::Immutable, segment.data.clone()));
    }
    None
}

/// A viewer, for the recent-viewers count: a hash of address and user agent.
fn viewer_id(client: SocketAddr, headers: &HeaderMap) -> u64 {
    let mut hasher = DefaultHasher::new();
    client.ip().hash(&mut hasher);
    headers.get(header::USER_AGENT).map(|v| v.as_bytes()).hash(&mut hasher);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_escapes_are_decoded_and_bad_ones_refused() {
        assert_eq!(percent_decode("video/part-1.2.m4s").as_deref(), Some("video/part-1.2.m4s"));
        assert_eq!(percent_decode("my%20show").as_deref(), Some("my show"));
        assert_eq!(percent_decode("caf%C3%A9").as_deref(), Some("café"));
        assert_eq!(percent_decode("%2e%2e/x").as_deref(), Some("../x"));
        assert_eq!(percent_decode("bad%2"), None);
        assert_eq!(percent_decode("bad%zz"), None);
        assert_eq!(percent_decode("%ff"), None, "not UTF-8");
    }

    fn request(method: Method, uri: &str) -> Request {
        Request::builder().method(method).uri(uri).body(axum::body::Body::empty()).unwrap()
    }

    #[test]
    fn only_paths_below_a_key_are_live_requests() {
        let peer: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        for uri in ["/", "/live/key", "/live/key/", "/api/streams", "/assets/hls.js"] {
            assert!(LiveRequest::read(&request(Method::GET, uri), peer, false).is_none(), "{uri}");
        }
        let Some(Ok(live)) = LiveRequest::read(&request(Method::GET, "/live/my%20show/video/playlist.m3u8?_HLS_msn=3"), peer, false) else {
            panic!("a live request")
        };
        assert_eq!((live.key.as_str(), live.path.as_str(), live.query.as_deref()), ("my show", "video/playlist.m3u8", Some("_HLS_msn=3")));
        let Some(Err(refused)) = LiveRequest::read(&request(Method::POST, "/live/key/index.m3u8"), peer, false) else { panic!("refused") };
        assert_eq!(refused.status(), StatusCode::METHOD_NOT_ALLOWED);
        let Some(Err(refused)) = LiveRequest::read(&request(Method::GET, "/live/key/%ff"), peer, false) else { panic!("refused") };
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    }
}
