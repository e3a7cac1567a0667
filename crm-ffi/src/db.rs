//! `crm_db`: one open database, and the library's version functions.
//!
//! The handle owns an `Arc<Shared>`; contexts and cursors hold clones of it. `crm_db_close`
//! empties the `RwLock<Option<Arc<Crm>>>` inside (waiting for calls in flight on other threads),
//! so a context or cursor used afterwards gets `CRM_STATUS_DB_CLOSED` rather than a dangling
//! pointer.
//!
//! The engine is behind an `Arc` because a plugin host (`crm_plugins`, [`crate::plugins`]) shares
//! it with its delivery threads. `Shared` keeps a weak list of the hosts opened on it, and
//! `crm_db_close` shuts each of them down (plugins disabled, delivery threads stopped, the host's
//! references to the engine dropped) before it drops its own reference: closing the database
//! really closes it, whatever plugin hosts are still open.

use crate::error::{crm_status, FfiError};
use crate::handle::{self, Kind};
use crate::plugins::HostInner;
use crate::strings::{arg_opt_str, arg_str, parse_json, to_c_string, Out};
use crm_core::{Crm, OpenOptions};
use std::ffi::{c_char, CString};
use std::sync::{Arc, LazyLock, Mutex, PoisonError, RwLock, Weak};

/// An open CRM database (one SQLite file). Open it with `crm_db_open`, close it with
/// `crm_db_close`. Thread-safe: share one handle between all threads of the process.
pub struct crm_db {
    pub(crate) shared: Arc<Shared>,
}

/// The database as seen by every handle derived from it.
pub struct Shared {
    crm: RwLock<Option<Arc<Crm>>>,
    /// The plugin hosts opened on this database, shut down by [`Shared::close`].
    hosts: Mutex<Vec<Weak<HostInner>>>,
}

impl Shared {
    /// Runs `f` on the open database, or fails with `CRM_STATUS_DB_CLOSED`.
    pub fn with<R>(&self, f: impl FnOnce(&Crm) -> crm_core::Result<R>) -> Result<R, FfiError> {
        let guard = self.crm.read().unwrap_or_else(PoisonError::into_inner);
        let crm = guard.as_ref().ok_or_else(|| {
            FfiError::new(
                crm_status::CRM_STATUS_DB_CLOSED,
                "the database of this handle has been closed with crm_db_close",
            )
        })?;
        f(crm).map_err(FfiError::Core)
    }

    /// Makes a plugin host on the open database (or fails with `CRM_STATUS_DB_CLOSED`) and
    /// records it, so that [`Shared::close`] shuts it down. The host is made and recorded under
    /// the read lock that `close` takes for writing first: a host is either recorded before
    /// `close` looks at the list, or sees the database closed.
    pub(crate) fn open_host(
        &self,
        make: impl FnOnce(Arc<Crm>) -> Result<Arc<HostInner>, FfiError>,
    ) -> Result<Arc<HostInner>, FfiError> {
        let guard = self.crm.read().unwrap_or_else(PoisonError::into_inner);
        let crm = guard.as_ref().ok_or_else(|| {
            FfiError::new(
                crm_status::CRM_STATUS_DB_CLOSED,
                "the database of this handle has been closed with crm_db_close",
            )
        })?;
        let host = make(crm.clone())?;
        let mut hosts = self.hosts.lock().unwrap_or_else(PoisonError::into_inner);
        // Hosts closed with crm_plugins_close are dead weak references by now: forget them.
        hosts.retain(|h| h.strong_count() > 0);
        hosts.push(Arc::downgrade(&host));
        Ok(host)
    }

    /// Closes the database: waits for calls in flight, shuts down the plugin hosts opened on
    /// it (waiting for their calls in flight), then drops the engine.
    fn close(&self) {
        // First, so that no new context call or plugin host can start.
        let crm = self
            .crm
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let hosts = std::mem::take(&mut *self.hosts.lock().unwrap_or_else(PoisonError::into_inner));
        for host in hosts.iter().filter_map(Weak::upgrade) {
            host.shut_down();
        }
        drop(crm);
    }
}

/// Looks up a live `crm_db` argument.
///
/// # Safety
/// `db` is NULL or any pointer (only a live handle is dereferenced).
pub unsafe fn db_arg(db: *const crm_db) -> Result<Arc<Shared>, FfiError> {
    // SAFETY: forwarded contract.
    unsafe { handle::with_live(db, Kind::Db, "db", |h| h.shared.clone()) }
}

/// Opens (creating and migrating if needed) the database file at `path` and writes a new
/// handle to `*out_db`.
///
/// `path` is a file path in UTF-8. `options_json` may be NULL for the defaults, or an object
/// with any of: `"durability"` (`"normal"`: WAL with synchronous=NORMAL, the default; `"full"`:
/// every commit is on disk when the call returns), `"busy_timeout_ms"` (how long a write waits
/// for another process, default 10000), `"max_idle_readers"` (default 8),
/// `"hide_denied_records"` (default true: a record the user may not read is reported as not
/// found). Unknown keys are refused. Example: `{"durability": "full"}`.
///
/// Close the handle with `crm_db_close`. Fails with CRM_STATUS_SCHEMA_TOO_NEW if a newer
/// library wrote the file, CRM_STATUS_STORAGE if it cannot be opened.
#[no_mangle]
pub unsafe extern "C" fn crm_db_open(
    path: *const c_char,
    options_json: *const c_char,
    out_db: *mut *mut crm_db,
) -> crm_status {
    ffi_boundary!({
        // SAFETY (all blocks below): arguments are valid for the call by the C contract.
        let path = unsafe { arg_str(path, "path") }?;
        let options = match unsafe { arg_opt_str(options_json, "options_json") }? {
            Some(text) => parse_json::<OpenOptions>(text, "options_json")?,
            None => OpenOptions::default(),
        };
        let out = Out::new(out_db, "out_db")?;
        if path.is_empty() {
            return Err(crm_core::CrmError::invalid("path", "is empty").into());
        }
        let crm = Crm::open_with(path, options)?;
        let shared = Arc::new(Shared {
            crm: RwLock::new(Some(Arc::new(crm))),
            hosts: Mutex::new(Vec::new()),
        });
        unsafe { out.write(handle::register(crm_db { shared }, Kind::Db)) };
        Ok(())
    })
}

/// Closes a database handle and frees it. NULL is ignored.
///
/// Safe to call from any thread and in any order with the contexts, cursors and plugin hosts
/// made from it: they stay valid to free, and every other call on them then fails with
/// CRM_STATUS_DB_CLOSED. Calls running on other threads with this database finish first (this
/// function waits for them). Plugin hosts opened on it with `crm_plugins_open` are shut down
/// here: every plugin is disabled (delivery threads stopped, instances destroyed, runner
/// processes ended) before the file is closed. Do not use `db` afterwards; a closed handle
/// passed again is detected where possible (CRM_STATUS_INVALID_HANDLE in
/// `crm_last_error_code()`, nothing else happens).
#[no_mangle]
pub unsafe extern "C" fn crm_db_close(db: *mut crm_db) {
    ffi_boundary!(on_panic = (), {
        // SAFETY: only a live handle is taken back.
        unsafe { handle::destroy(db, Kind::Db, "db", |h| h.shared.close()) }
    })
}

/// Writes the path of the database file to `*out_path` (free it with `crm_string_free`).
#[no_mangle]
pub unsafe extern "C" fn crm_db_path(db: *const crm_db, out_path: *mut *mut c_char) -> crm_status {
    ffi_boundary!({
        // SAFETY: arguments are valid for the call by the C contract.
        let db = unsafe { db_arg(db) }?;
        let out = Out::new(out_path, "out_path")?;
        let path = db.with(|crm| Ok(crm.path().to_string_lossy().into_owned()))?;
        unsafe { out.write(to_c_string(path)?) };
        Ok(())
    })
}

/// The ABI version of the loaded library: `(CRM_ABI_VERSION_MAJOR << 16) | CRM_ABI_VERSION_MINOR`
/// as it was built. A host checks at start-up that the major part equals the
/// CRM_ABI_VERSION_MAJOR it was compiled with and the minor part is at least its
/// CRM_ABI_VERSION_MINOR.
#[no_mangle]
pub extern "C" fn crm_abi_version() -> u32 {
    ffi_boundary!(on_panic = 0, {
        (crate::CRM_ABI_VERSION_MAJOR << 16) | crate::CRM_ABI_VERSION_MINOR
    })
}

static VERSION: LazyLock<CString> = LazyLock::new(|| {
    CString::new(format!(
        "crm {} (ABI {}.{}, schema {}, SQLite {})",
        env!("CARGO_PKG_VERSION"),
        crate::CRM_ABI_VERSION_MAJOR,
        crate::CRM_ABI_VERSION_MINOR,
        crm_core::SCHEMA_VERSION,
        rusqlite::version()
    ))
    .unwrap_or_default()
});

/// The library's version line, e.g. "crm 0.1.0 (ABI 1.0, schema 5, SQLite 3.50.2)": the
/// library version, the C ABI version, the newest database schema it reads and writes, and the
/// version of the SQLite built into it. A static string: never NULL, do not free it.
#[no_mangle]
pub extern "C" fn crm_version() -> *const c_char {
    ffi_boundary!(on_panic = c"crm".as_ptr(), { VERSION.as_ptr() })
}
