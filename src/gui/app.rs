//! The OnAir window: sources, target, the quality knob, Go Live, live stats.
//!
//! The UI never touches a codec, a socket or a device: it sends Commands to
//! the engine and reads its Status snapshot, and it repaints on a timer while live.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use eframe::egui;

use super::settings::{Settings, TargetKind};
use crate::encode::quality::{PRESETS, QualityKnob};
use crate::engine::status::Status;
use crate::engine::{AudioChoice, Command, Engine, EngineConfig, VideoChoice};
use crate::publish::shared::PublishState;
use crate::publish::target::PublishTarget;

/// The bundled server as the app sees it.
#[derive(Clone)]
pub struct ServerInfo {
    pub rtmp: String,
    pub srt: String,
    pub http: String,
    /// Said when a default port was busy and another one was taken.
    pub notice: Option<String>,
    /// The bundled server's hub, when it runs in this process.
    pub hub: Option<std::sync::Arc<crate::server::hub::Hub>>,
}

pub struct OnAirApp {
    pub settings: Settings,
    pub server: Option<ServerInfo>,
    engine: Option<Engine>,
    pub status: Status,
    /// Why the last Go Live could not start.
    pub error: Option<String>,
    bitrate_history: VecDeque<(f64, f64)>,
    started: Instant,
    preview: Option<egui::TextureHandle>,
    preview_stamp: i64,
    /// Captures the selected source while not live.
    source_preview: Option<super::source_preview::SourcePreview>,
    cameras: Vec<(String, String)>,
    microphones: Vec<String>,
    /// The in-app player of the local server's HLS output, while live to it.
    player: Option<crate::player::HlsPreview>,
    player_texture: Option<egui::TextureHandle>,
    player_frames_shown: u64,
    /// Media playlists of the master playlist, and the one being previewed.
    pub renditions: Vec<String>,
    pub rendition: String,
    /// How long building each frame took, for the UI frame-time log.
    frame_times: VecDeque<Duration>,
    frame_times_logged: Instant,
}

impl OnAirApp {
    pub fn new(settings: Settings, server: Option<ServerInfo>) -> OnAirApp {
        if let Some(hub) = server.as_ref().and_then(|s| s.hub.as_ref()) {
            hub.set_ladder(settings.ladder);
        }
        let cameras = crate::capture::camera::list_cameras().map(|list| list.into_iter().map(|c| (c.index.to_string(), c.name)).collect()).unwrap_or_default();
        let microphones = crate::capture::microphone::list_microphones()
            .map(|list| list.into_iter().filter(|m| !m.default_config.starts_with("unusable")).map(|m| m.name).collect())
            .unwrap_or_default();
        OnAirApp {
            settings,
            server,
            engine: None,
            status: Status::idle(),
            error: None,
            bitrate_history: VecDeque::new(),
            started: Instant::now(),
            preview: None,
            preview_stamp: -1,
            source_preview: None,
            cameras,
            microphones,
            player: None,
            player_texture: None,
            player_frames_shown: 0,
            renditions: Vec::new(),
            rendition: "video/playlist.m3u8".into(),
            frame_times: VecDeque::new(),
            frame_times_logged: Instant::now(),
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
            self.player = Some(crate::player::HlsPreview::start(format!("{base}/{}", self.rendition)));
        }
    }

    pub fn is_live(&self) -> bool {
        self.engine.is_some() && !matches!(self.status.state, PublishState::Stopped { .. })
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
        if let Some(hub) = self.server.as_ref().and_then(|s| s.hub.as_ref()) {
            hub.set_ladder(self.settings.ladder);
        }
        // The engine opens the device itself.
        self.source_preview = None;
        let result = (|| -> Result<Engine, String> {
            let target = PublishTarget::parse(&self.target_url()?).map_err(|e| e.to_string())?;
            let video = if self.settings.camera == "test" { VideoChoice::TestPattern } else { VideoChoice::Camera(Some(self.settings.camera.clone())) };
            let audio = match self.settings.microphone.as_str() {
                "tone" => AudioChoice::TestTone,
                "none" => AudioChoice::None,
                name => AudioChoice::Microphone(Some(name.to_string())),
            };
            let knob = QualityKnob::new(self.settings.knob, None)?;
            Engine::start(EngineConfig::new(video, audio, target, knob)).map_err(|e| e.to_string())
        })();
        match result {
            Ok(engine) => {
                tracing::info!("going live");
                self.bitrate_history.clear();
                self.engine = Some(engine);
                self.renditions.clear();
                self.start_player();
            }
            Err(error) => self.error = Some(error),
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
        self.settings.knob = position;
        if let (Some(engine), Ok(knob)) = (&self.engine, QualityKnob::new(position, None)) {
            engine.send(Command::SetQuality(knob));
        }
    }

    /// Keeps the idle preview on the selected source.
    fn refresh_idle_preview(&mut self, ctx: &egui::Context) {
        if self.source_preview.as_ref().is_none_or(|p| p.camera != self.settings.camera) {
            let (width, height) = QualityKnob::new(self.settings.knob, None).map_or((1280, 720), |k| k.size());
            self.source_preview = Some(super::source_preview::SourcePreview::start(&self.settings.camera, width, height, 30));
        }
        if let Some(preview) = self.source_preview.as_ref().and_then(|p| p.latest()) {
            self.show_preview(ctx, &preview);
        }
    }

    fn show_preview(&mut self, ctx: &egui::Context, preview: &crate::engine::Preview) {
        if preview.captured_micros == self.preview_stamp {
            return;
        }
        self.preview_stamp = preview.captured_micros;
        let image = egui::ColorImage::from_rgba_unmultiplied([preview.width, preview.height], &preview.rgba);
        match &mut self.preview {
            Some(texture) => texture.set(image, egui::TextureOptions::LINEAR),
            None => self.preview = Some(ctx.load_texture("source-preview", image, egui::TextureOptions::LINEAR)),
        }
    }

    /// Pulls the engine's newest status and preview.
    pub fn refresh(&mut self, ctx: &egui::Context) {
        if self.engine.is_none() {
            self.refresh_idle_preview(ctx);
            return;
        }
        let Some(engine) = &self.engine else { return };
        let status = engine.status();
        if status.state != self.status.state {
            tracing::info!("state: {}", status.state);
        }
        self.status = status;
        let t = self.started.elapsed().as_secs_f64();
        self.bitrate_history.push_back((t, self.status.sent_kbps));
        while self.bitrate_history.front().is_some_and(|(at, _)| t - at > 60.0) {
            self.bitrate_history.pop_front();
        }
        if let Some(preview) = engine.preview() {
            self.show_preview(ctx, &preview);
        }
        if let Some(frame) = self.player.as_ref().and_then(|p| p.frame()) {
            let status = self.player.as_ref().map(|p| p.status()).unwrap_or_default();
            if status.frames_decoded != self.player_frames_shown {
                self.player_frames_shown = status.frames_decoded;
                let image = egui::ColorImage::from_rgba_unmultiplied([frame.width, frame.height], &frame.rgba);
                match &mut self.player_texture {
                    Some(texture) => texture.set(image, egui::TextureOptions::LINEAR),
                    None => self.player_texture = Some(ctx.load_texture("hls-preview", image, egui::TextureOptions::LINEAR)),
                }
            }
        }
        if let Some(status) = self.player_status()
            && !status.renditions.is_empty()
        {
            self.renditions = status.renditions;
        }
        if matches!(self.status.state, PublishState::Stopped { .. }) {
            self.player = None;
            self.collect_stopped_engine();
        }
    }

    pub fn show(&mut self, ui: &mut egui::Ui) {
        let ctx = ui.ctx().clone();
        self.refresh(&ctx);
        if ctx.input(|i| i.key_pressed(egui::Key::F5) || (i.modifiers.command && i.key_pressed(egui::Key::Enter))) {
            if self.is_live() { self.end_stream() } else { self.go_live() }
        }
        egui::Panel::top("server").show(ui, |ui| self.server_bar(ui));
        egui::Panel::left("controls").resizable(false).exact_size(360.0).show(ui, |ui| {
            egui::ScrollArea::vertical().show(ui, |ui| {
                self.sources(ui);
                ui.separator();
                self.target(ui);
                ui.separator();
                self.knob(ui);
                ui.separator();
                self.live_button(ui);
            });
        });
        egui::CentralPanel::default().show(ui, |ui| {
            self.preview_panel(ui);
            ui.separator();
            self.stats(ui);
        });
        // The previews run at the capture rate.
        ctx.request_repaint_after(Duration::from_millis(33));
    }

    fn server_bar(&mut self, ui: &mut egui::Ui) {
        let live = self.is_live();
        ui.horizontal_wrapped(|ui| {
            ui.strong("Bundled server");
            match &self.server {
                Some(server) => {
                    ui.label(format!("RTMP {}", server.rtmp));
                    ui.label(format!("SRT {}", server.srt));
                    ui.hyperlink_to(format!("HTTP {}", server.http), &server.http);
                    if let Some(notice) = &server.notice {
                        ui.colored_label(egui::Color32::from_rgb(200, 140, 0), notice);
                    }
                    if let Some(hub) = server.hub.clone() {
                        let checkbox = egui::Checkbox::new(&mut self.settings.ladder, "Ladder for viewers");
                        let hint = "Also serve lower renditions (480p and 360p under a 720p source) for viewers on weak connections. \
                                    Transcoding costs this computer up to half a core; it starts with the next Go Live.";
                        if ui.add_enabled(!live, checkbox).on_hover_text(hint).on_disabled_hover_text(hint).changed() {
                            hub.set_ladder(self.settings.ladder);
                        }
                    }
                }
                None => {
                    ui.colored_label(egui::Color32::RED, "not running: publish to a custom target");
                }
            }
        });
    }

    fn sources(&mut self, ui: &mut egui::Ui) {
        let live = self.is_live();
        ui.heading("Sources");
        ui.add_enabled_ui(!live, |ui| {
            let camera_label = if self.settings.camera == "test" {
                "Test pattern".to_string()
            } else {
                self.cameras.iter().find(|(id, _)| *id == self.settings.camera).map_or(self.settings.camera.clone(), |(_, name)| name.clone())
            };
            egui::ComboBox::from_label("Camera").selected_text(camera_label).width(220.0).show_ui(ui, |ui| {
                ui.selectable_value(&mut self.settings.camera, "test".to_string(), "Test pattern");
                for (id, name) in &self.cameras {
                    ui.selectable_value(&mut self.settings.camera, id.clone(), name);
                }
            });
            if self.cameras.is_empty() {
                ui.small("No camera found: the test pattern is available.");
            }
            let microphone_label = match self.settings.microphone.as_str() {
                "tone" => "Test tone".to_string(),
                "none" => "None".to_string(),
                name => name.to_string(),
            };
            egui::ComboBox::from_label("Microphone").selected_text(microphone_label).width(220.0).show_ui(ui, |ui| {
                ui.selectable_value(&mut self.settings.microphone, "tone".to_string(), "Test tone");
                ui.selectable_value(&mut self.settings.microphone, "none".to_string(), "None");
                for name in &self.microphones {
                    ui.selectable_value(&mut self.settings.microphone, name.clone(), name);
                }
            });
            if self.microphones.is_empty() {
                ui.small("No microphone found: the test tone is available.");
            }
        });
        let level = self.status.audio_level;
        let fraction = ((level.peak_dbfs + 60.0) / 60.0).clamp(0.0, 1.0);
        let color = if level.clipped() {
            egui::Color32::RED
        } else if level.peak_dbfs > -6.0 {
            egui::Color32::YELLOW
        } else {
            egui::Color32::GREEN
        };
        ui.add(egui::ProgressBar::new(fraction).fill(color).text(format!(
            "peak {:.0} dBFS · rms {:.0} dBFS{}",
            level.peak_dbfs,
            level.rms_dbfs,
            if level.clipped() { " · CLIP" } else { "" }
        )));
    }

    fn target(&mut self, ui: &mut egui::Ui) {
        let live = self.is_live();
        ui.heading("Target");
        ui.add_enabled_ui(!live, |ui| {
            for kind in TargetKind::ALL {
                ui.radio_value(&mut self.settings.target, kind, kind.label());
            }
            match self.settings.target {
                TargetKind::LocalRtmp | TargetKind::LocalSrt => {
                    ui.horizontal(|ui| {
                        let label = ui.label("Stream key");
                        ui.text_edit_singleline(&mut self.settings.local_key).labelled_by(label.id);
                    });
                }
                TargetKind::CustomRtmp => {
                    ui.horizontal(|ui| {
                        let label = ui.label("URL");
                        ui.text_edit_singleline(&mut self.settings.custom_rtmp_url).labelled_by(label.id);
                    });
                    ui.horizontal(|ui| {
                        let label = ui.label("Stream key");
                        ui.add(egui::TextEdit::singleline(&mut self.settings.custom_rtmp_key).password(true)).labelled_by(label.id);
                    });
                }
                TargetKind::CustomSrt => {
                    ui.horizontal(|ui| {
                        let label = ui.label("URL");
                        ui.text_edit_singleline(&mut self.settings.custom_srt_url).labelled_by(label.id);
                    });
                    ui.horizontal(|ui| {
                        let label = ui.label("Stream id");
                        ui.add(egui::TextEdit::singleline(&mut self.settings.custom_srt_stream_id).password(true)).labelled_by(label.id);
                    });
                    ui.horizontal(|ui| {
                        let label = ui.label("Passphrase");
                        ui.add(egui::TextEdit::singleline(&mut self.settings.custom_srt_passphrase).password(true)).labelled_by(label.id);
                    });
                }
            }
        });
    }

    fn knob(&mut self, ui: &mut egui::Ui) {
        ui.heading("Quality");
        let mut position = self.settings.knob;
        ui.add(egui::Slider::new(&mut position, 1..=PRESETS.len() as u8).text("knob"));
        if position != self.settings.knob {
            self.set_knob(position);
        }
        let preset = PRESETS[usize::from(self.settings.knob.clamp(1, PRESETS.len() as u8) - 1)];
        ui.label(format!("{}×{} · {} fps · {} kbit/s video · {} kbit/s audio", preset.width, preset.height, preset.fps, preset.video_kbps, preset.audio_kbps));
    }

    fn live_button(&mut self, ui: &mut egui::Ui) {
        let (label, color) = match &self.status.state {
            _ if !self.is_live() => ("Go Live", egui::Color32::from_rgb(200, 30, 45)),
            PublishState::Connecting | PublishState::Idle => ("Connecting…", egui::Color32::from_rgb(120, 120, 120)),
            PublishState::Reconnecting { .. } => ("Reconnecting…", egui::Color32::from_rgb(200, 140, 0)),
            _ => ("End stream", egui::Color32::from_rgb(60, 60, 60)),
        };
        let button = egui::Button::new(egui::RichText::new(label).size(20.0).color(egui::Color32::WHITE)).fill(color).min_size(egui::vec2(320.0, 44.0));
        if ui.add(button).on_hover_text("F5 or Ctrl+Enter").clicked() {
            if self.is_live() { self.end_stream() } else { self.go_live() }
        }
        let seconds = self.status.uptime.as_secs();
        let state_line = match &self.status.state {
            PublishState::Live => format!("LIVE {:02}:{:02}:{:02}", seconds / 3600, seconds / 60 % 60, seconds % 60),
            PublishState::Reconnecting { attempt, last_error } => format!("Reconnecting (attempt {attempt})… {last_error}"),
            PublishState::Stopped { reason } => format!("Stopped: {reason}"),
            PublishState::Connecting => "Connecting…".into(),
            PublishState::Idle => "Ready".into(),
        };
        let state_color = match self.status.state {
            PublishState::Live => egui::Color32::from_rgb(220, 40, 50),
            PublishState::Stopped { .. } => egui::Color32::GRAY,
            _ => ui.visuals().text_color(),
        };
        ui.label(egui::RichText::new(state_line).strong().size(16.0).color(state_color));
        if let Some(error) = &self.error {
            ui.colored_label(egui::Color32::RED, error);
        }
    }

    fn preview_panel(&mut self, ui: &mut egui::Ui) {
        let live = self.is_live();
        let half = ((ui.available_width() - 16.0) / 2.0).clamp(200.0, 480.0);
        ui.horizontal_top(|ui| {
            ui.vertical(|ui| {
                ui.heading("Source");
                match &self.preview {
                    Some(texture) => {
                        let size = texture.size_vec2();
                        ui.image((texture.id(), egui::vec2(half, half * size.y / size.x)));
                    }
                    _ => {
                        let message = self.source_preview.as_ref().and_then(|p| p.error()).unwrap_or_else(|| "Opening the source…".into());
                        ui.label(message);
                    }
                }
            });
            ui.vertical(|ui| {
                ui.heading("Output (local HLS)");
                let status = self.player.as_ref().map(|p| p.status());
                match (&self.player_texture, &status) {
                    (Some(texture), Some(status)) if live && status.frames_decoded > 0 => {
                        let size = texture.size_vec2();
                        ui.image((texture.id(), egui::vec2(half, half * size.y / size.x)));
                        match status.latency_ms {
                            Some(ms) => ui.strong(format!("glass-to-glass {:.1} s", ms as f64 / 1000.0)),
                            None => ui.label("latency shows with the test pattern"),
                        };
                    }
                    (_, Some(status)) if live => {
                        ui.label(status.error.as_deref().map_or("Waiting for the first segment…".to_string(), |e| format!("Waiting: {e}")));
                    }
                    _ => {
                        ui.label("What viewers get shows here while live to the local server.");
                    }
                }
                if live && self.renditions.len() > 1 {
                    let mut chosen = self.rendition.clone();
                    egui::ComboBox::from_label("Rendition").selected_text(chosen.clone()).show_ui(ui, |ui| {
                        for rendition in &self.renditions {
                            ui.selectable_value(&mut chosen, rendition.clone(), rendition);
                        }
                    });
                    if chosen != self.rendition {
                        self.rendition = chosen;
                        self.start_player();
                    }
                }
            });
        });
        if let Some(server) = &self.server {
            let page = format!("{}/live/{}/", server.http, self.settings.local_key);
            if ui.button("Open in the browser").on_hover_text(page.clone()).clicked() {
                let _ = std::process::Command::new("xdg-open").arg(&page).spawn();
            }
        }
    }

    fn stats(&self, ui: &mut egui::Ui) {
        ui.heading("Stats");
        let s = &self.status;
        egui::Grid::new("numbers").num_columns(4).spacing([24.0, 4.0]).show(ui, |ui| {
            ui.label("Bitrate");
            ui.strong(format!("{:.0} kbit/s", s.sent_kbps));
            ui.label("Frame rate");
            ui.strong(format!("{:.1} fps", s.fps));
            ui.end_row();
            ui.label("Dropped frames");
            ui.strong(s.dropped_frames.to_string());
            ui.label("Encode time");
            ui.strong(format!("{:.1} ms", s.encode_ms));
            ui.end_row();
            ui.label("Queue");
            ui.strong(s.queue_depth.to_string());
            ui.label("Process CPU");
            ui.strong(format!("{:.0} %", process_cpu_percent()));
            ui.end_row();
        });
        let points: egui_plot::PlotPoints = self.bitrate_history.iter().map(|&(t, kbps)| [t, kbps]).collect();
        egui_plot::Plot::new("bitrate").height(160.0).include_y(0.0).allow_scroll(false).allow_drag(false).y_axis_label("kbit/s").show(ui, |plot| {
            plot.line(egui_plot::Line::new("sent", points));
        });
    }
}

/// CPU use of this process, from /proc, refreshed at most every half second.
fn process_cpu_percent() -> f64 {
    use std::sync::Mutex;
    static LAST: Mutex<Option<(Instant, f64, f64)>> = Mutex::new(None);
    let mut last = LAST.lock().unwrap_or_else(|p| p.into_inner());
    let now = Instant::now();
    if let Some((then, _, percent)) = *last
        && now.duration_since(then) < Duration::from_millis(500)
    {
        return percent;
    }
    let seconds = std::fs::read_to_string("/proc/self/stat").ok().and_then(|stat| {
        let fields: Vec<&str> = stat.rsplit_once(") ")?.1.split_whitespace().collect();
        Some((fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?) / 100.0)
    });
    let Some(seconds) = seconds else { return 0.0 };
    let percent = match *last {
        Some((then, before, _)) => (seconds - before) / now.duration_since(then).as_secs_f64() * 100.0,
        None => 0.0,
    };
    *last = Some((now, seconds, percent));
    percent
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
