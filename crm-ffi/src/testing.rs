//! Test support, compiled only with the `testing` feature (never in a shipped build, and not
//! declared in crm.h): lets tests/c/ prove that a panic inside the library becomes
//! `CRM_STATUS_PANIC` and the process goes on.

use crate::crm_status;

/// Panics inside the boundary when `really` is non-zero; returns `CRM_STATUS_OK` otherwise.
#[no_mangle]
pub extern "C" fn crm_testing_panic(really: i32) -> crm_status {
    ffi_boundary!({
        if really != 0 {
            panic!("crm_testing_panic was asked to panic");
        }
        Ok(())
    })
}
