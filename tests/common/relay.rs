//! A UDP relay on loopback that loses and delays datagrams: this kernel has
//! no netem qdisc for namespaces, so loss is made here.

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How long the relay lets the connection set up before it starts losing datagrams.
const HANDSHAKE_GRACE: Duration = Duration::from_millis(300);

/// A UDP relay that drops a share of datagrams both ways and delays the rest.
/// It loses nothing during the handshake, nor after `lossy_for` (when given).
pub struct LossyRelay {
    pub port: u16,
    running: Arc<AtomicBool>,
}

impl LossyRelay {
    pub fn start(to: SocketAddr, loss_percent: u64, delay: Duration, lossy_for: Option<Duration>) -> LossyRelay {
        LossyRelay::start_at(SocketAddr::from(([127, 0, 0, 1], 0)), to, loss_percent, delay, lossy_for)
    }

    /// The relay listening on `at` (a WebRTC server's public address, say).
    pub fn start_at(at: SocketAddr, to: SocketAddr, loss_percent: u64, delay: Duration, lossy_for: Option<Duration>) -> LossyRelay {
        let socket = UdpSocket::bind(at).unwrap();
        let port = socket.local_addr().unwrap().port();
        let upstream = UdpSocket::bind("127.0.0.1:0").unwrap();
        upstream.connect(to).unwrap();
        socket.set_nonblocking(true).unwrap();
        upstream.set_nonblocking(true).unwrap();
        let running = Arc::new(AtomicBool::new(true));
        let flag = running.clone();
        std::thread::spawn(move || {
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
                    if !lose() {
                        queue.push_back((Instant::now() + delay, true, buffer[..n].to_vec()));
                    }
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
        LossyRelay { port, running }
    }
}

impl Drop for LossyRelay {
    fn drop(&mut self) {
        self.running.store(false, Ordering::SeqCst);
    }
}
