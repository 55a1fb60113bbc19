//! The engine's state as the CLI and the GUI see it: one snapshot, replaced whole.

use std::time::Duration;

use crate::capture::frames::AudioLevel;
use crate::publish::shared::PublishState;

#[derive(Clone, Debug, PartialEq)]
pub struct Status {
    pub state: PublishState,
    /// Bits leaving the socket, over the last second.
    pub sent_kbps: f64,
    /// Video frames leaving the socket per second.
    pub fps: f64,
    pub dropped_frames: u64,
    pub queue_depth: usize,
    /// Mean H.264 encode time per frame over the last second.
    pub encode_ms: f64,
    /// Time since the stream first went live.
    pub uptime: Duration,
    pub width: usize,
    pub height: usize,
    pub target_kbps: u32,
    pub audio_level: AudioLevel,
    /// Capture-to-send latency (p50, p99) in milliseconds.
    pub latency_ms: Option<(f64, f64)>,
    pub video_source: String,
    pub audio_source: String,
}

impl Status {
    pub fn idle() -> Status {
        Status {
            state: PublishState::Idle,
            sent_kbps: 0.0,
            fps: 0.0,
            dropped_frames: 0,
            queue_depth: 0,
            encode_ms: 0.0,
            uptime: Duration::ZERO,
            width: 0,
            height: 0,
            target_kbps: 0,
            audio_level: AudioLevel::SILENT,
            latency_ms: None,
            video_source: String::new(),
            audio_source: String::new(),
        }
    }

    /// One line like ffmpeg's stats line.
    pub fn line(&self) -> String {
        let seconds = self.uptime.as_secs();
        let latency = self.latency_ms.map_or(String::from("-"), |(p50, p99)| format!("{p50:.0}/{p99:.0} ms"));
        format!(
            "{} | {}x{} {:.1} fps | {:.0} kbit/s (target {}) | dropped {} | queue {} | encode {:.1} ms | latency {} | audio {:.0} dBFS | {:02}:{:02}:{:02}",
            self.state,
            self.width,
            self.height,
            self.fps,
            self.sent_kbps,
            self.target_kbps,
            self.dropped_frames,
            self.queue_depth,
            self.encode_ms,
            latency,
            self.audio_level.peak_dbfs,
            seconds / 3600,
            seconds / 60 % 60,
            seconds % 60
        )
    }
}
