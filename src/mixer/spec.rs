//! What the mixer takes in: inputs and their settings, as the CLI writes
//! them (`mic:NAME,gain=-6,denoise`) and the app persists them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum InputSource {
    /// The default input (a microphone).
    DefaultInput,
    /// A sound server source by its name (`pactl list short sources`): a
    /// microphone, or the monitor of an output (`desktop:NAME.monitor`).
    Source(String),
    /// The desktop's sound: the monitor of the default output.
    Desktop,
    /// A microphone by the name the app's device list shows it with.
    Microphone(String),
    /// The test tone.
    Tone,
}

/// An input's settings; all of them change live.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InputSettings {
    pub gain_db: f32,
    pub muted: bool,
    /// RNNoise noise suppression.
    pub denoise: bool,
    /// Below this level (dBFS RMS) the input is silenced.
    pub gate_db: Option<f32>,
}

impl Default for InputSettings {
    fn default() -> InputSettings {
        InputSettings { gain_db: 0.0, muted: false, denoise: false, gate_db: None }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InputSpec {
    pub source: InputSource,
    pub settings: InputSettings,
}

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("mixer input \"{input}\": {why}")]
pub struct InputSpecError {
    input: String,
    why: String,
}

impl FromStr for InputSpec {
    type Err = InputSpecError;

    fn from_str(text: &str) -> Result<InputSpec, InputSpecError> {
        let fail = |why: &str| InputSpecError { input: text.into(), why: why.into() };
        let mut parts = text.split(',');
        let inputs = "inputs are mic, mic:NAME, desktop, desktop:NAME and tone";
        let first = parts.next().unwrap_or_default();
        let source = match first.split_once(':') {
            None => match first {
                "mic" => InputSource::DefaultInput,
                "desktop" => InputSource::Desktop,
                "tone" => InputSource::Tone,
                _ => return Err(fail(inputs)),
            },
            Some(("mic" | "desktop", name)) if !name.is_empty() => InputSource::Source(name.to_string()),
            Some(_) => return Err(fail(inputs)),
        };
        let mut settings = InputSettings::default();
        for option in parts {
            let number = |value: &str| value.trim_end_matches("dB").parse::<f32>().map_err(|_| fail(&format!("\"{value}\" is not a number of dB")));
            match option.split_once('=') {
                Some(("gain", value)) => settings.gain_db = number(value)?.clamp(-60.0, 24.0),
                Some(("gate", value)) => settings.gate_db = Some(number(value)?.clamp(-90.0, 0.0)),
                None if option == "mute" => settings.muted = true,
                None if option == "denoise" => settings.denoise = true,
                _ => return Err(fail(&format!("unknown option \"{option}\" (gain=DB, gate=DB, mute, denoise)"))),
            }
        }
        Ok(InputSpec { source, settings })
    }
}

impl fmt::Display for InputSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InputSource::DefaultInput => write!(f, "microphone"),
            InputSource::Source(name) | InputSource::Microphone(name) => write!(f, "{name}"),
            InputSource::Desktop => write!(f, "desktop sound"),
            InputSource::Tone => write!(f, "test tone"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_read_as_the_cli_writes_them() {
        let spec: InputSpec = "desktop:onair_a.monitor,gain=-6,denoise,gate=-50".parse().unwrap();
        assert_eq!(spec.source, InputSource::Source("onair_a.monitor".into()));
        assert_eq!(spec.settings, InputSettings { gain_db: -6.0, muted: false, denoise: true, gate_db: Some(-50.0) });
        assert_eq!("mic".parse::<InputSpec>().unwrap().source, InputSource::DefaultInput);
        assert_eq!(
            "desktop,mute".parse::<InputSpec>().unwrap(),
            InputSpec { source: InputSource::Desktop, settings: InputSettings { muted: true, ..InputSettings::default() } }
        );
        assert_eq!("tone".parse::<InputSpec>().unwrap().source, InputSource::Tone);
        for bad in ["speaker", "mic:", "tone,gain=loud", "tone,louder"] {
            assert!(bad.parse::<InputSpec>().is_err(), "{bad}");
        }
    }
}
