//! The OnAir window: sources, target, the quality knob, Go Live, live stats.
//!
//! The UI never touches a codec, a socket or a device: each panel returns
//! [`AppCommand`]s, the app turns them into `Command`s to the engine and
//! `ServerCommand`s to the bundled server, reads the engine's Status
//! snapshot, and repaints on a timer while live.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use eframe::egui;

use super::command::AppCommand;
use super::panels::AppView;
use super::panels::knob::KnobPanel;
use super::panels::live::{LivePanel, toggle};
use super::panels::preview::{OutputView, PreviewPanel};
use super::panels::server_bar::ServerBar;
use super::panels::sources::SourcesPanel;
use super::panels::stats::StatsPanel;
use super::panels::target::TargetPanel;
use super::settings::{Settings, TargetField, TargetKind, TargetProblem};
use crate::encode::quality::QualityKnob;
use crate::engine::status::Status;
use crate::engine::{Command, Engine, EngineConfig};
use crate::publish::target::{FileTarget, PublishTarget};
use crate::server::control::{ServerCommand, ServerControl};

/// The bundled server as the app sees it.
#[derive(Clone)]
pub struct ServerInfo {
    pub rtmp: String,
    pub srt: String,
    pub http: String,
    /// Said when a default port was busy and another one was taken.
    pub notice: Option<String>,
    /// Commands to the bundled server, when it runs in this process.
    pub control: Option<ServerControl>,
}

/// The panels, each with its own state and `ui()`.
struct Panels {
    server_bar: ServerBar,
    sources: SourcesPanel,
    target: TargetPanel,
    knob: KnobPanel,
    live: LivePanel,
    preview: PreviewPanel,
    stats: StatsPanel,
}

pub struct OnAirApp {
    pub settings: Settings,
    pub server: Option<ServerInfo>,
    engine: Option<Engine>,
    pub status: Status,
    /// Why the last Go Live could not start.
    pub error: Option<String>,
    /// The target field that keeps Go Live from starting, shown next to it.
    pub field_error: Option<(TargetField, TargetProblem)>,
    panels: Panels,
    /// Captures the selected source while not live.
    source_preview: Option<super::source_preview::SourcePreview>,
    /// Reads the selected microphone while not live: the meter is a sound check.
    source_meter: Option<super::source_meter::SourceMeter>,
    /// The preview's sound is off (it starts on).
    pub preview_muted: bool,
    /// The in-app player of the local server's HLS output, while live to it.
    player: Option<crate::player::HlsPreview>,
    /// Media playlists of the master playlist, and the one being previewed.
    pub renditions: Vec<String>,
    pub rendition: String,
    /// How long building each frame took, for the UI frame-time log.
    frame_times: VecDeque<Duration>,
    frame_times_logged: Instant,
    /// The recording started during this stream: its place among the targets, and its file.
    pub recording: Option<(usize, std::path::PathBuf)>,
}

impl OnAirApp {
    pub fn new(settings: Settings, server: Option<ServerInfo>) -> OnAirApp {
        let app = OnAirApp {
            settings,
            server,
            engine: None,
            status: Status::idle(),
            error: None,
            field_error: None,
            source_meter: None,
            preview_muted: false,
            panels: Panels {
                server_bar: ServerBar,
                sources: SourcesPanel::discover(),
                target: TargetPanel,
                knob: KnobPanel::default(),
                live: LivePanel,
                preview: PreviewPanel::default(),
                stats: StatsPanel::default(),
            },
            source_preview: None,
            player: None,
            renditions: Vec::new(),
            rendition: "video/playlist.m3u8".into(),
            frame_times: VecDeque::new(),
            frame_times_logged: Instant::now(),
            recording: None,
        };
        app.tell_server(ServerCommand::SetLadder(app.settings.ladder));
        app
    }

    /// Carries out what a panel (or a shortcut, or a test) asked for.
    pub fn apply(&mut self, command: AppCommand) {
        match command {
            AppCommand::GoLive => self.go_live(),
            AppCommand::EndStream => self.end_stream(),
            AppCommand::SetQuality(position) => self.set_knob(position),
            AppCommand::SetLadder(on) => {
                self.settings.ladder = on;
                self.tell_server(ServerCommand::SetLadder(on));
            }
            AppCommand::PreviewRendition(rendition) => {
                self.rendition = rendition;
                self.start_player();
            }
            AppCommand::Record(on) => self.record(on),
            AppCommand::MutePreview(muted) => {
                self.preview_muted = muted;
                if let Some(player) = &self.player {
                    player.set_muted(muted);
                }
            }
        }
    }

    fn tell_server(&self, command: ServerCommand) {
        if let Some(control) = self.server.as_ref().and_then(|s| s.control.as_ref()) {
            control.send(command);
        }
    }

    /// The player's state, for tests and the stats panel.
    pub fn player_status(&self) -> Option<crate::player::PlayerStatus> {
        self.player.as_ref().map(|p| p.status())
    }

    fn local_stream_base(&self) -> Option<String> {
        let local = matches!(self.settings.target, TargetKind::LocalRtmp | TargetKind::LocalSrt);
        self.server.as_ref().filter(|_| local).map(|server| format!("{}/live/{}", server.http, self.settings.local_key))
    }

    fn start_player(&mut self) {
        self.player = None;
        if let Some(base) = self.local_stream_base() {
            let player = crate::player::HlsPreview::start(format!("{base}/{}", self.rendition));
            player.set_muted(self.preview_muted);
            self.player = Some(player);
        }
    }

    pub fn is_live(&self) -> bool {
        self.engine.is_some() && !self.status.state.is_over()
    }

    fn target_url(&self) -> Result<String, String> {
        let s = &self.settings;
        let server = self.server.as_ref();
        match s.target {
            TargetKind::LocalRtmp => server.map(|srv| format!("{}/{}", srv.rtmp, s.local_key)).ok_or_else(|| "the bundled server is not running".to_string()),
            TargetKind::LocalSrt => {
                server.map(|srv| format!("{}?streamid=publish:live/{}", srv.srt, s.local_key)).ok_or_else(|| "the bundled server is not running".to_string())
            }
            TargetKind::CustomRtmp => Ok(format!("{}/{}", s.custom_rtmp_url.trim_end_matches('/'), s.custom_rtmp_key)),
            TargetKind::CustomSrt => {
                let mut url = format!("{}?streamid={}", s.custom_srt_url, s.custom_srt_stream_id);
                if !s.custom_srt_passphrase.is_empty() {
                    url.push_str(&format!("&passphrase={}", s.custom_srt_passphrase));
                }
                Ok(url)
            }
        }
    }

    pub fn go_live(&mut self) {
        self.error = None;
        // A new attempt: the last stream's state and numbers are over.
        self.status = Status::idle();
        self.recording = None;
        self.field_error = self.settings.target_problem();
        if self.field_error.is_some() {
            return;
        }
        self.tell_server(ServerCommand::SetLadder(self.settings.ladder));
        // The engine opens the devices itself.
        self.source_preview = None;
        self.source_meter = None;
        let result = (|| -> Result<Engine, String> {
            let target = PublishTarget::parse(&self.target_url()?).map_err(|e| e.to_string())?;
            let (video, audio) = (self.settings.camera.choice(), self.settings.microphone.choice());
            let knob = QualityKnob::new(self.settings.knob, None).map_err(|e| e.to_string())?;
            Engine::start(EngineConfig::new(video, audio, target, knob)).map_err(|e| e.to_string())
        })();
        match result {
            Ok(engine) => {
                tracing::info!("going live");
                self.panels.stats.clear();
                self.engine = Some(engine);
                self.renditions.clear();
                self.start_player();
            }
            Err(error) => self.error = Some(error),
        }
    }

    /// Asks the engine to stop; its threads wind down on their own and
    /// `refresh` collects them once the status says Stopped.
    /// Starts recording what is sent (the same encode, a target of its own), or stops it.
    fn record(&mut self, on: bool) {
        let Some(engine) = &self.engine else { return };
        let running = self.recording.as_ref().is_some_and(|(index, _)| self.status.targets.get(*index).is_none_or(|t| !t.state.is_over()));
        match (on, &self.recording) {
            (true, _) if !running => {
                let target = FileTarget::named_by_time(self.settings.recording_folder.as_deref());
                // Targets are numbered in the order started, ended ones included; the stream's own comes first.
                let index = self.status.targets.len().max(1);
                tracing::info!("recording to {}", target.path.display());
                self.recording = Some((index, target.path.clone()));
                engine.send(Command::StartTarget(PublishTarget::File(target)));
            }
            (false, Some((index, _))) if running => engine.send(Command::StopTarget(*index)),
            _ => {}
        }
    }

    pub fn end_stream(&mut self) {
        self.player = None;
        if let Some(engine) = &self.engine {
            engine.send(Command::Stop);
        }
    }

    fn collect_stopped_engine(&mut self) {
        if let Some(engine) = self.engine.take() {
            // Every thread has finished by now: joining does not block the UI.
            self.status = engine.shutdown();
            tracing::info!("stream ended: {}", self.status.state);
        }
    }

    fn set_knob(&mut self, position: u8) {
        // A position outside the presets is refused by the knob itself.
        if QualityKnob::new(position, None).is_err() {
            return;
        }
        self.settings.knob = position;
        if let (Some(engine), Ok(knob)) = (&self.engine, QualityKnob::new(position, None)) {
            engine.send(Command::SetQuality(knob));
        }
    }

    /// Keeps the idle preview on the selected source.
    fn refresh_idle_preview(&mut self, ctx: &egui::Context) {
        if self.source_preview.as_ref().is_none_or(|p| p.camera != self.settings.camera) {
            let (width, height) = QualityKnob::new(self.settings.knob, None).map_or((1280, 720), |k| k.size());
            self.source_preview = Some(super::source_preview::SourcePreview::start(self.settings.camera.clone(), width, height, 30));
        }
        if let Some(preview) = self.source_preview.as_ref().and_then(|p| p.latest()) {
            self.panels.preview.show_source(ctx, &preview);
        }
        if self.source_meter.as_ref().is_none_or(|m| m.microphone != self.settings.microphone) {
            self.source_meter = Some(super::source_meter::SourceMeter::start(self.settings.microphone.clone()));
        }
        if let Some(meter) = &self.source_meter {
            self.status.audio_level = meter.level();
        }
        self.status.cpu_percent = crate::engine::cpu::process_cpu_percent();
        // What Go Live would aim for, before it is pressed.
        if let Ok(knob) = QualityKnob::new(self.settings.knob, None) {
            (self.status.width, self.status.height) = knob.size();
            self.status.target_kbps = knob.video_kbps();
        }
    }

    /// Pulls the engine's newest status and preview.
    pub fn refresh(&mut self, ctx: &egui::Context) {
        let Some(engine) = &self.engine else {
            self.refresh_idle_preview(ctx);
            return;
        };
        let status = engine.status();
        if status.state != self.status.state {
            tracing::info!("state: {}", status.state);
        }
        self.status = status;
        self.panels.stats.record(&self.status);
        if let Some(preview) = engine.preview() {
            self.panels.preview.show_source(ctx, &preview);
        }
        if let Some(player) = &self.player {
            let status = player.status();
            if let Some(frame) = player.frame() {
                self.panels.preview.show_output(ctx, &frame, status.frames_decoded);
            }
            if !status.renditions.is_empty() {
                self.renditions = status.renditions;
            }
        }
        if self.status.state.is_over() {
            self.player = None;
            self.collect_stopped_engine();
        }
    }

    pub fn show(&mut self, ui: &mut egui::Ui) {
        let ctx = ui.ctx().clone();
        self.refresh(&ctx);
        let mut commands = Vec::new();
        if ctx.input(|i| i.key_pressed(egui::Key::F5) || (i.modifiers.command && i.key_pressed(egui::Key::Enter))) {
            commands.push(toggle(self.is_live()));
        }
        if self.field_error.is_some() {
            // The message follows the fields: it goes once they are fixed.
            self.field_error = self.settings.target_problem();
        }
        let meter_error = self.source_meter.as_ref().and_then(|meter| meter.error());
        let view = AppView {
            status: &self.status,
            live: self.is_live(),
            server: self.server.as_ref(),
            error: self.error.as_deref(),
            field_error: self.field_error,
            meter_error: meter_error.as_deref(),
            recording: self.recording.as_ref().map(|(index, path)| (*index, path.as_path())),
        };
        let (panels, settings) = (&mut self.panels, &mut self.settings);
        egui::Panel::top("server").show(ui, |ui| panels.server_bar.ui(ui, &view, settings, &mut commands));
        egui::Panel::left("controls").resizable(false).exact_size(360.0).show(ui, |ui| {
            egui::ScrollArea::vertical().show(ui, |ui| {
                panels.sources.ui(ui, &view, settings);
                ui.separator();
                panels.target.ui(ui, &view, settings);
                ui.separator();
                panels.knob.ui(ui, settings, &mut commands);
                ui.separator();
                panels.live.ui(ui, &view, &mut commands);
            });
        });
        let output = OutputView {
            player: self.player.as_ref().map(|p| p.status()),
            renditions: &self.renditions,
            rendition: &self.rendition,
            source_error: self.source_preview.as_ref().and_then(|p| p.error()),
            muted: self.preview_muted,
            page: self.server.as_ref().map(|server| format!("{}/live/{}/", server.http, settings.local_key)),
        };
        egui::CentralPanel::default().show(ui, |ui| {
            panels.preview.ui(ui, &view, output, &mut commands);
            ui.separator();
            panels.stats.ui(ui, view.status);
        });
        for command in commands {
            self.apply(command);
        }
        // The previews run at the capture rate.
        ctx.request_repaint_after(Duration::from_millis(33));
    }
}

impl OnAirApp {
    /// Logs UI frame build times (p50, p99) every ten seconds.
    fn record_frame_time(&mut self, took: Duration) {
        if self.frame_times.len() == 2000 {
            self.frame_times.pop_front();
        }
        self.frame_times.push_back(took);
        if self.frame_times_logged.elapsed() >= Duration::from_secs(10) {
            self.frame_times_logged = Instant::now();
            let mut sorted: Vec<Duration> = self.frame_times.iter().copied().collect();
            sorted.sort_unstable();
            let at = |p: f64| sorted[((sorted.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1000.0;
            tracing::info!("ui frame time p50 {:.2} ms p99 {:.2} ms over {} frames", at(0.5), at(0.99), sorted.len());
        }
    }
}

impl eframe::App for OnAirApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        let started = Instant::now();
        self.show(ui);
        self.record_frame_time(started.elapsed());
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, eframe::APP_KEY, &self.settings);
    }

    fn on_exit(&mut self, _gl: Option<&eframe::glow::Context>) {
        self.player = None;
        if let Some(engine) = self.engine.take() {
            engine.shutdown();
        }
    }
}
