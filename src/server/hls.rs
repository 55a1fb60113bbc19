//! HLS playlists, written as pure functions of the window.

use std::fmt::Write;

use crate::media::codec::CodecConfig;
use crate::server::cmaf::window::{MediaWindow, TrackWindow};

/// The rendition's path segment in URLs: `/live/KEY/{name}/...`.
pub fn rendition_name(track: &TrackWindow) -> &'static str {
    match track.codec {
        CodecConfig::H264(_) => "video",
        CodecConfig::Aac(_) => "audio",
    }
}

pub fn master_playlist(window: &MediaWindow) -> String {
    let mut out = String::from("#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n");
    let audio = window.audio.as_ref();
    let (audio_peak, audio_average) = audio.map(TrackWindow::bandwidth).unwrap_or((0, 0));
    let audio_codec = audio.map(|a| codec_string(&a.codec));
    match &window.video {
        Some(video) => {
            if let Some(audio) = audio {
                let channels = match &audio.codec {
                    CodecConfig::Aac(aac) => aac.channels,
                    CodecConfig::H264(_) => 2,
                };
                let _ = writeln!(
                    out,
                    "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",NAME=\"Audio\",DEFAULT=YES,AUTOSELECT=YES,CHANNELS=\"{channels}\",URI=\"audio/playlist.m3u8\""
                );
            }
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
                if let Some(rate) = video.frame_rate() {
                    let _ = write!(out, ",FRAME-RATE={rate:.3}");
                }
            }
            if audio.is_some() {
                out.push_str(",AUDIO=\"audio\"");
            }
            out.push_str("\nvideo/playlist.m3u8\n");
        }
        None => {
            if let Some(audio_codec) = audio_codec {
                let _ = writeln!(
                    out,
                    "#EXT-X-STREAM-INF:BANDWIDTH={},AVERAGE-BANDWIDTH={},CODECS=\"{audio_codec}\"\naudio/playlist.m3u8",
                    audio_peak.max(1),
                    audio_average.max(1)
                );
            }
        }
    }
    out
}

pub fn media_playlist(window: &MediaWindow, track: &TrackWindow) -> String {
    let target = window.target_duration.unwrap_or(1);
    let mut listed = track.listed().peekable();
    let first_number = listed.peek().map_or(0, |s| s.number);
    let mut out = String::with_capacity(1024);
    let _ = write!(
        out,
        "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:{target}\n#EXT-X-MEDIA-SEQUENCE:{first_number}\n#EXT-X-DISCONTINUITY-SEQUENCE:{}\n#EXT-X-INDEPENDENT-SEGMENTS\n",
        track.discontinuity_sequence
    );
    let mut current_init = None;
    for (index, segment) in listed.enumerate() {
        if segment.discontinuity && index > 0 {
            out.push_str("#EXT-X-DISCONTINUITY\n");
        }
        if current_init != Some(segment.init_version) {
            let _ = writeln!(out, "#EXT-X-MAP:URI=\"init-{}.mp4\"", segment.init_version);
            current_init = Some(segment.init_version);
        }
        let _ = writeln!(out, "#EXT-X-PROGRAM-DATE-TIME:{}", segment.wall_start.to_iso8601());
        let _ = writeln!(out, "#EXTINF:{:.5},\nseg-{}.m4s", segment.duration_secs(track.timescale), segment.number);
    }
    if window.ended {
        out.push_str("#EXT-X-ENDLIST\n");
    }
    out
}

pub fn codec_string(codec: &CodecConfig) -> String {
    match codec {
        CodecConfig::H264(h264) => h264.codec_string(),
        CodecConfig::Aac(aac) => aac.codec_string(),
    }
}
