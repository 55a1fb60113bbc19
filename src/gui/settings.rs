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
    /// Where Record puts its files; None: the Videos folder.
    pub recording_folder: Option<std::path::PathBuf>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            camera: CameraSetting::TestPattern,
            microphone: MicrophoneSetting::TestTone,
            target: TargetKind::LocalRtmp,
            local_key: "studio".into(),
            // Empty: the fields show what belongs there as a hint, not as a value.
            custom_rtmp_url: String::new(),
            custom_rtmp_key: String::new(),
            custom_srt_url: String::new(),
            custom_srt_stream_id: String::new(),
            custom_srt_passphrase: String::new(),
            knob: 3,
            // Transcoding costs this machine CPU beside the encoder: the streamer opts in.
            ladder: false,
            recording_folder: None,
        }
    }
}

/// A target field the streamer fills in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetField {
    StreamKey,
    Url,
    StreamId,
    Passphrase,
}

/// What is wrong with a target field, in the words shown next to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TargetProblem {
    #[error("The stream key is empty: paste it from your platform's dashboard")]
    EmptyKey,
    #[error("The server URL is empty: paste it from your platform's dashboard")]
    EmptyUrl,
    #[error("An RTMP server URL starts with rtmp:// or rtmps:// (rtmp://HOST[:PORT]/APP)")]
    NotRtmp,
    #[error("An SRT server URL starts with srt:// (srt://HOST:PORT)")]
    NotSrt,
    #[error("The stream key goes in its own field, not in the URL's ?")]
    QueryInUrl,
    #[error("The stream id is empty: the server needs it to know your stream")]
    EmptyStreamId,
    #[error("The passphrase must be 10 to 79 characters, or empty for none")]
    PassphraseLength,
}

impl Settings {
    /// The first target field that cannot work, before anything connects.
    pub fn target_problem(&self) -> Option<(TargetField, TargetProblem)> {
        let url = |text: &str, schemes: &[&str], wrong: TargetProblem| {
            let text = text.trim();
            if text.is_empty() {
                Some((TargetField::Url, TargetProblem::EmptyUrl))
            } else if !schemes.iter().any(|scheme| text.to_ascii_lowercase().starts_with(scheme)) {
                Some((TargetField::Url, wrong))
            } else {
                None
            }
        };
        match self.target {
            TargetKind::LocalRtmp | TargetKind::LocalSrt => self.local_key.trim().is_empty().then_some((TargetField::StreamKey, TargetProblem::EmptyKey)),
            TargetKind::CustomRtmp => url(&self.custom_rtmp_url, &["rtmp://", "rtmps://"], TargetProblem::NotRtmp)
                .or_else(|| self.custom_rtmp_url.contains('?').then_some((TargetField::Url, TargetProblem::QueryInUrl)))
                .or_else(|| self.custom_rtmp_key.trim().is_empty().then_some((TargetField::StreamKey, TargetProblem::EmptyKey))),
            TargetKind::CustomSrt => url(&self.custom_srt_url, &["srt://"], TargetProblem::NotSrt)
                .or_else(|| self.custom_srt_stream_id.trim().is_empty().then_some((TargetField::StreamId, TargetProblem::EmptyStreamId)))
                .or_else(|| {
                    let length = self.custom_srt_passphrase.chars().count();
                    (length != 0 && !(10..=79).contains(&length)).then_some((TargetField::Passphrase, TargetProblem::PassphraseLength))
                }),
        }
    }
}

#[cfg(test)]
mod target_tests {
    use super::*;

    #[test]
    fn each_target_field_that_cannot_work_is_named() {
        let custom =
            |url: &str, key: &str| Settings { target: TargetKind::CustomRtmp, custom_rtmp_url: url.into(), custom_rtmp_key: key.into(), ..Settings::default() };
        assert_eq!(custom("rtmp://live.example.com/app", "").target_problem(), Some((TargetField::StreamKey, TargetProblem::EmptyKey)));
        assert_eq!(custom("", "abc").target_problem(), Some((TargetField::Url, TargetProblem::EmptyUrl)));
        assert_eq!(custom("http://x/app", "abc").target_problem(), Some((TargetField::Url, TargetProblem::NotRtmp)));
        assert_eq!(custom("rtmp://x/app", "abc").target_problem(), None);
        assert_eq!(custom("rtmps://x/app", "abc").target_problem(), None);
        let srt = |id: &str, passphrase: &str| Settings {
            target: TargetKind::CustomSrt,
            custom_srt_url: "srt://x:9000".into(),
            custom_srt_stream_id: id.into(),
            custom_srt_passphrase: passphrase.into(),
            ..Settings::default()
        };
        assert_eq!(srt("", "").target_problem(), Some((TargetField::StreamId, TargetProblem::EmptyStreamId)));
        assert_eq!(srt("publish:live/k", "short").target_problem(), Some((TargetField::Passphrase, TargetProblem::PassphraseLength)));
        assert_eq!(srt("publish:live/k", "").target_problem(), None);
        assert_eq!(Settings { local_key: " ".into(), ..Settings::default() }.target_problem(), Some((TargetField::StreamKey, TargetProblem::EmptyKey)));
    }
}
