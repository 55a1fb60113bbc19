//! Names from the network (stream keys, applications) as errors and logs show them.

/// A stream key as errors and log lines show it: a refused one can be as
/// long as an RTMP message, and a log line should not be.
pub fn shown_key(key: &str) -> String {
    const SHOWN_CHARS: usize = 64;
    match key.char_indices().nth(SHOWN_CHARS) {
        Some((end, _)) => format!("{}…", &key[..end]),
        None => key.to_string(),
    }
}
