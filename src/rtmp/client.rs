//! A sans-IO RTMP publishing client: bytes in, events and bytes out.
//!
//! The handshake is rml_rtmp's (staged and contained by [`super::link`]);
//! after it, the connect / createStream / publish exchange and the media are
//! this crate's own, written straight into chunks: a frame is copied once,
//! from the encoder's buffer into the bytes for the socket.

use super::amf0::{self, Amf0};
use super::chunk::{Message, kind};
use super::chunk_session::ChunkSession;
use super::link::{HandshakeStep, LinkError, RtmpLink, contained};
use crate::media::time::Timestamp;
use crate::publish::shared::MediaDescription;

/// The chunk size this client sends with, as ffmpeg and OBS do.
const OUT_CHUNK_SIZE: usize = 4096;
/// What the server may send at most in one message (status and metadata only).
const MAX_INCOMING: usize = 1 << 20;

/// Outgoing chunk streams, as ffmpeg numbers them.
mod csid {
    pub const COMMAND: u32 = 3;
    pub const AUDIO: u32 = 4;
    pub const VIDEO: u32 = 6;
    pub const STREAM: u32 = 8;
}

/// Transaction ids of the requests whose answers move the exchange on.
mod transaction {
    pub const CONNECT: f64 = 1.0;
    pub const CREATE_STREAM: f64 = 4.0;
    pub const PUBLISH: f64 = 5.0;
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RtmpClientError {
    #[error(transparent)]
    Link(#[from] LinkError),
    #[error("the server's RTMP is malformed: {0}")]
    Malformed(String),
    /// The server said no: a bad key, a taken key, a wrong application. Not worth retrying.
    #[error("the server refused: {0}")]
    Refused(String),
    #[error("media before the server accepted the publish")]
    NotPublishing,
}

#[derive(Debug, PartialEq, Eq)]
pub enum ClientEvent {
    /// The server accepted the publish; media may flow.
    Publishing,
}

struct Session {
    chunks: ChunkSession,
    /// The message stream createStream gave, once it has.
    stream: Option<u32>,
}

pub struct RtmpClientConnection {
    link: RtmpLink<Session>,
    app: String,
    key: String,
    tc_url: String,
    publishing: bool,
}

impl RtmpClientConnection {
    /// Starts a connection; C0+C1 are ready in `take_outgoing`.
    pub fn new(app: &str, key: &str, tc_url: &str) -> Result<RtmpClientConnection, RtmpClientError> {
        Ok(RtmpClientConnection { link: RtmpLink::client()?, app: app.to_string(), key: key.to_string(), tc_url: tc_url.to_string(), publishing: false })
    }

    pub fn take_outgoing(&mut self) -> Vec<u8> {
        self.link.take_outgoing()
    }

    pub fn is_publishing(&self) -> bool {
        self.publishing
    }

    pub fn receive(&mut self, bytes: &[u8]) -> Result<Vec<ClientEvent>, RtmpClientError> {
        contained(self, |c| &mut c.link, |c| c.receive_inner(bytes))
    }

    fn receive_inner(&mut self, bytes: &[u8]) -> Result<Vec<ClientEvent>, RtmpClientError> {
        if self.link.is_handshaking() {
            let HandshakeStep::Completed { remaining } = self.link.handshake(bytes)? else { return Ok(Vec::new()) };
            let session = Session { chunks: ChunkSession::new(MAX_INCOMING), stream: None };
            self.link.begin(session);
            let connect = Amf0::object([
                ("app", Amf0::string(&self.app)),
                ("type", Amf0::string("nonprivate")),
                ("flashVer", Amf0::string("FMLE/3.0 (compatible; OnAir)")),
                ("tcUrl", Amf0::string(&self.tc_url)),
            ]);
            self.command(csid::COMMAND, 0, "connect", transaction::CONNECT, &[connect]);
            return if remaining.is_empty() { Ok(Vec::new()) } else { self.receive_inner(&remaining) };
        }
        let (session, out) = self.link.parts()?;
        let mut messages = session.chunks.read(bytes, out).map_err(|e| RtmpClientError::Malformed(e.to_string()))?;
        let mut events = Vec::new();
        let handled = messages.drain(..).try_for_each(|message| self.handle(&message, &mut events));
        self.session()?.chunks.recycle(messages);
        handled.map(|()| events)
    }

    fn handle(&mut self, message: &Message, events: &mut Vec<ClientEvent>) -> Result<(), RtmpClientError> {
        match message.kind {
            kind::AMF0_COMMAND => self.answer(&message.payload, events),
            kind::AMF3_COMMAND => self.answer(message.payload.get(1..).unwrap_or_default(), events),
            _ => Ok(()),
        }
    }

    /// The server's answers: results move the exchange on, errors are refusals.
    fn answer(&mut self, payload: &[u8], events: &mut Vec<ClientEvent>) -> Result<(), RtmpClientError> {
        let values = amf0::decode_all(payload).map_err(|e| RtmpClientError::Malformed(e.to_string()))?;
        let name = values.first().and_then(Amf0::as_str).unwrap_or_default();
        let transaction = values.get(1).and_then(Amf0::as_number).unwrap_or(0.0);
        match name {
            "_result" if transaction == transaction::CONNECT => {
                let mut hello = Vec::new();
                let (session, _) = self.link.parts()?;
                session.chunks.writer.set_chunk_size(OUT_CHUNK_SIZE, &mut hello);
                self.link.send(&hello);
                let key = Amf0::string(&self.key);
                self.command(csid::COMMAND, 0, "releaseStream", 2.0, &[Amf0::Null, key.clone()]);
                self.command(csid::COMMAND, 0, "FCPublish", 3.0, &[Amf0::Null, key]);
                self.command(csid::COMMAND, 0, "createStream", transaction::CREATE_STREAM, &[Amf0::Null]);
            }
            "_result" if transaction == transaction::CREATE_STREAM => {
                let stream = values.get(3).and_then(Amf0::as_number).filter(|n| (1.0..=f64::from(u32::MAX)).contains(n));
                let stream = stream.ok_or_else(|| RtmpClientError::Malformed("createStream's answer has no stream id".into()))? as u32;
                self.session()?.stream = Some(stream);
                let arguments = [Amf0::Null, Amf0::string(&self.key), Amf0::string("live")];
                self.command(csid::STREAM, stream, "publish", transaction::PUBLISH, &arguments);
            }
            "_error" if transaction == transaction::CONNECT => {
                let description = status_description(values.get(2..).unwrap_or_default());
                return Err(RtmpClientError::Refused(format!("connection to application {:?} rejected: {description}", self.app)));
            }
            // An `_error` for the publish request (our own server and others answer so).
            "_error" => return Err(RtmpClientError::Refused(status_description(values.get(2..).unwrap_or_default()))),
            "onStatus" => {
                let code = values.iter().find_map(|v| v.get("code")).and_then(Amf0::as_str).unwrap_or_default();
                let level = values.iter().find_map(|v| v.get("level")).and_then(Amf0::as_str).unwrap_or_default();
                if code == "NetStream.Publish.Start" && !self.publishing {
                    self.publishing = true;
                    events.push(ClientEvent::Publishing);
                } else if level == "error" || is_refusal(code) {
                    return Err(RtmpClientError::Refused(status_description(values.get(2..).unwrap_or_default())));
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn session(&mut self) -> Result<&mut Session, RtmpClientError> {
        Ok(self.link.session()?)
    }

    fn write(&mut self, csid: u32, kind: u8, stream: u32, timestamp: u32, parts: &[&[u8]]) {
        if let Ok((session, out)) = self.link.parts() {
            session.chunks.writer.write_parts(csid, kind, stream, timestamp, parts, out);
        }
    }

    fn command(&mut self, csid: u32, stream: u32, name: &str, transaction: f64, arguments: &[Amf0]) {
        if let Ok((session, out)) = self.link.parts() {
            session.chunks.write_command(csid, stream, [Amf0::string(name), Amf0::Number(transaction)].iter().chain(arguments), out);
        }
    }

    fn stream(&mut self) -> Result<u32, RtmpClientError> {
        let stream = self.session()?.stream;
        stream.filter(|_| self.publishing).ok_or(RtmpClientError::NotPublishing)
    }

    pub fn send_metadata(&mut self, media: &MediaDescription) -> Result<(), RtmpClientError> {
        let stream = self.stream()?;
        let number = |n: f64| Amf0::Number(n);
        let metadata = Amf0::object([
            ("width", number(f64::from(media.width))),
            ("height", number(f64::from(media.height))),
            ("videocodecid", number(7.0)),
            ("framerate", number(f64::from(media.fps))),
            ("videodatarate", number(f64::from(media.video_kbps))),
            ("audiocodecid", number(10.0)),
            ("audiodatarate", number(f64::from(media.audio_kbps))),
            ("audiosamplerate", number(48_000.0)),
            ("audiochannels", number(2.0)),
            ("stereo", Amf0::Boolean(true)),
            ("encoder", Amf0::String(format!("OnAir {}", env!("CARGO_PKG_VERSION")))),
        ]);
        let mut payload = Vec::new();
        amf0::encode(&[Amf0::string("@setDataFrame"), Amf0::string("onMetaData"), metadata], &mut payload);
        self.write(csid::STREAM, kind::AMF0_DATA, stream, 0, &[&payload]);
        Ok(())
    }

    /// An FLV video tag, its header and its data apart, at decode time `dts`.
    pub fn send_video(&mut self, tag_header: &[u8], data: &[u8], dts: Timestamp) -> Result<(), RtmpClientError> {
        let stream = self.stream()?;
        self.write(csid::VIDEO, kind::VIDEO, stream, rtmp_timestamp(dts), &[tag_header, data]);
        Ok(())
    }

    pub fn send_audio(&mut self, tag_header: &[u8], data: &[u8], time: Timestamp) -> Result<(), RtmpClientError> {
        let stream = self.stream()?;
        self.write(csid::AUDIO, kind::AUDIO, stream, rtmp_timestamp(time), &[tag_header, data]);
        Ok(())
    }

    /// Ends the stream cleanly (FCUnpublish / deleteStream).
    pub fn finish(&mut self) -> Result<(), RtmpClientError> {
        let stream = self.stream()?;
        self.publishing = false;
        let key = Amf0::string(&self.key);
        self.command(csid::COMMAND, 0, "FCUnpublish", 6.0, &[Amf0::Null, key]);
        self.command(csid::COMMAND, 0, "deleteStream", 7.0, &[Amf0::Null, Amf0::Number(f64::from(stream))]);
        Ok(())
    }
}

/// RTMP's clock: 32-bit milliseconds, which wrap after 49.7 days as the
/// protocol intends (the peer's extender follows the wrap).
fn rtmp_timestamp(time: Timestamp) -> u32 {
    time.as_millis() as u32
}

fn is_refusal(text: &str) -> bool {
    ["BadName", "Rejected", "Failed", "Forbidden", "already"].iter().any(|word| text.contains(word))
}

fn status_description(values: &[Amf0]) -> String {
    for value in values {
        let field = |name: &str| value.get(name).and_then(Amf0::as_str).map(str::to_string);
        if let Some(description) = field("description").filter(|d| !d.is_empty()) {
            return match field("code") {
                Some(code) => format!("{code}: {description}"),
                None => description,
            };
        }
        if let Some(code) = field("code") {
            return code;
        }
    }
    "the publish request was refused".into()
}
