//! A capture the window runs on a thread of its own before Go Live (the
//! source preview, the level meter): the newest value it made, why it
//! stopped if it did, and a stop that waits for it when dropped.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

pub struct Background<T> {
    latest: Arc<Mutex<T>>,
    error: Arc<Mutex<Option<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl<T: Clone + Send + 'static> Background<T> {
    /// Runs `work` with a way to publish values and the stop flag; the error it returns is kept.
    pub fn spawn(name: &str, initial: T, work: impl FnOnce(&dyn Fn(T), &AtomicBool) -> Result<(), String> + Send + 'static) -> Background<T> {
        let latest = Arc::new(Mutex::new(initial));
        let error = Arc::new(Mutex::new(None));
        let stop = Arc::new(AtomicBool::new(false));
        let (values, errors, stopping) = (latest.clone(), error.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                let publish = |value: T| *values.lock().unwrap_or_else(|p| p.into_inner()) = value;
                if let Err(message) = work(&publish, &stopping) {
                    *errors.lock().unwrap_or_else(|p| p.into_inner()) = Some(message);
                }
            })
            .ok();
        Background { latest, error, stop, thread }
    }

    pub fn latest(&self) -> T {
        self.latest.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn error(&self) -> Option<String> {
        self.error.lock().ok()?.clone()
    }
}

impl<T> Drop for Background<T> {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
