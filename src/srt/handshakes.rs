//! Callers whose handshake is still being checked (their passphrase), so a
//! refusal that libsrt reports only by socket id can name the caller.

use std::collections::HashMap;
use std::sync::Mutex;

use super::admission::CallerRequest;
use super::ffi::SRTSOCKET;

/// Beyond this many unfinished handshakes the oldest labels are forgotten.
const MAX_PENDING: usize = 1024;

static PENDING: Mutex<Option<HashMap<SRTSOCKET, String>>> = Mutex::new(None);

pub(super) fn remember(socket: SRTSOCKET, request: &CallerRequest<'_>) {
    let peer = request.peer.map(|p| p.to_string()).unwrap_or_else(|| "unknown".into());
    let label = format!("peer={peer} stream_id={:?}", request.stream_id.unwrap_or(""));
    let mut pending = PENDING.lock().unwrap_or_else(|p| p.into_inner());
    let map = pending.get_or_insert_with(HashMap::new);
    if map.len() >= MAX_PENDING {
        map.clear();
    }
    map.insert(socket, label);
}

/// The label of a caller whose handshake ended (accepted or refused).
pub(super) fn forget(socket: SRTSOCKET) -> Option<String> {
    PENDING.lock().unwrap_or_else(|p| p.into_inner()).as_mut().and_then(|map| map.remove(&socket))
}
