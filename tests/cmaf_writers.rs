//! Our init segments, fragments, segmenter and playlists, checked with
//! independent parsers (mp4-atom, m3u8-rs, dash-mpd-core).

use bytes::Bytes;
use mp4_atom::{Codec, Decode, Ftyp, Mdat, Moof, Moov};
use onair::media::aac::parse_asc;
use onair::media::codec::CodecConfig;
use onair::media::frame::{EncodedFrame, TrackKind};
use onair::media::h264::parse_avcc;
use onair::media::time::{TimeBase, Timestamp};
use onair::media::wallclock::UnixMillis;
use onair::server::package::cmaf::fragment::{SampleInfo, write_fragment};
use onair::server::package::cmaf::init::{TrackConfig, write_init};
use onair::server::package::cmaf::segmenter::{Segmenter, SegmenterEvent};
use onair::server::package::cmaf::track::{TrackChunk, TrackSegment};
use onair::server::package::cmaf::window::MediaWindow;
use onair::server::package::{dash, hls};

const SPS: [u8; 24] =
    [0x67, 0x42, 0xc0, 0x0d, 0xd9, 0x01, 0x41, 0xfb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00, 0x00, 0x03, 0x03, 0xc0, 0xf1, 0x42, 0xa4, 0x80];
const PPS: [u8; 4] = [0x68, 0xcb, 0x83, 0xcb];

fn avcc() -> Bytes {
    let mut record = vec![1, SPS[1], SPS[2], SPS[3], 0xff, 0xe1];
    record.extend_from_slice(&(SPS.len() as u16).to_be_bytes());
    record.extend_from_slice(&SPS);
    record.push(1);
    record.extend_from_slice(&(PPS.len() as u16).to_be_bytes());
    record.extend_from_slice(&PPS);
    Bytes::from(record)
}

fn h264() -> CodecConfig {
    CodecConfig::H264(parse_avcc(avcc()).unwrap())
}

fn aac(sample_rate_asc: [u8; 2]) -> CodecConfig {
    CodecConfig::Aac(parse_asc(Bytes::copy_from_slice(&sample_rate_asc)).unwrap())
}

#[test]
fn video_init_segment_decodes_with_mp4_atom() {
    let init = write_init(&TrackConfig { track_id: 1, timescale: 90_000, codec: h264() });
    let mut buf = &init[..];
    let ftyp = Ftyp::decode(&mut buf).unwrap();
    assert_eq!(ftyp.major_brand.as_ref(), b"iso6");
    let moov = Moov::decode(&mut buf).unwrap();
    assert!(buf.is_empty());
    let trak = &moov.trak[0];
    assert_eq!(trak.tkhd.track_id, 1);
    assert_eq!(trak.mdia.mdhd.timescale, 90_000);
    match &trak.mdia.minf.stbl.stsd.codecs[0] {
        Codec::Avc1(avc1) => {
            assert_eq!((avc1.visual.width, avc1.visual.height), (320, 240));
            assert_eq!(avc1.avcc.sequence_parameter_sets, [SPS.to_vec()]);
            assert_eq!(avc1.avcc.picture_parameter_sets, [PPS.to_vec()]);
        }
        other => panic!("expected avc1, got {other:?}"),
    }
    assert_eq!(moov.mvex.unwrap().trex[0].track_id, 1);
}

#[test]
fn audio_init_segment_decodes_with_mp4_atom() {
    let init = write_init(&TrackConfig { track_id: 2, timescale: 44_100, codec: aac([0x12, 0x10]) });
    let mut buf = &init[..];
    Ftyp::decode(&mut buf).unwrap();
    let moov = Moov::decode(&mut buf).unwrap();
    match &moov.trak[0].mdia.minf.stbl.stsd.codecs[0] {
        Codec::Mp4a(mp4a) => {
            assert_eq!(mp4a.audio.channel_count, 2);
            assert_eq!(mp4a.audio.sample_rate.integer(), 44_100);
            let decoder = &mp4a.esds.es_desc.dec_config;
            assert_eq!(decoder.object_type_indication, 0x40);
            assert_eq!(decoder.dec_specific.as_ref().map(|d| d.profile), Some(2));
        }
        other => panic!("expected mp4a, got {other:?}"),
    }
}

#[test]
fn fragment_trun_is_exact_with_signed_composition_offsets() {
    let samples = [
        SampleInfo { duration: 3000, size: 5, keyframe: true, composition_offset: 6000 },
        SampleInfo { duration: 3000, size: 3, keyframe: false, composition_offset: -3000 },
        SampleInfo { duration: 3003, size: 2, keyframe: false, composition_offset: 0 },
    ];
    let payload = [1u8, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    let fragment = write_fragment(7, 1, 1_234_567, &samples, &[&payload[..4], &payload[4..]]);
    let mut buf = &fragment[..];
    let moof = Moof::decode(&mut buf).unwrap();
    let mdat = Mdat::decode(&mut buf).unwrap();
    assert_eq!(mdat.data, payload);
    assert_eq!(moof.mfhd.sequence_number, 7);
    let traf = &moof.traf[0];
    assert_eq!(traf.tfdt.as_ref().unwrap().base_media_decode_time, 1_234_567);
    let trun = &traf.trun[0];
    let moof_size = fragment.len() - payload.len() - 8;
    assert_eq!(trun.data_offset, Some((moof_size + 8) as i32), "data offset points at the mdat payload");
    let entries: Vec<_> = trun.samples.iter().collect();
    assert_eq!(entries.len(), 3);
    assert_eq!(entries[1].cts, Some(-3000));
    assert_eq!(entries[2].duration, Some(3003));
    assert_eq!(entries[0].flags, Some(0x0200_0000));
    assert_eq!(entries[1].flags, Some(0x0101_0000));
}

fn video(ms: i64, keyframe: bool) -> EncodedFrame {
    let time = Timestamp::new(ms, TimeBase::MILLIS);
    EncodedFrame { kind: TrackKind::Video, dts: time, pts: time, keyframe, data: Bytes::from_static(&[0, 0, 0, 1, 0x65]) }
}

fn audio(ms: i64) -> EncodedFrame {
    let time = Timestamp::new(ms, TimeBase::MILLIS);
    EncodedFrame { kind: TrackKind::Audio, dts: time, pts: time, keyframe: true, data: Bytes::from_static(&[0x21, 0x10]) }
}

fn segments(events: &[SegmenterEvent], kind: TrackKind) -> Vec<TrackSegment> {
    events
        .iter()
        .filter_map(|e| match e {
            SegmenterEvent::Segment(s, _) if s.kind == kind => Some(s.clone()),
            _ => None,
        })
        .collect()
}

/// Feeds `seconds` of 30 fps video (keyframe every `gop` frames) and 48 kHz audio, interleaved.
fn run_stream(segmenter: &mut Segmenter, start_ms: i64, seconds: i64, gop: i64) -> Vec<SegmenterEvent> {
    let mut events = Vec::new();
    let frames = seconds * 30;
    let audio_frames = seconds * 48_000 / 1024;
    let (mut v, mut a) = (0, 0);
    while v < frames || a < audio_frames {
        let video_ms = start_ms + v * 1000 / 30;
        let audio_ms = start_ms + a * 1024 * 1000 / 48_000;
        if v < frames && (a >= audio_frames || video_ms <= audio_ms) {
            events.extend(segmenter.push(video(video_ms, v % gop == 0), UnixMillis(1_000_000 + video_ms)));
            v += 1;
        } else {
            events.extend(segmenter.push(audio(audio_ms), UnixMillis(1_000_000 + audio_ms)));
            a += 1;
        }
    }
    events
}

fn configured(target_ms: u32) -> Segmenter {
    configured_with_inits(target_ms).0
}

fn configured_with_inits(target_ms: u32) -> (Segmenter, Vec<SegmenterEvent>) {
    let mut segmenter = Segmenter::new(target_ms, 1);
    let mut events = segmenter.configure(h264());
    events.extend(segmenter.configure(aac([0x11, 0x90])));
    (segmenter, events)
}

#[test]
fn segments_cut_on_the_first_keyframe_at_or_after_the_target() {
    let mut segmenter = configured(2000);
    // Keyframes every 0.9 s: cuts land at 2.7 s, 5.4 s ...
    let mut events = run_stream(&mut segmenter, 5_000, 8, 27);
    segmenter.flush(&mut events);
    let video = segments(&events, TrackKind::Video);
    let durations: Vec<i64> = video.iter().map(|s| s.duration).collect();
    assert_eq!(&durations[..2], [243_000, 243_000], "2.7 s segments at 90 kHz");
    let mut expected_start = 0;
    for segment in &video {
        assert_eq!(segment.start, expected_start, "segments tile the timeline from zero");
        expected_start += segment.duration;
    }
    assert_eq!(video.iter().map(|s| s.number).collect::<Vec<_>>(), (1..=video.len() as u64).collect::<Vec<_>>());
    let audio = segments(&events, TrackKind::Audio);
    assert_eq!(audio.len(), video.len(), "audio follows the video's cuts");
    for (a, v) in audio.iter().zip(&video) {
        assert_eq!(a.number, v.number);
        let audio_start_s = a.start as f64 / 48_000.0;
        let video_start_s = v.start as f64 / 90_000.0;
        assert!((audio_start_s - video_start_s).abs() < 1024.0 / 48_000.0, "audio segment {} starts within a frame of video", a.number);
        assert_eq!(a.duration % 1024, 0, "audio durations are whole AAC frames");
    }
    assert!(events.iter().any(|e| matches!(e, SegmenterEvent::TargetDuration(3))));
}

#[test]
fn a_gop_longer_than_the_target_sets_the_target_duration_and_never_exceeds_it() {
    let mut segmenter = configured(2000);
    let mut events = run_stream(&mut segmenter, 0, 20, 120);
    segmenter.flush(&mut events);
    assert_eq!(segmenter.target_duration(), Some(4));
    for segment in segments(&events, TrackKind::Video) {
        assert!((segment.duration as f64 / 90_000.0).round() <= 4.0);
    }
}

#[test]
fn an_irregular_gop_is_cut_between_keyframes_rather_than_break_the_target_duration() {
    let mut segmenter = configured(2000);
    let mut events = run_stream(&mut segmenter, 0, 4, 60);
    // Then a 7 s stretch without keyframes.
    for i in 0..210 {
        events.extend(segmenter.push(video(4000 + i * 1000 / 30, i == 0), UnixMillis(0)));
    }
    segmenter.flush(&mut events);
    let td = segmenter.target_duration().unwrap();
    for segment in segments(&events, TrackKind::Video) {
        assert!((segment.duration as f64 / 90_000.0).round() <= f64::from(td), "segment {} too long", segment.number);
    }
    assert!(segmenter.stats.forced_cuts > 0);
}

#[test]
fn timestamps_that_start_late_and_wrap_are_rebased() {
    let mut segmenter = configured(2000);
    // Start 3 s before the 32-bit wrap; the ingest extends past it.
    let start = (1i64 << 32) - 3000;
    let mut events = run_stream(&mut segmenter, start, 6, 60);
    segmenter.flush(&mut events);
    let video = segments(&events, TrackKind::Video);
    assert_eq!(video[0].start, 0);
    let total: i64 = video.iter().map(|s| s.duration).sum();
    // 180 frames at whole milliseconds: the last one's time plus its step, times 90 exactly.
    let (last, before) = (179 * 1000 / 30, 178 * 1000 / 30);
    assert_eq!(total, (last + (last - before)) * 90, "6 s of video to the tick");
    for pair in video.windows(2) {
        assert_eq!(pair[1].start, pair[0].start + pair[0].duration, "segment {} starts where the one before ended", pair[1].number);
    }
}

#[test]
fn a_new_sequence_header_starts_a_new_init_and_period_at_the_next_keyframe() {
    let (mut segmenter, mut events) = configured_with_inits(2000);
    events.extend(run_stream(&mut segmenter, 0, 3, 30));
    let mut other = parse_avcc(avcc()).unwrap();
    other.width = 640;
    events.extend(segmenter.configure(CodecConfig::H264(other)));
    events.extend(run_stream(&mut segmenter, 3000, 3, 30));
    segmenter.flush(&mut events);
    let inits: Vec<u32> = events
        .iter()
        .filter_map(|e| match e {
            SegmenterEvent::Init(init) if init.kind == TrackKind::Video => Some(init.version),
            _ => None,
        })
        .collect();
    assert_eq!(inits, [1, 2]);
    let video = segments(&events, TrackKind::Video);
    let changed = video.iter().position(|s| s.init_version == 2).expect("segments with the new init");
    assert!(video[changed].discontinuity);
    assert_eq!(video[changed].start, 3 * 90_000, "the change cuts at the keyframe after the header");
    let audio = segments(&events, TrackKind::Audio);
    assert!(audio.iter().find(|s| s.number == video[changed].number).unwrap().discontinuity);

    let mut window = MediaWindow::new(6, 2);
    for event in &events {
        window.apply(event.clone());
    }
    let text = hls::media_playlist(&window, window.video.as_ref().unwrap(), false);
    let playlist = match m3u8_rs::parse_playlist_res(text.as_bytes()).unwrap() {
        m3u8_rs::Playlist::MediaPlaylist(p) => p,
        _ => panic!("media playlist expected"),
    };
    let maps: Vec<_> = playlist.segments.iter().filter_map(|s| s.map.as_ref().map(|m| m.uri.clone())).collect();
    assert_eq!(maps, ["init-1.mp4", "init-2.mp4"]);
    assert_eq!(playlist.segments.iter().filter(|s| s.discontinuity).count(), 1);
    let mpd = dash_mpd_core::parse(&dash::manifest(&window, UnixMillis(2_000_000))).unwrap();
    assert_eq!(mpd.periods.len(), 2);
}

#[test]
fn the_window_slides_and_counts_discontinuities_that_leave_it() {
    let (mut segmenter, inits) = configured_with_inits(1000);
    let mut window = MediaWindow::new(3, 1);
    let apply = |events: Vec<SegmenterEvent>, window: &mut MediaWindow| {
        for event in events {
            window.apply(event);
        }
    };
    apply(inits, &mut window);
    apply(run_stream(&mut segmenter, 0, 3, 30), &mut window);
    let mut flushed = Vec::new();
    segmenter.flush(&mut flushed);
    apply(flushed, &mut window);
    segmenter.begin_session();
    // The publisher returns with timestamps from zero again.
    apply(run_stream(&mut segmenter, 0, 8, 30), &mut window);
    let video = window.video.as_ref().unwrap();
    assert_eq!(video.listed().count(), 3);
    assert_eq!(video.segments.len(), 4, "one extra segment stays fetchable");
    assert_eq!(video.discontinuity_sequence, 1, "the discontinuity has slid out of the listing");
    let listed: Vec<_> = video.listed().collect();
    assert!(listed.windows(2).all(|w| w[1].start == w[0].start + w[0].duration), "the timeline continues across the return");
    let text = hls::media_playlist(&window, video, false);
    assert!(text.contains("#EXT-X-DISCONTINUITY-SEQUENCE:1"));
    assert!(!text.contains("#EXT-X-ENDLIST"));
}

/// A segmenter of 2 s segments in 1/3 s parts, and a window with its init segments.
fn low_latency_with_window() -> (Segmenter, MediaWindow) {
    let (segmenter, inits) = configured_with_inits(2000);
    let segmenter = segmenter.with_parts(Some(334));
    let mut window = MediaWindow::new(6, 2);
    window.part_target_ms = segmenter.part_target_ms();
    for init in inits {
        window.apply(init);
    }
    (segmenter, window)
}

#[test]
fn parts_tile_their_segments_and_follow_on_audio_and_in_the_low_latency_mpd() {
    let (mut segmenter, mut window) = low_latency_with_window();
    // 5.5 s at 30 fps with 2 s GOPs: two closed segments and an open one.
    let events = run_stream(&mut segmenter, 0, 5, 60);
    let extra = run_stream(&mut segmenter, 5_000, 1, 60);
    let parts: Vec<_> = events.iter().chain(&extra).filter_map(|e| if let SegmenterEvent::Part(p) = e { Some(p.clone()) } else { None }).collect();
    for event in events.into_iter().chain(extra) {
        window.apply(event);
    }
    let video = window.video.as_ref().unwrap();
    let first = video.segments.front().unwrap();
    assert_eq!(first.parts.len(), 6, "2 s of 1/3 s parts");
    assert!(first.parts.iter().all(|p| p.duration <= 334 * 90), "{:?}", first.parts);
    assert!(first.parts[0].independent && !first.parts[1].independent);
    let joined: Vec<u8> = parts.iter().filter(|p| p.kind == TrackKind::Video && p.number == first.number).flat_map(|p| p.data.to_bytes().to_vec()).collect();
    assert_eq!(joined, first.data.to_bytes().to_vec(), "a segment is its parts, byte for byte");
    let audio = window.audio.as_ref().unwrap();
    assert_eq!(audio.segments.front().unwrap().parts.len(), 6, "audio cuts parts where video did");
    assert!(!video.open_parts.is_empty(), "the third segment is being written");
    let playlist = hls::media_playlist(&window, video, false);
    let open = video.open_parts.last().unwrap();
    assert!(playlist.contains(&format!("#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part-{}.{}.m4s\"", open.number, open.index + 1)), "{playlist}");
    let mpd = dash::manifest(&window, UnixMillis(1_006_000));
    assert!(mpd.contains("availabilityTimeOffset=\"1.666\""), "{mpd}");
    assert!(mpd.contains("<ServiceDescription"), "{mpd}");
    // The open segment is listed with its expected duration, for chunked delivery.
    let listed = mpd.matches("<S ").count();
    assert_eq!(listed, 2 * (video.segments.len() + 1), "{mpd}");
    dash_mpd_core::parse(&mpd).unwrap();
}

#[test]
fn a_video_header_after_the_first_audio_frames_starts_the_stream_with_both_tracks() {
    // nginx-rtmp's push sends audio before the video sequence header.
    let mut segmenter = Segmenter::new(2000, 1).with_parts(Some(334));
    let mut events = segmenter.configure(aac([0x11, 0x90]));
    for index in 0..20 {
        events.extend(segmenter.push(audio(index * 1024 * 1000 / 48_000), UnixMillis(1_000_000)));
    }
    events.extend(segmenter.configure(h264()));
    events.extend(run_stream(&mut segmenter, 500, 5, 60));
    segmenter.flush(&mut events);
    let video = segments(&events, TrackKind::Video);
    let audio_segments = segments(&events, TrackKind::Audio);
    assert!(video.len() >= 2, "video is packaged");
    assert_eq!(video.iter().map(|s| s.number).collect::<Vec<_>>(), audio_segments.iter().map(|s| s.number).collect::<Vec<_>>());
}

/// A part as (number, index, start, duration, independent).
type PartLayout = (u64, u32, i64, i64, bool);
/// A segment as (number, start, duration).
type SegmentLayout = (u64, i64, i64);

/// Video parts and segments of one rendition.
fn layout(events: &[SegmenterEvent], rung: Option<usize>) -> (Vec<PartLayout>, Vec<SegmentLayout>) {
    let mut parts = Vec::new();
    let mut segments = Vec::new();
    for event in events {
        match event {
            SegmenterEvent::Part(p) if p.kind == TrackKind::Video && p.rung == rung => parts.push((p.number, p.index, p.start, p.duration, p.independent)),
            SegmenterEvent::Segment(s, _) if s.kind == TrackKind::Video && s.rung == rung => segments.push((s.number, s.start, s.duration)),
            _ => {}
        }
    }
    (parts, segments)
}

#[test]
fn a_rung_fed_late_cuts_exactly_where_the_source_did() {
    use onair::server::package::cmaf::rung::RungFrame;
    let (mut segmenter, mut events) = configured_with_inits(2000);
    segmenter = segmenter.with_parts(Some(334));
    // The rung's track appears with its encoder's first output, mid-way through
    // the first segment; frames come fifteen source frames late, and two of
    // them never arrive, one mid-GOP and the very last: the sample before
    // each lengthens, boundaries and durations stay the source's.
    let mut in_flight = std::collections::VecDeque::new();
    for v in 0..300i64 {
        if v == 12 {
            events.extend(segmenter.configure_rung(0, "360p", h264()));
        }
        let ms = 500 + v * 1000 / 30;
        let keyframe = v % 30 == 0;
        events.extend(segmenter.push(video(ms, keyframe), UnixMillis(1_000_000 + ms)));
        events.extend(segmenter.push(audio(ms), UnixMillis(1_000_000 + ms)));
        let (dts, pts) = segmenter.last_video_time().expect("the source frame was taken");
        if v != 105 && v != 299 {
            in_flight.push_back(RungFrame { dts, pts, keyframe, data: Bytes::from_static(&[0, 0, 0, 1, 0x65]) });
        }
        if in_flight.len() > 15 {
            events.extend(segmenter.push_rung(0, in_flight.pop_front().unwrap()));
        }
    }
    segmenter.flush(&mut events);
    // The ladder drains after the publisher leaves, then the rung finishes.
    while let Some(frame) = in_flight.pop_front() {
        events.extend(segmenter.push_rung(0, frame));
    }
    events.extend(segmenter.finish_rung(0));
    let (source_parts, source_segments) = layout(&events, None);
    let (rung_parts, rung_segments) = layout(&events, Some(0));
    assert!(source_segments.len() >= 4, "{source_segments:?}");
    assert_eq!(rung_segments, source_segments, "same numbers, start times (tfdt) and durations");
    assert_eq!(rung_parts, source_parts, "same part boundaries");
    let inits = events.iter().filter(|e| matches!(e, SegmenterEvent::Init(i) if i.rung == Some(0) && i.name == "360p")).count();
    assert_eq!(inits, 1);
    // The rung streams its parts in chunks as the source does: the cut after
    // each part is known by the time its last frame comes, so that frame is left alone.
    let left = parts_left_at_completion(&events, Some(0));
    assert_eq!(left.len(), rung_parts.len());
    assert!(left.iter().all(|&samples| samples <= 3), "{left:?}");
    assert!(left.iter().filter(|&&samples| samples == 1).count() * 10 >= left.len() * 9, "{left:?}");
}

/// For each video part of one rendition, checked to begin with the chunks
/// handed out before it (in order, each following the last): how many
/// samples it had left to send when it completed.
fn parts_left_at_completion(events: &[SegmenterEvent], rung: Option<usize>) -> Vec<usize> {
    let mut streamed: Vec<u8> = Vec::new();
    let mut named = None;
    let mut left = Vec::new();
    for event in events {
        match event {
            SegmenterEvent::Chunk(chunk) if chunk.rung == rung => {
                assert_eq!(chunk.offset, streamed.len(), "chunks follow each other");
                assert!(named.is_none_or(|n| n == (chunk.number, chunk.index)), "one part's chunks name it alike");
                named = Some((chunk.number, chunk.index));
                streamed.extend_from_slice(&chunk.data);
            }
            SegmenterEvent::Part(part) if part.kind == TrackKind::Video && part.rung == rung => {
                assert!(part.data.to_bytes().starts_with(&streamed), "part {}.{} begins with its chunks", part.number, part.index);
                assert!(named.take().is_none_or(|n| n == (part.number, part.index)), "its chunks named part {}.{}", part.number, part.index);
                left.push(fragments(&part.data.to_bytes()[streamed.len()..]).iter().sum());
                streamed.clear();
            }
            _ => {}
        }
    }
    left
}

#[test]
fn a_rung_that_misses_the_frame_at_a_segment_start_sits_that_segment_out() {
    use onair::server::package::cmaf::rung::RungFrame;
    let (mut segmenter, mut events) = configured_with_inits(2000);
    segmenter = segmenter.with_parts(Some(334));
    events.extend(segmenter.configure_rung(0, "360p", h264()));
    for v in 0..300i64 {
        let ms = 500 + v * 1000 / 30;
        let keyframe = v % 30 == 0;
        events.extend(segmenter.push(video(ms, keyframe), UnixMillis(1_000_000 + ms)));
        let (dts, pts) = segmenter.last_video_time().expect("the source frame was taken");
        // The keyframe that starts the third segment never reaches the rung.
        if v != 120 {
            events.extend(segmenter.push_rung(0, RungFrame { dts, pts, keyframe, data: Bytes::from_static(&[0, 0, 0, 1, 0x65]) }));
        }
    }
    segmenter.flush(&mut events);
    events.extend(segmenter.finish_rung(0));
    let (_, source_segments) = layout(&events, None);
    let (rung_parts, rung_segments) = layout(&events, Some(0));
    let third = source_segments[2];
    let expected: Vec<_> = source_segments.iter().copied().filter(|s| *s != third).collect();
    assert_eq!(rung_segments, expected, "every other segment matches the source's");
    for (number, _, _) in &rung_segments {
        let first = rung_parts.iter().find(|p| p.0 == *number).expect("the segment's first part");
        assert!(first.4 && first.1 == 0, "rung segment {number} starts with a keyframe part: {first:?}");
    }

    // The hole keeps its number in the playlist and the MPD, so every later
    // segment lines up with the source's by position.
    let mut window = MediaWindow::new(6, 2);
    for event in events {
        window.apply(event);
    }
    window.ended = true;
    let rung = window.rendition("360p").expect("the rung's window");
    let text = hls::media_playlist(&window, rung, false);
    assert!(text.contains(&format!("#EXT-X-GAP\n#EXTINF:2.00000,\nseg-{}.m4s", third.0)), "{text}");
    let parse = |text: &str| match m3u8_rs::parse_playlist_res(text.as_bytes()).unwrap() {
        m3u8_rs::Playlist::MediaPlaylist(p) => p,
        other => panic!("{other:?}"),
    };
    let rung_playlist = parse(&text);
    let source_playlist = parse(&hls::media_playlist(&window, window.video.as_ref().unwrap(), false));
    let uris = |p: &m3u8_rs::MediaPlaylist| (p.media_sequence, p.segments.iter().map(|s| s.uri.clone()).collect::<Vec<_>>());
    assert_eq!(uris(&rung_playlist), uris(&source_playlist));
    let mpd = dash::manifest(&window, UnixMillis(1_000_000));
    let parsed = dash_mpd_core::parse(&mpd).unwrap();
    let timelines: Vec<usize> = parsed.periods[0].adaptations[0]
        .representations
        .iter()
        .map(|r| {
            r.SegmentTemplate
                .as_ref()
                .and_then(|t| t.SegmentTimeline.as_ref())
                .map_or(0, |t| t.segments.iter().map(|s| 1 + s.r.unwrap_or(0).max(0) as usize).sum())
        })
        .collect();
    assert_eq!(timelines, [source_playlist.segments.len(); 2], "{mpd}");
}

/// The moof + mdat pairs of `bytes` and each one's sample count.
fn fragments(bytes: &[u8]) -> Vec<usize> {
    let mut buf = bytes;
    let mut counts = Vec::new();
    while !buf.is_empty() {
        let moof = Moof::decode(&mut buf).unwrap();
        Mdat::decode(&mut buf).unwrap();
        counts.push(moof.traf[0].trun[0].samples.len());
    }
    counts
}

#[test]
fn a_part_being_written_goes_out_in_chunks_that_are_its_bytes() {
    let (mut segmenter, mut window) = low_latency_with_window();
    let mut streamed: Vec<u8> = Vec::new();
    let mut first_fragment = None;
    let mut parts = 0;
    for event in run_stream(&mut segmenter, 0, 5, 60) {
        match &event {
            SegmenterEvent::Chunk(chunk) => {
                assert_eq!(chunk.kind, TrackKind::Video, "audio parts are small and go whole");
                assert_eq!(chunk.offset, streamed.len(), "chunks follow each other");
                assert!(!fragments(&chunk.data).is_empty());
                streamed.extend_from_slice(&chunk.data);
                window.apply(event.clone());
                let read = window.video.as_ref().unwrap().read_part(chunk.number, chunk.index, 0).unwrap();
                assert!(!read.complete);
                if chunk.offset == 0 {
                    first_fragment = read.first_fragment;
                }
                assert_eq!(read.first_fragment, first_fragment, "the same part throughout");
                assert_eq!(read.pieces.concat(), streamed, "the window has every chunk so far");
                let rest = window.video.as_ref().unwrap().read_part(chunk.number, chunk.index, streamed.len()).unwrap();
                assert!(rest.pieces.is_empty() && !rest.complete, "nothing past the newest chunk yet");
                continue;
            }
            SegmenterEvent::Part(part) if part.kind == TrackKind::Video => {
                assert!(part.data.to_bytes().starts_with(&streamed), "a part's bytes begin with its chunks'");
                let samples = fragments(&part.data.to_bytes());
                assert_eq!(samples.iter().sum::<usize>(), 10, "1/3 s at 30 fps");
                // Every part here ends on its duration (30 fps, 1/3 s parts, 2 s GOPs).
                assert_eq!(fragments(&part.data.to_bytes()[streamed.len()..]), [1], "only the last frame is left when the part completes");
                assert!(samples.len() >= 3, "the part streamed in chunks: {samples:?}");
                window.apply(event.clone());
                let rest = window.video.as_ref().unwrap().read_part(part.number, part.index, streamed.len()).unwrap();
                assert!(rest.complete);
                assert_eq!(rest.first_fragment, first_fragment, "the whole part is the one that was growing");
                assert_eq!(rest.pieces.concat(), part.data.to_bytes()[streamed.len()..], "a reader that had the chunks gets the rest");
                streamed.clear();
                parts += 1;
                continue;
            }
            _ => {}
        }
        window.apply(event);
    }
    assert!(parts >= 12, "{parts} parts");
    let video = window.video.as_ref().unwrap();
    let segment = video.segments.front().unwrap();
    assert_eq!(fragments(&segment.data.to_bytes()).iter().sum::<usize>(), 60, "a segment of chunked parts holds every frame once");
    assert!(video.read_part(segment.number, 0, video.part(segment.number, 0).unwrap().len() + 1).is_none(), "an offset past the part is refused");

    // A part written anew under the same name (a restart) is told apart by its first fragment.
    let chunk = |sequence| TrackChunk {
        kind: TrackKind::Video,
        rung: None,
        number: 99,
        index: 0,
        offset: 0,
        data: write_fragment(sequence, 1, 0, &[SampleInfo { duration: 3000, size: 1, keyframe: true, composition_offset: 0 }], &[&[7]]),
    };
    window.apply(SegmenterEvent::Chunk(chunk(1000)));
    let before = window.video.as_ref().unwrap().read_part(99, 0, 0).unwrap().first_fragment;
    window.apply(SegmenterEvent::Chunk(chunk(1001)));
    let after = window.video.as_ref().unwrap().read_part(99, 0, 0).unwrap();
    assert_eq!((before, after.first_fragment, after.pieces.len()), (Some(1000), Some(1001), 1), "the new version replaced the old");
}

#[test]
fn parts_go_whole_when_chunks_are_off() {
    let (segmenter, _) = configured_with_inits(2000);
    let mut segmenter = segmenter.with_parts(Some(334));
    segmenter.set_chunks(None);
    let events = run_stream(&mut segmenter, 0, 3, 60);
    assert!(!events.iter().any(|e| matches!(e, SegmenterEvent::Chunk(_))), "no chunk when they are off");
    let fragments_per_part: Vec<usize> = events
        .iter()
        .filter_map(|e| match e {
            SegmenterEvent::Part(p) if p.kind == TrackKind::Video => Some(fragments(&p.data.to_bytes()).len()),
            _ => None,
        })
        .collect();
    assert!(fragments_per_part.len() >= 6 && fragments_per_part.iter().all(|&n| n == 1), "one fragment per part: {fragments_per_part:?}");
}

/// The segment number each media sequence number stands for in an LL-HLS
/// playlist, as a player counts them: entries from EXT-X-MEDIA-SEQUENCE, then
/// the parts after the last entry as the next one.
fn numbers_by_sequence(text: &str) -> Vec<(u64, u64)> {
    let number_in = |uri: &str| uri.trim_start_matches("part-").trim_start_matches("seg-").split('.').next().unwrap().parse::<u64>().unwrap();
    let mut sequence = text.lines().find_map(|l| l.strip_prefix("#EXT-X-MEDIA-SEQUENCE:")).unwrap().parse::<u64>().unwrap();
    let mut found = Vec::new();
    let mut trailing_part = None;
    for line in text.lines() {
        if let Some(uri) = line.strip_prefix("#EXT-X-PART:").and_then(|a| a.split("URI=\"").nth(1)) {
            trailing_part = Some(number_in(uri));
        } else if line.starts_with("seg-") {
            found.push((sequence, number_in(line)));
            sequence += 1;
            trailing_part = None;
        }
    }
    found.extend(trailing_part.map(|number| (sequence, number)));
    found
}

#[test]
fn audio_that_stops_before_the_video_as_a_publisher_leaves_keeps_every_number_fetchable_and_listed_in_place() {
    let (mut segmenter, mut window) = low_latency_with_window();
    let mut events = run_stream(&mut segmenter, 0, 6, 60);
    // The video's next keyframe arrives and cuts; the audio for it never does.
    for v in 180..186 {
        let ms = v * 1000 / 30;
        events.extend(segmenter.push(video(ms, v == 180), UnixMillis(1_000_000 + ms)));
    }
    segmenter.flush(&mut events);
    segmenter.begin_session();
    events.extend(run_stream(&mut segmenter, 0, 7, 60));
    let numbers = |kind| segments(&events, kind).iter().map(|s| s.number).collect::<Vec<_>>();
    let (video_numbers, audio_numbers) = (numbers(TrackKind::Video), numbers(TrackKind::Audio));
    let missing: Vec<u64> = video_numbers.iter().copied().filter(|n| !audio_numbers.contains(n)).collect();
    assert_eq!(missing.len(), 1, "the video's last segment before the return has no audio: {video_numbers:?} {audio_numbers:?}");

    // HLS counts segments by position: the hole is a GAP from the first
    // playlist that lists anything after it, so each sequence number keeps
    // its segment from one reload to the next.
    let mut playlists = 0;
    for event in events {
        window.apply(event);
        let Some(audio) = window.audio.as_ref() else { continue };
        let text = hls::media_playlist(&window, audio, false);
        for (sequence, number) in numbers_by_sequence(&text) {
            assert_eq!(sequence, number, "{text}");
        }
        playlists += 1;
    }
    assert!(playlists > 100);
    let audio = window.audio.as_ref().expect("the audio window");
    let text = hls::media_playlist(&window, audio, false);
    let video_length = window.source_duration(missing[0]).expect("the video segment of that number");
    assert!(text.contains(&format!("#EXT-X-GAP\n#EXTINF:{video_length:.5},\nseg-{}.m4s", missing[0])), "{text}");

    for segment in &audio.segments {
        assert_eq!(audio.segment(segment.number).map(|s| s.number), Some(segment.number), "audio segment {} by its number", segment.number);
        assert!(audio.part(segment.number, 0).is_some(), "the first part of audio segment {}", segment.number);
    }
    assert!(audio.segment(missing[0]).is_none());

    // DASH counts timeline entries from each period's startNumber: every
    // entry is a segment of that number, starting where it does (the open
    // segment, listed last for chunked delivery, aside).
    let mpd = dash::manifest(&window, UnixMillis(1_010_000));
    let parsed = dash_mpd_core::parse(&mpd).unwrap();
    assert_eq!(parsed.periods.len(), 2, "{mpd}");
    for period in &parsed.periods {
        let set = period.adaptations.iter().find(|a| a.contentType.as_deref() == Some("audio")).expect("an audio set in each period");
        let template = set.representations[0].SegmentTemplate.as_ref().unwrap();
        let mut number = template.startNumber.unwrap();
        let mut time = None;
        for entry in &template.SegmentTimeline.as_ref().unwrap().segments {
            for _ in 0..=entry.r.unwrap_or(0) {
                let start = entry.t.map(|t| t as i64).or(time).unwrap();
                match audio.segment(number) {
                    Some(segment) => assert_eq!(segment.start, start, "entry {number} starts where its segment does: {mpd}"),
                    None => assert_eq!(audio.open_number(), Some(number), "entry {number} is a segment: {mpd}"),
                }
                time = Some(start + entry.d as i64);
                number += 1;
            }
        }
    }
}
