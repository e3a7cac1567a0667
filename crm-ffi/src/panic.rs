//! The panic boundary: the one macro every exported function runs its body in.
//!
//! A Rust panic must never unwind into C (that is undefined behaviour), and must not take the
//! host process down either. [`ffi_boundary!`](crate::ffi_boundary) runs the body under
//! `catch_unwind`:
//!
//! - `ffi_boundary!({ ... })` — the body is a block returning `Result<(), FfiError>` (so `?`
//!   works). `Ok` becomes `CRM_STATUS_OK`; an error is recorded as this thread's last error and
//!   its status returned; a panic becomes `CRM_STATUS_PANIC`.
//! - `ffi_boundary!(on_panic = VALUE, { ... })` — for the few functions that return something
//!   else (a version number, a static string, nothing): the body's value is returned, or `VALUE`
//!   after a panic (which is recorded as the last error too).
//!
//! The crate refuses to build with `panic = "abort"` (see `lib.rs`), where no boundary could work.

/// Runs an exported function's body behind the panic boundary. See the module docs.
#[macro_export]
macro_rules! ffi_boundary {
    (on_panic = $default:expr, $body:block) => {{
        match ::std::panic::catch_unwind(::std::panic::AssertUnwindSafe(|| $body)) {
            ::std::result::Result::Ok(value) => value,
            ::std::result::Result::Err(payload) => {
                $crate::error::record_panic(payload);
                $default
            }
        }
    }};
    ($body:block) => {{
        match ::std::panic::catch_unwind(::std::panic::AssertUnwindSafe(
            || -> ::std::result::Result<(), $crate::error::FfiError> { $body },
        )) {
            ::std::result::Result::Ok(::std::result::Result::Ok(())) => {
                $crate::error::crm_status::CRM_STATUS_OK
            }
            ::std::result::Result::Ok(::std::result::Result::Err(e)) => e.record(),
            ::std::result::Result::Err(payload) => $crate::error::record_panic(payload),
        }
    }};
}
