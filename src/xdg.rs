//! The desktop's folders, as the XDG base-directory and user-dirs
//! conventions name them.

use std::path::{Path, PathBuf};

/// `$HOME`, when there is one.
fn home() -> Option<PathBuf> {
    std::env::home_dir()
}

/// `$XDG_CONFIG_HOME`, else `~/.config`.
pub fn config_home() -> Option<PathBuf> {
    std::env::var_os("XDG_CONFIG_HOME").map(PathBuf::from).filter(|p| p.is_absolute()).or_else(|| home().map(|home| home.join(".config")))
}

/// The Videos folder: `XDG_VIDEOS_DIR`, else the one `user-dirs.dirs` names
/// (where a desktop in another language names its own), else `~/Videos`.
pub fn videos() -> PathBuf {
    if let Some(set) = std::env::var_os("XDG_VIDEOS_DIR") {
        return set.into();
    }
    let home = home().unwrap_or_default();
    let named = config_home().and_then(|config| std::fs::read_to_string(config.join("user-dirs.dirs")).ok());
    named.and_then(|dirs| videos_in_user_dirs(&dirs, &home)).unwrap_or_else(|| home.join("Videos"))
}

/// `XDG_VIDEOS_DIR="$HOME/Vidéos"` in a `user-dirs.dirs` file, with `$HOME` expanded.
fn videos_in_user_dirs(dirs: &str, home: &Path) -> Option<PathBuf> {
    let value = dirs.lines().map(str::trim).filter(|line| !line.starts_with('#')).find_map(|line| line.strip_prefix("XDG_VIDEOS_DIR="))?;
    let value = value.trim().trim_matches('"');
    match value.strip_prefix("$HOME") {
        Some(rest) => Some(home.join(rest.trim_start_matches('/'))),
        None if value.starts_with('/') => Some(value.into()),
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_videos_folder_is_the_one_the_desktop_names() {
        let home = std::path::Path::new("/home/ana");
        let dirs = "# written by xdg-user-dirs-update\nXDG_DESKTOP_DIR=\"$HOME/Bureau\"\nXDG_VIDEOS_DIR=\"$HOME/Vidéos\"\n";
        assert_eq!(videos_in_user_dirs(dirs, home), Some(home.join("Vidéos")));
        assert_eq!(videos_in_user_dirs("XDG_VIDEOS_DIR=\"/data/films\"", home), Some("/data/films".into()));
        assert_eq!(videos_in_user_dirs("#XDG_VIDEOS_DIR=\"$HOME/x\"\n", home), None, "a comment names nothing");
        assert_eq!(videos_in_user_dirs("XDG_MUSIC_DIR=\"$HOME/Music\"", home), None);
    }
}
