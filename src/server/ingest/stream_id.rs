//! SRT stream ids: which stream a caller wants and whether it publishes.
//!
//! Accepted forms: the SRT access-control syntax `#!::r=live/KEY,m=publish`,
//! `publish:live/KEY`, and plain `live/KEY`; each also percent-encoded, as a
//! URL's query writes it (`%23%21%3A%3Ar%3Dlive%2FKEY%2Cm%3Dpublish`), which
//! some callers (ffmpeg 5.1) send as they were given it.

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamRequest {
    pub app: String,
    pub key: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StreamIdError {
    #[error("no stream id; use streamid=publish:live/KEY")]
    Missing,
    #[error("stream id {0:?} is malformed; use publish:live/KEY or #!::r=live/KEY,m=publish")]
    Malformed(String),
    #[error("stream id asks to {0}; this server only accepts publishers over SRT (watch over HLS or DASH)")]
    NotPublish(String),
    #[error("stream id names application {0:?}; this server accepts {1:?}")]
    WrongApp(String, String),
}

pub fn parse_stream_id(id: Option<&str>, app: &str) -> Result<StreamRequest, StreamIdError> {
    let id = id.map(str::trim).filter(|s| !s.is_empty()).ok_or(StreamIdError::Missing)?;
    let decoded = percent_decoded(id);
    let id = decoded.as_deref().unwrap_or(id);
    let resource = if let Some(fields) = id.strip_prefix("#!::") {
        let mut resource = None;
        let mut mode = "request".to_string();
        for field in fields.split(',') {
            let (name, value) = field.split_once('=').ok_or_else(|| StreamIdError::Malformed(id.into()))?;
            match name {
                "r" => resource = Some(value.to_string()),
                "m" => mode = value.to_string(),
                _ => {}
            }
        }
        if mode != "publish" {
            return Err(StreamIdError::NotPublish(mode));
        }
        resource.ok_or_else(|| StreamIdError::Malformed(id.into()))?
    } else if let Some(rest) = id.strip_prefix("publish:") {
        rest.to_string()
    } else if let Some((mode, _)) = id.split_once(':') {
        return Err(StreamIdError::NotPublish(mode.to_string()));
    } else {
        id.to_string()
    };
    let (requested_app, key) = resource.split_once('/').ok_or_else(|| StreamIdError::Malformed(id.into()))?;
    if key.is_empty() || key.contains('/') {
        return Err(StreamIdError::Malformed(id.into()));
    }
    if requested_app != app {
        return Err(StreamIdError::WrongApp(requested_app.into(), app.into()));
    }
    Ok(StreamRequest { app: requested_app.into(), key: key.into() })
}

/// `id` with its `%XX` escapes decoded; None when it has none, or a `%`
/// that is not an escape (then it is taken as written).
fn percent_decoded(id: &str) -> Option<String> {
    if !id.contains('%') {
        return None;
    }
    let bytes = id.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        if bytes[at] == b'%' {
            let hex = std::str::from_utf8(bytes.get(at + 1..at + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            at += 3;
        } else {
            out.push(bytes[at]);
            at += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_forms_and_their_errors() {
        let expected = Ok(StreamRequest { app: "live".into(), key: "cam1".into() });
        assert_eq!(parse_stream_id(Some("#!::r=live/cam1,m=publish"), "live"), expected);
        assert_eq!(parse_stream_id(Some("#!::m=publish,r=live/cam1"), "live"), expected);
        assert_eq!(parse_stream_id(Some("publish:live/cam1"), "live"), expected);
        assert_eq!(parse_stream_id(Some("live/cam1"), "live"), expected);
        assert_eq!(parse_stream_id(None, "live"), Err(StreamIdError::Missing));
        assert!(matches!(parse_stream_id(Some("#!::r=live/cam1,m=request"), "live"), Err(StreamIdError::NotPublish(_))));
        assert!(matches!(parse_stream_id(Some("read:live/cam1"), "live"), Err(StreamIdError::NotPublish(_))));
        assert!(matches!(parse_stream_id(Some("cam1"), "live"), Err(StreamIdError::Malformed(_))));
        assert!(matches!(parse_stream_id(Some("#!::garbage"), "live"), Err(StreamIdError::Malformed(_))));
        assert!(matches!(parse_stream_id(Some("other/cam1"), "live"), Err(StreamIdError::WrongApp(..))));
    }

    #[test]
    fn a_percent_encoded_stream_id_is_read_as_its_url_wrote_it() {
        let expected = Ok(StreamRequest { app: "live".into(), key: "cam1".into() });
        assert_eq!(parse_stream_id(Some("%23%21%3A%3Ar%3Dlive%2Fcam1%2Cm%3Dpublish"), "live"), expected);
        assert_eq!(parse_stream_id(Some("publish%3Alive%2Fcam1"), "live"), expected);
        assert_eq!(parse_stream_id(Some("publish:live/100%"), "live").map(|r| r.key), Ok("100%".into()), "a % that escapes nothing stays");
        assert!(matches!(parse_stream_id(Some("%23%21%3A%3Ar%3Dlive%2Fcam1%2Cm%3Drequest"), "live"), Err(StreamIdError::NotPublish(_))));
    }
}
