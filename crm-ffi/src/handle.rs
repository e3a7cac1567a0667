//! The registry of live handles.
//!
//! Every handle the library hands out is a `Box` whose address is recorded here with its type.
//! Before a handle is dereferenced its address is looked up, so a handle that was already closed,
//! a handle of the wrong type, or a stray pointer is answered with `CRM_STATUS_INVALID_HANDLE`
//! instead of a crash. (Where the allocator has reused a closed handle's address for a new
//! handle of the same type, the stale pointer cannot be told from the new one: detection is best
//! effort, the C contract is still "do not use a handle after closing it".)
//!
//! Lookups take a read lock, so concurrent calls do not serialise; the closure run under it only
//! clones an `Arc`, so closing a handle never waits for the work a call does with it.

use crate::error::{crm_status, FfiError};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{LazyLock, PoisonError, RwLock};

/// The type of a handle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `crm_db`
    Db,
    /// `crm_ctx`
    Ctx,
    /// `crm_cursor`
    Cursor,
    /// `crm_plugins`
    Plugins,
}

impl Kind {
    fn c_name(self) -> &'static str {
        match self {
            Kind::Db => "crm_db",
            Kind::Ctx => "crm_ctx",
            Kind::Cursor => "crm_cursor",
            Kind::Plugins => "crm_plugins",
        }
    }
}

/// A cheap hasher for addresses (they are unique and only need spreading).
#[derive(Default)]
pub struct AddrHasher(u64);

impl Hasher for AddrHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_usize(&mut self, n: usize) {
        // Box addresses are 8- or 16-byte aligned: drop the zero bits, then mix.
        self.0 = ((n as u64) >> 3).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

type Registry = HashMap<usize, Kind, BuildHasherDefault<AddrHasher>>;

static LIVE: LazyLock<RwLock<Registry>> = LazyLock::new(|| RwLock::new(Registry::default()));

/// Boxes `value`, records it as a live handle of `kind`, and returns the pointer for C.
pub fn register<T>(value: T, kind: Kind) -> *mut T {
    let p = Box::into_raw(Box::new(value));
    LIVE.write()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(p as usize, kind);
    p
}

/// Runs `f` on the handle `p` if it is a live handle of `kind`. `f` runs under the registry's
/// read lock, so it must be quick (clone what the call needs and return).
///
/// # Safety
/// `p` is NULL or any pointer; it is dereferenced only if it is registered as live.
pub unsafe fn with_live<T, R>(
    p: *const T,
    kind: Kind,
    name: &'static str,
    f: impl FnOnce(&T) -> R,
) -> Result<R, FfiError> {
    if p.is_null() {
        return Err(FfiError::Null(name));
    }
    let live = LIVE.read().unwrap_or_else(PoisonError::into_inner);
    match live.get(&(p as usize)) {
        // SAFETY: registered ⇒ a live `Box<T>` of this kind, not freed while we hold the lock
        // (unregistering needs the write lock).
        Some(&k) if k == kind => Ok(f(unsafe { &*p })),
        Some(&k) => Err(FfiError::new(
            crm_status::CRM_STATUS_INVALID_HANDLE,
            format!(
                "argument `{name}` is a {}, not a {}",
                k.c_name(),
                kind.c_name()
            ),
        )),
        None => Err(FfiError::new(
            crm_status::CRM_STATUS_INVALID_HANDLE,
            format!(
                "argument `{name}` is not a live {} (already closed or freed, or not a handle)",
                kind.c_name()
            ),
        )),
    }
}

/// Removes a live handle from the registry and gives back ownership of its box. NULL gives
/// `Ok(None)`; a pointer that is not a live handle of `kind` gives an error and is not touched.
///
/// # Safety
/// As [`with_live`].
pub unsafe fn unregister<T>(
    p: *mut T,
    kind: Kind,
    name: &'static str,
) -> Result<Option<Box<T>>, FfiError> {
    if p.is_null() {
        return Ok(None);
    }
    let mut live = LIVE.write().unwrap_or_else(PoisonError::into_inner);
    match live.get(&(p as usize)) {
        Some(&k) if k == kind => {
            live.remove(&(p as usize));
            drop(live);
            // SAFETY: it was registered by `register` from `Box::into_raw`, and removing it
            // under the write lock makes this the only owner.
            Ok(Some(unsafe { Box::from_raw(p) }))
        }
        _ => {
            drop(live);
            // SAFETY: not dereferenced (not live).
            unsafe { with_live(p as *const T, kind, name, |_| ()) }.map(|()| None)
        }
    }
}

/// Closes a handle from a destructor: removes it and drops it. A bad pointer is recorded as the
/// thread's last error (destructors return nothing).
///
/// # Safety
/// As [`with_live`].
pub unsafe fn destroy<T>(p: *mut T, kind: Kind, name: &'static str, close: impl FnOnce(Box<T>)) {
    // SAFETY: forwarded contract.
    match unsafe { unregister(p, kind, name) } {
        Ok(Some(b)) => close(b),
        Ok(None) => {}
        Err(e) => {
            e.record();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_are_checked_for_liveness_and_type() {
        let p = register(7u64, Kind::Ctx);
        assert_eq!(
            unsafe { with_live(p, Kind::Ctx, "ctx", |v| *v) }.unwrap(),
            7
        );
        let wrong = unsafe { with_live(p, Kind::Db, "db", |_| ()) }.unwrap_err();
        assert_eq!(wrong.status(), crm_status::CRM_STATUS_INVALID_HANDLE);
        assert!(wrong.to_string().contains("is a crm_ctx, not a crm_db"));
        assert!(unsafe { unregister(p, Kind::Db, "db") }.is_err());
        assert_eq!(
            *unsafe { unregister(p, Kind::Ctx, "ctx") }.unwrap().unwrap(),
            7
        );
        // Now closed: detected, never dereferenced.
        let stale = unsafe { with_live(p, Kind::Ctx, "ctx", |v| *v) }.unwrap_err();
        assert!(stale.to_string().contains("already closed"));
        assert!(unsafe { unregister(p, Kind::Ctx, "ctx") }.is_err());
        let null = unsafe { with_live(std::ptr::null::<u64>(), Kind::Ctx, "ctx", |v| *v) };
        assert!(matches!(null, Err(FfiError::Null("ctx"))));
    }
}
