//! Serving over HTTP: the router (its admin paths behind `[http] admin_token`)
//! and the live paths each connection answers,
//! the live edge (blocking reloads, hinted parts, chunked segments), and the
//! web player page.

pub mod admin;
pub mod blocking;
pub mod connection;
pub mod http;
pub mod listener;
pub mod live_edge;
pub mod player_page;
pub mod response;
pub mod vod;
