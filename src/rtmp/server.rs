//! A sans-IO RTMP server connection: bytes in, events and bytes out.
//!
//! Wraps rml_rtmp's handshake and server session so the rest of the server
//! never sees its types, and so it can be patched or replaced. A panic inside
//! the library on hostile input is contained here and becomes an error for
//! this one connection.

use bytes::Bytes;
use rml_rtmp::chunk_io::ChunkSerializer;
use rml_rtmp::messages::RtmpMessage;
use rml_rtmp::rml_amf0::Amf0Value;
use rml_rtmp::sessions::{ServerSession, ServerSessionConfig, ServerSessionEvent, ServerSessionResult};
use rml_rtmp::time::RtmpTimestamp;

use super::link::{HandshakeStep, LinkError, RtmpLink, contained, protocol};
use crate::media::shown::shown_key;
use crate::media::time::{Timestamp, WrapExtender};

/// rml_rtmp appends its input to one buffer before splitting chunks off it;
/// a slice the size of a chunk keeps that buffer small enough to be reused
/// rather than reallocated on every read.
const INPUT_SLICE: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum RtmpError {
    #[error(transparent)]
    Link(#[from] LinkError),
    #[error("RTMP message of {0} bytes is over the limit")]
    MessageTooLarge(usize),
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

pub struct RtmpServerConnection {
    link: RtmpLink<ServerSession>,
    app: String,
    /// What followed `?` in the application name the client connected to.
    connect_query: Option<String>,
    max_message_bytes: usize,
    video_clock: WrapExtender,
    audio_clock: WrapExtender,
    publish_stream_id: u32,
    /// Handshake bytes received so far; the first one is C0, the version.
    handshake_bytes: usize,
    /// Bytes fed to the session since it last completed a message: a bound
    /// on what a half-sent message can make it buffer.
    bytes_since_message: usize,
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
            publish_stream_id: 1,
            handshake_bytes: 0,
            bytes_since_message: 0,
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
            let mut config = ServerSessionConfig::new();
            config.chunk_size = 4096;
            let (session, results) = ServerSession::new(config).map_err(protocol)?;
            self.link.begin(session);
            let mut events = self.handle_results(results)?;
            if !remaining.is_empty() {
                events.extend(self.receive_inner(&remaining)?);
            }
            return Ok(events);
        }
        let mut results = Vec::new();
        for slice in bytes.chunks(INPUT_SLICE) {
            results.extend(self.session()?.handle_input(slice).map_err(protocol)?);
        }
        if results.is_empty() {
            self.bytes_since_message += bytes.len();
            if self.bytes_since_message > self.max_message_bytes + 64 * 1024 {
                return Err(RtmpError::MessageTooLarge(self.bytes_since_message));
            }
        } else {
            self.bytes_since_message = 0;
        }
        self.handle_results(results)
    }

    fn session(&mut self) -> Result<&mut ServerSession, RtmpError> {
        Ok(self.link.session()?)
    }

    fn handle_results(&mut self, results: Vec<ServerSessionResult>) -> Result<Vec<RtmpEvent>, RtmpError> {
        let mut events = Vec::new();
        for result in results {
            match result {
                ServerSessionResult::OutboundResponse(packet) => self.link.send(&packet.bytes),
                ServerSessionResult::UnhandleableMessageReceived(_) => {}
                ServerSessionResult::RaisedEvent(event) => self.handle_event(event, &mut events)?,
            }
        }
        Ok(events)
    }

    fn handle_event(&mut self, event: ServerSessionEvent, events: &mut Vec<RtmpEvent>) -> Result<(), RtmpError> {
        match event {
            ServerSessionEvent::ConnectionRequested { request_id, app_name } => {
                // A query may carry a publish secret: it is kept, never shown.
                let (app, query) = app_name.split_once('?').unwrap_or((&app_name, ""));
                let app = app.trim_end_matches('/');
                if app != self.app {
                    let results = self.session()?.reject_request(request_id, "NetConnection.Connect.Rejected", "unknown application").map_err(protocol)?;
                    self.handle_results(results)?;
                    return Err(RtmpError::WrongApp(shown_key(app), self.app.clone()));
                }
                self.connect_query = (!query.is_empty()).then(|| query.to_string());
                let results = self.session()?.accept_request(request_id).map_err(protocol)?;
                events.extend(self.handle_results(results)?);
            }
            ServerSessionEvent::PublishStreamRequested { request_id, stream_key, .. } => {
                events.push(RtmpEvent::PublishRequested { request_id, name: stream_key, connect_query: self.connect_query.clone() });
            }
            ServerSessionEvent::PlayStreamRequested { request_id, .. } => {
                let results = self
                    .session()?
                    .reject_request(request_id, "NetStream.Play.Failed", "this server does not play over RTMP; use HLS or DASH")
                    .map_err(protocol)?;
                self.handle_results(results)?;
            }
            ServerSessionEvent::StreamMetadataChanged { metadata, .. } => events.push(RtmpEvent::Metadata {
                width: metadata.video_width,
                height: metadata.video_height,
                frame_rate: metadata.video_frame_rate,
                encoder: metadata.encoder,
            }),
            ServerSessionEvent::VideoDataReceived { data, timestamp, .. } => {
                self.check_size(data.len())?;
                if let Some(time) = extend_clock(&mut self.video_clock, timestamp.value, "video") {
                    events.push(RtmpEvent::Video { time, body: data });
                }
            }
            ServerSessionEvent::AudioDataReceived { data, timestamp, .. } => {
                self.check_size(data.len())?;
                if let Some(time) = extend_clock(&mut self.audio_clock, timestamp.value, "audio") {
                    events.push(RtmpEvent::Audio { time, body: data });
                }
            }
            ServerSessionEvent::PublishStreamFinished { .. } => events.push(RtmpEvent::PublishFinished),
            _ => {}
        }
        Ok(())
    }

    fn check_size(&self, len: usize) -> Result<(), RtmpError> {
        if len > self.max_message_bytes { Err(RtmpError::MessageTooLarge(len)) } else { Ok(()) }
    }

    pub fn accept_publish(&mut self, request_id: u32) -> Result<(), RtmpError> {
        let results = self.session()?.accept_request(request_id).map_err(protocol)?;
        self.handle_results(results).map(|_| ())
    }

    pub fn reject_publish(&mut self, request_id: u32, description: &str) -> Result<(), RtmpError> {
        let results = self.session()?.reject_request(request_id, "NetStream.Publish.BadName", description).map_err(protocol)?;
        self.handle_results(results).map(|_| ())
    }

    /// Tells a publisher its stream was refused after publishing began
    /// (an unsupported codec); the caller closes the connection next.
    pub fn refuse_stream(&mut self, description: &str) {
        let status = [
            ("level".to_string(), Amf0Value::Utf8String("error".into())),
            ("code".to_string(), Amf0Value::Utf8String("NetStream.Publish.Rejected".into())),
            ("description".to_string(), Amf0Value::Utf8String(description.into())),
        ];
        let message = RtmpMessage::Amf0Command {
            command_name: "onStatus".into(),
            transaction_id: 0.0,
            command_object: Amf0Value::Null,
            additional_arguments: vec![Amf0Value::Object(status.into_iter().collect())],
        };
        // A separate serializer with full headers on a fresh chunk stream leaves
        // the peer's view of the session's chunk streams intact.
        let mut serializer = ChunkSerializer::new();
        let packet = serializer
            .set_max_chunk_size(4096, RtmpTimestamp::new(0))
            .ok()
            .and_then(|_| message.into_message_payload(RtmpTimestamp::new(0), self.publish_stream_id).ok())
            .and_then(|payload| serializer.serialize(&payload, true, false).ok());
        if let Some(packet) = packet {
            self.link.send(&packet.bytes);
        }
    }
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
