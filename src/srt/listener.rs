//! An SRT listener that admits or refuses each caller during the handshake,
//! by its stream id, and sets the passphrase the caller must match.

use std::ffi::{CStr, c_char, c_int, c_void};
use std::net::SocketAddr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use super::addr::{SockAddr, from_sockaddr};
use super::admission::{Admission, AdmissionPolicy, CallerRequest};
use super::ffi;
use super::socket::{SrtError, SrtOptions, SrtSocket, last_error, set_bytes, set_int, stream_id_of};

/// A connection the listener accepted.
pub struct Accepted {
    pub socket: SrtSocket,
    pub peer: Option<SocketAddr>,
    pub stream_id: Option<String>,
}

pub struct SrtListener {
    socket: SrtSocket,
    addr: SocketAddr,
}

impl SrtListener {
    /// Binds (port 0 picks a free one) and listens; `policy` runs for every handshake.
    pub fn bind(addr: SocketAddr, latency: Duration, policy: Box<AdmissionPolicy>) -> Result<SrtListener, SrtError> {
        let socket = SrtSocket::create()?;
        socket.apply(&SrtOptions { latency, ..SrtOptions::default() })?;
        let raw = SockAddr::from(addr);
        // SAFETY: the address outlives the call.
        if unsafe { ffi::srt().srt_bind(socket.raw(), raw.as_ptr(), raw.len()) } == ffi::SRT_ERROR {
            return Err(last_error("srt_bind"));
        }
        // The policy lives as long as the process: libsrt may still be inside
        // the callback while the listener closes, so it is never freed.
        // Boxed twice: libsrt's opaque pointer is one word, a `dyn` pointer two.
        #[allow(clippy::borrowed_box)]
        let policy: &'static Box<AdmissionPolicy> = Box::leak(Box::new(policy));
        let opaque = (policy as *const Box<AdmissionPolicy>).cast_mut().cast::<c_void>();
        // SAFETY: the hook and its opaque pointer stay valid for the process's life.
        if unsafe { ffi::srt().srt_listen_callback(socket.raw(), Some(admit_hook), opaque) } == ffi::SRT_ERROR {
            return Err(last_error("srt_listen_callback"));
        }
        // SAFETY: a bound socket.
        if unsafe { ffi::srt().srt_listen(socket.raw(), 64) } == ffi::SRT_ERROR {
            return Err(last_error("srt_listen"));
        }
        let addr = socket.local_addr().unwrap_or(addr);
        Ok(SrtListener { socket, addr })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops taking callers, from any thread: a blocked `accept` returns an
    /// error. Connections already accepted carry on. libsrt refuses a closed
    /// socket's id, so the close when the listener is dropped does nothing.
    pub fn close(&self) {
        // SAFETY: closing a socket id is safe whatever state it is in.
        unsafe {
            ffi::srt().srt_close(self.socket.raw());
        }
    }

    /// Blocks until a caller completes its handshake.
    pub fn accept(&self) -> Result<Accepted, SrtError> {
        let mut peer = SockAddr::empty();
        let mut length = peer.capacity();
        // SAFETY: the storage holds any address family.
        let id = unsafe { ffi::srt().srt_accept(self.socket.raw(), peer.as_mut_ptr(), &mut length) };
        if id == ffi::SRT_INVALID_SOCK {
            return Err(last_error("srt_accept"));
        }
        let socket = SrtSocket::from_raw(id);
        super::handshakes::forget(id);
        let stream_id = socket.stream_id();
        Ok(Accepted { socket, peer: from_sockaddr(peer.as_ptr()), stream_id })
    }
}

unsafe extern "C" fn admit_hook(opaque: *mut c_void, ns: ffi::SRTSOCKET, _hs_version: c_int, peer: *const libc::sockaddr, stream_id: *const c_char) -> c_int {
    // A panic must not unwind into C: it refuses the caller instead.
    let decided = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: `opaque` is the leaked policy from `bind`.
        let policy = unsafe { &*opaque.cast::<Box<AdmissionPolicy>>() };
        let stream_id = if stream_id.is_null() {
            stream_id_of(ns)
        } else {
            // SAFETY: libsrt passes a NUL-terminated string.
            Some(unsafe { CStr::from_ptr(stream_id) }.to_string_lossy().into_owned()).filter(|s| !s.is_empty())
        };
        let request = CallerRequest { peer: from_sockaddr(peer), stream_id: stream_id.as_deref() };
        match policy(&request) {
            Admission::Accept { passphrase, key_length } => {
                if passphrase.is_some() {
                    super::handshakes::remember(ns, &request);
                }
                let mut ok = true;
                if let Some(passphrase) = passphrase {
                    ok &= set_bytes(ns, ffi::SRTO_PASSPHRASE, passphrase.as_bytes()).is_ok();
                }
                if let Some(length) = key_length {
                    ok &= set_int(ns, ffi::SRTO_PBKEYLEN, c_int::from(length)).is_ok();
                }
                if ok { Ok(()) } else { Err(ffi::SRT_REJX_ISE) }
            }
            Admission::Refuse { reason } => Err(reason),
        }
    }));
    let reason = match decided {
        Ok(Ok(())) => return 0,
        Ok(Err(reason)) => reason,
        Err(_) => ffi::SRT_REJX_ISE,
    };
    // SAFETY: `ns` is the socket in handshake.
    unsafe { ffi::srt().srt_setrejectreason(ns, reason) };
    -1
}
