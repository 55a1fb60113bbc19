//! Where to publish: `rtmp://host[:port]/app/key`.

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RtmpTarget {
    pub host: String,
    pub port: u16,
    pub app: String,
    pub key: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{url:?} is not a publish URL: {reason}. Expected rtmp://HOST[:PORT]/APP/KEY")]
pub struct TargetError {
    pub url: String,
    pub reason: &'static str,
}

impl RtmpTarget {
    pub fn parse(url: &str) -> Result<RtmpTarget, TargetError> {
        let error = |reason| TargetError { url: redact(url), reason };
        let rest = url.strip_prefix("rtmp://").ok_or_else(|| error("only rtmp:// is supported here"))?;
        let (authority, path) = rest.split_once('/').ok_or_else(|| error("no application and stream key"))?;
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) => (host, port.parse::<u16>().map_err(|_| error("the port is not a number"))?),
            None => (authority, 1935),
        };
        if host.is_empty() {
            return Err(error("no host"));
        }
        let (app, key) = path.split_once('/').ok_or_else(|| error("no stream key after the application"))?;
        if app.is_empty() || key.is_empty() {
            return Err(error("empty application or stream key"));
        }
        Ok(RtmpTarget { host: host.trim_matches(['[', ']']).to_string(), port, app: app.to_string(), key: key.to_string() })
    }

    /// The URL without its stream key, safe to show and log.
    pub fn display(&self) -> String {
        format!("rtmp://{}:{}/{}/{}", self.host, self.port, self.app, mask(&self.key))
    }

    pub fn tc_url(&self) -> String {
        format!("rtmp://{}:{}/{}", self.host, self.port, self.app)
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
}
