//! The ladder's own thread: decodes the source once, gives each picture its
//! timestamps back, hands it to every rung, builds the rungs for the
//! source's size (again when it changes, at a keyframe), and measures once a
//! second to shed a rung when the ladder cannot keep up.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::avcodec::H264Decoder;
use super::cpu::thread_cpu_time;
use super::picture::{Picture, PicturePool};
use super::plan::{RungPlan, plan};
use super::shed::ShedPolicy;
use super::timing::Retimer;
use super::worker::{Job, RungCounters, Worker};
use super::{Input, LadderStatus, RungSink, RungState, RungStatus, SourceFrame};
use crate::media::codec::H264Config;
use crate::media::h264::{append_annexb, avcc_parameter_sets, nal_units};
use crate::server::config::LadderConfig;

const MEASURE_EVERY: Duration = Duration::from_secs(1);

pub struct Decoder {
    key: String,
    config: LadderConfig,
    source: H264Config,
    sink: Arc<dyn RungSink>,
    status: Arc<Mutex<LadderStatus>>,
    workers: BTreeMap<usize, Worker>,
    /// Rungs shed or failed, with why; they stay out for the stream's life.
    retired: BTreeMap<usize, RungStatus>,
    /// The source size the rungs were planned for.
    planned_for: Option<(u32, u32)>,
    retimer: Retimer,
    pool: PicturePool,
    policy: ShedPolicy,
    /// CPU of rungs that are gone, so the ladder's total never goes back.
    retired_cpu: Duration,
    decode_errors: u64,
    needs_keyframe: bool,
    last_measure: Option<Instant>,
}

impl Decoder {
    pub fn new(key: &str, config: &LadderConfig, source: H264Config, sink: Arc<dyn RungSink>, status: Arc<Mutex<LadderStatus>>) -> Decoder {
        Decoder {
            key: key.to_string(),
            policy: ShedPolicy::new(config.max_cores, Duration::from_millis(u64::from(config.max_lag_ms))),
            config: config.clone(),
            source,
            sink,
            status,
            workers: BTreeMap::new(),
            retired: BTreeMap::new(),
            planned_for: None,
            retimer: Retimer::default(),
            pool: PicturePool::default(),
            retired_cpu: Duration::ZERO,
            decode_errors: 0,
            needs_keyframe: true,
            last_measure: None,
        }
    }

    pub fn run(mut self, input: &Receiver<Input>) {
        let mut decoder = match H264Decoder::new() {
            Ok(decoder) => decoder,
            Err(error) => {
                tracing::error!(key = %self.key, "the ladder cannot start its H.264 decoder: {error}; only the source rendition is offered");
                return;
            }
        };
        let mut next_measure = Instant::now() + MEASURE_EVERY;
        loop {
            match input.recv_timeout(MEASURE_EVERY) {
                Ok(Input::Config(source)) => self.source = source,
                Ok(Input::Frame(frame)) => self.decode(&mut decoder, frame),
                Err(RecvTimeoutError::Timeout) => {}
                // The publisher left: every queued frame is decoded and encoded,
                // then each rung closes its last segment where the source did.
                Err(RecvTimeoutError::Disconnected) => break,
            }
            let now = Instant::now();
            if now >= next_measure {
                next_measure = now + MEASURE_EVERY;
                self.measure(now);
            }
        }
        let mut pictures = Vec::new();
        if let Err(error) = decoder.flush(&mut self.pool, &mut pictures) {
            tracing::warn!(key = %self.key, "the ladder's decoder could not finish: {error}");
        }
        // The publisher has left: the pictures still in the decoder go to every rung.
        self.dispatch_all(pictures, true);
        for (index, worker) in std::mem::take(&mut self.workers) {
            worker.finish();
            self.sink.finish(index);
        }
    }

    fn decode(&mut self, decoder: &mut H264Decoder, frame: SourceFrame) {
        let size = (self.source.width, self.source.height);
        if frame.keyframe && self.planned_for != Some(size) {
            // A new size takes effect at a keyframe, as the source's own init segment does.
            self.rebuild(size);
        }
        if self.workers.is_empty() {
            // Nothing to feed (a small source, or every rung shed): no decoding either.
            self.needs_keyframe = true;
            return;
        }
        if self.needs_keyframe && !frame.keyframe {
            return;
        }
        self.needs_keyframe = false;
        let mut annexb = Vec::with_capacity(frame.data.len() + 64);
        if frame.keyframe {
            append_annexb(&mut annexb, avcc_parameter_sets(&self.source.avcc));
        }
        append_annexb(&mut annexb, nal_units(&frame.data, self.source.nal_length_size));
        self.retimer.input(frame.dts, frame.pts, frame.keyframe, frame.arrived);
        let mut pictures = Vec::new();
        if let Err(error) = decoder.decode(&annexb, &mut self.pool, &mut pictures) {
            self.decode_errors += 1;
            if self.decode_errors == 1 || self.decode_errors.is_multiple_of(100) {
                tracing::warn!(key = %self.key, errors = self.decode_errors, "the ladder could not decode a source frame ({error}); it resumes at the next keyframe");
            }
            decoder.reset();
            self.retimer.clear();
            self.needs_keyframe = true;
            return;
        }
        self.dispatch_all(pictures, false);
    }

    /// Hands decoded pictures on, each with its source timestamps; `draining`
    /// as in [`Worker::offer`].
    fn dispatch_all(&mut self, pictures: Vec<Picture>, draining: bool) {
        for picture in pictures {
            let Some(timing) = self.retimer.output() else { return };
            self.dispatch(picture, timing, draining);
        }
    }

    fn dispatch(&mut self, picture: Picture, timing: super::timing::FrameTiming, draining: bool) {
        let picture = Arc::new(picture);
        self.pool.lend(&picture);
        let mut gone = Vec::new();
        for (index, worker) in &mut self.workers {
            if !worker.offer(Job { picture: picture.clone(), timing }, draining) {
                gone.push(*index);
            }
        }
        for index in gone {
            self.retire(index, RungState::Failed, None);
        }
    }

    /// Plans the rungs for a source of `size` and starts them; rungs that no
    /// longer fit leave the playlists.
    fn rebuild(&mut self, size: (u32, u32)) {
        let fps = self.source.frame_rate.map_or(30, |rate| rate.round().clamp(1.0, 120.0) as u32);
        let plans: Vec<RungPlan> = plan(size.0, size.1, &self.config.rungs).into_iter().filter(|p| !self.retired.contains_key(&p.index)).collect();
        if self.planned_for.is_some() {
            tracing::info!(key = %self.key, "the source is now {}x{}: rebuilding the ladder", size.0, size.1);
        }
        for (_, worker) in std::mem::take(&mut self.workers) {
            self.stop(worker);
        }
        // Rungs of an earlier size (or an earlier publisher) that no longer fit leave the playlists.
        for index in 0..self.config.rungs.len() {
            if !plans.iter().any(|p| p.index == index) && !self.retired.contains_key(&index) {
                self.sink.remove(index);
            }
        }
        self.planned_for = Some(size);
        for plan in plans {
            let (name, width, height) = (plan.name.clone(), plan.width, plan.height);
            match Worker::spawn(&self.key, plan, fps, self.sink.clone()) {
                Ok(worker) => {
                    tracing::info!(key = %self.key, rung = %name, "ladder rung {width}x{height} started");
                    self.workers.insert(worker.plan.index, worker);
                }
                Err(error) => tracing::error!(key = %self.key, rung = %name, "cannot start a thread for the rung: {error}"),
            }
        }
        self.publish_status();
    }

    /// Takes a rung out of the ladder for good.
    fn retire(&mut self, index: usize, state: RungState, reason: Option<String>) {
        let Some(worker) = self.workers.remove(&index) else { return };
        let mut status = rung_status(&worker);
        let counters = self.stop(worker);
        status.state = state;
        status.reason = reason.or_else(|| counters.error.lock().ok().and_then(|e| e.clone()));
        self.retired.insert(index, status);
        self.sink.remove(index);
        self.publish_status();
    }

    /// Ends a rung's thread after its last frames are out, so none of them can
    /// arrive after the rung has left the playlists or been rebuilt, and keeps
    /// the CPU it used in the ladder's total.
    fn stop(&mut self, worker: Worker) -> Arc<RungCounters> {
        let counters = worker.counters.clone();
        worker.finish();
        self.retired_cpu += Duration::from_nanos(counters.cpu_nanos.load(Ordering::Relaxed));
        counters
    }

    fn measure(&mut self, now: Instant) {
        let mut cpu = thread_cpu_time() + self.retired_cpu;
        let mut worst_lag = Duration::ZERO;
        let wall = self.last_measure.replace(now).map_or(0.0, |then| now.duration_since(then).as_secs_f64());
        for worker in self.workers.values_mut() {
            let nanos = worker.counters.cpu_nanos.load(Ordering::Relaxed);
            if wall > 0.0 {
                worker.cores = nanos.saturating_sub(worker.measured_cpu_nanos) as f64 / 1e9 / wall;
            }
            worker.measured_cpu_nanos = nanos;
            cpu += Duration::from_nanos(nanos);
            worst_lag = worst_lag.max(Duration::from_micros(worker.counters.worst_lag_micros.swap(0, Ordering::Relaxed)));
        }
        if let Some(reason) = self.policy.observe(now, cpu, worst_lag) {
            // The largest rung costs the most, and the source serves its viewers best.
            if let Some(&largest) = self.workers.keys().next() {
                let name = self.workers[&largest].plan.name.clone();
                tracing::warn!(key = %self.key, rung = %name, "shedding ladder rung {name}: {reason}");
                self.retire(largest, RungState::Shed, Some(reason.to_string()));
            }
        }
        self.publish_status();
    }

    fn publish_status(&self) {
        let cores = self.policy.cores;
        let mut rungs: Vec<RungStatus> = self.workers.values().map(rung_status).collect();
        rungs.extend(self.retired.values().cloned());
        rungs.sort_by_key(|r| std::cmp::Reverse(r.height));
        if let Ok(mut status) = self.status.lock() {
            status.cores = cores;
            status.decode_errors = self.decode_errors;
            status.rungs = rungs;
        }
    }
}

fn rung_status(worker: &Worker) -> RungStatus {
    let counters = &worker.counters;
    RungStatus {
        name: worker.plan.name.clone(),
        width: worker.plan.width,
        height: worker.plan.height,
        bitrate_kbps: worker.plan.bitrate_kbps,
        state: RungState::Running,
        frames: counters.frames.load(Ordering::Relaxed),
        frames_dropped: counters.dropped.load(Ordering::Relaxed),
        lag_ms: counters.last_lag_micros.load(Ordering::Relaxed) as f64 / 1000.0,
        cores: worker.cores,
        reason: None,
    }
}
