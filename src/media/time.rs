//! Typed media time: a value always travels with its time base.
//!
//! Rescaling goes through i128 with checked arithmetic, so an overflow is an
//! error rather than a silent wrap. Protocol clocks that wrap (RTMP's 32-bit
//! milliseconds, MPEG-TS's 33-bit 90 kHz) are extended into a continuous i64.

use std::fmt;

/// Ticks per second of a clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TimeBase(u32);

impl TimeBase {
    pub const MILLIS: TimeBase = TimeBase(1000);
    pub const MPEG_90K: TimeBase = TimeBase(90_000);

    /// `None` for zero, which cannot be a clock rate.
    pub const fn new(ticks_per_second: u32) -> Option<TimeBase> {
        if ticks_per_second == 0 { None } else { Some(TimeBase(ticks_per_second)) }
    }

    pub const fn ticks_per_second(self) -> u32 {
        self.0
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("timestamp {value} at {from}/s does not fit in i64 at {to}/s")]
pub struct RescaleOverflow {
    pub value: i64,
    pub from: u32,
    pub to: u32,
}

/// A point on a media timeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Timestamp {
    pub value: i64,
    pub base: TimeBase,
}

impl Timestamp {
    pub const fn new(value: i64, base: TimeBase) -> Timestamp {
        Timestamp { value, base }
    }

    /// Converts to another time base, rounding to the nearest tick.
    pub fn rescale(self, to: TimeBase) -> Result<Timestamp, RescaleOverflow> {
        rescale(self.value, self.base, to).map(|value| Timestamp::new(value, to))
    }

    pub fn as_secs_f64(self) -> f64 {
        self.value as f64 / f64::from(self.base.0)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.value, self.base.0)
    }
}

/// `value` ticks of `from` expressed in ticks of `to`, rounded half away from zero.
pub fn rescale(value: i64, from: TimeBase, to: TimeBase) -> Result<i64, RescaleOverflow> {
    let overflow = RescaleOverflow { value, from: from.0, to: to.0 };
    if from == to {
        return Ok(value);
    }
    let num = i128::from(value) * i128::from(to.0);
    let den = i128::from(from.0);
    let half = den / 2;
    let rounded = if num >= 0 { (num + half) / den } else { (num - half) / den };
    i64::try_from(rounded).map_err(|_| overflow)
}

/// Turns a clock that wraps at 2^bits into a continuous one.
///
/// Steps are taken from one raw value to the next, so small steps backwards
/// (B-frames, interleaving jitter) stay backwards. A step of more than a
/// quarter period is a wrap. Encoders that keep timestamps signed wrap one bit
/// early (ffmpeg's FLV writer wraps RTMP time at 2^31 ms); a wrap from below
/// 2^(bits-1) is taken as that shorter period.
#[derive(Clone, Debug)]
pub struct WrapExtender {
    bits: u32,
    /// The last raw value and its extension.
    last: Option<(u64, i64)>,
}

impl WrapExtender {
    pub fn new(bits: u32) -> WrapExtender {
        assert!((2..=62).contains(&bits), "wrap width must be 2..=62 bits");
        WrapExtender { bits, last: None }
    }

    /// RTMP timestamps: 32-bit milliseconds.
    pub fn rtmp() -> WrapExtender {
        WrapExtender::new(32)
    }

    /// MPEG-TS PTS/DTS: 33-bit 90 kHz.
    pub fn mpeg_ts() -> WrapExtender {
        WrapExtender::new(33)
    }

    pub fn extend(&mut self, raw: u64) -> i64 {
        let raw = raw & ((1u64 << self.bits) - 1);
        let extended = match self.last {
            None => raw as i64,
            Some((last_raw, last_extended)) => {
                let threshold = 1i64 << (self.bits - 2);
                let period = if last_raw.max(raw) < 1u64 << (self.bits - 1) { 1i64 << (self.bits - 1) } else { 1i64 << self.bits };
                let mut delta = raw as i64 - last_raw as i64;
                if delta < -threshold {
                    delta += period;
                } else if delta > threshold {
                    delta -= period;
                }
                last_extended + delta
            }
        };
        self.last = Some((raw, extended));
        extended
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rescale_rounds_to_nearest() {
        assert_eq!(rescale(1, TimeBase::MILLIS, TimeBase::MPEG_90K), Ok(90));
        assert_eq!(rescale(1024, TimeBase::new(44_100).unwrap(), TimeBase::MILLIS), Ok(23));
        assert_eq!(rescale(-1024, TimeBase::new(44_100).unwrap(), TimeBase::MILLIS), Ok(-23));
        assert_eq!(rescale(3, TimeBase::MPEG_90K, TimeBase::MILLIS), Ok(0));
        assert_eq!(rescale(45, TimeBase::MPEG_90K, TimeBase::MILLIS), Ok(1));
    }

    #[test]
    fn rescale_overflow_is_an_error() {
        let err = rescale(i64::MAX, TimeBase::MILLIS, TimeBase::MPEG_90K);
        assert!(err.is_err());
    }

    #[test]
    fn rtmp_wrap_is_extended_across_32_bits() {
        let mut ext = WrapExtender::rtmp();
        let near_end = u64::from(u32::MAX) - 10;
        assert_eq!(ext.extend(near_end), near_end as i64);
        // Wraps to a small value: continues forward.
        assert_eq!(ext.extend(23), (1i64 << 32) + 23);
        // A B-frame-like step back across the wrap stays before it.
        assert_eq!(ext.extend(u64::from(u32::MAX) - 2), (1i64 << 32) - 3);
        assert_eq!(ext.extend(60), (1i64 << 32) + 60);
    }

    #[test]
    fn a_signed_31_bit_rtmp_wrap_is_followed_too() {
        let mut ext = WrapExtender::rtmp();
        let start = (1u64 << 31) - 40;
        assert_eq!(ext.extend(start), start as i64);
        assert_eq!(ext.extend(26), (1i64 << 31) + 26);
        assert_eq!(ext.extend(60), (1i64 << 31) + 60);
    }

    #[test]
    fn ts_wrap_is_extended_across_33_bits() {
        let mut ext = WrapExtender::mpeg_ts();
        let period = 1u64 << 33;
        let mut raw = period - 90_000;
        let mut expected = raw as i64;
        for _ in 0..10 {
            assert_eq!(ext.extend(raw), expected);
            raw = (raw + 3003) % period;
            expected += 3003;
        }
    }

    #[test]
    fn a_long_stream_crossing_the_rtmp_wrap_keeps_increasing() {
        let mut ext = WrapExtender::rtmp();
        let mut previous = i64::MIN;
        let start = u64::from(u32::MAX) - 5_000_000;
        for step in 0..20_000u64 {
            let ms = (start + step * 1000) & 0xffff_ffff;
            let value = ext.extend(ms);
            assert!(value > previous);
            previous = value;
        }
    }
}
