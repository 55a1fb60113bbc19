//! One SRT socket: options, connect, send, receive and statistics.
//!
//! libsrt calls block the calling thread (libsrt runs its own network
//! threads); callers use dedicated threads or `spawn_blocking`.

use std::ffi::{CStr, c_int, c_void};
use std::net::SocketAddr;
use std::sync::Once;
use std::time::Duration;

use super::addr::{SockAddr, from_sockaddr};
use super::ffi;
use super::reject::reject_reason_text;

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum SrtError {
    #[error(transparent)]
    Unavailable(#[from] crate::native::LoadError),
    /// The peer refused the connection; `reason` is libsrt's reject code.
    #[error("refused by {peer}: {message}")]
    Rejected { peer: SocketAddr, reason: i32, message: String },
    #[error("no SRT answer from {0}")]
    NoAnswer(SocketAddr),
    #[error("receive timed out")]
    Timeout,
    #[error("{call}: {message}")]
    Call { call: &'static str, code: i32, message: String },
}

impl SrtError {
    /// The caller's passphrase does not match, or one side has none.
    pub fn is_passphrase_refusal(&self) -> bool {
        matches!(self, SrtError::Rejected { reason, .. } if *reason == ffi::int::REJ_BADSECRET || *reason == ffi::int::REJ_UNSECURE)
    }
}

pub(super) fn last_error(call: &'static str) -> SrtError {
    // SAFETY: libsrt keeps the last error per thread; the string lives until the next call.
    let (code, message) = unsafe {
        let code = ffi::srt().srt_getlasterror(std::ptr::null_mut());
        let text = ffi::srt().srt_getlasterror_str();
        (code, if text.is_null() { String::new() } else { CStr::from_ptr(text).to_string_lossy().into_owned() })
    };
    if code == ffi::int::EASYNCRCV { SrtError::Timeout } else { SrtError::Call { call, code, message } }
}

/// Opens libsrt and starts it, once.
pub(super) fn startup() -> Result<(), SrtError> {
    static STARTED: Once = Once::new();
    let srt = ffi::load()?;
    STARTED.call_once(|| {
        // SAFETY: called once, before any other libsrt call.
        unsafe {
            srt.srt_startup();
        }
        super::log::route_to_tracing();
    });
    Ok(())
}

/// Options both sides set before connecting.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SrtOptions {
    pub latency: Duration,
    pub passphrase: Option<String>,
    /// 16, 24 or 32 bytes; None lets the peers agree (AES-128 when neither says).
    pub key_length: Option<u16>,
    pub stream_id: Option<String>,
    pub connect_timeout: Option<Duration>,
    /// Resend a lost packet on every loss report, not at most once per round
    /// trip (libsrt's default): more attempts fit in the latency.
    pub eager_retransmission: bool,
}

/// A transport's running counts, from `srt_bstats`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SrtStats {
    pub rtt_ms: f64,
    pub packets_sent: u64,
    pub packets_received: u64,
    pub packets_lost: u64,
    pub packets_retransmitted: u64,
    pub packets_dropped: u64,
    /// Packets the sender gave up on as too late.
    pub packets_send_dropped: u64,
    /// Packets the receiver reported lost to this sender (each then resent).
    pub packets_reported_lost: u64,
    /// Packets sent and not yet acknowledged.
    pub unacknowledged: u64,
}

/// An owned libsrt socket, closed on drop.
#[derive(Debug)]
pub struct SrtSocket {
    id: ffi::SRTSOCKET,
}

impl SrtSocket {
    pub(super) fn create() -> Result<SrtSocket, SrtError> {
        startup()?;
        // SAFETY: plain constructor.
        let id = unsafe { ffi::srt().srt_create_socket() };
        if id == ffi::SRT_INVALID_SOCK { Err(last_error("srt_create_socket")) } else { Ok(SrtSocket { id }) }
    }

    pub(super) fn from_raw(id: ffi::SRTSOCKET) -> SrtSocket {
        SrtSocket { id }
    }

    pub(super) fn raw(&self) -> ffi::SRTSOCKET {
        self.id
    }

    pub(super) fn apply(&self, options: &SrtOptions) -> Result<(), SrtError> {
        set_int(self.id, ffi::SRTO_TRANSTYPE, ffi::int::LIVE)?;
        set_int(self.id, ffi::SRTO_LATENCY, options.latency.as_millis().min(i32::MAX as u128) as c_int)?;
        if let Some(passphrase) = &options.passphrase {
            set_bytes(self.id, ffi::SRTO_PASSPHRASE, passphrase.as_bytes())?;
        }
        if let Some(length) = options.key_length {
            set_int(self.id, ffi::SRTO_PBKEYLEN, c_int::from(length))?;
        }
        if let Some(stream_id) = &options.stream_id {
            set_bytes(self.id, ffi::SRTO_STREAMID, stream_id.as_bytes())?;
        }
        if options.eager_retransmission {
            set_int(self.id, ffi::SRTO_RETRANSMITALGO, 0)?;
        }
        if let Some(timeout) = options.connect_timeout {
            set_int(self.id, ffi::SRTO_CONNTIMEO, timeout.as_millis().min(i32::MAX as u128) as c_int)?;
        }
        Ok(())
    }

    /// Connects as a caller; blocks up to the connect timeout.
    pub fn connect(peer: SocketAddr, options: &SrtOptions) -> Result<SrtSocket, SrtError> {
        let socket = SrtSocket::create()?;
        socket.apply(options)?;
        let address = SockAddr::from(peer);
        // SAFETY: the address outlives the call.
        let result = unsafe { ffi::srt().srt_connect(socket.id, address.as_ptr(), address.len()) };
        if result == ffi::SRT_ERROR {
            let error = last_error("srt_connect");
            // SAFETY: the socket is still open.
            let reason = unsafe { ffi::srt().srt_getrejectreason(socket.id) };
            return Err(match error {
                SrtError::Call { code: ffi::int::ENOSERVER, .. } => SrtError::NoAnswer(peer),
                _ if reason == ffi::int::REJ_TIMEOUT => SrtError::NoAnswer(peer),
                SrtError::Call { code: ffi::int::ECONNREJ, .. } => SrtError::Rejected { peer, reason, message: reject_reason_text(reason) },
                other => other,
            });
        }
        Ok(socket)
    }

    /// Waits at most `timeout` for each receive; a quiet peer gives `SrtError::Timeout`.
    pub fn set_receive_timeout(&self, timeout: Duration) -> Result<(), SrtError> {
        set_int(self.id, ffi::SRTO_RCVTIMEO, timeout.as_millis().min(i32::MAX as u128) as c_int)
    }

    /// One message (a live-mode payload); 0 bytes means the peer closed.
    pub fn receive(&self, buffer: &mut [u8]) -> Result<usize, SrtError> {
        let length = buffer.len().min(i32::MAX as usize) as c_int;
        // SAFETY: the buffer is valid for `length` bytes.
        let received = unsafe { ffi::srt().srt_recvmsg(self.id, buffer.as_mut_ptr().cast(), length) };
        if received < 0 { Err(last_error("srt_recvmsg")) } else { Ok(received as usize) }
    }

    /// Sends one payload (at most 1456 bytes in live mode).
    pub fn send(&self, payload: &[u8]) -> Result<(), SrtError> {
        let length = payload.len().min(i32::MAX as usize) as c_int;
        // SAFETY: the payload is valid for `length` bytes.
        let sent = unsafe { ffi::srt().srt_sendmsg(self.id, payload.as_ptr().cast(), length, -1, 0) };
        if sent < 0 { Err(last_error("srt_sendmsg")) } else { Ok(()) }
    }

    pub fn is_connected(&self) -> bool {
        // SAFETY: reads the state of an open socket.
        unsafe { ffi::srt().srt_getsockstate(self.id) == ffi::SRTS_CONNECTED }
    }

    pub fn stats(&self) -> Option<SrtStats> {
        let mut raw = ffi::SRT_TRACEBSTATS::default();
        // SAFETY: the struct matches srt.h's layout (checked by a test).
        if unsafe { ffi::srt().srt_bstats(self.id, &mut raw, 0) } == ffi::SRT_ERROR {
            return None;
        }
        let count = |v: i64| u64::try_from(v).unwrap_or(0);
        Some(SrtStats {
            rtt_ms: raw.msRTT,
            packets_sent: count(raw.pktSentTotal),
            packets_received: count(raw.pktRecvTotal),
            packets_lost: count(raw.pktRcvLossTotal.into()),
            packets_retransmitted: count(raw.pktRcvRetrans.into()).max(count(raw.pktRetransTotal.into())),
            packets_dropped: count(raw.pktRcvDropTotal.into()),
            packets_send_dropped: count(raw.pktSndDropTotal.into()),
            packets_reported_lost: count(raw.pktSndLossTotal.into()),
            unacknowledged: count(raw.pktSndBuf.into()),
        })
    }

    /// The stream id the caller sent (on an accepted socket).
    pub fn stream_id(&self) -> Option<String> {
        stream_id_of(self.id)
    }

    pub fn local_addr(&self) -> Option<SocketAddr> {
        let mut storage = SockAddr::empty();
        let mut length = storage.capacity();
        // SAFETY: the storage holds any address family.
        let result = unsafe { ffi::srt().srt_getsockname(self.id, storage.as_mut_ptr(), &mut length) };
        (result != ffi::SRT_ERROR).then(|| from_sockaddr(storage.as_ptr())).flatten()
    }
}

impl Drop for SrtSocket {
    fn drop(&mut self) {
        // SAFETY: the socket is ours and closed once.
        unsafe {
            ffi::srt().srt_close(self.id);
        }
    }
}

pub(super) fn stream_id_of(id: ffi::SRTSOCKET) -> Option<String> {
    let mut buffer = [0u8; 513];
    let mut length = buffer.len() as c_int;
    // SAFETY: the buffer holds the longest stream id (512 bytes).
    let result = unsafe { ffi::srt().srt_getsockflag(id, ffi::SRTO_STREAMID, buffer.as_mut_ptr().cast(), &mut length) };
    if result == ffi::SRT_ERROR {
        return None;
    }
    let length = usize::try_from(length).unwrap_or(0).min(buffer.len());
    let text = String::from_utf8_lossy(&buffer[..length]).trim_end_matches('\0').to_string();
    (!text.is_empty()).then_some(text)
}

pub(super) fn set_int(id: ffi::SRTSOCKET, option: ffi::SRT_SOCKOPT, value: c_int) -> Result<(), SrtError> {
    // SAFETY: the value is an int, as the option expects.
    let result = unsafe { ffi::srt().srt_setsockflag(id, option, (&value as *const c_int).cast::<c_void>(), std::mem::size_of::<c_int>() as c_int) };
    if result == ffi::SRT_ERROR { Err(last_error("srt_setsockflag")) } else { Ok(()) }
}

pub(super) fn set_bytes(id: ffi::SRTSOCKET, option: ffi::SRT_SOCKOPT, value: &[u8]) -> Result<(), SrtError> {
    let length = c_int::try_from(value.len()).map_err(|_| SrtError::Call { call: "srt_setsockflag", code: 0, message: "value too long".into() })?;
    // SAFETY: the bytes are valid for `length`.
    let result = unsafe { ffi::srt().srt_setsockflag(id, option, value.as_ptr().cast(), length) };
    if result == ffi::SRT_ERROR { Err(last_error("srt_setsockflag")) } else { Ok(()) }
}
