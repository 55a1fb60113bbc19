//! Where to publish: `rtmp://host[:port]/app/key` (`rtmps://` over TLS),
//! `srt://host:port?…`, a WHIP endpoint (`whip://`, `whips://`, or its
//! `http(s)://` URL), or a recording's file.

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RtmpTarget {
    /// RTMPS: RTMP inside TLS, checked against the system's root certificates.
    pub tls: bool,
    pub host: String,
    pub port: u16,
    pub app: String,
    pub key: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "{url:?} is not a publish URL: {reason}. Expected rtmp://HOST[:PORT]/APP/KEY (rtmps:// over TLS), srt://HOST:PORT?streamid=publish:APP/KEY, or a WHIP URL: whip://HOST:PORT/live/KEY/whip (whips:// or https:// over TLS; ?token=SECRET for the bearer token)"
)]
pub struct TargetError {
    pub url: String,
    pub reason: &'static str,
}

impl RtmpTarget {
    pub fn parse(url: &str) -> Result<RtmpTarget, TargetError> {
        let error = |reason| TargetError { url: redact(url), reason };
        let (tls, rest) = match (url.strip_prefix("rtmp://"), url.strip_prefix("rtmps://")) {
            (Some(rest), _) => (false, rest),
            (None, Some(rest)) => (true, rest),
            (None, None) => return Err(error("only rtmp:// and rtmps:// are supported here")),
        };
        let (authority, path) = rest.split_once('/').ok_or_else(|| error("no application and stream key"))?;
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) => (host, port.parse::<u16>().map_err(|_| error("the port is not a number"))?),
            None => (authority, if tls { 443 } else { 1935 }),
        };
        if host.is_empty() {
            return Err(error("no host"));
        }
        let (app, key) = path.split_once('/').ok_or_else(|| error("no stream key after the application"))?;
        if app.is_empty() || key.is_empty() {
            return Err(error("empty application or stream key"));
        }
        Ok(RtmpTarget { tls, host: host.trim_matches(['[', ']']).to_string(), port, app: app.to_string(), key: key.to_string() })
    }

    /// The URL without its stream key, safe to show and log.
    pub fn display(&self) -> String {
        format!("{}/{}", self.tc_url(), mask(&self.key))
    }

    pub fn tc_url(&self) -> String {
        format!("{}://{}:{}/{}", if self.tls { "rtmps" } else { "rtmp" }, self.host, self.port, self.app)
    }
}

/// Stream keys are secrets: show their first two characters only.
pub fn mask(key: &str) -> String {
    let shown: String = key.chars().take(2).collect();
    format!("{shown}{}", "•".repeat(key.chars().count().saturating_sub(2).min(8)))
}

fn redact(url: &str) -> String {
    match url.rsplit_once('/') {
        Some((base, key)) if url.matches('/').count() >= 4 => format!("{base}/{}", mask(key)),
        _ => url.to_string(),
    }
}

/// Where to publish over SRT: `srt://host:port?streamid=...&passphrase=...&latency=MS`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SrtTarget {
    pub host: String,
    pub port: u16,
    pub stream_id: Option<String>,
    pub passphrase: Option<String>,
    /// AES key length in bytes (16, 24 or 32); None lets the peers agree.
    pub key_length: Option<u16>,
    pub latency_ms: u32,
}

impl SrtTarget {
    pub fn parse(url: &str) -> Result<SrtTarget, TargetError> {
        let error = |reason| TargetError { url: redact_query(url), reason };
        let rest = url.strip_prefix("srt://").ok_or_else(|| error("only srt:// is supported here"))?;
        let (authority, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (host, port) = authority.trim_end_matches('/').rsplit_once(':').ok_or_else(|| error("SRT needs a port"))?;
        let port = port.parse::<u16>().map_err(|_| error("the port is not a number"))?;
        if host.is_empty() {
            return Err(error("no host"));
        }
        let mut target =
            SrtTarget { host: host.trim_matches(['[', ']']).to_string(), port, stream_id: None, passphrase: None, key_length: None, latency_ms: 120 };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = percent_decode(value);
            match name {
                "streamid" => target.stream_id = Some(value),
                "passphrase" => {
                    if !(10..=79).contains(&value.len()) {
                        return Err(error("an SRT passphrase has 10 to 79 characters"));
                    }
                    target.passphrase = Some(value);
                }
                "pbkeylen" => match value.parse::<u16>() {
                    Ok(length @ (16 | 24 | 32)) => target.key_length = Some(length),
                    _ => return Err(error("pbkeylen is 16, 24 or 32")),
                },
                "latency" => target.latency_ms = value.parse().map_err(|_| error("latency is in milliseconds"))?,
                "mode" if value == "caller" => {}
                _ => return Err(error("unknown parameter (streamid, passphrase, pbkeylen and latency are understood)")),
            }
        }
        Ok(target)
    }

    /// The URL with the passphrase and the stream key masked.
    pub fn display(&self) -> String {
        let stream = self.stream_id.as_deref().map(|id| match id.rsplit_once('/') {
            Some((base, key)) => format!("{base}/{}", mask(key)),
            None => mask(id),
        });
        format!("srt://{}:{}{}", self.host, self.port, stream.map(|s| format!("?streamid={s}")).unwrap_or_default())
    }
}

/// A WHIP endpoint: the URL the offer is POSTed to, and the bearer token
/// (given as `?token=`, sent in the Authorization header, never in the URL).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WhipTarget {
    pub url: super::http_request::HttpUrl,
    pub token: Option<String>,
}

impl WhipTarget {
    pub fn parse(url: &str) -> Result<WhipTarget, TargetError> {
        let error = |reason| TargetError { url: redact_query(url), reason };
        let schemes = [("whip://", false), ("http://", false), ("whips://", true), ("https://", true)];
        let Some((rest, tls)) = schemes.iter().find_map(|(scheme, tls)| url.strip_prefix(scheme).map(|rest| (rest, *tls))) else {
            return Err(error("only whip://, whips://, http:// and https:// are WHIP URLs"));
        };
        let (authority, path) = rest.split_once('/').map(|(a, p)| (a, format!("/{p}"))).ok_or_else(|| error("no path to the WHIP endpoint"))?;
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) => (host, port.parse::<u16>().map_err(|_| error("the port is not a number"))?),
            None => (authority, if tls { 443 } else { 80 }),
        };
        if host.is_empty() {
            return Err(error("no host"));
        }
        let (path, query) = path.split_once('?').unwrap_or((&path, ""));
        let mut token = None;
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("token", value)) => token = Some(percent_decode(value)).filter(|t| !t.is_empty()),
                _ => kept.push(pair),
            }
        }
        let path = if kept.is_empty() { path.to_string() } else { format!("{path}?{}", kept.join("&")) };
        let url = super::http_request::HttpUrl { tls, host: host.trim_matches(['[', ']']).to_string(), port, path };
        Ok(WhipTarget { url, token })
    }

    /// The URL with the stream key (the segment before a last `whip`, or
    /// the last one) masked, and no token.
    pub fn display(&self) -> String {
        let scheme = if self.url.tls { "whips" } else { "whip" };
        let path = self.url.path.split_once('?').map_or(self.url.path.as_str(), |(p, _)| p);
        let mut segments: Vec<String> = path.split('/').map(str::to_string).collect();
        let last = segments.len() - 1;
        let key = if segments[last] == "whip" && last >= 2 { last - 1 } else { last };
        segments[key] = mask(&segments[key]);
        let token = if self.token.is_some() { " (with a token)" } else { "" };
        format!("{scheme}://{}:{}{}{token}", self.url.host, self.url.port, segments.join("/"))
    }
}

/// Where a stream goes: a server over one of the protocols, or a recording's file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PublishTarget {
    Rtmp(RtmpTarget),
    Srt(SrtTarget),
    Whip(WhipTarget),
    File(FileTarget),
}

/// A local recording: the encoded stream, as sent, in an MP4 file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileTarget {
    pub path: std::path::PathBuf,
}

impl FileTarget {
    /// `FOLDER/OnAir 2026-12-01 17-30-05.mp4` (UTC), in the Videos folder when no folder is given.
    pub fn named_by_time(folder: Option<&std::path::Path>) -> FileTarget {
        let folder = folder.map(std::path::Path::to_path_buf).unwrap_or_else(crate::xdg::videos);
        let now = crate::media::wallclock::UnixMillis::from_system_time(std::time::SystemTime::now()).to_iso8601();
        let stamp: String = now
            .chars()
            .take(19)
            .map(|c| {
                if c == 'T' {
                    ' '
                } else if c == ':' {
                    '-'
                } else {
                    c
                }
            })
            .collect();
        // Never over an earlier recording of the same second.
        let path = (1..).map(|n| folder.join(if n == 1 { format!("OnAir {stamp}.mp4") } else { format!("OnAir {stamp} ({n}).mp4") })).find(|p| !p.exists());
        FileTarget { path: path.unwrap_or_else(|| folder.join("OnAir.mp4")) }
    }
}

impl PublishTarget {
    pub fn parse(url: &str) -> Result<PublishTarget, TargetError> {
        if url.starts_with("srt://") {
            SrtTarget::parse(url).map(PublishTarget::Srt)
        } else if ["whip://", "whips://", "http://", "https://"].iter().any(|scheme| url.starts_with(scheme)) {
            WhipTarget::parse(url).map(PublishTarget::Whip)
        } else {
            RtmpTarget::parse(url).map(PublishTarget::Rtmp)
        }
    }

    pub fn display(&self) -> String {
        match self {
            PublishTarget::Rtmp(target) => target.display(),
            PublishTarget::Srt(target) => target.display(),
            PublishTarget::Whip(target) => target.display(),
            PublishTarget::File(target) => format!("recording to {}", target.path.display()),
        }
    }
}

fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(byte) = u8::from_str_radix(&value[i + 1..i + 3], 16)
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn redact_query(url: &str) -> String {
    url.split_once('?').map_or(url.to_string(), |(base, _)| format!("{base}?…"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_masks() {
        let target = RtmpTarget::parse("rtmp://127.0.0.1:1936/live/secret-key").unwrap();
        assert_eq!((target.host.as_str(), target.port, target.app.as_str(), target.key.as_str()), ("127.0.0.1", 1936, "live", "secret-key"));
        assert_eq!(target.display(), "rtmp://127.0.0.1:1936/live/se••••••••");
        assert_eq!(RtmpTarget::parse("rtmp://example.com/app/k").unwrap().port, 1935);
        for bad in ["http://x/live/k", "rtmp://host", "rtmp://host/live", "rtmp://host:port/live/k", "rtmp:///live/k"] {
            assert!(RtmpTarget::parse(bad).is_err(), "{bad}");
        }
        assert!(!RtmpTarget::parse("rtmp://h:x/live/topsecret").unwrap_err().to_string().contains("topsecret"));
    }

    #[test]
    fn srt_urls() {
        let target = SrtTarget::parse("srt://127.0.0.1:8890?streamid=%23!::r=live/cam,m=publish&passphrase=0123456789abc&latency=400").unwrap();
        assert_eq!(target.stream_id.as_deref(), Some("#!::r=live/cam,m=publish"));
        assert_eq!(target.passphrase.as_deref(), Some("0123456789abc"));
        assert_eq!(target.latency_ms, 400);
        assert_eq!(SrtTarget::parse("srt://h:1?pbkeylen=32").unwrap().key_length, Some(32));
        assert!(SrtTarget::parse("srt://h:1?pbkeylen=20").is_err());
        assert!(!target.display().contains("0123456789abc"));
        assert!(SrtTarget::parse("srt://host?streamid=x").is_err());
        assert!(SrtTarget::parse("srt://host:1?passphrase=short").is_err());
        assert!(matches!(PublishTarget::parse("srt://h:1"), Ok(PublishTarget::Srt(_))));
        assert!(matches!(PublishTarget::parse("rtmp://h/a/k"), Ok(PublishTarget::Rtmp(_))));
    }

    #[test]
    fn whip_urls() {
        let Ok(PublishTarget::Whip(target)) = PublishTarget::parse("whip://127.0.0.1:8080/live/cam/whip?token=s%3Dcret&x=1") else { panic!("a WHIP URL") };
        assert_eq!((target.url.tls, target.url.host.as_str(), target.url.port), (false, "127.0.0.1", 8080));
        assert_eq!((target.url.path.as_str(), target.token.as_deref()), ("/live/cam/whip?x=1", Some("s=cret")));
        assert_eq!(target.display(), "whip://127.0.0.1:8080/live/ca•/whip (with a token)");
        let secure = WhipTarget::parse("https://live.example/whip/endpoint/abcdef").unwrap();
        assert_eq!((secure.url.tls, secure.url.port, secure.token.as_deref()), (true, 443, None));
        assert!(!secure.display().contains("abcdef"));
        for bad in ["whip://host", "whip://:80/x", "whip://h:port/x"] {
            assert!(WhipTarget::parse(bad).is_err(), "{bad}");
        }
        assert!(!WhipTarget::parse("whip://h:x/a?token=topsecret").unwrap_err().to_string().contains("topsecret"));
    }
}
