//! Embeds hls.js and dash.js from node_modules/ (installed by
//! packaging/setup.sh) into the binary for the web player page. Without them
//! the build still succeeds and the page falls back to native HLS.

use std::path::Path;

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
    println!("cargo:rerun-if-changed=build.rs");
}
