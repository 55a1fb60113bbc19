//! One WebRTC peer: its str0m `Rtc` (ICE, DTLS, SRTP, RTCP) and what it is
//! for: a viewer (the media lines it receives on, whether it has had its
//! first keyframe) or a WHIP publisher (its media into the hub).

use std::sync::Arc;
use std::time::{Duration, Instant};

use str0m::format::Codec;
use str0m::media::{Frequency, KeyframeRequestKind};
use str0m::media::{MediaKind, MediaTime, Mid, Pt};
use str0m::net::Transmit;
use str0m::rtp::{RtpWrite, SeqNo};
use str0m::{Event, IceConnectionState, Input, Output, Rtc};

use super::feed::{RtcMedia, RtcPayload, Watching};
use super::ingest::{SenderClock, Wanted, WhipIngest};
use crate::server::metrics::Metrics;

/// A viewer whose ICE and DTLS are not up by then is given up on: a
/// browser that never sends a check would otherwise be kept for ever.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// What a viewer's transport reported, summed over its life.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct PeerCounts {
    pub bytes_sent: u64,
    pub nacks: u64,
    pub plis: u64,
    pub firs: u64,
    pub packets_lost: u64,
}

impl PeerCounts {
    pub fn add(&mut self, other: &PeerCounts) {
        self.bytes_sent += other.bytes_sent;
        self.nacks += other.nacks;
        self.plis += other.plis;
        self.firs += other.firs;
        self.packets_lost += other.packets_lost;
    }
}

/// What a peer is for.
pub enum Role {
    /// Watches a stream; the count of its viewers drops with it.
    Viewer(Watching),
    /// Publishes a stream over WHIP.
    Publisher(Box<WhipIngest>),
}

impl Role {
    pub fn noun(&self) -> &'static str {
        match self {
            Role::Viewer(_) => "viewer",
            Role::Publisher(_) => "publisher",
        }
    }
}

pub struct Peer {
    pub id: u64,
    pub key: Arc<str>,
    rtc: Rtc,
    video: Option<Mid>,
    audio: Option<Mid>,
    video_pt: Option<Pt>,
    audio_pt: Option<Pt>,
    connected: bool,
    /// Video is sent from a keyframe on: before it a decoder has nothing to start from.
    joined: bool,
    /// The next video packet's number: video is written as RTP, cut once per stream.
    video_seq: SeqNo,
    created: Instant,
    pub timeout: Instant,
    pub counts: PeerCounts,
    /// Counts reported so far, per media line: RTCP's are totals.
    reported: [PeerCounts; 2],
    metrics: Arc<Metrics>,
    role: Role,
}

impl Peer {
    pub fn new(id: u64, key: Arc<str>, rtc: Rtc, role: Role, metrics: Arc<Metrics>, now: Instant) -> Peer {
        Peer {
            id,
            key,
            rtc,
            video: None,
            audio: None,
            video_pt: None,
            audio_pt: None,
            connected: false,
            joined: false,
            video_seq: SeqNo::default(),
            created: now,
            timeout: now,
            counts: PeerCounts::default(),
            reported: [PeerCounts::default(); 2],
            metrics,
            role,
        }
    }

    pub fn accepts(&self, input: &Input) -> bool {
        self.rtc.accepts(input)
    }

    pub fn role(&self) -> &Role {
        &self.role
    }

    pub fn is_alive(&self) -> bool {
        self.rtc.is_alive()
    }

    pub fn handle(&mut self, input: Input) {
        if let Err(error) = self.rtc.handle_input(input) {
            tracing::info!(key = %self.key, peer = self.id, "WebRTC {} dropped: {error}", self.role.noun());
            self.rtc.disconnect();
        }
    }

    /// Ends the session at once, as a WHEP or WHIP DELETE asks; the peer is
    /// forgotten on the endpoint's next turn.
    pub fn close(&mut self) {
        self.rtc.disconnect();
    }

    /// Writes one frame or packet; video waits for a keyframe.
    pub fn send(&mut self, media: &RtcMedia) {
        if !self.connected || matches!(self.role, Role::Publisher(_)) {
            return;
        }
        match &media.payload {
            RtcPayload::Video(packets) => {
                if !self.joined && !media.keyframe {
                    return;
                }
                let (Some(mid), Some(pt)) = (self.video, self.video_pt) else { return };
                let mut api = self.rtc.direct_api();
                let Some(stream) = api.stream_tx_by_mid(mid, None) else { return };
                // The RTP clock is 90 kHz; its timestamps wrap at 32 bits.
                let time = media.time.value as u32;
                let last = packets.len().saturating_sub(1);
                for (i, payload) in packets.iter().enumerate() {
                    let seq_no = self.video_seq.inc();
                    stream.write_rtp(RtpWrite::new(pt, seq_no, time, media.wallclock, payload.clone()).marker(i == last).nackable(true));
                }
                self.joined = true;
            }
            RtcPayload::Audio(packet) => {
                let (Some(mid), Some(pt)) = (self.audio, self.audio_pt) else { return };
                let Some(writer) = self.rtc.writer(mid) else { return };
                let Some(frequency) = Frequency::new(media.time.base.ticks_per_second()) else { return };
                let time = MediaTime::new(media.time.value.max(0) as u64, frequency);
                if let Err(error) = writer.write(pt, media.wallclock, time, packet.clone()) {
                    tracing::debug!(key = %self.key, peer = self.id, "WebRTC write refused: {error}");
                }
            }
        }
    }

    /// Runs the session until it next needs time to pass: sends what it has
    /// to send, takes its events, and notes when it wants to be woken.
    pub fn drive(&mut self, send: &mut impl FnMut(&Transmit), now: Instant) {
        if !self.connected && now.duration_since(self.created) > CONNECT_TIMEOUT {
            tracing::info!(key = %self.key, peer = self.id, "WebRTC {} gave up: no connection within {CONNECT_TIMEOUT:?}", self.role.noun());
            self.rtc.disconnect();
        }
        loop {
            match self.rtc.poll_output() {
                Ok(Output::Timeout(at)) => {
                    self.timeout = at;
                    return;
                }
                Ok(Output::Transmit(transmit)) => send(&transmit),
                Ok(Output::Event(event)) => self.event(event),
                Err(error) => {
                    tracing::info!(key = %self.key, peer = self.id, "WebRTC {} dropped: {error}", self.role.noun());
                    self.rtc.disconnect();
                    self.timeout = now + Duration::from_secs(3600);
                    return;
                }
            }
        }
    }

    /// RTCP's counts are totals: what media line `mid` adds since its last report.
    fn reported(&mut self, mid: Mid, totals: &PeerCounts) -> PeerCounts {
        let reported = &mut self.reported[usize::from(Some(mid) == self.audio)];
        let delta = |now: u64, before: &mut u64| {
            let d = now.saturating_sub(*before);
            *before = now.max(*before);
            d
        };
        let new = PeerCounts {
            bytes_sent: delta(totals.bytes_sent, &mut reported.bytes_sent),
            nacks: delta(totals.nacks, &mut reported.nacks),
            plis: delta(totals.plis, &mut reported.plis),
            firs: delta(totals.firs, &mut reported.firs),
            packets_lost: delta(totals.packets_lost, &mut reported.packets_lost),
        };
        self.counts.add(&new);
        new
    }

    /// A viewer's keyframe wish goes to its stream's feed.
    fn want_keyframe(&self) {
        if let Role::Viewer(watching) = &self.role {
            watching.feed().request_keyframe(Instant::now());
        }
    }

    fn event(&mut self, event: Event) {
        match event {
            Event::Connected => {
                tracing::info!(key = %self.key, peer = self.id, "WebRTC {} connected", self.role.noun());
                self.connected = true;
                // A new viewer starts at a keyframe: sooner, when its video is a rung that can make one.
                self.want_keyframe();
            }
            Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                tracing::info!(key = %self.key, peer = self.id, "WebRTC {} left", self.role.noun());
                self.rtc.disconnect();
            }
            Event::MediaAdded(added) => {
                let codec = if added.kind == MediaKind::Video { Codec::H264 } else { Codec::Opus };
                let pt = self.rtc.writer(added.mid).and_then(|w| w.payload_params().find(|p| p.spec().codec == codec).map(|p| p.pt()));
                match added.kind {
                    MediaKind::Video => (self.video, self.video_pt) = (Some(added.mid), pt),
                    MediaKind::Audio => (self.audio, self.audio_pt) = (Some(added.mid), pt),
                }
            }
            Event::MediaData(data) => {
                let Role::Publisher(ingest) = &mut self.role else { return };
                let rate = if data.params.spec().codec == Codec::H264 { Frequency::NINETY_KHZ } else { Frequency::FORTY_EIGHT_KHZ };
                let sender = data.last_sender_info.map(|info| SenderClock { wall: info.ntp_time, rtp: info.rtp_time.rebase(rate).numer() as u32 });
                let rtp = data.time.rebase(rate).numer() as i64;
                let wanted = match data.params.spec().codec {
                    Codec::H264 => ingest.video(&data.data, rtp, data.contiguous, data.network_time, sender),
                    Codec::Opus => ingest.audio(&data.data, rtp, data.network_time, sender),
                    _ => Wanted::Nothing,
                };
                match wanted {
                    Wanted::Nothing => {}
                    Wanted::Keyframe => {
                        let asked = self.rtc.writer(data.mid).map(|mut w| w.request_keyframe(None, KeyframeRequestKind::Pli));
                        if let Some(Err(error)) = asked {
                            tracing::debug!(key = %self.key, peer = self.id, "cannot ask the WebRTC publisher for a keyframe: {error}");
                        }
                    }
                    Wanted::Close(refused) => {
                        tracing::info!(key = %self.key, peer = self.id, "WebRTC publisher closed: {refused}");
                        self.rtc.disconnect();
                    }
                }
            }
            // A viewer that lost its picture (PLI, FIR; counted from the
            // reports below): a rung makes a keyframe; the source's come when
            // its publisher makes them, within a GOP.
            Event::KeyframeRequest(_) => self.want_keyframe(),
            Event::MediaEgressStats(stats) => {
                let lost = stats.remote.map_or(0, |r| r.packets_lost);
                let totals = PeerCounts { bytes_sent: stats.bytes, nacks: stats.nacks, plis: stats.plis, firs: stats.firs, packets_lost: lost };
                let new = self.reported(stats.mid, &totals);
                self.metrics.add_webrtc(&new);
                if let Role::Viewer(watching) = &self.role {
                    watching.feed().count(&new, Instant::now());
                }
            }
            // A publisher's: what the server asked it to resend or refresh.
            Event::MediaIngressStats(stats) => {
                let totals = PeerCounts { bytes_sent: 0, nacks: stats.nacks, plis: stats.plis, firs: stats.firs, packets_lost: 0 };
                let new = self.reported(stats.mid, &totals);
                self.metrics.add_whip(&new);
            }
            _ => {}
        }
    }
}
