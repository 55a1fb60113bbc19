//! What a listener decides at each caller's handshake, and what it decides by.

use std::net::SocketAddr;

/// A caller in the middle of its handshake.
#[derive(Clone, Debug)]
pub struct CallerRequest<'a> {
    pub peer: Option<SocketAddr>,
    pub stream_id: Option<&'a str>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Continue the handshake; with a passphrase, the caller's must match.
    Accept { passphrase: Option<String>, key_length: Option<u16> },
    /// Refuse with an SRT reject code (an `SRT_REJX_*` access-control code).
    Refuse { reason: i32 },
}

pub type AdmissionPolicy = dyn Fn(&CallerRequest<'_>) -> Admission + Send + Sync;
