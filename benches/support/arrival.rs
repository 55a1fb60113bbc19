//! When bytes reached a TCP socket, as the kernel stamped them, apart from
//! when the reading process got around to reading them.
//!
//! A load tool that shares the machine with the server it measures reads
//! late whenever the scheduler runs the server instead; on a real network
//! the viewers are other machines. With `SO_TIMESTAMPNS` set, every
//! `recvmsg` on a TCP socket carries the receive time of the last segment
//! it read (CLOCK_REALTIME), so the moment a response's last byte arrived
//! is known however late it is read.

use std::io;
use std::os::fd::AsRawFd;

use tokio::io::Interest;
use tokio::net::TcpStream;

/// Nanoseconds since the Unix epoch, the clock the kernel stamps with.
pub type Nanos = i128;

pub fn now() -> Nanos {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as i128)
}

/// Asks the kernel to stamp what `stream` receives.
pub fn enable(stream: &TcpStream) -> io::Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: a valid socket and a c_int option of the size passed.
    let result = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPNS,
            (&on as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if result == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}

/// Appends up to `max` bytes to `buf` once data is there (0 at the end of
/// the stream): the byte count and the receive stamp of the last segment
/// read, when the kernel gave one.
pub async fn read(stream: &TcpStream, buf: &mut Vec<u8>, max: usize) -> io::Result<(usize, Option<Nanos>)> {
    loop {
        stream.readable().await?;
        // Taken only once there is something to read: thousands of idle
        // connections hold no buffer.
        buf.reserve(max);
        let spare = &mut buf.spare_capacity_mut()[..max];
        match stream.try_io(Interest::READABLE, || recv_stamped(stream.as_raw_fd(), spare)) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Ok((read, stamp)) => {
                // SAFETY: the kernel wrote `read` bytes into the spare capacity.
                unsafe { buf.set_len(buf.len() + read) };
                return Ok((read, stamp));
            }
            Err(e) => return Err(e),
        }
    }
}

fn recv_stamped(fd: std::os::fd::RawFd, buf: &mut [std::mem::MaybeUninit<u8>]) -> io::Result<(usize, Option<Nanos>)> {
    let mut iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
    // Room for one timespec control message, aligned for cmsghdr.
    let mut control = [0u64; 8];
    // SAFETY: msghdr is plain data; zero is a valid empty header.
    let mut message: libc::msghdr = unsafe { std::mem::zeroed() };
    message.msg_iov = &mut iov;
    message.msg_iovlen = 1;
    message.msg_control = control.as_mut_ptr().cast();
    message.msg_controllen = size_of_val(&control) as _;
    // SAFETY: the header points at `buf` and `control`, both alive and of the lengths given.
    let read = unsafe { libc::recvmsg(fd, &mut message, 0) };
    if read < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut stamp = None;
    // SAFETY: walking the control messages the kernel wrote into `control`.
    unsafe {
        let mut header = libc::CMSG_FIRSTHDR(&message);
        while !header.is_null() {
            if (*header).cmsg_level == libc::SOL_SOCKET && (*header).cmsg_type == libc::SCM_TIMESTAMPNS {
                let time: libc::timespec = std::ptr::read_unaligned(libc::CMSG_DATA(header).cast());
                stamp = Some(time.tv_sec as Nanos * 1_000_000_000 + time.tv_nsec as Nanos);
            }
            header = libc::CMSG_NXTHDR(&message, header);
        }
    }
    Ok((read as usize, stamp))
}
