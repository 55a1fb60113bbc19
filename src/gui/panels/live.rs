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
            _ if !view.live => ("Go Live", egui::Color32::from_rgb(200, 30, 45)),
            PublishState::Connecting | PublishState::Idle => ("Connecting…", egui::Color32::from_rgb(120, 120, 120)),
            PublishState::Reconnecting { .. } => ("Reconnecting…", egui::Color32::from_rgb(200, 140, 0)),
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
            PublishState::Stopped { reason } => format!("Stopped: {reason}"),
            PublishState::Connecting => "Connecting…".into(),
            PublishState::Idle => "Ready".into(),
        };
        let state_color = match state {
            PublishState::Live => egui::Color32::from_rgb(220, 40, 50),
            PublishState::Stopped { .. } => egui::Color32::GRAY,
            _ => ui.visuals().text_color(),
        };
        ui.label(egui::RichText::new(state_line).strong().size(16.0).color(state_color));
        if let Some(error) = view.error {
            ui.colored_label(egui::Color32::RED, error);
        }
    }
}

/// What the button (and its shortcut) asks for.
pub fn toggle(live: bool) -> AppCommand {
    if live { AppCommand::EndStream } else { AppCommand::GoLive }
}
