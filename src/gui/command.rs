//! What the panels ask of the app. Panels read the app's state and return
//! commands; the app alone starts and stops the engine, the preview player
//! and changes the bundled server, each through its own command channel.

#[derive(Clone, Debug, PartialEq, Eq)]
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
}
