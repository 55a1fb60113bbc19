//! The one adapter around rml_rtmp, for both directions: the publishing
//! client and the ingest server. Sans-IO (bytes in, events and bytes out),
//! and the only place that names rml_rtmp's types, so the library can be
//! patched or replaced. [`link`] stages the handshake and contains the
//! library's panics for both sides alike.

pub mod amf0;
pub mod chunk;
pub mod client;
pub mod link;
pub mod server;
