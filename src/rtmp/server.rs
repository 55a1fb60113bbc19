//! A sans-IO RTMP server connection: bytes in, events and bytes out.
//!
//! The handshake is rml_rtmp's (staged and contained by [`super::link`]);
//! after it, chunks, commands and media are this crate's own: a message's
//! payload is copied once from the socket's bytes and handed on as it is,
//! and AMF0 is decoded with a nesting limit.

use bytes::Bytes;

use super::amf0::{self, Amf0, Amf0Error};
use super::chunk::{ChunkError, Message, kind};
use super::chunk_session::{CONTROL_CSID, ChunkSession};
use super::link::{HandshakeStep, LinkError, RtmpLink, contained};
use crate::media::shown::shown_key;
use crate::media::time::{Timestamp, WrapExtender};

/// The chunk size this server sends with.
const OUT_CHUNK_SIZE: usize = 4096;
/// How often the client should acknowledge what this server sends (hardly anything).
const WINDOW: u32 = 5_000_000;
const FMS_VERSION: &str = "FMS/3,0,1,123";
/// The one message stream a publisher gets from createStream.
const PUBLISH_STREAM: u32 = 1;

/// Outgoing chunk streams: connection commands, the stream's status.
mod csid {
    pub const COMMAND: u32 = 3;
    pub const STATUS: u32 = 5;
}

#[derive(Debug, thiserror::Error)]
pub enum RtmpError {
    #[error(transparent)]
    Link(#[from] LinkError),
    #[error(transparent)]
    Chunk(#[from] ChunkError),
    #[error("RTMP {command} command is malformed: {source}")]
    Command { command: &'static str, source: Amf0Error },
    #[error("client connected to application {0:?}; this server only accepts {1:?}")]
    WrongApp(String, String),
}

#[derive(Debug, PartialEq)]
pub enum RtmpEvent {
    /// The client asks to publish; answer with `accept_publish` or `reject_publish`.
    PublishRequested {
        request_id: u32,
        /// The stream name as sent: `KEY` or `KEY?query`.
        name: String,
        /// The query of the application name at connect (`live?secret=…` in
        /// OBS's server field), if it had one.
        connect_query: Option<String>,
    },
    Metadata {
        width: Option<u32>,
        height: Option<u32>,
        frame_rate: Option<f32>,
        encoder: Option<String>,
    },
    /// An FLV video tag body at an extended (wrap-free) millisecond timestamp.
    Video {
        time: Timestamp,
        body: Bytes,
    },
    Audio {
        time: Timestamp,
        body: Bytes,
    },
    PublishFinished,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Publishing {
    No,
    /// Asked, not yet answered: request id and message stream.
    Requested(u32, u32),
    Yes(u32),
    Finished,
}

/// The session after the handshake: the chunk layer both ways and where the publish stands.
struct Session {
    chunks: ChunkSession,
    connected: bool,
    publishing: Publishing,
    requests: u32,
}

pub struct RtmpServerConnection {
    link: RtmpLink<Session>,
    app: String,
    /// What followed `?` in the application name the client connected to.
    connect_query: Option<String>,
    max_message_bytes: usize,
    video_clock: WrapExtender,
    audio_clock: WrapExtender,
    /// Handshake bytes received so far; the first one is C0, the version.
    handshake_bytes: usize,
}

impl RtmpServerConnection {
    pub fn new(app: &str, max_message_bytes: usize) -> RtmpServerConnection {
        RtmpServerConnection {
            link: RtmpLink::server(),
            app: app.to_string(),
            connect_query: None,
            max_message_bytes,
            video_clock: WrapExtender::rtmp(),
            audio_clock: WrapExtender::rtmp(),
            handshake_bytes: 0,
        }
    }

    /// Bytes to send to the peer, in order.
    pub fn take_outgoing(&mut self) -> Vec<u8> {
        self.link.take_outgoing()
    }

    pub fn receive(&mut self, bytes: &[u8]) -> Result<Vec<RtmpEvent>, RtmpError> {
        contained(self, |c| &mut c.link, |c| c.receive_inner(bytes))
    }

    fn receive_inner(&mut self, bytes: &[u8]) -> Result<Vec<RtmpEvent>, RtmpError> {
        if self.link.is_handshaking() {
            if let Some(&version) = bytes.first().filter(|_| self.handshake_bytes == 0)
                && version != 3
            {
                return Err(LinkError::Handshake(format!("client asked for RTMP version {version}; only plain RTMP (3) is spoken")).into());
            }
            self.handshake_bytes += bytes.len();
            let HandshakeStep::Completed { remaining } = self.link.handshake(bytes)? else { return Ok(Vec::new()) };
            let mut session = Session { chunks: ChunkSession::new(self.max_message_bytes), connected: false, publishing: Publishing::No, requests: 0 };
            let mut hello = Vec::new();
            let writer = &mut session.chunks.writer;
            writer.set_chunk_size(OUT_CHUNK_SIZE, &mut hello);
            writer.write(CONTROL_CSID, kind::WINDOW_ACK_SIZE, 0, 0, &WINDOW.to_be_bytes(), &mut hello);
            let mut bandwidth = WINDOW.to_be_bytes().to_vec();
            bandwidth.push(2); // dynamic
            writer.write(CONTROL_CSID, kind::SET_PEER_BANDWIDTH, 0, 0, &bandwidth, &mut hello);
            self.link.begin(session);
            self.link.send(&hello);
            return if remaining.is_empty() { Ok(Vec::new()) } else { self.receive_inner(&remaining) };
        }
        let (session, out) = self.link.parts()?;
        let mut messages = session.chunks.read(bytes, out)?;
        let mut events = Vec::new();
        let handled = messages.drain(..).try_for_each(|message| self.handle(message, &mut events));
        self.session()?.chunks.recycle(messages);
        handled.map(|()| events)
    }

    fn handle(&mut self, message: Message, events: &mut Vec<RtmpEvent>) -> Result<(), RtmpError> {
        let payload = &message.payload;
        match message.kind {
            kind::AUDIO | kind::VIDEO => {
                if !matches!(self.session()?.publishing, Publishing::Yes(stream) if stream == message.stream_id) {
                    return Ok(());
                }
                let video = message.kind == kind::VIDEO;
                let (clock, track) = if video { (&mut self.video_clock, "video") } else { (&mut self.audio_clock, "audio") };
                if let Some(time) = extend_clock(clock, message.timestamp, track) {
                    let body = message.payload;
                    events.push(if video { RtmpEvent::Video { time, body } } else { RtmpEvent::Audio { time, body } });
                }
            }
            kind::AMF0_COMMAND => self.command(payload, message.stream_id, events)?,
            kind::AMF3_COMMAND => self.command(payload.get(1..).unwrap_or_default(), message.stream_id, events)?,
            kind::AMF0_DATA => metadata(payload, events),
            kind::AMF3_DATA => metadata(payload.get(1..).unwrap_or_default(), events),
            _ => {}
        }
        Ok(())
    }

    fn command(&mut self, payload: &[u8], stream_id: u32, events: &mut Vec<RtmpEvent>) -> Result<(), RtmpError> {
        let values = amf0::decode_all(payload);
        let name = values.as_ref().ok().and_then(|v| v.first()).and_then(Amf0::as_str).unwrap_or_default().to_string();
        let command: &'static str = match name.as_str() {
            "connect" => "connect",
            "publish" => "publish",
            "createStream" => "createStream",
            "releaseStream" | "FCPublish" => "FCPublish",
            "play" => "play",
            "FCUnpublish" | "deleteStream" | "closeStream" => "deleteStream",
            _ => return Ok(()),
        };
        let values = values.map_err(|source| RtmpError::Command { command, source })?;
        let transaction = values.get(1).and_then(Amf0::as_number).unwrap_or(0.0);
        match command {
            "connect" => {
                let object = values.get(2).cloned().unwrap_or(Amf0::Null);
                let app_name = object.get("app").and_then(Amf0::as_str).unwrap_or_default();
                // A query may carry a publish secret: it is kept, never shown.
                let (app, query) = app_name.split_once('?').unwrap_or((app_name, ""));
                let app = app.trim_end_matches('/');
                if app != self.app {
                    self.error(transaction, 0, "NetConnection.Connect.Rejected", "unknown application");
                    return Err(RtmpError::WrongApp(shown_key(app), self.app.clone()));
                }
                self.connect_query = (!query.is_empty()).then(|| query.to_string());
                self.session()?.connected = true;
                let encoding = object.get("objectEncoding").and_then(Amf0::as_number).unwrap_or(0.0);
                let properties = Amf0::object([("fmsVer", Amf0::string(FMS_VERSION)), ("capabilities", Amf0::Number(31.0))]);
                let mut information = status("status", "NetConnection.Connect.Success", &format!("Connected to application {app}."));
                if let Amf0::Object(fields) = &mut information {
                    fields.push(("objectEncoding".into(), Amf0::Number(encoding)));
                }
                self.send_command(csid::COMMAND, 0, &[Amf0::string("_result"), Amf0::Number(transaction), properties, information]);
            }
            "FCPublish" | "createStream" if transaction > 0.0 => {
                let result = if command == "createStream" { Amf0::Number(f64::from(PUBLISH_STREAM)) } else { Amf0::Undefined };
                self.send_command(csid::COMMAND, 0, &[Amf0::string("_result"), Amf0::Number(transaction), Amf0::Null, result]);
            }
            "publish" => {
                let session = self.session()?;
                if !session.connected {
                    return Ok(());
                }
                session.requests += 1;
                let request_id = session.requests;
                let stream = if stream_id == 0 { PUBLISH_STREAM } else { stream_id };
                session.publishing = match session.publishing {
                    Publishing::No | Publishing::Finished => Publishing::Requested(request_id, stream),
                    // A second publish on one connection is refused by the caller: keep the first.
                    other => other,
                };
                let name = values.get(3).and_then(Amf0::as_str).unwrap_or_default().to_string();
                events.push(RtmpEvent::PublishRequested { request_id, name, connect_query: self.connect_query.clone() });
            }
            "play" => self.status(stream_id, "error", "NetStream.Play.Failed", "this server does not play over RTMP; use HLS or DASH"),
            "deleteStream" => {
                let session = self.session()?;
                if matches!(session.publishing, Publishing::Yes(_)) {
                    session.publishing = Publishing::Finished;
                    events.push(RtmpEvent::PublishFinished);
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn session(&mut self) -> Result<&mut Session, RtmpError> {
        Ok(self.link.session()?)
    }

    fn write(&mut self, csid: u32, kind: u8, stream_id: u32, payload: &[u8]) {
        if let Ok((session, out)) = self.link.parts() {
            session.chunks.writer.write(csid, kind, stream_id, 0, payload, out);
        }
    }

    fn send_command(&mut self, csid: u32, stream_id: u32, values: &[Amf0]) {
        if let Ok((session, out)) = self.link.parts() {
            session.chunks.write_command(csid, stream_id, values, out);
        }
    }

    fn status(&mut self, stream_id: u32, level: &str, code: &str, description: &str) {
        self.send_command(csid::STATUS, stream_id, &[Amf0::string("onStatus"), Amf0::Number(0.0), Amf0::Null, status(level, code, description)]);
    }

    /// An `_error` answer, as clients expect a refused connect or publish.
    fn error(&mut self, transaction: f64, stream_id: u32, code: &str, description: &str) {
        self.send_command(csid::COMMAND, stream_id, &[Amf0::string("_error"), Amf0::Number(transaction), Amf0::Null, status("_error", code, description)]);
    }

    fn requested(&mut self, request_id: u32) -> Result<Option<u32>, RtmpError> {
        Ok(match self.session()?.publishing {
            Publishing::Requested(id, stream) if id == request_id => Some(stream),
            _ => None,
        })
    }

    pub fn accept_publish(&mut self, request_id: u32) -> Result<(), RtmpError> {
        let Some(stream) = self.requested(request_id)? else { return Ok(()) };
        self.session()?.publishing = Publishing::Yes(stream);
        let mut begin = vec![0, 0];
        begin.extend_from_slice(&stream.to_be_bytes());
        self.write(CONTROL_CSID, kind::USER_CONTROL, 0, &begin);
        self.status(stream, "status", "NetStream.Publish.Start", "Start publishing");
        Ok(())
    }

    pub fn reject_publish(&mut self, request_id: u32, description: &str) -> Result<(), RtmpError> {
        let stream = self.requested(request_id)?;
        if stream.is_some() {
            self.session()?.publishing = Publishing::No;
        }
        self.error(0.0, stream.unwrap_or(PUBLISH_STREAM), "NetStream.Publish.BadName", description);
        Ok(())
    }

    /// Tells a publisher its stream was refused after publishing began
    /// (an unsupported codec); the caller closes the connection next.
    pub fn refuse_stream(&mut self, description: &str) {
        let stream = match self.link.session().map(|s| s.publishing) {
            Ok(Publishing::Yes(stream)) => stream,
            _ => PUBLISH_STREAM,
        };
        self.status(stream, "error", "NetStream.Publish.Rejected", description);
    }
}

fn status(level: &str, code: &str, description: &str) -> Amf0 {
    Amf0::object([("level", Amf0::string(level)), ("code", Amf0::string(code)), ("description", Amf0::string(description))])
}

/// `@setDataFrame onMetaData {…}` (or `onMetaData {…}`): what is worth a log line.
fn metadata(payload: &[u8], events: &mut Vec<RtmpEvent>) {
    let Ok(values) = amf0::decode_all(payload) else { return };
    let mut values = values.iter().skip_while(|v| v.as_str() == Some("@setDataFrame"));
    if values.next().and_then(Amf0::as_str) != Some("onMetaData") {
        return;
    }
    let Some(fields) = values.next() else { return };
    let number = |name: &str| fields.get(name).and_then(Amf0::as_number).filter(|n| n.is_finite() && *n >= 0.0);
    events.push(RtmpEvent::Metadata {
        width: number("width").map(|n| n as u32),
        height: number("height").map(|n| n as u32),
        frame_rate: number("framerate").or_else(|| number("videoframerate")).map(|n| n as f32),
        encoder: fields.get("encoder").and_then(Amf0::as_str).map(str::to_string),
    });
}

/// A tag's timestamp on the extended timeline; `None` drops a tag whose
/// clock leapt ahead implausibly (the extender's bounded policy decides).
fn extend_clock(clock: &mut WrapExtender, raw: u32, track: &str) -> Option<Timestamp> {
    match clock.extend(u64::from(raw)) {
        Ok(time) => Some(time),
        Err(jump) => {
            tracing::warn!("RTMP {track} tag dropped: {jump}");
            None
        }
    }
}
