//! One rung on its own thread: scale the decoded picture, encode it with a
//! keyframe wherever the source had one (and where a WebRTC viewer asked
//! for one), and hand the frame to the stream.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use super::RungSink;
use super::cpu::thread_cpu_time;
use super::picture::Picture;
use super::plan::RungPlan;
use super::timing::FrameTiming;
use crate::capture::clock::CaptureTime;
use crate::capture::frames::VideoFrame;
use crate::encode::h264::H264Encoder;
use crate::media::codec::CodecConfig;
use crate::media::scale::{PixelFormat, Scaler};
use crate::media::wallclock::UnixMillis;
use crate::server::package::cmaf::rung::RungFrame;

/// Pictures a rung may have waiting; more means it cannot keep up and frames are dropped.
const QUEUE: usize = 4;

pub struct Job {
    pub picture: Arc<Picture>,
    pub timing: FrameTiming,
}

/// What a rung's thread reports, read by the ladder's measurements and the API.
#[derive(Default)]
pub struct RungCounters {
    pub frames: AtomicU64,
    /// Pictures dropped because the rung's queue was full.
    pub dropped: AtomicU64,
    pub cpu_nanos: AtomicU64,
    /// Largest source-arrival-to-encoded delay since the ladder last measured.
    pub worst_lag_micros: AtomicU64,
    pub last_lag_micros: AtomicU64,
    pub error: Mutex<Option<String>>,
}

pub struct Worker {
    pub plan: RungPlan,
    jobs: SyncSender<Job>,
    pub counters: Arc<RungCounters>,
    /// Until the rung has been given a keyframe, other pictures are no use to it.
    pub started: bool,
    /// Cores it used over the ladder's last measurement.
    pub cores: f64,
    pub measured_cpu_nanos: u64,
    thread: JoinHandle<()>,
}

impl Worker {
    pub fn spawn(key: &str, plan: RungPlan, fps: u32, sink: Arc<dyn RungSink>) -> std::io::Result<Worker> {
        let (jobs, receiver) = sync_channel(QUEUE);
        let counters = Arc::new(RungCounters::default());
        let thread = std::thread::Builder::new().name(format!("rung-{}", plan.name)).spawn({
            let (plan, counters, key) = (plan.clone(), counters.clone(), key.to_string());
            move || run(&key, &plan, fps, &receiver, sink.as_ref(), &counters)
        })?;
        Ok(Worker { plan, jobs, counters, started: false, cores: 0.0, measured_cpu_nanos: 0, thread })
    }

    /// Lets the rung encode what it was given, then waits for its thread to end.
    pub fn finish(self) {
        drop(self.jobs);
        if self.thread.join().is_err() {
            tracing::error!(rung = %self.plan.name, "a ladder rung's thread panicked");
        }
    }

    /// Hands a picture over: a full queue drops it for this rung only,
    /// unless it is a keyframe or `draining` (the publisher has left, so
    /// nothing is waiting on the ladder and every last frame should go out).
    pub fn offer(&mut self, job: Job, draining: bool) -> bool {
        if !self.started && !job.timing.keyframe {
            return true;
        }
        if job.timing.keyframe || draining {
            // Never dropped: without a keyframe the rung could not start the
            // segment there. The ladder's thread waits for room instead; a
            // rung that slow falls behind and is shed.
            let sent = self.jobs.send(job).is_ok();
            self.started |= sent;
            return sent;
        }
        match self.jobs.try_send(job) {
            Ok(()) => {
                self.started = true;
                true
            }
            Err(TrySendError::Full(_)) => {
                self.counters.dropped.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(TrySendError::Disconnected(_)) => false,
        }
    }
}

fn run(key: &str, plan: &RungPlan, fps: u32, jobs: &Receiver<Job>, sink: &dyn RungSink, counters: &RungCounters) {
    let fail = |message: String| {
        tracing::error!(key, rung = %plan.name, "{message}");
        if let Ok(mut error) = counters.error.lock() {
            *error = Some(message);
        }
    };
    let (width, height) = (plan.width as usize, plan.height as usize);
    let mut encoder = match H264Encoder::for_ladder(width, height, fps, plan.bitrate_kbps) {
        Ok(encoder) => encoder,
        Err(error) => return fail(format!("rung {} cannot start: {error}", plan.name)),
    };
    let mut scaler = Scaler::new(width, height, PixelFormat::I420);
    let mut frame = VideoFrame { width, height, i420: Vec::new(), captured: CaptureTime { micros: 0, wall: UnixMillis(0) } };
    for job in jobs {
        if let Err(error) = scaler.scale(&job.picture.planes(), &mut frame.i420) {
            return fail(format!("rung {}: {error}", plan.name));
        }
        if job.timing.keyframe || sink.keyframe_wanted(plan.index) {
            encoder.force_keyframe();
        }
        match encoder.encode(&frame) {
            Ok(Some(encoded)) => {
                if let Some(config) = encoded.config {
                    sink.configure(plan.index, &plan.name, CodecConfig::H264(config));
                }
                let timing = job.timing;
                sink.push(plan.index, RungFrame { dts: timing.dts, pts: timing.pts, keyframe: encoded.keyframe, data: encoded.data });
                let lag = timing.arrived.elapsed().as_micros() as u64;
                counters.frames.fetch_add(1, Ordering::Relaxed);
                counters.last_lag_micros.store(lag, Ordering::Relaxed);
                counters.worst_lag_micros.fetch_max(lag, Ordering::Relaxed);
            }
            Ok(None) => {
                counters.dropped.fetch_add(1, Ordering::Relaxed);
            }
            Err(error) => return fail(format!("rung {}: {error}", plan.name)),
        }
        counters.cpu_nanos.store(thread_cpu_time().as_nanos() as u64, Ordering::Relaxed);
    }
}
