//! Which H.264 a stream's WebRTC viewers get. The source's own while its
//! frames come in presentation order; once it shows B-frames, which a
//! WebRTC player would show out of order, the ladder's largest rung (rungs
//! have none), put back on the publisher's timeline so it stays in step
//! with the sound, which is the source's.

use std::collections::BTreeMap;

use super::feed::Unwatchable;
use crate::media::codec::H264Config;
use crate::media::h264::{append_annexb, avcc_parameter_sets, nal_units};
use crate::media::time::Timestamp;

/// One H.264 stream as viewers are sent it: its configuration and, in
/// Annex B, the parameter sets that go before each keyframe.
struct Line {
    config: H264Config,
    parameter_sets: Vec<u8>,
}

impl Line {
    fn new(config: &H264Config) -> Line {
        let mut parameter_sets = Vec::new();
        append_annexb(&mut parameter_sets, avcc_parameter_sets(&config.avcc));
        Line { config: config.clone(), parameter_sets }
    }

    /// One access unit in Annex B; a keyframe carries the parameter sets, so a viewer can start there.
    fn annexb(&self, data: &[u8], keyframe: bool) -> Vec<u8> {
        let mut out = Vec::with_capacity(data.len() + self.parameter_sets.len() + 16);
        if keyframe {
            out.extend_from_slice(&self.parameter_sets);
        }
        append_annexb(&mut out, nal_units(data, self.config.nal_length_size));
        out
    }

    fn profile_level_id(&self) -> u32 {
        u32::from(self.config.profile_idc) << 16 | u32::from(self.config.constraint_flags) << 8 | u32::from(self.config.level_idc)
    }
}

/// Where viewers' video comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VideoSource {
    /// The publisher's own frames.
    Source,
    /// The ladder rung with this index (the largest there is).
    Rung(usize),
}

/// An access unit ready for viewers: Annex B, at its presentation time on the publisher's timeline.
pub struct ViewerFrame {
    pub data: Vec<u8>,
    pub pts: Timestamp,
    pub keyframe: bool,
}

#[derive(Default)]
pub struct VideoLines {
    source: Option<Line>,
    /// The ladder's rungs that have started, by index (the largest first), with their names.
    rungs: BTreeMap<usize, (String, Line)>,
    /// The latest presentation time seen; an earlier one after it is a B-frame.
    newest_pts: Option<Timestamp>,
    reordered: bool,
    /// The stream timeline (which rung frames are on) minus the publisher's.
    placement: Option<Timestamp>,
    /// The rung viewers were last sent; when another takes its place, they wait for that one's keyframe.
    sent_rung: Option<usize>,
    awaiting_keyframe: bool,
}

impl VideoLines {
    pub fn configure_source(&mut self, config: &H264Config) {
        self.source = Some(Line::new(config));
    }

    pub fn configure_rung(&mut self, rung: usize, name: &str, config: &H264Config) {
        self.rungs.insert(rung, (name.to_string(), Line::new(config)));
    }

    pub fn remove_rung(&mut self, rung: usize) {
        self.rungs.remove(&rung);
    }

    /// A new publisher: whether it sends B-frames is seen afresh.
    pub fn begin_session(&mut self) {
        self.newest_pts = None;
        self.reordered = false;
        self.placement = None;
    }

    /// Where viewers' video comes from now, or why there is none to watch.
    pub fn source(&self, key: &str) -> Result<VideoSource, Unwatchable> {
        if self.source.is_none() {
            return Err(Unwatchable::NoVideo(key.to_string()));
        }
        if !self.reordered {
            return Ok(VideoSource::Source);
        }
        self.rungs.keys().next().map(|&rung| VideoSource::Rung(rung)).ok_or_else(|| Unwatchable::BFrames(key.to_string()))
    }

    /// The name of the rung viewers get, when it is one.
    pub fn rung_name(&self, key: &str) -> Option<&str> {
        match self.source(key) {
            Ok(VideoSource::Rung(rung)) => self.rungs.get(&rung).map(|(name, _)| name.as_str()),
            _ => None,
        }
    }

    /// The H.264 profile_level_id of what viewers get, for the SDP.
    pub fn profile_level_id(&self, key: &str) -> Result<u32, Unwatchable> {
        let line = match self.source(key)? {
            VideoSource::Source => self.source.as_ref(),
            VideoSource::Rung(rung) => self.rungs.get(&rung).map(|(_, line)| line),
        };
        line.map(Line::profile_level_id).ok_or_else(|| Unwatchable::NoVideo(key.to_string()))
    }

    /// Watches the source's presentation order; true when this frame was the first out of it.
    pub fn observe_source(&mut self, pts: Timestamp) -> bool {
        let late = self.newest_pts.is_some_and(|newest| pts < newest);
        self.newest_pts = Some(self.newest_pts.map_or(pts, |newest| newest.max(pts)));
        let first = late && !self.reordered;
        self.reordered |= late;
        first
    }

    /// Where the packager put a source frame of presentation time `pts`.
    pub fn place(&mut self, pts: Timestamp, placed: Timestamp) {
        self.placement = placed.checked_sub(pts).ok();
    }

    /// A source frame for viewers, when they get the source's video.
    pub fn from_source(&self, data: &[u8], pts: Timestamp, keyframe: bool, key: &str) -> Option<ViewerFrame> {
        if self.source(key) != Ok(VideoSource::Source) {
            return None;
        }
        let line = self.source.as_ref()?;
        Some(ViewerFrame { data: line.annexb(data, keyframe), pts, keyframe })
    }

    /// A rung's frame for viewers, when they get that rung; after a change of
    /// rung, from its first keyframe on (the new rung's pictures do not follow
    /// on from the old one's).
    pub fn from_rung(&mut self, rung: usize, data: &[u8], pts: Timestamp, keyframe: bool, key: &str) -> Option<ViewerFrame> {
        if self.source(key) != Ok(VideoSource::Rung(rung)) {
            return None;
        }
        if self.sent_rung != Some(rung) {
            self.sent_rung = Some(rung);
            self.awaiting_keyframe = true;
        }
        if self.awaiting_keyframe && !keyframe {
            return None;
        }
        self.awaiting_keyframe = false;
        let (_, line) = self.rungs.get(&rung)?;
        let pts = pts.checked_sub(self.placement?).ok()?;
        Some(ViewerFrame { data: line.annexb(data, keyframe), pts, keyframe })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::time::TimeBase;

    fn ms(value: i64) -> Timestamp {
        Timestamp::new(value, TimeBase::MILLIS)
    }

    /// An avcC with one SPS and one PPS (contents do not matter here), 4-byte lengths.
    fn config(profile_idc: u8) -> H264Config {
        let avcc = vec![1, profile_idc, 0, 31, 0xff, 0xe1, 0, 4, 0x67, profile_idc, 0, 31, 1, 0, 2, 0x68, 0xce];
        H264Config { avcc: avcc.into(), profile_idc, constraint_flags: 0, level_idc: 31, width: 1280, height: 720, frame_rate: None, nal_length_size: 4 }
    }

    fn slice(keyframe: bool) -> Vec<u8> {
        vec![0, 0, 0, 2, if keyframe { 0x65 } else { 0x41 }, 0x88]
    }

    #[test]
    fn a_source_in_presentation_order_is_sent_as_it_is() {
        let mut lines = VideoLines::default();
        lines.configure_source(&config(66));
        for pts in [0, 33, 66] {
            assert!(!lines.observe_source(ms(pts)));
        }
        assert_eq!(lines.source("k"), Ok(VideoSource::Source));
        assert_eq!(lines.profile_level_id("k"), Ok(66 << 16 | 31));
        let frame = lines.from_source(&slice(true), ms(66), true, "k").expect("the source is sent");
        assert!(frame.data.starts_with(&[0, 0, 0, 1, 0x67]), "parameter sets lead a keyframe: {:?}", frame.data);
        assert!(lines.from_rung(0, &slice(true), ms(66), true, "k").is_none(), "no rung while the source is in order");
    }

    #[test]
    fn b_frames_hand_viewers_to_the_largest_rung_on_the_publishers_timeline() {
        let mut lines = VideoLines::default();
        lines.configure_source(&config(100));
        assert!(!lines.observe_source(ms(0)));
        assert!(!lines.observe_source(ms(100)));
        assert!(lines.observe_source(ms(33)), "an earlier presentation time is a B-frame");
        assert!(!lines.observe_source(ms(66)), "noticed once");
        assert_eq!(lines.source("k"), Err(Unwatchable::BFrames("k".into())), "no rung yet: refused");
        lines.configure_rung(1, "480p", &config(66));
        lines.configure_rung(0, "720p", &config(77));
        assert_eq!(lines.source("k"), Ok(VideoSource::Rung(0)));
        assert_eq!(lines.rung_name("k"), Some("720p"));
        assert_eq!(lines.profile_level_id("k"), Ok(77 << 16 | 31), "the SDP offers the rung's profile");
        assert!(lines.from_source(&slice(true), ms(100), true, "k").is_none(), "the source is not sent");
        // The packager put publisher time 100 ms at 5100 ms on the stream timeline.
        lines.place(ms(100), ms(5100));
        assert!(lines.from_rung(1, &slice(true), ms(5133), true, "k").is_none(), "only the largest rung is sent");
        assert!(lines.from_rung(0, &slice(false), ms(5133), false, "k").is_none(), "a new rung starts at its keyframe");
        let frame = lines.from_rung(0, &slice(true), ms(5166), true, "k").expect("the rung's keyframe");
        assert_eq!(frame.pts, ms(166), "back on the publisher's timeline");
        assert!(lines.from_rung(0, &slice(false), ms(5200), false, "k").is_some());
        // The largest rung is shed: the next one takes over from its keyframe.
        lines.remove_rung(0);
        assert_eq!(lines.source("k"), Ok(VideoSource::Rung(1)));
        assert!(lines.from_rung(1, &slice(false), ms(5233), false, "k").is_none());
        assert!(lines.from_rung(1, &slice(true), ms(5266), true, "k").is_some());
    }

    #[test]
    fn a_new_publisher_is_judged_afresh() {
        let mut lines = VideoLines::default();
        lines.configure_source(&config(100));
        for pts in [0, 100, 33] {
            lines.observe_source(ms(pts));
        }
        lines.begin_session();
        lines.observe_source(ms(0));
        assert_eq!(lines.source("k"), Ok(VideoSource::Source));
    }
}
