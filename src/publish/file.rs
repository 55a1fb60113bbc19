//! The recording target: the same encoded frames the other targets get
//! (no second encode), from a queue of its own, written to a fragmented
//! MP4 as they come. A thread of its own does the writing and syncs each
//! fragment to disk, so a slow disk never stalls the network targets, and a
//! kill or a power cut leaves a file that plays up to its last second. A
//! clean stop makes it seekable; a write that fails (a full disk) stops
//! the recording with its reason while the stream goes on.

use std::io::{Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::watch;

use super::mp4_file::Mp4Recording;
use super::queue::OutgoingKind;
use super::shared::{PublishFailure, PublishShared, PublishState, RecordingFailure};
use super::target::FileTarget;
use crate::media::codec::CodecConfig;

/// How long a recording waits for the audio encoder's configuration once video's is known.
const AUDIO_CONFIG_WAIT: Duration = Duration::from_secs(2);

enum FileWrite {
    Append(Vec<Bytes>),
    /// The header over the first bytes, then done.
    Finish(Bytes),
}

/// The file's own thread; the first write error it met, if any.
struct Writer {
    jobs: mpsc::Sender<FileWrite>,
    error: Arc<Mutex<Option<RecordingFailure>>>,
    thread: std::thread::JoinHandle<()>,
}

impl Writer {
    fn create(path: &Path) -> std::io::Result<Writer> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        let mut file = std::fs::File::create(path)?;
        let (jobs, queue) = mpsc::channel::<FileWrite>();
        let error = Arc::new(Mutex::new(None));
        let (written, failed) = (path.to_path_buf(), error.clone());
        let thread = std::thread::Builder::new().name("recording".into()).spawn(move || {
            // The end of the last whole fragment: a write that fails is cut back to it.
            let mut whole = 0u64;
            let mut write = |job: FileWrite| -> std::io::Result<bool> {
                match job {
                    FileWrite::Append(pieces) => {
                        let appended = (|| {
                            for piece in &pieces {
                                file.write_all(piece)?;
                            }
                            file.sync_data()
                        })();
                        if let Err(error) = appended {
                            // A full disk leaves the file as it was after its last fragment, which plays.
                            let _ = file.set_len(whole).and_then(|()| file.sync_data());
                            return Err(error);
                        }
                        whole += pieces.iter().map(|p| p.len() as u64).sum::<u64>();
                        Ok(true)
                    }
                    FileWrite::Finish(header) => {
                        file.seek(SeekFrom::Start(0))?;
                        file.write_all(&header)?;
                        file.sync_all()?;
                        Ok(false)
                    }
                }
            };
            while let Ok(job) = queue.recv() {
                match write(job) {
                    Ok(true) => {}
                    Ok(false) => return,
                    Err(error) => {
                        *failed.lock().unwrap_or_else(|p| p.into_inner()) = Some(RecordingFailure::of_write(&written, &error));
                        return;
                    }
                }
            }
        })?;
        Ok(Writer { jobs, error, thread })
    }

    fn write(&self, pieces: Vec<Bytes>) {
        if !pieces.is_empty() {
            let _ = self.jobs.send(FileWrite::Append(pieces));
        }
    }

    fn error(&self) -> Option<RecordingFailure> {
        self.error.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Writes the header over the first one and waits for the file to be on disk.
    async fn finish(self, header: Bytes) -> Option<RecordingFailure> {
        let _ = self.jobs.send(FileWrite::Finish(header));
        let Writer { thread, error, .. } = self;
        let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        error.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

pub async fn run(target: FileTarget, shared: Arc<PublishShared>, mut stop: watch::Receiver<bool>) {
    let failed = |reason: RecordingFailure| PublishState::Failed(PublishFailure::Recording(reason));
    shared.set_state(PublishState::Connecting);
    let writer = match Writer::create(&target.path) {
        Ok(writer) => writer,
        Err(error) => return shared.set_state(failed(RecordingFailure::of_create(&target.path, &error))),
    };
    // The tracks are what the encoders' configurations say.
    let (mut video, mut audio) = (None, None);
    let mut video_seen_at = None;
    loop {
        for item in shared.resync() {
            match item.kind {
                OutgoingKind::Config(CodecConfig::H264(h264)) => video = Some(h264),
                OutgoingKind::Config(CodecConfig::Aac(aac)) => audio = Some(aac),
                _ => {}
            }
        }
        if video.is_some() && video_seen_at.is_none() {
            video_seen_at = Some(tokio::time::Instant::now());
        }
        if video.is_some() && (audio.is_some() || video_seen_at.is_some_and(|at| at.elapsed() >= AUDIO_CONFIG_WAIT)) {
            break;
        }
        tokio::select! {
            _ = shared.wait_for_media() => {}
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            _ = stop.changed() => return shared.set_state(PublishState::Stopped),
        }
    }
    let (mut recording, header) = Mp4Recording::new(video, audio);
    shared.count_sent(header.len());
    writer.write(vec![header]);
    shared.set_state(PublishState::Live);
    tracing::info!("recording to {}", target.path.display());
    loop {
        while let Some(item) = shared.pop() {
            let pieces = recording.push(&item);
            shared.count_sent(pieces.iter().map(Bytes::len).sum());
            writer.write(pieces);
            if matches!(item.kind, OutgoingKind::Video { .. }) {
                shared.count_video_frame(item.captured_micros);
            }
        }
        if let Some(reason) = writer.error() {
            tracing::error!("the recording stopped (the stream goes on): {reason}");
            return shared.set_state(failed(reason));
        }
        tokio::select! {
            _ = shared.wait_for_media() => {}
            _ = stop.changed() => break,
        }
    }
    while let Some(item) = shared.pop() {
        writer.write(recording.push(&item));
    }
    let (tail, header) = recording.finish();
    writer.write(tail);
    match writer.finish(header).await {
        Some(reason) => shared.set_state(failed(reason)),
        None => {
            tracing::info!("recording saved to {}", target.path.display());
            shared.set_state(PublishState::Stopped);
        }
    }
}
