//! A sans-IO RTMP publishing client: bytes in, events and bytes out.
//!
//! Wraps rml_rtmp's client handshake and session behind our own types.

use bytes::Bytes;
use rml_rtmp::rml_amf0::Amf0Value;
use rml_rtmp::sessions::{ClientSession, ClientSessionConfig, ClientSessionEvent, ClientSessionResult, PublishRequestType, StreamMetadata};
use rml_rtmp::time::RtmpTimestamp;

use super::link::{HandshakeStep, LinkError, RtmpLink, contained, protocol};
use crate::media::time::Timestamp;
use crate::publish::shared::MediaDescription;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RtmpClientError {
    #[error(transparent)]
    Link(#[from] LinkError),
    /// The server said no: a bad key, a taken key, a wrong application. Not worth retrying.
    #[error("the server refused: {0}")]
    Refused(String),
}

#[derive(Debug, PartialEq, Eq)]
pub enum ClientEvent {
    /// The server accepted the publish; media may flow.
    Publishing,
}

pub struct RtmpClientConnection {
    link: RtmpLink<ClientSession>,
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
        if !self.link.is_handshaking() {
            let results = self.session()?.handle_input(bytes).map_err(protocol)?;
            return self.handle(results);
        }
        let HandshakeStep::Completed { remaining } = self.link.handshake(bytes)? else { return Ok(Vec::new()) };
        let mut config = ClientSessionConfig::new();
        config.tc_url = Some(self.tc_url.clone());
        let (mut session, results) = ClientSession::new(config).map_err(protocol)?;
        let connect = session.request_connection(self.app.clone()).map_err(protocol)?;
        self.link.begin(session);
        let mut events = self.handle(results)?;
        events.extend(self.handle(vec![connect])?);
        if !remaining.is_empty() {
            events.extend(self.receive_inner(&remaining)?);
        }
        Ok(events)
    }

    fn session(&mut self) -> Result<&mut ClientSession, RtmpClientError> {
        Ok(self.link.session()?)
    }

    fn handle(&mut self, results: Vec<ClientSessionResult>) -> Result<Vec<ClientEvent>, RtmpClientError> {
        let mut events = Vec::new();
        for result in results {
            match result {
                ClientSessionResult::OutboundResponse(packet) => self.link.send(&packet.bytes),
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

    pub fn send_metadata(&mut self, media: &MediaDescription) -> Result<(), RtmpClientError> {
        let mut metadata = StreamMetadata::new();
        metadata.video_width = Some(media.width);
        metadata.video_height = Some(media.height);
        metadata.video_codec_id = Some(7);
        metadata.video_frame_rate = Some(media.fps);
        metadata.video_bitrate_kbps = Some(media.video_kbps);
        metadata.audio_codec_id = Some(10);
        metadata.audio_bitrate_kbps = Some(media.audio_kbps);
        metadata.audio_sample_rate = Some(48_000);
        metadata.audio_channels = Some(2);
        metadata.audio_is_stereo = Some(true);
        metadata.encoder = Some(format!("OnAir {}", env!("CARGO_PKG_VERSION")));
        let result = self.session()?.publish_metadata(&metadata).map_err(protocol)?;
        self.handle(vec![result]).map(|_| ())
    }

    /// An FLV video tag body at decode time `dts`.
    pub fn send_video(&mut self, body: Bytes, dts: Timestamp, droppable: bool) -> Result<(), RtmpClientError> {
        let timestamp = rtmp_timestamp(dts);
        let result = self.session()?.publish_video_data(body, timestamp, droppable).map_err(protocol)?;
        self.handle(vec![result]).map(|_| ())
    }

    pub fn send_audio(&mut self, body: Bytes, time: Timestamp) -> Result<(), RtmpClientError> {
        let timestamp = rtmp_timestamp(time);
        let result = self.session()?.publish_audio_data(body, timestamp, false).map_err(protocol)?;
        self.handle(vec![result]).map(|_| ())
    }

    /// Ends the stream cleanly (FCUnpublish / deleteStream).
    pub fn finish(&mut self) -> Result<(), RtmpClientError> {
        let results = self.session()?.stop_publishing().map_err(protocol)?;
        self.handle(results).map(|_| ())
    }
}

/// RTMP's clock: 32-bit milliseconds, which wrap after 49.7 days as the
/// protocol intends (the peer's extender follows the wrap).
fn rtmp_timestamp(time: Timestamp) -> RtmpTimestamp {
    RtmpTimestamp::new(time.as_millis() as u32)
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
