//! The progress callback of long operations (import, export, backup, restore).
//!
//! C passes a function pointer (or NULL for none) and an opaque `user_data` pointer that is
//! handed back to the function unchanged; the library never dereferences it. The engine's
//! progress closures call [`Progress::report`], which answers whether to go on.
//!
//! The callback runs on the calling thread, inside the call (and so inside the panic
//! boundary): a Rust panic anywhere in the operation is still caught. What the C function
//! itself does is the host's business; it must return normally (no `longjmp`, no C++
//! exception through the library's frames).

use std::ffi::c_void;

/// A progress callback: called from inside a long operation (`crm_import_file`,
/// `crm_import_buffer`, `crm_export_file`, `crm_export_buffer`, `crm_backup_create`,
/// `crm_backup_restore`, `crm_backup_rotate`) on the calling thread, with the `user_data`
/// pointer given to that function, how far the operation has come (`done`) and, when known,
/// how far it will go (`total_or_zero`, 0 when unknown). The unit depends on the operation:
/// bytes of input for imports, records written for exports (total unknown), database pages for
/// backups and restores.
///
/// Return non-zero to go on, 0 to cancel: the operation stops and fails with
/// CRM_STATUS_CANCELLED (what stays written is documented with each function).
///
/// The callback must return normally (no longjmp, no C++ exception) and must not call libcrm
/// functions on the same database: the operation may hold its write lock.
pub type crm_progress_fn =
    Option<unsafe extern "C" fn(user_data: *mut c_void, done: u64, total_or_zero: u64) -> i32>;

/// A progress callback with its user data, as given by C.
#[derive(Clone, Copy)]
pub struct Progress {
    callback: crm_progress_fn,
    user_data: *mut c_void,
}

impl Progress {
    /// Wraps a callback (NULL for none) and its user data.
    pub fn new(callback: crm_progress_fn, user_data: *mut c_void) -> Self {
        Progress {
            callback,
            user_data,
        }
    }

    /// Reports progress; `true` to go on. Without a callback, always `true`.
    pub fn report(&self, done: u64, total_or_zero: u64) -> bool {
        match self.callback {
            None => true,
            // SAFETY: the host passed a function of this type; `user_data` is its own and is
            // only handed back.
            Some(f) => unsafe { f(self.user_data, done, total_or_zero) != 0 },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    unsafe extern "C" fn stop_after(user_data: *mut c_void, done: u64, total: u64) -> i32 {
        // SAFETY: the test passes a pointer to a u64.
        let limit = unsafe { *(user_data as *const u64) };
        assert_eq!(total, 10);
        i32::from(done < limit)
    }

    #[test]
    fn the_callback_gets_its_user_data_and_can_cancel() {
        let mut limit = 3u64;
        let p = Progress::new(Some(stop_after), (&mut limit as *mut u64).cast());
        assert!(p.report(1, 10));
        assert!(!p.report(3, 10));
        assert!(Progress::new(None, std::ptr::null_mut()).report(5, 0));
    }
}
