//! Requests at the live edge: blocking playlist reloads, preload-hinted
//! parts, and the segment being written delivered chunk by chunk (LL-DASH).
//! All of them wait on their rendition's notifications, never in a loop.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use super::blocking::{PlaylistQuery, Readiness, part_readiness, playlist_readiness};
use super::http::{PLAYLIST_CACHE, SEGMENT_CACHE, body, media_type};
use super::hub::LiveStream;
use super::stream::StreamSnapshot;
use super::wakeups::{TrackKey, Waiting};

/// How long a blocking request may wait: three target durations.
fn block_limit(snapshot: &StreamSnapshot) -> Duration {
    Duration::from_secs(u64::from(snapshot.window.target_duration.unwrap_or(2).max(1)) * 3)
}

/// Waits on the notifications of `rendition` (no polling) until `check` holds.
async fn wait_until<T>(
    stream: &LiveStream,
    rendition: &str,
    waiting: Waiting,
    limit: Duration,
    mut check: impl FnMut(&StreamSnapshot) -> Option<T>,
) -> Option<T> {
    let mut deadline = std::pin::pin!(tokio::time::sleep(limit));
    loop {
        let track = stream.snapshot().window.rendition(rendition).map(|t| TrackKey { kind: t.kind, rung: t.rung });
        let point = stream.wait_point(track, waiting);
        let mut notified = std::pin::pin!(point.notify().notified());
        // Listening before looking: a snapshot published after the look wakes us.
        notified.as_mut().enable();
        if let Some(found) = check(&stream.snapshot()) {
            return Some(found);
        }
        tokio::select! {
            _ = notified => {}
            _ = &mut deadline => return None,
        }
    }
}

fn text_status(status: StatusCode, message: String) -> Response {
    (status, [(header::CACHE_CONTROL, "no-store")], message).into_response()
}

/// A media playlist; None is a 404.
pub async fn media_playlist(stream: &LiveStream, name: &str, query: Option<&str>) -> Option<Response> {
    const M3U8: &str = "application/vnd.apple.mpegurl";
    let query = match PlaylistQuery::parse(query) {
        Ok(query) => query,
        Err(error) => return Some(text_status(StatusCode::BAD_REQUEST, format!("{error}\n"))),
    };
    let snapshot = stream.snapshot();
    let pick = |snapshot: &StreamSnapshot| -> Option<Bytes> {
        let playlist = snapshot.playlists.get(name)?;
        if query.skip { playlist.delta.clone().or_else(|| Some(playlist.full.clone())) } else { Some(playlist.full.clone()) }
    };
    let readiness = |snapshot: &StreamSnapshot| snapshot.window.rendition(name).map(|track| playlist_readiness(track, snapshot.window.ended, &query));
    let body = match readiness(&snapshot) {
        None if !query.blocks() => return None,
        Some(Readiness::Ready) => pick(&snapshot),
        Some(Readiness::TooFar) => {
            return Some(text_status(StatusCode::BAD_REQUEST, "_HLS_msn is more than two segments ahead of the live edge\n".into()));
        }
        None | Some(Readiness::Wait) => {
            let limit = block_limit(&snapshot);
            match wait_until(stream, name, Waiting::Playlist, limit, |s| (readiness(s) == Some(Readiness::Ready)).then(|| pick(s)).flatten()).await {
                Some(body) => Some(body),
                None => return Some(text_status(StatusCode::SERVICE_UNAVAILABLE, "the requested part did not appear in time; reload\n".into())),
            }
        }
    };
    body.map(|body| self::body(M3U8, PLAYLIST_CACHE, body))
}

/// A part: served at once when it exists; the hinted one is waited for.
pub async fn part(stream: &LiveStream, name: &str, number: u64, index: u32) -> Option<Response> {
    let snapshot = stream.snapshot();
    let kind = snapshot.window.rendition(name)?.kind;
    let find = |s: &StreamSnapshot| s.window.rendition(name).and_then(|track| track.part(number, index));
    let readiness = snapshot.window.rendition(name).map(|track| part_readiness(track, snapshot.window.ended, number, index));
    let data = match readiness {
        Some(Readiness::Ready) => find(&snapshot),
        Some(Readiness::Wait) => wait_until(stream, name, Waiting::Media, block_limit(&snapshot), find).await,
        Some(Readiness::TooFar) | None => None,
    };
    data.map(|data| body(media_type(kind), SEGMENT_CACHE, data))
}

/// The segment being written, sent part by part as each is cut and ending
/// when the segment closes (chunked transfer). None when `number` is not the
/// open segment.
pub fn open_segment(stream: Arc<LiveStream>, name: &str, number: u64) -> Option<Response> {
    let snapshot = stream.snapshot();
    let track = snapshot.window.rendition(name)?;
    let kind = track.kind;
    let name = name.to_string();
    if snapshot.window.part_target_ms.is_none() || snapshot.window.ended || track.closed(number) || track.open_number() != Some(number) {
        return None;
    }
    let limit = block_limit(&snapshot);
    let chunks = futures_util::stream::unfold((stream, 0u32), move |(stream, index)| {
        let name = name.clone();
        async move {
            let next = wait_until(&stream, &name, Waiting::Media, limit, |s| {
                let track = s.window.rendition(&name)?;
                match track.part(number, index) {
                    Some(data) => Some(Some(data)),
                    // Closed, and every part already sent; or the stream ended.
                    None if s.window.ended || track.closed(number) => Some(None),
                    None => None,
                }
            })
            .await
            .flatten()?;
            Some((Ok::<Bytes, std::io::Error>(next), (stream, index + 1)))
        }
    });
    let mut response = Response::new(Body::from_stream(chunks));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(media_type(kind)));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Some(response.into_response())
}
