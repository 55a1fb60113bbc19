//! RTMP for both directions, sans-IO (bytes in, events and bytes out): the
//! chunk layer and AMF0 of its own, the publishing client's and the ingest
//! server's command exchanges, and [`link`], which stages rml_rtmp's
//! handshake (the one part of that library still used) and contains its panics.

pub mod amf0;
pub mod chunk;
pub mod chunk_session;
pub mod client;
pub mod link;
pub mod server;
