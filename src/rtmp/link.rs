//! What both RTMP sides share: the handshake stage before the session,
//! the bytes waiting to be sent, and containment. rml_rtmp is not
//! actively maintained and panics on some hostile input: a panic or an
//! error fails this one connection for good, never the process.

use std::panic::{AssertUnwindSafe, catch_unwind};

use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LinkError {
    #[error("RTMP handshake failed: {0}")]
    Handshake(String),
    #[error("RTMP protocol error: {0}")]
    Protocol(String),
    #[error("RTMP library failed on this input (contained): {0}")]
    Contained(String),
    #[error("RTMP connection already failed")]
    Failed,
}

enum Stage<S> {
    Handshaking(Box<Handshake>),
    Session(Box<S>),
    Failed,
}

/// One connection's stage over session type `S`, and its outgoing bytes.
pub struct RtmpLink<S> {
    stage: Stage<S>,
    outgoing: Vec<u8>,
}

/// What handshake bytes did.
pub enum HandshakeStep {
    InProgress,
    /// The handshake is done: open the session, then feed it `remaining`.
    Completed {
        remaining: Vec<u8>,
    },
}

impl<S> RtmpLink<S> {
    pub fn server() -> RtmpLink<S> {
        RtmpLink { stage: Stage::Handshaking(Box::new(Handshake::new(PeerType::Server))), outgoing: Vec::new() }
    }

    /// A client starts the handshake: C0 and C1 are ready to send.
    pub fn client() -> Result<RtmpLink<S>, LinkError> {
        let mut handshake = Handshake::new(PeerType::Client);
        let c0c1 = handshake.generate_outbound_p0_and_p1().map_err(|e| LinkError::Handshake(format!("{e:?}")))?;
        Ok(RtmpLink { stage: Stage::Handshaking(Box::new(handshake)), outgoing: c0c1 })
    }

    pub fn is_handshaking(&self) -> bool {
        matches!(self.stage, Stage::Handshaking(_))
    }

    /// Feeds handshake bytes; its answers go to the outgoing bytes.
    pub fn handshake(&mut self, bytes: &[u8]) -> Result<HandshakeStep, LinkError> {
        let Stage::Handshaking(handshake) = &mut self.stage else { return Err(LinkError::Protocol("the handshake is over".into())) };
        match handshake.process_bytes(bytes).map_err(|e| LinkError::Handshake(format!("{e:?}")))? {
            HandshakeProcessResult::InProgress { response_bytes } => {
                self.outgoing.extend_from_slice(&response_bytes);
                Ok(HandshakeStep::InProgress)
            }
            HandshakeProcessResult::Completed { response_bytes, remaining_bytes } => {
                self.outgoing.extend_from_slice(&response_bytes);
                Ok(HandshakeStep::Completed { remaining: remaining_bytes })
            }
        }
    }

    /// The handshake completed and the session is open.
    pub fn begin(&mut self, session: S) {
        self.stage = Stage::Session(Box::new(session));
    }

    pub fn session(&mut self) -> Result<&mut S, LinkError> {
        self.parts().map(|(session, _)| session)
    }

    /// The session and the outgoing bytes together, for a session that writes its own.
    pub fn parts(&mut self) -> Result<(&mut S, &mut Vec<u8>), LinkError> {
        match &mut self.stage {
            Stage::Session(session) => Ok((session, &mut self.outgoing)),
            Stage::Failed => Err(LinkError::Failed),
            Stage::Handshaking(_) => Err(LinkError::Protocol("no RTMP session yet".into())),
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.outgoing.extend_from_slice(bytes);
    }

    /// Bytes to send to the peer, in order.
    pub fn take_outgoing(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.outgoing)
    }

    pub fn fail(&mut self) {
        self.stage = Stage::Failed;
    }
}

/// Runs `work` on `owner` with rml_rtmp's panics contained: a panic becomes
/// [`LinkError::Contained`], and any error leaves the connection failed.
pub fn contained<O, T, E: From<LinkError>>(
    owner: &mut O,
    link: impl Fn(&mut O) -> &mut dyn Failable,
    work: impl FnOnce(&mut O) -> Result<T, E>,
) -> Result<T, E> {
    let result = catch_unwind(AssertUnwindSafe(|| work(&mut *owner))).unwrap_or_else(|panic| Err(LinkError::Contained(panic_message(&panic)).into()));
    if result.is_err() {
        link(owner).fail();
    }
    result
}

/// What containment needs of a link whatever its session type.
pub trait Failable {
    fn fail(&mut self);
}

impl<S> Failable for RtmpLink<S> {
    fn fail(&mut self) {
        RtmpLink::fail(self);
    }
}

/// An rml_rtmp error, whose types implement only `Debug`.
pub fn protocol<E: std::fmt::Debug>(error: E) -> LinkError {
    LinkError::Protocol(format!("{error:?}"))
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| panic.downcast_ref::<String>().cloned()).unwrap_or_else(|| "unknown panic".into())
}

#[cfg(test)]
mod tests {
    use rml_rtmp::sessions::{ClientSession, ServerSession};

    use super::*;

    /// Drives a client and a server link through the real handshake.
    #[test]
    fn client_and_server_links_complete_the_handshake() {
        let mut client: RtmpLink<ClientSession> = RtmpLink::client().unwrap();
        let mut server: RtmpLink<ServerSession> = RtmpLink::server();
        let (mut client_done, mut server_done) = (false, false);
        for _ in 0..4 {
            let to_server = client.take_outgoing();
            if !to_server.is_empty() && !server_done {
                server_done = matches!(server.handshake(&to_server).unwrap(), HandshakeStep::Completed { .. });
            }
            let to_client = server.take_outgoing();
            if !to_client.is_empty() && !client_done {
                client_done = matches!(client.handshake(&to_client).unwrap(), HandshakeStep::Completed { .. });
            }
        }
        assert!(client_done && server_done);
        assert!(client.is_handshaking(), "the session opens when its owner begins it");
    }

    #[test]
    fn a_panic_is_contained_and_fails_the_link() {
        struct Owner {
            link: RtmpLink<()>,
        }
        let mut owner = Owner { link: RtmpLink::server() };
        let result: Result<(), LinkError> = contained(&mut owner, |o| &mut o.link, |_| panic!("hostile input"));
        assert_eq!(result, Err(LinkError::Contained("hostile input".into())));
        assert_eq!(owner.link.session().err(), Some(LinkError::Failed));
    }
}
