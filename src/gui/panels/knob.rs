//! The quality knob and what its position means. A drag applies when it
//! ends, so one gesture restarts the encoder once however many positions it
//! passes; a click or an arrow key applies at once.

use eframe::egui;

use crate::encode::quality::PRESETS;
use crate::gui::command::AppCommand;
use crate::gui::settings::Settings;

#[derive(Default)]
pub struct KnobPanel {
    /// Where a drag in progress holds the knob.
    held: Option<u8>,
}

impl KnobPanel {
    pub fn ui(&mut self, ui: &mut egui::Ui, settings: &Settings, commands: &mut Vec<AppCommand>) {
        ui.heading("Quality");
        let last = PRESETS.len() as u8;
        let mut position = self.held.unwrap_or(settings.knob).clamp(1, last);
        let slider = egui::Slider::new(&mut position, 1..=last)
            .text("knob")
            .step_by(1.0)
            .custom_formatter(|value, _| PRESETS[(value as usize).clamp(1, PRESETS.len()) - 1].name.to_string())
            .custom_parser(|text| PRESETS.iter().find(|p| p.name.eq_ignore_ascii_case(text.trim())).map(|p| f64::from(p.position)));
        let response = ui.add(slider);
        let settled = if response.dragged() {
            self.held = Some(position);
            false
        } else {
            response.drag_stopped() || response.changed() || self.held.is_some()
        };
        if settled {
            self.held = None;
            if position != settings.knob {
                commands.push(AppCommand::SetQuality(position));
            }
        }
        let preset = PRESETS[usize::from(position) - 1];
        ui.label(format!("{}×{} · {} fps · {} kbit/s video · {} kbit/s audio", preset.width, preset.height, preset.fps, preset.video_kbps, preset.audio_kbps));
    }
}
