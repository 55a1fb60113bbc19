//! Publishing: the RTMP client, the outgoing queue with its drop policy,
//! and reconnection.

pub mod queue;
pub mod reconnect;
pub mod rtmp;
pub mod rtmp_client;
pub mod session;
pub mod shared;
pub mod srt;
pub mod target;
