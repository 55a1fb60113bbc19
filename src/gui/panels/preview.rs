//! The source beside what viewers get (the local server's HLS, played in
//! the app), with the rendition choice and the glass-to-glass figure. With
//! scenes the source is the program, whose layers are moved and resized on it.

use eframe::egui;

use super::AppView;
use super::layout_editor::LayoutEditor;
use crate::engine::Preview;
use crate::gui::command::AppCommand;
use crate::player::{PlayerFrame, PlayerStatus};
use crate::scene::Scene;

#[derive(Default)]
pub struct PreviewPanel {
    source: Option<egui::TextureHandle>,
    source_stamp: Option<i64>,
    output: Option<egui::TextureHandle>,
    output_frames_shown: u64,
    editor: LayoutEditor,
}

/// What the output side shows this frame.
pub struct OutputView<'a> {
    pub player: Option<PlayerStatus>,
    pub renditions: &'a [String],
    pub rendition: &'a str,
    /// Why the source preview shows nothing, if it does not.
    pub source_error: Option<String>,
    /// The local server's player page for this stream.
    pub page: Option<String>,
    /// The preview's sound is off.
    pub muted: bool,
    /// The scene on air, when the source is the program; and the canvas it is laid out on.
    pub scene: Option<&'a Scene>,
    pub canvas: (usize, usize),
}

impl PreviewPanel {
    /// Shows a newer source picture (the same capture stamp is not uploaded twice).
    pub fn show_source(&mut self, ctx: &egui::Context, preview: &Preview) {
        if self.source_stamp == Some(preview.captured_micros) {
            return;
        }
        self.source_stamp = Some(preview.captured_micros);
        let image = egui::ColorImage::from_rgba_unmultiplied([preview.width, preview.height], &preview.rgba);
        match &mut self.source {
            Some(texture) => texture.set(image, egui::TextureOptions::LINEAR),
            None => self.source = Some(ctx.load_texture("source-preview", image, egui::TextureOptions::LINEAR)),
        }
    }

    /// Shows the player's picture when it decoded a new one.
    pub fn show_output(&mut self, ctx: &egui::Context, frame: &PlayerFrame, frames_decoded: u64) {
        if frames_decoded == self.output_frames_shown {
            return;
        }
        self.output_frames_shown = frames_decoded;
        let image = egui::ColorImage::from_rgba_unmultiplied([frame.width, frame.height], &frame.rgba);
        match &mut self.output {
            Some(texture) => texture.set(image, egui::TextureOptions::LINEAR),
            None => self.output = Some(ctx.load_texture("hls-preview", image, egui::TextureOptions::LINEAR)),
        }
    }

    pub fn ui(&mut self, ui: &mut egui::Ui, view: &AppView<'_>, output: OutputView<'_>, commands: &mut Vec<AppCommand>) {
        let half = ((ui.available_width() - 16.0) / 2.0).clamp(200.0, 480.0);
        ui.horizontal_top(|ui| {
            ui.vertical(|ui| {
                ui.heading(if output.scene.is_some() { "Program (drag a layer, or its corner)" } else { "Source" });
                match (&self.source, output.scene) {
                    (Some(texture), Some(scene)) => {
                        let size = texture.size_vec2();
                        let image = egui::Image::new((texture.id(), egui::vec2(half, half * size.y / size.x)));
                        let response = ui.add(image.sense(egui::Sense::click_and_drag()).alt_text("Program"));
                        self.editor.ui(ui, &response, scene, output.canvas, commands);
                    }
                    (Some(texture), None) => picture(ui, texture, half),
                    (None, _) => {
                        ui.label(output.source_error.clone().unwrap_or_else(|| "Opening the source…".into()));
                    }
                }
            });
            ui.vertical(|ui| {
                ui.heading("Output (what viewers get, LL-HLS)");
                match (&self.output, &output.player) {
                    (Some(texture), Some(status)) if view.live && status.frames_decoded > 0 => {
                        picture(ui, texture, half);
                        match status.latency_ms {
                            Some(ms) => ui.strong(format!("glass-to-glass {:.1} s", ms as f64 / 1000.0)),
                            None => ui.label("latency shows with the test pattern"),
                        };
                        match &status.sound_error {
                            Some(error) => {
                                ui.label(format!("Silent: {error}"));
                            }
                            None => {
                                ui.horizontal(|ui| {
                                    match status.av_offset_ms {
                                        Some(offset) => ui.label(format!("sound {offset:+.0} ms from the picture")),
                                        None => ui.label("with sound"),
                                    };
                                    let mut muted = output.muted;
                                    if ui.checkbox(&mut muted, "Mute").changed() {
                                        commands.push(AppCommand::MutePreview(muted));
                                    }
                                });
                            }
                        }
                    }
                    (_, Some(status)) if view.live => {
                        ui.label(status.error.as_deref().map_or("Starting…".to_string(), |e| format!("Waiting: {e}")));
                    }
                    _ => {
                        ui.label("What viewers get shows here while live to the local server.");
                    }
                }
                if view.live && output.renditions.len() > 1 {
                    let mut chosen = output.rendition.to_string();
                    egui::ComboBox::from_label("Rendition").selected_text(chosen.clone()).show_ui(ui, |ui| {
                        for rendition in output.renditions {
                            ui.selectable_value(&mut chosen, rendition.clone(), rendition);
                        }
                    });
                    if chosen != output.rendition {
                        commands.push(AppCommand::PreviewRendition(chosen));
                    }
                }
            });
        });
        if let Some(page) = output.page
            && ui.button("Open in the browser").on_hover_text(page.clone()).clicked()
        {
            let _ = std::process::Command::new("xdg-open").arg(&page).spawn();
        }
    }
}

/// A texture `width` wide at its own aspect ratio.
fn picture(ui: &mut egui::Ui, texture: &egui::TextureHandle, width: f32) {
    let size = texture.size_vec2();
    ui.image((texture.id(), egui::vec2(width, width * size.y / size.x)));
}
