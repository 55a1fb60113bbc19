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
use super::panels::mixer::MixerPanel;
use super::panels::preview::{OutputView, PreviewPanel};
use super::panels::scenes::ScenesPanel;
use super::panels::server_bar::ServerBar;
use super::panels::sources::SourcesPanel;
use super::panels::stats::StatsPanel;
use super::panels::target::TargetPanel;
use super::renderer::Renderer;
use super::scene_store::SceneStore;
use super::secrets::SecretStore;
use super::settings::Settings;
use super::source_preview::{PreviewOf, SourcePreview};
use super::target_setting::{LocalServer, TargetField, TargetId, TargetProblem, TargetSetting, first_problem};
use crate::encode::quality::QualityKnob;
use crate::engine::status::Status;
use crate::engine::{Command, Engine, EngineConfig, VideoChoice};
use crate::mixer::{InputSettings, InputSpec};
use crate::publish::target::{FileTarget, PublishTarget};
use crate::scene::{Layer, Scene, Transition};
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
    scenes: ScenesPanel,
    mixer: MixerPanel,
}

pub struct OnAirApp {
    pub settings: Settings,
    pub server: Option<ServerInfo>,
    engine: Option<Engine>,
    pub status: Status,
    /// Why the last Go Live could not start.
    pub error: Option<String>,
    /// The target field that keeps Go Live (or one target) from starting, shown next to it.
    pub field_error: Option<(TargetId, TargetField, TargetProblem)>,
    panels: Panels,
    /// Captures the selected source while not live.
    source_preview: Option<SourcePreview>,
    /// Runs the mixer on its inputs while not live: its meters are a sound check.
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
    /// Known from the first frame a window draws.
    renderer: Option<Renderer>,
    /// What each of the engine's targets is, in the order started (the
    /// engine numbers its targets so, ended ones included).
    pub started: Vec<Started>,
    /// Where the targets' keys are saved, apart from the plain settings.
    secrets: Option<SecretStore>,
    /// Where the scenes are saved; None in tests and without a home folder.
    scene_store: Option<SceneStore>,
}

/// One of the engine's targets, as the app knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Started {
    Target(TargetId),
    Recording(std::path::PathBuf),
}

/// Where target `id` was last started among the engine's targets.
pub fn newest_start(started: &[Started], id: TargetId) -> Option<usize> {
    started.iter().rposition(|s| *s == Started::Target(id))
}

/// The recording started last: its place among the engine's targets, and its file.
pub fn newest_recording(started: &[Started]) -> Option<(usize, &std::path::Path)> {
    started.iter().enumerate().rev().find_map(|(index, s)| match s {
        Started::Recording(path) => Some((index, path.as_path())),
        Started::Target(_) => None,
    })
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
                target: TargetPanel::default(),
                knob: KnobPanel::default(),
                live: LivePanel,
                preview: PreviewPanel::default(),
                stats: StatsPanel::default(),
                scenes: ScenesPanel::default(),
                mixer: MixerPanel,
            },
            source_preview: None,
            player: None,
            renditions: Vec::new(),
            rendition: "video/playlist.m3u8".into(),
            frame_times: VecDeque::new(),
            frame_times_logged: Instant::now(),
            renderer: None,
            started: Vec::new(),
            secrets: None,
            scene_store: None,
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
            AppCommand::SwitchTarget(id, on) => self.switch_target(id, on),
            AppCommand::RetryTarget(id) => self.start_target(id),
            AppCommand::AddTarget(kind) => {
                self.settings.add_target(kind);
            }
            AppCommand::RemoveTarget(id) => {
                if self.running_index(id).is_none() {
                    self.settings.targets.retain(|t| t.id != id);
                }
            }
            AppCommand::UseScenes(_)
            | AppCommand::ShowScene(_)
            | AppCommand::AddScene
            | AppCommand::RemoveScene(_)
            | AppCommand::SceneFade(_)
            | AppCommand::AddLayer(_)
            | AppCommand::RemoveLayer(_)
            | AppCommand::MoveLayer { .. }
            | AppCommand::ShowLayer(..)
            | AppCommand::PlaceLayer { .. } => self.edit_scenes(command),
            AppCommand::SetInput(index, settings) => {
                if let Some(slot) = self.settings.input_settings_mut(index) {
                    *slot = settings.clone();
                }
                match (&self.engine, &self.source_meter) {
                    (Some(engine), _) => engine.send(Command::SetInput(index, settings)),
                    (None, Some(meter)) => meter.set(index, settings),
                    (None, None) => {}
                }
            }
            // The sound check follows the list on the next frame; a stream keeps the inputs it started with.
            AppCommand::AddInput(source) if !self.is_live() => {
                self.settings.extra_inputs.push(InputSpec { source, settings: InputSettings::default() });
            }
            AppCommand::RemoveInput(index) if !self.is_live() => self.settings.remove_input(index),
            AppCommand::AddInput(_) | AppCommand::RemoveInput(_) => {}
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

    /// Keys are saved to (and were read from) `store`, not with the settings.
    pub fn with_scene_store(mut self, store: SceneStore) -> OnAirApp {
        self.scene_store = Some(store);
        self
    }

    /// Changes the scenes; while live, what is on air follows at once (a
    /// switch with the chosen transition, an edit as a cut).
    fn edit_scenes(&mut self, command: AppCommand) {
        let canvas = self.canvas_size();
        let scenes = &mut self.settings.scenes;
        let current = scenes.current.min(scenes.scenes.len().saturating_sub(1));
        let mut transition = Transition::Cut;
        match command {
            AppCommand::UseScenes(on) => self.settings.use_scenes = on,
            AppCommand::ShowScene(index) if index < scenes.scenes.len() => {
                scenes.current = index;
                if self.settings.scene_fade {
                    transition = Transition::FADE;
                }
            }
            AppCommand::AddScene => {
                let name = (1..).map(|n| format!("Scene {n}")).find(|name| scenes.scenes.iter().all(|s| &s.name != name)).unwrap_or_default();
                scenes.scenes.push(Scene::new(&name, Vec::new()));
                scenes.current = scenes.scenes.len() - 1;
            }
            AppCommand::RemoveScene(index) if scenes.scenes.len() > 1 && index < scenes.scenes.len() => {
                scenes.scenes.remove(index);
                scenes.current = current.min(scenes.scenes.len() - 1);
            }
            AppCommand::SceneFade(on) => self.settings.scene_fade = on,
            AppCommand::AddLayer(spec) => {
                if let Some(scene) = scenes.scenes.get_mut(current) {
                    // A new layer sits in the lower right quarter, as a picture-in-picture, until moved.
                    let (w, h) = (canvas.0 as u32, canvas.1 as u32);
                    let layer = match spec {
                        crate::scene::SourceSpec::Text(_) | crate::scene::SourceSpec::Image(_) => {
                            Layer { x: (w / 20) as i32, y: (h / 20) as i32, ..Layer::new(spec) }
                        }
                        _ if scene.layers.is_empty() => Layer::new(spec),
                        _ => Layer::new(spec).at((w / 2 + w / 20) as i32, (h / 2 + h / 20) as i32, w * 2 / 5, h * 2 / 5),
                    };
                    scene.layers.push(layer);
                }
            }
            AppCommand::RemoveLayer(index) => {
                if let Some(scene) = scenes.scenes.get_mut(current).filter(|s| index < s.layers.len()) {
                    scene.layers.remove(index);
                }
            }
            AppCommand::MoveLayer { index, up } => {
                if let Some(scene) = scenes.scenes.get_mut(current) {
                    let other = if up { index + 1 } else { index.wrapping_sub(1) };
                    if index < scene.layers.len() && other < scene.layers.len() {
                        scene.layers.swap(index, other);
                    }
                }
            }
            AppCommand::ShowLayer(index, visible) => {
                if let Some(layer) = scenes.scenes.get_mut(current).and_then(|s| s.layers.get_mut(index)) {
                    layer.visible = visible;
                }
            }
            AppCommand::PlaceLayer { index, x, y, size } => {
                if let Some(layer) = scenes.scenes.get_mut(current).and_then(|s| s.layers.get_mut(index)) {
                    (layer.x, layer.y) = (x, y);
                    (layer.width, layer.height) = (size.map(|s| s.0.max(2)), size.map(|s| s.1.max(2)));
                }
            }
            _ => return,
        }
        if let (Some(engine), Some(scene)) = (&self.engine, self.settings.scene_on_air()) {
            engine.send(Command::ShowScene(scene.clone(), transition));
        }
    }

    pub fn with_secret_store(mut self, store: SecretStore) -> OnAirApp {
        self.secrets = Some(store);
        self
    }

    /// The recording's file, once one was started in this stream.
    pub fn recording_path(&self) -> Option<&std::path::Path> {
        newest_recording(&self.started).map(|(_, path)| path)
    }

    /// Whether the engine's target `index` has not ended (or not yet reported).
    fn still_running(&self, index: usize) -> bool {
        self.engine.is_some() && self.status.targets.get(index).is_none_or(|t| !t.state.is_over())
    }

    /// The local server's page for this stream, while a target sends to it.
    fn local_stream_base(&self) -> Option<String> {
        let local = self.started.iter().enumerate().any(|(index, s)| match s {
            Started::Target(id) => self.settings.target(*id).is_some_and(|t| t.kind.is_local()) && self.still_running(index),
            Started::Recording(_) => false,
        });
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

    /// What the engine is given for one of the streamer's targets.
    fn publish_target(&self, target: &TargetSetting) -> Result<PublishTarget, String> {
        let local = self.server.as_ref().map(|server| LocalServer { rtmp: &server.rtmp, srt: &server.srt, http: &server.http });
        let url = target
            .publish_url(local, &self.settings.local_key)
            .ok_or_else(|| format!("{}: the bundled server is not running; publish to a custom target", target.name))?;
        PublishTarget::parse(&url).map_err(|e| format!("{}: {e}", target.name))
    }

    /// Where target `id` is among the engine's targets, while it runs.
    fn running_index(&self, id: TargetId) -> Option<usize> {
        newest_start(&self.started, id).filter(|&index| self.still_running(index))
    }

    fn switch_target(&mut self, id: TargetId, on: bool) {
        let Some(target) = self.settings.target_mut(id) else { return };
        target.enabled = on;
        if !self.is_live() {
            self.field_error = None;
            return;
        }
        if on {
            self.start_target(id);
        } else if let (Some(index), Some(engine)) = (self.running_index(id), &self.engine) {
            tracing::info!("stopping target {}", self.settings.target(id).map_or("?", |t| t.name.as_str()));
            engine.send(Command::StopTarget(index));
        }
    }

    /// Starts one more target from the running encode; one that cannot work
    /// is switched back off with its reason next to the field.
    fn start_target(&mut self, id: TargetId) {
        let Some(target) = self.settings.target(id).cloned() else { return };
        if self.engine.is_none() || self.running_index(id).is_some() {
            return;
        }
        let local_running = self.settings.targets.iter().any(|t| t.id != id && t.kind.is_local() && self.running_index(t.id).is_some());
        let problem = target
            .problem(&self.settings.local_key)
            .or_else(|| (target.kind.is_local() && local_running).then_some((TargetField::Enabled, TargetProblem::LocalTwice)));
        if let Some((field, problem)) = problem {
            self.field_error = Some((id, field, problem));
            if let Some(target) = self.settings.target_mut(id) {
                target.enabled = false;
            }
            return;
        }
        match self.publish_target(&target) {
            Ok(publish) => {
                tracing::info!("starting target {}: {}", target.name, publish.display());
                self.field_error = None;
                self.started.push(Started::Target(id));
                if let Some(engine) = &self.engine {
                    engine.send(Command::StartTarget(publish));
                }
                if target.kind.is_local() && self.player.is_none() {
                    self.start_player();
                }
            }
            Err(error) => self.error = Some(error),
        }
    }

    pub fn go_live(&mut self) {
        self.error = None;
        // A new attempt: the last stream's state and numbers are over.
        self.status = Status::idle();
        self.started.clear();
        let enabled: Vec<TargetSetting> = self.settings.targets.iter().filter(|t| t.enabled).cloned().collect();
        if enabled.is_empty() {
            self.error = Some("Every target is off: switch one on (or add one) to go live".into());
            return;
        }
        self.field_error = first_problem(&self.settings.targets, &self.settings.local_key);
        if self.field_error.is_some() {
            return;
        }
        self.tell_server(ServerCommand::SetLadder(self.settings.ladder));
        // The engine opens the devices itself.
        self.source_preview = None;
        self.source_meter = None;
        let result = (|| -> Result<Engine, String> {
            let targets = enabled.iter().map(|target| self.publish_target(target)).collect::<Result<Vec<_>, _>>()?;
            let video = match self.settings.scene_on_air() {
                Some(scene) => VideoChoice::Scene(scene.clone()),
                None => self.settings.camera.choice(),
            };
            let audio = self.settings.audio_choice();
            let knob = QualityKnob::new(self.settings.knob, None).map_err(|e| e.to_string())?;
            for (setting, target) in enabled.iter().zip(&targets) {
                tracing::info!("target {}: {}", setting.name, target.display());
            }
            Engine::start(EngineConfig::to_all(video, audio, targets, knob)).map_err(|e| e.to_string())
        })();
        match result {
            Ok(engine) => {
                tracing::info!("going live");
                self.panels.stats.clear();
                self.engine = Some(engine);
                self.started = enabled.iter().map(|t| Started::Target(t.id)).collect();
                self.renditions.clear();
                self.start_player();
            }
            Err(error) => self.error = Some(error),
        }
    }

    /// Starts recording what is sent (the same encode, a target of its own), or stops it.
    fn record(&mut self, on: bool) {
        let running = newest_recording(&self.started).map(|(index, _)| index).filter(|&index| self.still_running(index));
        let Some(engine) = &self.engine else { return };
        match (on, running) {
            (true, None) => {
                let target = FileTarget::named_by_time(self.settings.recording_folder.as_deref());
                tracing::info!("recording to {}", target.path.display());
                self.started.push(Started::Recording(target.path.clone()));
                engine.send(Command::StartTarget(PublishTarget::File(target)));
            }
            (false, Some(index)) => engine.send(Command::StopTarget(index)),
            _ => {}
        }
    }

    /// Asks the engine to stop; its threads wind down on their own and
    /// `refresh` collects them once the status says Stopped.
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

    /// The picture's size at the knob's position: the canvas scenes are laid out on.
    fn canvas_size(&self) -> (usize, usize) {
        QualityKnob::new(self.settings.knob, None).map_or((1280, 720), |k| k.size())
    }

    /// Keeps the idle preview on the selected source.
    fn refresh_idle_preview(&mut self, ctx: &egui::Context) {
        let scene = self.settings.scene_on_air();
        let of = if scene.is_some() { PreviewOf::Program } else { PreviewOf::Camera(self.settings.camera.clone()) };
        let (width, height) = self.canvas_size();
        if self.source_preview.as_ref().is_none_or(|p| p.of != of || p.size != (width, height)) {
            self.source_preview = Some(match scene {
                Some(scene) => SourcePreview::program(scene, width, height, 30),
                None => SourcePreview::camera(self.settings.camera.clone(), width, height, 30),
            });
        }
        if let (Some(preview), Some(scene)) = (&mut self.source_preview, scene) {
            preview.show_scene(scene);
        }
        if let Some(preview) = self.source_preview.as_ref().and_then(|p| p.latest()) {
            self.panels.preview.show_source(ctx, &preview);
        }
        let inputs = self.settings.mix_inputs();
        if self.source_meter.as_ref().is_none_or(|m| !m.sources.iter().eq(inputs.iter().map(|i| &i.source))) {
            self.source_meter = Some(super::source_meter::SourceMeter::start(&inputs));
        }
        if let Some(meter) = &self.source_meter {
            self.status.audio_level = meter.level();
            self.status.mixer = meter.mixer();
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
        // Ctrl+1 … Ctrl+9 put scene 1 … 9 on air, as a switcher's number keys.
        const NUMBERS: [egui::Key; 9] = [
            egui::Key::Num1,
            egui::Key::Num2,
            egui::Key::Num3,
            egui::Key::Num4,
            egui::Key::Num5,
            egui::Key::Num6,
            egui::Key::Num7,
            egui::Key::Num8,
            egui::Key::Num9,
        ];
        if self.settings.use_scenes {
            for (index, key) in NUMBERS.iter().enumerate() {
                if index < self.settings.scenes.scenes.len() && ctx.input(|i| i.modifiers.command && i.key_pressed(*key)) {
                    commands.push(AppCommand::ShowScene(index));
                }
            }
        }
        if self.field_error.is_some() {
            // The message follows the fields: it goes once they are fixed.
            self.field_error = self.field_error.filter(|(id, field, _)| {
                *field == TargetField::Enabled || self.settings.target(*id).is_some_and(|t| t.problem(&self.settings.local_key).is_some())
            });
        }
        let meter_error = self.source_meter.as_ref().and_then(|meter| meter.error());
        let view = AppView {
            status: &self.status,
            live: self.is_live(),
            server: self.server.as_ref(),
            error: self.error.as_deref(),
            field_error: self.field_error,
            meter_error: meter_error.as_deref(),
            started: &self.started,
        };
        let canvas = self.canvas_size();
        let (panels, settings) = (&mut self.panels, &mut self.settings);
        egui::Panel::top("server").show(ui, |ui| panels.server_bar.ui(ui, &view, settings, &mut commands));
        egui::Panel::left("controls").resizable(false).exact_size(360.0).show(ui, |ui| {
            egui::ScrollArea::vertical().show(ui, |ui| {
                panels.sources.ui(ui, &view, settings);
                ui.separator();
                panels.mixer.ui(ui, &view, settings, panels.sources.microphones(), &mut commands);
                ui.separator();
                panels.scenes.ui(ui, &view, settings, &mut commands);
                ui.separator();
                panels.target.ui(ui, &view, settings, &mut commands);
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
            scene: settings.scene_on_air(),
            canvas,
        };
        egui::CentralPanel::default().show(ui, |ui| {
            panels.preview.ui(ui, &view, output, &mut commands);
            ui.separator();
            panels.stats.ui(ui, view.status);
        });
        for command in commands {
            self.apply(command);
        }
        // The previews run at the capture rate; drawn in software, half of it.
        ctx.request_repaint_after(Renderer::redraw_every(self.renderer.as_ref()));
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
    fn ui(&mut self, ui: &mut egui::Ui, frame: &mut eframe::Frame) {
        if self.renderer.is_none()
            && let Some(gl) = frame.gl()
        {
            let renderer = Renderer::of(gl);
            tracing::info!("drawing with {renderer:?}");
            self.renderer = Some(renderer);
        }
        let started = Instant::now();
        self.show(ui);
        self.record_frame_time(started.elapsed());
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, eframe::APP_KEY, &self.settings);
        if let Some(store) = &self.scene_store
            && let Err(error) = store.save(&self.settings.scenes)
        {
            tracing::error!("cannot save the scenes: {error}");
        }
        if let Some(store) = &self.secrets
            && let Err(error) = store.save(&self.settings.targets)
        {
            tracing::error!("{error}");
        }
    }

    fn on_exit(&mut self, _gl: Option<&eframe::glow::Context>) {
        self.player = None;
        if let Some(engine) = self.engine.take() {
            engine.shutdown();
        }
    }
}
