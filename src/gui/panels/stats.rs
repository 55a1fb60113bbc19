//! Live numbers and the sent-bitrate graph.

use std::collections::VecDeque;

use eframe::egui;

use crate::engine::status::Status;

#[derive(Default)]
pub struct StatsPanel {
    /// (seconds since Go Live, kbit/s), the last minute.
    bitrate_history: VecDeque<(f64, f64)>,
}

impl StatsPanel {
    pub fn clear(&mut self) {
        self.bitrate_history.clear();
    }

    /// Adds the newest status to the graph.
    pub fn record(&mut self, status: &Status) {
        // The graph's time is the stream's: nothing before the first Live.
        if status.uptime.is_zero() {
            return;
        }
        let t = status.uptime.as_secs_f64();
        self.bitrate_history.push_back((t, status.sent_kbps));
        while self.bitrate_history.front().is_some_and(|(at, _)| t - at > 60.0) {
            self.bitrate_history.pop_front();
        }
    }

    pub fn ui(&mut self, ui: &mut egui::Ui, s: &Status) {
        ui.heading("Stats");
        egui::Grid::new("numbers").num_columns(4).spacing([24.0, 4.0]).show(ui, |ui| {
            ui.label("Bitrate");
            ui.strong(format!("{:.0} of {} kbit/s", s.sent_kbps, s.target_kbps));
            ui.label("Frame rate");
            ui.strong(format!("{:.1} fps", s.fps));
            ui.end_row();
            ui.label("Dropped frames");
            ui.strong(format!("{} ({:.1} %)", s.dropped_frames, s.dropped_percent));
            ui.label("Encode time");
            ui.strong(format!("{:.1} ms", s.encode_ms));
            ui.end_row();
            ui.label("Queue");
            ui.strong(format!("{} ms", s.queue_span.as_millis()));
            ui.label("Process CPU");
            ui.strong(format!("{:.0} %", s.cpu_percent));
            ui.end_row();
            if let Some(link) = s.link {
                ui.label("Round trip");
                ui.strong(format!("{:.0} ms", link.rtt_ms));
                ui.label("Packet loss");
                ui.strong(format!("{:.1} %", link.loss_percent));
                ui.end_row();
            }
        });
        let points: egui_plot::PlotPoints = self.bitrate_history.iter().map(|&(t, kbps)| [t, kbps]).collect();
        // The y axis spans the target whatever was sent, so it keeps its labels.
        let top = f64::from(s.target_kbps.max(100)) * 1.25;
        egui_plot::Plot::new("bitrate")
            .height(160.0)
            .include_y(0.0)
            .include_y(top)
            .include_x(0.0)
            .include_x(10.0)
            .allow_scroll(false)
            .allow_drag(false)
            .allow_zoom(false)
            .x_axis_label("seconds live")
            .y_axis_label("kbit/s")
            .show(ui, |plot| {
                plot.line(egui_plot::Line::new("sent", points));
            });
    }
}
