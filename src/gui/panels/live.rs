//! Go Live / End stream, and the live state in words.

use eframe::egui;

use super::AppView;
use crate::gui::command::AppCommand;
use crate::publish::shared::PublishState;

pub struct LivePanel;

impl LivePanel {
    pub fn ui(&mut self, ui: &mut egui::Ui, view: &AppView<'_>, commands: &mut Vec<AppCommand>) {
        let state = &view.status.state;
        let (label, color) = match state {
            PublishState::Failed(_) if !view.live => ("Retry", egui::Color32::from_rgb(200, 30, 45)),
            _ if !view.live => ("Go Live", egui::Color32::from_rgb(200, 30, 45)),
            // While it connects or reconnects, the one control is to give up.
            PublishState::Connecting | PublishState::Idle => ("Cancel", egui::Color32::from_rgb(120, 120, 120)),
            PublishState::Reconnecting { .. } => ("Cancel", egui::Color32::from_rgb(200, 140, 0)),
            _ => ("End stream", egui::Color32::from_rgb(60, 60, 60)),
        };
        let button = egui::Button::new(egui::RichText::new(label).size(20.0).color(egui::Color32::WHITE)).fill(color).min_size(egui::vec2(320.0, 44.0));
        if ui.add(button).on_hover_text("F5 or Ctrl+Enter").clicked() {
            commands.push(toggle(view.live));
        }
        let seconds = view.status.uptime.as_secs();
        let state_line = match state {
            PublishState::Live => format!("LIVE {:02}:{:02}:{:02}", seconds / 3600, seconds / 60 % 60, seconds % 60),
            PublishState::Reconnecting { attempt, last_error } => format!("Reconnecting (attempt {attempt})… {last_error}"),
            PublishState::Stopped => format!("Stream ended after {:02}:{:02}:{:02}", seconds / 3600, seconds / 60 % 60, seconds % 60),
            PublishState::Failed(failure) => capitalized(&failure.to_string()),
            PublishState::Connecting => "Connecting…".into(),
            PublishState::Idle => "Ready".into(),
        };
        let state_color = match state {
            PublishState::Live => egui::Color32::from_rgb(220, 40, 50),
            PublishState::Failed(_) => ui.visuals().error_fg_color,
            PublishState::Reconnecting { .. } => ui.visuals().warn_fg_color,
            PublishState::Stopped => egui::Color32::GRAY,
            _ => ui.visuals().text_color(),
        };
        ui.label(egui::RichText::new(state_line).strong().size(16.0).color(state_color));
        if let Some(error) = view.error {
            ui.colored_label(ui.visuals().error_fg_color, error);
        }
        if view.live {
            recording_ui(ui, view, commands);
        }
    }
}

/// Record (the same encode, to a file) and how the recording is doing.
fn recording_ui(ui: &mut egui::Ui, view: &AppView<'_>, commands: &mut Vec<AppCommand>) {
    let started = view.recording();
    let recording = started.and_then(|(index, path)| view.status.targets.get(index).map(|target| (target, path)));
    let running = recording.is_some_and(|(target, _)| !target.state.is_over()) || (started.is_some() && recording.is_none());
    let (label, color) = if running { ("Stop recording", egui::Color32::from_rgb(60, 60, 60)) } else { ("Record", egui::Color32::from_rgb(150, 20, 30)) };
    let button = egui::Button::new(egui::RichText::new(label).color(egui::Color32::WHITE)).fill(color).min_size(egui::vec2(320.0, 28.0));
    if ui.add(button).on_hover_text("Writes what is sent to an MP4 in your Videos folder").clicked() {
        commands.push(AppCommand::Record(!running));
    }
    let Some((target, path)) = recording else { return };
    let seconds = target.uptime.as_secs();
    let name = path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
    match &target.state {
        PublishState::Live => ui.label(
            egui::RichText::new(format!("REC {:02}:{:02}:{:02}  {name}", seconds / 3600, seconds / 60 % 60, seconds % 60))
                .color(egui::Color32::from_rgb(220, 40, 50)),
        ),
        PublishState::Stopped => ui.label(format!("Recording saved: {}", path.display())),
        PublishState::Failed(failure) => ui.colored_label(ui.visuals().error_fg_color, capitalized(&failure.to_string())),
        _ => ui.label("Starting the recording…"),
    };
}

pub(super) fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map(|first| first.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

/// What the button (and its shortcut) asks for.
pub fn toggle(live: bool) -> AppCommand {
    if live { AppCommand::EndStream } else { AppCommand::GoLive }
}
