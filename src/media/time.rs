//! Typed media time: a value always travels with its time base.
//!
//! Rescaling goes through i128 with checked arithmetic, so an overflow is an
//! error rather than a silent wrap. Timestamps of different bases compare and
//! add exactly (cross-multiplied in i128), the way str0m's `MediaTime` does.
//! Protocol clocks that wrap (RTMP's 32-bit milliseconds, MPEG-TS's 33-bit
//! 90 kHz) are extended into a continuous timeline by [`WrapExtender`].

use std::cmp::Ordering;
use std::fmt;
use std::time::Duration;

/// Ticks per second of a clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TimeBase(u32);

impl TimeBase {
    pub const MILLIS: TimeBase = TimeBase(1000);
    pub const MICROS: TimeBase = TimeBase(1_000_000);
    pub const MPEG_90K: TimeBase = TimeBase(90_000);
    pub const NANOS: TimeBase = TimeBase(1_000_000_000);

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

/// A point on a media timeline, or a span of one (a difference of two points).
///
/// Equality and order are those of the instants: 1/1000 s equals 90/90000 s.
#[derive(Clone, Copy, Debug)]
pub struct Timestamp {
    pub value: i64,
    pub base: TimeBase,
}

impl Timestamp {
    pub const fn new(value: i64, base: TimeBase) -> Timestamp {
        Timestamp { value, base }
    }

    pub const fn zero(base: TimeBase) -> Timestamp {
        Timestamp { value: 0, base }
    }

    /// Converts to another time base, rounding to the nearest tick.
    pub fn rescale(self, to: TimeBase) -> Result<Timestamp, RescaleOverflow> {
        rescale(self.value, self.base, to).map(|value| Timestamp::new(value, to))
    }

    /// `self + other` in `self`'s base (`other` rounded to it).
    pub fn checked_add(self, other: Timestamp) -> Result<Timestamp, RescaleOverflow> {
        let other = other.rescale(self.base)?;
        let overflow = RescaleOverflow { value: other.value, from: other.base.0, to: self.base.0 };
        self.value.checked_add(other.value).map(|value| Timestamp::new(value, self.base)).ok_or(overflow)
    }

    /// `self - other` in `self`'s base (`other` rounded to it).
    pub fn checked_sub(self, other: Timestamp) -> Result<Timestamp, RescaleOverflow> {
        let other = other.rescale(self.base)?;
        let overflow = RescaleOverflow { value: other.value, from: other.base.0, to: self.base.0 };
        self.value.checked_sub(other.value).map(|value| Timestamp::new(value, self.base)).ok_or(overflow)
    }

    /// The span from zero to this point; `None` before zero.
    pub fn to_duration(self) -> Option<Duration> {
        let nanos = rescale(self.value, self.base, TimeBase::NANOS).ok()?;
        u64::try_from(nanos).ok().map(Duration::from_nanos)
    }

    /// A span of real time in ticks of `base`, rounded to the nearest.
    pub fn from_duration(duration: Duration, base: TimeBase) -> Result<Timestamp, RescaleOverflow> {
        let nanos = i64::try_from(duration.as_nanos()).map_err(|_| RescaleOverflow { value: i64::MAX, from: TimeBase::NANOS.0, to: base.0 })?;
        Timestamp::new(nanos, TimeBase::NANOS).rescale(base)
    }

    /// Whole milliseconds, rounded to the nearest (for playlists and logs).
    pub fn as_millis(self) -> i64 {
        rescale(self.value, self.base, TimeBase::MILLIS).unwrap_or(if self.value < 0 { i64::MIN } else { i64::MAX })
    }

    pub fn as_secs_f64(self) -> f64 {
        self.value as f64 / f64::from(self.base.0)
    }

    /// The instant scaled to a common denominator with `other`.
    fn cross(self, other: Timestamp) -> (i128, i128) {
        (i128::from(self.value) * i128::from(other.base.0), i128::from(other.value) * i128::from(self.base.0))
    }
}

impl PartialEq for Timestamp {
    fn eq(&self, other: &Timestamp) -> bool {
        let (a, b) = self.cross(*other);
        a == b
    }
}

impl Eq for Timestamp {}

impl PartialOrd for Timestamp {
    fn partial_cmp(&self, other: &Timestamp) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Timestamp {
    fn cmp(&self, other: &Timestamp) -> Ordering {
        let (a, b) = self.cross(*other);
        a.cmp(&b)
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

/// A step forward larger than the extender's limit: not a plausible next
/// timestamp (a corrupt packet, a publisher that restarted its clock).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("timestamp jumped forward by {jump} (from {from} to {to}); more than the {limit} a stream may skip")]
pub struct ForwardJump {
    pub from: Timestamp,
    pub to: Timestamp,
    pub jump: Timestamp,
    pub limit: Timestamp,
}

/// Turns a clock that wraps at 2^bits into a continuous one.
///
/// Steps are taken from one raw value to the next, so small steps backwards
/// (B-frames, interleaving jitter) stay backwards. A step of more than a
/// quarter period is a wrap. Encoders that keep timestamps signed wrap one bit
/// early (ffmpeg's FLV writer wraps RTMP time at 2^31 ms); a wrap from below
/// 2^(bits-1) is taken as that shorter period.
///
/// A step forward of more than `max_jump` is refused, and the timeline stays
/// where it was; after [`MAX_REFUSED`] refusals in a row the clock really has
/// moved, and the next value is taken as the new position.
#[derive(Clone, Debug)]
pub struct WrapExtender {
    bits: u32,
    base: TimeBase,
    max_jump: i64,
    refused: u32,
    /// The last raw value and its extension.
    last: Option<(u64, i64)>,
}

/// Refusals in a row after which a jump is accepted as the new timeline.
pub const MAX_REFUSED: u32 = 8;

/// Forward steps longer than this are not a next frame.
pub const DEFAULT_MAX_JUMP: Duration = Duration::from_secs(60);

impl WrapExtender {
    pub fn new(bits: u32, base: TimeBase, max_jump: Duration) -> WrapExtender {
        assert!((2..=62).contains(&bits), "wrap width must be 2..=62 bits");
        let max_jump = Timestamp::from_duration(max_jump, base).map_or(i64::MAX, |t| t.value);
        WrapExtender { bits, base, max_jump, refused: 0, last: None }
    }

    /// RTMP timestamps: 32-bit milliseconds.
    pub fn rtmp() -> WrapExtender {
        WrapExtender::new(32, TimeBase::MILLIS, DEFAULT_MAX_JUMP)
    }

    /// MPEG-TS PTS/DTS: 33-bit 90 kHz.
    pub fn mpeg_ts() -> WrapExtender {
        WrapExtender::new(33, TimeBase::MPEG_90K, DEFAULT_MAX_JUMP)
    }

    pub fn extend(&mut self, raw: u64) -> Result<Timestamp, ForwardJump> {
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
                if delta > self.max_jump && self.refused < MAX_REFUSED {
                    self.refused += 1;
                    let at = |value| Timestamp::new(value, self.base);
                    return Err(ForwardJump { from: at(last_extended), to: at(last_extended + delta), jump: at(delta), limit: at(self.max_jump) });
                }
                last_extended + delta
            }
        };
        self.refused = 0;
        self.last = Some((raw, extended));
        Ok(Timestamp::new(extended, self.base))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn extend(ext: &mut WrapExtender, raw: u64) -> i64 {
        ext.extend(raw).expect("a plausible step").value
    }

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
    fn timestamps_of_different_bases_compare_as_instants() {
        let ms = Timestamp::new(1001, TimeBase::MILLIS);
        let ticks = Timestamp::new(90_090, TimeBase::MPEG_90K);
        assert_eq!(ms, ticks);
        assert!(Timestamp::new(90_091, TimeBase::MPEG_90K) > ms);
        assert!(Timestamp::new(44_100, TimeBase::new(44_100).unwrap()) < Timestamp::new(1001, TimeBase::MILLIS));
        let mut sorted = [Timestamp::new(3, TimeBase::MILLIS), Timestamp::new(90, TimeBase::MPEG_90K), Timestamp::new(0, TimeBase::MILLIS)];
        sorted.sort();
        assert_eq!(sorted.map(|t| t.as_millis()), [0, 1, 3]);
    }

    #[test]
    fn add_and_sub_stay_in_the_left_base_and_refuse_overflow() {
        let start = Timestamp::new(3003, TimeBase::MPEG_90K);
        let sum = start.checked_add(Timestamp::new(1, TimeBase::MILLIS)).unwrap();
        assert_eq!((sum.value, sum.base), (3093, TimeBase::MPEG_90K));
        let back = sum.checked_sub(Timestamp::new(3093, TimeBase::MPEG_90K)).unwrap();
        assert_eq!(back.value, 0);
        assert!(Timestamp::new(i64::MAX, TimeBase::MPEG_90K).checked_add(Timestamp::new(1, TimeBase::MPEG_90K)).is_err());
        assert!(Timestamp::new(i64::MIN, TimeBase::MILLIS).checked_sub(Timestamp::new(1, TimeBase::MILLIS)).is_err());
    }

    #[test]
    fn durations_convert_both_ways() {
        let frame = Timestamp::new(3003, TimeBase::MPEG_90K);
        assert_eq!(frame.to_duration(), Some(Duration::from_nanos(33_366_667)));
        assert_eq!(Timestamp::new(-1, TimeBase::MILLIS).to_duration(), None);
        let back = Timestamp::from_duration(Duration::from_millis(2002), TimeBase::MPEG_90K).unwrap();
        assert_eq!(back.value, 180_180);
    }

    #[test]
    fn rtmp_wrap_is_extended_across_32_bits() {
        let mut ext = WrapExtender::rtmp();
        let near_end = u64::from(u32::MAX) - 10;
        assert_eq!(extend(&mut ext, near_end), near_end as i64);
        // Wraps to a small value: continues forward.
        assert_eq!(extend(&mut ext, 23), (1i64 << 32) + 23);
        // A B-frame-like step back across the wrap stays before it.
        assert_eq!(extend(&mut ext, u64::from(u32::MAX) - 2), (1i64 << 32) - 3);
        assert_eq!(extend(&mut ext, 60), (1i64 << 32) + 60);
        assert_eq!(ext.extend(61).unwrap().base, TimeBase::MILLIS);
    }

    #[test]
    fn a_signed_31_bit_rtmp_wrap_is_followed_too() {
        let mut ext = WrapExtender::rtmp();
        let start = (1u64 << 31) - 40;
        assert_eq!(extend(&mut ext, start), start as i64);
        assert_eq!(extend(&mut ext, 26), (1i64 << 31) + 26);
        assert_eq!(extend(&mut ext, 60), (1i64 << 31) + 60);
    }

    #[test]
    fn ts_wrap_is_extended_across_33_bits() {
        let mut ext = WrapExtender::mpeg_ts();
        let period = 1u64 << 33;
        let mut raw = period - 90_000;
        let mut expected = raw as i64;
        for _ in 0..10 {
            assert_eq!(extend(&mut ext, raw), expected);
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
            let value = extend(&mut ext, ms);
            assert!(value > previous);
            previous = value;
        }
    }

    #[test]
    fn an_absurd_forward_jump_is_refused_and_the_timeline_stays() {
        let mut ext = WrapExtender::mpeg_ts();
        assert_eq!(extend(&mut ext, 900_000), 900_000);
        // One corrupt packet an hour ahead: refused, and the next frame follows the old timeline.
        let error = ext.extend(900_000 + 90_000 * 3600).unwrap_err();
        assert_eq!(error.jump.as_millis(), 3_600_000);
        assert_eq!(extend(&mut ext, 903_003), 903_003);
    }

    #[test]
    fn a_jump_that_persists_becomes_the_new_timeline() {
        let mut ext = WrapExtender::rtmp();
        assert_eq!(extend(&mut ext, 1000), 1000);
        let later = 1000 + 3_600_000;
        for step in 0..u64::from(MAX_REFUSED) {
            assert!(ext.extend(later + step * 33).is_err(), "refusal {step}");
        }
        let accepted = later + u64::from(MAX_REFUSED) * 33;
        assert_eq!(extend(&mut ext, accepted), accepted as i64);
        assert_eq!(extend(&mut ext, accepted + 33), accepted as i64 + 33);
    }
}
