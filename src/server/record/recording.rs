//! One stream's recording: the inits and segments of its source video and
//! audio as they are made, playlists and an MPD over every segment so far
//! (EVENT) as it goes, and VOD and a static MPD once it ends.
//!
//! Each rewrite of the live playlists costs as much as the recording is long,
//! so they are rewritten after a number of new segments that grows with the
//! length: a constant cost per segment, where a rewrite after every segment
//! of a ten-hour recording would write megabytes every two seconds.

use std::collections::HashSet;
use std::sync::Arc;

use bytes::Bytes;

use super::catalog::{DESCRIPTION, Description};
use super::writer::{Recorder, Target};
use crate::media::wallclock::UnixMillis;
use crate::server::package::cmaf::cuts::SegmenterEvent;
use crate::server::package::cmaf::window::MediaWindow;
use crate::server::package::{dash, hls};

pub struct Recording {
    recorder: Arc<Recorder>,
    target: Arc<Target>,
    key: String,
    id: String,
    window: MediaWindow,
    /// The init segments on disk, by rendition and version.
    inits_written: HashSet<(String, u32)>,
    start: Option<UnixMillis>,
    finished: bool,
    /// Segments written since the playlists were last rewritten.
    unlisted: usize,
}

/// A rewrite is due once the unlisted segments reach this fraction (1/N)
/// of all: the first N segments are listed one by one.
const REWRITE_FRACTION: usize = 64;

fn rewrite_due(unlisted: usize, total: usize) -> bool {
    unlisted * REWRITE_FRACTION >= total
}

impl Recording {
    pub fn begin(recorder: &Arc<Recorder>, key: &str, now: UnixMillis) -> Recording {
        let (target, id) = recorder.begin(key, &id_at(now));
        tracing::info!(key, id, "recording to {}", target.directory.display());
        Recording {
            recorder: recorder.clone(),
            target,
            key: key.to_string(),
            id,
            window: MediaWindow::for_recording(),
            inits_written: HashSet::new(),
            start: None,
            finished: false,
            unlisted: 0,
        }
    }

    /// Takes one of the packager's events: the source's and audio's inits
    /// and segments are written; rungs, parts and chunks are not recorded.
    pub fn take(&mut self, event: &SegmenterEvent, now: UnixMillis) {
        match event {
            // Written with the first segment that uses it: a stream refused before
            // its first segment leaves nothing on disk.
            SegmenterEvent::Init(init) if init.rung.is_none() => self.window.apply(SegmenterEvent::Init(init.clone())),
            SegmenterEvent::Segment(segment, timing) if segment.rung.is_none() => {
                if self.inits_written.insert((segment.name.clone(), segment.init_version)) {
                    let init = self.window.rendition(&segment.name).and_then(|track| track.inits.get(&segment.init_version)).cloned();
                    if let Some(init) = init {
                        self.write(format!("{}/init-{}.mp4", segment.name, segment.init_version), init, true);
                    }
                }
                self.recorder.write(&self.target, format!("{}/seg-{}.m4s", segment.name, segment.number), segment.data.clone(), true);
                self.start.get_or_insert(timing.wall_start);
                self.window.apply(SegmenterEvent::Segment(segment.clone(), *timing));
                self.window.forget_newest_media();
                self.unlisted += 1;
                let total = self.window.rendition(&segment.name).map_or(0, |track| track.segments.len());
                if rewrite_due(self.unlisted, total) {
                    self.unlisted = 0;
                    self.publish(now);
                }
            }
            SegmenterEvent::TargetDuration(seconds) => self.window.target_duration = Some(*seconds),
            _ => {}
        }
    }

    /// The stream ended: the playlists become VOD and the MPD static.
    pub fn finish(&mut self, now: UnixMillis) {
        if self.finished {
            return;
        }
        self.finished = true;
        self.window.ended = true;
        self.publish(now);
        self.recorder.end(&self.target);
        tracing::info!(key = self.key, id = self.id, "recording complete: {:.1} s", self.duration_seconds());
    }

    fn duration_seconds(&self) -> f64 {
        self.window.lead().map_or(0.0, |track| track.segments.iter().map(|s| s.duration_secs(track.timescale)).sum())
    }

    fn publish(&self, now: UnixMillis) {
        if !self.window.has_segments() {
            return;
        }
        for track in self.window.tracks() {
            self.write(format!("{}/playlist.m3u8", track.name), Bytes::from(hls::media_playlist(&self.window, track, false)), false);
        }
        self.write("index.m3u8".into(), Bytes::from(hls::master_playlist(&self.window)), false);
        self.write("manifest.mpd".into(), Bytes::from(dash::manifest(&self.window, now)), false);
        let description = Description {
            key: self.key.clone(),
            id: self.id.clone(),
            start: self.start.unwrap_or(now).to_iso8601(),
            duration_seconds: self.duration_seconds(),
            ended: self.window.ended,
        };
        if let Ok(json) = serde_json::to_vec_pretty(&description) {
            self.write(DESCRIPTION.into(), Bytes::from(json), false);
        }
    }

    fn write(&self, relative: String, data: Bytes, media: bool) {
        self.recorder.write(&self.target, relative, data.into(), media);
    }
}

impl Drop for Recording {
    fn drop(&mut self) {
        self.recorder.end(&self.target);
    }
}

/// A recording's id: the UTC time it began, `20261201T173000Z`.
fn id_at(now: UnixMillis) -> String {
    let iso = now.to_iso8601();
    let seconds = iso.split('.').next().unwrap_or(&iso);
    let mut id: String = seconds.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    id.push('Z');
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Over a ten-hour recording of 2 s segments, the playlist lines written
    /// in all stay within a constant times the segments: linear, not quadratic.
    #[test]
    fn live_rewrites_cost_a_constant_per_segment_and_list_all_but_a_bounded_tail() {
        let (mut unlisted, mut lines_written, mut worst_lag) = (0, 0, 0.0f64);
        let segments = 18_000;
        for total in 1..=segments {
            unlisted += 1;
            if rewrite_due(unlisted, total) {
                unlisted = 0;
                lines_written += total;
            }
            worst_lag = worst_lag.max(unlisted as f64 / total as f64);
        }
        assert!(lines_written <= 2 * REWRITE_FRACTION * segments, "{lines_written} lines for {segments} segments");
        assert!(worst_lag <= 1.0 / REWRITE_FRACTION as f64, "the live playlist lags by {worst_lag} of the recording");
        // The first segments are listed as they come.
        assert!((1..=REWRITE_FRACTION).all(|total| rewrite_due(1, total)));
    }

    #[test]
    fn an_id_is_the_utc_second_it_began() {
        // 2026-12-01T17:30:05.250Z
        assert_eq!(id_at(UnixMillis(1_796_146_205_250)), "20261201T173005Z");
    }
}
