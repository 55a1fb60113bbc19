//! The broadcaster pipeline: capture -> encode -> publish.
//!
//! Capture and encoding run on their own OS threads, the network on a
//! small tokio runtime; they meet at the bounded outgoing queue. Callers
//! send `Command`s and read `Status` snapshots; they never own a codec, a
//! socket or a device.

pub mod audio;
pub mod cpu;
pub mod status;
pub mod targets;
pub mod throughput;
pub mod video;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use self::status::{Status, TargetStatus};
use self::targets::{Driver, Targets};
use self::throughput::Throughput;
use crate::capture::camera::{CameraSource, find_camera};
use crate::capture::clock::CaptureClock;
use crate::capture::frames::AudioLevel;
use crate::capture::microphone::Microphone;
use crate::capture::pattern::TestPattern;
use crate::capture::tone::TestTone;
use crate::capture::{AudioSource, CaptureError, VideoSource};
use crate::encode::quality::QualityKnob;
use crate::mixer::{InputSettings, InputSpec, Mixer, MixerControl};
use crate::publish::fanout::Fanout;
use crate::publish::shared::{PublishFailure, PublishState};
use crate::publish::target::PublishTarget;
use crate::scene::{ProgramControl, ProgramSource, Scene, Transition};

#[derive(Clone, Debug, PartialEq)]
pub enum VideoChoice {
    TestPattern,
    /// A camera by index or name; None for the first one.
    Camera(Option<String>),
    /// A composed scene, drawn by the program's compositor.
    Scene(Scene),
}

#[derive(Clone, Debug, PartialEq)]
pub enum AudioChoice {
    TestTone,
    Microphone(Option<String>),
    /// Several inputs mixed, each with its gain, mute, suppression and gate.
    Mix(Vec<InputSpec>),
    None,
}

#[derive(Clone, Debug)]
pub struct EngineConfig {
    pub video: VideoChoice,
    pub audio: AudioChoice,
    /// Where the one encode goes; each target has its own queue and state.
    /// The status line reports the first one live.
    pub targets: Vec<PublishTarget>,
    pub knob: QualityKnob,
    pub keyframe_interval_secs: u32,
    /// Media each target's outgoing queue may hold before it drops.
    pub queue_span: Duration,
}

impl EngineConfig {
    /// One target, the default in the app and the CLI.
    pub fn new(video: VideoChoice, audio: AudioChoice, target: PublishTarget, knob: QualityKnob) -> EngineConfig {
        EngineConfig::to_all(video, audio, vec![target], knob)
    }

    /// Every target in `targets` fed from the one encode.
    pub fn to_all(video: VideoChoice, audio: AudioChoice, targets: Vec<PublishTarget>, knob: QualityKnob) -> EngineConfig {
        EngineConfig { video, audio, targets, knob, keyframe_interval_secs: 2, queue_span: Duration::from_secs(3) }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    SetQuality(QualityKnob),
    /// Starts one more target from the same encode (a platform, a recording).
    StartTarget(PublishTarget),
    /// Stops target N (in the order started) alone; the others stay live.
    StopTarget(usize),
    /// Puts a scene on air (when the picture is a scene).
    ShowScene(Scene, Transition),
    /// Changes mixer input N's settings (when the sound is a mix).
    SetInput(usize, InputSettings),
    Stop,
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Capture(#[from] CaptureError),
    #[error("cannot start the engine: {0}")]
    Start(String),
}

/// State the engine's threads share.
pub struct EngineShared {
    pub publish: Fanout,
    pub targets: Targets,
    knob: Mutex<QualityKnob>,
    knob_generation: AtomicU64,
    /// Video encoders created: one at the start, one per applied knob change.
    encoders_started: AtomicU64,
    stopping: AtomicBool,
    encode_times: Mutex<VecDeque<Duration>>,
    audio_level: Mutex<AudioLevel>,
    failure: Mutex<Option<String>>,
    /// A small RGBA copy of the newest captured frame, for the GUI's source preview.
    preview: Mutex<Option<Arc<Preview>>>,
    /// Set when the preview is read: the capture loop makes a new one only then, so a
    /// run with no window (the CLI) spends nothing on it.
    preview_wanted: AtomicBool,
    /// The compositor, when the picture is a scene.
    program: Option<ProgramControl>,
    /// The mixer, when the sound is a mix.
    mixer: Option<MixerControl>,
}

/// A downscaled RGBA picture of what is being captured.
#[derive(Clone, Debug)]
pub struct Preview {
    pub width: usize,
    pub height: usize,
    pub rgba: Vec<u8>,
    pub captured_micros: i64,
}

impl EngineShared {
    pub fn knob(&self) -> QualityKnob {
        *self.knob.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    fn record_encode_time(&self, took: Duration) {
        let mut times = self.encode_times.lock().unwrap_or_else(|p| p.into_inner());
        if times.len() == 60 {
            times.pop_front();
        }
        times.push_back(took);
    }

    fn mean_encode_ms(&self) -> f64 {
        let times = self.encode_times.lock().unwrap_or_else(|p| p.into_inner());
        if times.is_empty() {
            return 0.0;
        }
        times.iter().map(Duration::as_secs_f64).sum::<f64>() * 1000.0 / times.len() as f64
    }

    /// Makes a preview of `frame` if one was asked for since the last.
    pub fn offer_preview(&self, frame: &crate::capture::frames::VideoFrame) {
        if self.preview_wanted.swap(false, Ordering::AcqRel) {
            *self.preview.lock().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(video::preview_of(frame)));
        }
    }

    fn set_audio_level(&self, level: AudioLevel) {
        *self.audio_level.lock().unwrap_or_else(|p| p.into_inner()) = level;
    }
}

/// An audio source (None for no audio) and, for a mix, its mixer's control.
type OpenedAudio = (Option<Box<dyn AudioSource>>, Option<MixerControl>);

/// The audio source a choice names.
fn open_audio(choice: &AudioChoice, clock: CaptureClock) -> Result<OpenedAudio, CaptureError> {
    Ok(match choice {
        AudioChoice::TestTone => (Some(Box::new(TestTone::new(clock))), None),
        AudioChoice::Microphone(selector) => {
            let microphone = Microphone::open(selector.as_deref(), clock).map_err(|error| match error {
                CaptureError::Device(reason) => {
                    CaptureError::Device(format!("{reason}; the test tone (--audio tone) or no audio (--audio none) work without one"))
                }
                other => other,
            })?;
            (Some(Box::new(microphone)), None)
        }
        AudioChoice::Mix(inputs) => {
            let mixer = Mixer::open(inputs, clock);
            let control = mixer.control();
            (Some(Box::new(mixer)), Some(control))
        }
        AudioChoice::None => (None, None),
    })
}

/// A capture or encoder failure ends the stream with its reason.
fn log_failure(shared: &EngineShared, reason: &str) {
    tracing::error!("{reason}");
    shared.failure.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert_with(|| reason.to_string());
    shared.stopping.store(true, Ordering::SeqCst);
}

pub struct Engine {
    shared: Arc<EngineShared>,
    commands: mpsc::Sender<Command>,
    status: watch::Receiver<Status>,
    threads: Vec<JoinHandle<()>>,
}

impl Engine {
    /// Opens the sources and starts publishing. A missing device is an error
    /// that names the synthetic alternative, never a hang.
    pub fn start(config: EngineConfig) -> Result<Engine, EngineError> {
        if config.targets.is_empty() {
            // Nothing would report a state, so nothing would ever stop the capture.
            return Err(EngineError::Start("no publish target was given".into()));
        }
        let clock = CaptureClock::start();
        let (driver_tx, mut driver_rx) = tokio::sync::mpsc::unbounded_channel::<Driver>();
        let (width, height) = config.knob.size();
        let preset = config.knob.preset();
        let mut program = None;
        let video: Box<dyn VideoSource> = match &config.video {
            VideoChoice::TestPattern => Box::new(TestPattern::new(width, height, preset.fps, clock)),
            VideoChoice::Scene(scene) => {
                let source = ProgramSource::start(scene.clone(), width, height, preset.fps, clock)?;
                program = Some(source.control());
                Box::new(source)
            }
            VideoChoice::Camera(selector) => {
                let index = find_camera(selector.as_deref())?;
                Box::new(CameraSource::open(index, width, height, preset.fps, clock)?)
            }
        };
        let (audio, mixer) = open_audio(&config.audio, clock)?;
        let shared = Arc::new(EngineShared {
            publish: Fanout::new(0, config.queue_span, clock),
            targets: Targets::new(driver_tx),
            knob: Mutex::new(config.knob),
            knob_generation: AtomicU64::new(0),
            encoders_started: AtomicU64::new(0),
            stopping: AtomicBool::new(false),
            encode_times: Mutex::new(VecDeque::new()),
            audio_level: Mutex::new(AudioLevel::SILENT),
            failure: Mutex::new(None),
            preview: Mutex::new(None),
            preview_wanted: AtomicBool::new(true),
            program,
            mixer,
        });
        let video_source = video.describe();
        let audio_source = audio.as_ref().map_or_else(|| "none".to_string(), |a| a.describe());
        let (status_tx, status) = watch::channel(Status { video_source: video_source.clone(), audio_source: audio_source.clone(), ..Status::idle() });
        let (commands, command_rx) = mpsc::channel();
        let spawn = |name: &str, work: Box<dyn FnOnce() + Send>| {
            std::thread::Builder::new().name(name.into()).spawn(work).map_err(|e| EngineError::Start(format!("{name} thread: {e}")))
        };
        let mut threads = Vec::new();
        let keyframe = config.keyframe_interval_secs;
        let for_video = shared.clone();
        threads.push(spawn("video", Box::new(move || video::run(video, for_video, keyframe)))?);
        if let Some(audio) = audio {
            shared.publish.expect_sound();
            let for_audio = shared.clone();
            let kbps = preset.audio_kbps;
            threads.push(spawn("audio", Box::new(move || audio::run(audio, for_audio, kbps)))?);
        }
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| EngineError::Start(e.to_string()))?;
        for target in config.targets.iter().cloned() {
            shared.targets.start(&shared.publish, target);
        }
        threads.push(spawn(
            "publish",
            Box::new(move || {
                runtime.block_on(async move {
                    // Drivers come as targets start, until the engine stops; then the running ones finish.
                    let mut running = tokio::task::JoinSet::new();
                    loop {
                        tokio::select! {
                            driver = driver_rx.recv() => match driver {
                                Some(driver) => { running.spawn(driver.run()); }
                                None => break,
                            },
                            Some(_) = running.join_next(), if !running.is_empty() => {}
                        }
                    }
                    while running.join_next().await.is_some() {}
                })
            }),
        )?);
        let for_control = shared.clone();
        threads.push(spawn("control", Box::new(move || control_loop(command_rx, for_control, status_tx, video_source, audio_source)))?);
        Ok(Engine { shared, commands, status, threads })
    }

    /// The newest source preview, if one was captured yet.
    pub fn preview(&self) -> Option<Arc<Preview>> {
        self.shared.preview_wanted.store(true, Ordering::Release);
        self.shared.preview.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn send(&self, command: Command) {
        let _ = self.commands.send(command);
    }

    pub fn status(&self) -> Status {
        self.status.borrow().clone()
    }

    pub fn subscribe(&self) -> watch::Receiver<Status> {
        self.status.clone()
    }

    /// Stops (if not stopped already) and waits for every thread.
    pub fn shutdown(self) -> Status {
        self.send(Command::Stop);
        let status = self.status.clone();
        for thread in self.threads {
            let _ = thread.join();
        }

        status.borrow().clone()
    }
}

fn control_loop(commands: mpsc::Receiver<Command>, shared: Arc<EngineShared>, status: watch::Sender<Status>, video_source: String, audio_source: String) {
    let mut throughput: Vec<Throughput> = Vec::new();
    let mut stopped_all = false;
    loop {
        match commands.recv_timeout(Duration::from_millis(250)) {
            Ok(Command::SetQuality(knob)) => {
                *shared.knob.lock().unwrap_or_else(|p| p.into_inner()) = knob;
                shared.knob_generation.fetch_add(1, Ordering::SeqCst);
            }
            Ok(Command::StartTarget(target)) => {
                shared.targets.start(&shared.publish, target);
            }
            Ok(Command::StopTarget(index)) => shared.targets.stop(index),
            Ok(Command::ShowScene(scene, transition)) => match &shared.program {
                Some(program) => program.show(scene, transition),
                None => tracing::warn!("scene \"{}\" not shown: the picture is not a scene", scene.name),
            },
            Ok(Command::SetInput(index, settings)) => match &shared.mixer {
                Some(mixer) => mixer.set(index, settings),
                None => tracing::warn!("mixer input {index} not changed: the sound is not a mix"),
            },
            Ok(Command::Stop) | Err(mpsc::RecvTimeoutError::Disconnected) => shared.stopping.store(true, Ordering::SeqCst),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        if shared.stopping() && !stopped_all {
            stopped_all = true;
            shared.targets.stop_all();
        }
        let now = Instant::now();
        let listed = shared.targets.list();
        throughput.resize_with(listed.len(), Throughput::default);
        let targets: Vec<TargetReading> = listed
            .iter()
            .zip(&mut throughput)
            .map(|((name, target), throughput)| {
                let (state, live_since) = target.state();
                let frames = target.video_frames_sent.load(Ordering::Relaxed);
                let (sent_kbps, fps) = throughput.sample(now, target.bytes_sent.load(Ordering::Relaxed), frames);
                let drops = target.drops();
                let offered = frames + drops.video_frames;
                let reported = TargetStatus {
                    name: name.clone(),
                    state,
                    sent_kbps,
                    fps,
                    dropped_frames: drops.total(),
                    dropped_percent: if offered > 0 { 100.0 * drops.video_frames as f64 / offered as f64 } else { 0.0 },
                    queue_span: target.queue_span(),
                    link: target.link_stats(),
                    uptime: live_since.map_or(Duration::ZERO, |since| now.duration_since(since)),
                };
                (reported, live_since, target.latency_ms())
            })
            .collect();
        // A target that ended is no longer fed.
        for (_, target) in listed.iter().filter(|(_, t)| t.state().0.is_over()) {
            shared.publish.remove(target);
        }
        // The line's numbers are those of the first target live (else the first still trying, else the first).
        let lead =
            targets.iter().position(|(t, _, _)| t.state == PublishState::Live).or_else(|| targets.iter().position(|(t, _, _)| !t.state.is_over())).unwrap_or(0);
        let (Some((_, primary)), Some((first, _, latency_ms))) = (listed.get(lead), targets.get(lead).cloned()) else { return };
        // The stream went live when its first target did.
        let live_since = targets.iter().filter_map(|(_, since, _)| *since).min();
        let states: Vec<&PublishState> = targets.iter().map(|(t, _, _)| &t.state).collect();
        let mut state = combined_state(&states);
        // Every target's network side ended (failed, or stopped): capture ends too.
        let finished = state.is_over();
        if finished {
            shared.stopping.store(true, Ordering::SeqCst);
            if let Some(reason) = shared.failure.lock().unwrap_or_else(|p| p.into_inner()).clone() {
                state = PublishState::Failed(PublishFailure::Capture(reason));
            }
        }
        let knob = shared.knob();
        let (width, height) = knob.size();
        let mut snapshot = Status {
            state,
            sent_kbps: first.sent_kbps,
            fps: first.fps,
            dropped_frames: first.dropped_frames,
            dropped_percent: first.dropped_percent,
            queue_depth: primary.queue_depth(),
            queue_span: first.queue_span,
            encode_ms: shared.mean_encode_ms(),
            encoders_started: shared.encoders_started.load(Ordering::SeqCst),
            cpu_percent: cpu::process_cpu_percent(),
            uptime: live_since.map_or(Duration::ZERO, |since| now.duration_since(since)),
            width,
            height,
            target_kbps: knob.video_kbps(),
            audio_level: *shared.audio_level.lock().unwrap_or_else(|p| p.into_inner()),
            latency_ms,
            link: first.link,
            video_source: video_source.clone(),
            audio_source: audio_source.clone(),
            targets: targets.into_iter().map(|(t, _, _)| t).collect(),
            program: shared.program.as_ref().map(ProgramControl::status),
            mixer: shared.mixer.as_ref().map(MixerControl::status),
        };
        if finished {
            // What was live is over: no rate, queue or level lingers. The
            // publish runtime ends once no more drivers can come.
            shared.targets.stop_all();
            snapshot.end_live_numbers();
            status.send_replace(snapshot);
            return;
        }
        status.send_replace(snapshot);
    }
}

/// A target's status, when it first went live, and its capture-to-send latency (p50, p99).
type TargetReading = (TargetStatus, Option<Instant>, Option<(f64, f64)>);

/// The stream's state across its targets: live while any target is, else
/// the first one still trying, else how the first one ended.
fn combined_state(states: &[&PublishState]) -> PublishState {
    let live = states.iter().find(|s| ***s == PublishState::Live);
    let trying = states.iter().find(|s| !s.is_over());
    live.or(trying).or(states.first()).map_or(PublishState::Idle, |s| (*s).clone())
}
