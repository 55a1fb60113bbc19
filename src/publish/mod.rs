//! Publishing: one encode fanned out to each target's bounded queue of
//! encoded frames, and a driver per target that serialises them for its
//! protocol at the edge (FLV over RTMP, TS over SRT, fragmented MP4 for a
//! recording) and reconnects.

pub mod fanout;
pub mod file;
pub mod mp4_file;
pub mod queue;
pub mod reconnect;
pub mod rtmp;
pub mod session;
pub mod shared;
pub mod srt;
pub mod target;
pub mod tls;
