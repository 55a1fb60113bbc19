//! `SocketAddr` to and from the C `sockaddr` that libsrt (and the WebRTC outbox's `sendmsg`) take.

use std::ffi::c_int;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

pub struct SockAddr {
    storage: libc::sockaddr_storage,
    length: c_int,
}

impl SockAddr {
    pub fn empty() -> SockAddr {
        // SAFETY: all-zero is a valid sockaddr_storage.
        SockAddr { storage: unsafe { std::mem::zeroed() }, length: 0 }
    }

    pub fn as_ptr(&self) -> *const libc::sockaddr {
        (&self.storage as *const libc::sockaddr_storage).cast()
    }

    pub fn as_mut_ptr(&mut self) -> *mut libc::sockaddr {
        (&mut self.storage as *mut libc::sockaddr_storage).cast()
    }

    pub fn len(&self) -> c_int {
        self.length
    }

    pub fn capacity(&self) -> c_int {
        std::mem::size_of::<libc::sockaddr_storage>() as c_int
    }
}

impl From<SocketAddr> for SockAddr {
    fn from(addr: SocketAddr) -> SockAddr {
        let mut out = SockAddr::empty();
        match addr {
            SocketAddr::V4(v4) => {
                let sin = libc::sockaddr_in {
                    sin_family: libc::AF_INET as libc::sa_family_t,
                    sin_port: v4.port().to_be(),
                    sin_addr: libc::in_addr { s_addr: u32::from_ne_bytes(v4.ip().octets()) },
                    sin_zero: [0; 8],
                };
                // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in.
                unsafe { std::ptr::write(out.as_mut_ptr().cast::<libc::sockaddr_in>(), sin) };
                out.length = std::mem::size_of::<libc::sockaddr_in>() as c_int;
            }
            SocketAddr::V6(v6) => {
                let sin6 = libc::sockaddr_in6 {
                    sin6_family: libc::AF_INET6 as libc::sa_family_t,
                    sin6_port: v6.port().to_be(),
                    sin6_flowinfo: v6.flowinfo(),
                    sin6_addr: libc::in6_addr { s6_addr: v6.ip().octets() },
                    sin6_scope_id: v6.scope_id(),
                };
                // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in6.
                unsafe { std::ptr::write(out.as_mut_ptr().cast::<libc::sockaddr_in6>(), sin6) };
                out.length = std::mem::size_of::<libc::sockaddr_in6>() as c_int;
            }
        }
        out
    }
}

/// Reads an address libsrt handed over; None for a null pointer or another family.
pub fn from_sockaddr(addr: *const libc::sockaddr) -> Option<SocketAddr> {
    if addr.is_null() {
        return None;
    }
    // SAFETY: the family field is common to every sockaddr; the cast follows it.
    unsafe {
        match c_int::from((*addr).sa_family) {
            libc::AF_INET => {
                let sin = &*addr.cast::<libc::sockaddr_in>();
                let ip = Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes());
                Some(SocketAddr::V4(SocketAddrV4::new(ip, u16::from_be(sin.sin_port))))
            }
            libc::AF_INET6 => {
                let sin6 = &*addr.cast::<libc::sockaddr_in6>();
                let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
                Some(SocketAddr::V6(SocketAddrV6::new(ip, u16::from_be(sin6.sin6_port), sin6.sin6_flowinfo, sin6.sin6_scope_id)))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_both_families() {
        for text in ["127.0.0.1:8890", "[::1]:9000", "10.1.2.3:1"] {
            let addr: SocketAddr = text.parse().unwrap();
            let raw = SockAddr::from(addr);
            assert_eq!(from_sockaddr(raw.as_ptr()), Some(addr));
        }
        assert_eq!(from_sockaddr(std::ptr::null()), None);
    }
}
