//! Scenes, as in OBS: the scene list (click one to put it on air), and the
//! layers of the one on air, top first, each with its eye, order and removal;
//! a layer is added by its kind and what it shows.

use eframe::egui;

use super::AppView;
use crate::gui::command::AppCommand;
use crate::gui::settings::Settings;
use crate::scene::SourceSpec;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayerKind {
    TestPattern,
    Screen,
    Window,
    Camera,
    Image,
    Text,
    Color,
}

impl LayerKind {
    pub const ALL: [LayerKind; 7] =
        [LayerKind::TestPattern, LayerKind::Screen, LayerKind::Window, LayerKind::Camera, LayerKind::Image, LayerKind::Text, LayerKind::Color];

    pub fn label(self) -> &'static str {
        match self {
            LayerKind::TestPattern => "Test pattern",
            LayerKind::Screen => "Screen",
            LayerKind::Window => "Window",
            LayerKind::Camera => "Camera",
            LayerKind::Image => "Image",
            LayerKind::Text => "Text",
            LayerKind::Color => "Colour",
        }
    }

    /// What the field beside it asks for.
    fn hint(self) -> &'static str {
        match self {
            LayerKind::TestPattern => "",
            LayerKind::Screen => "monitor number (empty: the first)",
            LayerKind::Window => "words of its title",
            LayerKind::Camera => "index or name (empty: the first)",
            LayerKind::Image => "PNG or JPEG file",
            LayerKind::Text => "the words",
            LayerKind::Color => "#RRGGBB",
        }
    }

    /// The source spec, as a scene file writes it.
    pub fn spec(self, argument: &str) -> Result<SourceSpec, String> {
        let argument = argument.trim();
        let text = match (self, argument.is_empty()) {
            (LayerKind::TestPattern, _) => "test".to_string(),
            (LayerKind::Screen, true) => "screen".to_string(),
            (LayerKind::Camera, true) => "camera".to_string(),
            (LayerKind::Screen, false) => format!("screen:{argument}"),
            (LayerKind::Window, _) => format!("window:{argument}"),
            (LayerKind::Camera, false) => format!("camera:{argument}"),
            (LayerKind::Image, _) => format!("image:{argument}"),
            (LayerKind::Text, _) => format!("text:{argument}"),
            (LayerKind::Color, _) => format!("color:{argument}"),
        };
        text.parse().map_err(|error: crate::scene::SceneError| error.to_string())
    }
}

pub struct ScenesPanel {
    kind: LayerKind,
    argument: String,
    problem: Option<String>,
}

impl Default for ScenesPanel {
    fn default() -> ScenesPanel {
        ScenesPanel { kind: LayerKind::Text, argument: String::new(), problem: None }
    }
}

impl ScenesPanel {
    pub fn ui(&mut self, ui: &mut egui::Ui, view: &AppView<'_>, settings: &Settings, commands: &mut Vec<AppCommand>) {
        ui.heading("Scenes");
        let mut use_scenes = settings.use_scenes;
        if ui.add_enabled(!view.live, egui::Checkbox::new(&mut use_scenes, "Compose scenes (instead of the camera)")).changed() {
            commands.push(AppCommand::UseScenes(use_scenes));
        }
        if !settings.use_scenes {
            return;
        }
        let collection = &settings.scenes;
        for (index, scene) in collection.scenes.iter().enumerate() {
            let shortcut = if index < 9 { format!("  Ctrl+{}", index + 1) } else { String::new() };
            let response = ui.selectable_label(index == collection.current, &scene.name);
            if response.clicked() && index != collection.current {
                commands.push(AppCommand::ShowScene(index));
            }
            response.on_hover_text(format!("Put it on air{shortcut}"));
        }
        ui.horizontal(|ui| {
            if ui.button("Add scene").clicked() {
                commands.push(AppCommand::AddScene);
            }
            if ui.add_enabled(collection.scenes.len() > 1, egui::Button::new("Remove scene")).clicked() {
                commands.push(AppCommand::RemoveScene(collection.current));
            }
            let mut fade = settings.scene_fade;
            if ui.checkbox(&mut fade, "Fade").changed() {
                commands.push(AppCommand::SceneFade(fade));
            }
        });
        let Some(scene) = collection.current_scene() else { return };
        ui.label(egui::RichText::new(format!("Layers of {}, top first", scene.name)).strong());
        for (index, layer) in scene.layers.iter().enumerate().rev() {
            ui.horizontal(|ui| {
                let mut visible = layer.visible;
                if ui.checkbox(&mut visible, layer.label()).changed() {
                    commands.push(AppCommand::ShowLayer(index, visible));
                }
                ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                    if ui.small_button("Remove").clicked() {
                        commands.push(AppCommand::RemoveLayer(index));
                    }
                    if ui.add_enabled(index > 0, egui::Button::new("Down").small()).clicked() {
                        commands.push(AppCommand::MoveLayer { index, up: false });
                    }
                    if ui.add_enabled(index + 1 < scene.layers.len(), egui::Button::new("Up").small()).clicked() {
                        commands.push(AppCommand::MoveLayer { index, up: true });
                    }
                });
            });
        }
        ui.horizontal(|ui| {
            egui::ComboBox::from_label("Layer").selected_text(self.kind.label()).width(110.0).show_ui(ui, |ui| {
                for kind in LayerKind::ALL {
                    ui.selectable_value(&mut self.kind, kind, kind.label());
                }
            });
            let label = ui.label("Shows");
            let field = egui::TextEdit::singleline(&mut self.argument).hint_text(self.kind.hint()).desired_width(130.0);
            ui.add_enabled(self.kind != LayerKind::TestPattern, field).labelled_by(label.id);
        });
        ui.horizontal(|ui| {
            if ui.button("Add layer").clicked() {
                match self.kind.spec(&self.argument) {
                    Ok(spec) => {
                        commands.push(AppCommand::AddLayer(spec));
                        (self.argument, self.problem) = (String::new(), None);
                    }
                    Err(problem) => self.problem = Some(problem),
                }
            }
        });
        if let Some(problem) = &self.problem {
            ui.colored_label(ui.visuals().error_fg_color, problem);
        }
        if let Some(program) = &view.status.program {
            for (layer, problem) in &program.warnings {
                ui.colored_label(ui.visuals().warn_fg_color, format!("{layer}: {problem}"));
            }
        }
    }
}
