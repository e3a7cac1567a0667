//! # crm-ffi: the C ABI of the crm engine
//!
//! This crate builds `libcrm.so` (cdylib) and `libcrm.a` (staticlib) from [`crm_core`], and
//! `include/crm.h` is generated from it by cbindgen (`crm-ffi/cbindgen.toml`). It holds no
//! business logic: every exported function checks its arguments, calls one method of
//! [`crm_core::Crm`], and turns the result into a status code plus, on success, its outputs.
//!
//! The rule book (docs/c-api.md, DESIGN.md §5), as implemented here:
//!
//! - Names: `crm_<object>_<verb>`; opaque handles `crm_db`, `crm_ctx`, `crm_cursor`,
//!   `crm_plugins`; constants `CRM_*`. Object first, inputs next, outputs last as `out_*`.
//! - Every fallible function returns [`crm_status`]; outputs are written only on success; the
//!   detail of the last failure on a thread is in
//!   [`crm_last_error_message`](error::crm_last_error_message) /
//!   [`crm_last_error_code`](error::crm_last_error_code).
//! - Strings in are NUL-terminated UTF-8 borrowed for the call; strings out are owned by the
//!   caller and freed with [`crm_string_free`](strings::crm_string_free). Records, queries and
//!   options cross as JSON.
//! - No `bool` and no Rust enum is taken from C: flags and enums are `int32_t`, validated.
//! - Every exported function runs inside [`ffi_boundary!`]: a panic becomes
//!   `CRM_STATUS_PANIC` and never unwinds into C.
//!
//! One module per C object: [`db`], [`ctx`], [`cursor`], [`client`], [`custom_field`], [`org`]
//! (departments, users, roles, forbids), [`access`], [`audit`]; since ABI 1.1 also
//! [`pipeline`], [`deal`], [`activity`], [`timeline`], [`funnel`], [`settings`] (report time
//! zone, exchange rates), [`automation`], [`transfer`] (import and export), [`merge`],
//! [`backup`] and [`outbox`]; since ABI 1.2 [`plugins`] (the plugin host: list, enable,
//! disable, call, delivery status). The plumbing is in [`panic`], [`error`], [`strings`], [`handle`]
//! and [`progress`] (the progress callback).
#![allow(non_camel_case_types)]
// The safety contract of every exported function is the same and is stated once, at the top of
// crm.h and in docs/c-api.md: pointers are NULL or valid for the call, strings NUL-terminated.
#![allow(clippy::missing_safety_doc)]

#[cfg(panic = "abort")]
compile_error!(
    "crm-ffi must be built with panic = \"unwind\": its panic boundary turns a panic into \
     CRM_STATUS_PANIC, which an aborting build cannot do"
);

#[macro_use]
pub mod panic;

// The order below is the order of crm.h: the basics first, then one module per C object.
pub mod error;

pub mod strings;

pub mod db;

pub mod ctx;

pub mod client;

pub mod cursor;

pub mod custom_field;

pub mod org;

pub mod access;

pub mod audit;

pub mod progress;

pub mod pipeline;

pub mod deal;

pub mod activity;

pub mod timeline;

pub mod funnel;

pub mod settings;

pub mod automation;

pub mod transfer;

pub mod merge;

pub mod backup;

pub mod outbox;

pub mod plugins;

pub mod enums;
pub mod handle;
#[cfg(feature = "testing")]
pub mod testing;

pub use error::crm_status;

/// Major version of the C ABI. It changes only when a shipped signature or meaning changes
/// incompatibly; a host built against another major version must not use this library.
pub const CRM_ABI_VERSION_MAJOR: u32 = 1;

/// Minor version of the C ABI. It grows when functions or constants are added; a host built
/// against minor version N works with any library of the same major version and minor >= N.
///
/// 1.1 added pipelines, deals, activities, the client timeline, funnel reports, settings,
/// automation rules, import and export, merging clients, backups, the outbox,
/// `CRM_STATUS_CANCELLED`, `CRM_STATUS_IO`, `CRM_ENTITY_DEAL` and `CRM_ENTITY_ACTIVITY`.
///
/// 1.2 added the plugin host (`crm_plugins` and its functions) and the status codes
/// `CRM_STATUS_PLUGIN_DISABLED` (60) to `CRM_STATUS_PLUGIN_IO` (71).
pub const CRM_ABI_VERSION_MINOR: u32 = 2;

/// "No id": pass it where an optional id is expected, e.g. as the new parent of
/// `crm_department_move` to make the department a root. Real ids are always >= 1.
pub const CRM_NO_ID: i64 = 0;

/// Action "read": see a record (get, list, search, count, duplicates).
pub const CRM_ACTION_READ: i32 = 1;
/// Action "create": create a record inside the granted level.
pub const CRM_ACTION_CREATE: i32 = 2;
/// Action "update": change fields, archive and restore.
pub const CRM_ACTION_UPDATE: i32 = 3;
/// Action "delete": delete a record for good.
pub const CRM_ACTION_DELETE: i32 = 4;
/// Action "export": export records to a file.
pub const CRM_ACTION_EXPORT: i32 = 5;
/// Action "import": import records from a file.
pub const CRM_ACTION_IMPORT: i32 = 6;
/// Action "assign": give a record to another owner.
pub const CRM_ACTION_ASSIGN: i32 = 7;

/// Entity type "client": organisations and persons.
pub const CRM_ENTITY_CLIENT: i32 = 1;
/// Entity type "deal": deals in pipelines (custom fields of deals). Since ABI 1.1.
pub const CRM_ENTITY_DEAL: i32 = 2;
/// Entity type "activity": tasks, calls, meetings, e-mails and notes (custom fields of
/// activities). Since ABI 1.1.
pub const CRM_ENTITY_ACTIVITY: i32 = 3;
