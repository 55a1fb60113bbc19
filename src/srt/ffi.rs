//! The parts of libsrt's C API (srt.h, version 1.5) that OnAir calls.

#![allow(non_camel_case_types, non_snake_case, clippy::upper_case_acronyms)]

use std::ffi::{c_char, c_int, c_void};

pub type SRTSOCKET = i32;
pub const SRT_INVALID_SOCK: SRTSOCKET = -1;
pub const SRT_ERROR: c_int = -1;

// SRT_SOCKOPT
pub const SRTO_RCVTIMEO: c_int = 14;
pub const SRTO_LATENCY: c_int = 23;
pub const SRTO_PASSPHRASE: c_int = 26;
pub const SRTO_PBKEYLEN: c_int = 27;
pub const SRTO_CONNTIMEO: c_int = 36;
pub const SRTO_STREAMID: c_int = 46;
pub const SRTO_TRANSTYPE: c_int = 50;
pub const SRTO_RETRANSMITALGO: c_int = 61;

pub const SRTT_LIVE: c_int = 0;

// SRT_SOCKSTATUS
pub const SRTS_CONNECTED: c_int = 5;

// SRT_ERRNO: 1000 × major + minor.
pub const SRT_ECONNREJ: c_int = 1002;
pub const SRT_ENOSERVER: c_int = 1001;
pub const SRT_EASYNCRCV: c_int = 6002;

// SRT_REJECT_REASON, and the access-control codes of access_control.h.
pub const SRT_REJ_BADSECRET: c_int = 10;
pub const SRT_REJ_UNSECURE: c_int = 11;
pub const SRT_REJ_TIMEOUT: c_int = 16;
pub const SRT_REJX_BAD_REQUEST: c_int = 1400;
pub const SRT_REJX_UNAUTHORIZED: c_int = 1401;
pub const SRT_REJX_FORBIDDEN: c_int = 1403;
pub const SRT_REJX_BAD_MODE: c_int = 1405;
pub const SRT_REJX_CONFLICT: c_int = 1409;
pub const SRT_REJX_ISE: c_int = 1500;

// syslog levels, as libsrt uses them.
pub const LOG_ERR: c_int = 3;
pub const LOG_WARNING: c_int = 4;
/// SRT_LOGF_DISABLE_TIME | _THREADNAME | _SEVERITY | _EOL: the message alone.
pub const SRT_LOGF_PLAIN: c_int = 0x0f;

pub type ListenCallback =
    unsafe extern "C" fn(opaque: *mut c_void, ns: SRTSOCKET, hs_version: c_int, peer: *const libc::sockaddr, stream_id: *const c_char) -> c_int;
pub type LogHandler = unsafe extern "C" fn(opaque: *mut c_void, level: c_int, file: *const c_char, line: c_int, area: *const c_char, message: *const c_char);

/// `SRT_TRACEBSTATS` (struct CBytePerfMon), field for field.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct SRT_TRACEBSTATS {
    pub msTimeStamp: i64,
    pub pktSentTotal: i64,
    pub pktRecvTotal: i64,
    pub pktSndLossTotal: c_int,
    pub pktRcvLossTotal: c_int,
    pub pktRetransTotal: c_int,
    pub pktSentACKTotal: c_int,
    pub pktRecvACKTotal: c_int,
    pub pktSentNAKTotal: c_int,
    pub pktRecvNAKTotal: c_int,
    pub usSndDurationTotal: i64,
    pub pktSndDropTotal: c_int,
    pub pktRcvDropTotal: c_int,
    pub pktRcvUndecryptTotal: c_int,
    pub byteSentTotal: u64,
    pub byteRecvTotal: u64,
    pub byteRcvLossTotal: u64,
    pub byteRetransTotal: u64,
    pub byteSndDropTotal: u64,
    pub byteRcvDropTotal: u64,
    pub byteRcvUndecryptTotal: u64,
    pub pktSent: i64,
    pub pktRecv: i64,
    pub pktSndLoss: c_int,
    pub pktRcvLoss: c_int,
    pub pktRetrans: c_int,
    pub pktRcvRetrans: c_int,
    pub pktSentACK: c_int,
    pub pktRecvACK: c_int,
    pub pktSentNAK: c_int,
    pub pktRecvNAK: c_int,
    pub mbpsSendRate: f64,
    pub mbpsRecvRate: f64,
    pub usSndDuration: i64,
    pub pktReorderDistance: c_int,
    pub pktRcvAvgBelatedTime: f64,
    pub pktRcvBelated: i64,
    pub pktSndDrop: c_int,
    pub pktRcvDrop: c_int,
    pub pktRcvUndecrypt: c_int,
    pub byteSent: u64,
    pub byteRecv: u64,
    pub byteRcvLoss: u64,
    pub byteRetrans: u64,
    pub byteSndDrop: u64,
    pub byteRcvDrop: u64,
    pub byteRcvUndecrypt: u64,
    pub usPktSndPeriod: f64,
    pub pktFlowWindow: c_int,
    pub pktCongestionWindow: c_int,
    pub pktFlightSize: c_int,
    pub msRTT: f64,
    pub mbpsBandwidth: f64,
    pub byteAvailSndBuf: c_int,
    pub byteAvailRcvBuf: c_int,
    pub mbpsMaxBW: f64,
    pub byteMSS: c_int,
    pub pktSndBuf: c_int,
    pub byteSndBuf: c_int,
    pub msSndBuf: c_int,
    pub msSndTsbPdDelay: c_int,
    pub pktRcvBuf: c_int,
    pub byteRcvBuf: c_int,
    pub msRcvBuf: c_int,
    pub msRcvTsbPdDelay: c_int,
    pub pktSndFilterExtraTotal: c_int,
    pub pktRcvFilterExtraTotal: c_int,
    pub pktRcvFilterSupplyTotal: c_int,
    pub pktRcvFilterLossTotal: c_int,
    pub pktSndFilterExtra: c_int,
    pub pktRcvFilterExtra: c_int,
    pub pktRcvFilterSupply: c_int,
    pub pktRcvFilterLoss: c_int,
    pub pktReorderTolerance: c_int,
    pub pktSentUniqueTotal: i64,
    pub pktRecvUniqueTotal: i64,
    pub byteSentUniqueTotal: u64,
    pub byteRecvUniqueTotal: u64,
    pub pktSentUnique: i64,
    pub pktRecvUnique: i64,
    pub byteSentUnique: u64,
    pub byteRecvUnique: u64,
}

#[link(name = "srt-gnutls")]
unsafe extern "C" {
    pub fn srt_startup() -> c_int;
    pub fn srt_create_socket() -> SRTSOCKET;
    pub fn srt_bind(u: SRTSOCKET, name: *const libc::sockaddr, namelen: c_int) -> c_int;
    pub fn srt_listen(u: SRTSOCKET, backlog: c_int) -> c_int;
    pub fn srt_accept(u: SRTSOCKET, addr: *mut libc::sockaddr, addrlen: *mut c_int) -> SRTSOCKET;
    pub fn srt_listen_callback(lsn: SRTSOCKET, hook: Option<ListenCallback>, opaque: *mut c_void) -> c_int;
    pub fn srt_connect(u: SRTSOCKET, name: *const libc::sockaddr, namelen: c_int) -> c_int;
    pub fn srt_close(u: SRTSOCKET) -> c_int;
    pub fn srt_getsockname(u: SRTSOCKET, name: *mut libc::sockaddr, namelen: *mut c_int) -> c_int;
    pub fn srt_getsockflag(u: SRTSOCKET, opt: c_int, optval: *mut c_void, optlen: *mut c_int) -> c_int;
    pub fn srt_setsockflag(u: SRTSOCKET, opt: c_int, optval: *const c_void, optlen: c_int) -> c_int;
    pub fn srt_sendmsg(u: SRTSOCKET, buf: *const c_char, len: c_int, ttl: c_int, inorder: c_int) -> c_int;
    pub fn srt_recvmsg(u: SRTSOCKET, buf: *mut c_char, len: c_int) -> c_int;
    pub fn srt_getlasterror_str() -> *const c_char;
    pub fn srt_getlasterror(errno_loc: *mut c_int) -> c_int;
    pub fn srt_bstats(u: SRTSOCKET, perf: *mut SRT_TRACEBSTATS, clear: c_int) -> c_int;
    pub fn srt_getsockstate(u: SRTSOCKET) -> c_int;
    pub fn srt_getrejectreason(sock: SRTSOCKET) -> c_int;
    pub fn srt_setrejectreason(sock: SRTSOCKET, value: c_int) -> c_int;
    pub fn srt_rejectreason_str(id: c_int) -> *const c_char;
    pub fn srt_setloglevel(level: c_int);
    pub fn srt_setlogflags(flags: c_int);
    pub fn srt_setloghandler(opaque: *mut c_void, handler: Option<LogHandler>);
}
