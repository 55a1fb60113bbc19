//! SRT reject codes: those a listener's policy answers with (SRT access
//! control, `SRT_REJX_*`), and the words a refused caller is shown.

use std::ffi::CStr;

use super::ffi;

pub use super::ffi::{
    SRT_REJX_BAD_MODE as BAD_MODE, SRT_REJX_BAD_REQUEST as BAD_REQUEST, SRT_REJX_CONFLICT as CONFLICT, SRT_REJX_FORBIDDEN as FORBIDDEN,
    SRT_REJX_ISE as INTERNAL, SRT_REJX_OVERLOAD as OVERLOAD, SRT_REJX_UNAUTHORIZED as UNAUTHORIZED,
};

pub fn reject_reason_text(reason: i32) -> String {
    match reason {
        ffi::int::REJ_BADSECRET => "wrong passphrase".into(),
        ffi::int::REJ_UNSECURE => "no passphrase where one is required, or one where none is set".into(),
        ffi::SRT_REJX_BAD_REQUEST => "the stream id is not valid".into(),
        ffi::SRT_REJX_BAD_MODE => "the server only accepts publishers".into(),
        ffi::SRT_REJX_FORBIDDEN => "the stream id names another application".into(),
        ffi::SRT_REJX_CONFLICT => "the stream key is already live".into(),
        ffi::SRT_REJX_UNAUTHORIZED => "not authorised".into(),
        ffi::SRT_REJX_OVERLOAD => "the server carries its most live streams".into(),
        code if code >= 1000 => format!("server reason {code}"),
        code => {
            // SAFETY: libsrt returns a static string for any code.
            let text = ffi::load().map_or(std::ptr::null(), |srt| unsafe { srt.srt_rejectreason_str(code) });
            // SAFETY: a static NUL-terminated string, or null.
            if text.is_null() { format!("reason {code}") } else { unsafe { CStr::from_ptr(text) }.to_string_lossy().into_owned() }
        }
    }
}
