//! Embeds hls.js and dash.js from node_modules/ (installed by
//! packaging/setup.sh) into the binary for the web player page. Without them
//! the build still succeeds and the page falls back to native HLS.
//!
//! Generates libsrt's, FFmpeg's and libpulse-simple's bindings from the installed headers
//! (found by pkg-config): a struct or constant that differs from the header
//! cannot compile, and bindgen's layout assertions check every struct
//! against the sizes and offsets clang computed. Neither library is linked:
//! the binary opens each by its SONAME (read here from the installed
//! library) the first time it is needed, so a server with no SRT caller and
//! no ladder running never maps them, nor the dozens of libraries
//! libavcodec pulls in.

use std::path::{Path, PathBuf};

/// The libsrt calls OnAir makes.
const SRT_FUNCTIONS: &str = "srt_(startup|create_socket|bind|listen|accept|listen_callback|connect|close|getsockname|getsockflag|setsockflag|sendmsg|recvmsg|getlasterror_str|getlasterror|bstats|getsockstate|getrejectreason|setrejectreason|rejectreason_str|setloglevel|setlogflags|setloghandler)";

const PLAYERS: [(&str, &str); 2] = [("ONAIR_HLS_JS", "node_modules/hls.js/dist/hls.min.js"), ("ONAIR_DASH_JS", "node_modules/dashjs/dist/dash.all.min.js")];

fn main() {
    println!("cargo:rustc-check-cfg=cfg(onair_players)");
    let root = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into());
    let mut all_present = true;
    for (variable, relative) in PLAYERS {
        let path = Path::new(&root).join(relative);
        println!("cargo:rerun-if-changed={}", path.display());
        if path.is_file() {
            println!("cargo:rustc-env={variable}={}", path.display());
        } else {
            all_present = false;
        }
    }
    if all_present {
        println!("cargo:rustc-cfg=onair_players");
    } else {
        println!("cargo:warning=hls.js/dash.js not found in node_modules: the web player falls back to native HLS (run packaging/setup.sh, then rebuild)");
    }
    bind_libsrt();
    bind_ffmpeg();
    bind_pulse();
    println!("cargo:rerun-if-changed=build.rs");
}

fn bind_libsrt() {
    let library = probe("srt", "1.4", "libsrt-gnutls-dev");
    println!("cargo:rustc-env=ONAIR_LIBSRT_SONAME={}", soname(&library, "srt"));
    let bindings = bindgen::Builder::default()
        .header_contents("onair_srt.h", "#include <srt/srt.h>\n#include <srt/access_control.h>\n#include <syslog.h>\n")
        .clang_args(include_args(&[&library]))
        .allowlist_function(SRT_FUNCTIONS)
        .allowlist_type("SRT_TRACEBSTATS|SRT_SOCKOPT|SRT_TRANSTYPE|SRT_SOCKSTATUS|SRT_ERRNO|SRT_REJECT_REASON")
        .allowlist_var("SRT_REJX_.*|SRT_LOGF_.*|SRT_INVALID_SOCK|SRT_ERROR|LOG_ERR|LOG_WARNING")
        .default_enum_style(bindgen::EnumVariation::Consts)
        // The reject and log codes are ints where libsrt takes or returns them.
        .default_macro_constant_type(bindgen::MacroTypeVariation::Signed)
        .prepend_enum_name(false)
        // libc's sockaddr, so addresses pass between the two without casts.
        .blocklist_type("sockaddr")
        .derive_default(true)
        .dynamic_library_name("LibSrt")
        .dynamic_link_require_all(true)
        .wrap_unsafe_ops(true);
    write(bindings, "srt_bindings.rs", "libsrt");
}

/// The FFmpeg calls the ladder makes: libavcodec's H.264 decoder, the
/// frames and packets it trades in (libavutil), and libswscale's scaler.
const FFMPEG_FUNCTIONS: &str = "av_strerror|avcodec_(find_decoder|alloc_context3|free_context|open2|send_packet|receive_frame|flush_buffers)|av_packet_(alloc|free)|av_frame_(alloc|free)|av_log_set_level|sws_(getContext|scale|freeContext)";

/// Error codes and limits that are C macros bindgen cannot evaluate (they
/// are expressions), made enum constants clang computes.
const FFMPEG_HEADER: &str = "#include <errno.h>
#include <libavcodec/avcodec.h>
#include <libavutil/error.h>
#include <libavutil/frame.h>
#include <libavutil/log.h>
#include <libswscale/swscale.h>
enum onair_av_constants {
    ONAIR_AVERROR_EOF = AVERROR_EOF,
    ONAIR_AVERROR_EAGAIN = AVERROR(EAGAIN),
};
";

fn bind_ffmpeg() {
    let avcodec = probe("libavcodec", "59", "libavcodec-dev");
    let swscale = probe("libswscale", "6", "libswscale-dev");
    println!("cargo:rustc-env=ONAIR_LIBAVCODEC_SONAME={}", soname(&avcodec, "avcodec"));
    println!("cargo:rustc-env=ONAIR_LIBSWSCALE_SONAME={}", soname(&swscale, "swscale"));
    let bindings = bindgen::Builder::default()
        .header_contents("onair_ffmpeg.h", FFMPEG_HEADER)
        .clang_args(include_args(&[&avcodec, &swscale]))
        .allowlist_function(FFMPEG_FUNCTIONS)
        .allowlist_type("AVFrame|AVPacket|AVCodecContext|AVCodec|AVCodecID|AVPixelFormat|SwsContext|onair_av_constants")
        .allowlist_var("SWS_AREA|SWS_BICUBIC|AV_LOG_QUIET|AV_INPUT_BUFFER_PADDING_SIZE|LIBAVCODEC_VERSION_MAJOR|LIBSWSCALE_VERSION_MAJOR")
        .default_enum_style(bindgen::EnumVariation::Consts)
        .default_macro_constant_type(bindgen::MacroTypeVariation::Signed)
        .prepend_enum_name(false)
        .derive_default(true)
        .dynamic_library_name("Ffmpeg")
        .dynamic_link_require_all(true)
        .wrap_unsafe_ops(true);
    write(bindings, "ffmpeg_bindings.rs", "FFmpeg");
}

/// libpulse-simple's record stream, for the mixer's sound server inputs.
fn bind_pulse() {
    let simple = probe("libpulse-simple", "1.0", "libpulse-dev");
    let pulse = probe("libpulse", "1.0", "libpulse-dev");
    println!("cargo:rustc-env=ONAIR_LIBPULSE_SONAME={}", soname(&pulse, "pulse"));
    println!("cargo:rustc-env=ONAIR_LIBPULSE_SIMPLE_SONAME={}", soname(&simple, "pulse-simple"));
    let bindings = bindgen::Builder::default()
        .header_contents("onair_pulse.h", "#include <pulse/simple.h>\n#include <pulse/error.h>\n")
        .clang_args(include_args(&[&simple, &pulse]))
        .allowlist_function("pa_simple_(new|read|free)|pa_strerror")
        .allowlist_type("pa_sample_spec|pa_buffer_attr|pa_stream_direction|pa_sample_format")
        .default_enum_style(bindgen::EnumVariation::Consts)
        .prepend_enum_name(false)
        .derive_default(true)
        .dynamic_library_name("LibPulse")
        .dynamic_link_require_all(true)
        .wrap_unsafe_ops(true);
    write(bindings, "pulse_bindings.rs", "libpulse");
}

/// Finds a library with pkg-config, without linking it.
fn probe(module: &str, version: &str, package: &str) -> pkg_config::Library {
    pkg_config::Config::new()
        .atleast_version(version)
        .cargo_metadata(false)
        .probe(module)
        .unwrap_or_else(|error| panic!("{module} (pkg-config) was not found: {error}. Run packaging/setup.sh, which installs {package}"))
}

fn include_args(libraries: &[&pkg_config::Library]) -> Vec<String> {
    libraries.iter().flat_map(|library| &library.include_paths).map(|path| format!("-I{}", path.display())).collect()
}

/// The SONAME of the library pkg-config names with `-l{stem}*` (e.g.
/// `libsrt-gnutls.so.1.5`), read from the ELF file the linker would take.
fn soname(library: &pkg_config::Library, stem: &str) -> String {
    let name = library.libs.iter().find(|name| name.starts_with(stem)).unwrap_or_else(|| panic!("pkg-config names no -l{stem}* library: {:?}", library.libs));
    let file = format!("lib{name}.so");
    let path = library.link_paths.iter().map(|dir| dir.join(&file)).find(|path| path.is_file()).unwrap_or_else(|| compiler_finds(&file));
    let bytes = std::fs::read(&path).unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
    let elf = goblin::elf::Elf::parse(&bytes).unwrap_or_else(|error| panic!("{} is not an ELF library: {error}", path.display()));
    println!("cargo:rerun-if-changed={}", path.display());
    elf.soname.unwrap_or_else(|| panic!("{} has no SONAME", path.display())).to_string()
}

/// Where the C compiler's linker search path has `file`.
fn compiler_finds(file: &str) -> PathBuf {
    let compiler = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let output = std::process::Command::new(&compiler)
        .arg(format!("-print-file-name={file}"))
        .output()
        .unwrap_or_else(|error| panic!("cannot run {compiler} to find {file}: {error}"));
    let path = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    assert!(path.is_file(), "{file} is not on the linker's search path; run packaging/setup.sh");
    path
}

fn write(builder: bindgen::Builder, file: &str, what: &str) {
    let bindings = builder.generate().unwrap_or_else(|error| panic!("cannot generate {what}'s bindings from its headers: {error}"));
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join(file);
    bindings.write_to_file(&out).unwrap_or_else(|error| panic!("cannot write {}: {error}", out.display()));
}
