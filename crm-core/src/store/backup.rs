//! Copying a database file with the SQLite online backup API, and checking a copy.

use crate::error::{CrmError, Result};
use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};
use std::path::Path;
use std::time::Duration;

/// Pages copied per step; between steps the source is free for writers.
const PAGES_PER_STEP: i32 = 256;

/// How far a copy has come.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CopyProgress {
    /// Pages copied so far.
    pub done: u64,
    /// Pages in all.
    pub total: u64,
}

/// Copies the database `src` is connected to into a new file at `dest`, calling `progress`
/// after each step (return `false` to cancel). `src` should hold an open read transaction, so
/// the copy is one consistent snapshot while other connections keep writing (WAL). The copy is
/// written to a temporary file beside `dest` and renamed into place only when complete, so a
/// crash or cancel never leaves a partial file under `dest`.
pub fn copy_to(
    src: &Connection,
    dest: &Path,
    progress: &mut dyn FnMut(CopyProgress) -> bool,
) -> Result<()> {
    let tmp = dest.with_extension("partial");
    let _ = std::fs::remove_file(&tmp);
    let result = (|| {
        let mut out = Connection::open(&tmp)?;
        {
            let backup = Backup::new(src, &mut out)?;
            loop {
                let step = backup.step(PAGES_PER_STEP)?;
                let p = backup.progress();
                let total = p.pagecount.max(0) as u64;
                let done = total.saturating_sub(p.remaining.max(0) as u64);
                // Every step is reported; once the copy is complete a "stop" comes too late.
                if !progress(CopyProgress { done, total }) && step != StepResult::Done {
                    return Err(CrmError::Cancelled);
                }
                match step {
                    StepResult::Done => break,
                    StepResult::More => {}
                    // Another connection holds a lock on the destination or source: wait briefly.
                    _ => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        }
        // The copy is a standalone file: no WAL beside it.
        out.pragma_update(None, "journal_mode", "DELETE")?;
        drop(out);
        std::fs::File::open(&tmp)
            .and_then(|f| f.sync_all())
            .map_err(|e| CrmError::io(&tmp, e))?;
        std::fs::rename(&tmp, dest).map_err(|e| CrmError::io(dest, e))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Copies the database file at `src_path` over the database `dest` is connected to (restore).
pub fn copy_from(
    src_path: &Path,
    dest: &mut Connection,
    progress: &mut dyn FnMut(CopyProgress) -> bool,
) -> Result<()> {
    let src = open_read_only(src_path)?;
    let backup = Backup::new(&src, dest)?;
    loop {
        let step = backup.step(PAGES_PER_STEP)?;
        let p = backup.progress();
        let total = p.pagecount.max(0) as u64;
        let done = total.saturating_sub(p.remaining.max(0) as u64);
        if !progress(CopyProgress { done, total }) && step != StepResult::Done {
            return Err(CrmError::Cancelled);
        }
        match step {
            StepResult::Done => return Ok(()),
            StepResult::More => {}
            _ => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

/// Starts the read transaction of `c` by reading from it, so its snapshot is pinned.
pub fn pin_snapshot(c: &Connection) -> Result<()> {
    c.query_row("SELECT count(*) FROM sqlite_schema", [], |_| Ok(()))?;
    Ok(())
}

/// Opens a database file read-only, failing with an I/O error when it does not exist.
pub fn open_read_only(path: &Path) -> Result<Connection> {
    if !path.is_file() {
        return Err(CrmError::io(path, "no such file"));
    }
    Ok(Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?)
}

/// `PRAGMA integrity_check`: empty when the file is sound, else SQLite's complaints.
pub fn integrity_problems(c: &Connection) -> Result<Vec<String>> {
    let mut st = c.prepare("PRAGMA integrity_check")?;
    let rows = st.query_map([], |r| r.get::<_, String>(0))?;
    let lines: Vec<String> = rows.collect::<rusqlite::Result<_>>()?;
    Ok(lines.into_iter().filter(|l| l != "ok").collect())
}
