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
    pub webrtc: WebRtcConfig,
    pub segments: SegmentConfig,
    pub streams: StreamRules,
    pub ladder: LadderConfig,
    pub record: RecordConfig,
    pub limits: LimitsConfig,
    pub tls: TlsConfig,
    /// Destinations every live stream (or the keys each names) is pushed to: `[[forward]]`.
    pub forward: Vec<ForwardConfig>,
}

/// A restream destination.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ForwardConfig {
    /// rtmp://HOST[:PORT]/APP/KEY or srt://HOST:PORT?streamid=…; `{key}` is the stream's key.
    pub url: String,
    /// Only these stream keys are forwarded here; empty forwards every key.
    pub keys: Vec<String>,
}

/// Server-side recording: every live stream's source rendition and audio
/// written to disk as they are made, and served as a VOD once it ends.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RecordConfig {
    /// Where recordings go (`DIRECTORY/KEY/ID/`); recording is off without it.
    pub directory: Option<PathBuf>,
    /// Only these stream keys are recorded; empty records every key.
    pub keys: Vec<String>,
    /// Disk the recordings may use, in megabytes; the oldest finished ones
    /// are deleted to stay under it. None: no limit.
    pub max_megabytes: Option<u64>,
}

impl RecordConfig {
    /// Whether stream `key` is recorded.
    pub fn covers(&self, key: &str) -> bool {
        self.directory.is_some() && (self.keys.is_empty() || self.keys.iter().any(|k| k == key))
    }
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
    /// Where RTMPS publishers connect (rtmps://ADDR/live/KEY), with `[tls]`'s
    /// certificate; none when absent.
    pub tls_listen: Option<SocketAddr>,
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
    /// When set, `/api/*` and `/metrics` answer only `Authorization: Bearer
    /// <admin_token>`; the player and media paths stay public.
    pub admin_token: Option<String>,
    /// Where the same paths are served over HTTPS, with `[tls]`'s
    /// certificate; none when absent.
    pub tls_listen: Option<SocketAddr>,
}

/// The certificate HTTPS and RTMPS present, reloaded on SIGHUP.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM: the server's certificate first, then its chain (Let's Encrypt's `fullchain.pem`).
    pub certificate: Option<PathBuf>,
    /// PEM: its private key (PKCS#8, PKCS#1 or SEC1).
    pub key: Option<PathBuf>,
}

/// Bounds on what outside peers may hold open; each refusal is counted in
/// `/metrics` and logged once a minute per address.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Open connections each TCP listener (HTTP, HTTPS, RTMP, RTMPS) holds at most.
    pub max_connections: usize,
    /// Open connections one address holds on each listener. A CDN edge is
    /// one address for all its viewers: raise it for edges.
    pub max_connections_per_address: usize,
    /// Seconds a connection has from connecting to publishing (RTMP)
    /// or to a finished TLS handshake.
    pub handshake_seconds: f64,
    /// Seconds an HTTP client has to send a request's headers, and a
    /// keep-alive connection may wait for its next request.
    pub header_seconds: f64,
    /// Largest HTTP request head, in bytes.
    pub max_header_bytes: usize,
    /// Largest HTTP request body (WHIP and WHEP offers), in bytes.
    pub max_body_bytes: usize,
    /// Live streams at most (waiting ones count); publishing another is refused.
    pub max_streams: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_connections: 8192,
            max_connections_per_address: 1024,
            handshake_seconds: 10.0,
            header_seconds: 10.0,
            max_header_bytes: 16 * 1024,
            max_body_bytes: 64 * 1024,
            max_streams: 64,
        }
    }
}

impl LimitsConfig {
    pub fn handshake(&self) -> std::time::Duration {
        std::time::Duration::from_secs_f64(self.handshake_seconds)
    }

    pub fn header(&self) -> std::time::Duration {
        std::time::Duration::from_secs_f64(self.header_seconds)
    }
}

/// WebRTC viewers (WHEP): every peer on one UDP port, ICE-lite.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct WebRtcConfig {
    /// The UDP port WebRTC media flows through, for every peer.
    pub listen: SocketAddr,
    /// Addresses the server is reached at from outside (behind NAT, or when
    /// `listen` is a wildcard), offered as candidates on the listen port.
    /// Empty: the listen address itself.
    pub public_ips: Vec<std::net::IpAddr>,
    /// How long a WHIP publisher's video waits for a lost packet to be
    /// resent (NACK) before the frame is given up and a keyframe asked for.
    pub repair_ms: u32,
}

impl WebRtcConfig {
    /// `repair_ms` as the complete frames held behind a hole, at 30 fps
    /// (str0m counts its reorder window in frames).
    pub fn repair_frames(&self) -> usize {
        (self.repair_ms as usize * 30).div_ceil(1000).max(1)
    }
}

impl Default for WebRtcConfig {
    fn default() -> Self {
        WebRtcConfig { listen: SocketAddr::from(([127, 0, 0, 1], 8189)), public_ips: Vec::new(), repair_ms: 500 }
    }
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
            tls_listen: None,
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig { listen: SocketAddr::from(([127, 0, 0, 1], 8080)), admin_token: None, tls_listen: None }
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
    // `error`, not `source`: the message already holds it, and an error
    // chain printed whole would repeat it.
    #[error("cannot read config file {path}: {error}")]
    Read { path: PathBuf, error: std::io::Error },
    #[error("config file {path} is not valid: {error}")]
    Parse { path: PathBuf, error: toml::de::Error },
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
    #[error("http.tls_listen and rtmp.tls_listen need [tls] certificate = \"FILE.pem\" and key = \"FILE.pem\"")]
    TlsWithoutCertificate,
    #[error("{key} = {value} cannot work: use {allowed}")]
    OutOfRange { key: String, value: String, allowed: &'static str },
}

/// `value` of `key` unless `fits`.
fn within(key: &str, value: impl std::fmt::Display, fits: bool, allowed: &'static str) -> Result<(), ConfigProblem> {
    if fits { Ok(()) } else { Err(ConfigProblem::OutOfRange { key: key.into(), value: value.to_string(), allowed }) }
}

/// SRT's passphrase rule (libsrt refuses any other length when the caller connects).
fn srt_passphrase(key: &str, passphrase: &str) -> Result<(), ConfigProblem> {
    let length = passphrase.chars().count();
    within(key, format!("a {length}-character passphrase"), (10..=79).contains(&length), "10 to 79 characters")
}

impl ServerConfig {
    pub fn load(path: &std::path::Path) -> Result<ServerConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read { path: path.into(), error })?;
        let config: ServerConfig = toml::from_str(&text).map_err(|error| ConfigError::Parse { path: path.into(), error })?;
        config.check().map_err(|reason| ConfigError::Invalid { path: path.into(), reason })?;
        Ok(config)
    }

    /// What parsing cannot catch: an empty publish secret would admit anyone
    /// who sends `?secret=`; a value outside what can work is named with its
    /// key and the range that works.
    pub fn check(&self) -> Result<(), ConfigProblem> {
        if self.rtmp.publish_secret.as_deref() == Some("") {
            return Err(ConfigProblem::EmptyPublishSecret);
        }
        if let Some((key, _)) = self.rtmp.publish_secrets.iter().find(|(_, secret)| secret.is_empty()) {
            return Err(ConfigProblem::EmptyKeySecret(key.clone()));
        }
        if let Some(token) = &self.http.admin_token {
            let usable = !token.is_empty() && token.bytes().all(|b| b.is_ascii_graphic());
            within("http.admin_token", format!("{} characters", token.len()), usable, "one or more printable characters, no spaces")?;
        }
        let s = &self.segments;
        within("segments.target_ms", s.target_ms, (500..=30_000).contains(&s.target_ms), "500 to 30000")?;
        within("segments.window", s.window, (2..=1_000).contains(&s.window), "2 to 1000 segments")?;
        if s.low_latency {
            within("segments.part_target_ms", s.part_target_ms, (50..=s.target_ms).contains(&s.part_target_ms), "50 up to segments.target_ms")?;
        }
        within("segments.chunk_ms", s.chunk_ms, s.chunk_ms == 0 || (20..=s.target_ms).contains(&s.chunk_ms), "0 (off), or 20 up to segments.target_ms")?;
        within("webrtc.repair_ms", self.webrtc.repair_ms, (50..=5_000).contains(&self.webrtc.repair_ms), "50 to 5000")?;
        let srt = &self.srt;
        within("srt.latency_ms", srt.latency_ms, (20..=8_000).contains(&srt.latency_ms), "20 to 8000")?;
        within("srt.key_size", srt.key_size, [16, 24, 32].contains(&srt.key_size), "16, 24 or 32 (bytes: AES-128, -192, -256)")?;
        if let Some(passphrase) = &srt.passphrase {
            srt_passphrase("srt.passphrase", passphrase)?;
        }
        for (stream, passphrase) in &srt.passphrases {
            srt_passphrase(&format!("srt.passphrases.{stream}"), passphrase)?;
        }
        let streams = &self.streams;
        within("streams.grace_seconds", streams.grace_seconds, (0.0..=3_600.0).contains(&streams.grace_seconds), "0 to 3600")?;
        within("streams.keep_ended_seconds", streams.keep_ended_seconds, (0.0..=86_400.0).contains(&streams.keep_ended_seconds), "0 to 86400")?;
        within("rtmp.max_message_bytes", self.rtmp.max_message_bytes, self.rtmp.max_message_bytes >= 64 * 1024, "65536 or more")?;
        let ladder = &self.ladder;
        if let Some(cores) = ladder.max_cores {
            within("ladder.max_cores", cores, cores > 0.0, "more than 0 (or leave it out)")?;
        }
        for (index, forward) in self.forward.iter().enumerate() {
            let url = forward.url.replace("{key}", "key");
            let parsed = crate::publish::target::PublishTarget::parse(&url);
            within(&format!("forward[{index}].url"), &forward.url, parsed.is_ok(), "rtmp://HOST[:PORT]/APP/KEY, srt://HOST:PORT?streamid=… or a WHIP URL")?;
        }
        let limits = &self.limits;
        within("limits.max_connections", limits.max_connections, limits.max_connections >= 1, "1 or more")?;
        within("limits.max_connections_per_address", limits.max_connections_per_address, limits.max_connections_per_address >= 1, "1 or more")?;
        within("limits.handshake_seconds", limits.handshake_seconds, (0.1..=600.0).contains(&limits.handshake_seconds), "0.1 to 600")?;
        within("limits.header_seconds", limits.header_seconds, (0.1..=600.0).contains(&limits.header_seconds), "0.1 to 600")?;
        within("limits.max_header_bytes", limits.max_header_bytes, (8192..=1 << 20).contains(&limits.max_header_bytes), "8192 to 1048576")?;
        within("limits.max_body_bytes", limits.max_body_bytes, (4096..=64 << 20).contains(&limits.max_body_bytes), "4096 to 67108864")?;
        within("limits.max_streams", limits.max_streams, limits.max_streams >= 1, "1 or more")?;
        let wants_tls = self.http.tls_listen.is_some() || self.rtmp.tls_listen.is_some();
        let has_tls = self.tls.certificate.is_some() && self.tls.key.is_some();
        if wants_tls && !has_tls {
            return Err(ConfigProblem::TlsWithoutCertificate);
        }
        if let Some(megabytes) = self.record.max_megabytes {
            within("record.max_megabytes", megabytes, megabytes >= 1, "1 or more (or leave it out)")?;
        }
        for (index, rung) in ladder.rungs.iter().enumerate() {
            let key = |field: &str| format!("ladder.rungs[{index}].{field}");
            within(&key("height"), rung.height, (2..=4_320).contains(&rung.height) && rung.height % 2 == 0, "an even height from 2 to 4320")?;
            within(&key("bitrate_kbps"), rung.bitrate_kbps, (50..=50_000).contains(&rung.bitrate_kbps), "50 to 50000")?;
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
    fn values_that_cannot_work_are_refused_naming_their_key() {
        let problem = |toml: &str| toml::from_str::<ServerConfig>(toml).unwrap().check().err().map(|p| p.to_string());
        assert_eq!(problem(""), None, "the defaults work");
        for (toml, key) in [
            ("[segments]\nwindow = 0", "segments.window = 0"),
            ("[webrtc]\nrepair_ms = 10", "webrtc.repair_ms = 10"),
            ("[segments]\ntarget_ms = 0", "segments.target_ms = 0"),
            ("[segments]\npart_target_ms = 5000", "segments.part_target_ms = 5000"),
            ("[srt]\npassphrase = \"short\"", "srt.passphrase = a 5-character passphrase"),
            ("[srt.passphrases]\ncam = \"short\"", "srt.passphrases.cam = a 5-character passphrase"),
            ("[srt]\nkey_size = 20", "srt.key_size = 20"),
            ("[srt]\nlatency_ms = 0", "srt.latency_ms = 0"),
            ("[streams]\ngrace_seconds = -1.0", "streams.grace_seconds = -1"),
            ("[limits]\nmax_connections = 0", "limits.max_connections = 0"),
            ("[limits]\nheader_seconds = 0.0", "limits.header_seconds = 0"),
            ("[limits]\nmax_header_bytes = 100", "limits.max_header_bytes = 100"),
            ("[[ladder.rungs]]\nname = \"odd\"\nheight = 361\nbitrate_kbps = 800", "ladder.rungs[0].height = 361"),
        ] {
            let message = problem(toml).unwrap_or_else(|| panic!("{toml:?} was accepted"));
            assert!(message.starts_with(key) && message.contains("use "), "{toml:?}: {message}");
        }
    }

    #[test]
    fn a_file_that_does_not_parse_is_reported_once() {
        let path = std::env::temp_dir().join(format!("onair-config-{}.toml", std::process::id()));
        std::fs::write(&path, "[segments]\nwindow = \"six\"\n").unwrap();
        let error = anyhow::Error::from(ServerConfig::load(&path).unwrap_err());
        let _ = std::fs::remove_file(&path);
        let printed = format!("{error:#}");
        assert_eq!(printed.matches("invalid type").count(), 1, "the parser's words appear once: {printed}");
    }

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
        assert!(parse("[http]\nadmin_token = \"\"").unwrap_err().to_string().contains("http.admin_token"));
        assert!(parse("[http]\nadmin_token = \"two words\"").unwrap_err().to_string().contains("no spaces"));
        assert!(parse("[http]\nadmin_token = \"s3cret\"").is_ok());
        assert!(parse("[rtmp.publish_secrets]\nstudio = \"\"").unwrap_err().to_string().contains("\"studio\""));
        assert_eq!(parse("[rtmp]\npublish_secret = \"s\"\n[rtmp.publish_secrets]\nstudio = \"t\""), Ok(()));
    }

    #[test]
    fn a_tls_listener_needs_a_certificate() {
        let parse = |text: &str| toml::from_str::<ServerConfig>(text).unwrap().check();
        assert_eq!(parse("[http]\ntls_listen = \"127.0.0.1:8443\""), Err(ConfigProblem::TlsWithoutCertificate));
        assert_eq!(parse("[rtmp]\ntls_listen = \"127.0.0.1:1936\"\n[tls]\ncertificate = \"c.pem\""), Err(ConfigProblem::TlsWithoutCertificate));
        assert_eq!(parse("[rtmp]\ntls_listen = \"127.0.0.1:1936\"\n[tls]\ncertificate = \"c.pem\"\nkey = \"k.pem\""), Ok(()));
    }

    #[test]
    fn unknown_keys_are_errors() {
        assert!(toml::from_str::<ServerConfig>("[rtmp]\nlisten_typo = 1").is_err());
    }
}
