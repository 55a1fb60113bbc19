//! What the app remembers between runs.

use serde::{Deserialize, Serialize};

use super::target_setting::{TargetId, TargetKind, TargetSecrets, TargetSetting};
use crate::engine::{AudioChoice, VideoChoice};
use crate::mixer::{InputSettings, InputSource, InputSpec};
use crate::scene::{Scene, SceneCollection};

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

    /// What the mixer reads for it; None for no microphone.
    pub fn input(&self) -> Option<InputSource> {
        match self {
            MicrophoneSetting::TestTone => Some(InputSource::Tone),
            MicrophoneSetting::Off => None,
            MicrophoneSetting::Device(name) => Some(InputSource::Microphone(name.clone())),
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

/// Where one of the mixer's inputs lives in the settings.
enum InputSlot {
    Microphone,
    Extra(usize),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub camera: CameraSetting,
    pub microphone: MicrophoneSetting,
    /// The microphone's channel in the mixer.
    pub microphone_settings: InputSettings,
    /// What the mixer sums with the microphone (the desktop's sound, more microphones).
    pub extra_inputs: Vec<InputSpec>,
    /// Where Go Live sends the one encode, in the order shown.
    pub targets: Vec<TargetSetting>,
    /// The stream key on the local server (its preview and page follow it).
    pub local_key: String,
    pub knob: u8,
    /// The bundled server transcodes a ladder below the source for viewers.
    pub ladder: bool,
    /// Where Record puts its files; None: the Videos folder.
    pub recording_folder: Option<std::path::PathBuf>,
    /// The picture is the scene on air, not the camera.
    pub use_scenes: bool,
    /// Scene switches fade instead of cutting.
    pub scene_fade: bool,
    /// Kept in its own TOML file (`gui/scene_store.rs`), the scene file's form.
    #[serde(skip, default = "SceneCollection::starter")]
    pub scenes: SceneCollection,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            camera: CameraSetting::TestPattern,
            microphone: MicrophoneSetting::TestTone,
            microphone_settings: InputSettings::default(),
            extra_inputs: Vec::new(),
            targets: vec![TargetSetting::new(TargetId(1), TargetKind::LocalRtmp)],
            local_key: "studio".into(),
            knob: 3,
            // Transcoding costs this machine CPU beside the encoder: the streamer opts in.
            ladder: false,
            recording_folder: None,
            use_scenes: false,
            scene_fade: false,
            scenes: SceneCollection::starter(),
        }
    }
}

impl Settings {
    /// The mixer's inputs in the order it shows them: the microphone, then the others.
    pub fn mix_inputs(&self) -> Vec<InputSpec> {
        let microphone = self.microphone.input().map(|source| InputSpec { source, settings: self.microphone_settings.clone() });
        microphone.into_iter().chain(self.extra_inputs.iter().cloned()).collect()
    }

    /// The sound Go Live sends: every input through the mixer, so each can change while live.
    pub fn audio_choice(&self) -> AudioChoice {
        let inputs = self.mix_inputs();
        if inputs.is_empty() { AudioChoice::None } else { AudioChoice::Mix(inputs) }
    }

    /// The scene the picture is, when scenes are on.
    pub fn scene_on_air(&self) -> Option<&Scene> {
        self.scenes.current_scene().filter(|_| self.use_scenes)
    }

    /// Where input `index` of [`Settings::mix_inputs`] is kept.
    fn input_slot(&self, index: usize) -> Option<InputSlot> {
        let extra = match (self.microphone.input().is_some(), index) {
            (true, 0) => return Some(InputSlot::Microphone),
            (true, n) => n - 1,
            (false, n) => n,
        };
        (extra < self.extra_inputs.len()).then_some(InputSlot::Extra(extra))
    }

    /// Input `index` of [`Settings::mix_inputs`]'s settings.
    pub fn input_settings_mut(&mut self, index: usize) -> Option<&mut InputSettings> {
        match self.input_slot(index)? {
            InputSlot::Microphone => Some(&mut self.microphone_settings),
            InputSlot::Extra(n) => Some(&mut self.extra_inputs[n].settings),
        }
    }

    /// Removes input `index` of [`Settings::mix_inputs`]: the microphone goes to None.
    pub fn remove_input(&mut self, index: usize) {
        match self.input_slot(index) {
            Some(InputSlot::Microphone) => self.microphone = MicrophoneSetting::Off,
            Some(InputSlot::Extra(n)) => drop(self.extra_inputs.remove(n)),
            None => {}
        }
    }

    /// A target of `kind` added to the end of the list, with an id no other has.
    pub fn add_target(&mut self, kind: TargetKind) -> TargetId {
        let id = super::target_setting::next_id(&self.targets);
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

/// The one target of settings saved before the target list, read from the
/// same stored settings. The list never writes these fields, so a stored
/// settings file is migrated once.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct LegacyTarget {
    target: LegacyKind,
    custom_rtmp_url: String,
    custom_rtmp_key: String,
    custom_srt_url: String,
    custom_srt_stream_id: String,
    custom_srt_passphrase: String,
}

/// The old `target` field (a plain enum: RON reads no `Option` without `Some(…)`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
enum LegacyKind {
    #[default]
    Unset,
    LocalRtmp,
    LocalSrt,
    CustomRtmp,
    CustomSrt,
}

impl LegacyTarget {
    /// Turns the old single target into the list's: the custom targets that
    /// were filled in, the one that was chosen on, the others off.
    pub fn migrate_into(self, settings: &mut Settings) {
        let chosen = match self.target {
            LegacyKind::Unset => return,
            LegacyKind::LocalRtmp => TargetKind::LocalRtmp,
            LegacyKind::LocalSrt => TargetKind::LocalSrt,
            LegacyKind::CustomRtmp => TargetKind::CustomRtmp,
            LegacyKind::CustomSrt => TargetKind::CustomSrt,
        };
        if let Some(local) = settings.targets.iter_mut().find(|t| t.kind.is_local()) {
            match chosen {
                kind if kind.is_local() => local.kind = kind,
                _ => local.enabled = false,
            }
        }
        let filled = [
            (TargetKind::CustomRtmp, self.custom_rtmp_url, self.custom_rtmp_key, String::new()),
            (TargetKind::CustomSrt, self.custom_srt_url, self.custom_srt_stream_id, self.custom_srt_passphrase),
        ];
        for (kind, url, key, passphrase) in filled {
            if url.trim().is_empty() && key.trim().is_empty() {
                continue;
            }
            let id = settings.add_target(kind);
            if let Some(target) = settings.target_mut(id) {
                target.enabled = kind == chosen;
                target.url = url;
                target.secrets = TargetSecrets { key, passphrase };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_single_target_saved_before_the_list_becomes_the_lists_targets() {
        let saved = r#"{"knob": 2, "target": "CustomRtmp", "custom_rtmp_url": "rtmp://live.example.com/app", "custom_rtmp_key": "sk_1",
                        "custom_srt_url": "srt://h:9000", "custom_srt_stream_id": "publish:live/k"}"#;
        let mut settings: Settings = serde_json::from_str(saved).unwrap();
        let legacy: LegacyTarget = serde_json::from_str(saved).unwrap();
        legacy.migrate_into(&mut settings);
        let on: Vec<_> = settings.targets.iter().map(|t| (t.kind, t.enabled)).collect();
        assert_eq!(on, [(TargetKind::LocalRtmp, false), (TargetKind::CustomRtmp, true), (TargetKind::CustomSrt, false)]);
        assert_eq!((settings.targets[1].url.as_str(), settings.targets[1].secrets.key.as_str()), ("rtmp://live.example.com/app", "sk_1"));
        assert_eq!(settings.targets[2].secrets.key, "publish:live/k");
        assert_eq!(settings.knob, 2);
        // Saved again, the list has no old fields: the next start migrates nothing.
        let again = serde_json::to_string(&settings).unwrap();
        assert!(!again.contains("custom_rtmp_key") && !again.contains("sk_1"), "{again}");
        let mut reread: Settings = serde_json::from_str(&again).unwrap();
        serde_json::from_str::<LegacyTarget>(&again).unwrap().migrate_into(&mut reread);
        assert_eq!(reread.targets.len(), 3);

        let local_srt = r#"{"target": "LocalSrt"}"#;
        let mut settings: Settings = serde_json::from_str(local_srt).unwrap();
        serde_json::from_str::<LegacyTarget>(local_srt).unwrap().migrate_into(&mut settings);
        assert_eq!(settings.targets.iter().map(|t| (t.kind, t.enabled)).collect::<Vec<_>>(), [(TargetKind::LocalSrt, true)]);
    }

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
