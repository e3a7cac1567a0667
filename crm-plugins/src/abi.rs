//! The plugin ABI: the C types both sides of the plugin boundary agree on.
//!
//! `include/crm_plugin.h` is generated from this module by cbindgen; the header is the
//! reference for vendors who write connectors in C, C++ or Delphi. Everything here is
//! `#[repr(C)]`, plain integers, pointers and function pointers: no Rust enum, no `bool`.
//!
//! The shape of the boundary:
//!
//! 1. The plugin library exports one symbol, `crm_plugin_entry_v1` ([`crm_plugin_entry_fn`]),
//!    which returns a pointer to a static [`crm_plugin`] table.
//! 2. The host checks the table's `struct_size`, `abi_major` and `abi_minor` before it calls
//!    anything else in it.
//! 3. The host calls `create` with its capability table ([`crm_plugin_host`]) and the instance's
//!    JSON configuration, then `call` with method names and JSON documents, then `destroy`.
//! 4. Each side frees only what it allocated: outputs of the plugin with the plugin's `free`,
//!    outputs of the host with the host's `free`.
#![allow(non_camel_case_types)]

use std::ffi::{c_char, c_void};

/// Major version of the plugin ABI. A host refuses a plugin whose table has another major.
pub const CRM_PLUGIN_ABI_MAJOR: u16 = 1;

/// Minor version of the plugin ABI. Minor versions only append fields to the end of the tables;
/// a host refuses a plugin built for a newer minor than its own.
pub const CRM_PLUGIN_ABI_MINOR: u16 = 0;

/// The outcome of a call across the plugin boundary, in either direction. `CRM_PLUGIN_OK`
/// (0) is success; every other value is a failure whose message (UTF-8 text, or a JSON error
/// document for `crm_call`) is in the call's output buffer.
pub type crm_plugin_status = i32;

/// Success.
pub const CRM_PLUGIN_OK: crm_plugin_status = 0;
/// A failure the callee describes in its message.
pub const CRM_PLUGIN_ERROR: crm_plugin_status = 1;
/// The input was not valid JSON, or not the shape the method expects.
pub const CRM_PLUGIN_BAD_REQUEST: crm_plugin_status = 2;
/// The callee has no method of that name.
pub const CRM_PLUGIN_UNKNOWN_METHOD: crm_plugin_status = 3;
/// Refused: the plugin lacks the capability, or its CRM user lacks the permission.
pub const CRM_PLUGIN_DENIED: crm_plugin_status = 4;
/// The CRM refused the operation (validation, not found, conflict...): the output is a JSON
/// error document `{"kind": ..., "code": ..., "message": ..., "field": ...}`.
pub const CRM_PLUGIN_CRM_ERROR: crm_plugin_status = 5;
/// A transient failure (a remote system is down): the host tries again later.
pub const CRM_PLUGIN_RETRY: crm_plugin_status = 6;
/// The work was abandoned because the host asked to cancel (see `is_cancelled`).
pub const CRM_PLUGIN_CANCELLED: crm_plugin_status = 7;
/// The callee panicked (Rust) or threw (C++); the instance is still usable.
pub const CRM_PLUGIN_PANIC: crm_plugin_status = 8;
/// A required pointer argument was NULL.
pub const CRM_PLUGIN_NULL_ARGUMENT: crm_plugin_status = 9;

/// Log level: something failed.
pub const CRM_PLUGIN_LOG_ERROR: i32 = 1;
/// Log level: something looks wrong.
pub const CRM_PLUGIN_LOG_WARN: i32 = 2;
/// Log level: normal operation.
pub const CRM_PLUGIN_LOG_INFO: i32 = 3;
/// Log level: detail for debugging.
pub const CRM_PLUGIN_LOG_DEBUG: i32 = 4;

/// Creates an instance of the plugin.
///
/// - `host`: the host's capability table, valid until `destroy` of this instance returns.
/// - `config`, `config_len`: the instance's configuration, a JSON document (UTF-8, not
///   NUL-terminated), borrowed for the call.
/// - `out_instance`: receives the plugin's opaque instance pointer on success.
/// - `out_error`, `out_error_len`: on failure, may receive a UTF-8 message allocated by the
///   plugin (the host frees it with the table's `free`); left NULL otherwise.
pub type crm_plugin_create_fn = Option<
    unsafe extern "C" fn(
        host: *const crm_plugin_host,
        config: *const u8,
        config_len: usize,
        out_instance: *mut *mut c_void,
        out_error: *mut *mut u8,
        out_error_len: *mut usize,
    ) -> crm_plugin_status,
>;

/// Calls a method of an instance.
///
/// - `method`: NUL-terminated UTF-8 method name, borrowed for the call. Names starting with
///   `crm.` are reserved for the host: `crm.events` delivers events.
/// - `input`, `input_len`: a JSON document, borrowed for the call.
/// - `out`, `out_len`: receive a buffer allocated by the plugin (NULL and 0 for none), freed by
///   the host with the table's `free`. On `CRM_PLUGIN_OK` it holds the JSON result (none means
///   `null`); on failure a UTF-8 message.
///
/// The host never calls one instance from two threads at once, but successive calls may come
/// from different threads.
pub type crm_plugin_call_fn = Option<
    unsafe extern "C" fn(
        instance: *mut c_void,
        method: *const c_char,
        input: *const u8,
        input_len: usize,
        out: *mut *mut u8,
        out_len: *mut usize,
    ) -> crm_plugin_status,
>;

/// Frees a buffer the plugin returned through `out`/`out_error` (`ptr` and `len` exactly as
/// returned). NULL is ignored.
pub type crm_plugin_free_fn = Option<unsafe extern "C" fn(ptr: *mut u8, len: usize)>;

/// Destroys an instance: stop background work, release everything. After it returns the
/// plugin must not use the host table it got in `create`.
pub type crm_plugin_destroy_fn = Option<unsafe extern "C" fn(instance: *mut c_void)>;

/// The table a plugin library returns from `crm_plugin_entry_v1`. It must stay valid and
/// unchanged for the life of the process (a static). Fields are never reordered; a newer minor
/// version of the ABI only appends fields, and `struct_size` tells the host which exist.
#[repr(C)]
pub struct crm_plugin {
    /// `sizeof(crm_plugin)` as the plugin was compiled.
    pub struct_size: u32,
    /// `CRM_PLUGIN_ABI_MAJOR` as the plugin was compiled.
    pub abi_major: u16,
    /// `CRM_PLUGIN_ABI_MINOR` as the plugin was compiled.
    pub abi_minor: u16,
    /// The plugin's name, NUL-terminated UTF-8, static.
    pub name: *const c_char,
    /// The plugin's version, NUL-terminated UTF-8, static.
    pub version: *const c_char,
    /// Creates an instance. Required.
    pub create: crm_plugin_create_fn,
    /// Calls a method of an instance. Required.
    pub call: crm_plugin_call_fn,
    /// Frees a buffer the plugin returned. Required.
    pub free: crm_plugin_free_fn,
    /// Destroys an instance. Required.
    pub destroy: crm_plugin_destroy_fn,
}

// A plugin table is immutable static data: its pointers lead to static strings and functions.
unsafe impl Sync for crm_plugin {}
unsafe impl Send for crm_plugin {}

/// The type of the one symbol a plugin library exports, `crm_plugin_entry_v1`: returns the
/// plugin's static table. It must not fail and must not do any work beyond that.
pub type crm_plugin_entry_fn = Option<unsafe extern "C" fn() -> *const crm_plugin>;

/// Writes one line to the host's log for this instance. `message` is UTF-8 of `len` bytes,
/// borrowed for the call; `level` is one of the `CRM_PLUGIN_LOG_*` values.
pub type crm_plugin_log_fn = Option<
    unsafe extern "C" fn(host_data: *mut c_void, level: i32, message: *const u8, len: usize),
>;

/// Hands a record (a JSON document of `len` bytes, borrowed for the call) to the host, e.g. a
/// row read from an external system. Needs the `emit` capability.
pub type crm_plugin_emit_fn = Option<
    unsafe extern "C" fn(
        host_data: *mut c_void,
        record: *const u8,
        len: usize,
    ) -> crm_plugin_status,
>;

/// Calls the CRM as the plugin's own user, with that user's permissions: `method` such as
/// `clients.search` (NUL-terminated), `input` a JSON document. `out`/`out_len` receive a buffer
/// allocated by the host, freed with the host table's `free`: the JSON result on
/// `CRM_PLUGIN_OK`, a JSON error document otherwise. Reads need the `crm.read` capability,
/// writes `crm.write`. Callable from any thread while the instance exists.
pub type crm_plugin_crm_call_fn = Option<
    unsafe extern "C" fn(
        host_data: *mut c_void,
        method: *const c_char,
        input: *const u8,
        input_len: usize,
        out: *mut *mut u8,
        out_len: *mut usize,
    ) -> crm_plugin_status,
>;

/// 1 when the host asks the instance to stop what it is doing (it is being disabled, the host
/// is shutting down, or the current call timed out); 0 otherwise. Cheap: poll it in loops.
pub type crm_plugin_is_cancelled_fn = Option<unsafe extern "C" fn(host_data: *mut c_void) -> i32>;

/// Frees a buffer the host returned through `crm_call`. NULL is ignored.
pub type crm_plugin_host_free_fn =
    Option<unsafe extern "C" fn(host_data: *mut c_void, ptr: *mut u8, len: usize)>;

/// The host's capability table, passed to `create`. Valid until `destroy` of the instance
/// returns. Pass `host_data` as the first argument of every function in it. Every function is
/// thread-safe.
#[repr(C)]
pub struct crm_plugin_host {
    /// `sizeof(crm_plugin_host)` as the host was compiled.
    pub struct_size: u32,
    /// The host's `CRM_PLUGIN_ABI_MAJOR`.
    pub abi_major: u16,
    /// The host's `CRM_PLUGIN_ABI_MINOR`.
    pub abi_minor: u16,
    /// Opaque; the first argument of every function below.
    pub host_data: *mut c_void,
    /// Writes to the host log.
    pub log: crm_plugin_log_fn,
    /// Hands a record to the host.
    pub emit: crm_plugin_emit_fn,
    /// Calls the CRM as the plugin's user.
    pub crm_call: crm_plugin_crm_call_fn,
    /// Whether the host asks the instance to stop.
    pub is_cancelled: crm_plugin_is_cancelled_fn,
    /// Frees a buffer returned by `crm_call`.
    pub free: crm_plugin_host_free_fn,
}

/// The name of the symbol every plugin library exports (see `crm_plugin_entry_fn`).
pub const CRM_PLUGIN_ENTRY_SYMBOL: &str = "crm_plugin_entry_v1";

// The v1.0 tables on 64-bit targets: 56 bytes each. A host accepts any `struct_size` at least
// this large; fields beyond it belong to newer minor versions.
#[cfg(target_pointer_width = "64")]
const _: () = {
    assert!(std::mem::size_of::<crm_plugin>() == 56);
    assert!(std::mem::size_of::<crm_plugin_host>() == 56);
};
