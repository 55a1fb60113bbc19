//! The desktop app (eframe/egui): the bundled server starts with it, the
//! engine goes live from it.

pub mod app;
pub mod command;
pub mod panels;
pub mod settings;
pub mod source_preview;

use std::net::SocketAddr;

use anyhow::Context;

use self::app::{OnAirApp, ServerInfo};
use crate::server::config::ServerConfig;

pub struct GuiOptions {
    /// Use the test pattern and tone whatever was saved (for tests and demos).
    pub test_sources: bool,
    /// Go live as soon as the window opens.
    pub go_live: bool,
}

impl GuiOptions {
    pub fn from_env() -> GuiOptions {
        let flag = |name: &str| std::env::var(name).is_ok_and(|v| v == "1");
        GuiOptions { test_sources: flag("ONAIR_TEST_SOURCES"), go_live: flag("ONAIR_GO_LIVE") }
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
            if options.test_sources {
                settings.camera = settings::CameraSetting::TestPattern;
                settings.microphone = settings::MicrophoneSetting::TestTone;
            }
            let mut app = OnAirApp::new(settings, server);
            if options.go_live {
                app.go_live();
            }
            Ok(Box::new(app))
        }),
    )
    .map_err(|e| anyhow::anyhow!("the window could not open: {e}"))?;
    drop(runtime);
    Ok(())
}

/// Starts the server on its default ports; a busy port is swapped for a free one, and said so.
pub async fn start_bundled_server() -> anyhow::Result<ServerInfo> {
    let mut config = ServerConfig::default();
    let mut moved = Vec::new();
    for (name, addr) in [("RTMP", &mut config.rtmp.listen), ("SRT", &mut config.srt.listen), ("HTTP", &mut config.http.listen)] {
        let busy = match name {
            "SRT" => std::net::UdpSocket::bind(*addr).is_err(),
            _ => std::net::TcpListener::bind(*addr).is_err(),
        };
        if busy {
            moved.push(format!("{name} port {} was busy", addr.port()));
            *addr = SocketAddr::new(addr.ip(), 0);
        }
    }
    let app = config.rtmp.app.clone();
    let server = crate::server::start(config).await?;
    let notice = (!moved.is_empty()).then(|| format!("{}; free ports were taken instead", moved.join(", ")));
    let info = ServerInfo {
        rtmp: format!("rtmp://{}/{app}", server.rtmp_addr),
        srt: format!("srt://{}", server.srt_addr),
        http: format!("http://{}", server.http_addr),
        notice,
        control: crate::server::control::ServerControl::attach(server.hub.clone()).ok(),
    };
    tracing::info!("bundled server: {} {} {}", info.rtmp, info.srt, info.http);
    // Its tasks keep running on the runtime's workers for the app's life.
    drop(server);
    Ok(info)
}
