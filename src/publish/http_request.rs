//! One HTTP/1.1 request and its response, over TCP or TLS (the same rustls
//! and system roots as RTMPS): what a WHIP publisher needs to POST its
//! offer and DELETE its session. One connection per request (`Connection:
//! close`), so a response ends at its length, its last chunk, or the close.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::session::{Failure, connect};

const TIMEOUT: Duration = Duration::from_secs(10);
/// An SDP answer is a few kilobytes; anything past this is not one.
const MAX_RESPONSE: usize = 256 * 1024;

/// Where a request goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpUrl {
    pub tls: bool,
    pub host: String,
    pub port: u16,
    /// The path and query, from its `/`.
    pub path: String,
}

impl HttpUrl {
    /// `Location` may be absolute or a path on the same server.
    pub fn join(&self, location: &str) -> HttpUrl {
        for (scheme, tls) in [("http://", false), ("https://", true)] {
            if let Some(rest) = location.strip_prefix(scheme) {
                let (authority, path) = rest.split_once('/').map_or((rest, "/".to_string()), |(a, p)| (a, format!("/{p}")));
                let (host, port) = match authority.rsplit_once(':') {
                    Some((host, port)) if port.parse::<u16>().is_ok() => (host, port.parse().unwrap_or(80)),
                    _ => (authority, if tls { 443 } else { 80 }),
                };
                return HttpUrl { tls, host: host.trim_matches(['[', ']']).to_string(), port, path };
            }
        }
        let path = if location.starts_with('/') {
            location.to_string()
        } else {
            let directory = self.path.rsplit_once('/').map_or("", |(d, _)| d);
            format!("{directory}/{location}")
        };
        HttpUrl { path, ..self.clone() }
    }
}

#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The body as text, for an error message: its first line, trimmed.
    pub fn reason(&self) -> String {
        let text = String::from_utf8_lossy(&self.body);
        let line = text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("");
        line.chars().take(300).collect()
    }
}

/// Sends `method` to `url` with `headers` and `body`; a network or TLS
/// trouble is a `Failure` as the publish drivers classify them.
pub async fn request(url: &HttpUrl, method: &str, headers: &[(&str, &str)], body: &[u8]) -> Result<HttpResponse, Failure> {
    let transient = |reason: String| Failure::Transient { reason, was_live: false };
    let (mut stream, address) = connect(&url.host, url.port, url.tls, TIMEOUT).await?;
    let default_port = if url.tls { 443 } else { 80 };
    let host = if url.port == default_port { url.host.clone() } else { format!("{}:{}", url.host, url.port) };
    let mut head = format!("{method} {} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: {}\r\n", url.path, body.len());
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let exchange = async {
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(body).await?;
        stream.flush().await?;
        let mut received = Vec::new();
        let mut buffer = [0u8; 8192];
        loop {
            if let Some(response) = parse(&received, false) {
                return Ok(response);
            }
            let read = stream.read(&mut buffer).await?;
            if read == 0 {
                return parse(&received, true)
                    .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the server closed before a whole response"));
            }
            received.extend_from_slice(&buffer[..read]);
            if received.len() > MAX_RESPONSE {
                return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "the response is too long"));
            }
        }
    };
    match tokio::time::timeout(TIMEOUT, exchange).await {
        Err(_) => Err(transient(format!("{address} did not answer the {method} within {} s", TIMEOUT.as_secs()))),
        Ok(Err(error)) => Err(transient(format!("{method} {}: {error}", url.path))),
        Ok(Ok(response)) => Ok(response),
    }
}

/// A whole response in `received`, if there is one; at the close (`closed`)
/// a response without a length ends there.
fn parse(received: &[u8], closed: bool) -> Option<HttpResponse> {
    let end = received.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&received[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse::<u16>().ok()?;
    let headers: Vec<(String, String)> =
        lines.filter_map(|line| line.split_once(':')).map(|(name, value)| (name.trim().to_string(), value.trim().to_string())).collect();
    let mut response = HttpResponse { status, headers, body: Vec::new() };
    let rest = &received[end + 4..];
    if let Some(length) = response.header("content-length").and_then(|v| v.parse::<usize>().ok()) {
        response.body = rest.get(..length)?.to_vec();
    } else if response.header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        response.body = dechunk(rest)?;
    } else if closed {
        response.body = rest.to_vec();
    } else {
        return None;
    }
    Some(response)
}

/// A chunked body, once its last chunk has come.
fn dechunk(mut rest: &[u8]) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = rest.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&rest[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Some(body);
        }
        body.extend_from_slice(rest.get(..size)?);
        rest = rest.get(size + 2..)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_end_at_their_length_their_last_chunk_or_the_close() {
        let whole = b"HTTP/1.1 201 Created\r\nLocation: /live/k/whip/3\r\ncontent-length: 5\r\n\r\nv=0\r\n";
        let response = parse(whole, false).unwrap();
        assert_eq!((response.status, response.header("location"), response.body.as_slice()), (201, Some("/live/k/whip/3"), &b"v=0\r\n"[..]));
        assert!(parse(&whole[..whole.len() - 1], false).is_none(), "a body shorter than its length waits");
        let chunked = b"HTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nbad \r\n5\r\noffer\r\n0\r\n\r\n";
        assert!(parse(&chunked[..chunked.len() - 5], false).is_none(), "chunks wait for the last one");
        assert_eq!(parse(chunked, false).unwrap().reason(), "bad offer");
        let unsized_body = b"HTTP/1.0 200 OK\r\n\r\nall of it";
        assert!(parse(unsized_body, false).is_none());
        assert_eq!(parse(unsized_body, true).unwrap().body, b"all of it");
    }

    #[test]
    fn locations_join_the_request_url() {
        let url = HttpUrl { tls: false, host: "127.0.0.1".into(), port: 8080, path: "/live/k/whip".into() };
        assert_eq!(url.join("/live/k/whip/7").path, "/live/k/whip/7");
        assert_eq!(url.join("whip/7").path, "/live/k/whip/7");
        let absolute = url.join("https://edge.example:8443/session/1");
        assert_eq!((absolute.tls, absolute.host.as_str(), absolute.port, absolute.path.as_str()), (true, "edge.example", 8443, "/session/1"));
    }
}
