//! A background checkpointer: copies committed WAL frames into the database file from its own
//! thread and connection, so writers do not pay for checkpoints in their commits.

use crate::error::Result;
use rusqlite::Connection;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// How often the checkpointer runs.
const INTERVAL: Duration = Duration::from_millis(250);
/// WAL pages after which a writer checkpoints itself anyway (a safety net should the background
/// thread fall behind): 16,000 pages of 4 KiB is 64 MiB.
pub(crate) const WRITER_AUTOCHECKPOINT_PAGES: i64 = 16_000;

/// The running checkpointer; dropping it stops and joins the thread.
pub(crate) struct Checkpointer {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Starts checkpointing the database at `path` every [`INTERVAL`] (PASSIVE: never waits for
    /// readers or writers).
    pub fn start(path: &Path, busy_timeout: Duration) -> Result<Checkpointer> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(busy_timeout)?;
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let signal = stop.clone();
        let thread = std::thread::Builder::new()
            .name("crm-checkpoint".into())
            .spawn(move || {
                let (lock, cv) = &*signal;
                let mut stopped = super::lock(lock);
                while !*stopped {
                    let (guard, _) = cv
                        .wait_timeout(stopped, INTERVAL)
                        .unwrap_or_else(|p| p.into_inner());
                    stopped = guard;
                    if !*stopped {
                        // A failed passive checkpoint is retried at the next tick; writers still
                        // checkpoint themselves past the safety limit.
                        let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
                    }
                }
            })
            .map_err(|e| crate::CrmError::io(path, e))?;
        Ok(Checkpointer {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        *super::lock(&self.stop.0) = true;
        self.stop.1.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
