//! The adaptive-bitrate ladder against real peers: ffmpeg publishes a 720p
//! stream with B-frames, the server transcodes it into rungs, and ffprobe,
//! ffmpeg and our own fMP4 reading check every rendition; a tiny CPU budget
//! sheds rungs while the source carries on in real time.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::{Publisher, Server, decode_count, get_bytes, run, wait_for};
use mp4_atom::{Decode, Moof};

fn input(size: &str, seconds: u32) -> String {
    format!("-f lavfi -i testsrc2=size={size}:rate=30 -f lavfi -i sine=frequency=440:sample_rate=48000 -t {seconds}")
}

/// B-frames on purpose: the ladder must put decoded pictures back in display order.
const X264: &str =
    "-c:v libx264 -preset superfast -bf 2 -g 30 -keyint_min 30 -sc_threshold 0 -pix_fmt yuv420p -b:v 2500k -maxrate 2500k -bufsize 5000k -c:a aac -b:a 64k";

fn api(server: &Server) -> serde_json::Value {
    serde_json::from_str(&server.get("/api/streams").expect("/api/streams")).expect("JSON")
}

fn stream<'a>(report: &'a serde_json::Value, key: &str) -> &'a serde_json::Value {
    report.as_array().and_then(|streams| streams.iter().find(|s| s["key"] == key)).unwrap_or_else(|| panic!("{key} is not in {report}"))
}

/// The first fragment's decode time and whether its first sample is a sync sample.
fn first_fragment(segment: &[u8]) -> (u64, bool) {
    let mut buf = segment;
    let moof = Moof::decode(&mut buf).expect("a segment starts with a moof");
    let traf = &moof.traf[0];
    let tfdt = traf.tfdt.as_ref().expect("tfdt").base_media_decode_time;
    let trun = &traf.trun[0];
    let flags = trun.samples.get(0).and_then(|s| s.flags).or(traf.tfhd.default_sample_flags).expect("sample flags");
    // sample_depends_on = 2 (depends on no other sample), not a non-sync sample.
    (tfdt, flags & 0x0001_0000 == 0)
}

#[test]
fn every_rung_is_listed_probes_at_its_size_decodes_and_shares_the_source_boundaries() {
    // Shedding has its own test: here a busy machine must not shed a rung.
    let server = Server::start("[streams]\ngrace_seconds = 1.0\n[ladder]\nskip_keys = [\"plain\"]\nmax_lag_ms = 20000\n");
    let publisher = Publisher::spawn(&input("1280x720", 14), X264, &server.rtmp_url("abr"));
    let plain = Publisher::spawn(&input("854x480", 14), X264, &server.rtmp_url("plain"));

    let variants = wait_for("the source and two rungs in the master playlist", Duration::from_secs(40), || {
        server.master_playlist("abr").filter(|m| m.variants.len() == 3)
    });
    let mut sizes = BTreeMap::new();
    for variant in &variants.variants {
        let resolution = variant.resolution.expect("RESOLUTION");
        let codecs = variant.codecs.as_deref().unwrap_or_default();
        assert!(codecs.starts_with("avc1.") && codecs.ends_with(",mp4a.40.2"), "CODECS={codecs}");
        assert!(variant.average_bandwidth.is_some_and(|b| b > 0) && variant.bandwidth > 0, "{variant:?}");
        assert_eq!(variant.frame_rate, Some(30.0), "{variant:?}");
        assert_eq!(variant.audio.as_deref(), Some("audio"), "every variant shares the one audio rendition");
        sizes.insert(variant.uri.trim_end_matches("/playlist.m3u8").to_string(), (resolution.width, resolution.height));
    }
    let expected: BTreeMap<String, (u64, u64)> = [("video", (1280, 720)), ("480p", (854, 480)), ("360p", (640, 360))].map(|(n, s)| (n.to_string(), s)).into();
    assert_eq!(sizes, expected);
    assert_eq!(variants.alternatives.len(), 1, "one audio rendition");
    let low = variants.variants.iter().find(|v| v.uri.starts_with("360p")).unwrap();
    let high = variants.variants.iter().find(|v| v.uri.starts_with("video")).unwrap();
    assert!(low.average_bandwidth < high.average_bandwidth, "measured bandwidths follow the ladder: {low:?} {high:?}");

    let text = server.get("/live/abr/manifest.mpd").expect("MPD");
    let mpd = dash_mpd_core::parse(&text).unwrap_or_else(|e| panic!("MPD does not parse: {e:?}\n{text}"));
    let period = mpd.periods.last().expect("a period");
    // (contentType, segmentAlignment, each representation's width and height)
    type AdaptationSet<'a> = (Option<&'a str>, Option<bool>, Vec<(u64, u64)>);
    let sets: Vec<AdaptationSet> = period
        .adaptations
        .iter()
        .map(|a| (a.contentType.as_deref(), a.segmentAlignment, a.representations.iter().map(|r| (r.width.unwrap_or(0), r.height.unwrap_or(0))).collect()))
        .collect();
    assert_eq!(
        sets,
        [(Some("video"), Some(true), vec![(1280, 720), (854, 480), (640, 360)]), (Some("audio"), Some(true), vec![(0, 0)])],
        "one aligned video set with every rendition, audio in its own:\n{text}"
    );

    for (name, (width, height)) in &expected {
        let url = server.url(&format!("/live/abr/{name}/playlist.m3u8"));
        let (ok, stdout, stderr) = run("ffprobe", &["-v", "error", "-show_entries", "stream=codec_name,width,height", "-of", "compact", &url]);
        assert!(ok, "ffprobe {url}: {stderr}");
        assert!(stdout.contains(&format!("codec_name=h264|width={width}|height={height}")), "{name}: {stdout}");
    }

    let report = api(&server);
    let abr = stream(&report, "abr");
    let rungs: Vec<_> =
        abr["ladder"]["rungs"].as_array().expect("ladder rungs").iter().map(|r| (r["name"].as_str().unwrap(), r["state"].as_str().unwrap())).collect();
    assert_eq!(rungs, [("480p", "running"), ("360p", "running")], "{abr}");
    let ingest = abr["ingest_kbps"].as_u64().unwrap_or(0);
    assert!((1500..=3500).contains(&ingest), "ingest counts what the publisher sends (2.5 Mbit/s), not the rungs: {ingest} kbit/s");
    let roles: Vec<_> = abr["renditions"].as_array().unwrap().iter().map(|r| r["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["source", "rung", "rung", "audio"], "{abr}");
    let plain_report = stream(&report, "plain");
    assert!(plain_report["ladder"].is_null(), "the opted-out key has no ladder: {plain_report}");
    let plain_master = server.master_playlist("plain").expect("the opted-out stream plays");
    assert_eq!(plain_master.variants.len(), 1);

    let (ok, stderr) = publisher.finish(Duration::from_secs(60));
    assert!(ok, "ffmpeg failed to publish: {stderr}");
    drop(plain);
    let ended =
        |name: &str| wait_for(&format!("the {name} playlist to end"), Duration::from_secs(30), || server.media_playlist("abr", name).filter(|p| p.end_list));
    let source = ended("video");
    let source_segments: BTreeMap<u64, f32> = source.segments.iter().enumerate().map(|(i, s)| (source.media_sequence + i as u64, s.duration)).collect();
    for name in ["480p", "360p"] {
        let rung = ended(name);
        assert_eq!(rung.media_sequence, source.media_sequence, "{name} lists the same segments");
        assert_eq!(rung.segments.len(), source.segments.len(), "{name}");
        for (index, segment) in rung.segments.iter().enumerate() {
            let number = rung.media_sequence + index as u64;
            assert_eq!(
                source_segments.get(&number),
                Some(&segment.duration),
                "{name} segment {number} ({} of {}) lasts as long as the source's",
                index + 1,
                rung.segments.len()
            );
            let source_bytes = get_bytes(&server.url(&format!("/live/abr/video/seg-{number}.m4s"))).expect("source segment");
            let rung_bytes = get_bytes(&server.url(&format!("/live/abr/{name}/seg-{number}.m4s"))).expect("rung segment");
            let (source_tfdt, source_sync) = first_fragment(&source_bytes);
            let (rung_tfdt, rung_sync) = first_fragment(&rung_bytes);
            assert_eq!(rung_tfdt, source_tfdt, "{name} segment {number} starts at the source's decode time");
            assert!(source_sync && rung_sync, "{name} segment {number} starts with a keyframe");
        }
        let frames = decode_count(&server.url(&format!("/live/abr/{name}/playlist.m3u8")), "v");
        assert!(frames >= 30 * 10, "{name}: ffmpeg -xerror decoded {frames} frames");
    }
}

#[test]
fn a_tiny_cpu_budget_sheds_rungs_and_the_source_keeps_real_time() {
    let server = Server::start("[ladder]\nmax_cores = 0.02\n");
    let _publisher = Publisher::spawn(&input("1280x720", 40), X264, &server.rtmp_url("shed"));
    let shed = wait_for("a rung shed for the budget", Duration::from_secs(40), || {
        let report = api(&server);
        let shed = report.as_array()?.iter().find(|s| s["key"] == "shed")?;
        shed["ladder"]["rungs"].as_array()?.iter().find(|r| r["state"] == "shed").cloned()
    });
    let reason = shed["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("ladder.max_cores"), "the reason names the setting: {shed}");
    let name = shed["name"].as_str().unwrap().to_string();
    assert_eq!(name, "480p", "the largest rung goes first");
    assert!(server.log().contains(&format!("shedding ladder rung {name}")), "{}", server.log());
    let metrics = server.get("/metrics").unwrap();
    assert!(metrics.contains(&format!("onair_ladder_rung_shed{{key=\"shed\",rung=\"{name}\"}} 1")), "{metrics}");
    wait_for("the shed rung to leave the master playlist", Duration::from_secs(10), || {
        server.master_playlist("shed").filter(|m| !m.variants.iter().any(|v| v.uri.starts_with(&name)))
    });
    assert_eq!(common::status(&server.url(&format!("/live/shed/{name}/playlist.m3u8"))), 404);

    // The source's playlist keeps up with the wall clock while the ladder sheds.
    let sequence = |server: &Server| server.media_playlist("shed", "video").map(|p| (p.media_sequence, p.segments.len()));
    let (first_sequence, first_len) = sequence(&server).expect("source playlist");
    let started = Instant::now();
    let later = wait_for("eight more seconds of source segments", Duration::from_secs(20), || {
        let (seq, len) = sequence(&server)?;
        let added = (seq + len as u64).saturating_sub(first_sequence + first_len as u64);
        (added >= 4).then_some(added)
    });
    let elapsed = started.elapsed().as_secs_f64();
    assert!(elapsed < 12.0, "{later} two-second segments took {elapsed:.1} s: the source fell behind real time");
}

#[test]
fn a_corrupted_source_costs_its_rungs_frames_not_the_server() {
    let mut server = Server::start("[ladder]\nmax_lag_ms = 20000\n");
    // ffmpeg's noise filter damages about one byte in a hundred of every packet.
    let noisy = Publisher::spawn(&input("1280x720", 10), &format!("{X264} -bsf:v noise=amount=100"), &server.rtmp_url("noisy"));
    let clean = Publisher::spawn(&input("1280x720", 14), X264, &server.rtmp_url("clean"));
    let (_, stderr) = noisy.finish(Duration::from_secs(60));
    assert!(server.is_running(), "the server survived the damaged stream; ffmpeg said: {stderr}\n{}", server.log());
    let variants = wait_for("the clean stream's rungs", Duration::from_secs(30), || server.master_playlist("clean").filter(|m| m.variants.len() == 3));
    assert_eq!(variants.variants.len(), 3);
    let (ok, stderr) = clean.finish(Duration::from_secs(60));
    assert!(ok, "{stderr}");
    assert!(server.is_running());
    let log = server.log();
    assert!(!log.contains("panicked"), "{log}");
}
