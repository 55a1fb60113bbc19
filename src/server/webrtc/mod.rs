//! WebRTC viewers (WHEP): every live stream played in the browser a few
//! hundred milliseconds behind its publisher. Peers share one UDP port
//! (`endpoint`), each a str0m session (`peer`); a stream's media is made
//! once for all of them (`feed`, with its Opus from the AAC:
//! `encode::aac_to_opus`; its video from the source or, for a source with
//! B-frames, the ladder's largest rung: `video_line`). WHIP publishers come in through the same port
//! (`whip`, `ingest`).

pub mod endpoint;
pub mod feed;
pub mod ingest;
pub mod outbox;
pub mod peer;
pub mod signal;
pub mod video_line;
pub mod viewer_stats;
pub mod whep;
pub mod whip;
