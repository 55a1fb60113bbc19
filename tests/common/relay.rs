//! A UDP relay on loopback that loses, delays and rate-limits datagrams: this
//! kernel has no netem qdisc for namespaces, so the bad link is made here.

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long the relay lets the connection set up before it starts losing datagrams.
const HANDSHAKE_GRACE: Duration = Duration::from_millis(300);

/// How much a capped link holds before it drops what comes (drop-tail, as a
/// home router's queue does), in time at the cap's rate.
const CAPPED_QUEUE: Duration = Duration::from_millis(250);

/// A UDP relay that drops a share of datagrams both ways and delays the rest.
/// It loses nothing during the handshake, nor after `lossy_for` (when given).
/// A capped relay carries at most so many bits a second towards `to`.
pub struct LossyRelay {
    pub port: u16,
    running: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// The upward bottleneck: a link that takes each datagram's size in bits
/// over `bits_per_second` to send, fed from a drop-tail queue `CAPPED_QUEUE` deep.
struct Bottleneck {
    bits_per_second: u64,
    queue: std::collections::VecDeque<Vec<u8>>,
    queued_bytes: usize,
    /// When the link is free to send its next datagram.
    free_at: Instant,
}

impl Bottleneck {
    fn new(bits_per_second: u64) -> Bottleneck {
        Bottleneck { bits_per_second, queue: Default::default(), queued_bytes: 0, free_at: Instant::now() }
    }

    fn offer(&mut self, datagram: Vec<u8>) {
        let room = (self.bits_per_second as f64 / 8.0 * CAPPED_QUEUE.as_secs_f64()) as usize;
        if self.queued_bytes + datagram.len() <= room {
            self.queued_bytes += datagram.len();
            self.queue.push_back(datagram);
        }
    }

    /// The datagrams the link has finished sending by `now`.
    fn sent(&mut self, now: Instant) -> Vec<Vec<u8>> {
        let mut sent = Vec::new();
        while self.free_at <= now {
            let Some(datagram) = self.queue.pop_front() else {
                self.free_at = now;
                break;
            };
            self.queued_bytes -= datagram.len();
            self.free_at += Duration::from_secs_f64(datagram.len() as f64 * 8.0 / self.bits_per_second as f64);
            sent.push(datagram);
        }
        sent
    }
}

impl LossyRelay {
    pub fn start(to: SocketAddr, loss_percent: u64, delay: Duration, lossy_for: Option<Duration>) -> LossyRelay {
        LossyRelay::start_at(SocketAddr::from(([127, 0, 0, 1], 0)), to, loss_percent, delay, lossy_for)
    }

    /// The relay listening on `at` (a WebRTC server's public address, say).
    pub fn start_at(at: SocketAddr, to: SocketAddr, loss_percent: u64, delay: Duration, lossy_for: Option<Duration>) -> LossyRelay {
        LossyRelay::run(at, to, loss_percent, delay, lossy_for, None)
    }

    /// A relay on `at` that loses nothing but carries at most `kbps` towards
    /// `to` (a publisher's uplink), each datagram delayed by `delay` besides.
    pub fn capped_at(at: SocketAddr, to: SocketAddr, kbps: u64, delay: Duration) -> LossyRelay {
        LossyRelay::run(at, to, 0, delay, None, Some(Bottleneck::new(kbps * 1000)))
    }

    fn run(at: SocketAddr, to: SocketAddr, loss_percent: u64, delay: Duration, lossy_for: Option<Duration>, mut bottleneck: Option<Bottleneck>) -> LossyRelay {
        let socket = UdpSocket::bind(at).unwrap();
        let port = socket.local_addr().unwrap().port();
        let upstream = UdpSocket::bind("127.0.0.1:0").unwrap();
        upstream.connect(to).unwrap();
        socket.set_nonblocking(true).unwrap();
        upstream.set_nonblocking(true).unwrap();
        let running = Arc::new(AtomicBool::new(true));
        let flag = running.clone();
        let thread = std::thread::spawn(move || {
            let mut client = None;
            let mut queue: std::collections::VecDeque<(Instant, bool, Vec<u8>)> = std::collections::VecDeque::new();
            let mut state = 0x2545_f491_4f6c_dd1du64;
            let mut buffer = [0u8; 2048];
            // The handshake goes through whole: libsrt dates the receiver's clock
            // from it, so a resent handshake makes the first media arrive "late"
            // and a loss among it can outlast the latency (a libsrt start-up trait,
            // not the steady-state recovery under test).
            let mut first_datagram: Option<Instant> = None;
            while flag.load(Ordering::SeqCst) {
                let mut lose = || {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    let elapsed = first_datagram.get_or_insert_with(Instant::now).elapsed();
                    let lossy = elapsed > HANDSHAKE_GRACE && lossy_for.is_none_or(|window| elapsed < HANDSHAKE_GRACE + window);
                    lossy && state % 100 < loss_percent
                };
                let mut idle = true;
                while let Ok((n, from)) = socket.recv_from(&mut buffer) {
                    idle = false;
                    client = Some(from);
                    if lose() {
                        continue;
                    }
                    match bottleneck.as_mut() {
                        Some(link) => link.offer(buffer[..n].to_vec()),
                        None => queue.push_back((Instant::now() + delay, true, buffer[..n].to_vec())),
                    }
                }
                if let Some(link) = bottleneck.as_mut() {
                    let now = Instant::now();
                    queue.extend(link.sent(now).into_iter().map(|data| (now + delay, true, data)));
                }
                while let Ok(n) = upstream.recv(&mut buffer) {
                    idle = false;
                    if !lose() {
                        queue.push_back((Instant::now() + delay, false, buffer[..n].to_vec()));
                    }
                }
                while queue.front().is_some_and(|(due, _, _)| *due <= Instant::now()) {
                    let (_, upward, data) = queue.pop_front().unwrap();
                    if upward {
                        let _ = upstream.send(&data);
                    } else if let Some(client) = client {
                        let _ = socket.send_to(&data, client);
                    }
                }
                if idle {
                    std::thread::sleep(Duration::from_micros(500));
                }
            }
        });
        LossyRelay { port, running, thread: Some(thread) }
    }
}

impl Drop for LossyRelay {
    fn drop(&mut self) {
        self.running.store(false, Ordering::SeqCst);
        // The port is free again once the relay is gone: another may bind it.
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
