//! The ladder's rungs inside one stream's segmenter: each follows the
//! source video's boundaries, and one that joins mid-segment (its encoder's
//! first output comes late) is handed the open segment's boundaries so far.

use std::collections::BTreeMap;

use super::cuts::{Boundary, FollowContext, SegmenterEvent};
use super::rung::{RungFrame, RungTrack};
use super::track::TrackSegmenter;
use crate::media::codec::CodecConfig;

#[derive(Default)]
pub struct RungSet {
    rungs: BTreeMap<usize, RungTrack>,
    /// The boundaries of the source's open segment, its start first.
    open_segment: Vec<Boundary>,
}

impl RungSet {
    /// Hands a boundary of the source's video to every rung, and keeps those
    /// of the open segment for rungs still to come.
    pub fn mark(&mut self, boundary: Boundary) {
        if boundary.opens_segment() {
            self.open_segment.clear();
        }
        self.open_segment.push(boundary);
        self.mark_present(boundary);
    }

    /// Hands a boundary to the rungs there are, and to none that come later
    /// (the source's last cut of a session).
    pub fn mark_present(&mut self, boundary: Boundary) {
        for rung in self.rungs.values_mut() {
            rung.mark(boundary);
        }
    }

    /// Every rung forgets its open segment and rejoins at the source's next.
    pub fn restart(&mut self, discontinuity: bool) {
        for rung in self.rungs.values_mut() {
            rung.restart(discontinuity);
        }
        self.open_segment.clear();
    }

    /// Adds rung `rung` (or gives it a new configuration from its next segment on).
    pub fn configure(&mut self, rung: usize, name: &str, config: CodecConfig, discontinuity: bool) -> Vec<SegmenterEvent> {
        if let Some(existing) = self.rungs.get_mut(&rung) {
            if existing.track.config != config {
                existing.track.pending_config = Some(config);
            }
            return Vec::new();
        }
        let track = TrackSegmenter::for_rung(rung, name, config);
        let init = track.init();
        let mut rung_track = RungTrack::new(track);
        rung_track.track.discontinuity_next = discontinuity;
        for boundary in &self.open_segment {
            rung_track.mark(*boundary);
        }
        self.rungs.insert(rung, rung_track);
        vec![SegmenterEvent::Init(init)]
    }

    /// Whether there was such a rung.
    pub fn remove(&mut self, rung: usize) -> bool {
        self.rungs.remove(&rung).is_some()
    }

    pub fn push(&mut self, rung: usize, frame: RungFrame, context: &mut FollowContext<'_>, out: &mut Vec<SegmenterEvent>) {
        if let Some(track) = self.rungs.get_mut(&rung) {
            track.push(frame, context, out);
        }
    }

    pub fn finish(&mut self, rung: usize, context: &mut FollowContext<'_>, out: &mut Vec<SegmenterEvent>) {
        if let Some(track) = self.rungs.get_mut(&rung) {
            track.finish(context, out);
        }
    }
}
