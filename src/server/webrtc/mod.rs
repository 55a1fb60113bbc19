//! WebRTC viewers (WHEP): every live stream played in the browser a few
//! hundred milliseconds behind its publisher. Peers share one UDP port
//! (`endpoint`), each a str0m session (`peer`); a stream's media is made
//! once for all of them (`feed`, with its Opus from the AAC:
//! `encode::aac_to_opus`). WHIP publishers come in through the same port
//! (`whip`, `ingest`).

pub mod endpoint;
pub mod feed;
pub mod ingest;
pub mod peer;
pub mod signal;
pub mod whep;
pub mod whip;
