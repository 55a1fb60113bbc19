//! Embeds hls.js and dash.js from node_modules/ (installed by
//! packaging/setup.sh) into the binary for the web player page. Without them
//! the build still succeeds and the page falls back to native HLS.
//!
//! Generates libsrt's bindings from the installed srt.h (found by
//! pkg-config, which also says what to link): a struct or constant that
//! differs from the header cannot compile, and bindgen's layout assertions
//! check every struct against the sizes and offsets clang computed.

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
    println!("cargo:rerun-if-changed=build.rs");
}

fn bind_libsrt() {
    let library = pkg_config::Config::new()
        .atleast_version("1.4")
        .probe("srt")
        .unwrap_or_else(|error| panic!("libsrt (pkg-config module `srt`) was not found: {error}. Run packaging/setup.sh, which installs libsrt-gnutls-dev"));
    let bindings = bindgen::Builder::default()
        .header_contents("onair_srt.h", "#include <srt/srt.h>\n#include <srt/access_control.h>\n#include <syslog.h>\n")
        .clang_args(library.include_paths.iter().map(|path| format!("-I{}", path.display())))
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
        .generate()
        .unwrap_or_else(|error| panic!("cannot generate libsrt's bindings from its headers: {error}"));
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("srt_bindings.rs");
    bindings.write_to_file(&out).unwrap_or_else(|error| panic!("cannot write {}: {error}", out.display()));
}
