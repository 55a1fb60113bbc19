//! The program: the compositor's own thread, drawing the scene on air at the
//! output rate, on the capture clock's frame grid. The video thread takes
//! its frames as it would a camera's (`VideoSource`) and hands the buffers
//! back; scene changes arrive on a channel and show on the next frame.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::compose::Compositor;
use super::spec::Scene;
use crate::capture::clock::CaptureClock;
use crate::capture::frames::VideoFrame;
use crate::capture::{CaptureError, VideoSource};

/// How the program goes from one scene to the next.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Transition {
    #[default]
    Cut,
    Fade(Duration),
}

impl Transition {
    /// A short fade, as a switcher's default.
    pub const FADE: Transition = Transition::Fade(Duration::from_millis(300));
}

enum Control {
    Show(Scene, Transition),
    Output { width: usize, height: usize, fps: u32 },
}

/// What the program is doing, for the status line and the GUI.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProgramStatus {
    pub scene: String,
    /// (layer, why) for each layer whose source has a problem.
    pub warnings: Vec<(String, String)>,
    /// Mean time to compose a frame over the last second.
    pub compose_ms: f64,
    /// Output frames not composed because composing fell behind the clock.
    pub late_frames: u64,
}

/// Sends scene changes to a running program; cheap to clone.
#[derive(Clone)]
pub struct ProgramControl {
    control: Sender<Control>,
    status: Arc<Mutex<ProgramStatus>>,
}

impl ProgramControl {
    pub fn show(&self, scene: Scene, transition: Transition) {
        let _ = self.control.send(Control::Show(scene, transition));
    }

    pub fn status(&self) -> ProgramStatus {
        self.status.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// The program as the video thread sees it.
pub struct ProgramSource {
    /// None once dropped, which ends the compositor's thread at its next frame.
    frames: Option<Receiver<VideoFrame>>,
    thread: Option<std::thread::JoinHandle<()>>,
    spent: Sender<Vec<u8>>,
    control: ProgramControl,
    size: (usize, usize),
    fps: u32,
}

impl ProgramSource {
    pub fn start(scene: Scene, width: usize, height: usize, fps: u32, clock: CaptureClock) -> Result<ProgramSource, CaptureError> {
        // One frame waits while the encoder works on the one before: composing
        // runs a frame ahead, never more (the clock, not the queue, sets the pace).
        let (frames_tx, frames) = mpsc::sync_channel(1);
        let (spent, spent_rx) = mpsc::channel();
        let (control_tx, control_rx) = mpsc::channel();
        let status = Arc::new(Mutex::new(ProgramStatus { scene: scene.name.clone(), ..ProgramStatus::default() }));
        let compositor = Compositor::new(width, height, fps, clock);
        let size = compositor.size();
        let for_thread = status.clone();
        let thread = std::thread::Builder::new()
            .name("compositor".into())
            .spawn(move || run(compositor, scene, clock, fps, frames_tx, spent_rx, control_rx, for_thread))
            .map_err(|error| CaptureError::Device(format!("compositor thread: {error}")))?;
        Ok(ProgramSource { frames: Some(frames), thread: Some(thread), spent, control: ProgramControl { control: control_tx, status }, size, fps })
    }

    pub fn control(&self) -> ProgramControl {
        self.control.clone()
    }
}

impl VideoSource for ProgramSource {
    fn next_frame(&mut self) -> Result<VideoFrame, CaptureError> {
        let stopped = || CaptureError::Device("the compositor stopped".into());
        self.frames.as_ref().ok_or_else(stopped)?.recv().map_err(|_| stopped())
    }

    fn set_output(&mut self, width: usize, height: usize, fps: u32) {
        (self.size, self.fps) = ((width.max(16) & !1, height.max(16) & !1), fps);
        let _ = self.control.control.send(Control::Output { width, height, fps });
    }

    fn size(&self) -> (usize, usize) {
        self.size
    }

    fn describe(&self) -> String {
        let status = self.control.status();
        format!("scene \"{}\" {}x{} at {} fps", status.scene, self.size.0, self.size.1, self.fps)
    }

    fn recycle(&mut self, frame: VideoFrame) {
        let _ = self.spent.send(frame.i420);
    }
}

impl Drop for ProgramSource {
    /// Waits for the compositor to finish the frame it is on: nothing of it
    /// (X11 shared memory, libswscale) may outlive the stream.
    fn drop(&mut self) {
        self.frames = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

struct Fade {
    from: Scene,
    started_micros: i64,
    length_micros: i64,
}

#[allow(clippy::too_many_arguments)]
fn run(
    mut compositor: Compositor,
    mut scene: Scene,
    clock: CaptureClock,
    mut fps: u32,
    frames: SyncSender<VideoFrame>,
    spent: Receiver<Vec<u8>>,
    control: Receiver<Control>,
    status: Arc<Mutex<ProgramStatus>>,
) {
    let mut fade: Option<Fade> = None;
    // Frame n of the current rate is due at base + n / fps.
    let (mut base_micros, mut index) = (clock.now().micros, 0i64);
    let mut last_micros = i64::MIN;
    let mut spent_buffers: Vec<Vec<u8>> = Vec::new();
    let mut compose_times: Vec<Duration> = Vec::new();
    let mut late_frames = 0u64;
    let mut last_report = Instant::now();
    loop {
        let due_micros = base_micros + index * 1_000_000 / i64::from(fps);
        // Commands are taken while waiting for the frame's time, so a cut shows on the very next frame.
        loop {
            let wait = clock.instant(due_micros).saturating_duration_since(Instant::now());
            match control.recv_timeout(wait) {
                Ok(Control::Show(next, transition)) => {
                    let previous = std::mem::replace(&mut scene, next);
                    fade = match transition {
                        Transition::Fade(length) if !length.is_zero() => {
                            Some(Fade { from: previous, started_micros: due_micros, length_micros: length.as_micros() as i64 })
                        }
                        _ => None,
                    };
                    tracing::info!("scene \"{}\" on air", scene.name);
                    status.lock().unwrap_or_else(|p| p.into_inner()).scene = scene.name.clone();
                }
                Ok(Control::Output { width, height, fps: new_fps }) => {
                    compositor.set_output(width, height, new_fps);
                    (base_micros, index, fps) = (due_micros, 0, new_fps.clamp(1, 240));
                }
                Err(RecvTimeoutError::Timeout) => break,
                // The source was dropped: the stream ended.
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
        let due_micros = base_micros + index * 1_000_000 / i64::from(fps);
        let now = clock.from_micros(due_micros);
        let started = Instant::now();
        spent_buffers.extend(spent.try_iter());
        let mut canvas = spent_buffers.pop().unwrap_or_default();
        let progress = fade.as_ref().map(|f| (due_micros - f.started_micros) as f32 / f.length_micros as f32);
        if progress.is_some_and(|p| p >= 1.0) {
            fade = None;
        }
        let fade_from = fade.as_ref().zip(progress).map(|(f, p)| (&f.from, p));
        let composed = compositor.compose(&scene, fade_from, now, &mut canvas);
        compose_times.push(started.elapsed());
        // The frame's time is its newest layer's capture (a camera's frame is
        // older than the tick that shows it), never earlier than the last frame's.
        let captured = composed.newest_capture.filter(|c| c.micros > last_micros && c.micros <= due_micros).unwrap_or(now);
        last_micros = captured.micros;
        let (width, height) = compositor.size();
        if frames.send(VideoFrame { width, height, i420: canvas, captured }).is_err() {
            return;
        }
        if last_report.elapsed() >= Duration::from_secs(1) {
            let mean = compose_times.iter().map(Duration::as_secs_f64).sum::<f64>() * 1000.0 / compose_times.len().max(1) as f64;
            let mut shown = status.lock().unwrap_or_else(|p| p.into_inner());
            (shown.warnings, shown.compose_ms, shown.late_frames) = (composed.warnings, mean, late_frames);
            compose_times.clear();
            last_report = Instant::now();
        }
        // Frames whose time passed while this one was made are not made at all.
        index += 1;
        let behind = (clock.now().micros - base_micros) * i64::from(fps) / 1_000_000;
        if behind > index {
            late_frames += (behind - index) as u64;
            index = behind;
        }
    }
}
