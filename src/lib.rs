//! OnAir: a live-streaming studio and a small live origin.

pub mod capture;
pub mod encode;
pub mod engine;
pub(crate) mod ffmpeg;
pub mod gui;
pub mod media;
pub mod mixer;
pub mod native;
pub mod player;
pub mod publish;
pub mod rtmp;
pub mod scene;
pub mod server;
pub mod srt;
pub mod terminal;
pub mod xdg;
