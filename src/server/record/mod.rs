//! Record: each live stream's source video and audio written to disk as
//! they are made (`DIRECTORY/KEY/ID/`, with playlists of type EVENT), and
//! served as a VOD from `/vod/KEY/ID/` once the stream ends. A republish
//! within the grace period stays in the same recording, after a
//! discontinuity; disk use stays under `record.max_megabytes`.

mod catalog;
mod recording;
mod writer;

pub use catalog::{DESCRIPTION, RecordingEntry, RecordingState, safe_relative_path};
pub use recording::Recording;
pub use writer::Recorder;
