//! The SRT ingest driver: admits callers at the handshake by stream id and
//! passphrase, then demuxes their MPEG-TS into the same hub as RTMP.
//!
//! libsrt calls block (libsrt runs its own network threads), so the accept
//! loop and each connection's receive loop run on their own OS threads.
//!
//! While no caller uses it, the port is held by a plain UDP socket, which
//! costs nothing: for as long as a libsrt listener exists, libsrt's receive
//! queue wakes every 10 ms (Haivision/srt#520), a tenth of a core-second per
//! 30 s of an idle server. A caller's first handshake packet wakes the port;
//! callers repeat it every 250 ms, and by then libsrt listens there. Once no
//! SRT connection has been open for `PARK_AFTER`, the port is parked again.

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::stream_id::{StreamIdError, parse_stream_id};
use crate::media::ts::demux::{TsDemuxer, TsEvent};
use crate::server::config::SrtConfig;
use crate::server::hub::{Hub, IngestProtocol, IngestStats, LiveStream, PublishError};
use crate::server::metrics::Metrics;
use crate::srt::{Accepted, Admission, CallerRequest, SrtError, SrtListener, SrtSocket, reject};

/// How often a connection's transport statistics are refreshed.
const STATS_INTERVAL: Duration = Duration::from_secs(1);
/// Larger than any live-mode payload (1456 bytes).
const RECEIVE_BUFFER: usize = 1500;

/// With no SRT connection open this long, the port goes back to being parked.
const PARK_AFTER: Duration = Duration::from_secs(10);
/// Tries, 25 ms apart, to take the port over from the other side: at once
/// from the parked socket, but libsrt lets its UDP socket go only when its
/// garbage collector has removed the listener's last connection (seconds).
const REBIND_ATTEMPTS: u32 = 400;

/// The SRT port, parked until a caller comes.
pub struct SrtPort {
    parked: UdpSocket,
    addr: SocketAddr,
}

impl SrtPort {
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

/// Takes the port (a port of 0 picks a free one, see `local_addr`).
pub fn bind(hub: &Arc<Hub>) -> std::io::Result<SrtPort> {
    let parked = UdpSocket::bind(hub.config().srt.listen)?;
    let addr = parked.local_addr()?;
    Ok(SrtPort { parked, addr })
}

/// Accepts callers until the process ends; each gets a receiving thread.
pub fn serve(port: SrtPort, hub: Arc<Hub>) {
    let spawned = std::thread::Builder::new().name("srt-accept".into()).spawn(move || {
        let SrtPort { mut parked, addr } = port;
        loop {
            // Sleeps in the kernel until a datagram comes; a caller repeats it.
            let mut first = [0u8; RECEIVE_BUFFER];
            if let Err(error) = parked.recv_from(&mut first) {
                tracing::warn!("the parked SRT port {addr} failed to receive: {error}");
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
            drop(parked);
            let open = Arc::new(AtomicUsize::new(0));
            match listen(&hub, addr) {
                Ok(listener) => accept_until_idle(listener, &hub, &open),
                Err(error) => tracing::error!("cannot listen for SRT on {addr}: {error}; callers are refused until the next try"),
            }
            parked = repark(addr, &open);
            tracing::info!("SRT port {addr} parked: no connection for {} s", PARK_AFTER.as_secs());
        }
    });
    if let Err(error) = spawned {
        tracing::error!("cannot start the SRT listener thread: {error}");
    }
}

/// A libsrt listener on `addr`, once the parked socket has let it go.
fn listen(hub: &Arc<Hub>, addr: SocketAddr) -> Result<SrtListener, SrtError> {
    let latency = Duration::from_millis(u64::from(hub.config().srt.latency_ms));
    let mut attempt = 0;
    loop {
        let policy_hub = hub.clone();
        match SrtListener::bind(addr, latency, Box::new(move |request: &CallerRequest<'_>| admit(&policy_hub, request))) {
            Ok(listener) => return Ok(listener),
            Err(error) if attempt + 1 >= REBIND_ATTEMPTS => return Err(error),
            Err(_) => {
                attempt += 1;
                std::thread::sleep(Duration::from_millis(25));
            }
        }
    }
}

/// The parked socket again, once the listener and every connection it
/// accepted (they share its UDP socket) have let the port go.
fn repark(addr: SocketAddr, open: &AtomicUsize) -> UdpSocket {
    let mut attempt = 0u32;
    loop {
        if open.load(Ordering::SeqCst) > 0 {
            // A caller accepted as the listener closed: the port is its until it ends.
            std::thread::sleep(Duration::from_secs(1));
            continue;
        }
        match UdpSocket::bind(addr) {
            Ok(socket) => return socket,
            Err(error) => {
                attempt += 1;
                if attempt == REBIND_ATTEMPTS {
                    tracing::warn!("the SRT port {addr} is still taken ({error}); SRT callers wait until it is free");
                }
                std::thread::sleep(if attempt < REBIND_ATTEMPTS { Duration::from_millis(25) } else { Duration::from_secs(1) });
            }
        }
    }
}

/// Accepts callers, each on a thread of its own, until no connection has
/// been open for `PARK_AFTER`: then the listener is closed.
fn accept_until_idle(listener: SrtListener, hub: &Arc<Hub>, open: &Arc<AtomicUsize>) {
    let listener = Arc::new(listener);
    let (watched, counted) = (listener.clone(), open.clone());
    let (stop_watching, watch) = std::sync::mpsc::channel::<()>();
    let watcher = std::thread::Builder::new().name("srt-idle".into()).spawn(move || {
        let mut idle_since = Instant::now();
        // Wakes once a second while a listener exists; libsrt's own thread wakes a hundred times.
        while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = watch.recv_timeout(Duration::from_secs(1)) {
            if counted.load(Ordering::SeqCst) > 0 {
                idle_since = Instant::now();
            } else if idle_since.elapsed() >= PARK_AFTER {
                watched.close();
                return;
            }
        }
    });
    loop {
        match listener.accept() {
            Ok(accepted) => {
                Metrics::add(&hub.metrics.connections_accepted, 1);
                let (hub, counted) = (hub.clone(), open.clone());
                open.fetch_add(1, Ordering::SeqCst);
                let name = format!("srt-{}", accepted.peer.map(|p| p.to_string()).unwrap_or_default());
                let spawned = std::thread::Builder::new().name(name).spawn(move || {
                    receive(accepted, &hub);
                    counted.fetch_sub(1, Ordering::SeqCst);
                });
                if let Err(error) = spawned {
                    // The connection was dropped with the closure: it is not open.
                    open.fetch_sub(1, Ordering::SeqCst);
                    tracing::error!("cannot start a thread for an SRT publisher: {error}");
                }
            }
            Err(error) => {
                tracing::debug!("the SRT listener on {} closed: {error}", listener.local_addr());
                break;
            }
        }
    }
    let _ = stop_watching.send(());
    if let Ok(watcher) = watcher {
        let _ = watcher.join();
    }
}

/// The handshake-time decision: which stream, and which passphrase it needs.
fn admit(hub: &Hub, request: &CallerRequest<'_>) -> Admission {
    let peer = request.peer.map(|p| p.to_string()).unwrap_or_default();
    let stream_id = request.stream_id.unwrap_or("");
    let refuse = |why: String, reason: i32| {
        Metrics::add(&hub.metrics.publishes_refused, 1);
        tracing::warn!(%peer, stream_id, "SRT connection refused: {why}");
        Admission::Refuse { reason }
    };
    let config = &hub.config().srt;
    let wanted = match parse_stream_id(request.stream_id, &hub.config().rtmp.app) {
        Ok(wanted) => wanted,
        Err(error) => {
            let reason = match error {
                StreamIdError::NotPublish(_) => reject::BAD_MODE,
                StreamIdError::WrongApp(..) => reject::FORBIDDEN,
                StreamIdError::Missing | StreamIdError::Malformed(_) => reject::BAD_REQUEST,
            };
            return refuse(error.to_string(), reason);
        }
    };
    if let Err(error) = hub.may_publish(&wanted.key) {
        let reason = match error {
            PublishError::AlreadyLive(_) => reject::CONFLICT,
            PublishError::BadKey(_) | PublishError::Replaced(_) => reject::BAD_REQUEST,
            PublishError::TooManyStreams(_) => reject::OVERLOAD,
        };
        return refuse(error.to_string(), reason);
    }
    let passphrase = passphrase_for(config, &wanted.key);
    if let Some(passphrase) = &passphrase {
        if !(10..=79).contains(&passphrase.len()) {
            return refuse("the configured SRT passphrase must have 10 to 79 characters".into(), reject::INTERNAL);
        }
        tracing::debug!(%peer, key = wanted.key, "SRT caller must match the passphrase");
    }
    let key_length = passphrase.is_some().then_some(config.key_size);
    Admission::Accept { passphrase, key_length }
}

fn passphrase_for(config: &SrtConfig, key: &str) -> Option<String> {
    config.passphrases.get(key).or(config.passphrase.as_ref()).cloned()
}

fn receive(accepted: Accepted, hub: &Hub) {
    let Accepted { socket, peer, stream_id } = accepted;
    let peer = peer.unwrap_or(SocketAddr::from(([0, 0, 0, 0], 0)));
    let key = match parse_stream_id(stream_id.as_deref(), &hub.config().rtmp.app) {
        Ok(wanted) => wanted.key,
        Err(error) => {
            tracing::warn!(%peer, "SRT connection closed: {error}");
            return;
        }
    };
    let publisher = match hub.publish(&key, IngestProtocol::Srt, peer) {
        Ok(publisher) => publisher,
        Err(error) => {
            Metrics::add(&hub.metrics.publishes_refused, 1);
            tracing::warn!(%peer, key, "SRT connection closed: {error}");
            return;
        }
    };
    tracing::info!(%peer, key, "publishing over SRT");
    let stream = hub.get(&key);
    if let Err(error) = socket.set_receive_timeout(STATS_INTERVAL) {
        tracing::warn!(%peer, key, "SRT connection closed: {error}");
        return;
    }
    let mut demuxer = TsDemuxer::default();
    let mut buffer = vec![0u8; RECEIVE_BUFFER];
    let mut stats_due = Instant::now() + STATS_INTERVAL;
    loop {
        match socket.receive(&mut buffer) {
            Ok(0) => break,
            Ok(length) => {
                let arrived = Instant::now();
                Metrics::add(&hub.metrics.bytes_in, length as u64);
                let events = match demuxer.push(&buffer[..length]) {
                    Ok(events) => events,
                    Err(error) => {
                        Metrics::add(&hub.metrics.ingest_errors, 1);
                        tracing::warn!(%peer, key, "SRT stream refused: {error}");
                        return;
                    }
                };
                for event in events {
                    let fed = match event {
                        TsEvent::Config(config) => publisher.configure(config),
                        TsEvent::Frame(frame) => publisher.push(frame, arrived),
                    };
                    if let Err(error) = fed {
                        tracing::warn!(%peer, key, "SRT publisher closed: {error}");
                        return;
                    }
                }
            }
            Err(SrtError::Timeout) if socket.is_connected() => {}
            Err(SrtError::Timeout) => break,
            Err(error) => {
                tracing::debug!(%peer, key, "SRT receive ended: {error}");
                break;
            }
        }
        if Instant::now() >= stats_due {
            stats_due = Instant::now() + STATS_INTERVAL;
            report_stats(stream.as_deref(), &socket, &demuxer);
        }
    }
    report_stats(stream.as_deref(), &socket, &demuxer);
    for event in demuxer.flush() {
        let _ = match event {
            TsEvent::Config(config) => publisher.configure(config),
            TsEvent::Frame(frame) => publisher.push(frame, Instant::now()),
        };
    }
    tracing::info!(%peer, key, "SRT publisher disconnected");
}

/// Transport counts from libsrt, integrity counts from the demuxer, for `/api/streams`.
fn report_stats(stream: Option<&LiveStream>, socket: &SrtSocket, demuxer: &TsDemuxer) {
    let (Some(stream), Some(stats)) = (stream, socket.stats()) else { return };
    stream.set_ingest_stats(IngestStats {
        rtt_ms: stats.rtt_ms,
        packets_received: stats.packets_received,
        packets_lost: stats.packets_lost,
        packets_retransmitted: stats.packets_retransmitted,
        packets_dropped: stats.packets_dropped,
        continuity_errors: demuxer.stats.continuity_errors,
        frames_dropped: demuxer.stats.frames_dropped,
    });
}
