//! FFmpeg's C API (libavcodec's decoder and libavutil's frames for the
//! ladder, libswscale for its rungs and the studio's compositor), generated
//! by bindgen from the installed headers at build time (see build.rs):
//! structs, constants and signatures are the header's, checked by bindgen's
//! layout assertions, so FFmpeg 5.1 to 7.x all build without a change here.
//! The libraries open with the first ladder or composed scene.

#![allow(non_camel_case_types, non_snake_case, non_upper_case_globals, dead_code, clippy::all)]

use crate::native::{LoadError, NativeLibrary};

include!(concat!(env!("OUT_DIR"), "/ffmpeg_bindings.rs"));

static FFMPEG: NativeLibrary<Ffmpeg> =
    NativeLibrary::new(&[env!("ONAIR_LIBAVCODEC_SONAME"), env!("ONAIR_LIBSWSCALE_SONAME")], Ffmpeg::from_library::<libloading::Library>);

/// libavcodec and libswscale, opened the first time.
pub fn ffmpeg() -> Result<&'static Ffmpeg, LoadError> {
    FFMPEG.get()
}
