//! The parts of FFmpeg's libswscale (Debian's `libswscale-dev`) the ladder
//! calls: a context per source and rung size, and one call per picture.

use std::ffi::{c_int, c_void};

/// `AV_PIX_FMT_YUV420P`: planar 8-bit 4:2:0.
pub const YUV420P: c_int = 0;
/// Area averaging: every source pixel counts by the share of it an output
/// pixel covers, what a downscale needs to keep detail without aliasing.
pub const SWS_AREA: c_int = 0x20;

#[link(name = "swscale")]
unsafe extern "C" {
    pub fn sws_getContext(
        source_width: c_int,
        source_height: c_int,
        source_format: c_int,
        target_width: c_int,
        target_height: c_int,
        target_format: c_int,
        flags: c_int,
        source_filter: *mut c_void,
        target_filter: *mut c_void,
        parameters: *const f64,
    ) -> *mut c_void;
    pub fn sws_scale(
        context: *mut c_void,
        source_planes: *const *const u8,
        source_strides: *const c_int,
        first_row: c_int,
        rows: c_int,
        target_planes: *const *mut u8,
        target_strides: *const c_int,
    ) -> c_int;
    pub fn sws_freeContext(context: *mut c_void);
}
