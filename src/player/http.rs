//! A minimal blocking HTTP/1.1 GET for the preview player (plain http:// only).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{0} is not an http:// URL")]
    Url(String),
    #[error("cannot fetch {url}: {source}")]
    Io { url: String, source: std::io::Error },
    #[error("{url} answered {status}")]
    Status { url: String, status: u16 },
    #[error("{url} sent a malformed response")]
    Malformed { url: String },
}

/// Largest body the player accepts.
const MAX_BODY: usize = 64 << 20;

pub fn get(url: &str) -> Result<Vec<u8>, FetchError> {
    let rest = url.strip_prefix("http://").ok_or_else(|| FetchError::Url(url.into()))?;
    let (authority, path) = rest.split_once('/').map_or((rest, "/".to_string()), |(a, p)| (a, format!("/{p}")));
    let io = |source| FetchError::Io { url: url.into(), source };
    let mut stream = TcpStream::connect(authority).map_err(io)?;
    stream.set_read_timeout(Some(Duration::from_secs(10))).map_err(io)?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: OnAir preview\r\nConnection: close\r\n\r\n").map_err(io)?;
    let mut response = Vec::new();
    stream.take(MAX_BODY as u64 + 65536).read_to_end(&mut response).map_err(io)?;
    let malformed = || FetchError::Malformed { url: url.into() };
    let header_end = response.windows(4).position(|w| w == b"\r\n\r\n").ok_or_else(malformed)?;
    let head = std::str::from_utf8(&response[..header_end]).map_err(|_| malformed())?;
    let status: u16 = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).ok_or_else(malformed)?;
    if status != 200 {
        return Err(FetchError::Status { url: url.into(), status });
    }
    let body = &response[header_end + 4..];
    let chunked = head.lines().any(|l| l.to_ascii_lowercase().starts_with("transfer-encoding:") && l.to_ascii_lowercase().contains("chunked"));
    if chunked { dechunk(body).ok_or_else(malformed) } else { Ok(body.to_vec()) }
}

fn dechunk(mut body: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = body.windows(2).position(|w| w == b"\r\n")?;
        let size = usize::from_str_radix(std::str::from_utf8(&body[..line_end]).ok()?.split(';').next()?.trim(), 16).ok()?;
        body = &body[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(body.get(..size)?);
        body = body.get(size + 2..)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_bodies_are_joined() {
        assert_eq!(dechunk(b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n").unwrap(), b"abcde");
        assert!(dechunk(b"9\r\nab").is_none());
    }
}
