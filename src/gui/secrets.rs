//! Stream keys and passphrases, kept apart from the plain settings: a TOML
//! file readable by its owner alone, in the config folder, by target id.
//! The plain settings can be shared or synced without giving a channel away.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::target_setting::{TargetId, TargetSecrets, TargetSetting};

#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("cannot read the stream keys in {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("the stream keys in {path} are not valid TOML ({source}); move the file away to start afresh")]
    Parse { path: PathBuf, source: toml::de::Error },
    #[error("cannot save the stream keys to {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
}

#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct SecretsFile {
    #[serde(default)]
    targets: BTreeMap<String, TargetSecrets>,
}

#[derive(Clone, Debug)]
pub struct SecretStore {
    path: PathBuf,
}

impl SecretStore {
    pub fn at(path: PathBuf) -> SecretStore {
        SecretStore { path }
    }

    /// `$XDG_CONFIG_HOME/onair/secrets.toml`, else `~/.config/onair/secrets.toml`.
    pub fn default_location() -> Option<SecretStore> {
        crate::xdg::config_home().map(|config| SecretStore::at(config.join("onair").join("secrets.toml")))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Fills each target's secrets from the file; a missing file is no secrets yet.
    pub fn load_into(&self, targets: &mut [TargetSetting]) -> Result<(), SecretsError> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(source) => return Err(SecretsError::Read { path: self.path.clone(), source }),
        };
        let mut file: SecretsFile = toml::from_str(&text).map_err(|source| SecretsError::Parse { path: self.path.clone(), source })?;
        for target in targets {
            if let Some(secrets) = file.targets.remove(&key(target.id)) {
                target.secrets = secrets;
            }
        }
        Ok(())
    }

    /// Writes every target's secrets (and only theirs: a removed target's go),
    /// whole, to a file only its owner can read.
    pub fn save(&self, targets: &[TargetSetting]) -> Result<(), SecretsError> {
        let error = |source| SecretsError::Write { path: self.path.clone(), source };
        let file = SecretsFile { targets: targets.iter().filter(|t| !t.secrets.is_empty()).map(|t| (key(t.id), t.secrets.clone())).collect() };
        let text = toml::to_string(&file).map_err(|e| error(std::io::Error::other(e)))?;
        if let Some(folder) = self.path.parent() {
            std::fs::create_dir_all(folder).map_err(error)?;
        }
        // A crash mid-write leaves the old file, never half of one.
        let partial = self.path.with_extension("toml.partial");
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut out = options.open(&partial).map_err(error)?;
        out.write_all(text.as_bytes()).and_then(|()| out.sync_all()).map_err(error)?;
        std::fs::rename(&partial, &self.path).map_err(error)
    }
}

fn key(id: TargetId) -> String {
    id.0.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_round_trip_by_target_in_a_file_only_the_owner_reads() {
        let folder = std::env::temp_dir().join(format!("onair-secrets-{}", std::process::id()));
        let store = SecretStore::at(folder.join("nested").join("secrets.toml"));
        let mut targets = vec![TargetSetting::custom_rtmp(TargetId(7), "Twitch", "rtmp://x/app", "live_123"), TargetSetting::default()];
        store.save(&targets).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(store.path()).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "only the owner reads the stream keys");
        }
        for target in &mut targets {
            target.secrets = TargetSecrets::default();
        }
        store.load_into(&mut targets).unwrap();
        assert_eq!(targets[0].secrets.key, "live_123");
        assert!(targets[1].secrets.is_empty());
        std::fs::write(store.path(), "targets = 3").unwrap();
        let error = store.load_into(&mut targets).unwrap_err().to_string();
        assert!(error.contains("not valid TOML") && error.contains("secrets.toml"), "{error}");
        let _ = std::fs::remove_dir_all(&folder);
    }

    #[test]
    fn no_file_is_no_secrets_yet() {
        let store = SecretStore::at(std::env::temp_dir().join("onair-no-such-folder").join("secrets.toml"));
        let mut targets = vec![TargetSetting::default()];
        store.load_into(&mut targets).unwrap();
        assert!(targets[0].secrets.is_empty());
    }
}
