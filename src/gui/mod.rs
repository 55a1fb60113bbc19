//! The desktop app (eframe/egui): the bundled server starts with it, the
//! engine goes live from it.

pub mod app;
pub mod background;
pub mod command;
pub mod panels;
pub mod renderer;
pub mod scene_store;
pub mod secrets;
pub mod settings;
pub mod source_meter;
pub mod source_preview;
pub mod target_setting;

use std::net::SocketAddr;

use anyhow::Context;

use self::app::{OnAirApp, ServerInfo};
use crate::server::config::ServerConfig;

pub struct GuiOptions {
    /// Use the test pattern and tone whatever was saved (for tests and demos).
    pub test_sources: bool,
    /// Go live as soon as the window opens.
    pub go_live: bool,
    /// And record from the start (with `go_live`).
    pub record: bool,
}

impl GuiOptions {
    pub fn from_env() -> GuiOptions {
        let flag = |name: &str| std::env::var(name).is_ok_and(|v| v == "1");
        GuiOptions { test_sources: flag("ONAIR_TEST_SOURCES"), go_live: flag("ONAIR_GO_LIVE"), record: flag("ONAIR_RECORD") }
    }
}

pub fn run(options: GuiOptions) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().context("cannot start the async runtime")?;
    let server = runtime.block_on(start_bundled_server());
    let server = match server {
        Ok(server) => Some(server),
        Err(error) => {
            tracing::error!("the bundled server could not start: {error}");
            None
        }
    };
    let viewport = eframe::egui::ViewportBuilder::default().with_title("OnAir").with_inner_size([1240.0, 700.0]).with_min_inner_size([960.0, 600.0]);
    let native = eframe::NativeOptions { viewport, ..Default::default() };
    eframe::run_native(
        "OnAir",
        native,
        Box::new(move |cc| {
            let mut settings: settings::Settings = cc.storage.and_then(|storage| eframe::get_value(storage, eframe::APP_KEY)).unwrap_or_default();
            if let Some(legacy) = cc.storage.and_then(|storage| eframe::get_value::<settings::LegacyTarget>(storage, eframe::APP_KEY)) {
                legacy.migrate_into(&mut settings);
            }
            if options.test_sources {
                settings.camera = settings::CameraSetting::TestPattern;
                settings.microphone = settings::MicrophoneSetting::TestTone;
            }
            let scenes = scene_store::SceneStore::default_location();
            if let Some(store) = &scenes {
                settings.scenes = store.load();
            }
            let secrets = secrets::SecretStore::default_location();
            let loaded = secrets.as_ref().map(|store| store.load_into(&mut settings.targets));
            let mut app = OnAirApp::new(settings, server);
            if let Some(store) = scenes {
                app = app.with_scene_store(store);
            }
            match (secrets, loaded) {
                (Some(store), Some(Ok(()))) => app = app.with_secret_store(store),
                // Keys that could not be read are not overwritten with none.
                (_, Some(Err(error))) => {
                    tracing::error!("{error}");
                    app.error = Some(error.to_string());
                }
                _ => tracing::warn!("no home folder: stream keys are not saved"),
            }
            if options.go_live {
                app.go_live();
                if options.record {
                    app.apply(command::AppCommand::Record(true));
                }
            }
            Ok(Box::new(app))
        }),
    )
    .map_err(|e| anyhow::anyhow!("the window could not open: {e}"))?;
    drop(runtime);
    Ok(())
}

/// Where a listener goes when its default port is busy: always the same
/// one, so a bookmark or an OBS profile made then keeps working.
const FALLBACK_OFFSET: u16 = 1;

/// The default address, or its one fixed fallback when the default is
/// taken; what was done, for the notice; an error naming both when both are.
fn pick_port(name: &str, default: SocketAddr, is_free: impl Fn(SocketAddr) -> bool) -> Result<(SocketAddr, Option<String>), String> {
    if is_free(default) {
        return Ok((default, None));
    }
    let fallback = SocketAddr::new(default.ip(), default.port().wrapping_add(FALLBACK_OFFSET));
    if is_free(fallback) {
        return Ok((
            fallback,
            Some(format!(
                "{name} port {} is taken by another program, so {name} is on {} (it will be there whenever {} is taken)",
                default.port(),
                fallback.port(),
                default.port()
            )),
        ));
    }
    Err(format!("{name} ports {} and {} are both taken by other programs: close the other server, then restart OnAir", default.port(), fallback.port()))
}

/// Starts the server on its default ports, or each one's fixed fallback, and says so.
pub async fn start_bundled_server() -> anyhow::Result<ServerInfo> {
    let mut config = ServerConfig::default();
    let mut moved = Vec::new();
    let tcp_free = |addr: SocketAddr| std::net::TcpListener::bind(addr).is_ok();
    let udp_free = |addr: SocketAddr| std::net::UdpSocket::bind(addr).is_ok();
    for (name, addr, udp) in [
        ("RTMP", &mut config.rtmp.listen, false),
        ("SRT", &mut config.srt.listen, true),
        ("HTTP", &mut config.http.listen, false),
        ("WebRTC", &mut config.webrtc.listen, true),
    ] {
        let (chosen, notice) = pick_port(name, *addr, |a| if udp { udp_free(a) } else { tcp_free(a) }).map_err(|message| anyhow::anyhow!(message))?;
        *addr = chosen;
        moved.extend(notice);
    }
    let app = config.rtmp.app.clone();
    let server = crate::server::start(config).await?;
    let notice = (!moved.is_empty()).then(|| moved.join("; "));
    let info = ServerInfo {
        rtmp: format!("rtmp://{}/{app}", server.rtmp_addr),
        srt: format!("srt://{}", server.srt_addr),
        http: format!("http://{}", server.http_addr),
        notice,
        control: crate::server::control::ServerControl::attach(server.hub.clone()).ok(),
    };
    tracing::info!("bundled server: {} {} {}", info.rtmp, info.srt, info.http);
    // Its tasks keep running for the app's life: RTMP ingest on its media thread, the rest on the runtime's workers.
    drop(server);
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_default_moves_to_one_fixed_fallback_and_no_further() {
        let default: SocketAddr = "127.0.0.1:1935".parse().unwrap();
        assert_eq!(pick_port("RTMP", default, |_| true), Ok((default, None)));
        let (moved, notice) = pick_port("RTMP", default, |a| a.port() != 1935).unwrap();
        assert_eq!(moved.port(), 1936);
        assert!(notice.unwrap().contains("RTMP port 1935 is taken"));
        let both = pick_port("RTMP", default, |a| a.port() > 1936).unwrap_err();
        assert!(both.contains("1935 and 1936"), "{both}");
    }
}
