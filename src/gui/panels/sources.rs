//! Camera and microphone choice (the microphone's meter is the mixer's first channel).

use eframe::egui;

use super::AppView;
use crate::gui::settings::{CameraSetting, MicrophoneSetting, Settings};

pub struct SourcesPanel {
    /// (id, name) of each camera found at start.
    cameras: Vec<(String, String)>,
    microphones: Vec<String>,
}

impl SourcesPanel {
    pub fn discover() -> SourcesPanel {
        let cameras = crate::capture::camera::list_cameras().map(|list| list.into_iter().map(|c| (c.index.to_string(), c.name)).collect()).unwrap_or_default();
        let microphones = crate::capture::microphone::list_microphones()
            .map(|list| list.into_iter().filter(|m| !m.default_config.starts_with("unusable")).map(|m| m.name).collect())
            .unwrap_or_default();
        SourcesPanel { cameras, microphones }
    }

    /// The microphones found at start, by name.
    pub fn microphones(&self) -> &[String] {
        &self.microphones
    }

    pub fn ui(&mut self, ui: &mut egui::Ui, view: &AppView<'_>, settings: &mut Settings) {
        ui.heading("Sources");
        ui.add_enabled_ui(!view.live, |ui| {
            let camera_label = match &settings.camera {
                CameraSetting::TestPattern => "Test pattern".to_string(),
                CameraSetting::Device(chosen) => self.cameras.iter().find(|(id, _)| id == chosen).map_or(chosen.clone(), |(_, name)| name.clone()),
            };
            egui::ComboBox::from_label("Camera").selected_text(camera_label).width(220.0).show_ui(ui, |ui| {
                ui.selectable_value(&mut settings.camera, CameraSetting::TestPattern, "Test pattern");
                for (id, name) in &self.cameras {
                    ui.selectable_value(&mut settings.camera, CameraSetting::Device(id.clone()), name);
                }
            });
            if self.cameras.is_empty() {
                ui.small("No camera found: the test pattern is available.");
            }
            let microphone_label = match &settings.microphone {
                MicrophoneSetting::TestTone => "Test tone".to_string(),
                MicrophoneSetting::Off => "None".to_string(),
                MicrophoneSetting::Device(name) => name.clone(),
            };
            egui::ComboBox::from_label("Microphone").selected_text(microphone_label).width(220.0).show_ui(ui, |ui| {
                ui.selectable_value(&mut settings.microphone, MicrophoneSetting::TestTone, "Test tone");
                ui.selectable_value(&mut settings.microphone, MicrophoneSetting::Off, "None");
                for name in &self.microphones {
                    ui.selectable_value(&mut settings.microphone, MicrophoneSetting::Device(name.clone()), name);
                }
            });
            if self.microphones.is_empty() {
                ui.small("No microphone found: the test tone is available.");
            }
            if let Some(error) = view.meter_error.filter(|_| !view.live) {
                ui.colored_label(ui.visuals().error_fg_color, error);
            }
        });
    }
}
