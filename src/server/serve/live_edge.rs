//! Requests at the live edge: blocking playlist reloads, preload-hinted
//! parts, and the segment being written delivered chunk by chunk (LL-DASH).
//! All of them wait on their rendition's notifications, never in a loop.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::StreamExt;
use tokio::time::Sleep;

use super::response::{Cache, body, media_type, revalidated};
use crate::media::frame::TrackKind;
use crate::server::hub::LiveStream;
use crate::server::hub::stream::StreamSnapshot;
use crate::server::hub::wakeups::{TrackKey, WaitPoint, Waiting};
use crate::server::package::cmaf::pieces::Pieces;
use crate::server::serve::blocking::{PlaylistQuery, Readiness, part_readiness, playlist_readiness};

/// How long a blocking request may wait: three target durations.
fn block_limit(snapshot: &StreamSnapshot) -> Duration {
    Duration::from_secs(u64::from(snapshot.window.target_duration.unwrap_or(2).max(1)) * 3)
}

/// Waits on the notifications of `rendition` (no polling) until `check`
/// holds, or until `deadline`. The deadline is the caller's, so a response
/// sent in many steps keeps one timer rather than arming one per step.
async fn wait_until<T>(
    stream: &LiveStream,
    rendition: &str,
    waiting: Waiting,
    mut deadline: Pin<&mut Sleep>,
    mut check: impl FnMut(&StreamSnapshot) -> Option<T>,
) -> Option<T> {
    let mut point: Option<WaitPoint> = None;
    loop {
        let track = stream.snapshot().window.rendition(rendition).map(|t| TrackKey { kind: t.kind, rung: t.rung });
        // The same rendition keeps its wait point; one that came or went gets its own.
        let point = match point.take() {
            Some(same) if same.key() == track => point.insert(same),
            _ => point.insert(stream.wait_point(track, waiting)),
        };
        let mut notified = std::pin::pin!(point.notify().notified());
        // Listening before looking: a snapshot published after the look wakes us.
        notified.as_mut().enable();
        if let Some(found) = check(&stream.snapshot()) {
            return Some(found);
        }
        tokio::select! {
            _ = notified => {}
            _ = deadline.as_mut() => return None,
        }
    }
}

/// The deadline of a blocking request.
fn deadline(snapshot: &StreamSnapshot) -> Pin<Box<Sleep>> {
    Box::pin(tokio::time::sleep(block_limit(snapshot)))
}

fn text_status(status: StatusCode, message: String) -> Response {
    (status, [(header::CACHE_CONTROL, Cache::NoStore.header())], message).into_response()
}

/// A media playlist; None is a 404.
pub async fn media_playlist(stream: &LiveStream, name: &str, query: Option<&str>, if_none_match: Option<&HeaderValue>) -> Option<Response> {
    const M3U8: &str = "application/vnd.apple.mpegurl";
    let query = match PlaylistQuery::parse(query) {
        Ok(query) => query,
        Err(error) => return Some(text_status(StatusCode::BAD_REQUEST, format!("{error}\n"))),
    };
    let snapshot = stream.snapshot();
    let pick = |snapshot: &StreamSnapshot| -> Option<Bytes> {
        let playlist = snapshot.playlist(name)?;
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
            match wait_until(stream, name, Waiting::Playlist, std::pin::pin!(tokio::time::sleep(limit)), |s| {
                (readiness(s) == Some(Readiness::Ready)).then(|| pick(s)).flatten()
            })
            .await
            {
                Some(body) => Some(body),
                None => return Some(text_status(StatusCode::SERVICE_UNAVAILABLE, "the requested part did not appear in time; reload\n".into())),
            }
        }
    };
    let cache = if query.blocks() { Cache::Blocked { seconds: snapshot.window.target_duration.unwrap_or(2).max(1) } } else { Cache::Playlist };
    body.map(|body| revalidated(M3U8, cache, body, if_none_match))
}

/// A part: served whole at once when it exists. The hinted one is waited
/// for and, while it is being written, streamed chunk by chunk as its frames
/// come, ending with the part.
pub async fn part(stream: Arc<LiveStream>, name: &str, number: u64, index: u32) -> Option<Response> {
    let snapshot = stream.snapshot();
    let track = snapshot.window.rendition(name)?;
    let kind = track.kind;
    // Armed only by a request that waits; it then bounds the streaming too.
    let mut waited = None;
    let first = match part_readiness(track, snapshot.window.ended, number, index) {
        Readiness::Ready => track.read_part(number, index, 0),
        Readiness::Wait => {
            // Some(None): the track went past it without making it (a publisher left mid-segment).
            let begun = |s: &StreamSnapshot| {
                let track = s.window.rendition(name)?;
                match track.read_part(number, index, 0) {
                    Some(read) if read.complete || !read.pieces.is_empty() => Some(Some(read)),
                    _ if track.closed(number) || track.open_number().is_some_and(|open| open > number) => Some(None),
                    _ => None,
                }
            };
            wait_until(&stream, name, Waiting::Media, waited.insert(deadline(&snapshot)).as_mut(), begun).await.flatten()
        }
        Readiness::TooFar => None,
    }?;
    if first.complete {
        return Some(body(media_type(kind), Cache::Immutable, Pieces::new(first.pieces)));
    }
    let cursor = PartCursor { number, index, offset: first.pieces.iter().map(Bytes::len).sum(), first_fragment: first.first_fragment };
    let rest = part_pieces(stream, name.to_string(), cursor, waited.unwrap_or_else(|| deadline(&snapshot)), false);
    let pieces = futures_util::stream::iter(first.pieces.into_iter().map(Ok)).chain(rest);
    Some(streamed(kind, Cache::Immutable, pieces))
}

/// The segment being written, sent chunk by chunk as its frames come and
/// ending when the segment closes (chunked transfer). None when `number` is
/// not the open segment.
pub fn open_segment(stream: Arc<LiveStream>, name: &str, number: u64) -> Option<Response> {
    let snapshot = stream.snapshot();
    let track = snapshot.window.rendition(name)?;
    let kind = track.kind;
    if snapshot.window.part_target_ms.is_none() || snapshot.window.ended || track.closed(number) || track.open_number() != Some(number) {
        return None;
    }
    let cursor = PartCursor { number, index: 0, offset: 0, first_fragment: None };
    // The same URL is the whole segment once it closes, but a response cut
    // short by a publisher leaving must not be kept as if it were.
    Some(streamed(kind, Cache::Revalidate, part_pieces(stream, name.to_string(), cursor, deadline(&snapshot), true)))
}

/// Where a streamed response is in a segment: part `index`, `offset` bytes
/// in, of the version of the part that begins with fragment `first_fragment`.
#[derive(Clone, Copy, Debug)]
struct PartCursor {
    number: u64,
    index: u32,
    offset: usize,
    first_fragment: Option<u32>,
}

/// The bytes of the part at `cursor` from there on, as they come; with
/// `whole_segment`, then those of the segment's later parts until it closes.
/// All of it within `deadline` (three target durations; a segment lasts
/// about one). A part that stops coming or is replaced part way (the stream
/// restarted or ended in it) ends the stream with an error, so the client
/// sees a broken response rather than a short part that looks whole; a
/// segment that ends between parts ends the response there.
fn part_pieces(
    stream: Arc<LiveStream>,
    name: String,
    cursor: PartCursor,
    deadline: Pin<Box<Sleep>>,
    whole_segment: bool,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send {
    let steps = futures_util::stream::unfold((Some(cursor), deadline, stream, name), move |(cursor, mut deadline, stream, name)| {
        async move {
            let mut cursor = cursor?;
            let step = wait_until(&stream, &name, Waiting::Media, deadline.as_mut(), |s| {
                let track = s.window.rendition(&name)?;
                match track.read_part(cursor.number, cursor.index, cursor.offset) {
                    // The stream restarted and wrote this part anew: the rest would not fit.
                    Some(read) if cursor.offset > 0 && read.first_fragment != cursor.first_fragment => Some(Err(Some("the part being sent was replaced"))),
                    Some(read) if read.complete || !read.pieces.is_empty() => Some(Ok(read)),
                    Some(_) => None,
                    None if whole_segment && cursor.offset == 0 && (s.window.ended || track.closed(cursor.number)) => Some(Err(None)),
                    None if s.window.ended || track.closed(cursor.number) || track.open_number().is_some_and(|open| open > cursor.number) => {
                        Some(Err(Some("the part being sent was never finished")))
                    }
                    None => None,
                }
            })
            .await
            .unwrap_or(Err(Some("the part being sent stopped coming")));
            match step {
                Ok(read) => {
                    cursor.first_fragment = read.first_fragment;
                    cursor.offset += read.pieces.iter().map(Bytes::len).sum::<usize>();
                    if read.complete {
                        cursor = PartCursor { number: cursor.number, index: cursor.index + 1, offset: 0, first_fragment: None };
                    }
                    let next = (!read.complete || whole_segment).then_some(cursor);
                    Some((futures_util::stream::iter(read.pieces.into_iter().map(Ok)).left_stream(), (next, deadline, stream, name)))
                }
                // The segment closed and every part of it went out.
                Err(None) => None,
                Err(Some(message)) => Some((futures_util::stream::iter([Err(std::io::Error::other(message))]).right_stream(), (None, deadline, stream, name))),
            }
        }
    });
    steps.flatten()
}

/// A response whose body is sent as it comes (chunked transfer).
fn streamed(kind: TrackKind, cache: Cache, pieces: impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static) -> Response {
    let mut response = Response::new(Body::from_stream(pieces));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(media_type(kind)));
    headers.insert(header::CACHE_CONTROL, cache.header());
    response
}
