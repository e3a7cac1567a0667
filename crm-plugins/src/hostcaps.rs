//! The host side of the capability table: [`HostCaps`] is what a host implements in Rust, and
//! [`HostTable`] turns it into the `crm_plugin_host` C table handed to a plugin instance.
//!
//! Three hosts implement it: the real [`crate::host::PluginHost`], the out-of-process runner
//! (which forwards every capability over stdio to the real host), and the test
//! [`crate::sdk::testing::Harness`].

use crate::abi::*;
use crate::call::{self, CallError};
use std::ffi::{c_char, c_void, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

/// What a host offers a plugin instance. Every method may be called from any thread.
pub trait HostCaps: Send + Sync {
    /// A line for the host log (`level` is a `CRM_PLUGIN_LOG_*` value).
    fn log(&self, level: i32, message: &str);
    /// A record handed over by the plugin (a JSON document).
    fn emit(&self, record: &[u8]) -> Result<(), CallError>;
    /// A CRM call as the plugin's user: JSON in, JSON out. On failure the message is a JSON
    /// error document.
    fn crm_call(&self, method: &str, input: &[u8]) -> Result<Vec<u8>, CallError>;
    /// Whether the instance should stop what it is doing.
    fn is_cancelled(&self) -> bool;
}

/// A `crm_plugin_host` table bound to a [`HostCaps`]. Keep it alive (and at the same address:
/// it is boxed) until the instance it was given to is destroyed.
pub struct HostTable {
    table: Box<crm_plugin_host>,
    // The table's host_data points into this box.
    _caps: Box<Arc<dyn HostCaps>>,
}

// The table holds only function pointers and a pointer to the boxed `Arc<dyn HostCaps>`,
// which is Send + Sync.
unsafe impl Send for HostTable {}
unsafe impl Sync for HostTable {}

impl HostTable {
    /// A table whose functions call `caps`.
    pub fn new(caps: Arc<dyn HostCaps>) -> Self {
        let mut boxed: Box<Arc<dyn HostCaps>> = Box::new(caps);
        let data = (&mut *boxed) as *mut Arc<dyn HostCaps> as *mut c_void;
        let table = Box::new(crm_plugin_host {
            struct_size: std::mem::size_of::<crm_plugin_host>() as u32,
            abi_major: CRM_PLUGIN_ABI_MAJOR,
            abi_minor: CRM_PLUGIN_ABI_MINOR,
            host_data: data,
            log: Some(host_log),
            emit: Some(host_emit),
            crm_call: Some(host_crm_call),
            is_cancelled: Some(host_is_cancelled),
            free: Some(host_free),
        });
        HostTable {
            table,
            _caps: boxed,
        }
    }

    /// The C table.
    pub fn as_ptr(&self) -> *const crm_plugin_host {
        &*self.table
    }
}

unsafe fn caps<'a>(data: *mut c_void) -> Option<&'a Arc<dyn HostCaps>> {
    (data as *const Arc<dyn HostCaps>).as_ref()
}

unsafe extern "C" fn host_log(data: *mut c_void, level: i32, message: *const u8, len: usize) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        if let Some(c) = caps(data) {
            let text = String::from_utf8_lossy(call::bytes(message, len));
            c.log(level, &text);
        }
    }));
}

unsafe extern "C" fn host_emit(data: *mut c_void, record: *const u8, len: usize) -> i32 {
    catch_unwind(AssertUnwindSafe(|| match caps(data) {
        None => CRM_PLUGIN_NULL_ARGUMENT,
        Some(c) => match c.emit(call::bytes(record, len)) {
            Ok(()) => CRM_PLUGIN_OK,
            Err(e) => e.status,
        },
    }))
    .unwrap_or(CRM_PLUGIN_PANIC)
}

unsafe extern "C" fn host_crm_call(
    data: *mut c_void,
    method: *const c_char,
    input: *const u8,
    input_len: usize,
    out: *mut *mut u8,
    out_len: *mut usize,
) -> i32 {
    catch_unwind(AssertUnwindSafe(|| {
        let Some(c) = caps(data) else {
            return CRM_PLUGIN_NULL_ARGUMENT;
        };
        if method.is_null() {
            call::write_out(out, out_len, error_doc("bad_request", "method is NULL"));
            return CRM_PLUGIN_NULL_ARGUMENT;
        }
        let Ok(method) = CStr::from_ptr(method).to_str() else {
            call::write_out(
                out,
                out_len,
                error_doc("bad_request", "method is not UTF-8"),
            );
            return CRM_PLUGIN_BAD_REQUEST;
        };
        match c.crm_call(method, call::bytes(input, input_len)) {
            Ok(bytes) => {
                call::write_out(out, out_len, bytes);
                CRM_PLUGIN_OK
            }
            Err(e) => {
                call::write_out(out, out_len, e.message.into_bytes());
                e.status
            }
        }
    }))
    .unwrap_or(CRM_PLUGIN_PANIC)
}

unsafe extern "C" fn host_is_cancelled(data: *mut c_void) -> i32 {
    catch_unwind(AssertUnwindSafe(|| match caps(data) {
        Some(c) => i32::from(c.is_cancelled()),
        None => 0,
    }))
    .unwrap_or(0)
}

unsafe extern "C" fn host_free(_data: *mut c_void, ptr: *mut u8, len: usize) {
    let _ = catch_unwind(|| call::free_buffer(ptr, len));
}

/// A JSON error document `{"kind": kind, "message": message}` as bytes.
pub(crate) fn error_doc(kind: &str, message: &str) -> Vec<u8> {
    serde_json::json!({ "kind": kind, "message": message })
        .to_string()
        .into_bytes()
}
