//! OnAir: a live-streaming studio and a small live origin.

pub mod media;
pub mod server;
