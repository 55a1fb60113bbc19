//! The quality knob: a few coarse positions, each a full preset.
//!
//! Presets follow the big platforms' published encoder recommendations
//! (Twitch's and YouTube's live ingest tables) for H.264 + AAC-LC.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QualityPreset {
    pub position: u8,
    pub name: &'static str,
    pub width: usize,
    pub height: usize,
    pub fps: u32,
    pub video_kbps: u32,
    pub audio_kbps: u32,
}

pub const PRESETS: [QualityPreset; 5] = [
    QualityPreset { position: 1, name: "360p", width: 640, height: 360, fps: 30, video_kbps: 800, audio_kbps: 96 },
    QualityPreset { position: 2, name: "480p", width: 854, height: 480, fps: 30, video_kbps: 1_500, audio_kbps: 128 },
    QualityPreset { position: 3, name: "720p", width: 1280, height: 720, fps: 30, video_kbps: 3_000, audio_kbps: 128 },
    QualityPreset { position: 4, name: "720p60", width: 1280, height: 720, fps: 60, video_kbps: 4_500, audio_kbps: 160 },
    QualityPreset { position: 5, name: "1080p", width: 1920, height: 1080, fps: 30, video_kbps: 6_000, audio_kbps: 160 },
];

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KnobError {
    #[error("quality {position} does not exist; choose 1 to {presets}")]
    NoSuchPosition { position: u8, presets: usize },
    #[error("bitrate {0} kbit/s is outside 100..50000")]
    Bitrate(u32),
}

/// A knob position plus an optional exact video bitrate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QualityKnob {
    pub position: u8,
    pub bitrate_override_kbps: Option<u32>,
}

impl QualityKnob {
    pub const DEFAULT: QualityKnob = QualityKnob { position: 3, bitrate_override_kbps: None };

    pub fn new(position: u8, bitrate_override_kbps: Option<u32>) -> Result<QualityKnob, KnobError> {
        if !(1..=PRESETS.len() as u8).contains(&position) {
            return Err(KnobError::NoSuchPosition { position, presets: PRESETS.len() });
        }
        if let Some(kbps) = bitrate_override_kbps
            && !(100..=50_000).contains(&kbps)
        {
            return Err(KnobError::Bitrate(kbps));
        }
        Ok(QualityKnob { position, bitrate_override_kbps })
    }

    pub fn preset(&self) -> QualityPreset {
        PRESETS[usize::from(self.position.clamp(1, PRESETS.len() as u8) - 1)]
    }

    pub fn video_kbps(&self) -> u32 {
        self.bitrate_override_kbps.unwrap_or(self.preset().video_kbps)
    }

    /// Width and height even, as I420 needs.
    pub fn size(&self) -> (usize, usize) {
        let preset = self.preset();
        (preset.width & !1, preset.height & !1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_and_overrides() {
        assert_eq!(QualityKnob::new(5, None).unwrap().size(), (1920, 1080));
        assert_eq!(QualityKnob::new(2, None).unwrap().size(), (854, 480));
        assert_eq!(QualityKnob::new(3, Some(2000)).unwrap().video_kbps(), 2000);
        assert!(QualityKnob::new(0, None).is_err());
        assert!(QualityKnob::new(6, None).is_err());
        assert!(QualityKnob::new(3, Some(5)).is_err());
    }
}
