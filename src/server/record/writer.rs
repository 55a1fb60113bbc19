//! The recordings' one writer thread: files land in the order they were
//! made (a segment before the playlist that lists it), a write that fails
//! stops only its recording, and disk use stays under the limit.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};

use super::catalog::{self, RecordingEntry, RecordingState};
use crate::server::config::RecordConfig;
use crate::server::package::cmaf::pieces::Pieces;

/// Where one recording is written; `failed` once a write failed.
pub struct Target {
    pub directory: PathBuf,
    pub key: String,
    pub failed: AtomicBool,
}

struct Job {
    target: Arc<Target>,
    relative: String,
    data: Pieces,
    /// A segment or init (counted against the limit), not a playlist rewritten in place.
    media: bool,
}

pub struct Recorder {
    root: PathBuf,
    jobs: mpsc::Sender<Job>,
    /// Recordings being written: never deleted to make room.
    active: Arc<Mutex<HashSet<PathBuf>>>,
}

impl Recorder {
    /// Starts the writer when `record.directory` is set; an error names a
    /// directory that cannot be made or written.
    pub fn start(config: &RecordConfig) -> std::io::Result<Option<Arc<Recorder>>> {
        let Some(root) = config.directory.clone() else { return Ok(None) };
        std::fs::create_dir_all(&root)?;
        let probe = root.join(".onair-write-test");
        std::fs::write(&probe, b"")?;
        std::fs::remove_file(&probe)?;
        let (jobs, queue) = mpsc::channel();
        let active = Arc::new(Mutex::new(HashSet::new()));
        let limit = config.max_megabytes.map(|mb| mb.saturating_mul(1_000_000));
        let writer = Writer { root: root.clone(), limit, active: active.clone(), used: catalog::size_of(&root), warned_full: false };
        std::thread::Builder::new().name("onair-record".into()).spawn(move || writer.run(queue))?;
        Ok(Some(Arc::new(Recorder { root, jobs, active })))
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Every recording on disk, newest first.
    pub fn list(&self) -> Vec<RecordingEntry> {
        catalog::list(&self.root, &self.active())
    }

    fn active(&self) -> std::sync::MutexGuard<'_, HashSet<PathBuf>> {
        self.active.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new recording of `key` in `KEY/ID/`, where ID is the first free of `id`, `id-2`, `id-3`…
    pub fn begin(&self, key: &str, id: &str) -> (Arc<Target>, String) {
        let mut active = self.active();
        let mut chosen = id.to_string();
        for n in 2.. {
            let directory = self.root.join(key).join(&chosen);
            if !directory.exists() && !active.contains(&directory) {
                break;
            }
            chosen = format!("{id}-{n}");
        }
        let directory = self.root.join(key).join(&chosen);
        active.insert(directory.clone());
        (Arc::new(Target { directory, key: key.to_string(), failed: AtomicBool::new(false) }), chosen)
    }

    /// The recording is complete (or abandoned): it may be deleted to make room.
    pub fn end(&self, target: &Target) {
        self.active().remove(&target.directory);
    }

    /// Queues a file of the recording; files are written in the order queued.
    pub fn write(&self, target: &Arc<Target>, relative: String, data: Pieces, media: bool) {
        if target.failed.load(Ordering::Relaxed) {
            return;
        }
        // The writer lives as long as the process.
        let _ = self.jobs.send(Job { target: target.clone(), relative, data, media });
    }
}

struct Writer {
    root: PathBuf,
    limit: Option<u64>,
    active: Arc<Mutex<HashSet<PathBuf>>>,
    used: u64,
    warned_full: bool,
}

impl Writer {
    fn run(mut self, queue: mpsc::Receiver<Job>) {
        while let Ok(job) = queue.recv() {
            if job.target.failed.load(Ordering::Relaxed) {
                continue;
            }
            let path = job.target.directory.join(&job.relative);
            match job.data.write_to(&path) {
                Ok(()) if job.media => {
                    self.used += job.data.len() as u64;
                    self.stay_under_limit();
                }
                Ok(()) => {}
                Err(error) => {
                    job.target.failed.store(true, Ordering::Relaxed);
                    tracing::error!(key = job.target.key, "recording stopped: cannot write {}: {error}; the stream goes on", path.display());
                }
            }
        }
    }

    /// Deletes the oldest recordings no stream is writing until the disk
    /// they use fits the limit.
    fn stay_under_limit(&mut self) {
        let Some(limit) = self.limit.filter(|&limit| self.used > limit) else { return };
        let active = self.active.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let mut finished: Vec<_> = catalog::list(&self.root, &active).into_iter().filter(|e| e.state != RecordingState::Recording).collect();
        while self.used > limit {
            let Some(oldest) = finished.pop() else {
                if !self.warned_full {
                    self.warned_full = true;
                    tracing::warn!(
                        "recordings being written use {} MB, over record.max_megabytes ({} MB); nothing finished is left to delete",
                        self.used / 1_000_000,
                        limit / 1_000_000
                    );
                }
                return;
            };
            match std::fs::remove_dir_all(&oldest.directory) {
                Ok(()) => tracing::info!(key = oldest.key, id = oldest.id, "recording deleted to stay under record.max_megabytes ({} MB)", limit / 1_000_000),
                Err(error) => tracing::warn!("cannot delete recording {}: {error}", oldest.directory.display()),
            }
            self.used = catalog::size_of(&self.root);
        }
        self.warned_full = false;
    }
}
