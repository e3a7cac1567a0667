//! [`CallError`], the failure of a call across the plugin boundary, and the buffer helpers both
//! sides use to hand each other bytes they own.

use crate::abi::*;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A failed call across the plugin boundary: a status code (`CRM_PLUGIN_*`) and a message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallError {
    /// One of the `CRM_PLUGIN_*` status codes (never `CRM_PLUGIN_OK`).
    pub status: crm_plugin_status,
    /// What went wrong, in English. For a refused `crm_call`, a JSON error document.
    pub message: String,
}

impl CallError {
    /// A failure with a status and a message.
    pub fn with_status(status: crm_plugin_status, message: impl Into<String>) -> Self {
        let status = if status == CRM_PLUGIN_OK {
            CRM_PLUGIN_ERROR
        } else {
            status
        };
        CallError {
            status,
            message: message.into(),
        }
    }

    /// A plain failure (`CRM_PLUGIN_ERROR`).
    pub fn new(message: impl Into<String>) -> Self {
        Self::with_status(CRM_PLUGIN_ERROR, message)
    }

    /// The input was not what the method expects (`CRM_PLUGIN_BAD_REQUEST`).
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::with_status(CRM_PLUGIN_BAD_REQUEST, message)
    }

    /// There is no such method (`CRM_PLUGIN_UNKNOWN_METHOD`).
    pub fn unknown_method(method: &str) -> Self {
        Self::with_status(
            CRM_PLUGIN_UNKNOWN_METHOD,
            format!("unknown method {method:?}"),
        )
    }

    /// A transient failure: try again later (`CRM_PLUGIN_RETRY`).
    pub fn retry(message: impl Into<String>) -> Self {
        Self::with_status(CRM_PLUGIN_RETRY, message)
    }

    /// Refused (`CRM_PLUGIN_DENIED`).
    pub fn denied(message: impl Into<String>) -> Self {
        Self::with_status(CRM_PLUGIN_DENIED, message)
    }

    /// Abandoned on the host's request (`CRM_PLUGIN_CANCELLED`).
    pub fn cancelled() -> Self {
        Self::with_status(CRM_PLUGIN_CANCELLED, "cancelled by the host")
    }

    /// The stable name of the status, e.g. `bad_request`.
    pub fn status_name(&self) -> &'static str {
        status_name(self.status)
    }
}

/// The stable lower-case name of a `CRM_PLUGIN_*` status.
pub fn status_name(status: crm_plugin_status) -> &'static str {
    match status {
        CRM_PLUGIN_OK => "ok",
        CRM_PLUGIN_ERROR => "error",
        CRM_PLUGIN_BAD_REQUEST => "bad_request",
        CRM_PLUGIN_UNKNOWN_METHOD => "unknown_method",
        CRM_PLUGIN_DENIED => "denied",
        CRM_PLUGIN_CRM_ERROR => "crm_error",
        CRM_PLUGIN_RETRY => "retry",
        CRM_PLUGIN_CANCELLED => "cancelled",
        CRM_PLUGIN_PANIC => "panic",
        CRM_PLUGIN_NULL_ARGUMENT => "null_argument",
        _ => "unknown_status",
    }
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.status_name(), self.message)
    }
}

impl std::error::Error for CallError {}

impl From<serde_json::Error> for CallError {
    fn from(e: serde_json::Error) -> Self {
        CallError::bad_request(e.to_string())
    }
}

/// Hands `bytes` over as a raw buffer the receiver must give back to [`free_buffer`] (through
/// the `free` function of the side that allocated it). Empty input gives NULL and 0.
pub(crate) fn into_buffer(bytes: Vec<u8>) -> (*mut u8, usize) {
    if bytes.is_empty() {
        return (std::ptr::null_mut(), 0);
    }
    let boxed: Box<[u8]> = bytes.into_boxed_slice();
    let len = boxed.len();
    (Box::into_raw(boxed) as *mut u8, len)
}

/// Frees a buffer made by [`into_buffer`] in this same library.
///
/// # Safety
/// `ptr`/`len` must come from `into_buffer` of this library (or be NULL), and be freed once.
pub(crate) unsafe fn free_buffer(ptr: *mut u8, len: usize) {
    if !ptr.is_null() {
        drop(Box::from_raw(std::ptr::slice_from_raw_parts_mut(ptr, len)));
    }
}

/// Borrows `len` bytes at `ptr` (NULL or 0 length gives an empty slice).
///
/// # Safety
/// `ptr` must be NULL or valid for `len` bytes for the lifetime chosen.
pub(crate) unsafe fn bytes<'a>(ptr: *const u8, len: usize) -> &'a [u8] {
    if ptr.is_null() || len == 0 {
        &[]
    } else {
        std::slice::from_raw_parts(ptr, len)
    }
}

/// Writes a buffer to a pair of out-pointers (either may be NULL, then the buffer is freed).
///
/// # Safety
/// Out-pointers must be NULL or valid for writes.
pub(crate) unsafe fn write_out(out: *mut *mut u8, out_len: *mut usize, data: Vec<u8>) {
    let (p, n) = into_buffer(data);
    if out.is_null() || out_len.is_null() {
        free_buffer(p, n);
        return;
    }
    *out = p;
    *out_len = n;
}

/// The text of a panic payload.
pub(crate) fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_string()
    }
}

/// Parses a JSON document; empty input is `null`.
pub(crate) fn parse_json(bytes: &[u8]) -> Result<serde_json::Value, CallError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(serde_json::Value::Null);
    }
    serde_json::from_slice(bytes).map_err(|e| CallError::bad_request(format!("invalid JSON: {e}")))
}
