//! Publishing: one encode fanned out to each target's bounded queue of
//! encoded frames, and a driver per target that serialises them for its
//! protocol at the edge (FLV over RTMP, TS over SRT, RTP over WebRTC to a
//! WHIP endpoint, fragmented MP4 for a recording) and reconnects.

pub mod fanout;
pub mod file;
pub mod http_request;
pub mod mp4_file;
pub mod queue;
pub mod reconnect;
pub mod rtmp;
pub mod session;
pub mod shared;
pub mod srt;
pub mod target;
pub mod tls;
pub mod whip;

/// Runs the driver for `target` until it is stopped or gives up; its state says which.
pub async fn drive(target: target::PublishTarget, shared: std::sync::Arc<shared::PublishShared>, stop: tokio::sync::watch::Receiver<bool>) {
    match target {
        target::PublishTarget::Rtmp(target) => rtmp::run(target, shared, stop).await,
        target::PublishTarget::Srt(target) => srt::run(target, shared, stop).await,
        target::PublishTarget::Whip(target) => whip::run(target, shared, stop).await,
        target::PublishTarget::File(target) => file::run(target, shared, stop).await,
    }
}
