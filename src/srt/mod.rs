//! SRT through libsrt, the reference implementation that OBS, vMix and
//! ffmpeg use: a safe socket, a listener that decides at the handshake, and
//! libsrt's log lines in `tracing`. Using the same library as the peers makes
//! encryption and loss recovery interoperate exactly.

pub mod addr;
mod admission;
mod ffi;
mod handshakes;
mod listener;
mod log;
pub mod reject;
mod socket;

pub use admission::{Admission, AdmissionPolicy, CallerRequest};
pub use listener::{Accepted, SrtListener};
pub use reject::reject_reason_text;
pub use socket::{SrtError, SrtOptions, SrtSocket, SrtStats};
