//! The real app, driven by label with egui_kittest: pick the test sources,
//! set the knob, Go Live to a local server, see LIVE and the in-app player
//! decoding the local HLS with its latency, End stream, see Stopped; a
//! refused target says so and offers Retry; one knob drag, one restart;
//! two targets live at once, one stopped and started alone; the local
//! server over WebRTC; keys kept apart.

mod common;

use std::time::{Duration, Instant};

use common::{Server, wait_for};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use onair::gui::app::{OnAirApp, ServerInfo};
use onair::gui::settings::{CameraSetting, MicrophoneSetting, Settings};
use onair::gui::target_setting::{TargetId, TargetKind, TargetSetting};
use onair::publish::shared::PublishState;

/// The bundled server as the app would see `server`.
fn bundled(server: &Server) -> ServerInfo {
    ServerInfo { rtmp: server.rtmp.clone(), srt: server.srt.clone(), http: server.http.clone(), notice: None, control: None }
}

/// The app's window, 1240 pixels wide.
fn window(app: OnAirApp, height: f32) -> Harness<'static, OnAirApp> {
    Harness::builder().with_size(egui::vec2(1240.0, height)).build_ui_state(|ui, app: &mut OnAirApp| app.show(ui), app)
}

/// The knob's slider: the last one, after the mixer's gain faders.
fn knob_slider<'h>(harness: &'h Harness<'_, OnAirApp>) -> egui_kittest::Node<'h> {
    harness.get_all_by_role(egui::accesskit::Role::Slider).last().expect("the knob")
}

fn step_until(harness: &mut Harness<'_, OnAirApp>, what: &str, timeout: Duration, done: impl Fn(&OnAirApp) -> bool) {
    let deadline = Instant::now() + timeout;
    while !done(harness.state()) {
        assert!(Instant::now() < deadline, "timed out waiting for {what}; state {:?}", harness.state().status.state);
        harness.step();
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn go_live_from_the_window_and_end_the_stream() {
    let server = Server::start("[streams]\ngrace_seconds = 1.0\n");
    let info = bundled(&server);
    let settings = Settings { local_key: "window".into(), knob: 3, ..Settings::default() };
    let app = OnAirApp::new(settings, Some(info));
    let mut harness = window(app, 700.0);
    harness.run_steps(2);

    // The test sources are there whatever the machine has: choose them from the pickers.
    harness.get_by_label("Camera").click();
    harness.run_steps(2);
    harness.get_by_label("Test pattern").click();
    harness.run_steps(2);
    harness.get_by_label("Microphone").click();
    harness.run_steps(2);
    harness.get_by_label("Test tone").click();
    harness.run_steps(2);
    assert_eq!((harness.state().settings.camera.as_str(), harness.state().settings.microphone.as_str()), ("test", "tone"));
    harness.get_by_label("Local server");
    // Down to position 1 with the keyboard.
    knob_slider(&harness).focus();
    harness.run_steps(1);
    harness.key_press(egui::Key::ArrowLeft);
    harness.key_press(egui::Key::ArrowLeft);
    harness.run_steps(2);
    assert_eq!(harness.state().settings.knob, 1);
    harness.get_by_label_contains("640×360");

    harness.get_by_label("Go Live").click();
    step_until(&mut harness, "LIVE", Duration::from_secs(20), |app| app.status.state == PublishState::Live);
    harness.run_steps(2);
    // The stream's state, and its one target's.
    assert_eq!(harness.get_all_by_label_contains("LIVE 00:").count(), 2);
    step_until(&mut harness, "segments on the local server", Duration::from_secs(20), |_| server.get("/live/window/index.m3u8").is_some());
    // The in-app player reads the local HLS and decodes it; the stamp gives the latency.
    step_until(&mut harness, "decoded frames from the local HLS", Duration::from_secs(30), |app| {
        app.player_status().is_some_and(|p| p.frames_decoded > 10 && p.latency_ms.is_some())
    });
    harness.run_steps(2);
    harness.get_by_label_contains("glass-to-glass");
    // Three seconds of the stream: the preview's glass-to-glass, picture by picture as shown.
    let mut latencies = Vec::new();
    let watching_since = harness.state().status.uptime;
    while harness.state().status.uptime < watching_since + Duration::from_secs(3) {
        latencies.extend(harness.state().player_status().and_then(|p| p.latency_ms));
        harness.step();
        std::thread::sleep(Duration::from_millis(50));
    }
    latencies.sort_unstable();
    let p50 = latencies[latencies.len() / 2];
    eprintln!("in-app preview glass-to-glass over 3 s: p50 {p50} ms, max {} ms ({} readings)", latencies[latencies.len() - 1], latencies.len());
    assert!((0..1_500).contains(&p50), "the preview plays LL-HLS parts as they complete: glass-to-glass p50 {p50} ms");
    harness.get_by_label("End stream").click();
    step_until(&mut harness, "Stopped", Duration::from_secs(10), |app| app.status.state == PublishState::Stopped);
    harness.run_steps(2);
    harness.get_by_label_contains("Stream ended after");
    harness.get_by_label("Go Live");
    // What described the live moment is gone; the stream's totals stay.
    let status = &harness.state().status;
    assert_eq!((status.sent_kbps, status.fps, status.queue_depth, status.encode_ms), (0.0, 0.0, 0, 0.0), "{status:?}");
    harness.get_by_label_contains("0 of ");
}

/// A port nothing listens on: bound, then let go.
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn a_target_that_never_answers_says_could_not_connect_and_offers_retry() {
    let port = closed_port();
    let settings = Settings {
        targets: vec![TargetSetting::custom_rtmp(TargetId(1), "Refusing", &format!("rtmp://127.0.0.1:{port}/live"), "refused")],
        camera: CameraSetting::TestPattern,
        microphone: MicrophoneSetting::TestTone,
        ..Settings::default()
    };
    let app = OnAirApp::new(settings, None);
    let mut harness = window(app, 700.0);
    harness.run_steps(2);
    harness.get_by_label("Go Live").click();
    step_until(&mut harness, "the connection to fail", Duration::from_secs(15), |app| matches!(app.status.state, PublishState::Failed(_)));
    harness.run_steps(2);
    harness.get_by_label_contains(&format!("Could not connect to 127.0.0.1:{port}"));
    harness.get_by_label("Retry");
    assert!(harness.query_by_label_contains("Reconnecting").is_none(), "a target that never answered is not a reconnect");
    let status = &harness.state().status;
    assert_eq!(status.dropped_frames, 0, "nothing is dropped before the first connection: {status:?}");
    // Retry tries again, and fails the same way.
    harness.get_by_label("Retry").click();
    harness.run_steps(1);
    step_until(&mut harness, "the retry to start", Duration::from_secs(5), |app| app.is_live());
    step_until(&mut harness, "the retry to fail", Duration::from_secs(15), |app| matches!(app.status.state, PublishState::Failed(_)));
    harness.run_steps(2);
    harness.get_by_label("Retry");
}

#[test]
fn one_drag_across_two_knob_positions_restarts_the_encoder_once() {
    let server = Server::start("");
    let info = bundled(&server);
    let settings =
        Settings { local_key: "knob".into(), knob: 3, camera: CameraSetting::TestPattern, microphone: MicrophoneSetting::TestTone, ..Settings::default() };
    let app = OnAirApp::new(settings, Some(info));
    // Tall enough for the knob to show below the mixer without scrolling.
    let mut harness = window(app, 1100.0);
    harness.run_steps(2);
    harness.get_by_label("Go Live").click();
    step_until(&mut harness, "LIVE", Duration::from_secs(20), |app| app.status.state == PublishState::Live && app.status.encoders_started == 1);

    // The handle sits on the rail between half a rail height from each end.
    let rail = knob_slider(&harness).rect();
    let inset = rail.height() / 2.0;
    let x = |position: f32| rail.left() + inset + (rail.width() - 2.0 * inset) * (position - 1.0) / 4.0;
    let y = rail.center().y;
    harness.hover_at(egui::pos2(x(3.0), y));
    harness.run_steps(1);
    harness.drag_at(egui::pos2(x(3.0), y));
    harness.run_steps(1);
    // Pass 720p60 slowly enough for an eager knob to have applied it.
    harness.hover_at(egui::pos2(x(4.0), y));
    harness.run_steps(3);
    harness.get_by_label_contains("60 fps");
    // The hand rests on 720p60 for half a second of the stream: an eager
    // knob would have had it applied (the engine applies within a frame).
    let resting_since = harness.state().status.uptime;
    step_until(&mut harness, "the stream to run on", Duration::from_secs(5), |app| app.status.uptime >= resting_since + Duration::from_millis(500));
    harness.hover_at(egui::pos2(x(5.0), y));
    harness.run_steps(3);
    harness.get_by_label_contains("1920×1080");
    harness.drop_at(egui::pos2(x(5.0), y));
    step_until(&mut harness, "1080p applied", Duration::from_secs(10), |app| app.status.width == 1920 && app.status.encoders_started >= 2);
    // Half a second more of the stream, for any restart still to come to show.
    let applied_at = harness.state().status.uptime;
    step_until(&mut harness, "the stream to run on", Duration::from_secs(5), |app| app.status.uptime >= applied_at + Duration::from_millis(500));
    assert_eq!(harness.state().settings.knob, 5);
    assert_eq!(harness.state().status.encoders_started, 2, "one drag, one encoder restart");
    harness.get_by_label("End stream").click();
    step_until(&mut harness, "Stopped", Duration::from_secs(10), |app| app.status.state == PublishState::Stopped);
}

#[test]
fn the_ladder_checkbox_switches_the_bundled_servers_ladder() {
    use onair::server::config::ServerConfig;
    use onair::server::control::ServerControl;
    use onair::server::hub::Hub;
    use onair::server::metrics::Metrics;
    use std::sync::Arc;
    // The hub of a bundled server in this process (no listeners needed to switch it);
    // the app reaches it only through its command channel, applied on the control's thread.
    let hub = Arc::new(Hub::new(ServerConfig::default(), Arc::new(Metrics::default())));
    assert!(hub.ladder_on(), "`onair serve` transcodes by default");
    let control = ServerControl::attach(hub.clone()).expect("the control thread starts");
    let info = ServerInfo { rtmp: "rtmp://x/live".into(), srt: "srt://x".into(), http: "http://x".into(), notice: None, control: Some(control) };
    let app = OnAirApp::new(Settings::default(), Some(info));
    let applied = |on: bool| wait_for("the server to apply the command", Duration::from_secs(5), || (hub.ladder_on() == on).then_some(on));
    assert!(!applied(false), "the app starts its server with the ladder off unless the streamer turned it on");
    let mut harness = window(app, 700.0);
    harness.run_steps(2);
    harness.get_by_label("Ladder for viewers").click();
    harness.run_steps(2);
    assert!(harness.state().settings.ladder && applied(true), "checked: the next publisher gets a ladder");
    harness.get_by_label("Ladder for viewers").click();
    harness.run_steps(2);
    assert!(!harness.state().settings.ladder && !applied(false));
}

#[test]
fn an_empty_stream_key_is_named_next_to_its_field_and_nothing_starts() {
    let settings = Settings { targets: vec![TargetSetting::custom_rtmp(TargetId(1), "Platform", "rtmp://127.0.0.1:1/app", "")], ..Settings::default() };
    let app = OnAirApp::new(settings, None);
    let mut harness = window(app, 700.0);
    harness.run_steps(2);
    harness.get_by_label("Go Live").click();
    harness.run_steps(2);
    harness.get_by_label_contains("The stream key is empty");
    assert!(!harness.state().is_live(), "nothing connects with a field that cannot work");
    assert!(harness.query_by_label_contains("is not a publish URL").is_none(), "no URL the user never typed");
    // Typing a key clears the message.
    harness.state_mut().settings.targets[0].secrets.key = "abc".into();
    harness.run_steps(2);
    assert!(harness.query_by_label_contains("The stream key is empty").is_none());
}

#[test]
fn the_meter_moves_with_the_test_tone_before_going_live() {
    let settings = Settings { microphone: MicrophoneSetting::TestTone, ..Settings::default() };
    let app = OnAirApp::new(settings, None);
    let mut harness = window(app, 700.0);
    harness.run_steps(2);
    assert!(!harness.state().is_live());
    step_until(&mut harness, "the tone on the meter", Duration::from_secs(10), |app| app.status.audio_level.peak_dbfs > -60.0);
    harness.run_steps(1);
    assert!(harness.query_by_label_contains("peak -120 dBFS").is_none(), "a sound check before Go Live");
}

/// The loudest of the mix and of each input over `seconds` of the app's frames.
fn loudest(harness: &mut Harness<'_, OnAirApp>, seconds: f32) -> (f32, Vec<f32>) {
    let deadline = Instant::now() + Duration::from_secs_f32(seconds);
    let (mut mix, mut inputs) = (-120f32, Vec::new());
    while Instant::now() < deadline {
        harness.step();
        let status = &harness.state().status;
        mix = mix.max(status.audio_level.peak_dbfs);
        let levels = status.mixer.as_ref().map(|m| m.inputs.iter().map(|i| i.level.peak_dbfs).collect::<Vec<_>>()).unwrap_or_default();
        inputs.resize(levels.len().max(inputs.len()), -120f32);
        inputs.iter_mut().zip(levels).for_each(|(most, level): (&mut f32, f32)| *most = most.max(level));
        std::thread::sleep(Duration::from_millis(50));
    }
    (mix, inputs)
}

#[test]
fn the_mixer_meters_each_input_before_and_while_live_and_its_fader_mute_and_inputs_change_the_mix() {
    let server = Server::start("[ladder]\nenabled = false\n");
    let settings =
        Settings { local_key: "mixer".into(), knob: 1, camera: CameraSetting::TestPattern, microphone: MicrophoneSetting::TestTone, ..Settings::default() };
    let app = OnAirApp::new(settings, Some(bundled(&server)));
    let mut harness = window(app, 1000.0);
    harness.run_steps(2);
    // Before Go Live, the mixer is a sound check on the inputs the stream will have.
    step_until(&mut harness, "the tone's channel", Duration::from_secs(10), |app| app.status.mixer.as_ref().is_some_and(|m| m.inputs.len() == 1));
    let (mix, inputs) = loudest(&mut harness, 2.5);
    // The test tone beeps at -6 dBFS.
    assert!((mix - -6.0).abs() < 1.5 && (inputs[0] - -6.0).abs() < 1.5, "mix {mix}, input {inputs:?}");

    // Six dB down on the fader, from the keyboard (half a dB a step).
    harness.get_all_by_role(egui::accesskit::Role::Slider).next().expect("the tone's fader").focus();
    harness.run_steps(1);
    for _ in 0..12 {
        harness.key_press(egui::Key::ArrowLeft);
    }
    harness.run_steps(2);
    assert_eq!(harness.state().settings.microphone_settings.gain_db, -6.0);
    let (mix, inputs) = loudest(&mut harness, 2.5);
    assert!((mix - -12.0).abs() < 1.5 && (inputs[0] - -12.0).abs() < 1.5, "6 dB down: mix {mix}, input {inputs:?}");

    // A second input joins the mix and the sound check.
    harness.get_by_label("Add input").click();
    harness.run_steps(2);
    harness.get_all_by_label("Test tone").last().expect("the tone among the inputs to add").click();
    step_until(&mut harness, "two channels", Duration::from_secs(10), |app| app.status.mixer.as_ref().is_some_and(|m| m.inputs.len() == 2));
    let (mix, inputs) = loudest(&mut harness, 2.5);
    assert!(inputs.len() == 2 && (inputs[1] - -6.0).abs() < 1.5, "{inputs:?}");
    assert!(mix > inputs[1] + 0.5, "both tones sum in the mix: {mix} over {inputs:?}");

    harness.get_by_label("Go Live").click();
    step_until(&mut harness, "LIVE", Duration::from_secs(20), |app| app.status.state == PublishState::Live);
    // Live, the engine's mixer reports the same channels; muting both silences the mix while their meters go on.
    step_until(&mut harness, "the engine's channels", Duration::from_secs(10), |app| app.status.mixer.as_ref().is_some_and(|m| m.inputs.len() == 2));
    for _ in 0..2 {
        harness.get_all_by_label("Mute").next().expect("an unmuted channel").click();
        harness.run_steps(2);
    }
    step_until(&mut harness, "the engine muting both", Duration::from_secs(10), |app| {
        app.status.mixer.as_ref().is_some_and(|m| m.inputs.iter().all(|i| i.settings.muted))
    });
    let (mix, inputs) = loudest(&mut harness, 2.5);
    assert!(mix < -90.0, "muted, the mix is silent: {mix}");
    assert!(inputs.iter().all(|level| *level > -40.0), "muted channels still meter (the tone is at -20 dBFS between beeps): {inputs:?}");
    harness.get_by_label("End stream").click();
    step_until(&mut harness, "Stopped", Duration::from_secs(10), |app| app.status.state == PublishState::Stopped);
}

#[test]
fn record_while_live_writes_an_mp4_of_the_stream_and_stopping_it_leaves_the_stream_live() {
    let server = Server::start("[ladder]\nenabled = false\n");
    let info = bundled(&server);
    let folder = std::env::temp_dir().join(format!("onair-gui-record-{}", std::process::id()));
    let settings = Settings {
        local_key: "rec".into(),
        knob: 1,
        camera: CameraSetting::TestPattern,
        microphone: MicrophoneSetting::TestTone,
        recording_folder: Some(folder.clone()),
        ..Settings::default()
    };
    let app = OnAirApp::new(settings, Some(info));
    let mut harness = window(app, 700.0);
    harness.run_steps(2);
    harness.get_by_label("Go Live").click();
    step_until(&mut harness, "LIVE", Duration::from_secs(20), |app| app.status.state == PublishState::Live);
    harness.run_steps(2);
    harness.get_by_label("Record").click();
    step_until(&mut harness, "three seconds recorded", Duration::from_secs(20), |app| {
        app.status.targets.get(1).is_some_and(|t| t.state == PublishState::Live && t.uptime >= Duration::from_secs(3))
    });
    harness.run_steps(2);
    harness.get_by_label_contains("REC 00:00:0");
    harness.get_by_label("Stop recording").click();
    step_until(&mut harness, "the recording saved", Duration::from_secs(10), |app| app.status.targets.get(1).is_some_and(|t| t.state == PublishState::Stopped));
    harness.run_steps(2);
    harness.get_by_label_contains("Recording saved:");
    assert_eq!(harness.state().status.state, PublishState::Live, "the stream goes on without its recording");
    let path = harness.state().recording_path().map(std::path::Path::to_path_buf).expect("the recording's file");
    // A second recording in the same stream is a target of its own.
    harness.get_by_label("Record").click();
    step_until(&mut harness, "the second recording", Duration::from_secs(20), |app| app.status.targets.get(2).is_some_and(|t| t.state == PublishState::Live));
    harness.run_steps(2);
    harness.get_by_label("Stop recording").click();
    step_until(&mut harness, "the second recording saved", Duration::from_secs(10), |app| {
        app.status.targets.get(2).is_some_and(|t| t.state == PublishState::Stopped)
    });
    let (ok, probe, stderr) =
        common::run("ffprobe", &["-v", "error", "-show_entries", "format=duration:stream=codec_name", "-of", "compact", &path.display().to_string()]);
    assert!(ok && probe.contains("codec_name=h264") && probe.contains("codec_name=aac"), "{probe}{stderr}");
    let duration: f64 = probe.lines().find_map(|l| l.strip_prefix("format|duration=")).and_then(|d| d.parse().ok()).unwrap_or_default();
    assert!(duration >= 2.5, "{duration} s recorded");
    harness.get_by_label("End stream").click();
    step_until(&mut harness, "Stopped", Duration::from_secs(10), |app| app.status.state == PublishState::Stopped);
    let _ = std::fs::remove_dir_all(&folder);
}

#[test]
fn two_targets_go_live_together_and_one_stops_and_starts_alone_while_the_other_stays_live() {
    let local = Server::start("[ladder]\nenabled = false\n");
    let other = Server::start("[ladder]\nenabled = false\n[streams]\ngrace_seconds = 2.0\n");
    let info = bundled(&local);
    let key = "backup-secret-key";
    let settings =
        Settings { local_key: "both".into(), knob: 1, camera: CameraSetting::TestPattern, microphone: MicrophoneSetting::TestTone, ..Settings::default() };
    let app = OnAirApp::new(settings, Some(info));
    let mut harness = window(app, 900.0);
    harness.run_steps(2);
    // A second target, added and filled in from the window; it opens for its settings.
    harness.get_by_label("Add target").click();
    harness.run_steps(2);
    harness.get_by_label("Custom RTMP or RTMPS").click();
    harness.run_steps(2);
    for (field, text) in [("URL", other.rtmp.as_str()), ("Stream key", key)] {
        harness.get_by_label(field).focus();
        harness.run_steps(1);
        harness.get_by_label(field).type_text(text);
        harness.run_steps(1);
    }
    harness.get_by_label("Done").click();
    harness.run_steps(2);
    let added = &harness.state().settings.targets[1];
    assert_eq!((added.url.as_str(), added.secrets.key.as_str(), added.enabled), (other.rtmp.as_str(), key, true));
    harness.get_by_label("Go Live").click();
    let both_live = |app: &OnAirApp| app.status.targets.len() == 2 && app.status.targets.iter().all(|t| t.state == PublishState::Live);
    step_until(&mut harness, "both targets LIVE", Duration::from_secs(20), both_live);
    harness.run_steps(2);
    // The stream's state, and each target's own.
    assert_eq!(harness.get_all_by_label_contains("LIVE 00:").count(), 3);
    step_until(&mut harness, "segments on both servers", Duration::from_secs(20), |_| {
        local.get("/live/both/index.m3u8").is_some() && other.get(&format!("/live/{key}/index.m3u8")).is_some()
    });

    // The key is masked in its field until asked for.
    harness.get_all_by_label("Edit").nth(1).expect("the backup's Edit").click();
    harness.run_steps(2);
    assert_eq!(harness.query_all_by_value(key).count(), 0, "the stream key shows masked");
    harness.get_by_label("Show keys").click();
    harness.run_steps(2);
    assert!(harness.query_all_by_value(key).count() > 0, "Show keys shows it");
    harness.get_by_label("Done").click();
    harness.run_steps(1);

    // Switched off while live: the added target stops alone.
    harness.get_by_label("Custom RTMP").click();
    step_until(&mut harness, "the backup stopped", Duration::from_secs(10), |app| app.status.targets[1].state == PublishState::Stopped);
    harness.run_steps(2);
    harness.get_by_label("Stopped");
    let status = &harness.state().status;
    assert_eq!((&status.state, &status.targets[0].state), (&PublishState::Live, &PublishState::Live), "the local target stays live");
    // Switched on again: it starts from the same encode while the other carries on.
    harness.get_by_label("Custom RTMP").click();
    step_until(&mut harness, "the backup live again", Duration::from_secs(20), |app| {
        app.status.targets.get(2).is_some_and(|t| t.state == PublishState::Live && t.fps > 0.0)
    });
    harness.run_steps(2);
    assert_eq!(harness.get_all_by_label_contains("LIVE 00:").count(), 3);
    let local_target = &harness.state().status.targets[0];
    assert_eq!((local_target.dropped_frames, &local_target.state), (0, &PublishState::Live), "{local_target:?}");
    harness.get_by_label("End stream").click();
    step_until(&mut harness, "Stopped", Duration::from_secs(10), |app| app.status.state == PublishState::Stopped);
}

#[test]
fn the_local_server_over_webrtc_is_a_target_the_window_offers() {
    let server = Server::start("[ladder]\nenabled = false\n[streams]\ngrace_seconds = 1.0\n");
    let info = bundled(&server);
    let settings =
        Settings { local_key: "over-rtc".into(), knob: 1, camera: CameraSetting::TestPattern, microphone: MicrophoneSetting::TestTone, ..Settings::default() };
    let app = OnAirApp::new(settings, Some(info));
    let mut harness = window(app, 900.0);
    harness.run_steps(2);
    harness.get_all_by_label("Edit").next().expect("the local target's Edit").click();
    harness.run_steps(2);
    harness.get_by_label("Kind").click();
    harness.run_steps(2);
    harness.get_by_label("Local server over WebRTC").click();
    harness.run_steps(2);
    harness.get_by_label("Done").click();
    harness.run_steps(2);
    assert_eq!(harness.state().settings.targets[0].kind, TargetKind::LocalWebRtc);
    harness.get_by_label("Go Live").click();
    step_until(&mut harness, "LIVE over WebRTC", Duration::from_secs(20), |app| app.status.state == PublishState::Live);
    harness.run_steps(2);
    harness.get_by_label_contains("WebRTC · ");
    step_until(&mut harness, "segments from the WHIP publisher", Duration::from_secs(20), |_| server.get("/live/over-rtc/index.m3u8").is_some());
    let api = server.get("/api/streams").expect("/api/streams");
    assert!(api.contains("webrtc"), "the server took the stream over WebRTC: {api}");
    harness.get_by_label("End stream").click();
    step_until(&mut harness, "Stopped", Duration::from_secs(10), |app| app.status.state == PublishState::Stopped);
}

/// The app's plain settings, as eframe keeps them between runs.
#[derive(Default)]
struct MemoryStorage(std::collections::HashMap<String, String>);

impl eframe::Storage for MemoryStorage {
    fn get_string(&self, key: &str) -> Option<String> {
        self.0.get(key).cloned()
    }
    fn set_string(&mut self, key: &str, value: String) {
        self.0.insert(key.into(), value);
    }
    fn remove_string(&mut self, key: &str) {
        self.0.remove(key);
    }
    fn flush(&mut self) {}
}

#[test]
fn target_keys_are_saved_apart_from_the_plain_settings_and_come_back() {
    use eframe::App;
    use onair::gui::secrets::SecretStore;
    let folder = std::env::temp_dir().join(format!("onair-gui-secrets-{}", std::process::id()));
    let store = SecretStore::at(folder.join("secrets.toml"));
    let key = "live_0123456789_secret";
    let settings =
        Settings { targets: vec![TargetSetting::default(), TargetSetting::custom_rtmp(TargetId(2), "Platform", "rtmp://x/app", key)], ..Settings::default() };
    let mut app = OnAirApp::new(settings, None).with_secret_store(store.clone());
    let mut storage = MemoryStorage::default();
    app.save(&mut storage);
    let plain: String = storage.0.values().cloned().collect();
    assert!(plain.contains("Platform") && plain.contains("rtmp://x/app"), "the target list is saved: {plain}");
    assert!(!plain.contains(key), "no key among the plain settings: {plain}");
    let kept = std::fs::read_to_string(store.path()).expect("the keys' own file");
    assert!(kept.contains(key), "{kept}");

    let mut restored: Settings = eframe::get_value(&storage, eframe::APP_KEY).expect("the settings read back");
    assert!(restored.targets[1].secrets.key.is_empty());
    store.load_into(&mut restored.targets).unwrap();
    assert_eq!(restored.targets[1].secrets.key, key);
    assert_eq!(restored.targets.iter().map(|t| &t.name).collect::<Vec<_>>(), ["Local server", "Platform"]);
    let _ = std::fs::remove_dir_all(&folder);
}

#[test]
fn settings_saved_with_one_target_before_the_list_keep_it_and_its_key() {
    use onair::gui::settings::LegacyTarget;
    use onair::gui::target_setting::TargetKind;
    // As eframe stored them (RON) before the target list.
    let mut storage = MemoryStorage::default();
    let old = r#"(camera:"test",microphone:"tone",target:CustomRtmp,local_key:"studio",custom_rtmp_url:"rtmp://live.example.com/app",custom_rtmp_key:"sk_live_1",custom_srt_url:"",custom_srt_stream_id:"",custom_srt_passphrase:"",knob:4,ladder:false)"#;
    eframe::Storage::set_string(&mut storage, eframe::APP_KEY, old.into());
    let mut settings: Settings = eframe::get_value(&storage, eframe::APP_KEY).expect("old settings read as new");
    let legacy: LegacyTarget = eframe::get_value(&storage, eframe::APP_KEY).expect("the old target read");
    legacy.migrate_into(&mut settings);
    assert_eq!(settings.knob, 4);
    let targets: Vec<_> = settings.targets.iter().map(|t| (t.kind, t.enabled, t.url.as_str(), t.secrets.key.as_str())).collect();
    assert_eq!(targets, [(TargetKind::LocalRtmp, false, "", ""), (TargetKind::CustomRtmp, true, "rtmp://live.example.com/app", "sk_live_1")]);
}

/// Adds a layer of `kind` showing `shows` from the layer picker, as a user would.
fn add_layer(harness: &mut Harness<'_, OnAirApp>, kind: &str, shows: &str) {
    harness.get_by_label("Layer").click();
    harness.run_steps(2);
    harness.get_all_by_label(kind).last().expect("the kind in the picker").click();
    harness.run_steps(2);
    if !shows.is_empty() {
        harness.get_by_label("Shows").focus();
        harness.run_steps(1);
        harness.get_by_label("Shows").type_text(shows);
        harness.run_steps(1);
    }
    harness.get_by_label("Add layer").click();
    harness.run_steps(2);
}

#[test]
fn scenes_are_made_layered_reordered_hidden_and_switched_live_by_label() {
    let server = Server::start("[streams]\ngrace_seconds = 1.0\n[ladder]\nenabled = false\n");
    let settings =
        Settings { local_key: "scenes".into(), knob: 1, camera: CameraSetting::TestPattern, microphone: MicrophoneSetting::TestTone, ..Settings::default() };
    let app = OnAirApp::new(settings, Some(bundled(&server)));
    let mut harness = window(app, 1000.0);
    harness.run_steps(2);
    harness.get_by_label("Compose scenes (instead of the camera)").click();
    harness.run_steps(2);
    // A new scene, current at once: a red backdrop and a title over it.
    harness.get_by_label("Add scene").click();
    harness.run_steps(2);
    add_layer(&mut harness, "Colour", "#FF0000");
    add_layer(&mut harness, "Text", "Be right back");
    let scene = |app: &OnAirApp| app.settings.scenes.current_scene().cloned().unwrap();
    assert_eq!(scene(harness.state()).name, "Scene 1");
    let sources: Vec<String> = scene(harness.state()).layers.iter().map(|l| l.source.to_string()).collect();
    assert_eq!(sources, ["color:#FF0000", "text:Be right back"]);
    // The title goes under the backdrop, then back up; hidden, then shown.
    harness.get_all_by_label("Down").next().expect("the top layer's Down").click();
    harness.run_steps(2);
    assert_eq!(scene(harness.state()).layers[0].source.to_string(), "text:Be right back");
    harness.get_all_by_label("Up").last().expect("the bottom layer's Up").click();
    harness.run_steps(2);
    assert_eq!(scene(harness.state()).layers[1].source.to_string(), "text:Be right back");
    harness.get_by_label("text:Be right back").click();
    harness.run_steps(2);
    assert!(!scene(harness.state()).layers[1].visible);
    harness.get_by_label("text:Be right back").click();
    harness.run_steps(2);
    assert!(scene(harness.state()).layers[1].visible);

    // Live with the first scene (the test pattern), then switched to the new one by clicking it.
    harness.get_by_label("Test pattern").click();
    harness.run_steps(2);
    assert_eq!(harness.state().settings.scenes.current, 0);
    harness.get_by_label("Go Live").click();
    step_until(&mut harness, "LIVE", Duration::from_secs(20), |app| app.status.state == PublishState::Live);
    step_until(&mut harness, "the program on the test pattern", Duration::from_secs(5), |app| {
        app.status.program.as_ref().is_some_and(|p| p.scene == "Test pattern")
    });
    harness.get_by_label("Scene 1").click();
    step_until(&mut harness, "the program on Scene 1", Duration::from_secs(5), |app| app.status.program.as_ref().is_some_and(|p| p.scene == "Scene 1"));
    // And back with the keyboard: Ctrl+1.
    harness.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Num1);
    step_until(&mut harness, "the program back on the test pattern", Duration::from_secs(5), |app| {
        app.status.program.as_ref().is_some_and(|p| p.scene == "Test pattern")
    });
    harness.get_by_label("End stream").click();
    step_until(&mut harness, "Stopped", Duration::from_secs(10), |app| app.status.state == PublishState::Stopped);
}

#[test]
fn the_scene_collection_is_saved_as_a_scene_file_and_read_back() {
    let path = std::env::temp_dir().join(format!("onair-scenes-{}.toml", std::process::id()));
    let store = onair::gui::scene_store::SceneStore::at(path.clone());
    let mut collection = onair::scene::SceneCollection::starter();
    collection.scenes.push(onair::scene::Scene::new("Talk", vec![onair::scene::Layer::new(onair::scene::SourceSpec::Color([0, 0, 255]))]));
    collection.current = 1;
    store.save(&collection).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("[[scenes.layers]]") && text.contains("source = \"color:#0000FF\""), "{text}");
    assert_eq!(store.load(), collection);
    let _ = std::fs::remove_file(path);
}

#[test]
fn a_layer_is_dragged_and_resized_on_the_program_preview_before_going_live() {
    use onair::scene::{Layer, Scene, SceneCollection, SourceSpec};
    let scene = Scene::new("Show", vec![Layer::new(SourceSpec::TestPattern), Layer::new(SourceSpec::Color([0, 200, 0])).at(100, 100, 320, 180)]);
    let settings = Settings { knob: 3, use_scenes: true, scenes: SceneCollection { scenes: vec![scene], current: 0 }, ..Settings::default() };
    let app = OnAirApp::new(settings, None);
    let mut harness = window(app, 900.0);
    // The program is composed before Go Live: its picture comes up.
    let deadline = Instant::now() + Duration::from_secs(10);
    while harness.query_by_label("Program").is_none() {
        assert!(Instant::now() < deadline, "no program preview");
        harness.step();
        std::thread::sleep(Duration::from_millis(50));
    }
    let picture = harness.get_by_label("Program").rect();
    let canvas_width = harness.state().status.width as f32;
    let scale = picture.width() / canvas_width;
    let at = |x: f32, y: f32| picture.min + egui::vec2(x * scale, y * scale);
    let layer = |harness: &Harness<'_, OnAirApp>| {
        let layer = &harness.state().settings.scenes.scenes[0].layers[1];
        (layer.x, layer.y, layer.width.unwrap_or(0), layer.height.unwrap_or(0))
    };
    let drag = |harness: &mut Harness<'_, OnAirApp>, from: egui::Pos2, by: egui::Vec2| {
        harness.hover_at(from);
        harness.run_steps(1);
        harness.drag_at(from);
        harness.run_steps(1);
        for step in 1..=4 {
            harness.hover_at(from + by * (step as f32 / 4.0));
            harness.run_steps(1);
        }
        harness.drop_at(from + by);
        harness.run_steps(2);
    };

    // Grab the green layer by its middle and move it 200 canvas pixels right, 100 down.
    drag(&mut harness, at(260.0, 190.0), egui::vec2(200.0, 100.0) * scale);
    let (x, y, width, height) = layer(&harness);
    assert!((x - 300).abs() <= 2 && (y - 200).abs() <= 2 && (width, height) == (320, 180), "moved: {:?}", layer(&harness));

    // Its corner handle, 160 canvas pixels out: the shape stays 16:9.
    drag(&mut harness, at(x as f32 + 320.0, y as f32 + 180.0), egui::vec2(160.0, 10.0) * scale);
    let (x2, y2, width, height) = layer(&harness);
    assert_eq!((x2, y2), (x, y), "a resize keeps the corner it does not hold");
    assert!((width as i32 - 480).abs() <= 2 && (height as i32 - 270).abs() <= 2, "resized: {:?}", layer(&harness));

    // Pressed on the full-canvas pattern beneath, the pattern moves, not the green layer.
    drag(&mut harness, at(20.0, 20.0), egui::vec2(40.0, 0.0) * scale);
    let pattern = &harness.state().settings.scenes.scenes[0].layers[0];
    assert!(pattern.x > 30 && pattern.width.is_none(), "the layer under the pointer moves, keeping its own size: x {}", pattern.x);
    assert_eq!(layer(&harness).0, x);
}
