//! Connections: one writer behind a mutex, a pool of read-only connections.
//!
//! WAL lets readers run beside the writer, so reads never wait for writes. Writes are serialised
//! in-process by the writer mutex and across processes by `BEGIN IMMEDIATE` plus the busy
//! timeout, so no caller sees `SQLITE_BUSY`.

use super::migrations;
use crate::error::Result;
use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// How hard a commit tries to survive a power cut.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Durability {
    /// WAL with `synchronous=NORMAL`: a power cut may lose the last commits, never corrupts.
    #[default]
    Normal,
    /// WAL with `synchronous=FULL`: every commit is on disk when the call returns.
    Full,
}

/// Options for opening a database.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OpenOptions {
    /// Commit durability.
    pub durability: Durability,
    /// How long a write waits for another process's write, in milliseconds.
    pub busy_timeout_ms: u32,
    /// Read connections kept open for reuse.
    pub max_idle_readers: usize,
    /// Answer a denied access to a record the user may not read with `NotFound`, so ids cannot
    /// be probed (default). When false, such calls fail with `PermissionDenied`.
    pub hide_denied_records: bool,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            durability: Durability::Normal,
            busy_timeout_ms: 10_000,
            max_idle_readers: 8,
            hide_denied_records: true,
        }
    }
}

/// The connections to one database file.
pub(crate) struct Pool {
    path: PathBuf,
    options: OpenOptions,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    /// Declared last: stopped after the connections are dropped.
    _checkpointer: super::checkpoint::Checkpointer,
}

const STATEMENT_CACHE: usize = 128;
/// Page cache of the writer connection, in KiB.
const WRITER_CACHE_KIB: i64 = 64 * 1024;

impl Pool {
    /// Opens (creating if needed) and migrates the database at `path`.
    pub fn open(path: &Path, options: OpenOptions) -> Result<Pool> {
        let mut writer = Connection::open(path)?;
        configure(&writer, &options)?;
        // Refuse a file from a newer engine before touching it (even its journal mode).
        migrations::check_version(&writer)?;
        writer.pragma_update(None, "journal_mode", "WAL")?;
        // Large write transactions (imports, merges) spill to the WAL less with a bigger cache.
        writer.pragma_update(None, "cache_size", -WRITER_CACHE_KIB)?;
        migrations::migrate(&mut writer)?;
        // Checkpoints run on a background thread; the writer's own is only a safety net.
        writer.pragma_update(
            None,
            "wal_autocheckpoint",
            super::checkpoint::WRITER_AUTOCHECKPOINT_PAGES,
        )?;
        let checkpointer = super::checkpoint::Checkpointer::start(
            path,
            Duration::from_millis(u64::from(options.busy_timeout_ms)),
        )?;
        Ok(Pool {
            path: path.to_path_buf(),
            options,
            writer: Mutex::new(writer),
            readers: Mutex::new(Vec::new()),
            _checkpointer: checkpointer,
        })
    }

    /// Runs `f` in a read transaction (one consistent snapshot) on a pooled read connection.
    pub fn read<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        let mut conn = match lock(&self.readers).pop() {
            Some(c) => c,
            None => self.open_reader()?,
        };
        let out = {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
            let out = f(&tx);
            // A read transaction has nothing to commit; ending it either way is the same.
            tx.finish()?;
            out
        };
        let mut idle = lock(&self.readers);
        if idle.len() < self.options.max_idle_readers {
            idle.push(conn);
        }
        out
    }

    /// Runs `f` in a write transaction; commits when it returns `Ok`, rolls back otherwise.
    pub fn write<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        let mut conn = lock(&self.writer);
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }

    /// Runs `f` on the writer connection itself, holding the write lock.
    pub fn with_writer<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        f(&mut lock(&self.writer))
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn open_reader(&self) -> Result<Connection> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&self.path, flags)?;
        configure(&conn, &self.options)?;
        Ok(conn)
    }
}

fn configure(conn: &Connection, o: &OpenOptions) -> Result<()> {
    conn.busy_timeout(Duration::from_millis(u64::from(o.busy_timeout_ms)))?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    let sync = match o.durability {
        Durability::Normal => "NORMAL",
        Durability::Full => "FULL",
    };
    conn.pragma_update(None, "synchronous", sync)?;
    // Savepoint sub-journals and sort spills stay in memory instead of temp files.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(())
}

/// Locks a mutex, recovering it if a panic poisoned it: the guarded connection is still valid
/// (an unwinding transaction rolls back in its destructor).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
