//! What the panels ask of the app. Panels read the app's state and return
//! commands; the app alone starts and stops the engine, the preview player
//! and changes the bundled server, each through its own command channel.

use super::target_setting::{TargetId, TargetKind};
use crate::mixer::{InputSettings, InputSource};
use crate::scene::SourceSpec;

#[derive(Clone, Debug, PartialEq)]
pub enum AppCommand {
    GoLive,
    EndStream,
    /// A new knob position (1..=presets); applied live when streaming.
    SetQuality(u8),
    /// The bundled server's ladder for the next Go Live.
    SetLadder(bool),
    /// Preview another rendition of the local server's output.
    PreviewRendition(String),
    /// Silence the preview's sound, or bring it back.
    MutePreview(bool),
    /// While live: record what is sent to a file, or stop recording.
    Record(bool),
    /// A target's switch: before Go Live it says whether Go Live starts it;
    /// while live it starts or stops that target alone.
    SwitchTarget(TargetId, bool),
    /// Start a target that failed while the others stay live.
    RetryTarget(TargetId),
    AddTarget(TargetKind),
    /// Forget a target that is not running, and its keys.
    RemoveTarget(TargetId),
    /// Compose scenes instead of sending the camera (before Go Live).
    UseScenes(bool),
    /// Put scene N on air (at once while live).
    ShowScene(usize),
    AddScene,
    RemoveScene(usize),
    SceneFade(bool),
    /// A layer on top of the scene on air.
    AddLayer(SourceSpec),
    RemoveLayer(usize),
    /// One place up (drawn later, over more) or down.
    MoveLayer {
        index: usize,
        up: bool,
    },
    ShowLayer(usize, bool),
    /// A layer dragged or resized on the program preview, in canvas pixels;
    /// `size` None keeps a layer drawn at its own size so.
    PlaceLayer {
        index: usize,
        x: i32,
        y: i32,
        size: Option<(u32, u32)>,
    },
    /// Mixer input N's gain, mute, suppression and gate (live too).
    SetInput(usize, InputSettings),
    /// Another input in the mix (before Go Live).
    AddInput(InputSource),
    RemoveInput(usize),
}
