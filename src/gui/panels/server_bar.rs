//! The bundled server's addresses, and its ladder switch.

use eframe::egui;

use super::AppView;
use crate::gui::command::AppCommand;
use crate::gui::settings::Settings;

pub struct ServerBar;

impl ServerBar {
    pub fn ui(&mut self, ui: &mut egui::Ui, view: &AppView<'_>, settings: &mut Settings, commands: &mut Vec<AppCommand>) {
        ui.horizontal_wrapped(|ui| {
            ui.strong("Bundled server");
            match view.server {
                Some(server) => {
                    copyable(ui, "RTMP", &server.rtmp, &server.rtmp, "Copy the RTMP server URL (in OBS: Settings, Stream, Custom; any stream key)");
                    let srt = format!("{}?streamid=publish:live/{}", server.srt, settings.local_key);
                    copyable(ui, "SRT", &server.srt, &srt, "Copy the SRT URL with the stream key set below (in OBS: Settings, Stream, Custom, as the server)");
                    ui.hyperlink_to(format!("HTTP {}", server.http), &server.http);
                    if let Some(notice) = &server.notice {
                        ui.colored_label(egui::Color32::from_rgb(200, 140, 0), notice);
                    }
                    if server.control.is_some() {
                        let checkbox = egui::Checkbox::new(&mut settings.ladder, "Ladder for viewers");
                        let hint = "Also serve lower renditions (480p and 360p under a 720p source) for viewers on weak connections. \
                                    Transcoding costs this computer up to half a core; it starts with the next Go Live.";
                        if ui.add_enabled(!view.live, checkbox).on_hover_text(hint).on_disabled_hover_text(hint).changed() {
                            commands.push(AppCommand::SetLadder(settings.ladder));
                        }
                    }
                }
                None => {
                    ui.colored_label(egui::Color32::RED, "not running: publish to a custom target");
                }
            }
        });
    }
}

/// An address with a button that puts `copied` on the clipboard.
fn copyable(ui: &mut egui::Ui, protocol: &str, shown: &str, copied: &str, hint: &str) {
    ui.label(format!("{protocol} {shown}"));
    if ui.small_button("Copy").on_hover_text(hint).clicked() {
        ui.ctx().copy_text(copied.to_string());
    }
}
