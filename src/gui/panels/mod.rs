//! One struct per panel, each with its own `ui()`, as egui's demo app has
//! them: a panel reads the app's [`AppView`], edits the settings it shows,
//! and asks for anything else with an [`AppCommand`](super::command::AppCommand).

pub mod knob;
pub mod layout_editor;
pub mod live;
pub mod mixer;
pub mod preview;
pub mod scenes;
pub mod server_bar;
pub mod sources;
pub mod stats;
pub mod target;

use super::app::{ServerInfo, Started, newest_recording, newest_start};
use crate::engine::status::{Status, TargetStatus};
use crate::gui::target_setting::{TargetField, TargetId, TargetProblem};

/// What every panel may read of the app this frame.
pub struct AppView<'a> {
    pub status: &'a Status,
    pub live: bool,
    pub server: Option<&'a ServerInfo>,
    /// Why the last Go Live could not start.
    pub error: Option<&'a str>,
    /// The target field that kept it (or one target) from starting.
    pub field_error: Option<(TargetId, TargetField, TargetProblem)>,
    /// Why the microphone cannot be read before Go Live, if it cannot.
    pub meter_error: Option<&'a str>,
    /// What each of the engine's targets is, in the order started.
    pub started: &'a [Started],
}

/// Where one of the streamer's targets is in this stream.
#[derive(Debug)]
pub enum TargetRun<'a> {
    /// Not started in this stream (or no stream).
    Off,
    /// Asked for; the engine has not reported it yet.
    Starting,
    Running(&'a TargetStatus),
    /// Stopped or failed; its last numbers.
    Ended(&'a TargetStatus),
}

impl AppView<'_> {
    pub fn target_run(&self, id: TargetId) -> TargetRun<'_> {
        let Some(index) = newest_start(self.started, id) else { return TargetRun::Off };
        match self.status.targets.get(index) {
            None if self.live => TargetRun::Starting,
            None => TargetRun::Off,
            Some(status) if status.state.is_over() => TargetRun::Ended(status),
            Some(status) => TargetRun::Running(status),
        }
    }

    /// The recording started during this stream: its place among the targets, and its file.
    pub fn recording(&self) -> Option<(usize, &std::path::Path)> {
        newest_recording(self.started)
    }
}
