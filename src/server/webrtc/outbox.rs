//! Datagrams a peer's session produced in one turn, sent together. A video
//! frame becomes a run of equal-sized SRTP packets to one address, and the
//! kernel takes such a run in one `sendmsg` with UDP generic segmentation
//! offload (`UDP_SEGMENT`): one trip through the socket, routing and
//! device layers for the run instead of one per packet, which is most of
//! what a viewer costs the endpoint. Where the kernel or device refuses it,
//! each datagram goes on its own.

use std::net::SocketAddr;
use std::os::fd::AsRawFd;

use tokio::net::UdpSocket;

use crate::srt::addr::SockAddr;

/// At most this many datagrams in one send (the kernel's UDP_MAX_SEGMENTS).
const MAX_SEGMENTS: usize = 64;
/// At most this many bytes in one send: an IP datagram's payload.
const MAX_BYTES: usize = 65_000;

/// Datagrams to one address, each `segment` bytes but the last, which may be shorter.
struct Run {
    destination: SocketAddr,
    segment: usize,
    count: usize,
    start: usize,
    /// A shorter datagram ended it; nothing more joins.
    closed: bool,
}

pub struct Outbox {
    bytes: Vec<u8>,
    runs: Vec<Run>,
    /// False once the kernel refused a segmented send: from then on, one datagram per send.
    segmentation: bool,
}

impl Default for Outbox {
    fn default() -> Self {
        Outbox { bytes: Vec::with_capacity(MAX_BYTES), runs: Vec::new(), segmentation: true }
    }
}

impl Outbox {
    pub fn push(&mut self, destination: SocketAddr, datagram: &[u8]) {
        if datagram.is_empty() {
            return;
        }
        let start = self.bytes.len();
        let joins = self.runs.last_mut().filter(|run| {
            run.destination == destination
                && !run.closed
                && datagram.len() <= run.segment
                && run.count < MAX_SEGMENTS
                && start - run.start + datagram.len() <= MAX_BYTES
        });
        match joins {
            Some(run) => {
                run.count += 1;
                run.closed = datagram.len() < run.segment;
            }
            None => self.runs.push(Run { destination, segment: datagram.len(), count: 1, start, closed: false }),
        }
        self.bytes.extend_from_slice(datagram);
    }

    /// Sends everything pushed. A full send buffer drops what does not fit,
    /// as the network may: RTP is repaired by NACK, and a blocked endpoint
    /// would stall every peer. Returns the datagrams dropped.
    pub fn flush(&mut self, socket: &UdpSocket) -> u64 {
        let mut dropped = 0;
        for (i, run) in self.runs.iter().enumerate() {
            let end = self.runs.get(i + 1).map_or(self.bytes.len(), |next| next.start);
            let bytes = &self.bytes[run.start..end];
            if run.count > 1 && self.segmentation {
                match send_segmented(socket, run.destination, bytes, run.segment) {
                    Ok(()) => continue,
                    Err(error) if refuses_segmentation(&error) => {
                        tracing::info!("UDP segmentation offload refused ({error}); WebRTC sends one datagram at a time");
                        self.segmentation = false;
                    }
                    // A full buffer, or an error the peer's address earned
                    // (a viewer gone: ICMP port unreachable): the run is lost, as one datagram would be.
                    Err(_) => {
                        dropped += run.count as u64;
                        continue;
                    }
                }
            }
            for datagram in bytes.chunks(run.segment) {
                if socket.try_send_to(datagram, run.destination).is_err() {
                    dropped += 1;
                }
            }
        }
        self.bytes.clear();
        self.runs.clear();
        dropped
    }
}

/// Whether a failed segmented send means the kernel or device cannot segment
/// (as quinn-udp reads them: EIO from a device without checksum offload,
/// EINVAL or the option unknown), not a problem of this one send.
fn refuses_segmentation(error: &std::io::Error) -> bool {
    matches!(error.raw_os_error(), Some(libc::EIO | libc::EINVAL | libc::ENOPROTOOPT | libc::EOPNOTSUPP))
}

/// One `sendmsg` of `bytes`, which the kernel cuts into datagrams of `segment` bytes.
fn send_segmented(socket: &UdpSocket, destination: SocketAddr, bytes: &[u8], segment: usize) -> std::io::Result<()> {
    let address = SockAddr::from(destination);
    let segment = u16::try_from(segment).map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    // Room for one cmsghdr carrying a u16, aligned as cmsghdr must be.
    let mut control = [0u64; 4];
    let mut iov = libc::iovec { iov_base: bytes.as_ptr() as *mut libc::c_void, iov_len: bytes.len() };
    // SAFETY: msghdr is plain data; every pointer set below outlives the sendmsg call, and
    // the control buffer is checked to hold CMSG_SPACE(2) first.
    unsafe {
        let space = libc::CMSG_SPACE(std::mem::size_of::<u16>() as u32) as usize;
        if space > std::mem::size_of_val(&control) {
            return Err(std::io::Error::from(std::io::ErrorKind::Unsupported));
        }
        let mut message: libc::msghdr = std::mem::zeroed();
        message.msg_name = address.as_ptr() as *mut libc::c_void;
        message.msg_namelen = address.len() as libc::socklen_t;
        message.msg_iov = &mut iov;
        message.msg_iovlen = 1;
        message.msg_control = control.as_mut_ptr() as *mut libc::c_void;
        message.msg_controllen = space as _;
        let header = libc::CMSG_FIRSTHDR(&message);
        (*header).cmsg_level = libc::SOL_UDP;
        (*header).cmsg_type = libc::UDP_SEGMENT;
        (*header).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<u16>() as u32) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(header) as *mut u16, segment);
        if libc::sendmsg(socket.as_raw_fd(), &message, 0) < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a peer on loopback receives of a flush, datagram by datagram.
    #[tokio::test]
    async fn runs_go_out_as_the_datagrams_they_were() {
        let sender = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        // Tokio lets a try_send through once its reactor has seen the socket writable.
        sender.writable().await.unwrap();
        let a = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let sent: Vec<(SocketAddr, Vec<u8>)> = vec![
            (a.local_addr().unwrap(), vec![1; 1200]),
            (a.local_addr().unwrap(), vec![2; 1200]),
            (a.local_addr().unwrap(), vec![3; 700]),
            (a.local_addr().unwrap(), vec![4; 1200]),
            (b.local_addr().unwrap(), vec![5; 90]),
            (a.local_addr().unwrap(), vec![6; 1300]),
        ];
        let mut outbox = Outbox::default();
        for (to, datagram) in &sent {
            outbox.push(*to, datagram);
            // Nothing to send: no run, no zero-sized segment.
            outbox.push(*to, &[]);
        }
        assert_eq!(outbox.runs.len(), 4, "a shorter datagram ends a run, as does another address or a larger one");
        assert_eq!(outbox.flush(&sender), 0);
        assert!(outbox.segmentation, "loopback takes segmented sends");
        for (socket, expected) in [(&a, [1, 2, 3, 4, 6].as_slice()), (&b, [5].as_slice())] {
            socket.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
            for &first in expected {
                let mut buffer = [0u8; 2048];
                let length = socket.recv(&mut buffer).unwrap();
                let (_, datagram) = sent.iter().find(|(_, d)| d[0] == first).unwrap();
                assert_eq!(&buffer[..length], datagram.as_slice(), "datagram {first} arrives whole and in order");
            }
        }
    }
}
