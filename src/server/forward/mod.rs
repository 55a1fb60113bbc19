//! Restream: each live stream's source rendition pushed as it arrives (no
//! re-encode) to the RTMP and SRT destinations `[[forward]]` names, through
//! the studio's own publish drivers: a queue, a drop policy and the
//! reconnect loop of its own per destination, so one that fails never
//! touches ingest, viewers or the other destinations.

use std::sync::Mutex;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::runtime::Handle;
use tokio::sync::watch;

use crate::capture::clock::CaptureClock;
use crate::engine::throughput::Throughput;
use crate::media::codec::CodecConfig;
use crate::media::frame::{EncodedFrame, TrackKind};
use crate::media::time::{TimeBase, Timestamp};
use crate::publish::fanout::Fanout;
use crate::publish::queue::{Outgoing, OutgoingKind};
use crate::publish::shared::{MediaDescription, PublishState};
use crate::publish::target::PublishTarget;
use crate::server::config::ForwardConfig;

/// Media a destination's queue holds before it drops.
const QUEUE_SPAN: Duration = Duration::from_secs(3);

/// One destination as `/api/streams` reports it.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ForwardReport {
    /// Its URL, stream key masked.
    pub url: String,
    /// `live`, `connecting`, `reconnecting (attempt N)`, or why it stopped.
    pub state: String,
    /// Why the last connection failed, while it reconnects or once it gave up.
    pub error: Option<String>,
    /// Sent over about the last second (or since the report before, when longer ago).
    pub kbps: f64,
    pub bytes_sent: u64,
    pub dropped_frames: u64,
}

/// A stream's destinations, fed with every frame its publishers send.
pub struct Forwards {
    fanout: Fanout,
    names: Vec<String>,
    clock: CaptureClock,
    continuity: Mutex<Continuity>,
    /// Each destination's sent-bitrate samples, taken as reports are made.
    rates: Mutex<Vec<Throughput>>,
    stop: watch::Sender<bool>,
}

impl Forwards {
    /// Starts a driver per destination that covers `key`; None when none does.
    /// A URL's `{key}` is the stream's key.
    pub fn start(key: &str, destinations: &[ForwardConfig], runtime: &Handle) -> Option<Forwards> {
        let targets: Vec<PublishTarget> = destinations
            .iter()
            .filter(|d| d.keys.is_empty() || d.keys.iter().any(|k| k == key))
            .filter_map(|d| match PublishTarget::parse(&d.url.replace("{key}", key)) {
                Ok(PublishTarget::File(_)) => None,
                Ok(target) => Some(target),
                Err(error) => {
                    tracing::error!(key, "forward skipped: {error}");
                    None
                }
            })
            .collect();
        if targets.is_empty() {
            return None;
        }
        let clock = CaptureClock::start();
        let fanout = Fanout::new(targets.len(), QUEUE_SPAN, clock);
        let (stop, stopped) = watch::channel(false);
        let names: Vec<String> = targets.iter().map(PublishTarget::display).collect();
        for (target, shared) in targets.into_iter().zip(fanout.targets().iter().cloned()) {
            let stop = stopped.clone();
            tracing::info!(key, "forwarding to {}", target.display());
            runtime.spawn(crate::publish::drive(target, shared, stop));
        }
        let rates = Mutex::new(names.iter().map(|_| Throughput::default()).collect());
        Some(Forwards { fanout, names, clock, continuity: Mutex::new(Continuity::default()), rates, stop })
    }

    /// A new publisher session: its clock starts over, the forwarded one goes on.
    pub fn begin_session(&self) {
        self.continuity().begin_session();
    }

    pub fn configure(&self, config: &CodecConfig) {
        if let CodecConfig::H264(h264) = config {
            let fps = h264.frame_rate.unwrap_or(30.0) as f32;
            self.fanout.set_media_description(MediaDescription { width: h264.width, height: h264.height, fps, video_kbps: 0, audio_kbps: 0 });
        }
        let at = self.continuity().last();
        self.fanout.push(Outgoing::config(config.clone(), at));
    }

    pub fn push(&self, frame: &EncodedFrame) {
        let (dts, pts) = self.continuity().place(frame.dts, frame.pts, frame.kind);
        let kind = match frame.kind {
            // Whether a frame is a reference is not known here: the drop policy drops to the next keyframe.
            TrackKind::Video => OutgoingKind::Video { keyframe: frame.keyframe, reference: true },
            TrackKind::Audio => OutgoingKind::Audio,
        };
        self.fanout.push(Outgoing { kind, dts, pts, data: frame.data.clone(), captured_micros: self.clock.now().micros });
    }

    /// The stream ended: every destination is told the stream is over.
    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }

    pub fn report(&self) -> Vec<ForwardReport> {
        let now = Instant::now();
        let mut rates = self.rates.lock().unwrap_or_else(|p| p.into_inner());
        self.fanout
            .targets()
            .iter()
            .zip(&self.names)
            .zip(rates.iter_mut())
            .map(|((target, url), rate)| {
                let state = target.state().0;
                let bytes_sent = target.bytes_sent.load(Ordering::Relaxed);
                let error = match &state {
                    PublishState::Reconnecting { last_error, .. } => Some(last_error.clone()),
                    PublishState::Failed(failure) => Some(failure.to_string()),
                    _ => None,
                };
                ForwardReport {
                    url: url.clone(),
                    state: state.to_string(),
                    error,
                    kbps: rate.sample(now, bytes_sent, 0).0,
                    bytes_sent,
                    dropped_frames: target.drops().total(),
                }
            })
            .collect()
    }

    fn continuity(&self) -> std::sync::MutexGuard<'_, Continuity> {
        self.continuity.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for Forwards {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Keeps the forwarded timestamps going forward across publisher
/// sessions, each of which starts its own clock: a session's first frame
/// lands a frame after the last one forwarded.
#[derive(Default)]
struct Continuity {
    offset: Option<Timestamp>,
    /// The latest decode time forwarded, in microseconds.
    last: Option<Timestamp>,
}

impl Continuity {
    fn begin_session(&mut self) {
        self.offset = None;
    }

    fn last(&self) -> Timestamp {
        self.last.unwrap_or(Timestamp::zero(TimeBase::MICROS))
    }

    fn place(&mut self, dts: Timestamp, pts: Timestamp, kind: TrackKind) -> (Timestamp, Timestamp) {
        let micros = |t: Timestamp| t.rescale(TimeBase::MICROS).unwrap_or(Timestamp::zero(TimeBase::MICROS));
        let (dts, pts) = (micros(dts), micros(pts));
        let step = Timestamp::new(if kind == TrackKind::Video { 33_333 } else { 21_333 }, TimeBase::MICROS);
        let offset = *self.offset.get_or_insert_with(|| match self.last {
            Some(last) => last.checked_add(step).and_then(|next| next.checked_sub(dts)).unwrap_or(Timestamp::zero(TimeBase::MICROS)),
            None => Timestamp::zero(TimeBase::MICROS),
        });
        let shift = |t: Timestamp| t.checked_add(offset).unwrap_or(t);
        let (dts, pts) = (shift(dts), shift(pts));
        self.last = Some(self.last.map_or(dts, |last| last.max(dts)));
        (dts, pts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_republish_continues_after_the_last_forwarded_frame() {
        let mut continuity = Continuity::default();
        let ms = |v| Timestamp::new(v, TimeBase::MILLIS);
        for n in 0..10 {
            let (dts, _) = continuity.place(ms(n * 33), ms(n * 33 + 66), TrackKind::Video);
            assert_eq!(dts.value, n * 33_000);
        }
        continuity.begin_session();
        let (dts, pts) = continuity.place(ms(0), ms(66), TrackKind::Video);
        assert_eq!((dts.value, pts.value), (9 * 33_000 + 33_333, 9 * 33_000 + 33_333 + 66_000), "one frame after the last, composition kept");
    }
}
