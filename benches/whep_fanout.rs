//! WHEP fan-out: how many WebRTC viewers one core of `onair serve` feeds.
//!
//! `cargo bench --profile dev --bench whep_fanout -- HTTP_BASE KEY SERVER_PID "STEPS" SECONDS`
//! (run by `benches/whep_fanout.sh`, which starts the server and a 720p30
//! 2.5 Mbit/s publisher). Viewers are real WebRTC peers of our own on
//! loopback, each with its own UDP socket: str0m does their ICE, DTLS and
//! RTCP, so the server sets up and encrypts a full SRTP session for each.
//! The viewers count the RTP they receive from its header (sequence numbers
//! are in the clear) and do not decrypt it, so one load process can hold
//! hundreds of them without taking the server's core. At each step (a total
//! number of viewers, kept from the step before), once all are connected, it
//! prints the server's CPU (from /proc), its resident memory, the bitrate
//! each viewer received, the loss seen in the sequence numbers, and where
//! it was lost: frames the server's WebRTC thread dropped, datagrams its
//! send buffer dropped, and datagrams the viewers' receive buffers dropped.

mod support;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use str0m::change::SdpAnswer;
use str0m::media::{Direction, MediaKind};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc};
use tokio::net::UdpSocket;

#[derive(Default)]
struct Counts {
    connected: AtomicU64,
    packets: AtomicU64,
    bytes: AtomicU64,
    lost: AtomicU64,
}

/// An RTP packet, not RTCP (RFC 5761: RTCP's packet types are 192–223).
fn is_rtp(datagram: &[u8]) -> bool {
    datagram.len() >= 12 && datagram[0] >> 6 == 2 && !(192..=223).contains(&datagram[1])
}

/// A viewer's receive buffer: a browser's is 256 kB or more; this one process
/// reads hundreds of sockets, so a frame's burst waits a little longer for it
/// than for a browser, and loss here would be the load tool's, not the server's.
const RECEIVE_BUFFER: libc::c_int = 2 << 20;

fn set_option(socket: &UdpSocket, level: libc::c_int, name: libc::c_int, value: libc::c_int) -> bool {
    use std::os::fd::AsRawFd;
    // SAFETY: setsockopt reads size_of::<c_int>() bytes from `value`, which lives across the call.
    unsafe {
        let pointer = &value as *const libc::c_int as *const libc::c_void;
        libc::setsockopt(socket.as_raw_fd(), level, name, pointer, std::mem::size_of::<libc::c_int>() as libc::socklen_t) == 0
    }
}

/// A larger receive buffer (SO_RCVBUFFORCE passes net.core.rmem_max as root),
/// and UDP GRO: a run of equal datagrams (a video frame, sent with segmentation
/// offload) arrives in one read. The load tool then keeps up with hundreds of
/// viewers on the one core the server leaves it, and on loopback the kernel no
/// longer bills the server for waking a reader per datagram, work no server
/// does for viewers on other machines.
fn tune(socket: &UdpSocket) {
    if !set_option(socket, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, RECEIVE_BUFFER) {
        set_option(socket, libc::SOL_SOCKET, libc::SO_RCVBUF, RECEIVE_BUFFER);
    }
    set_option(socket, libc::SOL_UDP, libc::UDP_GRO, 1);
}

/// One read: (bytes, source, the datagrams' size when GRO joined several, else 0).
async fn receive(socket: &UdpSocket, buffer: &mut [u8]) -> std::io::Result<(usize, SocketAddr, usize)> {
    use std::os::fd::AsRawFd;
    socket
        .async_io(tokio::io::Interest::READABLE, || {
            let mut source = onair::srt::addr::SockAddr::empty();
            let mut control = [0u64; 8];
            let mut iov = libc::iovec { iov_base: buffer.as_mut_ptr() as *mut libc::c_void, iov_len: buffer.len() };
            // SAFETY: msghdr is plain data; its pointers (source, iov, control) outlive the call,
            // and the control messages are read within msg_controllen as the kernel wrote them.
            unsafe {
                let mut message: libc::msghdr = std::mem::zeroed();
                message.msg_name = source.as_mut_ptr() as *mut libc::c_void;
                message.msg_namelen = source.capacity() as libc::socklen_t;
                message.msg_iov = &mut iov;
                message.msg_iovlen = 1;
                message.msg_control = control.as_mut_ptr() as *mut libc::c_void;
                message.msg_controllen = std::mem::size_of_val(&control) as _;
                let length = libc::recvmsg(socket.as_raw_fd(), &mut message, 0);
                if length < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                let mut segment = 0;
                let mut header = libc::CMSG_FIRSTHDR(&message);
                while !header.is_null() {
                    if (*header).cmsg_level == libc::SOL_UDP && (*header).cmsg_type == libc::UDP_GRO {
                        segment = std::ptr::read_unaligned(libc::CMSG_DATA(header) as *const u16) as usize;
                    }
                    header = libc::CMSG_NXTHDR(&message, header);
                }
                let from = onair::srt::addr::from_sockaddr(source.as_ptr()).ok_or_else(|| std::io::Error::other("a datagram from no address"))?;
                Ok((length as usize, from, segment))
            }
        })
        .await
}

async fn offer_and_connect(whep: &str, counts: Arc<Counts>, stop: Arc<AtomicBool>) -> Result<(), String> {
    let socket = UdpSocket::bind("127.0.0.1:0").await.map_err(|e| e.to_string())?;
    tune(&socket);
    let local = socket.local_addr().map_err(|e| e.to_string())?;
    let mut rtc = Rtc::builder().build(Instant::now());
    rtc.add_local_candidate(Candidate::host(local, "udp").map_err(|e| e.to_string())?);
    let mut changes = rtc.sdp_api();
    changes.add_media(MediaKind::Video, Direction::RecvOnly, None, None, None);
    changes.add_media(MediaKind::Audio, Direction::RecvOnly, None, None, None);
    let (offer, pending) = changes.apply().ok_or("no offer")?;
    let url = whep.to_string();
    let sdp = offer.to_sdp_string();
    let answer = tokio::task::spawn_blocking(move || -> Result<String, String> {
        let mut response = ureq::post(&url).header("Content-Type", "application/sdp").send(sdp).map_err(|e| e.to_string())?;
        response.body_mut().read_to_string().map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| e.to_string())??;
    let answer = SdpAnswer::from_sdp_string(&answer).map_err(|e| e.to_string())?;
    rtc.sdp_api().accept_answer(pending, answer).map_err(|e| e.to_string())?;
    tokio::task::spawn_local(view(rtc, socket, local, counts, stop));
    Ok(())
}

async fn view(mut rtc: Rtc, socket: UdpSocket, local: SocketAddr, counts: Arc<Counts>, stop: Arc<AtomicBool>) {
    // Room for a GRO read of up to 64 datagrams.
    let mut buffer = vec![0u8; 65_536];
    let mut next_seq: HashMap<u32, u16> = HashMap::new();
    while !stop.load(Ordering::Relaxed) && rtc.is_alive() {
        let timeout = loop {
            match rtc.poll_output() {
                Ok(Output::Timeout(at)) => break at,
                Ok(Output::Transmit(t)) => {
                    let _ = socket.try_send_to(&t.contents, t.destination);
                }
                Ok(Output::Event(Event::Connected)) => {
                    counts.connected.fetch_add(1, Ordering::Relaxed);
                }
                Ok(Output::Event(_)) => {}
                Err(_) => return,
            }
        };
        let timeout = timeout.min(Instant::now() + Duration::from_millis(500));
        tokio::select! {
            received = receive(&socket, &mut buffer) => {
                let Ok((length, source, segment)) = received else { continue };
                for datagram in buffer[..length].chunks(if segment > 0 { segment } else { length.max(1) }) {
                if is_rtp(datagram) {
                    let ssrc = u32::from_be_bytes([datagram[8], datagram[9], datagram[10], datagram[11]]);
                    let seq = u16::from_be_bytes([datagram[2], datagram[3]]);
                    if let Some(expected) = next_seq.get(&ssrc) {
                        let gap = seq.wrapping_sub(*expected);
                        if gap < 1000 {
                            counts.lost.fetch_add(u64::from(gap), Ordering::Relaxed);
                        }
                    }
                    next_seq.insert(ssrc, seq.wrapping_add(1));
                    counts.packets.fetch_add(1, Ordering::Relaxed);
                    counts.bytes.fetch_add(datagram.len() as u64, Ordering::Relaxed);
                } else if let Ok(receive) = Receive::new(Protocol::Udp, source, local, datagram) {
                    let _ = rtc.handle_input(Input::Receive(Instant::now(), receive));
                }
                }
            }
            () = tokio::time::sleep_until(timeout.into()) => {
                let _ = rtc.handle_input(Input::Timeout(Instant::now()));
            }
        }
    }
}

/// The server's CPU seconds and resident kB, from /proc.
fn server_usage(pid: u32) -> (f64, u64) {
    let cpu = support::cpu_seconds(&format!("/proc/{pid}/stat")).map_or(0.0, |(_, seconds)| seconds);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss = status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok()).unwrap_or(0);
    (cpu, rss)
}

/// Counters of the server's `/metrics`: (media the WebRTC thread dropped, datagrams its send buffer dropped).
fn server_drops(base: &str) -> (u64, u64) {
    let text = ureq::get(&format!("{base}/metrics")).call().ok().and_then(|mut r| r.body_mut().read_to_string().ok()).unwrap_or_default();
    let counter = |name: &str| text.lines().find_map(|l| l.strip_prefix(name)?.trim().parse().ok()).unwrap_or(0);
    (counter("onair_webrtc_media_dropped_total "), counter("onair_webrtc_datagrams_dropped_total "))
}

/// Datagrams this machine's UDP dropped for a full receive buffer (/proc/net/snmp's RcvbufErrors):
/// on loopback, the viewers' sockets not read in time.
fn receive_buffer_errors() -> u64 {
    let snmp = std::fs::read_to_string("/proc/net/snmp").unwrap_or_default();
    let mut udp = snmp.lines().filter(|l| l.starts_with("Udp: "));
    let (Some(names), Some(values)) = (udp.next(), udp.next()) else { return 0 };
    let index = names.split_whitespace().position(|n| n == "RcvbufErrors");
    index.and_then(|i| values.split_whitespace().nth(i)?.parse().ok()).unwrap_or(0)
}

fn own_cpu() -> f64 {
    support::rusage_seconds(libc::RUSAGE_SELF)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let [base, key, pid, steps, seconds] = args.as_slice() else {
        eprintln!("usage: whep_fanout HTTP_BASE KEY SERVER_PID \"STEPS\" SECONDS (see benches/whep_fanout.sh)");
        std::process::exit(2);
    };
    let pid: u32 = pid.parse().expect("a PID");
    let seconds: f64 = seconds.parse().expect("seconds");
    let steps: Vec<u64> = steps.split_whitespace().map(|s| s.parse().expect("a number of viewers")).collect();
    let whep = format!("{base}/live/{key}/whep");
    let counts = Arc::new(Counts::default());
    let stop = Arc::new(AtomicBool::new(false));
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    let local = tokio::task::LocalSet::new();
    let (_, baseline_rss) = server_usage(pid);
    println!(
        "| viewers | server CPU (cores) | viewers per core | received per viewer (Mbit/s) | loss | dropped by the server (frames, datagrams) | receive-buffer overflows | server RSS (MB) | RSS per viewer (kB) | load tool CPU (cores) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    local.block_on(&runtime, async {
        let mut viewers = 0u64;
        for &total in &steps {
            while viewers < total {
                if let Err(error) = offer_and_connect(&whep, counts.clone(), stop.clone()).await {
                    eprintln!("viewer {viewers} could not start: {error}");
                    std::process::exit(1);
                }
                viewers += 1;
            }
            let deadline = Instant::now() + Duration::from_secs(60);
            while counts.connected.load(Ordering::Relaxed) < total && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let connected = counts.connected.load(Ordering::Relaxed);
            // Let the joins (each a keyframe wait) settle before measuring.
            tokio::time::sleep(Duration::from_secs(3)).await;
            let (cpu0, _) = server_usage(pid);
            let own0 = own_cpu();
            let (packets0, bytes0, lost0) = (counts.packets.load(Ordering::Relaxed), counts.bytes.load(Ordering::Relaxed), counts.lost.load(Ordering::Relaxed));
            let (drops0, overflows0) = (server_drops(base), receive_buffer_errors());
            let started = Instant::now();
            tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
            let elapsed = started.elapsed().as_secs_f64();
            let (cpu1, rss) = server_usage(pid);
            let own = (own_cpu() - own0) / elapsed;
            let packets = counts.packets.load(Ordering::Relaxed) - packets0;
            let bytes = counts.bytes.load(Ordering::Relaxed) - bytes0;
            let lost = counts.lost.load(Ordering::Relaxed) - lost0;
            let drops = server_drops(base);
            let (media_dropped, datagrams_dropped) = (drops.0 - drops0.0, drops.1 - drops0.1);
            let overflows = receive_buffer_errors() - overflows0;
            let cores = (cpu1 - cpu0) / elapsed;
            let per_viewer_mbit = bytes as f64 * 8.0 / elapsed / total as f64 / 1e6;
            let loss = if packets + lost > 0 { 100.0 * lost as f64 / (packets + lost) as f64 } else { 0.0 };
            let per_core = if cores > 0.0 { total as f64 / cores } else { 0.0 };
            let rss_per_viewer = rss.saturating_sub(baseline_rss) as f64 / total as f64;
            println!(
                "| {total} ({connected} connected) | {cores:.3} | {per_core:.0} | {per_viewer_mbit:.2} | {loss:.3} % | {media_dropped}, {datagrams_dropped} | {overflows} | {:.1} | {rss_per_viewer:.0} | {own:.2} |",
                rss as f64 / 1024.0
            );
        }
        stop.store(true, Ordering::Relaxed);
    });
}
