//! libsrt's own log lines, routed into `tracing` under the target `srt`, and
//! a handshake refusal turned into one clear line that names the caller.

use std::ffi::{CStr, c_char, c_int, c_void};

use super::ffi;
use super::reject::reject_reason_text;

pub(super) fn route_to_tracing() {
    // SAFETY: the handler is a plain function that needs no state.
    unsafe {
        ffi::srt().srt_setloglevel(ffi::LOG_WARNING);
        ffi::srt().srt_setlogflags(ffi::SRT_LOGF_PLAIN);
        ffi::srt().srt_setloghandler(std::ptr::null_mut(), Some(forward));
    }
}

unsafe extern "C" fn forward(_opaque: *mut c_void, level: c_int, _file: *const c_char, _line: c_int, area: *const c_char, message: *const c_char) {
    // SAFETY: libsrt passes NUL-terminated strings or null.
    let text = |p: *const c_char| if p.is_null() { String::new() } else { unsafe { CStr::from_ptr(p) }.to_string_lossy().trim().to_string() };
    let (area, message) = (text(area), text(message));
    let _ = std::panic::catch_unwind(move || {
        if let Some((socket, reason)) = refused_handshake(&message) {
            let caller = super::handshakes::forget(socket).unwrap_or_else(|| format!("socket @{socket}"));
            tracing::warn!("SRT connection refused: {reason} ({caller})");
        } else if level <= ffi::LOG_ERR {
            tracing::info!(target: "srt", "{area}: {message}");
        } else {
            tracing::debug!(target: "srt", "{area}: {message}");
        }
    });
}

/// `@84379450:newConnection: connection rejected due to: INTERNAL REJECTION - ERROR:BADSECRET`
fn refused_handshake(message: &str) -> Option<(ffi::SRTSOCKET, String)> {
    const MARK: &str = ":newConnection: connection rejected due to:";
    let at = message.find(MARK)?;
    let socket = &message[..at];
    let socket: ffi::SRTSOCKET = socket[socket.rfind('@')? + 1..].parse().ok()?;
    let cause = message[at + MARK.len()..].trim();
    if cause.contains("PREDEFINED") || cause.contains("USERDEFINED") {
        // The listener's own policy refused it, and said why already.
        return None;
    }
    let reason = match cause.rsplit_once("ERROR:").map(|(_, name)| name.trim()) {
        Some("BADSECRET") => reject_reason_text(ffi::int::REJ_BADSECRET),
        Some("UNSECURE") => reject_reason_text(ffi::int::REJ_UNSECURE),
        _ => cause.to_string(),
    };
    Some((socket, reason))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_libsrts_refusal_lines() {
        let line = "@84379450:newConnection: connection rejected due to: INTERNAL REJECTION - ERROR:BADSECRET";
        assert_eq!(refused_handshake(line), Some((84379450, "wrong passphrase".into())));
        let with_header = "11:45:49.157334/SRT:RcvQ:w1!W:SRT.cn: @80997257:newConnection: connection rejected due to: INTERNAL REJECTION - ERROR:BADSECRET";
        assert_eq!(refused_handshake(with_header), Some((80997257, "wrong passphrase".into())));
        let line = "@7:newConnection: connection rejected due to: INTERNAL REJECTION - ERROR:UNSECURE";
        assert!(refused_handshake(line).unwrap().1.contains("no passphrase"));
        assert_eq!(refused_handshake("@5:newConnection: connection rejected due to: INTERNAL REJECTION - ERROR:PREDEFINED:400"), None);
        assert_eq!(refused_handshake("processConnectRequest: rsp(REJECT): 1010 - Incorrect passphrase"), None);
    }
}
