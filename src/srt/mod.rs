//! SRT through libsrt, the reference implementation that OBS, vMix and
//! ffmpeg use: a safe socket, a listener that decides at the handshake, and
//! libsrt's log lines in `tracing`. Using the same library as the peers makes
//! encryption and loss recovery interoperate exactly.

mod addr;
mod ffi;
mod handshakes;
mod listener;
mod log;
mod socket;

pub use listener::{Accepted, Admission, AdmissionPolicy, CallerRequest, SrtListener};
pub use socket::{SrtError, SrtOptions, SrtSocket, SrtStats, reject_reason_text};

/// Reject codes a listener's policy answers with (SRT access control, `SRT_REJX_*`).
pub mod reject {
    pub use super::ffi::{
        SRT_REJX_BAD_MODE as BAD_MODE, SRT_REJX_BAD_REQUEST as BAD_REQUEST, SRT_REJX_CONFLICT as CONFLICT, SRT_REJX_FORBIDDEN as FORBIDDEN,
        SRT_REJX_ISE as INTERNAL, SRT_REJX_UNAUTHORIZED as UNAUTHORIZED,
    };
}
