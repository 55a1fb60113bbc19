//! What the app remembers between runs.

use serde::{Deserialize, Serialize};

use super::target_setting::{TargetId, TargetKind, TargetSetting};
use crate::engine::{AudioChoice, VideoChoice};

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
    /// Where Go Live sends the one encode, in the order shown.
    pub targets: Vec<TargetSetting>,
    /// The stream key on the local server (its preview and page follow it).
    pub local_key: String,
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
            targets: vec![TargetSetting::new(TargetId(1), TargetKind::LocalRtmp)],
            local_key: "studio".into(),
            knob: 3,
            // Transcoding costs this machine CPU beside the encoder: the streamer opts in.
            ladder: false,
            recording_folder: None,
        }
    }
}

impl Settings {
    /// A target of `kind` added to the end of the list, with an id no other has.
    pub fn add_target(&mut self, kind: TargetKind) -> TargetId {
        let id = TargetId(self.targets.iter().map(|t| t.id.0).max().unwrap_or(0) + 1);
        let mut target = TargetSetting::new(id, kind);
        if self.targets.iter().any(|t| t.name == target.name) {
            target.name = format!("{} {}", target.name, self.targets.len() + 1);
        }
        self.targets.push(target);
        id
    }

    pub fn target(&self, id: TargetId) -> Option<&TargetSetting> {
        self.targets.iter().find(|t| t.id == id)
    }

    pub fn target_mut(&mut self, id: TargetId) -> Option<&mut TargetSetting> {
        self.targets.iter_mut().find(|t| t.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn added_targets_get_ids_and_names_no_other_has() {
        let mut settings = Settings::default();
        let first = settings.add_target(TargetKind::CustomRtmp);
        let second = settings.add_target(TargetKind::CustomRtmp);
        assert_ne!(first, second);
        assert_ne!(settings.target(first).unwrap().name, settings.target(second).unwrap().name);
        settings.targets.retain(|t| t.id != first);
        let third = settings.add_target(TargetKind::CustomSrt);
        assert!(settings.targets.iter().filter(|t| t.id == third).count() == 1);
    }
}
