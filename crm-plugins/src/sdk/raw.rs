//! The generic `extern "C"` functions behind [`export_connector!`](crate::export_connector).
//! Not for direct use.

use super::{Ack, Connector, Error, EventBatch, Host};
use crate::abi::*;
use crate::call;
use std::cell::{Cell, RefCell};
use std::ffi::{c_char, c_void, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Once;

/// A plugin table in a static.
pub struct Table(crm_plugin);

// The table holds only function pointers and pointers to static strings.
unsafe impl Sync for Table {}

impl Table {
    /// The table of connector `C`; `name` and `version` must end with a NUL.
    pub const fn new<C: Connector>(name: &'static str, version: &'static str) -> Table {
        Table(crm_plugin {
            struct_size: std::mem::size_of::<crm_plugin>() as u32,
            abi_major: CRM_PLUGIN_ABI_MAJOR,
            abi_minor: CRM_PLUGIN_ABI_MINOR,
            name: name.as_ptr() as *const c_char,
            version: version.as_ptr() as *const c_char,
            create: Some(create::<C>),
            call: Some(call_fn::<C>),
            free: Some(free_fn),
            destroy: Some(destroy::<C>),
        })
    }

    /// The C table.
    pub const fn as_ptr(&self) -> *const crm_plugin {
        &self.0
    }
}

/// A table for `C` with a leaked name (for the test harness).
pub(crate) fn leaked_table<C: Connector>(name: &str) -> &'static crm_plugin {
    let name: &'static str = Box::leak(format!("{name}\0").into_boxed_str());
    let t: &'static Table = Box::leak(Box::new(Table::new::<C>(name, "0.0.0\0")));
    &t.0
}

struct Instance<C> {
    connector: C,
    host: Host,
}

thread_local! {
    static IN_BOUNDARY: Cell<bool> = const { Cell::new(false) };
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

static HOOK: Once = Once::new();

/// Called by the entry function: installs this library's panic hook once. The plugin links its
/// own copy of std, so the hook sees only panics of plugin code. Inside an SDK entry it records
/// the message with its location for the host log instead of printing it; elsewhere (the
/// plugin's own threads) it prints as usual.
pub fn on_entry() {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if IN_BOUNDARY.with(Cell::get) {
                LAST_PANIC.with(|p| *p.borrow_mut() = Some(info.to_string()));
            } else {
                previous(info);
            }
        }));
    });
}

/// Runs `f` behind `catch_unwind`; a panic becomes `CRM_PLUGIN_PANIC` with its text (logged to
/// `host` too when there is one).
fn boundary<T>(host: Option<&Host>, f: impl FnOnce() -> Result<T, Error>) -> Result<T, Error> {
    let was = IN_BOUNDARY.with(|b| b.replace(true));
    let out = catch_unwind(AssertUnwindSafe(f));
    IN_BOUNDARY.with(|b| b.set(was));
    match out {
        Ok(r) => r,
        Err(payload) => {
            let text = LAST_PANIC
                .with(|p| p.borrow_mut().take())
                .unwrap_or_else(|| call::panic_text(&*payload));
            let message = format!("plugin panicked: {text}");
            if let Some(h) = host {
                // Logging must not panic again out of here.
                let _ = catch_unwind(AssertUnwindSafe(|| h.error(&message)));
            }
            Err(Error::with_status(CRM_PLUGIN_PANIC, message))
        }
    }
}

unsafe extern "C" fn create<C: Connector>(
    host: *const crm_plugin_host,
    config: *const u8,
    config_len: usize,
    out_instance: *mut *mut c_void,
    out_error: *mut *mut u8,
    out_error_len: *mut usize,
) -> crm_plugin_status {
    let fail = |e: Error| {
        if !out_error.is_null() && !out_error_len.is_null() {
            call::write_out(out_error, out_error_len, e.message.into_bytes());
        }
        e.status
    };
    if out_instance.is_null() {
        return fail(Error::with_status(
            CRM_PLUGIN_NULL_ARGUMENT,
            "out_instance is NULL",
        ));
    }
    let host = match Host::from_raw(host) {
        Ok(h) => h,
        Err(e) => return fail(e),
    };
    let input = call::bytes(config, config_len);
    let result = boundary(Some(&host), || {
        let config = call::parse_json(input)?;
        let connector = C::create(host.clone(), config)?;
        Ok(Box::new(Instance {
            connector,
            host: host.clone(),
        }))
    });
    match result {
        Ok(instance) => {
            *out_instance = Box::into_raw(instance) as *mut c_void;
            CRM_PLUGIN_OK
        }
        Err(e) => fail(e),
    }
}

unsafe extern "C" fn call_fn<C: Connector>(
    instance: *mut c_void,
    method: *const c_char,
    input: *const u8,
    input_len: usize,
    out: *mut *mut u8,
    out_len: *mut usize,
) -> crm_plugin_status {
    let Some(inst) = (instance as *mut Instance<C>).as_mut() else {
        call::write_out(out, out_len, b"instance is NULL".to_vec());
        return CRM_PLUGIN_NULL_ARGUMENT;
    };
    if method.is_null() {
        call::write_out(out, out_len, b"method is NULL".to_vec());
        return CRM_PLUGIN_NULL_ARGUMENT;
    }
    let input = call::bytes(input, input_len);
    let host = inst.host.clone();
    let result = boundary(Some(&host), || {
        let method = CStr::from_ptr(method)
            .to_str()
            .map_err(|_| Error::bad_request("method is not UTF-8"))?;
        let output = if method == "crm.events" {
            // Straight from the bytes: no intermediate Value for the hot path.
            let batch: EventBatch = serde_json::from_slice(input)
                .map_err(|e| Error::bad_request(format!("crm.events: {e}")))?;
            let ack: Ack = inst.connector.on_events(batch.events)?;
            serde_json::to_value(ack).map_err(|e| Error::new(e.to_string()))?
        } else {
            inst.connector.call(method, call::parse_json(input)?)?
        };
        serde_json::to_vec(&output).map_err(|e| Error::new(e.to_string()))
    });
    match result {
        Ok(bytes) => {
            call::write_out(out, out_len, bytes);
            CRM_PLUGIN_OK
        }
        Err(e) => {
            call::write_out(out, out_len, e.message.into_bytes());
            e.status
        }
    }
}

unsafe extern "C" fn free_fn(ptr: *mut u8, len: usize) {
    let _ = catch_unwind(|| call::free_buffer(ptr, len));
}

unsafe extern "C" fn destroy<C: Connector>(instance: *mut c_void) {
    if instance.is_null() {
        return;
    }
    let inst = Box::from_raw(instance as *mut Instance<C>);
    let host = inst.host.clone();
    let _ = boundary(Some(&host), move || {
        drop(inst);
        Ok(())
    });
}
