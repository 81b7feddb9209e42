//! The background msync: a thread per spool that makes appends durable against power
//! loss every `every_records` (when the writer nudges it) or `every` (on its own timer),
//! so the output thread never waits for the disk.

use super::frame::OFF_TAIL;
use super::Shared;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

pub(super) struct Syncer {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl Syncer {
    pub fn start(sh: Arc<Shared>, every: Duration) -> std::io::Result<Syncer> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::Builder::new()
            .name("spool-sync".into())
            .spawn(move || {
                while !flag.load(Ordering::Acquire) {
                    std::thread::park_timeout(every);
                    let tail = sh.counter(OFF_TAIL).load(Ordering::Acquire);
                    if tail > sh.synced.load(Ordering::Acquire) {
                        if let Err(e) = sh.sync_to(tail) {
                            tracing::error!(path = %sh.path.display(), "spool msync: {e}");
                        }
                    }
                }
            })?;
        Ok(Syncer {
            stop,
            handle: Some(handle),
        })
    }

    /// Asks for a sync now, without waiting for it.
    pub fn nudge(&self) {
        if let Some(h) = &self.handle {
            h.thread().unpark();
        }
    }
}

impl Drop for Syncer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(h) = self.handle.take() {
            h.thread().unpark();
            let _ = h.join();
        }
    }
}
