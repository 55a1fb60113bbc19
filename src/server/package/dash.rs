//! The DASH MPD, written as a pure function of the window.

use std::fmt::Write;

use crate::media::codec::CodecConfig;
use crate::media::time::TimeBase;
use crate::media::wallclock::{UnixMillis, iso8601_duration};
use crate::server::package::cmaf::window::{MediaWindow, Period, TrackWindow};
use crate::server::package::hls::codec_string;

/// Stands in for the absolute URL of the server's time endpoint, which
/// depends on the Host a client used; the HTTP layer substitutes it.
pub const UTC_TIMING_PLACEHOLDER: &str = "{{UTC_TIMING_URL}}";

pub fn manifest(window: &MediaWindow, now: UnixMillis) -> String {
    let target = window.target_duration.unwrap_or(2);
    let ast = window.availability_start.unwrap_or(now);
    let lead = window.lead();
    let listed_secs: f64 = lead.map_or(0.0, |t| t.listed().map(|s| s.duration_secs(t.timescale)).sum());
    let max_segment_secs = lead.map_or(0.0, |t| t.listed().map(|s| s.duration_secs(t.timescale)).fold(0.0, f64::max));
    let mut out = String::with_capacity(4096);
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str("<MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\" profiles=\"urn:mpeg:dash:profile:isoff-live:2011,urn:mpeg:dash:profile:cmaf:2019\"");
    let first_period_ms = first_listed_period(window).map_or(0, |p| p.wall_start.0 - ast.0);
    if window.ended {
        let end_ms = lead.and_then(|t| t.listed().last().map(|s| wall_end(s.wall_start, s.duration, t.timescale)));
        let first = first_listed_period(window).map_or(ast, |p| p.wall_start);
        let duration = end_ms.map_or(0, |end| end.0 - first.0);
        // A recording's periods follow one another with no gap for the time the publisher was away.
        let duration = if window.recording { (listed_secs * 1000.0).round() as i64 } else { duration };
        let _ = write!(out, " type=\"static\" mediaPresentationDuration=\"{}\"", iso8601_duration(duration));
    } else {
        // The timeline grows by one segment at each cut; in low latency a
        // player must see it within a part or it waits at the segment's end.
        let update_ms = window.part_target_ms.map_or(i64::from(target) * 1000, i64::from);
        let _ = write!(
            out,
            " type=\"dynamic\" availabilityStartTime=\"{}\" publishTime=\"{}\" minimumUpdatePeriod=\"{}\" timeShiftBufferDepth=\"{}\" suggestedPresentationDelay=\"PT{}S\"",
            ast.to_iso8601(),
            now.to_iso8601(),
            iso8601_duration(update_ms),
            iso8601_duration((listed_secs * 1000.0) as i64),
            target * 3,
        );
    }
    let _ = writeln!(out, " maxSegmentDuration=\"{}\" minBufferTime=\"PT{target}S\">", iso8601_duration((max_segment_secs * 1000.0).ceil() as i64));
    let low_latency = window.part_target_ms.filter(|_| !window.ended);
    if low_latency.is_some() {
        // Players in low-latency mode aim here and adjust their rate to stay near it.
        out.push_str("  <ServiceDescription id=\"0\"><Latency referenceId=\"0\" target=\"1500\" min=\"800\" max=\"3000\"/><PlaybackRate min=\"0.96\" max=\"1.04\"/></ServiceDescription>\n");
    }
    let periods = listed_periods(window);
    for (index, period) in periods.iter().enumerate() {
        let next = periods.get(index + 1).map(|p| p.first_number);
        // A static presentation starts at zero with its first listed period.
        let start_ms = match (window.ended, window.recording) {
            (true, true) => media_before(window, period.first_number),
            (true, false) => period.wall_start.0 - ast.0 - first_period_ms,
            (false, _) => period.wall_start.0 - ast.0,
        };
        let _ = writeln!(out, "  <Period id=\"p{}\" start=\"{}\">", period.first_number, iso8601_duration(start_ms));
        let chunked = low_latency.zip(window.target_duration).filter(|_| next.is_none());
        // One video set holds every rendition (source and rungs) so players switch inside it.
        let video: Vec<&TrackWindow> = window.video_renditions().collect();
        let audio: Vec<&TrackWindow> = window.audio.iter().collect();
        for (set_id, tracks) in [video, audio].iter().filter(|t| !t.is_empty()).enumerate() {
            write_adaptation_set(&mut out, window, set_id, tracks, period, next, chunked);
        }
        out.push_str("  </Period>\n");
    }
    if !window.ended {
        let _ = writeln!(out, "  <UTCTiming schemeIdUri=\"urn:mpeg:dash:utc:http-iso:2014\" value=\"{UTC_TIMING_PLACEHOLDER}\"/>");
    }
    out.push_str("</MPD>\n");
    out
}

/// Milliseconds of the lead track's listed segments before segment `number`.
fn media_before(window: &MediaWindow, number: u64) -> i64 {
    let Some(lead) = window.lead() else { return 0 };
    let seconds: f64 = lead.listed().filter(|s| s.number < number).map(|s| s.duration_secs(lead.timescale)).sum();
    (seconds * 1000.0).round() as i64
}

fn first_listed_period(window: &MediaWindow) -> Option<Period> {
    listed_periods(window).first().copied()
}

fn listed_periods(window: &MediaWindow) -> Vec<Period> {
    let Some(oldest) = window.lead().and_then(|t| t.listed().next()).map(|s| s.number) else {
        return Vec::new();
    };
    let first = window.periods.iter().rposition(|p| p.first_number <= oldest).unwrap_or(0);
    window.periods[first..].to_vec()
}

fn wall_end(start: UnixMillis, duration: i64, timescale: u32) -> UnixMillis {
    UnixMillis(start.0 + duration * 1000 / i64::from(timescale.max(1)))
}

/// `chunked` (part target ms, target duration s) lists the segment being
/// written too, available from its first part and delivered as it grows.
fn write_adaptation_set(
    out: &mut String,
    window: &MediaWindow,
    set_id: usize,
    tracks: &[&TrackWindow],
    period: &Period,
    next_period: Option<u64>,
    chunked: Option<(u32, u32)>,
) {
    let in_period = |track: &TrackWindow| -> bool { track.listed().any(|s| s.number >= period.first_number && next_period.is_none_or(|next| s.number < next)) };
    let tracks: Vec<&TrackWindow> = tracks.iter().copied().filter(|t| in_period(t)).collect();
    let Some(first) = tracks.first() else { return };
    match &first.codec {
        CodecConfig::H264(_) => {
            let _ =
                writeln!(out, "    <AdaptationSet id=\"{set_id}\" contentType=\"video\" mimeType=\"video/mp4\" segmentAlignment=\"true\" startWithSAP=\"1\">");
        }
        CodecConfig::Aac(_) => {
            let _ = writeln!(
                out,
                "    <AdaptationSet id=\"{set_id}\" contentType=\"audio\" mimeType=\"audio/mp4\" lang=\"und\" segmentAlignment=\"true\" startWithSAP=\"1\">"
            );
        }
    }
    for track in tracks {
        write_representation(out, window, track, period, next_period, chunked);
    }
    out.push_str("    </AdaptationSet>\n");
}

fn write_representation(out: &mut String, window: &MediaWindow, track: &TrackWindow, period: &Period, next_period: Option<u64>, chunked: Option<(u32, u32)>) {
    let segments: Vec<_> = track.listed().filter(|s| s.number >= period.first_number && next_period.is_none_or(|next| s.number < next)).collect();
    let Some(first) = segments.first() else { return };
    let name = &track.name;
    let (peak, _) = track.bandwidth();
    let codecs = codec_string(&track.codec);
    match &track.codec {
        CodecConfig::H264(h264) => {
            let _ = write!(
                out,
                "      <Representation id=\"{name}\" bandwidth=\"{}\" codecs=\"{codecs}\" width=\"{}\" height=\"{}\"",
                peak.max(1),
                h264.width,
                h264.height
            );
            if let Some(rate) = window.frame_rate(track) {
                let _ = write!(out, " frameRate=\"{}\"", frame_rate_attr(rate));
            }
            out.push_str(">\n");
        }
        CodecConfig::Aac(aac) => {
            let _ = writeln!(
                out,
                "      <Representation id=\"{name}\" bandwidth=\"{}\" codecs=\"{codecs}\" audioSamplingRate=\"{}\">",
                peak.max(1),
                aac.sample_rate
            );
            let _ = writeln!(
                out,
                "        <AudioChannelConfiguration schemeIdUri=\"urn:mpeg:dash:23003:3:audio_channel_configuration:2011\" value=\"{}\"/>",
                aac.channels
            );
        }
    }
    let pto = TimeBase::new(track.timescale).and_then(|base| period.media_start.rescale(base).ok()).map_or(0, |t| t.value);
    let _ = write!(
        out,
        "        <SegmentTemplate timescale=\"{}\" presentationTimeOffset=\"{}\" initialization=\"{name}/init-{}.mp4\" media=\"{name}/seg-$Number$.m4s\" startNumber=\"{}\"",
        track.timescale,
        pto.max(0),
        first.init_version,
        first.number
    );
    if let Some((part_ms, target_s)) = chunked {
        let offset = (f64::from(target_s) - f64::from(part_ms) / 1000.0).max(0.0);
        let _ = write!(out, " availabilityTimeOffset=\"{offset:.3}\" availabilityTimeComplete=\"false\"");
    }
    out.push_str(">\n");
    out.push_str("          <SegmentTimeline>\n");
    let mut expected_next: Option<i64> = None;
    let mut previous: Option<u64> = None;
    for segment in &segments {
        // `$Number$` counts timeline entries: a rung's hole keeps an entry of its own
        // (the source's timing; its request fails) so later numbers stay right.
        for missing in previous.filter(|_| track.rung.is_some()).map_or(segment.number, |n| n + 1)..segment.number {
            if let (Some(start), Some(source)) = (expected_next, window.video.as_ref().and_then(|v| v.segment(missing))) {
                write_timeline_entry(out, &mut expected_next, start, source.duration);
            }
        }
        previous = Some(segment.number);
        write_timeline_entry(out, &mut expected_next, segment.start, segment.duration);
    }
    if let Some((_, target_s)) = chunked {
        // The segment being written (or about to be, right after a cut) is
        // listed at once, with its expected duration; the next update gives
        // the real one. Its request is answered chunk by chunk.
        let last = segments.last().map(|s| (s.number, s.start + s.duration, s.init_version));
        let open = track.open_parts.first();
        let next = match (open, last) {
            // The first segment of a publisher's return belongs to a period not listed yet.
            (Some(open), _) if open.discontinuity => None,
            (Some(open), Some((number, _, _))) if open.number == number + 1 => Some((open.number, open.start, open.init_version)),
            (None, Some((number, end, version))) => Some((number + 1, end, version)),
            _ => None,
        };
        if let Some((_, start, _)) = next.filter(|n| n.2 == first.init_version) {
            write_timeline_entry(out, &mut expected_next, start, i64::from(target_s) * i64::from(track.timescale));
        }
    }
    out.push_str("          </SegmentTimeline>\n        </SegmentTemplate>\n      </Representation>\n");
}

/// One `<S>`: its start is left out when it follows the previous entry.
fn write_timeline_entry(out: &mut String, expected_next: &mut Option<i64>, start: i64, duration: i64) {
    if *expected_next == Some(start) {
        let _ = writeln!(out, "            <S d=\"{duration}\"/>");
    } else {
        let _ = writeln!(out, "            <S t=\"{start}\" d=\"{duration}\"/>");
    }
    *expected_next = Some(start + duration);
}

fn frame_rate_attr(rate: f64) -> String {
    let rounded = rate.round();
    if (rate - rounded).abs() < 0.001 { format!("{}", rounded as u64) } else { format!("{}/1001", (rate * 1001.0).round() as u64) }
}
