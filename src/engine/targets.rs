//! The engine's targets: each one's side of the fanout, its driver on the
//! publish runtime, and a stop of its own, so a target can start and stop
//! while the others stay live.

use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, watch};

use crate::publish::fanout::Fanout;
use crate::publish::shared::PublishShared;
use crate::publish::target::PublishTarget;

/// A driver to run on the publish runtime.
pub struct Driver {
    target: PublishTarget,
    shared: Arc<PublishShared>,
    stop: watch::Receiver<bool>,
}

impl Driver {
    pub async fn run(self) {
        crate::publish::drive(self.target, self.shared, self.stop).await
    }
}

pub struct TargetEntry {
    /// Its URL (or file) without secrets.
    pub name: String,
    pub shared: Arc<PublishShared>,
    stop: watch::Sender<bool>,
}

/// Every target the engine has started, in order, stopped ones included
/// (their final state stays in the status).
pub struct Targets {
    entries: Mutex<Vec<TargetEntry>>,
    /// Hands drivers to the publish runtime; gone once the engine stops.
    drivers: Mutex<Option<mpsc::UnboundedSender<Driver>>>,
}

impl Targets {
    pub fn new(drivers: mpsc::UnboundedSender<Driver>) -> Targets {
        Targets { entries: Mutex::new(Vec::new()), drivers: Mutex::new(Some(drivers)) }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, Vec<TargetEntry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts feeding and driving `target`; false once the engine is stopping.
    pub fn start(&self, fanout: &Fanout, target: PublishTarget) -> bool {
        let drivers = self.drivers.lock().unwrap_or_else(|p| p.into_inner());
        let Some(drivers) = drivers.as_ref() else { return false };
        let shared = fanout.add();
        let (stop, stopped) = watch::channel(false);
        let name = target.display();
        if drivers.send(Driver { target, shared: shared.clone(), stop: stopped }).is_err() {
            fanout.remove(&shared);
            return false;
        }
        self.entries().push(TargetEntry { name, shared, stop });
        true
    }

    /// Stops target `index` alone; the others carry on.
    pub fn stop(&self, index: usize) {
        if let Some(entry) = self.entries().get(index) {
            let _ = entry.stop.send(true);
        }
    }

    /// Stops every target, and lets the publish runtime end once their drivers have.
    pub fn stop_all(&self) {
        for entry in self.entries().iter() {
            let _ = entry.stop.send(true);
        }
        self.drivers.lock().unwrap_or_else(|p| p.into_inner()).take();
    }

    /// Each target's name and side, in order.
    pub fn list(&self) -> Vec<(String, Arc<PublishShared>)> {
        self.entries().iter().map(|e| (e.name.clone(), e.shared.clone())).collect()
    }
}
