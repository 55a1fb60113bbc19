//! HLS playlists, written as pure functions of the window.

use std::fmt::Write;

use crate::media::codec::CodecConfig;
use crate::media::frame::TrackKind;
use crate::server::package::cmaf::window::{MediaWindow, TrackWindow};

/// The master playlist: one variant per video rendition (the source, then
/// the ladder's rungs), all sharing the one audio rendition.
pub fn master_playlist(window: &MediaWindow) -> String {
    let mut out = String::from("#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n");
    let audio = window.audio.as_ref();
    let (audio_peak, audio_average) = audio.map(TrackWindow::bandwidth).unwrap_or((0, 0));
    let audio_codec = audio.map(|a| codec_string(&a.codec));
    if window.video.is_none() {
        if let (Some(audio), Some(audio_codec)) = (audio, audio_codec) {
            let _ = writeln!(
                out,
                "#EXT-X-STREAM-INF:BANDWIDTH={},AVERAGE-BANDWIDTH={},CODECS=\"{audio_codec}\"\n{}/playlist.m3u8",
                audio_peak.max(1),
                audio_average.max(1),
                audio.name
            );
        }
        return out;
    }
    if let Some(audio) = audio {
        let channels = match &audio.codec {
            CodecConfig::Aac(aac) => aac.channels,
            CodecConfig::H264(_) => 2,
        };
        let _ = writeln!(
            out,
            "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",NAME=\"Audio\",DEFAULT=YES,AUTOSELECT=YES,CHANNELS=\"{channels}\",URI=\"{}/playlist.m3u8\"",
            audio.name
        );
    }
    // A rung with no segment yet cannot be played: it is listed once it has one.
    for video in window.video_renditions().filter(|t| !t.segments.is_empty()) {
        let (peak, average) = video.bandwidth();
        let mut codecs = codec_string(&video.codec);
        if let Some(audio_codec) = &audio_codec {
            codecs = format!("{codecs},{audio_codec}");
        }
        let _ = write!(
            out,
            "#EXT-X-STREAM-INF:BANDWIDTH={},AVERAGE-BANDWIDTH={},CODECS=\"{codecs}\"",
            (peak + audio_peak).max(1),
            (average + audio_average).max(1)
        );
        if let CodecConfig::H264(h264) = &video.codec {
            let _ = write!(out, ",RESOLUTION={}x{}", h264.width, h264.height);
            if let Some(rate) = window.frame_rate(video) {
                let _ = write!(out, ",FRAME-RATE={rate:.3}");
            }
        }
        if audio.is_some() {
            out.push_str(",AUDIO=\"audio\"");
        }
        let _ = writeln!(out, "\n{}/playlist.m3u8", video.name);
    }
    out
}

/// Parts are listed for segments this many target durations from the live edge.
const PART_LISTING_TARGETS: f64 = 3.0;
/// Delta updates may skip segments older than this many target durations.
const SKIP_TARGETS: u32 = 6;

/// A rendition's media playlist. `delta` asks for an `_HLS_skip=YES` update.
pub fn media_playlist(window: &MediaWindow, track: &TrackWindow, delta: bool) -> String {
    let target = window.target_duration.unwrap_or(1);
    let low_latency = window.part_target_ms.is_some() && !window.ended;
    let listed: Vec<_> = track.listed().collect();
    // Before the first segment closes, the one being written is the first in sequence.
    let first_number = listed.first().map(|s| s.number).or_else(|| track.open_parts.first().map(|p| p.number)).unwrap_or(0);
    let timescale = track.timescale;
    let total: f64 = listed.iter().map(|s| s.duration_secs(timescale)).sum();
    let skip_until = f64::from(SKIP_TARGETS * target);
    let skipped = if delta && low_latency {
        let mut remaining = total;
        listed
            .iter()
            .take_while(|s| {
                let old = remaining > skip_until;
                remaining -= s.duration_secs(timescale);
                old
            })
            .count()
    } else {
        0
    };
    // A track numbered by the source video's cuts can miss one (a rung that
    // sat a segment out, audio that stopped before the video as a publisher
    // left): EXT-X-GAP fills the hole so media sequence numbers stay its numbers.
    let fills_gaps = track.rung.is_some() || (track.kind == TrackKind::Audio && window.video.is_some());
    let has_gaps = fills_gaps && listed.windows(2).any(|pair| pair[1].number > pair[0].number + 1);
    let mut out = String::with_capacity(2048);
    let version = if low_latency {
        9
    } else if has_gaps {
        8
    } else {
        7
    };
    let _ = write!(out, "#EXTM3U\n#EXT-X-VERSION:{version}\n#EXT-X-TARGETDURATION:{target}\n");
    if window.recording {
        let _ = writeln!(out, "#EXT-X-PLAYLIST-TYPE:{}", if window.ended { "VOD" } else { "EVENT" });
    }
    if let (true, Some(part_ms)) = (low_latency, window.part_target_ms) {
        let part = f64::from(part_ms) / 1000.0;
        let _ = write!(
            out,
            "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,CAN-SKIP-UNTIL={skip_until:.1},PART-HOLD-BACK={:.3}\n#EXT-X-PART-INF:PART-TARGET={part:.3}\n",
            part * 3.0
        );
    }
    let _ = write!(out, "#EXT-X-MEDIA-SEQUENCE:{first_number}\n#EXT-X-DISCONTINUITY-SEQUENCE:{}\n#EXT-X-INDEPENDENT-SEGMENTS\n", track.discontinuity_sequence);
    if skipped > 0 {
        // Counted in numbers, so a rung's hole among the skipped segments counts too.
        let count = listed.get(skipped).filter(|_| fills_gaps).map_or(skipped as u64, |s| s.number - first_number);
        let _ = writeln!(out, "#EXT-X-SKIP:SKIPPED-SEGMENTS={count}");
    }
    let parts_from = total - PART_LISTING_TARGETS * f64::from(target);
    let mut elapsed = 0.0;
    let mut current_init = None;
    let mut previous: Option<u64> = None;
    for (index, segment) in listed.iter().enumerate() {
        elapsed += segment.duration_secs(timescale);
        let after = previous.replace(segment.number);
        if index < skipped {
            continue;
        }
        if let Some(after) = after.filter(|_| fills_gaps) {
            write_gaps(&mut out, window, after + 1..segment.number);
        }
        if segment.discontinuity && index > 0 {
            out.push_str("#EXT-X-DISCONTINUITY\n");
        }
        if current_init != Some(segment.init_version) {
            let _ = writeln!(out, "#EXT-X-MAP:URI=\"init-{}.mp4\"", segment.init_version);
            current_init = Some(segment.init_version);
        }
        let _ = writeln!(out, "#EXT-X-PROGRAM-DATE-TIME:{}", segment.wall_start.to_iso8601());
        if low_latency && elapsed > parts_from {
            for (part_index, part) in segment.parts.iter().enumerate() {
                write_part(&mut out, segment.number, part_index as u32, part.duration as f64 / f64::from(timescale), part.independent);
            }
        }
        let _ = writeln!(out, "#EXTINF:{:.5},\nseg-{}.m4s", segment.duration_secs(timescale), segment.number);
    }
    if low_latency {
        if let Some(first) = track.open_parts.first() {
            // The hole can be before the segment being written, listed by its parts.
            if let Some(last) = previous.filter(|_| fills_gaps) {
                write_gaps(&mut out, window, last + 1..first.number);
            }
            if first.discontinuity && !listed.is_empty() {
                out.push_str("#EXT-X-DISCONTINUITY\n");
            }
            if current_init != Some(first.init_version) {
                let _ = writeln!(out, "#EXT-X-MAP:URI=\"init-{}.mp4\"", first.init_version);
            }
        }
        for part in &track.open_parts {
            write_part(&mut out, part.number, part.index, part.duration as f64 / f64::from(timescale), part.independent);
        }
        if let Some(open) = track.open_number() {
            let next = track.open_parts.last().map_or(0, |p| p.index + 1);
            let _ = writeln!(out, "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part-{open}.{next}.m4s\"");
        }
        for other in window.tracks().filter(|t| t.name != track.name) {
            if let Some((number, index)) = other.last_part() {
                let _ = writeln!(out, "#EXT-X-RENDITION-REPORT:URI=\"../{}/playlist.m3u8\",LAST-MSN={number},LAST-PART={index}", other.name);
            }
        }
    }
    if window.ended {
        out.push_str("#EXT-X-ENDLIST\n");
    }
    out
}

/// `EXT-X-GAP` entries for segment numbers this track does not have.
fn write_gaps(out: &mut String, window: &MediaWindow, missing: std::ops::Range<u64>) {
    for number in missing {
        // The source's segment of that number gives the length the players expect.
        let seconds = window.source_duration(number).unwrap_or(f64::from(window.target_duration.unwrap_or(1)));
        let _ = writeln!(out, "#EXT-X-GAP\n#EXTINF:{seconds:.5},\nseg-{number}.m4s");
    }
}

fn write_part(out: &mut String, number: u64, index: u32, seconds: f64, independent: bool) {
    let _ = write!(out, "#EXT-X-PART:DURATION={seconds:.5},URI=\"part-{number}.{index}.m4s\"");
    out.push_str(if independent { ",INDEPENDENT=YES\n" } else { "\n" });
}

pub fn codec_string(codec: &CodecConfig) -> String {
    match codec {
        CodecConfig::H264(h264) => h264.codec_string(),
        CodecConfig::Aac(aac) => aac.codec_string(),
    }
}
