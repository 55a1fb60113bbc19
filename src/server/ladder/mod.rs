//! The adaptive-bitrate ladder of one stream: the source's video is decoded
//! once (libavcodec), then every rung scales (libswscale) and encodes
//! (OpenH264) it on its own thread, with keyframes on the source's so all
//! renditions share segment and part boundaries. Nothing here runs on the
//! async runtime, and the source's own rendition never waits for it: frames
//! are offered, and dropped when the ladder is behind; rungs are shed when it
//! cannot keep up.

mod avcodec;
mod cpu;
mod decode;
pub mod picture;
pub mod plan;
pub mod shed;
pub mod timing;
mod worker;

use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use serde::Serialize;

use crate::media::codec::{CodecConfig, H264Config};
use crate::media::time::Timestamp;
use crate::server::config::LadderConfig;
use crate::server::package::cmaf::rung::RungFrame;

/// Where a ladder's output goes: the stream's packager.
pub trait RungSink: Send + Sync + 'static {
    fn configure(&self, rung: usize, name: &str, config: CodecConfig);
    fn push(&self, rung: usize, frame: RungFrame);
    /// The rung was shed or rebuilt away.
    fn remove(&self, rung: usize);
    /// The publisher left and the rung has delivered every frame it was given.
    fn finish(&self, rung: usize);
    /// Asked before each picture: whether a viewer wants this rung's next one to be a keyframe.
    fn keyframe_wanted(&self, _rung: usize) -> bool {
        false
    }
}

/// A source video frame as the packager placed it on the stream timeline.
pub struct SourceFrame {
    /// Length-prefixed NAL units.
    pub data: Bytes,
    pub keyframe: bool,
    pub dts: Timestamp,
    pub pts: Timestamp,
    pub arrived: Instant,
}

enum Input {
    Config(H264Config),
    Frame(SourceFrame),
}

/// Source frames the decoder may have waiting: about two seconds.
const INPUT_QUEUE: usize = 64;

#[derive(Clone, Debug, Default, Serialize)]
pub struct LadderStatus {
    /// CPU the ladder's threads used over the last second, in cores.
    pub cores: f64,
    /// Source frames not decoded because the ladder was behind.
    pub frames_skipped: u64,
    pub decode_errors: u64,
    pub rungs: Vec<RungStatus>,
}

/// Where a rung stands; shown as `running`, `shed` or `failed`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RungState {
    Running,
    /// Dropped because the ladder could not keep up.
    Shed,
    /// Its scaler or encoder failed.
    Failed,
}

impl RungState {
    pub const ALL: [RungState; 3] = [RungState::Running, RungState::Shed, RungState::Failed];

    pub fn as_str(self) -> &'static str {
        match self {
            RungState::Running => "running",
            RungState::Shed => "shed",
            RungState::Failed => "failed",
        }
    }
}

impl std::fmt::Display for RungState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct RungStatus {
    pub name: String,
    pub width: u32,
    pub height: u32,
    pub bitrate_kbps: u32,
    pub state: RungState,
    pub frames: u64,
    pub frames_dropped: u64,
    /// Source frame arrival to this rung's encoded frame, for the latest frame.
    pub lag_ms: f64,
    pub cores: f64,
    /// Why it was shed or failed.
    pub reason: Option<String>,
}

pub struct Ladder {
    input: SyncSender<Input>,
    status: Arc<Mutex<LadderStatus>>,
    /// After a skipped frame the decoder needs a keyframe to continue.
    resume_at_keyframe: bool,
    /// New parameter sets not yet handed to the decoder.
    pending_config: Option<H264Config>,
    skipped: u64,
}

impl Ladder {
    pub fn start(key: &str, config: &LadderConfig, source: H264Config, sink: Arc<dyn RungSink>) -> std::io::Result<Ladder> {
        for problem in plan::unusable(&config.rungs) {
            tracing::warn!(key, "{problem}");
        }
        let (input, receiver) = sync_channel(INPUT_QUEUE);
        let status = Arc::new(Mutex::new(LadderStatus::default()));
        let decoder = decode::Decoder::new(key, config, source, sink, status.clone());
        std::thread::Builder::new().name(format!("ladder-{key}")).spawn(move || decoder.run(&receiver))?;
        Ok(Ladder { input, status, resume_at_keyframe: false, pending_config: None, skipped: 0 })
    }

    /// New SPS/PPS from the publisher: they take effect at its next keyframe.
    pub fn reconfigure(&mut self, source: H264Config) {
        self.pending_config = Some(source);
    }

    /// Offers a source frame; never waits.
    pub fn feed(&mut self, frame: SourceFrame) {
        if let Some(config) = self.pending_config.take() {
            // Parameter sets must not be lost: frames wait behind them.
            if let Err(TrySendError::Full(Input::Config(config))) = self.input.try_send(Input::Config(config)) {
                self.pending_config = Some(config);
                self.resume_at_keyframe = true;
                self.skip();
                return;
            }
        }
        if self.resume_at_keyframe && !frame.keyframe {
            self.skip();
            return;
        }
        match self.input.try_send(Input::Frame(frame)) {
            Ok(()) => self.resume_at_keyframe = false,
            Err(TrySendError::Full(_)) => {
                self.resume_at_keyframe = true;
                self.skip();
            }
            Err(TrySendError::Disconnected(_)) => {}
        }
    }

    fn skip(&mut self) {
        self.skipped += 1;
        if let Ok(mut status) = self.status.lock() {
            status.frames_skipped = self.skipped;
        }
    }

    pub fn status(&self) -> LadderStatus {
        self.status.lock().map(|s| s.clone()).unwrap_or_default()
    }
}
