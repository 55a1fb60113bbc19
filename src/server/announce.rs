//! The machine-readable lines `onair serve` prints on stdout, one per
//! listener, and their reader for scripts, tests and benchmarks.

use std::net::SocketAddr;

/// The base URLs a running server announced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Announced {
    /// `rtmp://ADDR/APP`: append `/KEY`.
    pub rtmp: String,
    /// `srt://ADDR`: add `?streamid=publish:APP/KEY`.
    pub srt: String,
    /// `http://ADDR`, without a trailing slash.
    pub http: String,
    /// `udp://ADDR`, the port WebRTC media flows through; announced before the others.
    pub webrtc: Option<String>,
    /// `rtmps://ADDR/APP` and `https://ADDR`, when configured; announced before RTMP's.
    pub rtmps: Option<String>,
    pub https: Option<String>,
}

/// The TLS listeners' lines, printed before `lines`.
pub fn tls_lines(rtmps: Option<SocketAddr>, https: Option<SocketAddr>, app: &str) -> Vec<String> {
    let rtmps = rtmps.map(|addr| format!("onair: RTMPS ingest rtmps://{addr}/{app}/KEY"));
    let https = https.map(|addr| format!("onair: HTTPS https://{addr}/"));
    rtmps.into_iter().chain(https).collect()
}

pub fn lines(rtmp: SocketAddr, srt: SocketAddr, http: SocketAddr, webrtc: SocketAddr, app: &str) -> [String; 4] {
    [
        format!("onair: WebRTC udp://{webrtc}"),
        format!("onair: RTMP ingest rtmp://{rtmp}/{app}/KEY"),
        format!("onair: SRT ingest srt://{srt}?streamid=publish:{app}/KEY"),
        format!("onair: HTTP http://{http}/"),
    ]
}

/// Collects the lines, in any order, among other output.
#[derive(Default)]
pub struct AnnouncementReader {
    webrtc: Option<String>,
    rtmps: Option<String>,
    https: Option<String>,
    rtmp: Option<String>,
    srt: Option<String>,
    http: Option<String>,
}

impl AnnouncementReader {
    /// Reads one line; returns the addresses once RTMP's, SRT's and HTTP's are known.
    pub fn read(&mut self, line: &str) -> Option<Announced> {
        if let Some(url) = line.strip_prefix("onair: WebRTC ") {
            self.webrtc = Some(url.to_string());
        } else if let Some(url) = line.strip_prefix("onair: RTMPS ingest ") {
            self.rtmps = Some(url.trim_end_matches("/KEY").to_string());
        } else if let Some(url) = line.strip_prefix("onair: HTTPS ") {
            self.https = Some(url.trim_end_matches('/').to_string());
        } else if let Some(url) = line.strip_prefix("onair: RTMP ingest ") {
            self.rtmp = Some(url.trim_end_matches("/KEY").to_string());
        } else if let Some(url) = line.strip_prefix("onair: SRT ingest ") {
            self.srt = Some(url.split('?').next().unwrap_or(url).to_string());
        } else if let Some(url) = line.strip_prefix("onair: HTTP ") {
            self.http = Some(url.trim_end_matches('/').to_string());
        }
        Some(Announced {
            rtmp: self.rtmp.clone()?,
            srt: self.srt.clone()?,
            http: self.http.clone()?,
            webrtc: self.webrtc.clone(),
            rtmps: self.rtmps.clone(),
            https: self.https.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_it_writes() {
        let addr: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let mut reader = AnnouncementReader::default();
        let [webrtc, rtmp, srt, http] = lines(addr, addr, addr, addr, "live");
        assert_eq!(reader.read("noise"), None);
        for line in tls_lines(Some(addr), Some(addr), "live") {
            assert_eq!(reader.read(&line), None);
        }
        assert_eq!(reader.read(&webrtc), None);
        assert_eq!(reader.read(&http), None);
        assert_eq!(reader.read(&rtmp), None);
        let announced = reader.read(&srt).unwrap();
        let expected = Announced {
            rtmp: "rtmp://127.0.0.1:1/live".into(),
            srt: "srt://127.0.0.1:1".into(),
            http: "http://127.0.0.1:1".into(),
            webrtc: Some("udp://127.0.0.1:1".into()),
            rtmps: Some("rtmps://127.0.0.1:1/live".into()),
            https: Some("https://127.0.0.1:1".into()),
        };
        assert_eq!(announced, expected);
    }
}
