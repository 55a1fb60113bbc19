//! Media time stays exact from ingest to the segments: 90 kHz video and
//! sample-rate audio never pass through milliseconds, across the RTMP
//! 32-bit and the MPEG-TS 33-bit wrap. Checked on the segments the
//! segmenter writes, read back with mp4-atom.

mod common;

use bytes::Bytes;
use common::{SegmentTiming, all_durations, assert_tfdt_is_the_sum_of_durations, fragment_timing};
use onair::media::aac::{adts_header, parse_asc};
use onair::media::codec::CodecConfig;
use onair::media::frame::{EncodedFrame, TrackKind};
use onair::media::h264::{build_avcc, parse_avcc};
use onair::media::time::{TimeBase, Timestamp, WrapExtender};
use onair::media::ts::demux::{TsDemuxer, TsEvent};
use onair::media::ts::mux::TsMuxer;
use onair::media::wallclock::UnixMillis;
use onair::server::package::cmaf::segmenter::{Segmenter, SegmenterEvent};

const SPS: [u8; 24] =
    [0x67, 0x42, 0xc0, 0x0d, 0xd9, 0x01, 0x41, 0xfb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00, 0x00, 0x03, 0x03, 0xc0, 0xf1, 0x42, 0xa4, 0x80];
const PPS: [u8; 4] = [0x68, 0xcb, 0x83, 0xcb];
/// AudioSpecificConfig: AAC-LC, 44.1 kHz, stereo.
const ASC_44100: [u8; 2] = [0x12, 0x10];

/// Each closed segment of `kind` (source renditions) as mp4-atom reads it.
fn timing(events: &[SegmenterEvent], kind: TrackKind) -> Vec<SegmentTiming> {
    events
        .iter()
        .filter_map(|event| match event {
            SegmenterEvent::Segment(segment, _) if segment.kind == kind && segment.rung.is_none() => {
                Some((segment.number, fragment_timing(&segment.data.to_bytes())))
            }
            _ => None,
        })
        .collect()
}

/// `seconds` of 29.97 fps video (3003 ticks) and 44.1 kHz AAC muxed as
/// MPEG-TS by our muxer, starting `before_wrap` ticks before the 33-bit
/// wrap, demuxed again and segmented: what an SRT source goes through.
fn ts_source_through_the_wrap(seconds: u64, before_wrap: u64) -> Vec<SegmenterEvent> {
    let aac = parse_asc(Bytes::from_static(&ASC_44100)).unwrap();
    let mut muxer = TsMuxer::new(true, true);
    let mut ts = Vec::new();
    muxer.write_tables(&mut ts);
    let start = (1u64 << 33) - before_wrap;
    let frames = seconds * 30_000 / 1001;
    let audio_frames = seconds * 44_100 / 1024;
    let (mut v, mut a) = (0u64, 0u64);
    while v < frames || a < audio_frames {
        let video_at = v * 3003;
        // Audio's 90 kHz pts is rounded, as any muxer must: 1024 samples are 2089.8 ticks.
        let audio_at = (a * 1024 * 90_000 + 22_050) / 44_100;
        if v < frames && (a >= audio_frames || video_at <= audio_at) {
            let keyframe = v % 60 == 0;
            let picture = [if keyframe { 0x65 } else { 0x41 }, 0x88, 0x84];
            let dts = (start + video_at) % (1 << 33);
            muxer.write_video(dts, dts, keyframe, &[&SPS, &PPS], &[&picture], &mut ts);
            v += 1;
        } else {
            let raw = [0x21u8, 0x10, 0x04];
            let mut adts = adts_header(&aac, raw.len()).unwrap().to_vec();
            adts.extend_from_slice(&raw);
            muxer.write_audio((start + audio_at) % (1 << 33), &adts, &mut ts);
            a += 1;
        }
    }
    let mut demuxer = TsDemuxer::default();
    let mut demuxed: Vec<TsEvent> = ts.chunks(7 * 188).flat_map(|chunk| demuxer.push(chunk).unwrap()).collect();
    demuxed.extend(demuxer.flush());
    let mut segmenter = Segmenter::new(2000, 1);
    let mut events = Vec::new();
    for event in demuxed {
        match event {
            TsEvent::Config(config) => events.extend(segmenter.configure(config)),
            TsEvent::Frame(frame) => events.extend(segmenter.push(frame, UnixMillis(1_000_000))),
        }
    }
    segmenter.flush(&mut events);
    events
}

#[test]
fn a_29_97_fps_ts_source_gives_3003_tick_samples_and_1024_sample_audio_across_the_33_bit_wrap() {
    let events = ts_source_through_the_wrap(12, 90_000 * 5);
    let video = timing(&events, TrackKind::Video);
    let audio = timing(&events, TrackKind::Audio);
    assert!(video.len() >= 5, "{} video segments", video.len());
    assert_tfdt_is_the_sum_of_durations(&video);
    assert_tfdt_is_the_sum_of_durations(&audio);
    let video = all_durations(&video);
    assert_eq!(video.len() as u64, 12 * 30_000 / 1001);
    // The last sample has no successor: its duration repeats the one before.
    assert!(video.iter().all(|&d| d == 3003), "{video:?}");
    let audio = all_durations(&audio);
    assert!(audio.len() > 500);
    assert!(audio.iter().all(|&d| d == 1024), "{audio:?}");
}

/// RTMP's millisecond timestamps of 29.97 fps video, raw 32-bit values
/// starting `before_wrap` ms before the wrap, extended as ingest does.
fn rtmp_29_97(frames: i64, before_wrap: i64) -> Vec<(i64, Timestamp)> {
    let mut clock = WrapExtender::rtmp();
    let start = (1i64 << 32) - before_wrap;
    (0..frames)
        .map(|n| {
            let exact_ms = (n * 1001 + 15) / 30;
            let raw = ((start + exact_ms) as u64) & 0xffff_ffff;
            (exact_ms, clock.extend(raw).expect("a plausible step"))
        })
        .collect()
}

#[test]
fn an_rtmp_source_at_29_97_keeps_its_millisecond_times_without_drift_over_ten_minutes_across_the_32_bit_wrap() {
    let mut segmenter = Segmenter::new(2000, 1);
    let mut events = segmenter.configure(CodecConfig::H264(parse_avcc(build_avcc(&SPS, &PPS).unwrap()).unwrap()));
    let frames = 10 * 60 * 30_000 / 1001;
    let times = rtmp_29_97(frames, 90_000);
    for (n, (_, time)) in times.iter().enumerate() {
        let frame =
            EncodedFrame { kind: TrackKind::Video, dts: *time, pts: *time, keyframe: n % 60 == 0, data: Bytes::from_static(&[0, 0, 0, 3, 0x65, 0x88, 0x84]) };
        events.extend(segmenter.push(frame, UnixMillis(1_000_000)));
    }
    segmenter.flush(&mut events);
    let video = timing(&events, TrackKind::Video);
    assert!(video.len() >= 290, "{} segments", video.len());
    assert_tfdt_is_the_sum_of_durations(&video);
    // Every segment starts exactly at its first frame's millisecond time
    // (times 90), however far into the stream: no drift, no rounding.
    let mut frame = 0usize;
    for (number, fragments) in &video {
        let (tfdt, _) = fragments[0];
        assert_eq!(tfdt as i64, times[frame].0 * 90, "segment {number} starts at frame {frame}'s time");
        frame += fragments.iter().map(|(_, d)| d.len()).sum::<usize>();
    }
    assert_eq!(frame, times.len());
    // And each sample lasts what its millisecond step says: 33 or 34 ms.
    let all = all_durations(&video);
    assert!(all[..all.len() - 1].iter().zip(times.windows(2)).all(|(&d, w)| i64::from(d) == (w[1].0 - w[0].0) * 90));
}

#[test]
fn a_44_1_khz_rtmp_audio_track_gives_exactly_1024_per_sample() {
    let mut segmenter = Segmenter::new(2000, 1);
    let mut events = segmenter.configure(CodecConfig::Aac(parse_asc(Bytes::from_static(&ASC_44100)).unwrap()));
    let mut clock = WrapExtender::rtmp();
    for n in 0..2000i64 {
        // Milliseconds rounded from 1024-sample frames: steps of 23 and 24 ms.
        let ms = (n * 1024 * 1000 + 22_050) / 44_100;
        let time = clock.extend(ms as u64).unwrap();
        let frame = EncodedFrame { kind: TrackKind::Audio, dts: time, pts: time, keyframe: true, data: Bytes::from_static(&[0x21, 0x10, 0x04]) };
        events.extend(segmenter.push(frame, UnixMillis(0)));
    }
    segmenter.flush(&mut events);
    let audio = timing(&events, TrackKind::Audio);
    assert!(audio.len() >= 20);
    assert_tfdt_is_the_sum_of_durations(&audio);
    assert!(all_durations(&audio).iter().all(|&d| d == 1024));
    let start = Timestamp::new(audio[1].1[0].0 as i64, TimeBase::new(44_100).unwrap());
    assert_eq!(start.value % 1024, 0, "segments start on whole frames: {start}");
}
