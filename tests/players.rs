//! The output in stock players embedded the way a site would
//! (tests/browser/embed.html through tests/browser/play.mjs): hls.js as
//! shipped, Shaka Player in its low-latency mode over LL-HLS and over
//! low-latency DASH, and dash.js as shipped, each playing the engine's test
//! pattern with glass-to-glass latency read from the capture stamp.

mod common;

use std::time::Duration;

use common::player::{Engine, assert_played, one_at_a_time, page_of, play};
use common::{Server, wait_for};

#[test]
fn stock_hls_js_shaka_and_dash_js_play_the_live_output_with_glass_to_glass_from_the_stamp() {
    let _turn = one_at_a_time();
    let server = Server::start("[streams]\ngrace_seconds = 5.0\n");
    let _engine = Engine::start(&server, "stock", 90);
    wait_for("the first segment", Duration::from_secs(20), || server.get("/live/stock/index.m3u8"));
    let page = page_of(&server, "stock");
    // Budgets sit above each player's own aim: hls.js and Shaka follow the
    // playlists' PART-HOLD-BACK, dash.js the ServiceDescription, and Shaka
    // over DASH starts from the MPD's suggestedPresentationDelay.
    for (mode, engine, budget_ms) in
        [("hlsjs", "hls.js", 3000.0), ("shaka-hls", "shaka", 3000.0), ("dashjs", "dash.js", 3000.0), ("shaka-dash", "shaka", 7000.0)]
    {
        let report = play(&page, mode, 8);
        assert_played(&report, 5.0);
        assert!(report["engine"].as_str().is_some_and(|e| e.starts_with(engine)), "{mode}: {report}");
        let g2g = &report["glassToGlass"];
        assert!(g2g["count"].as_u64().unwrap_or(0) >= 5, "{mode}: the stamp is read from decoded frames: {report}");
        let p50 = g2g["p50"].as_f64().unwrap();
        assert!(p50 > 0.0 && p50 < budget_ms, "{mode}: glass-to-glass p50 {p50} ms over {budget_ms}: {report}");
        eprintln!("{mode} ({}): glass-to-glass p50 {p50} ms, p95 {} ms", report["engine"], g2g["p95"]);
    }
}
