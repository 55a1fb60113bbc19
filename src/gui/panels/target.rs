//! Where to publish: the local server over RTMP or SRT, or a custom URL.

use eframe::egui;

use super::AppView;
use crate::gui::settings::{Settings, TargetField, TargetKind};

pub struct TargetPanel;

impl TargetPanel {
    pub fn ui(&mut self, ui: &mut egui::Ui, view: &AppView<'_>, settings: &mut Settings) {
        ui.heading("Target");
        ui.add_enabled_ui(!view.live, |ui| {
            for kind in TargetKind::ALL {
                ui.radio_value(&mut settings.target, kind, kind.label());
            }
            let problem = view.field_error;
            let field = |ui: &mut egui::Ui, which: TargetField, label: &str, hint: &str, value: &mut String, secret: bool| {
                ui.horizontal(|ui| {
                    let label = ui.label(label);
                    ui.add(egui::TextEdit::singleline(value).password(secret).hint_text(hint)).labelled_by(label.id);
                });
                if let Some((_, message)) = problem.filter(|(field, _)| *field == which) {
                    ui.colored_label(ui.visuals().error_fg_color, message.to_string());
                }
            };
            match settings.target {
                TargetKind::LocalRtmp | TargetKind::LocalSrt => field(ui, TargetField::StreamKey, "Stream key", "any name", &mut settings.local_key, false),
                TargetKind::CustomRtmp => {
                    field(ui, TargetField::Url, "URL", "rtmp://live.example.com/app", &mut settings.custom_rtmp_url, false);
                    field(ui, TargetField::StreamKey, "Stream key", "from your platform's dashboard", &mut settings.custom_rtmp_key, true);
                }
                TargetKind::CustomSrt => {
                    field(ui, TargetField::Url, "URL", "srt://example.com:9000", &mut settings.custom_srt_url, false);
                    field(ui, TargetField::StreamId, "Stream id", "publish:live/KEY", &mut settings.custom_srt_stream_id, true);
                    field(ui, TargetField::Passphrase, "Passphrase", "10 to 79 characters, or none", &mut settings.custom_srt_passphrase, true);
                }
            }
        });
    }
}
