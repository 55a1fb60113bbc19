//! Drivers that turn publisher connections into streams on the hub.

pub mod flv_ingest;
pub mod publish_secret;
pub mod rtmp;
pub mod srt;
pub mod stream_id;
