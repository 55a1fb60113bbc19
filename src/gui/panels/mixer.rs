//! The audio mixer, as OBS has it: a channel per input (the microphone, the
//! desktop's sound, more microphones) with its meter, gain fader, mute,
//! noise suppression and gate, and the mix's own meter under the limiter.
//! The meters move before Go Live too: a sound check on the same inputs.

use eframe::egui;

use super::AppView;
use crate::capture::frames::AudioLevel;
use crate::gui::command::AppCommand;
use crate::gui::settings::Settings;
use crate::mixer::{InputSettings, InputSource, InputStatus};

/// The gain fader's range, in dB.
const GAIN_RANGE: std::ops::RangeInclusive<f32> = -30.0..=20.0;
/// Where a gate starts when it is switched on, in dBFS.
const GATE_DEFAULT_DB: f32 = -50.0;

pub struct MixerPanel;

impl MixerPanel {
    pub fn ui(&mut self, ui: &mut egui::Ui, view: &AppView<'_>, settings: &Settings, microphones: &[String], commands: &mut Vec<AppCommand>) {
        ui.heading("Audio mixer");
        let inputs = settings.mix_inputs();
        if inputs.is_empty() {
            ui.small("No sound: add an input below, or choose a microphone.");
        }
        let meters = view.status.mixer.as_ref().map_or(&[][..], |m| m.inputs.as_slice());
        for (index, input) in inputs.iter().enumerate() {
            ui.push_id(("input", index), |ui| channel(ui, view, index, &input.source, &input.settings, meters.get(index), commands));
        }
        ui.add_enabled_ui(!view.live, |ui| {
            egui::ComboBox::from_label("Add input").selected_text("desktop, microphone…").width(220.0).show_ui(ui, |ui| {
                let mut offer = |ui: &mut egui::Ui, source: InputSource, label: &str| {
                    if ui.selectable_label(false, label).clicked() {
                        commands.push(AppCommand::AddInput(source));
                    }
                };
                offer(ui, InputSource::Desktop, "Desktop audio");
                offer(ui, InputSource::Tone, "Test tone");
                for name in microphones {
                    offer(ui, InputSource::Microphone(name.clone()), name);
                }
            });
        });
        let master = view.status.audio_level;
        ui.horizontal(|ui| {
            ui.label("Mix");
            level_bar(ui, master);
        });
        if let Some(limiting) = view.status.mixer.as_ref().map(|m| m.limiting_db).filter(|db| *db < -0.5) {
            ui.small(format!("limiter: {limiting:.1} dB (lower a gain to stop it)"));
        }
    }
}

/// One input's strip: name, meter, fader, switches and what is wrong with it.
fn channel(
    ui: &mut egui::Ui,
    view: &AppView<'_>,
    index: usize,
    source: &InputSource,
    settings: &InputSettings,
    meter: Option<&InputStatus>,
    commands: &mut Vec<AppCommand>,
) {
    let mut changed = settings.clone();
    // Buttons first, from the right: the name takes what is left, shortened to fit.
    let row = egui::vec2(ui.available_width(), ui.spacing().interact_size.y);
    ui.allocate_ui_with_layout(row, egui::Layout::right_to_left(egui::Align::Center), |ui| {
        if ui.add_enabled(!view.live, egui::Button::new("Remove")).on_hover_text("Take this input out of the mix").clicked() {
            commands.push(AppCommand::RemoveInput(index));
        }
        let label = if changed.muted { "Muted" } else { "Mute" };
        ui.toggle_value(&mut changed.muted, label);
        let name = meter.map_or_else(|| source.to_string(), |m| m.name.clone());
        ui.with_layout(egui::Layout::left_to_right(egui::Align::Center), |ui| ui.add(egui::Label::new(egui::RichText::new(name).strong()).truncate()));
    });
    level_bar(ui, meter.map_or(AudioLevel::SILENT, |m| m.level));
    ui.add(egui::Slider::new(&mut changed.gain_db, GAIN_RANGE).text("Gain").suffix(" dB").step_by(0.5));
    ui.horizontal(|ui| {
        ui.checkbox(&mut changed.denoise, "Noise suppression");
        let mut gated = changed.gate_db.is_some();
        if ui.checkbox(&mut gated, "Gate").changed() {
            changed.gate_db = gated.then_some(GATE_DEFAULT_DB);
        }
        if let Some(threshold) = &mut changed.gate_db {
            ui.add(egui::DragValue::new(threshold).range(-90.0..=0.0).suffix(" dB").speed(0.5));
        }
    });
    if let Some(problem) = meter.and_then(|m| m.problem.as_deref()) {
        ui.colored_label(ui.visuals().error_fg_color, format!("{problem}: the mix goes on without it"));
    } else if let Some(underruns) = meter.map(|m| m.underruns).filter(|n| *n > 0) {
        ui.small(format!("{underruns} blocks came late (silence in the mix)"));
    }
    if changed != *settings {
        commands.push(AppCommand::SetInput(index, changed));
    }
    ui.add_space(4.0);
}

/// Peak and RMS in dBFS on a -60..0 bar: green, yellow from -6, red when it clips.
pub fn level_bar(ui: &mut egui::Ui, level: AudioLevel) {
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
