//! Live numbers and the sent-bitrate graph.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use eframe::egui;

use crate::engine::status::Status;

pub struct StatsPanel {
    /// (seconds since the app started, kbit/s), the last minute.
    bitrate_history: VecDeque<(f64, f64)>,
    started: Instant,
}

impl Default for StatsPanel {
    fn default() -> StatsPanel {
        StatsPanel { bitrate_history: VecDeque::new(), started: Instant::now() }
    }
}

impl StatsPanel {
    pub fn clear(&mut self) {
        self.bitrate_history.clear();
    }

    /// Adds the newest status to the graph.
    pub fn record(&mut self, status: &Status) {
        let t = self.started.elapsed().as_secs_f64();
        self.bitrate_history.push_back((t, status.sent_kbps));
        while self.bitrate_history.front().is_some_and(|(at, _)| t - at > 60.0) {
            self.bitrate_history.pop_front();
        }
    }

    pub fn ui(&mut self, ui: &mut egui::Ui, s: &Status) {
        ui.heading("Stats");
        egui::Grid::new("numbers").num_columns(4).spacing([24.0, 4.0]).show(ui, |ui| {
            ui.label("Bitrate");
            ui.strong(format!("{:.0} kbit/s", s.sent_kbps));
            ui.label("Frame rate");
            ui.strong(format!("{:.1} fps", s.fps));
            ui.end_row();
            ui.label("Dropped frames");
            ui.strong(s.dropped_frames.to_string());
            ui.label("Encode time");
            ui.strong(format!("{:.1} ms", s.encode_ms));
            ui.end_row();
            ui.label("Queue");
            ui.strong(s.queue_depth.to_string());
            ui.label("Process CPU");
            ui.strong(format!("{:.0} %", process_cpu_percent()));
            ui.end_row();
        });
        let points: egui_plot::PlotPoints = self.bitrate_history.iter().map(|&(t, kbps)| [t, kbps]).collect();
        egui_plot::Plot::new("bitrate").height(160.0).include_y(0.0).allow_scroll(false).allow_drag(false).y_axis_label("kbit/s").show(ui, |plot| {
            plot.line(egui_plot::Line::new("sent", points));
        });
    }
}

/// CPU use of this process, from /proc, refreshed at most every half second.
fn process_cpu_percent() -> f64 {
    use std::sync::Mutex;
    static LAST: Mutex<Option<(Instant, f64, f64)>> = Mutex::new(None);
    let mut last = LAST.lock().unwrap_or_else(|p| p.into_inner());
    let now = Instant::now();
    if let Some((then, _, percent)) = *last
        && now.duration_since(then) < Duration::from_millis(500)
    {
        return percent;
    }
    let seconds = std::fs::read_to_string("/proc/self/stat").ok().and_then(|stat| {
        let fields: Vec<&str> = stat.rsplit_once(") ")?.1.split_whitespace().collect();
        Some((fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?) / 100.0)
    });
    let Some(seconds) = seconds else { return 0.0 };
    let percent = match *last {
        Some((then, before, _)) => (seconds - before) / now.duration_since(then).as_secs_f64() * 100.0,
        None => 0.0,
    };
    *last = Some((now, seconds, percent));
    percent
}
