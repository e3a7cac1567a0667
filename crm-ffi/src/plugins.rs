//! `crm_plugins`: the plugin host of one database (ABI 1.2).
//!
//! A thin wrapper around [`crm_plugins::PluginHost`]: every function checks its arguments,
//! calls one method of the host, and returns its serde result as JSON. Errors of the host
//! ([`crm_plugins::PluginError`], codes 60–71) become the `CRM_STATUS_PLUGIN_*` statuses of the
//! same numbers.
//!
//! Lifetime. The handle holds an `Arc<HostInner>`: an `RwLock<Option<PluginHost>>`. Every call
//! runs under the read lock (so calls run in parallel, including slow plugin calls), and the
//! host is taken out under the write lock (waiting for calls in flight) either by
//! `crm_plugins_close` or, when the database is closed first, by `crm_db_close` (the database
//! keeps a weak list of its hosts, see [`crate::db::Shared`]). Taking the host out drops it, and
//! dropping a `PluginHost` disables every plugin: delivery threads stopped and joined, instances
//! destroyed, runner processes ended, and the host's references to the engine released. A
//! handle whose database was closed answers `CRM_STATUS_DB_CLOSED` until it is freed. Plugin
//! libraries stay mapped (never `dlclose`d, as the plugin host design requires). (A delivery
//! thread stuck inside a plugin past `stop_timeout_ms` is not joined; it holds its `Arc<Crm>`
//! until the plugin returns, then ends.)

use crate::db::{crm_db, db_arg};
use crate::error::{crm_status, FfiError};
use crate::handle::{self, Kind};
use crate::strings::{arg_json, arg_opt_str, arg_str, parse_json, Out};
use ::crm_plugins::{EnableOptions, HostConfig, PluginError, PluginHost};
use serde::de::DeserializeOwned;
use std::ffi::c_char;
use std::sync::{Arc, PoisonError, RwLock};

/// The plugin host of one database: it lists the plugins installed in its plugin directory,
/// enables and disables them, calls them, and delivers the database's outbox events to the
/// plugins that subscribe to them (one delivery thread per plugin). Open it with
/// `crm_plugins_open`, close it with `crm_plugins_close`. Thread-safe: share one handle between
/// all threads. Closing its database first is allowed: `crm_db_close` disables its plugins and
/// every later call answers CRM_STATUS_DB_CLOSED until the handle is freed.
pub struct crm_plugins {
    inner: Arc<HostInner>,
}

/// The host as seen by its handle and by its database (which shuts it down on close).
pub struct HostInner {
    host: RwLock<Option<PluginHost>>,
}

impl HostInner {
    /// Runs `f` on the host, or fails with `CRM_STATUS_DB_CLOSED` once it was shut down.
    fn run<R>(&self, f: impl FnOnce(&PluginHost) -> Result<R, PluginError>) -> Result<R, FfiError> {
        let guard = self.host.read().unwrap_or_else(PoisonError::into_inner);
        let host = guard.as_ref().ok_or_else(|| {
            FfiError::new(
                crm_status::CRM_STATUS_DB_CLOSED,
                "the database of this plugin host has been closed with crm_db_close (its \
                 plugins were disabled then)",
            )
        })?;
        f(host).map_err(FfiError::from)
    }

    /// Waits for the calls in flight, then drops the host: every plugin is disabled. Idempotent.
    pub(crate) fn shut_down(&self) {
        let host = self
            .host
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        // `PluginHost::drop` disables every plugin (outside the lock: nothing waits on it now).
        drop(host);
    }
}

/// Parses an options document, which must be a JSON object (serde would also take an array
/// for a struct whose fields all have defaults).
fn parse_object<T: DeserializeOwned>(text: &str, name: &'static str) -> Result<T, FfiError> {
    let value = parse_json::<T>(text, name)?;
    if !text.trim_start().starts_with('{') {
        return Err(FfiError::new(
            crm_status::CRM_STATUS_JSON_SHAPE,
            format!(
                "argument `{name}` has the wrong JSON shape at the top level: expected an object"
            ),
        ));
    }
    Ok(value)
}

/// Looks up a live `crm_plugins` argument.
///
/// # Safety
/// `plugins` is NULL or any pointer (only a live handle is dereferenced).
unsafe fn plugins_arg(plugins: *const crm_plugins) -> Result<Arc<HostInner>, FfiError> {
    // SAFETY: forwarded contract.
    unsafe { handle::with_live(plugins, Kind::Plugins, "plugins", |h| h.inner.clone()) }
}

/// Opens the plugin host of database `db` and writes a new handle to `*out_plugins`.
///
/// `config_json` may be NULL for the defaults, or an object with any of:
/// `"plugin_dir"` (the directory holding one sub-directory per installed plugin; without it
/// plugin loading is off and every plugin call fails with CRM_STATUS_PLUGIN_DISABLED),
/// `"runner"` (the `crm-plugin-runner` executable for out-of-process plugins; default: the
/// CRM_PLUGIN_RUNNER environment variable, else beside the executable, else on the PATH),
/// `"poll_interval_ms"` (how often an idle delivery thread looks for new events, default 250),
/// `"batch_size"` (events per delivery, 1-10000, default 500), `"retry_initial_ms"` (200) and
/// `"retry_max_ms"` (60000) (back-off after a failed delivery), `"call_timeout_ms"` (60000, out
/// of process), `"stop_timeout_ms"` (how long disabling waits for a busy plugin, 10000),
/// `"log_lines"` (log lines kept per plugin, 200), `"emitted_capacity"` (records kept per plugin
/// for `crm_plugins_take_emitted`, 10000). Unknown keys are refused. Example:
/// `{"plugin_dir": "/opt/erp/crm-plugins"}`. Opening runs no plugin code.
///
/// Close the handle with `crm_plugins_close`; closing `db` first shuts the host down as well
/// (see `crm_db_close`). Several hosts may be opened on one database, but enable a plugin in
/// one of them only (they would share its delivery cursor). Fails with CRM_STATUS_JSON_SHAPE
/// for an unknown key or a value of the wrong type, CRM_STATUS_PLUGIN_INVALID for a value out
/// of range (`batch_size`). The plugin directory is read only by the calls that need it.
#[no_mangle]
pub unsafe extern "C" fn crm_plugins_open(
    db: *const crm_db,
    config_json: *const c_char,
    out_plugins: *mut *mut crm_plugins,
) -> crm_status {
    ffi_boundary!({
        // SAFETY (all blocks below): arguments are valid for the call by the C contract.
        let db = unsafe { db_arg(db) }?;
        let config = match unsafe { arg_opt_str(config_json, "config_json") }? {
            Some(text) => parse_object::<HostConfig>(text, "config_json")?,
            None => HostConfig::default(),
        };
        let out = Out::new(out_plugins, "out_plugins")?;
        let inner = db.open_host(|crm| {
            let host = PluginHost::new(crm, config)?;
            Ok(Arc::new(HostInner {
                host: RwLock::new(Some(host)),
            }))
        })?;
        unsafe { out.write(handle::register(crm_plugins { inner }, Kind::Plugins)) };
        Ok(())
    })
}

/// Shuts a plugin host down and frees its handle. NULL is ignored.
///
/// Every enabled plugin is disabled first: its delivery thread is stopped (this waits up to the
/// host's `stop_timeout_ms` for a plugin busy in a call), its instance destroyed, its runner
/// process ended. Calls running on other threads with this host finish first. Delivery cursors
/// are kept in the database, so a later host resumes where this one stopped. Plugin libraries
/// stay loaded in the process (they are never unloaded; enabling the plugin again in a new host
/// reuses them). Safe from any thread, before or after `crm_db_close` of its database. Do not
/// use `plugins` afterwards (a closed handle passed again is detected where possible:
/// CRM_STATUS_INVALID_HANDLE in `crm_last_error_code()`).
#[no_mangle]
pub unsafe extern "C" fn crm_plugins_close(plugins: *mut crm_plugins) {
    ffi_boundary!(on_panic = (), {
        // SAFETY: only a live handle is taken back.
        unsafe {
            handle::destroy(plugins, Kind::Plugins, "plugins", |h| {
                h.inner.shut_down();
            })
        }
    })
}

/// Writes every plugin installed in the plugin directory to `*out_json`, sorted by id, as a
/// JSON array of `{"id": "hello", "dir": "/opt/erp/crm-plugins/hello", "manifest": {"id",
/// "name", "version", "abi", "library", "sha256", "capabilities", "events", "description"} |
/// null, "valid": true, "error": null | {"code": 63, "kind": "checksum", "message": "..."},
/// "enabled": false}`. Listing runs no plugin code: it reads each manifest, hashes each library
/// and checks that it exports its entry symbol; a plugin that fails a check is listed with
/// `"valid": false` and the reason in `"error"`. Free the string with `crm_string_free`.
/// Fails with CRM_STATUS_PLUGIN_DISABLED without a plugin directory, CRM_STATUS_PLUGIN_IO when
/// it cannot be read.
#[no_mangle]
pub unsafe extern "C" fn crm_plugins_list(
    plugins: *const crm_plugins,
    out_json: *mut *mut c_char,
) -> crm_status {
    ffi_boundary!({
        // SAFETY (all blocks below): arguments are valid for the call by the C contract.
        let host = unsafe { plugins_arg(plugins) }?;
        let out = Out::new(out_json, "out_json")?;
        let list = host.run(|h| h.list())?;
        unsafe { out.write_json(&list) }
    })
}

/// Enables plugin `id`: checks it again, loads its library (or starts its runner process),
/// creates its instance and, when its manifest subscribes to events, starts its delivery
/// thread. Writes its status (as `crm_plugins_status`) to `*out_status_json`.
///
/// `options_json` may be NULL for the defaults, or an object with any of: `"user_id"` (the CRM
/// user the plugin acts as: its CRM calls and the events it receives are bound by that user's
/// permissions; required when the manifest asks for `crm.read`, `crm.write` or events),
/// `"config"` (an object passed to the plugin's `create`, default `{}`), `"mode"`
/// (`"in_process"`, the default, or `"out_of_process"`: the plugin runs in a
/// `crm-plugin-runner` child process, so a crash costs a restart, not the host),
/// `"start_at_head"` (true: a plugin that never acknowledged an event skips what the outbox
/// already holds). Unknown keys are refused. Example: `{"user_id": 7, "config": {"url":
/// "http://127.0.0.1:9000/hook"}}`.
///
/// Refused, with nothing loaded or started, with CRM_STATUS_PLUGIN_NOT_FOUND (no such plugin),
/// CRM_STATUS_PLUGIN_MANIFEST, CRM_STATUS_PLUGIN_CHECKSUM, CRM_STATUS_PLUGIN_ABI,
/// CRM_STATUS_PLUGIN_ALREADY_ENABLED, CRM_STATUS_PLUGIN_INVALID (e.g. no `user_id`),
/// CRM_STATUS_NOT_FOUND (unknown user), CRM_STATUS_PLUGIN_CREATE (the plugin's `create`
/// failed), CRM_STATUS_PLUGIN_CRASHED (its runner did not start).
#[no_mangle]
pub unsafe extern "C" fn crm_plugins_enable(
    plugins: *const crm_plugins,
    id: *const c_char,
    options_json: *const c_char,
    out_status_json: *mut *mut c_char,
) -> crm_status {
    ffi_boundary!({
        // SAFETY (all blocks below): arguments are valid for the call by the C contract.
        let host = unsafe { plugins_arg(plugins) }?;
        let id = unsafe { arg_str(id, "id") }?;
        let options = match unsafe { arg_opt_str(options_json, "options_json") }? {
            Some(text) => parse_object::<EnableOptions>(text, "options_json")?,
            None => EnableOptions::default(),
        };
        let out = Out::new(out_status_json, "out_status_json")?;
        let status = host.run(|h| h.enable(id, &options))?;
        unsafe { out.write_json(&status) }
    })
}

/// Disables plugin `id`: asks it to cancel, stops its delivery thread (waiting up to the
/// host's `stop_timeout_ms` for a call in progress) and destroys its instance (its runner
/// process exits). Its delivery cursor is kept; its library stays loaded, and enabling it again
/// reuses it. Fails with CRM_STATUS_PLUGIN_NOT_ENABLED when it is not enabled.
#[no_mangle]
pub unsafe extern "C" fn crm_plugins_disable(
    plugins: *const crm_plugins,
    id: *const c_char,
) -> crm_status {
    ffi_boundary!({
        // SAFETY (all blocks below): arguments are valid for the call by the C contract.
        let host = unsafe { plugins_arg(plugins) }?;
        let id = unsafe { arg_str(id, "id") }?;
        host.run(|h| h.disable(id))
    })
}

/// Calls `method` of the enabled plugin `id` with the JSON document `input_json` (`{}` when the
/// method takes nothing) and writes the plugin's JSON answer to `*out_json` (free it with
/// `crm_string_free`). The methods are the plugin's own (see its documentation); names starting
/// with `crm.` are reserved for the host (CRM_STATUS_PLUGIN_INVALID). The call runs on the
/// calling thread and waits while the plugin's delivery thread is inside the plugin.
///
/// A failure inside the plugin is CRM_STATUS_PLUGIN_CALL, with the plugin's status as a
/// lower-case name (`unknown_method`, `bad_request`, `denied`, `panic`, ...) and its message in
/// `crm_last_error_message()`, e.g. `plugin "hello", method "nope": unknown_method: hello:
/// unknown method "nope"`; the plugin stays enabled. An out-of-process plugin whose
/// runner crashed or timed out gives CRM_STATUS_PLUGIN_CRASHED, and the next call starts a new
/// runner. CRM_STATUS_PLUGIN_NOT_ENABLED when `id` is not enabled.
#[no_mangle]
pub unsafe extern "C" fn crm_plugins_call(
    plugins: *const crm_plugins,
    id: *const c_char,
    method: *const c_char,
    input_json: *const c_char,
    out_json: *mut *mut c_char,
) -> crm_status {
    ffi_boundary!({
        // SAFETY (all blocks below): arguments are valid for the call by the C contract.
        let host = unsafe { plugins_arg(plugins) }?;
        let id = unsafe { arg_str(id, "id") }?;
        let method = unsafe { arg_str(method, "method") }?;
        let input: serde_json::Value = unsafe { arg_json(input_json, "input_json") }?;
        let out = Out::new(out_json, "out_json")?;
        let answer = host.run(|h| h.call(id, method, &input))?;
        unsafe { out.write_json(&answer) }
    })
}

/// Writes the state of plugin `id` to `*out_json` (free it with `crm_string_free`):
/// `{"id": "hello", "enabled": true, "mode": "in_process" | "out_of_process" | null,
/// "user_id": 7 | null, "name": "hello", "version": "1.0.0", "events": ["client.create"],
/// "delivery": null | {"state": "idle" | "delivering" | "backing_off" | "stopped", "cursor": 41,
/// "head": 45, "delivered": 41, "batches": 3, "failures": 0, "consecutive_failures": 0,
/// "last_error": null, "last_delivery_at": "2026-11-25T09:30:00.123Z", "next_attempt_at":
/// null}, "restarts": 0, "emitted_pending": 0, "emitted_dropped": 0, "log": [{"at": "...",
/// "level": "info", "message": "hello: created"}]}`.
///
/// `delivery` is present for plugins that subscribe to events: `cursor` is the last event the
/// plugin acknowledged (kept in the database), `head` the newest event in the outbox. For an
/// installed plugin that is not enabled, `enabled` is false and `delivery` holds its persisted
/// cursor. Fails with CRM_STATUS_PLUGIN_NOT_FOUND for an unknown id.
#[no_mangle]
pub unsafe extern "C" fn crm_plugins_status(
    plugins: *const crm_plugins,
    id: *const c_char,
    out_json: *mut *mut c_char,
) -> crm_status {
    ffi_boundary!({
        // SAFETY (all blocks below): arguments are valid for the call by the C contract.
        let host = unsafe { plugins_arg(plugins) }?;
        let id = unsafe { arg_str(id, "id") }?;
        let out = Out::new(out_json, "out_json")?;
        let status = host.run(|h| h.status(id))?;
        unsafe { out.write_json(&status) }
    })
}

/// Writes the states of every enabled plugin to `*out_json`, as a JSON array of the documents
/// `crm_plugins_status` writes, sorted by id (`[]` when none is enabled, and always `[]`
/// without a plugin directory). Free it with `crm_string_free`.
#[no_mangle]
pub unsafe extern "C" fn crm_plugins_statuses(
    plugins: *const crm_plugins,
    out_json: *mut *mut c_char,
) -> crm_status {
    ffi_boundary!({
        // SAFETY (all blocks below): arguments are valid for the call by the C contract.
        let host = unsafe { plugins_arg(plugins) }?;
        let out = Out::new(out_json, "out_json")?;
        let statuses = host.run(|h| Ok(h.statuses()))?;
        unsafe { out.write_json(&statuses) }
    })
}

/// Takes the records plugin `id` emitted (capability `emit`) since the last call and writes them
/// to `*out_json` as a JSON array, oldest first (`[]` when there are none). The host keeps up to
/// `emitted_capacity` records per plugin and drops the oldest beyond that (counted in the
/// status's `emitted_dropped`). Free the string with `crm_string_free`. Fails with
/// CRM_STATUS_PLUGIN_NOT_ENABLED when the plugin is not enabled.
#[no_mangle]
pub unsafe extern "C" fn crm_plugins_take_emitted(
    plugins: *const crm_plugins,
    id: *const c_char,
    out_json: *mut *mut c_char,
) -> crm_status {
    ffi_boundary!({
        // SAFETY (all blocks below): arguments are valid for the call by the C contract.
        let host = unsafe { plugins_arg(plugins) }?;
        let id = unsafe { arg_str(id, "id") }?;
        let out = Out::new(out_json, "out_json")?;
        let records = host.run(|h| h.take_emitted(id))?;
        unsafe { out.write_json(&records) }
    })
}

/// Wakes every delivery thread of this host to look for new events now. Delivery threads poll
/// the outbox every `poll_interval_ms` anyway; call this after a commit when the latency
/// matters. Cheap; does nothing when no plugin is enabled.
#[no_mangle]
pub unsafe extern "C" fn crm_plugins_notify(plugins: *const crm_plugins) -> crm_status {
    ffi_boundary!({
        // SAFETY: arguments are valid for the call by the C contract.
        let host = unsafe { plugins_arg(plugins) }?;
        host.run(|h| {
            h.notify();
            Ok(())
        })
    })
}
