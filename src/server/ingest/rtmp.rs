//! The RTMP ingest driver: accepts TCP connections and feeds the hub.

use std::io::{ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

use super::flv_ingest::{FlvDepacketizer, IngestError, IngestItem};
use super::publish_secret::{self, PublishName, SecretRefusal};
use crate::rtmp::server::{RtmpError, RtmpEvent, RtmpServerConnection};
use crate::server::hub::{Hub, IngestProtocol, PublishError, Publisher};
use crate::server::limits::{Admitted, Gate, Timeout};
use crate::server::metrics::Metrics;

/// A connection that sends nothing for this long is closed.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a refused peer is given to read why before the connection closes.
const LINGER: Duration = Duration::from_millis(500);
const READ_BUFFER: usize = 64 * 1024;
/// Until it publishes a connection is read in smaller pieces: thousands of
/// idle ones must not hold 64 KiB each.
const HANDSHAKE_BUFFER: usize = 8 * 1024;

/// Why one RTMP connection was closed; the log line names its peer.
#[derive(Debug, thiserror::Error)]
pub enum RtmpIngestError {
    #[error("no data for {} s", IDLE_TIMEOUT.as_secs())]
    Idle,
    #[error("did not publish within [limits] handshake_seconds")]
    HandshakeTimeout,
    #[error("TLS handshake failed: {0}")]
    Tls(std::io::Error),
    #[error("read failed: {0}")]
    Read(std::io::Error),
    #[error("write failed: {0}")]
    Write(std::io::Error),
    #[error(transparent)]
    Protocol(#[from] RtmpError),
    #[error("publish refused: {0}")]
    SecretRefused(#[from] SecretRefusal),
    #[error("publish refused: {0}")]
    Refused(#[from] PublishError),
    #[error("stream {key:?} refused: {source}")]
    Unsupported { key: String, source: IngestError },
    #[error("stream {key:?}: {source}")]
    BadMedia { key: String, source: IngestError },
}

/// One RTMP listening socket: plain, or RTMPS when `tls` is set.
pub struct RtmpListener {
    pub tcp: TcpListener,
    pub gate: Arc<Gate>,
    pub tls: Option<TlsAcceptor>,
}

pub async fn serve(listener: RtmpListener, hub: Arc<Hub>) {
    loop {
        match listener.tcp.accept().await {
            Ok((socket, peer)) => {
                let Some(admitted) = listener.gate.admit(peer) else { continue };
                Metrics::add(&hub.metrics.connections_accepted, 1);
                let (hub, tls) = (hub.clone(), listener.tls.clone());
                tokio::spawn(async move {
                    let deadline = tokio::time::Instant::now() + hub.config().limits.handshake();
                    let _ = socket.set_nodelay(true);
                    let outcome = match tls {
                        None => Box::pin(handshake(socket, peer, &hub, deadline)).await.map(|h| h.map(Connection::Plain)),
                        Some(tls) => match tokio::time::timeout_at(deadline, Box::pin(tls.accept(socket))).await {
                            Ok(Ok(socket)) => Box::pin(handshake(socket, peer, &hub, deadline)).await.map(|h| h.map(|tls| Connection::Tls(Box::new(tls)))),
                            Ok(Err(error)) => Err(RtmpIngestError::Tls(error)),
                            Err(_) => Err(RtmpIngestError::HandshakeTimeout),
                        },
                    };
                    match outcome {
                        Ok(Handshake::Publishing(socket, session)) => read_published(socket, *session, hub, admitted),
                        Ok(Handshake::Closed) => {}
                        Err(RtmpIngestError::HandshakeTimeout) => admitted.counts().timed_out(Timeout::Handshake),
                        Err(reason) => report(&hub, peer, reason),
                    }
                });
            }
            Err(error) => {
                tracing::warn!("RTMP accept failed: {error}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// A connection's socket, plain or TLS: read on the runtime until it
/// publishes, then with blocking reads on a thread of its own.
trait IngestSocket: AsyncRead + AsyncWrite + Unpin + Send + 'static {
    type Blocking: Read + Write + Send + 'static;
    fn into_blocking(self) -> std::io::Result<Self::Blocking>;
    /// Resolves once the peer has sent something (or closed).
    fn first_bytes(&self) -> impl Future<Output = std::io::Result<()>> + Send;
}

impl IngestSocket for TcpStream {
    type Blocking = std::net::TcpStream;
    fn first_bytes(&self) -> impl Future<Output = std::io::Result<()>> + Send {
        // peek, not readable(): a new socket is taken as ready until a read says otherwise.
        async { self.peek(&mut [0u8; 1]).await.map(drop) }
    }
    fn into_blocking(self) -> std::io::Result<std::net::TcpStream> {
        let socket = self.into_std()?;
        socket.set_nonblocking(false)?;
        Ok(socket)
    }
}

type TlsBlocking = rustls::StreamOwned<rustls::ServerConnection, std::net::TcpStream>;

impl IngestSocket for tokio_rustls::server::TlsStream<TcpStream> {
    type Blocking = TlsBlocking;
    /// Its TLS handshake was bytes from the peer already.
    fn first_bytes(&self) -> impl Future<Output = std::io::Result<()>> + Send {
        std::future::ready(Ok(()))
    }
    fn into_blocking(self) -> std::io::Result<TlsBlocking> {
        // Bytes rustls already decrypted stay in the connection it hands over.
        let (tcp, tls) = self.into_inner();
        Ok(rustls::StreamOwned::new(tls, tcp.into_blocking()?))
    }
}

/// A publishing connection, read with blocking reads.
enum Connection {
    Plain(std::net::TcpStream),
    Tls(Box<TlsBlocking>),
}

impl Connection {
    fn tcp(&self) -> &std::net::TcpStream {
        match self {
            Connection::Plain(tcp) => tcp,
            Connection::Tls(tls) => &tls.sock,
        }
    }
}

impl Read for Connection {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Connection::Plain(tcp) => tcp.read(buffer),
            Connection::Tls(tls) => tls.read(buffer),
        }
    }
}

impl Write for Connection {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        match self {
            Connection::Plain(tcp) => tcp.write(bytes),
            Connection::Tls(tls) => tls.write(bytes),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Connection::Plain(tcp) => tcp.flush(),
            Connection::Tls(tls) => tls.flush(),
        }
    }
}

fn report(hub: &Hub, peer: SocketAddr, reason: RtmpIngestError) {
    Metrics::add(&hub.metrics.ingest_errors, 1);
    tracing::warn!(%peer, "RTMP connection closed: {reason}");
}

/// One connection's protocol state, fed the bytes it sends.
struct Session {
    peer: SocketAddr,
    connection: RtmpServerConnection,
    depacketizer: FlvDepacketizer,
    publisher: Option<Publisher>,
}

/// What one read asks of the socket: bytes to send back, then go on or close.
struct Reply {
    outgoing: Vec<u8>,
    outcome: Result<bool, RtmpIngestError>,
}

impl Session {
    fn new(peer: SocketAddr, hub: &Hub) -> Self {
        let config = &hub.config().rtmp;
        let connection = RtmpServerConnection::new(&config.app, config.max_message_bytes);
        Session { peer, connection, depacketizer: FlvDepacketizer::default(), publisher: None }
    }

    fn receive(&mut self, bytes: &[u8], hub: &Hub, arrived: std::time::Instant) -> Reply {
        Metrics::add(&hub.metrics.bytes_in, bytes.len() as u64);
        let outcome = match self.connection.receive(bytes) {
            Ok(events) => handle_events(events, &mut self.connection, &mut self.depacketizer, &mut self.publisher, hub, self.peer, arrived),
            Err(error) => Err(error.into()),
        };
        Reply { outgoing: self.connection.take_outgoing(), outcome }
    }

    fn disconnected(&self) {
        if let Some(publisher) = &self.publisher {
            tracing::info!(peer = %self.peer, key = publisher.key(), "publisher disconnected");
        }
    }
}

enum Handshake<S> {
    Publishing(S, Box<Session>),
    Closed,
}

impl<S> Handshake<S> {
    fn map<T>(self, f: impl FnOnce(S) -> T) -> Handshake<T> {
        match self {
            Handshake::Publishing(socket, session) => Handshake::Publishing(f(socket), session),
            Handshake::Closed => Handshake::Closed,
        }
    }
}

/// Runs a connection on the runtime until its publish is accepted: the
/// handshake and commands of many idle or hostile connections cost one task
/// each, not a thread.
async fn handshake<S: IngestSocket>(
    mut socket: S,
    peer: SocketAddr,
    hub: &Hub,
    deadline: tokio::time::Instant,
) -> Result<Handshake<S::Blocking>, RtmpIngestError> {
    // One timer for the whole handshake, not one around every read.
    let over = tokio::time::sleep_until(deadline);
    tokio::pin!(over);
    // A connection that never sends costs its task and nothing more.
    tokio::select! {
        ready = socket.first_bytes() => ready.map_err(RtmpIngestError::Read)?,
        () = &mut over => return Err(RtmpIngestError::HandshakeTimeout),
    }
    let mut session = Box::new(Session::new(peer, hub));
    let mut buffer = vec![0u8; HANDSHAKE_BUFFER];
    loop {
        let read = tokio::select! {
            read = socket.read(&mut buffer) => read,
            () = &mut over => return Err(RtmpIngestError::HandshakeTimeout),
        };
        let read = match read {
            Err(error) => return Err(RtmpIngestError::Read(error)),
            Ok(0) => return Ok(Handshake::Closed),
            Ok(n) => n,
        };
        let reply = session.receive(&buffer[..read], hub, std::time::Instant::now());
        if !reply.outgoing.is_empty() {
            socket.write_all(&reply.outgoing).await.map_err(RtmpIngestError::Write)?;
        }
        match reply.outcome {
            Ok(true) if session.publisher.is_some() => {
                let socket = socket.into_blocking().map_err(RtmpIngestError::Read)?;
                return Ok(Handshake::Publishing(socket, session));
            }
            Ok(true) => {}
            Ok(false) => return Ok(Handshake::Closed),
            Err(error) => {
                linger(&mut socket).await;
                return Err(error);
            }
        }
    }
}

/// Reads a publishing connection on a thread of its own with blocking reads:
/// one system call per arrival, where the runtime would add an epoll wait and
/// a task wake-up to each (a fifth of ingest's CPU).
fn read_published(socket: Connection, session: Session, hub: Arc<Hub>, admitted: Admitted) {
    let peer = session.peer;
    let key = session.publisher.as_ref().map(|publisher| publisher.key().to_string()).unwrap_or_default();
    let spawned = std::thread::Builder::new().name(format!("rtmp {key}")).spawn(move || {
        let _admitted = admitted;
        if let Err(reason) = read_blocking(socket, session, &hub) {
            report(&hub, peer, reason);
        }
    });
    if let Err(error) = spawned {
        tracing::warn!(%peer, key, "RTMP publisher dropped: no thread to read it: {error}");
    }
}

fn read_blocking(mut socket: Connection, mut session: Session, hub: &Hub) -> Result<(), RtmpIngestError> {
    socket.tcp().set_read_timeout(Some(IDLE_TIMEOUT)).map_err(RtmpIngestError::Read)?;
    let mut buffer = vec![0u8; READ_BUFFER];
    loop {
        let read = match socket.read(&mut buffer) {
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => return Err(RtmpIngestError::Idle),
            Err(error) if error.kind() == ErrorKind::Interrupted => continue,
            Err(error) => return Err(RtmpIngestError::Read(error)),
            Ok(0) => {
                session.disconnected();
                return Ok(());
            }
            Ok(n) => n,
        };
        let reply = session.receive(&buffer[..read], hub, std::time::Instant::now());
        if !reply.outgoing.is_empty() {
            socket.write_all(&reply.outgoing).map_err(RtmpIngestError::Write)?;
        }
        match reply.outcome {
            Ok(true) => {}
            Ok(false) => return Ok(()),
            Err(error) => {
                linger_blocking(&mut socket);
                return Err(error);
            }
        }
    }
}

/// Returns false when the publisher finished cleanly.
fn handle_events(
    events: Vec<RtmpEvent>,
    connection: &mut RtmpServerConnection,
    depacketizer: &mut FlvDepacketizer,
    publisher: &mut Option<Publisher>,
    hub: &Hub,
    peer: SocketAddr,
    arrived: std::time::Instant,
) -> Result<bool, RtmpIngestError> {
    for event in events {
        match event {
            RtmpEvent::PublishRequested { request_id, name, connect_query } => {
                if publisher.is_some() {
                    connection.reject_publish(request_id, "this connection is already publishing")?;
                    continue;
                }
                let name = PublishName::parse(&name, connect_query.as_deref());
                if let Err(refusal) = publish_secret::check(&hub.config().rtmp, &name) {
                    Metrics::add(&hub.metrics.publishes_refused, 1);
                    connection.reject_publish(request_id, &refusal.to_string())?;
                    return Err(refusal.into());
                }
                let key = name.key;
                match hub.publish(&key, IngestProtocol::Rtmp, peer) {
                    Ok(accepted) => {
                        connection.accept_publish(request_id)?;
                        tracing::info!(%peer, key, "publishing over RTMP");
                        *publisher = Some(accepted);
                    }
                    Err(refusal) => {
                        Metrics::add(&hub.metrics.publishes_refused, 1);
                        connection.reject_publish(request_id, &refusal.to_string())?;
                        return Err(refusal.into());
                    }
                }
            }
            RtmpEvent::Metadata { width, height, frame_rate, encoder } => {
                tracing::debug!(%peer, ?width, ?height, ?frame_rate, ?encoder, "stream metadata");
            }
            RtmpEvent::Video { time, body } => {
                let Some(active) = publisher.as_ref() else { continue };
                let item = depacketizer.video(time, &body);
                feed(item, active, connection, arrived)?;
            }
            RtmpEvent::Audio { time, body } => {
                let Some(active) = publisher.as_ref() else { continue };
                let item = depacketizer.audio(time, &body);
                feed(item, active, connection, arrived)?;
            }
            RtmpEvent::PublishFinished => {
                if let Some(finished) = publisher.take() {
                    tracing::info!(%peer, key = finished.key(), "publisher finished");
                }
                return Ok(false);
            }
        }
    }
    Ok(true)
}

fn feed(
    item: Result<Option<IngestItem>, IngestError>,
    publisher: &Publisher,
    connection: &mut RtmpServerConnection,
    arrived: std::time::Instant,
) -> Result<(), RtmpIngestError> {
    let key = || publisher.key().to_string();
    match item {
        Ok(None) => Ok(()),
        Ok(Some(IngestItem::Config(config))) => Ok(publisher.configure(config)?),
        Ok(Some(IngestItem::Frame(frame))) => Ok(publisher.push(frame, arrived)?),
        Err(source) if source.is_unsupported_codec() => {
            connection.refuse_stream(&source.to_string());
            Err(RtmpIngestError::Unsupported { key: key(), source })
        }
        Err(source) => Err(RtmpIngestError::BadMedia { key: key(), source }),
    }
}

/// Lets the peer read a final status message before the connection closes.
async fn linger(socket: &mut (impl AsyncRead + AsyncWrite + Unpin)) {
    let _ = socket.shutdown().await;
    // On the heap: an array here would make every connection's task larger.
    let mut sink = vec![0u8; 4096];
    let drain = async { while matches!(socket.read(&mut sink).await, Ok(n) if n > 0) {} };
    let _ = tokio::time::timeout(LINGER, drain).await;
}

fn linger_blocking(socket: &mut Connection) {
    if let Connection::Tls(tls) = socket {
        tls.conn.send_close_notify();
        let _ = tls.flush();
    }
    let _ = socket.tcp().shutdown(std::net::Shutdown::Write);
    let deadline = std::time::Instant::now() + LINGER;
    let mut sink = [0u8; 4096];
    while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()).filter(|left| !left.is_zero()) {
        if socket.tcp().set_read_timeout(Some(left)).is_err() || !matches!(socket.read(&mut sink), Ok(n) if n > 0) {
            return;
        }
    }
}
