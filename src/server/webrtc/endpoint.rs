//! The one UDP port every WebRTC peer uses, on a thread of its own: each
//! datagram goes to the peer whose address or ICE credentials it carries
//! (str0m's `accepts`), each frame from a stream's feed to that stream's
//! viewers, and each peer is woken when its own timer (STUN, RTCP,
//! retransmissions) is due and not before: an idle endpoint sleeps. What a
//! peer sends in one turn leaves through an `Outbox`, a run of datagrams
//! per send.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use str0m::net::{Protocol, Receive};
use str0m::{Input, Rtc};
use tokio::net::UdpSocket;
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::mpsc::{Receiver, Sender, UnboundedReceiver, UnboundedSender, channel, unbounded_channel};

use super::feed::RtcMedia;
use super::outbox::Outbox;
use super::peer::{Peer, PeerCounts, Role};
use crate::server::config::WebRtcConfig;
use crate::server::metrics::Metrics;

/// Larger than any datagram a WebRTC peer sends (str0m's MTU is about 1150).
const DATAGRAM: usize = 2048;
/// Access units and Opus packets waiting for the endpoint's thread: a few
/// seconds of several streams. An endpoint that cannot keep up drops what
/// comes after, as a congested network would (viewers recover at the next
/// keyframe), rather than holding ever more of it.
const MEDIA_BACKLOG: usize = 512;

pub enum Command {
    Add(Box<Peer>),
    Close { key: Arc<str>, id: u64 },
}

/// The way a stream's media reaches the endpoint: bounded, never waited on.
#[derive(Clone)]
pub struct MediaLane {
    sender: Sender<RtcMedia>,
    metrics: Arc<Metrics>,
}

impl MediaLane {
    pub fn send(&self, media: RtcMedia) {
        if let Err(TrySendError::Full(media)) = self.sender.try_send(media) {
            if self.metrics.webrtc_media_dropped.fetch_add(1, Ordering::Relaxed) % 1000 == 0 {
                tracing::warn!(key = %media.key, "the WebRTC thread cannot keep up with its viewers: media dropped");
            }
        }
    }
}

/// The endpoint's address, its candidates, and the way in for peers and media.
pub struct Endpoint {
    commands: UnboundedSender<Command>,
    media: Sender<RtcMedia>,
    /// Where peers are told to send: the candidates in every answer.
    pub candidates: Vec<SocketAddr>,
    next_id: AtomicU64,
    metrics: Arc<Metrics>,
}

#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    #[error("cannot listen for WebRTC on UDP {addr}: {error}. Another program may use the port; set `webrtc.listen` in the config or pass --webrtc ADDR")]
    Bind { addr: SocketAddr, error: std::io::Error },
    #[error("webrtc.listen {0} is a wildcard address: set webrtc.public_ips to the addresses viewers reach this machine at")]
    NoCandidate(SocketAddr),
    #[error("cannot start the WebRTC thread: {0}")]
    Thread(std::io::Error),
}

impl Endpoint {
    pub fn start(config: &WebRtcConfig, metrics: Arc<Metrics>) -> Result<Arc<Endpoint>, EndpointError> {
        let addr = config.listen;
        let socket = std::net::UdpSocket::bind(addr).map_err(|error| EndpointError::Bind { addr, error })?;
        let bound = socket.local_addr().map_err(|error| EndpointError::Bind { addr, error })?;
        let mut candidates: Vec<SocketAddr> = config.public_ips.iter().map(|ip| SocketAddr::new(*ip, bound.port())).collect();
        if candidates.is_empty() {
            if bound.ip().is_unspecified() {
                return Err(EndpointError::NoCandidate(bound));
            }
            candidates.push(bound);
        }
        socket.set_nonblocking(true).map_err(|error| EndpointError::Bind { addr, error })?;
        let (commands, received) = unbounded_channel();
        let (media, media_received) = channel(MEDIA_BACKLOG);
        // str0m takes a datagram only when its destination is a candidate it offered.
        let local = candidates[0];
        let for_loop = metrics.clone();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(EndpointError::Thread)?;
        std::thread::Builder::new()
            .name("webrtc".into())
            .spawn(move || {
                runtime.block_on(async move {
                    match UdpSocket::from_std(socket) {
                        Ok(socket) => run(socket, local, received, media_received, for_loop).await,
                        Err(error) => tracing::error!("WebRTC cannot start: {error}"),
                    }
                })
            })
            .map_err(EndpointError::Thread)?;
        Ok(Arc::new(Endpoint { commands, media, candidates, next_id: AtomicU64::new(1), metrics }))
    }

    pub fn media_lane(&self) -> MediaLane {
        MediaLane { sender: self.media.clone(), metrics: self.metrics.clone() }
    }

    /// Hands a negotiated session to the endpoint; returns its id (the WHEP or WHIP resource).
    pub fn add(&self, key: &str, rtc: Rtc, role: Role) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let peer = Peer::new(id, key.into(), rtc, role, self.metrics.clone(), Instant::now());
        let _ = self.commands.send(Command::Add(Box::new(peer)));
        id
    }

    pub fn close(&self, key: &str, id: u64) {
        let _ = self.commands.send(Command::Close { key: key.into(), id });
    }
}

struct Peers {
    list: Vec<Peer>,
    /// A datagram's source → its peer's id, learned from the first one it accepted.
    by_source: HashMap<SocketAddr, u64>,
    outbox: Outbox,
    metrics: Arc<Metrics>,
}

async fn run(socket: UdpSocket, local: SocketAddr, mut commands: UnboundedReceiver<Command>, mut media: Receiver<RtcMedia>, metrics: Arc<Metrics>) {
    tracing::info!("WebRTC on UDP {local}");
    let mut peers = Peers { list: Vec::new(), by_source: HashMap::new(), outbox: Outbox::default(), metrics };
    let mut buffer = vec![0u8; DATAGRAM];
    loop {
        let next = peers.list.iter().map(|p| p.timeout).min();
        let due = async {
            match next {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            command = commands.recv() => match command {
                None => return,
                Some(command) => peers.apply(command, &socket),
            },
            Some(media) = media.recv() => peers.send(&media, &socket),
            received = socket.recv_from(&mut buffer) => match received {
                Ok((length, source)) => peers.receive(&buffer[..length], source, local, &socket),
                Err(error) => tracing::debug!("WebRTC receive failed: {error}"),
            },
            () = due => peers.wake(&socket),
        }
        peers.forget_closed();
    }
}

/// Runs `peer` until it waits for time to pass, and sends what it made.
fn drive(peer: &mut Peer, outbox: &mut Outbox, socket: &UdpSocket, metrics: &Metrics, now: Instant) {
    peer.drive(&mut |t| outbox.push(t.destination, &t.contents), now);
    let dropped = outbox.flush(socket);
    if dropped > 0 {
        metrics.webrtc_datagrams_dropped.fetch_add(dropped, Ordering::Relaxed);
    }
}

impl Peers {
    fn apply(&mut self, command: Command, socket: &UdpSocket) {
        let now = Instant::now();
        match command {
            Command::Add(mut peer) => {
                drive(&mut peer, &mut self.outbox, socket, &self.metrics, now);
                if matches!(peer.role(), Role::Viewer(_)) {
                    self.metrics.webrtc_viewers.fetch_add(1, Ordering::Relaxed);
                }
                self.list.push(*peer);
            }
            Command::Close { key, id } => {
                if let Some(peer) = self.list.iter_mut().find(|p| p.id == id && p.key == key) {
                    peer.close();
                    drive(peer, &mut self.outbox, socket, &self.metrics, now);
                }
            }
        }
    }

    fn send(&mut self, media: &RtcMedia, socket: &UdpSocket) {
        let now = Instant::now();
        for peer in self.list.iter_mut().filter(|p| p.key == media.key) {
            peer.send(media);
            // str0m releases what was written when time next moves: move it
            // now, so the packets leave in this turn and not in a wake of their own.
            peer.handle(Input::Timeout(now));
            drive(peer, &mut self.outbox, socket, &self.metrics, now);
        }
    }

    fn receive(&mut self, datagram: &[u8], source: SocketAddr, local: SocketAddr, socket: &UdpSocket) {
        let now = Instant::now();
        let Ok(receive) = Receive::new(Protocol::Udp, source, local, datagram) else {
            tracing::debug!(%source, "a datagram that is neither STUN, DTLS nor RTP, dropped");
            return;
        };
        let input = Input::Receive(now, receive);
        let known = self.by_source.get(&source).and_then(|id| self.list.iter().position(|p| p.id == *id));
        let index = known.filter(|&i| self.list[i].accepts(&input)).or_else(|| self.list.iter().position(|p| p.accepts(&input)));
        let Some(index) = index else {
            tracing::debug!(%source, "a datagram for no WebRTC session, dropped");
            return;
        };
        let peer = &mut self.list[index];
        self.by_source.insert(source, peer.id);
        peer.handle(input);
        drive(peer, &mut self.outbox, socket, &self.metrics, now);
    }

    fn wake(&mut self, socket: &UdpSocket) {
        let now = Instant::now();
        for peer in self.list.iter_mut().filter(|p| p.timeout <= now) {
            peer.handle(Input::Timeout(now));
            drive(peer, &mut self.outbox, socket, &self.metrics, now);
        }
    }

    fn forget_closed(&mut self) {
        if self.list.iter().all(Peer::is_alive) {
            return;
        }
        let metrics = &self.metrics;
        self.list.retain(|peer| {
            if peer.is_alive() {
                return true;
            }
            let PeerCounts { bytes_sent, nacks, plis, firs, packets_lost } = peer.counts;
            tracing::info!(key = %peer.key, peer = peer.id, bytes_sent, nacks, plis, firs, packets_lost, "WebRTC {} closed", peer.role().noun());
            if matches!(peer.role(), Role::Viewer(_)) {
                metrics.webrtc_viewers.fetch_sub(1, Ordering::Relaxed);
            }
            false
        });
        let alive: std::collections::HashSet<u64> = self.list.iter().map(|p| p.id).collect();
        self.by_source.retain(|_, id| alive.contains(id));
    }
}
