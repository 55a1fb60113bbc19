//! The quality knob and what its position means.

use eframe::egui;

use crate::encode::quality::PRESETS;
use crate::gui::command::AppCommand;
use crate::gui::settings::Settings;

pub struct KnobPanel;

impl KnobPanel {
    pub fn ui(&mut self, ui: &mut egui::Ui, settings: &Settings, commands: &mut Vec<AppCommand>) {
        ui.heading("Quality");
        let mut position = settings.knob;
        ui.add(egui::Slider::new(&mut position, 1..=PRESETS.len() as u8).text("knob"));
        if position != settings.knob {
            commands.push(AppCommand::SetQuality(position));
        }
        let preset = PRESETS[usize::from(position.clamp(1, PRESETS.len() as u8) - 1)];
        ui.label(format!("{}×{} · {} fps · {} kbit/s video · {} kbit/s audio", preset.width, preset.height, preset.fps, preset.video_kbps, preset.audio_kbps));
    }
}
