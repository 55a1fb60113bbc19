//! The engine's state as the CLI and the GUI see it: one snapshot, replaced whole.

use std::time::Duration;

use crate::capture::frames::AudioLevel;
use crate::mixer::MixerStatus;
use crate::publish::shared::{LinkStats, PublishState};
use crate::scene::ProgramStatus;

#[derive(Clone, Debug, PartialEq)]
pub struct Status {
    pub state: PublishState,
    /// Bits leaving the socket, over the last second.
    pub sent_kbps: f64,
    /// Video frames leaving the socket per second.
    pub fps: f64,
    /// Frames dropped while live or reconnecting (video and audio).
    pub dropped_frames: u64,
    /// Dropped video frames, as a share of those encoded while live.
    pub dropped_percent: f64,
    /// Frames waiting to be sent, and the media time they span.
    pub queue_depth: usize,
    pub queue_span: Duration,
    /// Mean H.264 encode time per frame over the last second.
    pub encode_ms: f64,
    /// Video encoders created: one at the start, one per applied knob change.
    pub encoders_started: u64,
    /// This process's CPU use, in percent of one core.
    pub cpu_percent: f64,
    /// Time since the stream first went live.
    pub uptime: Duration,
    pub width: usize,
    pub height: usize,
    pub target_kbps: u32,
    pub audio_level: AudioLevel,
    /// Round trip and loss to the target, when its protocol reports them (SRT).
    pub link: Option<LinkStats>,
    /// Capture-to-send latency (p50, p99) in milliseconds.
    pub latency_ms: Option<(f64, f64)>,
    pub video_source: String,
    pub audio_source: String,
    /// Every target the one encode feeds, in the order started; the fields
    /// above describe the first of them live (else the first still trying),
    /// and `state` all of them.
    pub targets: Vec<TargetStatus>,
    /// The scene on air, when the picture is a composed scene.
    pub program: Option<ProgramStatus>,
    /// Every input's meter and settings, when the sound is a mix.
    pub mixer: Option<MixerStatus>,
}

/// One target's side of the stream.
#[derive(Clone, Debug, PartialEq)]
pub struct TargetStatus {
    /// Its URL without secrets.
    pub name: String,
    pub state: PublishState,
    pub sent_kbps: f64,
    pub fps: f64,
    pub dropped_frames: u64,
    pub dropped_percent: f64,
    pub queue_span: Duration,
    pub link: Option<LinkStats>,
    /// Time since this target first went live.
    pub uptime: Duration,
}

impl TargetStatus {
    /// One line of the CLI's status block.
    pub fn line(&self) -> String {
        let link = self.link.map_or(String::new(), |link| format!(" | rtt {:.0} ms loss {:.1} %", link.rtt_ms, link.loss_percent));
        format!(
            "  {} | {} | {:.0} kbit/s | dropped {} ({:.1} %) | queue {} ms{link}",
            self.name,
            self.state,
            self.sent_kbps,
            self.dropped_frames,
            self.dropped_percent,
            self.queue_span.as_millis()
        )
    }
}

impl Status {
    pub fn idle() -> Status {
        Status {
            state: PublishState::Idle,
            sent_kbps: 0.0,
            fps: 0.0,
            dropped_frames: 0,
            dropped_percent: 0.0,
            queue_depth: 0,
            queue_span: Duration::ZERO,
            encode_ms: 0.0,
            encoders_started: 0,
            cpu_percent: 0.0,
            uptime: Duration::ZERO,
            width: 0,
            height: 0,
            target_kbps: 0,
            audio_level: AudioLevel::SILENT,
            link: None,
            latency_ms: None,
            video_source: String::new(),
            audio_source: String::new(),
            targets: Vec::new(),
            program: None,
            mixer: None,
        }
    }

    /// The status line, then a line per target when there are several.
    pub fn lines(&self) -> String {
        let mut out = self.line();
        if self.targets.len() > 1 {
            for target in &self.targets {
                out.push('\n');
                out.push_str(&target.line());
            }
        }
        if let Some(mixer) = &self.mixer {
            for input in &mixer.inputs {
                out.push('\n');
                out.push_str(&input.line());
            }
        }
        if let Some(program) = &self.program {
            for (layer, problem) in &program.warnings {
                out.push_str(&format!("\n  scene \"{}\", layer {layer}: {problem}", program.scene));
            }
        }
        out
    }

    /// The stream is over: the numbers that describe a live moment go to
    /// zero; the totals (uptime, drops) stay as the stream's summary.
    pub fn end_live_numbers(&mut self) {
        self.sent_kbps = 0.0;
        self.fps = 0.0;
        self.queue_depth = 0;
        self.queue_span = Duration::ZERO;
        self.encode_ms = 0.0;
        self.audio_level = AudioLevel::SILENT;
        self.latency_ms = None;
        self.link = None;
        for target in &mut self.targets {
            (target.sent_kbps, target.fps, target.queue_span, target.link) = (0.0, 0.0, Duration::ZERO, None);
        }
    }

    /// One line like ffmpeg's stats line.
    pub fn line(&self) -> String {
        let seconds = self.uptime.as_secs();
        let latency = self.latency_ms.map_or(String::from("-"), |(p50, p99)| format!("{p50:.0}/{p99:.0} ms"));
        let link = self.link.map_or(String::new(), |link| format!(" | rtt {:.0} ms loss {:.1} %", link.rtt_ms, link.loss_percent));
        format!(
            "{} | {}x{} {:.1} fps | {:.0} of {} kbit/s | dropped {} ({:.1} %) | queue {} ms{} | encode {:.1} ms | cpu {:.0} % | latency {} | audio {:.0} dBFS | {:02}:{:02}:{:02}",
            self.state,
            self.width,
            self.height,
            self.fps,
            self.sent_kbps,
            self.target_kbps,
            self.dropped_frames,
            self.dropped_percent,
            self.queue_span.as_millis(),
            link,
            self.encode_ms,
            self.cpu_percent,
            latency,
            self.audio_level.peak_dbfs,
            seconds / 3600,
            seconds / 60 % 60,
            seconds % 60
        )
    }
}
