//! What recordings there are on disk, read from each one's
//! `recording.json`, so the list survives a restart of the server.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The file that describes a recording, beside its playlists.
pub const DESCRIPTION: &str = "recording.json";

/// What a recording's `recording.json` holds.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Description {
    pub key: String,
    pub id: String,
    /// Wall clock of its first segment, ISO 8601.
    pub start: String,
    pub duration_seconds: f64,
    /// The stream ended and its playlists are VOD.
    pub ended: bool,
}

#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum RecordingState {
    /// The stream is live and still being written.
    Recording,
    /// The stream ended: a VOD.
    Complete,
    /// Written by a server that stopped before the stream ended; plays up to where it stopped.
    Interrupted,
}

/// One recording as `/api/recordings` lists it.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct RecordingEntry {
    pub key: String,
    pub id: String,
    pub start: String,
    pub duration_seconds: f64,
    pub state: RecordingState,
    pub bytes: u64,
    pub hls: String,
    pub dash: String,
    pub player: String,
    #[serde(skip)]
    pub directory: PathBuf,
}

/// Every recording under `root`, newest first; `active` are being written now.
pub fn list(root: &Path, active: &HashSet<PathBuf>) -> Vec<RecordingEntry> {
    let mut entries = Vec::new();
    for key_dir in subdirectories(root) {
        for directory in subdirectories(&key_dir) {
            let Ok(text) = std::fs::read_to_string(directory.join(DESCRIPTION)) else { continue };
            let Ok(description) = serde_json::from_str::<Description>(&text) else {
                tracing::warn!("{} does not describe a recording; skipped", directory.join(DESCRIPTION).display());
                continue;
            };
            let state = if description.ended {
                RecordingState::Complete
            } else if active.contains(&directory) {
                RecordingState::Recording
            } else {
                RecordingState::Interrupted
            };
            let base = format!("/vod/{}/{}/", description.key, description.id);
            entries.push(RecordingEntry {
                hls: format!("{base}index.m3u8"),
                dash: format!("{base}manifest.mpd"),
                player: base,
                bytes: size_of(&directory),
                key: description.key,
                id: description.id,
                start: description.start,
                duration_seconds: description.duration_seconds,
                state,
                directory,
            });
        }
    }
    entries.sort_by(|a, b| b.id.cmp(&a.id).then_with(|| a.key.cmp(&b.key)));
    entries
}

fn subdirectories(directory: &Path) -> Vec<PathBuf> {
    let Ok(read) = std::fs::read_dir(directory) else { return Vec::new() };
    read.filter_map(Result::ok).filter(|e| e.file_type().is_ok_and(|t| t.is_dir())).map(|e| e.path()).collect()
}

/// Bytes of every file under `path`.
pub fn size_of(path: &Path) -> u64 {
    let Ok(read) = std::fs::read_dir(path) else { return std::fs::metadata(path).map_or(0, |m| m.len()) };
    read.filter_map(Result::ok)
        .map(|entry| if entry.file_type().is_ok_and(|t| t.is_dir()) { size_of(&entry.path()) } else { entry.metadata().map_or(0, |m| m.len()) })
        .sum()
}

/// A request path under `/vod/` as a path below the recordings' root:
/// 2 to 4 components of letters, digits, '-', '_' and '.', none of them
/// `.` or `..`; None for anything else.
pub fn safe_relative_path(path: &str) -> Option<PathBuf> {
    let components: Vec<&str> = path.split('/').collect();
    let safe = |c: &&str| !c.is_empty() && *c != "." && *c != ".." && c.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    ((2..=4).contains(&components.len()) && components.iter().all(safe)).then(|| components.iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_names_below_the_root_are_served() {
        assert_eq!(safe_relative_path("show/20261201T120000Z/video/seg-3.m4s"), Some(PathBuf::from("show/20261201T120000Z/video/seg-3.m4s")));
        assert_eq!(safe_relative_path("show/20261201T120000Z/index.m3u8"), Some(PathBuf::from("show/20261201T120000Z/index.m3u8")));
        for bad in ["", "show", "../etc/passwd", "show/../../x", "show/./x", "show//x", "/abs/x", "show/id/a b", "a/b/c/d/e", "show/id/%2e%2e"] {
            assert_eq!(safe_relative_path(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn recordings_are_listed_newest_first_with_their_state() {
        let root = std::env::temp_dir().join(format!("onair-catalog-{}", std::process::id()));
        let write = |key: &str, id: &str, ended: bool| {
            let directory = root.join(key).join(id);
            std::fs::create_dir_all(&directory).unwrap();
            let description = Description { key: key.into(), id: id.into(), start: "2026-12-01T12:00:00.000Z".into(), duration_seconds: 4.0, ended };
            std::fs::write(directory.join(DESCRIPTION), serde_json::to_string(&description).unwrap()).unwrap();
            directory
        };
        write("a", "20261201T100000Z", true);
        let live = write("b", "20261201T110000Z", false);
        write("c", "20261201T090000Z", false);
        std::fs::create_dir_all(root.join("d").join("not-a-recording")).unwrap();
        let listed = list(&root, &HashSet::from([live]));
        let seen: Vec<(&str, RecordingState)> = listed.iter().map(|e| (e.key.as_str(), e.state)).collect();
        assert_eq!(seen, [("b", RecordingState::Recording), ("a", RecordingState::Complete), ("c", RecordingState::Interrupted)]);
        assert_eq!(listed[1].hls, "/vod/a/20261201T100000Z/index.m3u8");
        assert!(listed.iter().all(|e| e.bytes > 0));
        std::fs::remove_dir_all(&root).unwrap();
    }
}
