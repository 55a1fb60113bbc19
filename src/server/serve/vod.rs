//! Recordings over HTTP: the list (`/api/recordings`), the page that plays
//! one (`/vod/KEY/ID/`), and its playlists, MPD, inits and segments, read
//! from the recording's directory.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use super::response::{Cache, body, not_found_response};
use crate::server::hub::Hub;
use crate::server::record::safe_relative_path;

/// `GET /api/recordings`: every recording, newest first (empty when recording is off).
pub async fn list(State(hub): State<Arc<Hub>>) -> Response {
    let entries = match hub.recorder() {
        Some(recorder) => {
            let recorder = recorder.clone();
            tokio::task::spawn_blocking(move || recorder.list()).await.unwrap_or_default()
        }
        None => Vec::new(),
    };
    let json = serde_json::to_vec_pretty(&entries).unwrap_or_default();
    body("application/json", Cache::NoStore, Bytes::from(json))
}

/// `GET /vod/KEY/ID/…`: the player page for `KEY/ID/`, else a file of the recording.
pub async fn file(State(hub): State<Arc<Hub>>, Path(path): Path<String>) -> Response {
    let Some(recorder) = hub.recorder() else { return not_found_response() };
    let Some(relative) = safe_relative_path(path.trim_end_matches('/')) else { return not_found_response() };
    let full = recorder.root().join(&relative);
    let components: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    if let [key, id] = components[..] {
        if !full.join(crate::server::record::DESCRIPTION).is_file() {
            return not_found_response();
        }
        if path.ends_with('/') {
            return super::player_page::vod_page(key, id);
        }
        let mut response = StatusCode::PERMANENT_REDIRECT.into_response();
        if let Ok(location) = HeaderValue::from_str(&format!("/vod/{key}/{id}/")) {
            response.headers_mut().insert(header::LOCATION, location);
        }
        return response;
    }
    let Some((content_type, cache)) = served_as(&components) else { return not_found_response() };
    match tokio::fs::read(&full).await {
        Ok(data) => body(content_type, cache, Bytes::from(data)),
        Err(_) => not_found_response(),
    }
}

/// What a recording's file is served as: playlists change while it is
/// being written, its media never does.
fn served_as(components: &[&str]) -> Option<(&'static str, Cache)> {
    let name = components.last()?;
    let media = if components.get(2) == Some(&"audio") { "audio/mp4" } else { "video/mp4" };
    Some(match name.rsplit_once('.')?.1 {
        "m3u8" => ("application/vnd.apple.mpegurl", Cache::Revalidate),
        "mpd" => ("application/dash+xml", Cache::Revalidate),
        "json" => ("application/json", Cache::Revalidate),
        "mp4" | "m4s" => (media, Cache::Immutable),
        _ => return None,
    })
}
