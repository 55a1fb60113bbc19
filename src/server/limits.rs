//! What one outside peer may hold: connections per listener, in total and
//! per address. A refusal closes the connection at once, is counted in
//! `/metrics` and logged once a minute per address, not per connection.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::server::config::LimitsConfig;

/// The TCP listeners a gate stands at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Listener {
    Http,
    Https,
    Rtmp,
    Rtmps,
}

impl Listener {
    pub const ALL: [Listener; 4] = [Listener::Http, Listener::Https, Listener::Rtmp, Listener::Rtmps];

    /// Its label in `/metrics`.
    pub fn label(self) -> &'static str {
        match self {
            Listener::Http => "http",
            Listener::Https => "https",
            Listener::Rtmp => "rtmp",
            Listener::Rtmps => "rtmps",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the listener holds its most connections ({0}, [limits] max_connections)")]
    Full(usize),
    #[error("this address holds its most connections ({0}, [limits] max_connections_per_address)")]
    AddressFull(usize),
}

/// Why a connection was closed before it did anything.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timeout {
    /// RTMP's handshake and commands up to publishing, or TLS's handshake.
    Handshake,
    /// An HTTP request's headers, or the wait for the next one.
    Header,
}

/// Per listener: connections open, refused by reason, closed by timeout.
#[derive(Default)]
pub struct ListenerCounts {
    pub open: AtomicU64,
    pub refused_full: AtomicU64,
    pub refused_address: AtomicU64,
    pub handshake_timeouts: AtomicU64,
    pub header_timeouts: AtomicU64,
}

impl ListenerCounts {
    pub fn timed_out(&self, timeout: Timeout) {
        let counter = match timeout {
            Timeout::Handshake => &self.handshake_timeouts,
            Timeout::Header => &self.header_timeouts,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Admits connections to one listener within `[limits]`.
pub struct Gate {
    listener: Listener,
    max_total: usize,
    max_per_address: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
    counts: Arc<ListenerCounts>,
}

/// Held for as long as its connection is open.
pub struct Admitted {
    gate: Arc<Gate>,
    address: IpAddr,
}

impl Gate {
    pub fn new(listener: Listener, limits: &LimitsConfig, counts: Arc<ListenerCounts>) -> Arc<Gate> {
        Arc::new(Gate {
            listener,
            max_total: limits.max_connections,
            max_per_address: limits.max_connections_per_address,
            open: Mutex::new(HashMap::new()),
            counts,
        })
    }

    pub fn counts(&self) -> &ListenerCounts {
        &self.counts
    }

    /// Admits `peer` or counts and logs why not.
    pub fn admit(self: &Arc<Gate>, peer: SocketAddr) -> Option<Admitted> {
        match self.try_admit(peer.ip()) {
            Ok(admitted) => Some(admitted),
            Err(refusal) => {
                let counter = match refusal {
                    Refusal::Full(_) => &self.counts.refused_full,
                    Refusal::AddressFull(_) => &self.counts.refused_address,
                };
                counter.fetch_add(1, Ordering::Relaxed);
                if REFUSALS_LOGGED.should_log(peer.ip(), Instant::now()) {
                    tracing::warn!(%peer, listener = self.listener.label(), "connection refused: {refusal} (logged once a minute per address)");
                }
                None
            }
        }
    }

    fn try_admit(self: &Arc<Gate>, address: IpAddr) -> Result<Admitted, Refusal> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let total = self.counts.open.load(Ordering::Relaxed) as usize;
        if total >= self.max_total {
            return Err(Refusal::Full(self.max_total));
        }
        let from_address = open.entry(address).or_insert(0);
        if *from_address >= self.max_per_address {
            return Err(Refusal::AddressFull(self.max_per_address));
        }
        *from_address += 1;
        self.counts.open.fetch_add(1, Ordering::Relaxed);
        Ok(Admitted { gate: self.clone(), address })
    }
}

impl Admitted {
    pub fn counts(&self) -> &ListenerCounts {
        &self.gate.counts
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut open = self.gate.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = open.get_mut(&self.address) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.address);
            }
        }
        self.gate.counts.open.fetch_sub(1, Ordering::Relaxed);
    }
}

static REFUSALS_LOGGED: RefusalLog = RefusalLog::new(Duration::from_secs(60));

/// When each address was last logged; bounded, as refusals may come from anywhere.
pub struct RefusalLog {
    every: Duration,
    last: Mutex<Option<HashMap<IpAddr, Instant>>>,
}

const MOST_ADDRESSES: usize = 4096;

impl RefusalLog {
    pub const fn new(every: Duration) -> RefusalLog {
        RefusalLog { every, last: Mutex::new(None) }
    }

    pub fn should_log(&self, address: IpAddr, now: Instant) -> bool {
        let Ok(mut last) = self.last.lock() else { return false };
        let last = last.get_or_insert_with(HashMap::new);
        if last.get(&address).is_some_and(|&then| now.duration_since(then) < self.every) {
            return false;
        }
        if last.len() >= MOST_ADDRESSES {
            last.retain(|_, then| now.duration_since(*then) < self.every);
            if last.len() >= MOST_ADDRESSES {
                // More addresses refused within a minute than it keeps: the
                // newcomers go unlogged (still counted) until entries age out.
                return false;
            }
        }
        last.insert(address, now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate(total: usize, per_address: usize) -> Arc<Gate> {
        let limits = LimitsConfig { max_connections: total, max_connections_per_address: per_address, ..LimitsConfig::default() };
        Gate::new(Listener::Http, &limits, Arc::default())
    }

    fn peer(last: u8) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, last], 40000))
    }

    #[test]
    fn one_address_is_held_to_its_share_and_freed_as_it_closes() {
        let gate = gate(10, 2);
        let first = gate.admit(peer(1)).expect("first");
        let _second = gate.admit(peer(1)).expect("second");
        assert!(gate.admit(peer(1)).is_none(), "a third from the same address");
        assert!(gate.admit(peer(2)).is_some(), "another address still gets in");
        assert_eq!(gate.counts().refused_address.load(Ordering::Relaxed), 1);
        drop(first);
        assert!(gate.admit(peer(1)).is_some(), "a closed connection makes room");
    }

    #[test]
    fn the_listener_is_held_to_its_total() {
        let gate = gate(3, 10);
        let held: Vec<_> = (1..=3).map(|i| gate.admit(peer(i)).expect("within the total")).collect();
        assert!(gate.admit(peer(4)).is_none());
        assert_eq!(gate.counts().refused_full.load(Ordering::Relaxed), 1);
        assert_eq!(gate.counts().open.load(Ordering::Relaxed), 3);
        drop(held);
        assert_eq!(gate.counts().open.load(Ordering::Relaxed), 0);
        assert!(gate.open.lock().unwrap().is_empty(), "addresses with nothing open are forgotten");
    }

    #[test]
    fn an_address_is_logged_once_a_minute() {
        let log = RefusalLog::new(Duration::from_secs(60));
        let (start, one, two) = (Instant::now(), IpAddr::from([10, 0, 0, 1]), IpAddr::from([10, 0, 0, 2]));
        assert!(log.should_log(one, start));
        assert!(!log.should_log(one, start + Duration::from_secs(59)));
        assert!(log.should_log(two, start + Duration::from_secs(1)));
        assert!(log.should_log(one, start + Duration::from_secs(61)));
    }

    #[test]
    fn a_flood_from_many_addresses_keeps_the_log_bounded() {
        let log = RefusalLog::new(Duration::from_secs(60));
        let start = Instant::now();
        let logged = (0..MOST_ADDRESSES as u32 * 2).filter(|&i| log.should_log(IpAddr::from(i.to_be_bytes()), start)).count();
        assert_eq!(logged, MOST_ADDRESSES);
        assert!(log.should_log(IpAddr::from([1, 2, 3, 4]), start + Duration::from_secs(61)), "old entries make room");
    }
}
