//! A sans-IO RTMP publishing client: bytes in, events and bytes out.
//!
//! Wraps rml_rtmp's client handshake and session behind our own types.

use std::panic::{AssertUnwindSafe, catch_unwind};

use bytes::Bytes;
use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
use rml_rtmp::rml_amf0::Amf0Value;
use rml_rtmp::sessions::{ClientSession, ClientSessionConfig, ClientSessionEvent, ClientSessionResult, PublishRequestType, StreamMetadata};
use rml_rtmp::time::RtmpTimestamp;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RtmpClientError {
    #[error("RTMP handshake failed: {0}")]
    Handshake(String),
    #[error("RTMP protocol error: {0}")]
    Protocol(String),
    /// The server said no: a bad key, a taken key, a wrong application. Not worth retrying.
    #[error("the server refused: {0}")]
    Refused(String),
}

#[derive(Debug, PartialEq, Eq)]
pub enum ClientEvent {
    /// The server accepted the publish; media may flow.
    Publishing,
}

enum Stage {
    Handshaking(Box<Handshake>),
    Session(Box<ClientSession>),
    Failed,
}

pub struct RtmpClientConnection {
    stage: Stage,
    app: String,
    key: String,
    tc_url: String,
    outgoing: Vec<u8>,
    publishing: bool,
}

impl RtmpClientConnection {
    /// Starts a connection; C0+C1 are ready in `take_outgoing`.
    pub fn new(app: &str, key: &str, tc_url: &str) -> Result<RtmpClientConnection, RtmpClientError> {
        let mut handshake = Handshake::new(PeerType::Client);
        let c0c1 = handshake.generate_outbound_p0_and_p1().map_err(|e| RtmpClientError::Handshake(format!("{e:?}")))?;
        Ok(RtmpClientConnection {
            stage: Stage::Handshaking(Box::new(handshake)),
            app: app.to_string(),
            key: key.to_string(),
            tc_url: tc_url.to_string(),
            outgoing: c0c1,
            publishing: false,
        })
    }

    pub fn take_outgoing(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.outgoing)
    }

    pub fn is_publishing(&self) -> bool {
        self.publishing
    }

    pub fn receive(&mut self, bytes: &[u8]) -> Result<Vec<ClientEvent>, RtmpClientError> {
        let result = catch_unwind(AssertUnwindSafe(|| self.receive_inner(bytes)))
            .unwrap_or_else(|_| Err(RtmpClientError::Protocol("the RTMP library failed on the server's bytes".into())));
        if result.is_err() {
            self.stage = Stage::Failed;
        }
        result
    }

    fn receive_inner(&mut self, bytes: &[u8]) -> Result<Vec<ClientEvent>, RtmpClientError> {
        match &mut self.stage {
            Stage::Failed => Err(RtmpClientError::Protocol("connection already failed".into())),
            Stage::Handshaking(handshake) => match handshake.process_bytes(bytes).map_err(|e| RtmpClientError::Handshake(format!("{e:?}")))? {
                HandshakeProcessResult::InProgress { response_bytes } => {
                    self.outgoing.extend_from_slice(&response_bytes);
                    Ok(Vec::new())
                }
                HandshakeProcessResult::Completed { response_bytes, remaining_bytes } => {
                    self.outgoing.extend_from_slice(&response_bytes);
                    let mut config = ClientSessionConfig::new();
                    config.tc_url = Some(self.tc_url.clone());
                    let (mut session, results) = ClientSession::new(config).map_err(protocol)?;
                    let connect = session.request_connection(self.app.clone()).map_err(protocol)?;
                    self.stage = Stage::Session(Box::new(session));
                    let mut events = self.handle(results)?;
                    events.extend(self.handle(vec![connect])?);
                    if !remaining_bytes.is_empty() {
                        events.extend(self.receive_inner(&remaining_bytes)?);
                    }
                    Ok(events)
                }
            },
            Stage::Session(session) => {
                let results = session.handle_input(bytes).map_err(protocol)?;
                self.handle(results)
            }
        }
    }

    fn session(&mut self) -> Result<&mut ClientSession, RtmpClientError> {
        match &mut self.stage {
            Stage::Session(session) => Ok(session),
            _ => Err(RtmpClientError::Protocol("not connected yet".into())),
        }
    }

    fn handle(&mut self, results: Vec<ClientSessionResult>) -> Result<Vec<ClientEvent>, RtmpClientError> {
        let mut events = Vec::new();
        for result in results {
            match result {
                ClientSessionResult::OutboundResponse(packet) => self.outgoing.extend_from_slice(&packet.bytes),
                ClientSessionResult::UnhandleableMessageReceived(_) => {}
                ClientSessionResult::RaisedEvent(event) => match event {
                    ClientSessionEvent::ConnectionRequestAccepted => {
                        let key = self.key.clone();
                        let request = self.session()?.request_publishing(key, PublishRequestType::Live).map_err(protocol)?;
                        events.extend(self.handle(vec![request])?);
                    }
                    ClientSessionEvent::ConnectionRequestRejected { description } => {
                        return Err(RtmpClientError::Refused(format!("connection to application {:?} rejected: {description}", self.app)));
                    }
                    ClientSessionEvent::PublishRequestAccepted => {
                        self.publishing = true;
                        events.push(ClientEvent::Publishing);
                    }
                    ClientSessionEvent::UnhandleableOnStatusCode { code } if is_refusal(&code) => {
                        return Err(RtmpClientError::Refused(code));
                    }
                    ClientSessionEvent::UnknownTransactionResultReceived { additional_values, .. } => {
                        // An `_error` for the publish request (our own server and others answer so).
                        let description = status_description(&additional_values);
                        return Err(RtmpClientError::Refused(description));
                    }
                    ClientSessionEvent::UnhandleableAmf0Command { command_name, additional_values, .. } if command_name == "onStatus" => {
                        let description = status_description(&additional_values);
                        if is_refusal(&description) {
                            return Err(RtmpClientError::Refused(description));
                        }
                    }
                    _ => {}
                },
            }
        }
        Ok(events)
    }

    pub fn send_metadata(&mut self, width: u32, height: u32, fps: f32, video_kbps: u32, audio_kbps: u32) -> Result<(), RtmpClientError> {
        let mut metadata = StreamMetadata::new();
        metadata.video_width = Some(width);
        metadata.video_height = Some(height);
        metadata.video_codec_id = Some(7);
        metadata.video_frame_rate = Some(fps);
        metadata.video_bitrate_kbps = Some(video_kbps);
        metadata.audio_codec_id = Some(10);
        metadata.audio_bitrate_kbps = Some(audio_kbps);
        metadata.audio_sample_rate = Some(48_000);
        metadata.audio_channels = Some(2);
        metadata.audio_is_stereo = Some(true);
        metadata.encoder = Some(format!("OnAir {}", env!("CARGO_PKG_VERSION")));
        let result = self.session()?.publish_metadata(&metadata).map_err(protocol)?;
        self.handle(vec![result]).map(|_| ())
    }

    pub fn send_video(&mut self, body: Bytes, timestamp_ms: i64, droppable: bool) -> Result<(), RtmpClientError> {
        let timestamp = RtmpTimestamp::new(timestamp_ms as u32);
        let result = self.session()?.publish_video_data(body, timestamp, droppable).map_err(protocol)?;
        self.handle(vec![result]).map(|_| ())
    }

    pub fn send_audio(&mut self, body: Bytes, timestamp_ms: i64) -> Result<(), RtmpClientError> {
        let timestamp = RtmpTimestamp::new(timestamp_ms as u32);
        let result = self.session()?.publish_audio_data(body, timestamp, false).map_err(protocol)?;
        self.handle(vec![result]).map(|_| ())
    }

    /// Ends the stream cleanly (FCUnpublish / deleteStream).
    pub fn finish(&mut self) -> Result<(), RtmpClientError> {
        let results = self.session()?.stop_publishing().map_err(protocol)?;
        self.handle(results).map(|_| ())
    }
}

fn protocol<E: std::fmt::Debug>(error: E) -> RtmpClientError {
    RtmpClientError::Protocol(format!("{error:?}"))
}

fn is_refusal(text: &str) -> bool {
    ["BadName", "Rejected", "Failed", "Forbidden", "already"].iter().any(|word| text.contains(word))
}

fn status_description(values: &[Amf0Value]) -> String {
    for value in values {
        if let Amf0Value::Object(properties) = value {
            let field = |name: &str| match properties.get(name) {
                Some(Amf0Value::Utf8String(text)) => Some(text.clone()),
                _ => None,
            };
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
    }
    "the publish request was refused".into()
}
