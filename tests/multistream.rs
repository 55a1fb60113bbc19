//! One encode to several targets at once: each target has its own queue and
//! state, so a target whose server dies reconnects on its own while the
//! others stay live without dropping a frame; `onair publish` takes `--to`
//! more than once and shows a line per target.

mod common;

use std::time::Duration;

use common::{Server, decode_count, free_port, wait_for};
use onair::encode::quality::QualityKnob;
use onair::engine::{AudioChoice, Engine, EngineConfig, VideoChoice};
use onair::publish::shared::PublishState;
use onair::publish::target::PublishTarget;

#[test]
fn a_dead_target_reconnects_on_its_own_while_the_other_stays_live_without_a_dropped_frame() {
    let rtmp_port = free_port();
    let dying = Server::start_exact(&config_for(rtmp_port));
    let steady = Server::start("[ladder]\nenabled = false\n[streams]\ngrace_seconds = 1.0\n");
    let targets = vec![
        PublishTarget::parse(&format!("rtmp://127.0.0.1:{rtmp_port}/live/multi")).unwrap(),
        PublishTarget::parse(&format!("{}?streamid=publish:live/multi", steady.srt)).unwrap(),
    ];
    let mut config = EngineConfig::new(VideoChoice::TestPattern, AudioChoice::TestTone, targets[0].clone(), QualityKnob::new(1, None).unwrap());
    config.targets = targets;
    let engine = Engine::start(config).expect("engine starts");
    let target_state = |index: usize| engine.status().targets.get(index).map(|t| t.state.clone());
    wait_for("both targets live", Duration::from_secs(15), || (0..2).all(|i| target_state(i) == Some(PublishState::Live)).then_some(()));
    wait_for("segments on the steady server", Duration::from_secs(20), || steady.media_playlist("multi", "video").filter(|p| !p.segments.is_empty()));

    drop(dying);
    wait_for("the first target to reconnect", Duration::from_secs(10), || matches!(target_state(0), Some(PublishState::Reconnecting { .. })).then_some(()));
    let status = engine.status();
    assert_eq!(status.state, PublishState::Live, "the stream is live while one of its targets is: {:?}", status.targets);
    assert_eq!(status.targets[1].state, PublishState::Live);
    let back = Server::start_exact(&config_for(rtmp_port));
    wait_for("the first target live again", Duration::from_secs(15), || (target_state(0) == Some(PublishState::Live)).then_some(()));
    wait_for("segments on the restarted server", Duration::from_secs(20), || back.media_playlist("multi", "video").filter(|p| !p.segments.is_empty()));

    let last = engine.shutdown();
    assert_eq!(last.state, PublishState::Stopped, "{:?}", last.targets);
    assert_eq!(last.targets[1].dropped_frames, 0, "the steady target lost nothing while the other was down: {:?}", last.targets[1]);
    let steady_playlist = wait_for("the steady stream to end", Duration::from_secs(20), || steady.media_playlist("multi", "video").filter(|p| p.end_list));
    assert!(steady_playlist.segments.iter().all(|s| !s.discontinuity), "the steady target never reconnected");
    let listed: f32 = steady_playlist.segments.iter().map(|s| s.duration).sum();
    let frames = decode_count(&steady.url("/live/multi/video/playlist.m3u8"), "v");
    assert!((frames as f32 - listed * 30.0).abs() <= 2.0, "every frame of the {listed} s listed decodes: {frames}");
}

/// A server on a fixed RTMP port, so a restarted one takes the target's reconnects.
fn config_for(rtmp_port: u16) -> String {
    format!("[rtmp]\nlisten = \"127.0.0.1:{rtmp_port}\"\n[streams]\ngrace_seconds = 30.0\n[ladder]\nenabled = false\n")
}

#[test]
fn onair_publish_takes_to_twice_and_shows_a_line_per_target() {
    let (first, second) = (Server::start("[ladder]\nenabled = false\n"), Server::start("[ladder]\nenabled = false\n"));
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_onair"))
        .args(["publish", "--video", "test", "--audio", "tone", "--quality", "1", "--duration", "4"])
        .args(["--to", &first.rtmp_url("both"), "--to", &format!("{}?streamid=publish:live/both", second.srt)])
        .output()
        .expect("run onair publish");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let first_name = format!("{}/bo••", first.rtmp);
    assert!(stderr.contains("publishing to rtmp://") && stderr.contains(" and srt://"), "{stderr}");
    assert!(stderr.lines().any(|l| l.contains(&first_name) && l.contains("| live |")), "a line for the RTMP target ({first_name}):\n{stderr}");
    assert!(stderr.lines().any(|l| l.contains("  srt://") && l.contains("| live |")), "a line for the SRT target:\n{stderr}");
    for (server, what) in [(&first, "RTMP"), (&second, "SRT")] {
        let frames = wait_for(&format!("the {what} target's stream"), Duration::from_secs(20), || {
            server.media_playlist("both", "video").filter(|p| p.end_list).map(|_| decode_count(&server.url("/live/both/video/playlist.m3u8"), "v"))
        });
        assert!(frames >= 60, "{what}: {frames} frames");
    }
}

#[test]
fn a_target_starts_and_stops_on_its_own_while_the_first_stays_live() {
    let (first, second) = (Server::start("[ladder]\nenabled = false\n"), Server::start("[ladder]\nenabled = false\n[streams]\ngrace_seconds = 1.0\n"));
    let target = PublishTarget::parse(&first.rtmp_url("steady")).unwrap();
    let engine =
        Engine::start(EngineConfig::new(VideoChoice::TestPattern, AudioChoice::TestTone, target, QualityKnob::new(1, None).unwrap())).expect("engine starts");
    let target_state = |index: usize| engine.status().targets.get(index).map(|t| t.state.clone());
    wait_for("the first target live", Duration::from_secs(15), || (target_state(0) == Some(PublishState::Live)).then_some(()));
    engine.send(onair::engine::Command::StartTarget(PublishTarget::parse(&second.rtmp_url("joined")).unwrap()));
    wait_for("the second target live", Duration::from_secs(15), || (target_state(1) == Some(PublishState::Live)).then_some(()));
    wait_for("segments from the joined target", Duration::from_secs(20), || second.media_playlist("joined", "video").filter(|p| !p.segments.is_empty()));
    engine.send(onair::engine::Command::StopTarget(1));
    wait_for("the second target stopped", Duration::from_secs(10), || (target_state(1) == Some(PublishState::Stopped)).then_some(()));
    let joined = wait_for("the joined stream to end", Duration::from_secs(20), || second.media_playlist("joined", "video").filter(|p| p.end_list));
    let frames = decode_count(&second.url("/live/joined/video/playlist.m3u8"), "v");
    let listed: f32 = joined.segments.iter().map(|s| s.duration).sum();
    assert!(frames > 30 && (frames as f32 - listed * 30.0).abs() <= 2.0, "the joined target's stream starts on a keyframe and decodes whole: {frames} frames");
    let status = engine.status();
    assert_eq!(status.state, PublishState::Live, "the first target stays live: {:?}", status.targets);
    assert_eq!(status.targets[0].state, PublishState::Live);
    let last = engine.shutdown();
    assert_eq!(last.targets[0].dropped_frames, 0, "{:?}", last.targets[0]);
}
