//! The server's TOML configuration; every field has a default.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    pub rtmp: RtmpConfig,
    pub srt: SrtConfig,
    pub http: HttpConfig,
    pub segments: SegmentConfig,
    pub streams: StreamRules,
    pub ladder: LadderConfig,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RtmpConfig {
    /// Where RTMP publishers connect: rtmp://ADDR/live/KEY.
    pub listen: SocketAddr,
    /// The application name in the URL.
    pub app: String,
    /// Largest RTMP message accepted, in bytes; larger ones close the connection.
    pub max_message_bytes: usize,
    /// Secret every RTMP publisher must add to its stream key as `KEY?secret=…`; none when absent.
    pub publish_secret: Option<String>,
    /// Per stream key secrets, overriding the global one.
    pub publish_secrets: std::collections::BTreeMap<String, String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SrtConfig {
    /// Where SRT publishers connect: srt://ADDR?streamid=publish:live/KEY.
    pub listen: std::net::SocketAddr,
    /// Receive latency in milliseconds (the buffer SRT uses to recover lost packets).
    pub latency_ms: u32,
    /// Passphrase every SRT publisher must use (10 to 79 characters); none when absent.
    pub passphrase: Option<String>,
    /// Key length for that passphrase: 16, 24 or 32 bytes (AES-128/192/256).
    pub key_size: u16,
    /// Per stream key passphrases, overriding the global one.
    pub passphrases: std::collections::BTreeMap<String, String>,
}

impl Default for SrtConfig {
    fn default() -> Self {
        SrtConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8890)),
            latency_ms: 120,
            passphrase: None,
            key_size: 16,
            passphrases: std::collections::BTreeMap::new(),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Where playlists, segments, the API and metrics are served.
    pub listen: SocketAddr,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SegmentConfig {
    /// Target segment duration in milliseconds; cuts happen on the first keyframe at or after it.
    pub target_ms: u32,
    /// Low-Latency HLS: parts, blocking playlist reload, preload hints, delta updates.
    pub low_latency: bool,
    /// LL-HLS part target in milliseconds (at least 200); parts never exceed it.
    pub part_target_ms: u32,
    /// A video part being written is streamed to its readers in chunks of
    /// about this many milliseconds; 0 sends each part whole once complete,
    /// which costs less CPU per viewer and delivers the part later.
    pub chunk_ms: u32,
    /// Segments listed in playlists and the MPD.
    pub window: usize,
    /// Also write segments and playlists under this directory.
    pub directory: Option<PathBuf>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct StreamRules {
    /// Seconds a stream waits for its publisher to come back before it ends.
    pub grace_seconds: f64,
    /// Seconds an ended stream stays viewable before it is removed.
    pub keep_ended_seconds: f64,
    /// A second publisher on a live key: "refuse" or "replace".
    pub on_conflict: ConflictPolicy,
}

/// The adaptive-bitrate ladder: renditions transcoded below the source.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LadderConfig {
    /// Transcode every stream into the rungs below, unless its key opts out.
    pub enabled: bool,
    /// Rungs from the largest down. A rung at or above the source's height is left out.
    pub rungs: Vec<RungConfig>,
    /// Stream keys that get their source rendition only.
    pub skip_keys: Vec<String>,
    /// CPU the ladder of one stream may use, in cores; above it, rungs are shed
    /// from the largest down. None: limited only by keeping real time.
    pub max_cores: Option<f64>,
    /// A rung further than this behind the source (milliseconds) is shed.
    pub max_lag_ms: u32,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RungConfig {
    /// Its name in URLs (`/live/KEY/NAME/playlist.m3u8`): letters, digits, '-', '_'.
    pub name: String,
    /// Picture height; the width keeps the source's aspect ratio.
    pub height: u32,
    pub bitrate_kbps: u32,
}

impl Default for LadderConfig {
    fn default() -> Self {
        let rung = |name: &str, height, bitrate_kbps| RungConfig { name: name.into(), height, bitrate_kbps };
        LadderConfig {
            enabled: true,
            rungs: vec![rung("720p", 720, 3000), rung("480p", 480, 1400), rung("360p", 360, 800)],
            skip_keys: Vec::new(),
            max_cores: None,
            max_lag_ms: 1500,
        }
    }
}

impl LadderConfig {
    /// Whether stream `key` gets a ladder when the ladder is on.
    pub fn covers(&self, key: &str) -> bool {
        !self.rungs.is_empty() && !self.skip_keys.iter().any(|k| k == key)
    }
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ConflictPolicy {
    Refuse,
    Replace,
}

impl Default for RtmpConfig {
    fn default() -> Self {
        RtmpConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 1935)),
            app: "live".into(),
            max_message_bytes: 8 << 20,
            publish_secret: None,
            publish_secrets: std::collections::BTreeMap::new(),
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig { listen: SocketAddr::from(([127, 0, 0, 1], 8080)) }
    }
}

impl Default for SegmentConfig {
    fn default() -> Self {
        SegmentConfig { target_ms: 2000, low_latency: true, part_target_ms: 334, chunk_ms: 100, window: 6, directory: None }
    }
}

impl Default for StreamRules {
    fn default() -> Self {
        StreamRules { grace_seconds: 10.0, keep_ended_seconds: 300.0, on_conflict: ConflictPolicy::Refuse }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("config file {path} is not valid: {source}")]
    Parse { path: PathBuf, source: toml::de::Error },
    #[error("config file {path}: {reason}")]
    Invalid { path: PathBuf, reason: ConfigProblem },
}

/// A setting that parses but cannot work.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigProblem {
    #[error("rtmp.publish_secret is empty: set a secret or remove the line")]
    EmptyPublishSecret,
    #[error("the publish secret of stream {0:?} in [rtmp.publish_secrets] is empty: set a secret or remove the line")]
    EmptyKeySecret(String),
}

impl ServerConfig {
    pub fn load(path: &std::path::Path) -> Result<ServerConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.into(), source })?;
        let config: ServerConfig = toml::from_str(&text).map_err(|source| ConfigError::Parse { path: path.into(), source })?;
        config.check().map_err(|reason| ConfigError::Invalid { path: path.into(), reason })?;
        Ok(config)
    }

    /// What parsing cannot catch: an empty publish secret would admit anyone who sends `?secret=`.
    fn check(&self) -> Result<(), ConfigProblem> {
        if self.rtmp.publish_secret.as_deref() == Some("") {
            return Err(ConfigProblem::EmptyPublishSecret);
        }
        if let Some((key, _)) = self.rtmp.publish_secrets.iter().find(|(_, secret)| secret.is_empty()) {
            return Err(ConfigProblem::EmptyKeySecret(key.clone()));
        }
        Ok(())
    }

    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_gives_defaults_and_printing_round_trips() {
        let config: ServerConfig = toml::from_str("").unwrap();
        assert_eq!(config, ServerConfig::default());
        let printed = config.to_toml();
        assert_eq!(toml::from_str::<ServerConfig>(&printed).unwrap(), config);
    }

    #[test]
    fn chunks_can_be_turned_off() {
        let config: ServerConfig = toml::from_str("[segments]\nchunk_ms = 0").unwrap();
        assert_eq!(config.segments.chunk_ms, 0);
        assert_eq!(ServerConfig::default().segments.chunk_ms, 100);
    }

    #[test]
    fn empty_publish_secrets_are_refused() {
        let parse = |text: &str| toml::from_str::<ServerConfig>(text).unwrap().check();
        assert!(parse("[rtmp]\npublish_secret = \"\"").unwrap_err().to_string().contains("rtmp.publish_secret is empty"));
        assert!(parse("[rtmp.publish_secrets]\nstudio = \"\"").unwrap_err().to_string().contains("\"studio\""));
        assert_eq!(parse("[rtmp]\npublish_secret = \"s\"\n[rtmp.publish_secrets]\nstudio = \"t\""), Ok(()));
    }

    #[test]
    fn unknown_keys_are_errors() {
        assert!(toml::from_str::<ServerConfig>("[rtmp]\nlisten_typo = 1").is_err());
    }
}
