//! LL-HLS blocking requests, sans-IO: what a request waits for, and whether
//! the window already has it. The HTTP layer does the waiting.

use crate::server::package::cmaf::window::TrackWindow;

/// Segments ahead of the newest one that a client may already wait for.
const MAX_SEGMENTS_AHEAD: u64 = 2;

/// `_HLS_msn`, `_HLS_part` and `_HLS_skip` of a media playlist request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PlaylistQuery {
    pub msn: Option<u64>,
    pub part: Option<u32>,
    pub skip: bool,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum QueryError {
    #[error("{0} is not a number")]
    NotANumber(&'static str),
    #[error("_HLS_part needs _HLS_msn")]
    PartWithoutMsn,
}

impl PlaylistQuery {
    pub fn parse(query: Option<&str>) -> Result<PlaylistQuery, QueryError> {
        let mut parsed = PlaylistQuery::default();
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            match name {
                "_HLS_msn" => parsed.msn = Some(value.parse().map_err(|_| QueryError::NotANumber("_HLS_msn"))?),
                "_HLS_part" => parsed.part = Some(value.parse().map_err(|_| QueryError::NotANumber("_HLS_part"))?),
                "_HLS_skip" => parsed.skip = value == "YES" || value == "v2",
                _ => {}
            }
        }
        if parsed.part.is_some() && parsed.msn.is_none() {
            return Err(QueryError::PartWithoutMsn);
        }
        Ok(parsed)
    }

    pub fn blocks(&self) -> bool {
        self.msn.is_some()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Readiness {
    Ready,
    Wait,
    /// Further ahead than the server will wait for: 400.
    TooFar,
}

/// Whether the playlist can answer a request for segment `msn` (part `part`).
pub fn playlist_readiness(track: &TrackWindow, ended: bool, query: &PlaylistQuery) -> Readiness {
    let Some(msn) = query.msn else { return Readiness::Ready };
    if ended {
        return Readiness::Ready;
    }
    // Without a part, the request is for the whole segment `msn`: its last part.
    let ready = match query.part {
        Some(part) => track.has_part_or_later(msn, part),
        None => track.closed(msn),
    };
    if ready {
        return Readiness::Ready;
    }
    let newest = track.open_number().unwrap_or(0);
    if msn > newest + MAX_SEGMENTS_AHEAD { Readiness::TooFar } else { Readiness::Wait }
}

/// `part-N.I.m4s` → (N, I).
pub fn parse_part_name(file: &str) -> Option<(u64, u32)> {
    let (number, index) = file.strip_prefix("part-")?.strip_suffix(".m4s")?.split_once('.')?;
    Some((number.parse().ok()?, index.parse().ok()?))
}

/// Whether a part that does not exist yet is worth waiting for: the hinted
/// one or one close behind it. Parts of closed segments that never existed are not.
pub fn part_readiness(track: &TrackWindow, ended: bool, number: u64, index: u32) -> Readiness {
    if track.part(number, index).is_some() {
        return Readiness::Ready;
    }
    if ended || track.closed(number) {
        return Readiness::TooFar;
    }
    let open = track.open_number().unwrap_or(0);
    if number > open + 1 { Readiness::TooFar } else { Readiness::Wait }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries() {
        assert_eq!(PlaylistQuery::parse(None), Ok(PlaylistQuery::default()));
        assert_eq!(PlaylistQuery::parse(Some("_HLS_msn=12&_HLS_part=3")), Ok(PlaylistQuery { msn: Some(12), part: Some(3), skip: false }));
        assert_eq!(PlaylistQuery::parse(Some("_HLS_msn=12&_HLS_skip=YES")).map(|q| q.skip), Ok(true));
        assert_eq!(PlaylistQuery::parse(Some("_HLS_part=3")), Err(QueryError::PartWithoutMsn));
        assert!(PlaylistQuery::parse(Some("_HLS_msn=x")).is_err());
        assert_eq!(parse_part_name("part-1700000000.4.m4s"), Some((1_700_000_000, 4)));
        assert_eq!(parse_part_name("part-1.m4s"), None);
    }
}
