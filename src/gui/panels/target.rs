//! Where to publish: the local server over RTMP or SRT, or a custom URL.

use eframe::egui;

use super::AppView;
use crate::gui::settings::{Settings, TargetKind};

pub struct TargetPanel;

impl TargetPanel {
    pub fn ui(&mut self, ui: &mut egui::Ui, view: &AppView<'_>, settings: &mut Settings) {
        ui.heading("Target");
        ui.add_enabled_ui(!view.live, |ui| {
            for kind in TargetKind::ALL {
                ui.radio_value(&mut settings.target, kind, kind.label());
            }
            match settings.target {
                TargetKind::LocalRtmp | TargetKind::LocalSrt => field(ui, "Stream key", &mut settings.local_key, false),
                TargetKind::CustomRtmp => {
                    field(ui, "URL", &mut settings.custom_rtmp_url, false);
                    field(ui, "Stream key", &mut settings.custom_rtmp_key, true);
                }
                TargetKind::CustomSrt => {
                    field(ui, "URL", &mut settings.custom_srt_url, false);
                    field(ui, "Stream id", &mut settings.custom_srt_stream_id, true);
                    field(ui, "Passphrase", &mut settings.custom_srt_passphrase, true);
                }
            }
        });
    }
}

/// A labelled one-line field; secrets are masked.
fn field(ui: &mut egui::Ui, label: &str, value: &mut String, secret: bool) {
    ui.horizontal(|ui| {
        let label = ui.label(label);
        ui.add(egui::TextEdit::singleline(value).password(secret)).labelled_by(label.id);
    });
}
