//! The web player pages (`/live/KEY/` for a live stream, `/vod/KEY/ID/`
//! for a recording) and the players they load, embedded at build time
//! (see build.rs).

use axum::http::{HeaderValue, header};
use axum::response::Response;
use bytes::Bytes;

use super::response::{Cache, body};

const PAGE: &str = include_str!("../../../assets/player.html");
const VOD_PAGE: &str = include_str!("../../../assets/vod.html");
/// Reads the test pattern's capture stamp: the page's glass-to-glass figure,
/// and any embedding page's that loads it.
const STAMP_SCRIPT: &str = include_str!("../../../assets/stamp.js");

#[cfg(onair_players)]
const PLAYER_SCRIPTS: Option<(&[u8], &[u8])> = Some((include_bytes!(env!("ONAIR_HLS_JS")), include_bytes!(env!("ONAIR_DASH_JS"))));
#[cfg(not(onair_players))]
const PLAYER_SCRIPTS: Option<(&[u8], &[u8])> = None;

/// Whether hls.js and dash.js were built in.
pub fn has_players() -> bool {
    PLAYER_SCRIPTS.is_some()
}

pub fn page(key: &str) -> Response {
    html(PAGE.replace("{{KEY}}", &super::response::html_escape(key)))
}

/// The page that plays recording `id` of `key`, with seeking.
pub fn vod_page(key: &str, id: &str) -> Response {
    html(VOD_PAGE.replace("{{KEY}}", &super::response::html_escape(key)).replace("{{ID}}", &super::response::html_escape(id)))
}

fn html(page: String) -> Response {
    let players = if has_players() { "hls.js dash.js" } else { "none" };
    let html = page.replace("{{PLAYERS}}", players);
    let mut response = body("text/html; charset=utf-8", Cache::Revalidate, Bytes::from(html));
    response.headers_mut().insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

/// `/assets/NAME`: the stamp reader and the embedded players; None for anything else.
pub fn script(name: &str) -> Option<Response> {
    let data = match name {
        "stamp.js" => STAMP_SCRIPT.as_bytes(),
        "hls.min.js" => PLAYER_SCRIPTS?.0,
        "dash.all.min.js" => PLAYER_SCRIPTS?.1,
        _ => return None,
    };
    Some(body("text/javascript; charset=utf-8", Cache::Script, Bytes::from_static(data)))
}
