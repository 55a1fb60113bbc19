//! Composed scenes, published to `onair serve` and decoded by ffmpeg: every
//! layer is where its scene puts it, the capture stamp reads from the
//! output, and a switch while live shows on the next frames.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{Server, Xvfb, decode_i420, wait_for, yuv_at};
use onair::encode::quality::QualityKnob;
use onair::engine::{AudioChoice, Command as EngineCommand, Engine, EngineConfig, VideoChoice};
use onair::media::stamp;
use onair::publish::shared::PublishState;
use onair::publish::target::PublishTarget;
use onair::scene::{Layer, Scene, SourceSpec, Transition};

const WIDTH: usize = 640;
const HEIGHT: usize = 360;

/// What ffmpeg makes of an RGB colour in I420 (BT.601, limited range): the reference the output is held to.
fn reference_yuv(hex: &str) -> (u8, u8, u8) {
    let output = Command::new("ffmpeg")
        .args(["-v", "error", "-f", "lavfi", "-i", &format!("color=c=0x{hex}:s=16x16"), "-frames:v", "1", "-pix_fmt", "yuv420p", "-f", "rawvideo", "pipe:1"])
        .output()
        .expect("run ffmpeg (packaging/setup.sh installs it)");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    yuv_at(&output.stdout, 16, 16, 8, 8)
}

fn near((y, u, v): (u8, u8, u8), (ry, ru, rv): (u8, u8, u8)) -> bool {
    y.abs_diff(ry) <= 8 && u.abs_diff(ru) <= 8 && v.abs_diff(rv) <= 8
}

fn scene_file(name: &str, toml: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("onair-scene-{}-{name}.toml", std::process::id()));
    std::fs::write(&path, toml).unwrap();
    path
}

/// One test at a time: each runs a publisher, a server and ffmpeg, and the
/// switch test counts frames that a starved compositor would miss.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn server() -> Server {
    Server::start("[ladder]\nenabled = false\n[segments]\nwindow = 100\n[streams]\ngrace_seconds = 1.0\n")
}

/// Every frame of the stream, once it has ended.
fn frames_of(server: &Server, key: &str) -> Vec<Vec<u8>> {
    let playlist = format!("/live/{key}/video/playlist.m3u8");
    wait_for("the stream to end", Duration::from_secs(30), || server.get(&playlist).filter(|text| text.contains("#EXT-X-ENDLIST")));
    decode_i420(&server.url(&playlist), WIDTH, HEIGHT)
}

fn publish(scene: &Path, to: &str, display: Option<&str>, seconds: u32) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_onair"));
    command.args(["publish", "--scene"]).arg(scene).args(["--audio", "none", "--quality", "1", "--to", to, "--duration", &seconds.to_string()]);
    match display {
        Some(display) => command.env("DISPLAY", display),
        None => command.env_remove("DISPLAY"),
    };
    let output = command.stdin(Stdio::null()).output().expect("run onair publish");
    assert!(output.status.success(), "onair publish failed: {}", String::from_utf8_lossy(&output.stderr));
}

fn luma_mean(frame: &[u8], x: usize, y: usize, width: usize, height: usize) -> f64 {
    let sum: u64 = (y..y + height).flat_map(|row| &frame[row * WIDTH + x..row * WIDTH + x + width]).map(|&p| u64::from(p)).sum();
    sum as f64 / (width * height) as f64
}

fn wall_millis() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

/// An X client of the test's own: a 640×360 window titled "onair test card",
/// green on its left half and magenta on its right, redrawn on every expose.
fn show_test_card(display: &str) -> std::thread::JoinHandle<()> {
    use x11rb::connection::Connection;
    use x11rb::protocol::Event;
    use x11rb::protocol::xproto::{ConnectionExt, CreateGCAux, CreateWindowAux, EventMask, PropMode, Rectangle, WindowClass};
    use x11rb::wrapper::ConnectionExt as _;

    let (connection, screen) = x11rb::connect(Some(display)).expect("connect to Xvfb");
    let root = connection.setup().roots[screen].clone();
    let window = connection.generate_id().unwrap();
    let aux = CreateWindowAux::new().background_pixel(root.black_pixel).event_mask(EventMask::EXPOSURE).override_redirect(1);
    connection.create_window(root.root_depth, window, root.root, 0, 0, 640, 360, 0, WindowClass::INPUT_OUTPUT, 0, &aux).unwrap();
    connection
        .change_property8(PropMode::REPLACE, window, x11rb::protocol::xproto::AtomEnum::WM_NAME, x11rb::protocol::xproto::AtomEnum::STRING, b"onair test card")
        .unwrap();
    let green = connection.generate_id().unwrap();
    let magenta = connection.generate_id().unwrap();
    connection.create_gc(green, window, &CreateGCAux::new().foreground(0x00ff00)).unwrap();
    connection.create_gc(magenta, window, &CreateGCAux::new().foreground(0xff00ff)).unwrap();
    connection.map_window(window).unwrap();
    connection.flush().unwrap();
    std::thread::spawn(move || {
        loop {
            let draw = |connection: &x11rb::rust_connection::RustConnection| {
                connection.poly_fill_rectangle(window, green, &[Rectangle { x: 0, y: 0, width: 320, height: 360 }]).unwrap();
                connection.poly_fill_rectangle(window, magenta, &[Rectangle { x: 320, y: 0, width: 320, height: 360 }]).unwrap();
                connection.flush().unwrap();
            };
            match connection.wait_for_event() {
                Ok(Event::Expose(_)) => draw(&connection),
                Ok(_) => {}
                Err(_) => return,
            }
        }
    })
}

#[test]
fn a_screen_a_window_and_the_test_pattern_land_where_the_scene_puts_them() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let xvfb = Xvfb::start("1280x720");
    let _card = show_test_card(&xvfb.display);
    // The whole screen (the card fills its top-left quarter), the card window
    // again on the right, and the test pattern as a picture-in-picture.
    let scene = scene_file(
        "screen",
        r#"
        stamp = true
        [[layers]]
        source = "screen"
        [[layers]]
        source = "window:onair test card"
        x = 340
        y = 20
        width = 280
        height = 158
        [[layers]]
        source = "test"
        x = 400
        y = 220
        width = 220
        height = 124
        "#,
    );
    let server = server();
    let started = wall_millis();
    publish(&scene, &server.rtmp_url("screen"), Some(&xvfb.display), 7);
    let ended = wall_millis();
    let frames = frames_of(&server, "screen");
    assert!(frames.len() >= 150, "{} frames for 7 s at 30 fps", frames.len());
    let (green, magenta, black) = (reference_yuv("00FF00"), reference_yuv("FF00FF"), reference_yuv("000000"));
    let mut flashes = 0;
    let mut stamps = Vec::new();
    for (index, frame) in frames.iter().enumerate() {
        let at = |x, y| yuv_at(frame, WIDTH, HEIGHT, x, y);
        // The screen, scaled by half: the card's halves, then the black root.
        assert!(near(at(80, 120), green) && near(at(240, 120), magenta), "frame {index}: the screen's card is {:?} {:?}", at(80, 120), at(240, 120));
        assert!(near(at(200, 300), black) && near(at(330, 100), black), "frame {index}: the root outside the card is {:?}", at(200, 300));
        // The window layer, its halves 140 pixels wide.
        assert!(near(at(400, 100), green) && near(at(560, 100), magenta), "frame {index}: the window layer is {:?} {:?}", at(400, 100), at(560, 100));
        // The test pattern flashes white once a second, inside its rectangle only.
        if luma_mean(frame, 420, 240, 180, 60) > 200.0 {
            flashes += 1;
            assert!(near(at(400, 100), green), "frame {index}: a flash outside the picture-in-picture");
        }
        stamps.extend(stamp::read(&frame[..WIDTH * HEIGHT], WIDTH, HEIGHT, WIDTH));
    }
    assert!((5..=16).contains(&flashes), "{flashes} flash frames in the picture-in-picture over 7 s");
    // The capture stamp is on every frame, in order, within the publish's run.
    assert_eq!(stamps.len(), frames.len(), "frames without a readable capture stamp");
    assert!(stamps.windows(2).all(|pair| pair[1] > pair[0]), "stamps out of order");
    assert!(stamps[0] >= started && *stamps.last().unwrap() <= ended, "stamps {}..{} outside {started}..{ended}", stamps[0], stamps.last().unwrap());
    let _ = std::fs::remove_file(scene);
}

#[test]
fn text_image_and_colour_layers_render_where_the_scene_says() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    // A 64×64 red logo with a transparent 32×32 hole in its middle.
    let logo = std::env::temp_dir().join(format!("onair-logo-{}.png", std::process::id()));
    let mut image = image::RgbaImage::from_pixel(64, 64, image::Rgba([255, 0, 0, 255]));
    for (x, y, pixel) in image.enumerate_pixels_mut() {
        if (16..48).contains(&x) && (16..48).contains(&y) {
            *pixel = image::Rgba([0, 0, 0, 0]);
        }
    }
    image.save(&logo).unwrap();
    let scene = scene_file(
        "stills",
        &format!(
            r##"
            [[layers]]
            source = "color:#0000FF"
            [[layers]]
            source = "image:{}"
            x = 40
            y = 40
            [[layers]]
            source = "text:ON AIR"
            x = 300
            y = 200
            size = 64
            color = "#FFFF00"
            "##,
            logo.display()
        ),
    );
    let server = server();
    publish(&scene, &server.rtmp_url("stills"), None, 4);
    let frames = frames_of(&server, "stills");
    assert!(frames.len() >= 90, "{} frames", frames.len());
    let (blue, red, yellow) = (reference_yuv("0000FF"), reference_yuv("FF0000"), reference_yuv("FFFF00"));
    for (index, frame) in frames.iter().enumerate() {
        let at = |x, y| yuv_at(frame, WIDTH, HEIGHT, x, y);
        assert!(near(at(20, 20), blue) && near(at(600, 340), blue), "frame {index}: the background is {:?}", at(20, 20));
        assert!(near(at(46, 46), red) && near(at(96, 96), red), "frame {index}: the logo's frame is {:?}", at(46, 46));
        assert!(near(at(72, 72), blue), "frame {index}: the logo's hole shows {:?}, not the blue under it", at(72, 72));
        assert!(near(at(110, 110), blue), "frame {index}: right of the logo is {:?}", at(110, 110));
        // The text: yellow strokes inside its box (64 px glyphs from (300, 200)), none above or left of it.
        let yellow_in = |x0: usize, y0: usize, w: usize, h: usize| {
            (y0..y0 + h).flat_map(|y| (x0..x0 + w).map(move |x| (x, y))).filter(|&(x, y)| near(at(x, y), yellow)).count()
        };
        let inside = yellow_in(300, 200, 300, 70);
        assert!(inside > 400, "frame {index}: {inside} yellow pixels in the text's box");
        assert_eq!(yellow_in(200, 100, 100, 100) + yellow_in(300, 120, 300, 70), 0, "frame {index}: yellow outside the text's box");
    }
    let _ = std::fs::remove_file(scene);
    let _ = std::fs::remove_file(logo);
}

#[test]
fn a_scene_switch_shows_on_the_next_frames_without_a_drop_or_a_reconnect() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let server = server();
    let stamped = |hex: &str| Scene { stamp: Some(true), ..Scene::new(hex, vec![Layer::new(SourceSpec::Color(onair::scene::spec::parse_rgb(hex).unwrap()))]) };
    let (red, blue) = (stamped("#FF0000"), stamped("#0000FF"));
    let target = PublishTarget::parse(&server.rtmp_url("switch")).unwrap();
    let mut config = EngineConfig::new(VideoChoice::Scene(red), AudioChoice::TestTone, target, QualityKnob::new(1, None).unwrap());
    config.keyframe_interval_secs = 1;
    let engine = Engine::start(config).unwrap();
    wait_for("the stream to go live", Duration::from_secs(20), || (engine.status().state == PublishState::Live).then_some(()));
    std::thread::sleep(Duration::from_millis(2500));
    let switched_at = wall_millis();
    engine.send(EngineCommand::ShowScene(blue, Transition::Cut));
    wait_for("the switch to be reported", Duration::from_secs(5), || (engine.status().program.is_some_and(|p| p.scene == "#0000FF")).then_some(()));
    std::thread::sleep(Duration::from_millis(2500));
    let status = engine.shutdown();
    assert_eq!(status.dropped_frames, 0, "frames dropped: {status:?}");
    let frames = frames_of(&server, "switch");
    let (red_yuv, blue_yuv) = (reference_yuv("FF0000"), reference_yuv("0000FF"));
    let frame_ms = 1000 / 30 + 1;
    let mut previous: Option<u64> = None;
    for (index, frame) in frames.iter().enumerate() {
        let stamp = stamp::read(&frame[..WIDTH * HEIGHT], WIDTH, HEIGHT, WIDTH).unwrap_or_else(|| panic!("frame {index} has no stamp"));
        let colour = yuv_at(frame, WIDTH, HEIGHT, 400, 250);
        if stamp < switched_at {
            assert!(near(colour, red_yuv), "frame {index}, {} ms before the switch, is {colour:?}", switched_at - stamp);
        } else if stamp > switched_at + 2 * frame_ms {
            assert!(near(colour, blue_yuv), "frame {index}, {} ms after the switch, is {colour:?}", stamp - switched_at);
        }
        // One frame after another, none missing.
        if let Some(previous) = previous {
            assert!(stamp - previous <= frame_ms + 1, "a gap of {} ms before frame {index}", stamp - previous);
        }
        previous = Some(stamp);
    }
    let log = server.log();
    assert_eq!(log.matches("publishing over RTMP").count(), 1, "the switch reconnected:\n{log}");
}

#[test]
fn layers_whose_sources_cannot_be_read_are_named_and_the_stream_goes_on_without_a_gap() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let server = server();
    let green = SourceSpec::Color(onair::scene::spec::parse_rgb("#00FF00").unwrap());
    // No such image, no such monitor (or no display at all), no camera 99.
    let failing = [SourceSpec::Image("/nonexistent/logo.png".into()), SourceSpec::Screen(Some(7)), SourceSpec::Camera(Some("99".into()))];
    let mut layers = vec![Layer::new(green)];
    layers.extend(failing.iter().cloned().enumerate().map(|(n, spec)| Layer::new(spec).at(40 + 200 * n as i32, 40, 160, 90)));
    let scene = Scene { stamp: Some(true), ..Scene::new("broken", layers) };
    let labels: Vec<String> = scene.layers[1..].iter().map(Layer::label).collect();
    let target = PublishTarget::parse(&server.rtmp_url("broken")).unwrap();
    let engine = Engine::start(EngineConfig::new(VideoChoice::Scene(scene), AudioChoice::TestTone, target, QualityKnob::new(1, None).unwrap())).unwrap();
    wait_for("the stream to go live", Duration::from_secs(20), || (engine.status().state == PublishState::Live).then_some(()));
    let warned = wait_for("a warning for each failing layer", Duration::from_secs(10), || {
        let warnings = engine.status().program.map(|p| p.warnings).unwrap_or_default();
        labels.iter().all(|label| warnings.iter().any(|(layer, why)| layer == label && !why.is_empty())).then_some(warnings)
    });
    std::thread::sleep(Duration::from_secs(2));
    let status = engine.shutdown();
    assert_eq!(status.dropped_frames, 0, "{status:?}");
    assert_eq!(status.state, PublishState::Stopped, "the stream ended as asked, not for the broken layers: {status:?}");
    let frames = frames_of(&server, "broken");
    assert!(frames.len() >= 60, "{} frames for the stream's few seconds", frames.len());
    let frame_ms = 1000 / 30 + 1;
    let stamps: Vec<u64> = frames.iter().map(|f| stamp::read(&f[..WIDTH * HEIGHT], WIDTH, HEIGHT, WIDTH).expect("each frame's stamp")).collect();
    assert!(stamps.windows(2).all(|pair| pair[1] - pair[0] <= frame_ms + 1), "no gap in the stream");
    let last = frames.last().unwrap();
    assert!(near(yuv_at(last, WIDTH, HEIGHT, 400, 250), reference_yuv("00FF00")), "the working layer still shows");
    eprintln!("warnings: {warned:?}");
}
