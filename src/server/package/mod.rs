//! Packaging: CMAF segments and parts from the stream's frames, and the
//! HLS playlists and DASH manifest written as pure functions of their window.

pub mod cmaf;
pub mod dash;
pub mod hls;
