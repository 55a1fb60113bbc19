//! Who may publish over RTMP: the stream name a publisher sends is
//! `KEY` or `KEY?secret=SECRET` (as OBS's stream key field or the end of
//! ffmpeg's URL), or the secret comes with the application at connect
//! (`rtmp://HOST/live?secret=SECRET` as OBS's server); a configured secret
//! must match. The key alone names the stream; the secret never reaches a
//! URL, a log line or the API.

use crate::media::shown::shown_key;
use crate::server::config::RtmpConfig;
use crate::server::serve::connection::percent_decode;

/// A publish request's stream name, split into the key and its query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublishName {
    pub key: String,
    secret: Option<String>,
}

impl PublishName {
    /// `KEY?a=b&secret=S`: the key before `?`, `secret` from its query, else
    /// from the query of the application the client connected to
    /// (percent-escapes decoded); other parameters are ignored.
    pub fn parse(name: &str, connect_query: Option<&str>) -> PublishName {
        let (key, query) = name.split_once('?').unwrap_or((name, ""));
        let secret = secret_in(query).or_else(|| connect_query.and_then(secret_in));
        PublishName { key: key.to_string(), secret }
    }
}

impl PublishName {
    /// A key and the secret that came apart from it (WHIP's bearer token).
    pub fn with_secret(key: &str, secret: Option<&str>) -> PublishName {
        PublishName { key: key.to_string(), secret: secret.map(str::to_string) }
    }
}

fn secret_in(query: &str) -> Option<String> {
    let value = query.split('&').find_map(|pair| pair.strip_prefix("secret="))?;
    // A malformed escape is kept as it came, and then simply fails to match.
    Some(percent_decode(value).unwrap_or_else(|| value.to_string()))
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretRefusal {
    #[error("stream {0:?} needs a publish secret: add ?secret=… to the stream key")]
    Missing(String),
    #[error("wrong publish secret for stream {0:?}: check the ?secret=… in the stream key")]
    Wrong(String),
}

/// Whether `name` may publish under `config`: the key's own secret
/// (`[rtmp.publish_secrets]`), else the global `publish_secret`, else anyone.
pub fn check(config: &RtmpConfig, name: &PublishName) -> Result<(), SecretRefusal> {
    let Some(expected) = config.publish_secrets.get(&name.key).or(config.publish_secret.as_ref()) else {
        return Ok(());
    };
    match &name.secret {
        None => Err(SecretRefusal::Missing(shown_key(&name.key))),
        Some(given) if same_secret(given.as_bytes(), expected.as_bytes()) => Ok(()),
        Some(_) => Err(SecretRefusal::Wrong(shown_key(&name.key))),
    }
}

/// Compares in time that depends on the lengths only, not on where they differ.
pub(crate) fn same_secret(given: &[u8], expected: &[u8]) -> bool {
    given.len() == expected.len() && given.iter().zip(expected).fold(0u8, |diff, (a, b)| diff | (a ^ b)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(global: Option<&str>, per_key: &[(&str, &str)]) -> RtmpConfig {
        RtmpConfig {
            publish_secret: global.map(str::to_string),
            publish_secrets: per_key.iter().map(|(k, s)| (k.to_string(), s.to_string())).collect(),
            ..RtmpConfig::default()
        }
    }

    #[test]
    fn the_key_is_the_name_before_the_query() {
        assert_eq!(PublishName::parse("studio", None), PublishName { key: "studio".into(), secret: None });
        assert_eq!(PublishName::parse("studio?secret=s3%20cret&x=1", None), PublishName { key: "studio".into(), secret: Some("s3 cret".into()) });
        assert_eq!(PublishName::parse("studio?x=1&secret=a", None), PublishName { key: "studio".into(), secret: Some("a".into()) });
        assert_eq!(PublishName::parse("studio?secret=%zz", None).secret.as_deref(), Some("%zz"));
        assert_eq!(PublishName::parse("?secret=a", None).key, "");
    }

    #[test]
    fn the_secret_may_come_with_the_application_instead() {
        assert_eq!(PublishName::parse("studio", Some("secret=a")).secret.as_deref(), Some("a"));
        assert_eq!(PublishName::parse("studio?secret=b", Some("secret=a")).secret.as_deref(), Some("b"), "the stream key's own comes first");
        assert_eq!(PublishName::parse("studio", Some("x=1")).secret, None);
    }

    #[test]
    fn without_a_configured_secret_anyone_publishes() {
        assert_eq!(check(&config(None, &[]), &PublishName::parse("any?secret=whatever", None)), Ok(()));
        assert_eq!(check(&config(None, &[("studio", "s")]), &PublishName::parse("other", None)), Ok(()));
    }

    #[test]
    fn a_per_key_secret_overrides_the_global_one() {
        let config = config(Some("global-1"), &[("studio", "studio-2")]);
        assert_eq!(check(&config, &PublishName::parse("studio?secret=studio-2", None)), Ok(()));
        assert_eq!(check(&config, &PublishName::parse("studio?secret=global-1", None)), Err(SecretRefusal::Wrong("studio".into())));
        assert_eq!(check(&config, &PublishName::parse("other?secret=global-1", None)), Ok(()));
        assert_eq!(check(&config, &PublishName::parse("other", None)), Err(SecretRefusal::Missing("other".into())));
        assert_eq!(check(&config, &PublishName::parse("other?secret=global-", None)), Err(SecretRefusal::Wrong("other".into())));
        assert_eq!(check(&config, &PublishName::parse("other?secret=", None)), Err(SecretRefusal::Wrong("other".into())));
    }

    #[test]
    fn a_refusal_says_what_to_do_and_never_the_secret() {
        let config = config(Some("global-1"), &[]);
        let wrong = check(&config, &PublishName::parse("other?secret=guess", None)).unwrap_err().to_string();
        assert!(wrong.contains("check the ?secret=") && !wrong.contains("guess") && !wrong.contains("global-1"), "{wrong}");
        let missing = check(&config, &PublishName::parse("other", None)).unwrap_err().to_string();
        assert!(missing.contains("add ?secret="), "{missing}");
        let flood = check(&config, &PublishName::parse(&"k".repeat(1 << 20), None)).unwrap_err().to_string();
        assert!(flood.len() < 200, "a megabyte key is shown shortened: {} bytes", flood.len());
    }
}
