//! Where the stream goes: a list of targets, each with its name, an on/off
//! switch, its own live state and numbers, and its settings behind Edit.
//! While live, a switch starts or stops its target alone.

use eframe::egui;

use super::{AppView, TargetRun};
use crate::gui::command::AppCommand;
use crate::gui::settings::Settings;
use crate::gui::target_setting::{TargetField, TargetId, TargetKind, TargetSetting, next_id};
use crate::publish::shared::PublishState;

#[derive(Default)]
pub struct TargetPanel {
    /// The target whose settings are open (one at a time, so each field's label names one field).
    editing: Option<TargetId>,
    /// Stream keys and passphrases shown in the clear while editing.
    reveal: bool,
}

impl TargetPanel {
    pub fn ui(&mut self, ui: &mut egui::Ui, view: &AppView<'_>, settings: &mut Settings, commands: &mut Vec<AppCommand>) {
        ui.heading("Targets");
        // A field that keeps a target from starting is shown open.
        if let Some((id, field, _)) = view.field_error
            && field != TargetField::Enabled
        {
            self.editing = Some(id);
        }
        let Settings { targets, local_key, .. } = settings;
        for target in targets.iter_mut() {
            ui.push_id(target.id, |ui| self.row(ui, view, target, local_key, commands));
        }
        ui.menu_button("Add target", |ui| {
            for kind in TargetKind::ALL {
                if ui.button(kind.label()).clicked() {
                    commands.push(AppCommand::AddTarget(kind));
                    // The new target opens for its URL and key.
                    self.editing = Some(next_id(targets));
                    ui.close();
                }
            }
        });
    }

    fn row(&mut self, ui: &mut egui::Ui, view: &AppView<'_>, target: &mut TargetSetting, local_key: &mut String, commands: &mut Vec<AppCommand>) {
        let run = view.target_run(target.id);
        let editing = self.editing == Some(target.id);
        ui.horizontal(|ui| {
            let mut on = target.enabled;
            let hint = if view.live { "Start or stop this target alone; the others stay live" } else { "Go Live starts every target that is on" };
            if ui.checkbox(&mut on, target.name.as_str()).on_hover_text(hint).changed() {
                commands.push(AppCommand::SwitchTarget(target.id, on));
            }
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                if ui.small_button(if editing { "Done" } else { "Edit" }).on_hover_text(format!("{}'s settings", target.name)).clicked() {
                    self.editing = if editing { None } else { Some(target.id) };
                }
                let (text, color) = state_words(ui, &run, target.enabled);
                ui.label(egui::RichText::new(text).color(color).strong());
            });
        });
        match &run {
            TargetRun::Running(status) => {
                let link = status.link.map_or(String::new(), |link| format!(" · rtt {:.0} ms", link.rtt_ms));
                ui.label(format!(
                    "{} · {:.0} kbit/s · dropped {} ({:.1} %){link}",
                    target.kind.protocol(),
                    status.sent_kbps,
                    status.dropped_frames,
                    status.dropped_percent
                ));
                if let PublishState::Reconnecting { last_error, .. } = &status.state {
                    ui.colored_label(ui.visuals().warn_fg_color, last_error.as_str());
                }
            }
            TargetRun::Ended(status) => {
                // Once the stream is over the live panel says why, when this was the reason.
                if let PublishState::Failed(failure) = &status.state
                    && (view.live || status.state != view.status.state)
                {
                    ui.colored_label(ui.visuals().error_fg_color, super::live::capitalized(&failure.to_string()));
                }
                if view.live && target.enabled && ui.small_button("Retry").on_hover_text(format!("Start {} again", target.name)).clicked() {
                    commands.push(AppCommand::RetryTarget(target.id));
                }
            }
            TargetRun::Off | TargetRun::Starting => {}
        }
        if let Some((_, TargetField::Enabled, problem)) = view.field_error.filter(|(id, _, _)| *id == target.id) {
            ui.colored_label(ui.visuals().error_fg_color, problem.to_string());
        }
        if editing {
            let running = matches!(run, TargetRun::Running(_) | TargetRun::Starting);
            ui.indent("settings", |ui| {
                ui.add_enabled_ui(!running, |ui| self.fields(ui, view, target, local_key));
                ui.horizontal(|ui| {
                    if !target.kind.is_local() {
                        ui.checkbox(&mut self.reveal, "Show keys");
                    }
                    let remove = ui.add_enabled(!running, egui::Button::new("Remove"));
                    if remove.on_hover_text(format!("Remove {} and forget its keys", target.name)).clicked() {
                        commands.push(AppCommand::RemoveTarget(target.id));
                        self.editing = None;
                    }
                });
                if running {
                    ui.weak("Stop this target to change it.");
                }
            });
        }
        ui.separator();
    }

    fn fields(&mut self, ui: &mut egui::Ui, view: &AppView<'_>, target: &mut TargetSetting, local_key: &mut String) {
        let problem = view.field_error.filter(|(id, _, _)| *id == target.id).map(|(_, field, problem)| (field, problem));
        let reveal = self.reveal;
        let field = |ui: &mut egui::Ui, which: Option<TargetField>, label: &str, hint: &str, value: &mut String, secret: bool| {
            ui.horizontal(|ui| {
                let label = ui.label(label);
                ui.add(egui::TextEdit::singleline(value).password(secret && !reveal).hint_text(hint)).labelled_by(label.id);
            });
            if let Some((_, message)) = problem.filter(|(field, _)| Some(*field) == which) {
                ui.colored_label(ui.visuals().error_fg_color, message.to_string());
            }
        };
        field(ui, None, "Name", "what you call it", &mut target.name, false);
        egui::ComboBox::from_label("Kind").selected_text(target.kind.label()).show_ui(ui, |ui| {
            for kind in TargetKind::ALL {
                ui.selectable_value(&mut target.kind, kind, kind.label());
            }
        });
        let secrets = &mut target.secrets;
        match target.kind {
            TargetKind::LocalRtmp | TargetKind::LocalSrt | TargetKind::LocalWebRtc => {
                field(ui, Some(TargetField::StreamKey), "Stream key", "any name", local_key, false)
            }
            TargetKind::CustomWhip => {
                field(ui, Some(TargetField::Url), "URL", "https://whip.example.com/endpoint", &mut target.url, false);
                field(ui, Some(TargetField::StreamKey), "Bearer token", "if the endpoint wants one", &mut secrets.key, true);
            }
            TargetKind::CustomRtmp => {
                field(ui, Some(TargetField::Url), "URL", "rtmp://live.example.com/app", &mut target.url, false);
                field(ui, Some(TargetField::StreamKey), "Stream key", "from your platform's dashboard", &mut secrets.key, true);
            }
            TargetKind::CustomSrt => {
                field(ui, Some(TargetField::Url), "URL", "srt://example.com:9000", &mut target.url, false);
                field(ui, Some(TargetField::StreamId), "Stream id", "publish:live/KEY", &mut secrets.key, true);
                field(ui, Some(TargetField::Passphrase), "Passphrase", "10 to 79 characters, or none", &mut secrets.passphrase, true);
            }
        }
    }
}

/// A target's state in a word or two, and its colour.
fn state_words(ui: &egui::Ui, run: &TargetRun<'_>, enabled: bool) -> (String, egui::Color32) {
    let visuals = ui.visuals();
    match run {
        TargetRun::Off if enabled => ("On".into(), visuals.text_color()),
        TargetRun::Off => ("Off".into(), egui::Color32::GRAY),
        TargetRun::Starting => ("Connecting…".into(), visuals.text_color()),
        TargetRun::Running(status) | TargetRun::Ended(status) => match &status.state {
            PublishState::Live => {
                let seconds = status.uptime.as_secs();
                (format!("LIVE {:02}:{:02}:{:02}", seconds / 3600, seconds / 60 % 60, seconds % 60), egui::Color32::from_rgb(220, 40, 50))
            }
            PublishState::Reconnecting { attempt, .. } => (format!("Reconnecting (attempt {attempt})"), visuals.warn_fg_color),
            PublishState::Connecting | PublishState::Idle => ("Connecting…".into(), visuals.text_color()),
            PublishState::Stopped => ("Stopped".into(), egui::Color32::GRAY),
            PublishState::Failed(_) => ("Failed".into(), visuals.error_fg_color),
        },
    }
}
