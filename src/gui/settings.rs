//! What the app remembers between runs.

use serde::{Deserialize, Serialize};

use crate::engine::{AudioChoice, VideoChoice};

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

/// The video source; saved as `test` or the camera's index.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum CameraSetting {
    TestPattern,
    Device(String),
}

impl CameraSetting {
    pub fn as_str(&self) -> &str {
        match self {
            CameraSetting::TestPattern => "test",
            CameraSetting::Device(id) => id,
        }
    }

    pub fn choice(&self) -> VideoChoice {
        match self {
            CameraSetting::TestPattern => VideoChoice::TestPattern,
            CameraSetting::Device(id) => VideoChoice::Camera(Some(id.clone())),
        }
    }
}

impl From<String> for CameraSetting {
    fn from(saved: String) -> CameraSetting {
        if saved == "test" { CameraSetting::TestPattern } else { CameraSetting::Device(saved) }
    }
}

impl From<CameraSetting> for String {
    fn from(setting: CameraSetting) -> String {
        setting.as_str().to_string()
    }
}

/// The audio source; saved as `tone`, `none` or the microphone's name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum MicrophoneSetting {
    TestTone,
    Off,
    Device(String),
}

impl MicrophoneSetting {
    pub fn as_str(&self) -> &str {
        match self {
            MicrophoneSetting::TestTone => "tone",
            MicrophoneSetting::Off => "none",
            MicrophoneSetting::Device(name) => name,
        }
    }

    pub fn choice(&self) -> AudioChoice {
        match self {
            MicrophoneSetting::TestTone => AudioChoice::TestTone,
            MicrophoneSetting::Off => AudioChoice::None,
            MicrophoneSetting::Device(name) => AudioChoice::Microphone(Some(name.clone())),
        }
    }
}

impl From<String> for MicrophoneSetting {
    fn from(saved: String) -> MicrophoneSetting {
        match saved.as_str() {
            "tone" => MicrophoneSetting::TestTone,
            "none" => MicrophoneSetting::Off,
            _ => MicrophoneSetting::Device(saved),
        }
    }
}

impl From<MicrophoneSetting> for String {
    fn from(setting: MicrophoneSetting) -> String {
        setting.as_str().to_string()
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub camera: CameraSetting,
    pub microphone: MicrophoneSetting,
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
            camera: CameraSetting::TestPattern,
            microphone: MicrophoneSetting::TestTone,
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
