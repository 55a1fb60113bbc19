//! Which rungs a source gets: never an upscale, never a rung at or above the
//! source's size, the source's aspect ratio kept, sizes even for 4:2:0.

use crate::server::config::RungConfig;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RungPlan {
    /// Position in the configured ladder: the rung's identity for the stream's life.
    pub index: usize,
    pub name: String,
    pub width: u32,
    pub height: u32,
    pub bitrate_kbps: u32,
}

/// Names that would collide with the source's renditions or leave the URL path.
fn usable_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 32 && name != "video" && name != "audio" && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
}

pub fn plan(source_width: u32, source_height: u32, rungs: &[RungConfig]) -> Vec<RungPlan> {
    let mut planned: Vec<RungPlan> = Vec::new();
    for (index, rung) in rungs.iter().enumerate() {
        if rung.height >= source_height || rung.height < 16 || rung.bitrate_kbps == 0 || !usable_name(&rung.name) {
            continue;
        }
        if planned.iter().any(|p| p.name == rung.name || p.height == rung.height) {
            continue;
        }
        let height = rung.height & !1;
        // The nearest even width (1920x1080 at 480 lines: 854, as ffmpeg's `scale=-2:480`).
        let pairs = (u64::from(source_width) * u64::from(height) + u64::from(source_height)) / (2 * u64::from(source_height));
        let width = (pairs * 2) as u32;
        if width < 16 {
            continue;
        }
        planned.push(RungPlan { index, name: rung.name.clone(), width, height, bitrate_kbps: rung.bitrate_kbps });
    }
    planned
}

/// Rungs the configuration names but [`plan`] would never use, with why: told to the operator once.
pub fn unusable(rungs: &[RungConfig]) -> Vec<String> {
    rungs
        .iter()
        .filter(|r| !usable_name(&r.name))
        .map(|r| format!("ladder rung {:?} is skipped: use 1-32 letters, digits, '-' or '_', and not \"video\" or \"audio\"", r.name))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn default_rungs() -> Vec<RungConfig> {
        crate::server::config::LadderConfig::default().rungs
    }

    #[test]
    fn a_1080p_source_gets_three_rungs_at_its_aspect_ratio() {
        let plans = plan(1920, 1080, &default_rungs());
        let sizes: Vec<_> = plans.iter().map(|p| (p.name.as_str(), p.width, p.height)).collect();
        assert_eq!(sizes, [("720p", 1280, 720), ("480p", 854, 480), ("360p", 640, 360)]);
    }

    #[test]
    fn never_a_rung_at_or_above_the_source() {
        let plans = plan(1280, 720, &default_rungs());
        assert_eq!(plans.iter().map(|p| p.height).collect::<Vec<_>>(), [480, 360]);
        assert!(plan(640, 360, &default_rungs()).is_empty());
        assert!(plan(320, 240, &default_rungs()).is_empty());
    }

    #[test]
    fn odd_aspect_ratios_give_even_sizes() {
        for plan in plan(1000, 1001, &default_rungs()) {
            assert_eq!(plan.width % 2, 0);
            assert_eq!(plan.height % 2, 0);
        }
    }

    #[test]
    fn bad_names_are_skipped_and_reported() {
        let rungs = vec![
            RungConfig { name: "video".into(), height: 480, bitrate_kbps: 1000 },
            RungConfig { name: "../x".into(), height: 360, bitrate_kbps: 800 },
            RungConfig { name: "low".into(), height: 240, bitrate_kbps: 400 },
        ];
        let plans = plan(1920, 1080, &rungs);
        assert_eq!(plans.len(), 1);
        assert_eq!(plans[0].index, 2);
        assert_eq!(unusable(&rungs).len(), 2);
    }
}
