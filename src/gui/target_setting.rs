//! One place the stream goes, as the streamer set it up: a name, an on/off
//! switch, the kind of server and its address. Its secrets (stream key,
//! passphrase) are kept apart from it, in [`super::secrets`], and never
//! serialised with the plain settings.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TargetKind {
    LocalRtmp,
    LocalSrt,
    /// The bundled server over WebRTC (WHIP).
    LocalWebRtc,
    CustomRtmp,
    CustomSrt,
    /// Any WHIP endpoint, with its bearer token.
    CustomWhip,
}

impl TargetKind {
    pub const ALL: [TargetKind; 6] =
        [TargetKind::LocalRtmp, TargetKind::LocalSrt, TargetKind::LocalWebRtc, TargetKind::CustomRtmp, TargetKind::CustomSrt, TargetKind::CustomWhip];

    pub fn label(self) -> &'static str {
        match self {
            TargetKind::LocalRtmp => "Local server over RTMP",
            TargetKind::LocalSrt => "Local server over SRT",
            TargetKind::LocalWebRtc => "Local server over WebRTC",
            TargetKind::CustomRtmp => "Custom RTMP or RTMPS",
            TargetKind::CustomSrt => "Custom SRT",
            TargetKind::CustomWhip => "Custom WHIP (WebRTC)",
        }
    }

    /// The protocol in a word, for the target list.
    pub fn protocol(self) -> &'static str {
        match self {
            TargetKind::LocalRtmp | TargetKind::CustomRtmp => "RTMP",
            TargetKind::LocalSrt | TargetKind::CustomSrt => "SRT",
            TargetKind::LocalWebRtc | TargetKind::CustomWhip => "WebRTC",
        }
    }

    pub fn is_local(self) -> bool {
        matches!(self, TargetKind::LocalRtmp | TargetKind::LocalSrt | TargetKind::LocalWebRtc)
    }
}

/// A target's identity across renames and restarts; its secrets are filed under it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TargetId(pub u32);

/// What a target must not show or save in the clear.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TargetSecrets {
    /// The RTMP stream key, the SRT stream id, or WHIP's bearer token.
    pub key: String,
    /// SRT's passphrase; empty for none.
    pub passphrase: String,
}

impl TargetSecrets {
    pub fn is_empty(&self) -> bool {
        self.key.is_empty() && self.passphrase.is_empty()
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TargetSetting {
    pub id: TargetId,
    pub name: String,
    /// Go Live starts it; while live, switching it starts or stops it alone.
    pub enabled: bool,
    pub kind: TargetKind,
    /// A custom target's server (`rtmp[s]://HOST[:PORT]/APP`, `srt://HOST:PORT`
    /// or a WHIP endpoint's URL); the local server's is known.
    pub url: String,
    #[serde(skip)]
    pub secrets: TargetSecrets,
}

impl Default for TargetSetting {
    fn default() -> Self {
        TargetSetting::new(TargetId(1), TargetKind::LocalRtmp)
    }
}

/// A target field the streamer fills in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetField {
    StreamKey,
    Url,
    StreamId,
    Passphrase,
    /// The on/off switch (two targets that cannot both be on).
    Enabled,
}

/// What is wrong with a target field, in the words shown next to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TargetProblem {
    #[error("The stream key is empty: paste it from your platform's dashboard")]
    EmptyKey,
    #[error("The server URL is empty: paste it from your platform's dashboard")]
    EmptyUrl,
    #[error("An RTMP server URL starts with rtmp:// or rtmps:// (rtmp://HOST[:PORT]/APP)")]
    NotRtmp,
    #[error("An SRT server URL starts with srt:// (srt://HOST:PORT)")]
    NotSrt,
    #[error("A WHIP URL starts with https:// or http:// (whip:// and whips:// too)")]
    NotWhip,
    #[error("The bearer token goes in its own field, not in the URL")]
    TokenInUrl,
    #[error("The stream key goes in its own field, not in the URL's ?")]
    QueryInUrl,
    #[error("The stream id is empty: the server needs it to know your stream")]
    EmptyStreamId,
    #[error("The passphrase must be 10 to 79 characters, or empty for none")]
    PassphraseLength,
    #[error("Another local server target is on: the server takes one stream per key")]
    LocalTwice,
}

impl TargetSetting {
    pub fn new(id: TargetId, kind: TargetKind) -> TargetSetting {
        let name = match kind {
            TargetKind::LocalRtmp | TargetKind::LocalSrt | TargetKind::LocalWebRtc => "Local server",
            TargetKind::CustomRtmp => "Custom RTMP",
            TargetKind::CustomSrt => "Custom SRT",
            TargetKind::CustomWhip => "Custom WHIP",
        };
        TargetSetting { id, name: name.into(), enabled: true, kind, url: String::new(), secrets: TargetSecrets::default() }
    }

    /// A custom RTMP(S) target with its server URL and stream key.
    pub fn custom_rtmp(id: TargetId, name: &str, url: &str, key: &str) -> TargetSetting {
        TargetSetting {
            name: name.into(),
            url: url.into(),
            secrets: TargetSecrets { key: key.into(), passphrase: String::new() },
            ..TargetSetting::new(id, TargetKind::CustomRtmp)
        }
    }

    /// The first of this target's own fields that cannot work, before anything
    /// connects; `local_key` is the local server's stream key.
    pub fn problem(&self, local_key: &str) -> Option<(TargetField, TargetProblem)> {
        let url = |schemes: &[&str], wrong: TargetProblem| {
            let text = self.url.trim();
            if text.is_empty() {
                Some((TargetField::Url, TargetProblem::EmptyUrl))
            } else if !schemes.iter().any(|scheme| text.to_ascii_lowercase().starts_with(scheme)) {
                Some((TargetField::Url, wrong))
            } else {
                None
            }
        };
        let secrets = &self.secrets;
        match self.kind {
            TargetKind::LocalRtmp | TargetKind::LocalSrt | TargetKind::LocalWebRtc => {
                local_key.trim().is_empty().then_some((TargetField::StreamKey, TargetProblem::EmptyKey))
            }
            TargetKind::CustomWhip => url(&["https://", "http://", "whips://", "whip://"], TargetProblem::NotWhip)
                .or_else(|| self.url.contains("token=").then_some((TargetField::Url, TargetProblem::TokenInUrl))),
            TargetKind::CustomRtmp => url(&["rtmp://", "rtmps://"], TargetProblem::NotRtmp)
                .or_else(|| self.url.contains('?').then_some((TargetField::Url, TargetProblem::QueryInUrl)))
                .or_else(|| secrets.key.trim().is_empty().then_some((TargetField::StreamKey, TargetProblem::EmptyKey))),
            TargetKind::CustomSrt => url(&["srt://"], TargetProblem::NotSrt)
                .or_else(|| secrets.key.trim().is_empty().then_some((TargetField::StreamId, TargetProblem::EmptyStreamId)))
                .or_else(|| {
                    let length = secrets.passphrase.chars().count();
                    (length != 0 && !(10..=79).contains(&length)).then_some((TargetField::Passphrase, TargetProblem::PassphraseLength))
                }),
        }
    }

    /// The publish URL, secrets included (for the engine, never for a log);
    /// None for a local target when the bundled server is not running.
    pub fn publish_url(&self, local: Option<LocalServer<'_>>, local_key: &str) -> Option<String> {
        let secrets = &self.secrets;
        match self.kind {
            TargetKind::LocalRtmp => local.map(|server| format!("{}/{local_key}", server.rtmp)),
            TargetKind::LocalSrt => local.map(|server| format!("{}?streamid=publish:live/{local_key}", server.srt)),
            TargetKind::LocalWebRtc => local.map(|server| {
                let http = server.http.trim_end_matches('/');
                let base = http.strip_prefix("http://").map_or_else(|| http.to_string(), |rest| format!("whip://{rest}"));
                format!("{base}/live/{}/whip", crate::server::serve::http::urlencode_path(local_key))
            }),
            TargetKind::CustomWhip => {
                let url = self.url.trim();
                let token = secrets.key.trim();
                if token.is_empty() {
                    return Some(url.to_string());
                }
                let joiner = if url.contains('?') { '&' } else { '?' };
                Some(format!("{url}{joiner}token={}", crate::server::serve::http::urlencode_path(token)))
            }
            TargetKind::CustomRtmp => Some(format!("{}/{}", self.url.trim().trim_end_matches('/'), secrets.key.trim())),
            TargetKind::CustomSrt => {
                let mut url = format!("{}?streamid={}", self.url.trim(), secrets.key.trim());
                if !secrets.passphrase.is_empty() {
                    url.push_str(&format!("&passphrase={}", secrets.passphrase));
                }
                Some(url)
            }
        }
    }
}

/// Where the bundled server listens: its RTMP and SRT publish URLs and its HTTP base.
#[derive(Clone, Copy, Debug)]
pub struct LocalServer<'a> {
    pub rtmp: &'a str,
    pub srt: &'a str,
    pub http: &'a str,
}

/// An id no target in `targets` has.
pub fn next_id(targets: &[TargetSetting]) -> TargetId {
    TargetId(targets.iter().map(|t| t.id.0).max().unwrap_or(0) + 1)
}

/// The first problem among the targets Go Live would start: a field of one
/// of them, or two local targets on at once.
pub fn first_problem(targets: &[TargetSetting], local_key: &str) -> Option<(TargetId, TargetField, TargetProblem)> {
    let enabled = || targets.iter().filter(|t| t.enabled);
    enabled()
        .find_map(|t| t.problem(local_key).map(|(field, problem)| (t.id, field, problem)))
        .or_else(|| enabled().filter(|t| t.kind.is_local()).nth(1).map(|second| (second.id, TargetField::Enabled, TargetProblem::LocalTwice)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_target_field_that_cannot_work_is_named() {
        let custom = |url: &str, key: &str| TargetSetting::custom_rtmp(TargetId(2), "x", url, key);
        assert_eq!(custom("rtmp://live.example.com/app", "").problem("k"), Some((TargetField::StreamKey, TargetProblem::EmptyKey)));
        assert_eq!(custom("", "abc").problem("k"), Some((TargetField::Url, TargetProblem::EmptyUrl)));
        assert_eq!(custom("http://x/app", "abc").problem("k"), Some((TargetField::Url, TargetProblem::NotRtmp)));
        assert_eq!(custom("rtmp://x/app?key=1", "abc").problem("k"), Some((TargetField::Url, TargetProblem::QueryInUrl)));
        assert_eq!(custom("rtmp://x/app", "abc").problem("k"), None);
        assert_eq!(custom("rtmps://x/app", "abc").problem("k"), None);
        let srt = |id: &str, passphrase: &str| TargetSetting {
            url: "srt://x:9000".into(),
            secrets: TargetSecrets { key: id.into(), passphrase: passphrase.into() },
            ..TargetSetting::new(TargetId(3), TargetKind::CustomSrt)
        };
        assert_eq!(srt("", "").problem("k"), Some((TargetField::StreamId, TargetProblem::EmptyStreamId)));
        assert_eq!(srt("publish:live/k", "short").problem("k"), Some((TargetField::Passphrase, TargetProblem::PassphraseLength)));
        assert_eq!(srt("publish:live/k", "").problem("k"), None);
        assert_eq!(TargetSetting::default().problem(" "), Some((TargetField::StreamKey, TargetProblem::EmptyKey)));
    }

    #[test]
    fn only_enabled_targets_are_checked_and_one_local_target_may_be_on() {
        let broken = TargetSetting { enabled: false, ..TargetSetting::custom_rtmp(TargetId(2), "off", "", "") };
        let local = TargetSetting::default();
        assert_eq!(first_problem(&[local.clone(), broken.clone()], "k"), None, "a target that is off is not checked");
        let on = TargetSetting { enabled: true, ..broken };
        assert_eq!(first_problem(&[local.clone(), on], "k"), Some((TargetId(2), TargetField::Url, TargetProblem::EmptyUrl)));
        let srt = TargetSetting::new(TargetId(4), TargetKind::LocalSrt);
        assert_eq!(first_problem(&[local, srt], "k"), Some((TargetId(4), TargetField::Enabled, TargetProblem::LocalTwice)));
    }

    #[test]
    fn the_publish_url_carries_the_secrets_the_settings_do_not() {
        let target = TargetSetting {
            url: "srt://h:9000".into(),
            secrets: TargetSecrets { key: "publish:live/k".into(), passphrase: "0123456789".into() },
            ..TargetSetting::new(TargetId(5), TargetKind::CustomSrt)
        };
        assert_eq!(target.publish_url(None, "k").as_deref(), Some("srt://h:9000?streamid=publish:live/k&passphrase=0123456789"));
        let saved = serde_json::to_string(&target).unwrap();
        assert!(!saved.contains("0123456789") && !saved.contains("publish:live/k"), "{saved}");
        assert_eq!(TargetSetting::default().publish_url(None, "k"), None, "no bundled server, no local URL");
        let local = LocalServer { rtmp: "rtmp://h/live", srt: "srt://h:1", http: "http://h:8080" };
        assert_eq!(TargetSetting::default().publish_url(Some(local), "k").as_deref(), Some("rtmp://h/live/k"));
        let webrtc = TargetSetting::new(TargetId(6), TargetKind::LocalWebRtc);
        assert_eq!(webrtc.publish_url(Some(local), "my key").as_deref(), Some("whip://h:8080/live/my%20key/whip"));
        let whip = TargetSetting {
            url: "https://whip.example/endpoint?app=1".into(),
            secrets: TargetSecrets { key: "a&b".into(), passphrase: String::new() },
            ..TargetSetting::new(TargetId(7), TargetKind::CustomWhip)
        };
        let url = whip.publish_url(None, "k").unwrap();
        assert_eq!(url, "https://whip.example/endpoint?app=1&token=a%26b");
        let Ok(crate::publish::target::PublishTarget::Whip(parsed)) = crate::publish::target::PublishTarget::parse(&url) else { panic!("{url}") };
        assert_eq!((parsed.url.path.as_str(), parsed.token.as_deref()), ("/endpoint?app=1", Some("a&b")));
    }
}
