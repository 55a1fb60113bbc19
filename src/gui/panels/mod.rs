//! One struct per panel, each with its own `ui()`, as egui's demo app has
//! them: a panel reads the app's [`AppView`], edits the settings it shows,
//! and asks for anything else with an [`AppCommand`](super::command::AppCommand).

pub mod knob;
pub mod live;
pub mod preview;
pub mod server_bar;
pub mod sources;
pub mod stats;
pub mod target;

use super::app::ServerInfo;
use crate::engine::status::Status;
use crate::gui::settings::{TargetField, TargetProblem};

/// What every panel may read of the app this frame.
pub struct AppView<'a> {
    pub status: &'a Status,
    pub live: bool,
    pub server: Option<&'a ServerInfo>,
    /// Why the last Go Live could not start.
    pub error: Option<&'a str>,
    /// The target field that kept it from starting.
    pub field_error: Option<(TargetField, TargetProblem)>,
    /// Why the microphone cannot be read before Go Live, if it cannot.
    pub meter_error: Option<&'a str>,
    /// The recording's place among the stream's targets, and its file, while one was started.
    pub recording: Option<(usize, &'a std::path::Path)>,
}
