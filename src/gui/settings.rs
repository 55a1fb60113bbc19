//! What the app remembers between runs.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TargetKind {
    LocalRtmp,
    LocalSrt,
    CustomRtmp,
    CustomSrt,
}

impl TargetKind {
    pub const ALL: [TargetKind; 4] = [TargetKind::LocalRtmp, TargetKind::LocalSrt, TargetKind::CustomRtmp, TargetKind::CustomSrt];

    pub fn label(self) -> &'static str {
        match self {
            TargetKind::LocalRtmp => "Local server over RTMP",
            TargetKind::LocalSrt => "Local server over SRT",
            TargetKind::CustomRtmp => "Custom RTMP",
            TargetKind::CustomSrt => "Custom SRT",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// "test" or a camera index.
    pub camera: String,
    /// "tone", "none" or a microphone name.
    pub microphone: String,
    pub target: TargetKind,
    pub local_key: String,
    pub custom_rtmp_url: String,
    pub custom_rtmp_key: String,
    pub custom_srt_url: String,
    pub custom_srt_stream_id: String,
    pub custom_srt_passphrase: String,
    pub knob: u8,
    /// The bundled server transcodes a ladder below the source for viewers.
    pub ladder: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            camera: "test".into(),
            microphone: "tone".into(),
            target: TargetKind::LocalRtmp,
            local_key: "studio".into(),
            custom_rtmp_url: "rtmp://live.example.com/app".into(),
            custom_rtmp_key: String::new(),
            custom_srt_url: "srt://example.com:9000".into(),
            custom_srt_stream_id: String::new(),
            custom_srt_passphrase: String::new(),
            knob: 3,
            // Transcoding costs this machine CPU beside the encoder: the streamer opts in.
            ladder: false,
        }
    }
}
