//! The WHIP publishing driver (RFC 9725): an SDP offer POSTed to the
//! endpoint with the bearer token, the answer's session run by str0m over a
//! UDP socket of its own (full ICE, DTLS, SRTP, NACK), and a DELETE of the
//! session's `Location` when it ends. Video is the encode as it is (Annex B,
//! parameter sets before keyframes); sound is the AAC made Opus. The
//! receiver's feedback (TWCC) sets the bandwidth estimate, and the video
//! bitrate follows it under the knob's; a keyframe request reaches the encoder.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use str0m::bwe::{Bitrate, BweKind};
use str0m::change::SdpAnswer;
use str0m::format::Codec;
use str0m::media::{Direction, Frequency, MediaKind, MediaTime, Mid, Pt};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc};
use tokio::net::UdpSocket;
use tokio::sync::watch;

use super::http_request::{self, HttpResponse};
use super::queue::{Outgoing, OutgoingKind};
use super::session::{Failure, resolve, run_with_reconnect};
use super::shared::{LinkStats, PublishShared, PublishState};
use super::target::WhipTarget;
use crate::encode::aac_to_opus::{AacToOpus, RATE};
use crate::media::codec::{AacConfig, CodecConfig};
use crate::media::frame::{EncodedFrame, TrackKind};
use crate::media::h264::{append_annexb, avcc_parameter_sets, nal_units};
use crate::media::time::{TimeBase, Timestamp};
use crate::media::wallclock::MediaAnchor;

/// ICE and DTLS must be up by then, or the attempt failed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const DATAGRAM: usize = 2048;
/// Of the estimate, what video may take: the rest is sound, headers and
/// retransmissions.
const VIDEO_SHARE: f64 = 0.85;
/// How often each track's sender report goes out.
const SENDER_REPORTS: Duration = Duration::from_millis(250);
/// How long the offer waits for the sound's configuration after the picture's.
const SOUND_WAIT: Duration = Duration::from_secs(3);
/// Opus sound as the studio sends it over WebRTC.
const OPUS_KBPS: u64 = 128;
const OPUS_BASE: TimeBase = match TimeBase::new(RATE) {
    Some(base) => base,
    None => TimeBase::MICROS,
};

pub async fn run(target: WhipTarget, shared: Arc<PublishShared>, stop: watch::Receiver<bool>) {
    let label = target.display();
    let for_session = shared.clone();
    let host = format!("{}:{}", target.url.host, target.url.port);
    run_with_reconnect(label, host, shared.clone(), stop, async move |stop: &mut watch::Receiver<bool>| {
        let outcome = publish_once(&target, &for_session, stop).await;
        for_session.limit_video_kbps(None);
        outcome
    })
    .await;
}

/// The stream's codecs, as the offer and the writers need them.
struct Codecs {
    /// SPS and PPS in Annex B, put before every keyframe.
    parameter_sets: Vec<u8>,
    nal_length_size: u8,
    aac: Option<AacConfig>,
}

impl Codecs {
    fn learn(&mut self, item: &Outgoing) {
        match &item.kind {
            OutgoingKind::Config(CodecConfig::H264(h264)) => {
                self.parameter_sets.clear();
                append_annexb(&mut self.parameter_sets, avcc_parameter_sets(&h264.avcc));
                self.nal_length_size = h264.nal_length_size;
            }
            OutgoingKind::Config(CodecConfig::Aac(aac)) => self.aac = Some(aac.clone()),
            _ => {}
        }
    }
}

/// The encoders' configurations, once the video's has come and the
/// sound's, when the encode has sound (the offer fixes the tracks), or
/// SOUND_WAIT after the video's; None if stopped first.
async fn wait_for_codecs(shared: &PublishShared, stop: &mut watch::Receiver<bool>) -> Option<Codecs> {
    let mut codecs = Codecs { parameter_sets: Vec::new(), nal_length_size: 4, aac: None };
    let mut video_since = None;
    loop {
        for header in shared.resync() {
            codecs.learn(&header);
        }
        if !codecs.parameter_sets.is_empty() {
            let since = *video_since.get_or_insert_with(Instant::now);
            if codecs.aac.is_some() || !shared.sound_coming() {
                return Some(codecs);
            }
            if since.elapsed() >= SOUND_WAIT {
                tracing::warn!("the sound's encoder has not started {} s after the picture's; going live over WebRTC without sound", SOUND_WAIT.as_secs());
                return Some(codecs);
            }
        }
        tokio::select! {
            _ = shared.wait_for_media() => {}
            _ = stop.changed() => return None,
        }
    }
}

/// A UDP socket on the address this machine reaches `server` from: the one
/// host candidate the offer carries.
fn local_socket(server: SocketAddr) -> Result<(UdpSocket, SocketAddr), Failure> {
    let transient = |error: std::io::Error| Failure::Transient { reason: format!("no UDP socket for WebRTC: {error}"), was_live: false };
    let wildcard: SocketAddr = if server.is_ipv4() { ([0, 0, 0, 0], 0).into() } else { (std::net::Ipv6Addr::UNSPECIFIED, 0).into() };
    let probe = std::net::UdpSocket::bind(wildcard).map_err(transient)?;
    probe.connect(server).map_err(transient)?;
    let ip = probe.local_addr().map_err(transient)?.ip();
    let socket = std::net::UdpSocket::bind(SocketAddr::new(ip, 0)).map_err(transient)?;
    socket.set_nonblocking(true).map_err(transient)?;
    let local = socket.local_addr().map_err(transient)?;
    Ok((UdpSocket::from_std(socket).map_err(transient)?, local))
}

async fn publish_once(target: &WhipTarget, shared: &PublishShared, stop: &mut watch::Receiver<bool>) -> Result<(), Failure> {
    let transient = |reason: String| Failure::Transient { reason, was_live: false };
    let Some(mut codecs) = wait_for_codecs(shared, stop).await else { return Ok(()) };
    let server = resolve(&target.url.host, target.url.port).await?;
    let (socket, local) = local_socket(server)?;
    let ceiling_kbps = u64::from(shared.media_description().video_kbps.max(1));
    // What the path must carry for the knob's video: from there the estimate
    // only takes the bitrate down when the network says so.
    let wanted = Bitrate::kbps(((ceiling_kbps + OPUS_KBPS) as f64 / VIDEO_SHARE).ceil() as u64);
    let mut rtc = Rtc::builder()
        .clear_codecs()
        .enable_h264(true)
        .enable_opus(true)
        .enable_bwe(Some(wanted))
        .set_stats_interval(Some(Duration::from_secs(1)))
        // Sender reports put the receiver's tracks in sync: the first ones
        // come early (a few hundred bytes a second), so the sound is in place
        // within the stream's first second.
        .set_rtcp_report_interval_audio(SENDER_REPORTS)
        .set_rtcp_report_interval_video(SENDER_REPORTS)
        .build(Instant::now());
    let candidate = Candidate::host(local, "udp").map_err(|e| transient(format!("the candidate {local} is refused: {e}")))?;
    rtc.add_local_candidate(candidate);
    rtc.bwe().set_desired_bitrate(wanted);
    let mut changes = rtc.sdp_api();
    let video = changes.add_media(MediaKind::Video, Direction::SendOnly, None, None, None);
    let audio = codecs.aac.is_some().then(|| changes.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None));
    let Some((offer, pending)) = changes.apply() else { return Err(transient("no offer could be made".into())) };

    let authorization = target.token.as_ref().map(|token| format!("Bearer {token}"));
    let mut headers = vec![("Content-Type", "application/sdp")];
    if let Some(value) = &authorization {
        headers.push(("Authorization", value.as_str()));
    }
    let response = http_request::request(&target.url, "POST", &headers, offer.to_sdp_string().as_bytes()).await?;
    check_offer_answered(&response)?;
    let answer = std::str::from_utf8(&response.body)
        .map_err(|e| e.to_string())
        .and_then(|sdp| SdpAnswer::from_sdp_string(sdp).map_err(|e| e.to_string()))
        .map_err(|error| Failure::Refused(format!("the WHIP endpoint's answer is not SDP: {error}")))?;
    rtc.sdp_api().accept_answer(pending, answer).map_err(|error| Failure::Refused(format!("the WHIP endpoint's answer cannot be used: {error}")))?;
    let resource = response.header("location").map(|location| target.url.join(location));
    if resource.is_none() {
        tracing::warn!(target = %target.display(), "the WHIP answer has no Location: the session cannot be ended with a DELETE");
    }

    let mut session = Session::new(rtc, socket, local, video, audio, ceiling_kbps, codecs.aac.take());
    let outcome = session.run(shared, stop, &mut codecs).await;
    if let Some(resource) = resource {
        // Best effort: the endpoint also ends a session whose peer is gone.
        let headers: Vec<(&str, &str)> = authorization.as_deref().map(|value| ("Authorization", value)).into_iter().collect();
        if let Err(Failure::Transient { reason, .. }) = http_request::request(&resource, "DELETE", &headers, &[]).await {
            tracing::debug!(target = %target.display(), "the WHIP session's DELETE failed: {reason}");
        }
    }
    outcome
}

/// A refusal in words that say what to do: a bad token, a key in use, an
/// offer the endpoint cannot take. A server error is worth another try.
fn check_offer_answered(response: &HttpResponse) -> Result<(), Failure> {
    let reason = response.reason();
    match response.status {
        200 | 201 => Ok(()),
        401 | 403 => Err(Failure::Refused(format!("the bearer token was not accepted (HTTP {}): {reason}; check ?token= in the WHIP URL", response.status))),
        404 => Err(Failure::Refused(format!("no WHIP endpoint at that URL (HTTP 404): {reason}"))),
        400..=499 => Err(Failure::Refused(format!("HTTP {}: {reason}", response.status))),
        status => Err(Failure::Transient { reason: format!("the WHIP endpoint failed (HTTP {status}): {reason}"), was_live: false }),
    }
}

/// One WebRTC session: the str0m state, its socket, and how media is written.
struct Session {
    rtc: Rtc,
    socket: UdpSocket,
    local: SocketAddr,
    video: Mid,
    audio: Option<Mid>,
    video_pt: Option<Pt>,
    audio_pt: Option<Pt>,
    transcoder: Option<AacToOpus>,
    aac: Option<AacConfig>,
    anchor: MediaAnchor,
    connected: bool,
    /// Video is written from a keyframe on.
    joined: bool,
    ceiling_kbps: u64,
    started: Instant,
    /// Set when the session ended on its own, with why.
    ended: Option<Failure>,
}

impl Session {
    fn new(rtc: Rtc, socket: UdpSocket, local: SocketAddr, video: Mid, audio: Option<Mid>, ceiling_kbps: u64, aac: Option<AacConfig>) -> Session {
        Session {
            rtc,
            socket,
            local,
            video,
            audio,
            video_pt: None,
            audio_pt: None,
            transcoder: None,
            aac,
            anchor: MediaAnchor::default(),
            connected: false,
            joined: false,
            ceiling_kbps,
            started: Instant::now(),
            ended: None,
        }
    }

    async fn run(&mut self, shared: &PublishShared, stop: &mut watch::Receiver<bool>, codecs: &mut Codecs) -> Result<(), Failure> {
        let mut buffer = vec![0u8; DATAGRAM];
        loop {
            let timeout = self.drive(shared);
            if let Some(failure) = self.ended.take() {
                return Err(failure);
            }
            if !self.connected && self.started.elapsed() > CONNECT_TIMEOUT {
                return Err(Failure::Transient {
                    reason: format!("no WebRTC connection within {} s: UDP to the endpoint's candidates may be blocked", CONNECT_TIMEOUT.as_secs()),
                    was_live: false,
                });
            }
            let deadline = timeout.min(Instant::now() + Duration::from_secs(1));
            tokio::select! {
                received = self.socket.recv_from(&mut buffer) => {
                    if let Ok((length, source)) = received
                        && let Ok(receive) = Receive::new(Protocol::Udp, source, self.local, &buffer[..length])
                        && let Err(error) = self.rtc.handle_input(Input::Receive(Instant::now(), receive))
                    {
                        return Err(self.lost(format!("the WebRTC session failed: {error}")));
                    }
                }
                () = tokio::time::sleep_until(deadline.into()) => {
                    if let Err(error) = self.rtc.handle_input(Input::Timeout(Instant::now())) {
                        return Err(self.lost(format!("the WebRTC session failed: {error}")));
                    }
                }
                _ = shared.wait_for_media(), if self.connected => {
                    while let Some(item) = shared.pop() {
                        codecs.learn(&item);
                        self.write(&item, codecs, shared)?;
                    }
                }
                _ = stop.changed() => {
                    self.rtc.disconnect();
                    return Ok(());
                }
            }
        }
    }

    fn lost(&self, reason: String) -> Failure {
        Failure::Transient { reason, was_live: self.connected }
    }

    /// Sends what str0m has to send and takes its events; returns when it next wants time.
    fn drive(&mut self, shared: &PublishShared) -> Instant {
        loop {
            match self.rtc.poll_output() {
                Ok(Output::Timeout(at)) => return at,
                Ok(Output::Transmit(transmit)) => {
                    // A full send buffer drops the datagram, as the network may; NACK repairs it.
                    if self.socket.try_send_to(&transmit.contents, transmit.destination).is_ok() {
                        shared.count_sent(transmit.contents.len());
                    }
                }
                Ok(Output::Event(event)) => self.event(event, shared),
                Err(error) => {
                    self.ended = Some(self.lost(format!("the WebRTC session failed: {error}")));
                    return Instant::now() + Duration::from_secs(1);
                }
            }
        }
    }

    fn event(&mut self, event: Event, shared: &PublishShared) {
        match event {
            Event::Connected => {
                self.connected = true;
                let pt =
                    |rtc: &mut Rtc, mid: Mid, codec: Codec| rtc.writer(mid).and_then(|w| w.payload_params().find(|p| p.spec().codec == codec).map(|p| p.pt()));
                self.video_pt = pt(&mut self.rtc, self.video, Codec::H264);
                self.audio_pt = self.audio.and_then(|mid| pt(&mut self.rtc, mid, Codec::Opus));
                tracing::info!("live over WebRTC (WHIP)");
                shared.set_state(PublishState::Live);
                shared.resync();
                shared.request_keyframe();
            }
            Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                self.ended = Some(self.lost("the WHIP endpoint stopped answering (ICE disconnected)".into()));
            }
            Event::KeyframeRequest(_) => shared.request_keyframe(),
            Event::EgressBitrateEstimate(BweKind::Twcc(estimate) | BweKind::Remb(_, estimate)) => {
                let video = (estimate.as_u64() as f64 * VIDEO_SHARE / 1000.0).round() as u64;
                let video = video.saturating_sub(OPUS_KBPS);
                let limit = (video < self.ceiling_kbps).then_some(video as u32);
                if limit != shared.video_limit_kbps() {
                    tracing::debug!(estimate_kbps = estimate.as_u64() / 1000, ?limit, "WebRTC bandwidth estimate");
                }
                shared.limit_video_kbps(limit);
            }
            Event::MediaEgressStats(stats) if stats.mid == self.video => {
                let rtt_ms = stats.rtt.map_or(0.0, |rtt| rtt.as_secs_f64() * 1000.0);
                let loss_percent = stats.loss.map_or(0.0, |loss| f64::from(loss) * 100.0);
                shared.set_link_stats(LinkStats { rtt_ms, loss_percent });
            }
            _ => {}
        }
    }

    /// Writes one encoded frame: video from a keyframe on, sound as Opus.
    fn write(&mut self, item: &Outgoing, codecs: &Codecs, shared: &PublishShared) -> Result<(), Failure> {
        // The sender reports pair RTP times with wall times, which str0m wants
        // in the past: the first frame's capture instant places the timeline
        // (the studio's media time is its capture clock).
        self.anchor.place(item.pts, shared.capture_instant(item.captured_micros));
        match &item.kind {
            OutgoingKind::Config(CodecConfig::Aac(aac)) => {
                self.aac = Some(aac.clone());
                self.transcoder = None;
            }
            OutgoingKind::Config(_) => {}
            OutgoingKind::Video { keyframe, .. } => {
                if item.pts != item.dts {
                    return Err(Failure::Refused("the stream has B-frames, which WebRTC cannot carry; encode without them".into()));
                }
                if !self.joined && !keyframe {
                    return Ok(());
                }
                let (Some(pt), Ok(time)) = (self.video_pt, item.pts.rescale(TimeBase::MPEG_90K)) else { return Ok(()) };
                let mut data = Vec::with_capacity(item.data.len() + codecs.parameter_sets.len() + 16);
                if *keyframe {
                    data.extend_from_slice(&codecs.parameter_sets);
                }
                append_annexb(&mut data, nal_units(&item.data, codecs.nal_length_size));
                let wallclock = self.anchor.instant(item.pts);
                let Some(writer) = self.rtc.writer(self.video) else { return Ok(()) };
                match writer.write(pt, wallclock, MediaTime::new(time.value.max(0) as u64, Frequency::NINETY_KHZ), data) {
                    Ok(()) => {
                        self.joined = true;
                        shared.count_video_frame(item.captured_micros);
                    }
                    Err(error) => tracing::debug!("WebRTC video write refused: {error}"),
                }
            }
            OutgoingKind::Audio => {
                let (Some(mid), Some(pt)) = (self.audio, self.audio_pt) else { return Ok(()) };
                if self.transcoder.is_none() {
                    let Some(config) = &self.aac else { return Ok(()) };
                    match AacToOpus::new(config) {
                        Ok(transcoder) => self.transcoder = Some(transcoder),
                        Err(error) => {
                            tracing::warn!("no sound over WebRTC: {error}");
                            self.aac = None;
                            return Ok(());
                        }
                    }
                }
                let Some(transcoder) = self.transcoder.as_mut() else { return Ok(()) };
                let frame = EncodedFrame { kind: TrackKind::Audio, dts: item.dts, pts: item.pts, keyframe: true, data: item.data.clone() };
                for packet in transcoder.push(&frame) {
                    if packet.time < 0 {
                        continue;
                    }
                    let wallclock = self.anchor.instant(Timestamp::new(packet.time, OPUS_BASE));
                    let Some(writer) = self.rtc.writer(mid) else { return Ok(()) };
                    if let Err(error) = writer.write(pt, wallclock, MediaTime::new(packet.time as u64, Frequency::FORTY_EIGHT_KHZ), packet.data) {
                        tracing::debug!("WebRTC audio write refused: {error}");
                    }
                }
            }
        }
        Ok(())
    }
}
