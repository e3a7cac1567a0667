//! Status codes and the thread-local last error.
//!
//! Codes 1–12 are the numbers of `CrmError::code()`, codes 60–71 those of
//! `crm_plugins::PluginError::code()` (since ABI 1.2); codes from 100 up are the C layer's own
//! (bad arguments, handles, panics). The message of the last failed call on a thread is kept in
//! a thread-local buffer that is reused, so recording an error allocates nothing once warm.

use crm_core::CrmError;
use crm_plugins::PluginError;
use std::any::Any;
use std::cell::RefCell;
use std::ffi::c_char;
use std::fmt::{self, Write as _};

/// The result of every fallible function. `CRM_STATUS_OK` (0) is success; anything else is a
/// failure whose details are in `crm_last_error_message()`. Codes 1-99 come from the engine
/// (1-12 from the CRM itself, 60-71 from the plugin host), codes from 100 up from the C layer.
/// New codes may be added in a minor ABI version, so treat an unknown code as a generic
/// failure.
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum crm_status {
    /// Success. Outputs have been written.
    CRM_STATUS_OK = 0,
    /// A failure this version of the library cannot classify more precisely.
    CRM_STATUS_ERROR = 1,
    /// A value in the input is invalid; the message names the field, e.g.
    /// `invalid emails[1].address: ...`.
    CRM_STATUS_VALIDATION = 2,
    /// The record does not exist, or the acting user may not read it (the two look alike on
    /// purpose, so ids cannot be probed).
    CRM_STATUS_NOT_FOUND = 3,
    /// The acting user may not do this (including administrator-only calls).
    CRM_STATUS_PERMISSION_DENIED = 4,
    /// The record changed since the caller read it (expected_version is stale): read it again
    /// and retry.
    CRM_STATUS_CONFLICT = 5,
    /// The change would break a rule of the data model (a cycle, a record still in use, ...).
    CRM_STATUS_CONSTRAINT = 6,
    /// The acting user is deactivated; every call with their context fails.
    CRM_STATUS_INACTIVE_USER = 7,
    /// The database file was written by a newer version of the engine.
    CRM_STATUS_SCHEMA_TOO_NEW = 8,
    /// SQLite reported an error (I/O, disk full, file locked, not a database, ...).
    CRM_STATUS_STORAGE = 9,
    /// Stored data could not be decoded: the file was edited outside the engine.
    CRM_STATUS_CORRUPT = 10,
    /// The progress callback returned 0 and the operation stopped. What stays written is
    /// documented with each function (nothing, for an all-or-nothing import, an export or a
    /// backup). Since ABI 1.1.
    CRM_STATUS_CANCELLED = 11,
    /// A file or folder named by the caller could not be read or written (it does not exist,
    /// already exists where a new file is required, no permission, disk full, ...); the message
    /// names the path and the operating system's complaint. Since ABI 1.1.
    CRM_STATUS_IO = 12,
    /// Plugins: the plugin host was opened without a `plugin_dir`, so plugin loading is off:
    /// nothing can be listed or enabled. Since ABI 1.2.
    CRM_STATUS_PLUGIN_DISABLED = 60,
    /// Plugins: there is no plugin of that id in the plugin directory (no sub-directory of that
    /// name, or an id that is not a plain directory name). Since ABI 1.2.
    CRM_STATUS_PLUGIN_NOT_FOUND = 61,
    /// Plugins: the plugin's manifest (`crm-plugin.toml`) is missing, unreadable or invalid
    /// (unknown key or capability, wrong id, bad version); the message names the file. Nothing
    /// was loaded. Since ABI 1.2.
    CRM_STATUS_PLUGIN_MANIFEST = 62,
    /// Plugins: the library's SHA-256 differs from the one in the manifest (the file was
    /// replaced or damaged). Nothing was loaded. Since ABI 1.2.
    CRM_STATUS_PLUGIN_CHECKSUM = 63,
    /// Plugins: the library cannot be used with this host: it does not export
    /// `crm_plugin_entry_v1`, it was built for another plugin ABI major version or a newer
    /// minor, its table is smaller than it claims, or it does not load. Since ABI 1.2.
    CRM_STATUS_PLUGIN_ABI = 64,
    /// Plugins: the plugin is already enabled in this host. Since ABI 1.2.
    CRM_STATUS_PLUGIN_ALREADY_ENABLED = 65,
    /// Plugins: the plugin is not enabled in this host (never enabled, or disabled). Since
    /// ABI 1.2.
    CRM_STATUS_PLUGIN_NOT_ENABLED = 66,
    /// Plugins: the plugin's `create` refused to start (for example its configuration is
    /// wrong); the message gives its status and its own message. Since ABI 1.2.
    CRM_STATUS_PLUGIN_CREATE = 67,
    /// Plugins: the plugin answered a call with a failure; the message gives the plugin's status
    /// as a lower-case name (`unknown_method`, `bad_request`, `denied`, `crm_error`, `retry`,
    /// `panic`, ... for CRM_PLUGIN_UNKNOWN_METHOD and the rest) and its own message, e.g.
    /// `plugin "hello", method "nope": unknown_method: hello: unknown method "nope"`. The
    /// plugin stays enabled. Since ABI 1.2.
    CRM_STATUS_PLUGIN_CALL = 68,
    /// Plugins: the runner process of an out-of-process plugin died (crashed, was killed) or did
    /// not answer in time; the next call starts a new one. Since ABI 1.2.
    CRM_STATUS_PLUGIN_CRASHED = 69,
    /// Plugins: an option given by the host application is invalid: a missing `user_id` for a
    /// plugin that reads CRM data or events, a `config` that is not an object, a method name
    /// reserved for the host (`crm.*`), a `batch_size` out of range, ... The message names it.
    /// Since ABI 1.2.
    CRM_STATUS_PLUGIN_INVALID = 70,
    /// Plugins: a file or directory of the plugin host could not be read (the plugin directory,
    /// a library), or a process or thread could not be started. Since ABI 1.2.
    CRM_STATUS_PLUGIN_IO = 71,
    /// A pointer argument that must not be NULL was NULL; the message names it.
    CRM_STATUS_NULL_ARGUMENT = 100,
    /// A string argument is not valid UTF-8; the message names it and the byte offset.
    CRM_STATUS_INVALID_UTF8 = 101,
    /// A JSON argument is not well-formed JSON; the message gives line and column.
    CRM_STATUS_MALFORMED_JSON = 102,
    /// A JSON argument is well-formed but has the wrong shape (a missing or mistyped field, an
    /// unknown enum name, ...); the message gives the path, e.g. `emails[0].kind`, with line and
    /// column.
    CRM_STATUS_JSON_SHAPE = 103,
    /// A handle argument is not a live handle of the expected type: it was already closed or
    /// freed, or it is some other pointer. Detected where possible, not guaranteed.
    CRM_STATUS_INVALID_HANDLE = 104,
    /// The database behind this context or cursor has been closed with `crm_db_close`.
    CRM_STATUS_DB_CLOSED = 105,
    /// An integer argument that stands for an enum or a flag has a value outside its range
    /// (e.g. an action that is not one of the `CRM_ACTION_*` constants, a flag not 0 or 1).
    CRM_STATUS_UNKNOWN_ENUM = 106,
    /// The library hit an internal bug (a Rust panic) and stopped the call. The process and
    /// the handles stay usable; please report the message.
    CRM_STATUS_PANIC = 107,
}

use crm_status::*;

impl crm_status {
    /// The status for an engine error, by its stable code.
    pub fn from_core(e: &CrmError) -> crm_status {
        match e.code() {
            2 => CRM_STATUS_VALIDATION,
            3 => CRM_STATUS_NOT_FOUND,
            4 => CRM_STATUS_PERMISSION_DENIED,
            5 => CRM_STATUS_CONFLICT,
            6 => CRM_STATUS_CONSTRAINT,
            7 => CRM_STATUS_INACTIVE_USER,
            8 => CRM_STATUS_SCHEMA_TOO_NEW,
            9 => CRM_STATUS_STORAGE,
            10 => CRM_STATUS_CORRUPT,
            11 => CRM_STATUS_CANCELLED,
            12 => CRM_STATUS_IO,
            _ => CRM_STATUS_ERROR,
        }
    }

    /// The status for a plugin host error, by its stable code (60–71; the engine's own codes
    /// for a refused bookkeeping call).
    pub fn from_plugin(e: &PluginError) -> crm_status {
        match e {
            PluginError::Crm(core) => crm_status::from_core(core),
            _ => match e.code() {
                60 => CRM_STATUS_PLUGIN_DISABLED,
                61 => CRM_STATUS_PLUGIN_NOT_FOUND,
                62 => CRM_STATUS_PLUGIN_MANIFEST,
                63 => CRM_STATUS_PLUGIN_CHECKSUM,
                64 => CRM_STATUS_PLUGIN_ABI,
                65 => CRM_STATUS_PLUGIN_ALREADY_ENABLED,
                66 => CRM_STATUS_PLUGIN_NOT_ENABLED,
                67 => CRM_STATUS_PLUGIN_CREATE,
                68 => CRM_STATUS_PLUGIN_CALL,
                69 => CRM_STATUS_PLUGIN_CRASHED,
                70 => CRM_STATUS_PLUGIN_INVALID,
                71 => CRM_STATUS_PLUGIN_IO,
                _ => CRM_STATUS_ERROR,
            },
        }
    }

    /// The constant's name as a static C string.
    fn name(code: i32) -> &'static std::ffi::CStr {
        match code {
            0 => c"CRM_STATUS_OK",
            1 => c"CRM_STATUS_ERROR",
            2 => c"CRM_STATUS_VALIDATION",
            3 => c"CRM_STATUS_NOT_FOUND",
            4 => c"CRM_STATUS_PERMISSION_DENIED",
            5 => c"CRM_STATUS_CONFLICT",
            6 => c"CRM_STATUS_CONSTRAINT",
            7 => c"CRM_STATUS_INACTIVE_USER",
            8 => c"CRM_STATUS_SCHEMA_TOO_NEW",
            9 => c"CRM_STATUS_STORAGE",
            10 => c"CRM_STATUS_CORRUPT",
            11 => c"CRM_STATUS_CANCELLED",
            12 => c"CRM_STATUS_IO",
            60 => c"CRM_STATUS_PLUGIN_DISABLED",
            61 => c"CRM_STATUS_PLUGIN_NOT_FOUND",
            62 => c"CRM_STATUS_PLUGIN_MANIFEST",
            63 => c"CRM_STATUS_PLUGIN_CHECKSUM",
            64 => c"CRM_STATUS_PLUGIN_ABI",
            65 => c"CRM_STATUS_PLUGIN_ALREADY_ENABLED",
            66 => c"CRM_STATUS_PLUGIN_NOT_ENABLED",
            67 => c"CRM_STATUS_PLUGIN_CREATE",
            68 => c"CRM_STATUS_PLUGIN_CALL",
            69 => c"CRM_STATUS_PLUGIN_CRASHED",
            70 => c"CRM_STATUS_PLUGIN_INVALID",
            71 => c"CRM_STATUS_PLUGIN_IO",
            100 => c"CRM_STATUS_NULL_ARGUMENT",
            101 => c"CRM_STATUS_INVALID_UTF8",
            102 => c"CRM_STATUS_MALFORMED_JSON",
            103 => c"CRM_STATUS_JSON_SHAPE",
            104 => c"CRM_STATUS_INVALID_HANDLE",
            105 => c"CRM_STATUS_DB_CLOSED",
            106 => c"CRM_STATUS_UNKNOWN_ENUM",
            107 => c"CRM_STATUS_PANIC",
            _ => c"CRM_STATUS_UNKNOWN",
        }
    }
}

/// A failed call, before it is recorded as the thread's last error.
#[derive(Debug)]
pub enum FfiError {
    /// A required pointer argument was NULL (the argument's name).
    Null(&'static str),
    /// An engine error.
    Core(CrmError),
    /// Any other failure of the C layer.
    Other(crm_status, String),
}

impl FfiError {
    /// A failure with a status and a message.
    pub fn new(status: crm_status, message: impl Into<String>) -> Self {
        FfiError::Other(status, message.into())
    }

    /// The status this error is reported with.
    pub fn status(&self) -> crm_status {
        match self {
            FfiError::Null(_) => CRM_STATUS_NULL_ARGUMENT,
            FfiError::Core(e) => crm_status::from_core(e),
            FfiError::Other(s, _) => *s,
        }
    }

    /// Records this error as the thread's last error and returns its status.
    pub fn record(self) -> crm_status {
        let status = self.status();
        match &self {
            // The cheapest failure is answered without the formatting machinery.
            FfiError::Null(name) => write_last_error(status, |m| {
                m.push_str("argument `");
                m.push_str(name);
                m.push_str("` is NULL");
            }),
            FfiError::Other(_, text) => write_last_error(status, |m| m.push_str(text)),
            FfiError::Core(_) => set_last_error(status, &self),
        }
        status
    }
}

impl fmt::Display for FfiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FfiError::Null(name) => write!(f, "argument `{name}` is NULL"),
            FfiError::Core(e) => e.fmt(f),
            FfiError::Other(_, m) => f.write_str(m),
        }
    }
}

impl From<CrmError> for FfiError {
    fn from(e: CrmError) -> Self {
        FfiError::Core(e)
    }
}

impl From<PluginError> for FfiError {
    fn from(e: PluginError) -> Self {
        match e {
            PluginError::Crm(core) => FfiError::Core(core),
            other => FfiError::Other(crm_status::from_plugin(&other), other.to_string()),
        }
    }
}

/// The thread's last error: its status and its message, NUL-terminated.
struct LastError {
    status: crm_status,
    /// Message bytes followed by one NUL; empty before the first error.
    message: String,
}

thread_local! {
    static LAST_ERROR: RefCell<LastError> = const {
        RefCell::new(LastError { status: CRM_STATUS_OK, message: String::new() })
    };
}

/// Stores `status` and `message` as this thread's last error, reusing the buffer.
pub(crate) fn set_last_error(status: crm_status, message: &dyn fmt::Display) {
    write_last_error(status, |m| {
        let _ = write!(m, "{message}");
    });
}

/// Stores `status` as this thread's last error with the message `write` produces, reusing the
/// buffer (no allocation once it is large enough).
fn write_last_error(status: crm_status, write: impl FnOnce(&mut String)) {
    // `try_with`: during thread teardown the slot may be gone; the error is then dropped.
    let _ = LAST_ERROR.try_with(|cell| {
        if let Ok(mut last) = cell.try_borrow_mut() {
            last.status = status;
            last.message.clear();
            write(&mut last.message);
            // The message is handed out as a C string: an inner NUL would cut it short.
            if last.message.as_bytes().contains(&0) {
                last.message = last.message.replace('\0', "\\0");
            }
            last.message.push('\0');
        }
    });
}

/// Records a caught panic as the last error and returns `CRM_STATUS_PANIC`.
pub fn record_panic(payload: Box<dyn Any + Send>) -> crm_status {
    let what = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)");
    set_last_error(
        CRM_STATUS_PANIC,
        &format_args!("internal error (Rust panic) in libcrm: {what}; please report it"),
    );
    // Dropping a payload can itself panic in theory; never let that escape.
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(payload)));
    CRM_STATUS_PANIC
}

/// The status of the last failed call on this thread, or `CRM_STATUS_OK` (0) if no call on this
/// thread has failed yet. A successful call does not reset it.
#[no_mangle]
pub extern "C" fn crm_last_error_code() -> crm_status {
    ffi_boundary!(on_panic = CRM_STATUS_PANIC, {
        LAST_ERROR
            .try_with(|cell| cell.try_borrow().map(|l| l.status).unwrap_or(CRM_STATUS_OK))
            .unwrap_or(CRM_STATUS_OK)
    })
}

/// The message of the last failed call on this thread, in English, UTF-8 and NUL-terminated;
/// "" if no call on this thread has failed yet. Never NULL.
///
/// The string belongs to the library: do not free it. It stays valid until the next call into
/// the library on this thread fails (copy it if you need it longer). A successful call does not
/// change it. Other threads never see it.
#[no_mangle]
pub extern "C" fn crm_last_error_message() -> *const c_char {
    ffi_boundary!(on_panic = c"".as_ptr(), {
        LAST_ERROR
            .try_with(|cell| match cell.try_borrow() {
                Ok(last) if !last.message.is_empty() => last.message.as_ptr().cast::<c_char>(),
                _ => c"".as_ptr(),
            })
            .unwrap_or(c"".as_ptr())
    })
}

/// The name of a status code as a static string, e.g. "CRM_STATUS_NOT_FOUND" for 3, or
/// "CRM_STATUS_UNKNOWN" for a number that is not a status. Never NULL; do not free it.
#[no_mangle]
pub extern "C" fn crm_status_name(status: i32) -> *const c_char {
    ffi_boundary!(on_panic = c"CRM_STATUS_UNKNOWN".as_ptr(), {
        crm_status::name(status).as_ptr()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_engine_code_has_its_own_status_and_name() {
        let samples = [
            CrmError::invalid("f", "bad"),
            CrmError::NotFound {
                entity: "client",
                id: 1,
            },
            CrmError::AdminRequired { operation: "x" },
            CrmError::Conflict {
                entity: "client",
                id: 1,
                expected: 1,
                actual: 2,
            },
            CrmError::Constraint {
                entity: "client",
                id: 1,
                message: "m".into(),
            },
            CrmError::InactiveUser(1),
            CrmError::SchemaTooNew {
                found: 9,
                supported: 1,
            },
            CrmError::Storage(rusqlite::Error::InvalidQuery),
            CrmError::Corrupt {
                what: "w".into(),
                message: "m".into(),
            },
            CrmError::Cancelled,
            CrmError::io(std::path::Path::new("/x"), "nope"),
        ];
        for e in &samples {
            let status = crm_status::from_core(e);
            assert_eq!(status as i32, e.code(), "{e}");
            assert_ne!(crm_status::name(status as i32), c"CRM_STATUS_UNKNOWN");
        }
        assert_eq!(crm_status::name(11), c"CRM_STATUS_CANCELLED");
        assert_eq!(crm_status::name(12), c"CRM_STATUS_IO");
    }

    #[test]
    fn every_plugin_code_has_its_own_status_and_name() {
        use crm_plugins::CallError;
        let samples = [
            PluginError::Disabled,
            PluginError::NotFound("x".into()),
            PluginError::Manifest {
                id: "x".into(),
                path: "p".into(),
                message: "m".into(),
            },
            PluginError::Checksum {
                id: "x".into(),
                library: "l".into(),
                expected: "a".into(),
                actual: "b".into(),
            },
            PluginError::Abi {
                id: "x".into(),
                message: "m".into(),
            },
            PluginError::AlreadyEnabled("x".into()),
            PluginError::NotEnabled("x".into()),
            PluginError::Create {
                id: "x".into(),
                error: CallError::new("no"),
            },
            PluginError::Call {
                id: "x".into(),
                method: "m".into(),
                error: CallError::new("no"),
            },
            PluginError::Crashed {
                id: "x".into(),
                message: "m".into(),
            },
            PluginError::Invalid {
                field: "f".into(),
                message: "m".into(),
            },
            PluginError::Io {
                path: "p".into(),
                message: "m".into(),
            },
        ];
        let mut seen = std::collections::BTreeSet::new();
        for e in &samples {
            let status = crm_status::from_plugin(e);
            assert_eq!(status as i32, e.code(), "{e}");
            assert!(seen.insert(status as i32));
            let name = crm_status::name(status as i32).to_str().unwrap();
            assert_eq!(
                name,
                format!("CRM_STATUS_PLUGIN_{}", e.kind().to_uppercase()),
                "{e}"
            );
            let ffi = FfiError::from(PluginError::NotEnabled("y".into()));
            assert_eq!(ffi.status(), crm_status::CRM_STATUS_PLUGIN_NOT_ENABLED);
        }
        assert_eq!(seen.len(), 12);
        let core = FfiError::from(PluginError::Crm(CrmError::InactiveUser(3)));
        assert_eq!(core.status(), crm_status::CRM_STATUS_INACTIVE_USER);
    }
}
