//! The Rust SDK for connectors: implement [`Connector`], export it with
//! [`export_connector!`](crate::export_connector), and the SDK does the rest of the ABI: every
//! entry runs behind `catch_unwind` (a panic becomes `CRM_PLUGIN_PANIC` with its text in the
//! host log, and the instance stays usable), JSON is parsed and written for you, and the host's
//! capabilities are a typed [`Host`] handle.
//!
//! ```
//! use crm_plugins::sdk::{Ack, Connector, Event, Host, Error};
//! use serde_json::{json, Value};
//!
//! struct Counter { host: Host, seen: usize }
//!
//! impl Connector for Counter {
//!     fn create(host: Host, _config: Value) -> Result<Self, Error> {
//!         Ok(Counter { host, seen: 0 })
//!     }
//!     fn call(&mut self, method: &str, _input: Value) -> Result<Value, Error> {
//!         match method {
//!             "count" => Ok(json!({ "seen": self.seen })),
//!             _ => Err(Error::unknown_method(method)),
//!         }
//!     }
//!     fn on_events(&mut self, events: Vec<Event>) -> Result<Ack, Error> {
//!         self.seen += events.len();
//!         self.host.info(&format!("{} events", events.len()));
//!         Ok(Ack::all())
//!     }
//! }
//! // In the plugin crate (crate-type = ["cdylib"]): crm_plugins::export_connector!(Counter);
//!
//! // Unit tests drive it without a host:
//! let mut h = crm_plugins::sdk::testing::Harness::new::<Counter>(json!({})).unwrap();
//! h.call("count", json!({})).unwrap();
//! ```

#[doc(hidden)]
pub mod raw;
pub mod testing;

use crate::abi::*;
use crate::call;
pub use crate::call::CallError as Error;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::ffi::CString;

/// A connector: one instance per enabled plugin (or per restart of its runner process).
///
/// The host never calls one instance from two threads at once. Dropping the instance is its
/// `destroy`: stop background threads there.
pub trait Connector: Send + Sized + 'static {
    /// Creates an instance with the host's capabilities and its JSON configuration.
    fn create(host: Host, config: Value) -> Result<Self, Error>;

    /// Handles a call from the host application. The default knows no method.
    fn call(&mut self, method: &str, input: Value) -> Result<Value, Error> {
        let _ = input;
        Err(Error::unknown_method(method))
    }

    /// Handles a batch of events the plugin subscribed to, in commit order. Delivery is at
    /// least once: after a crash the same events can come again, so make handling idempotent
    /// (e.g. by event id). Return [`Ack::all`] when every event is done, [`Ack::upto`] when only
    /// a prefix is (the rest comes again after a back-off), or an error to have the whole batch
    /// retried with back-off.
    fn on_events(&mut self, events: Vec<Event>) -> Result<Ack, Error> {
        let _ = events;
        Err(Error::unknown_method("crm.events"))
    }
}

/// A change in the CRM, as delivered to plugins (the outbox event).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Position in commit order; increases strictly within a delivery stream.
    pub id: i64,
    /// Commit time, RFC 3339.
    pub at: String,
    /// What happened, e.g. `client.create`, `deal.change_stage`.
    pub event_type: String,
    /// `client`, `deal` or `activity`.
    pub entity: String,
    /// The record's id.
    pub entity_id: i64,
    /// `{"actor": ..., "changes": {field: [old, new]}}`.
    pub payload: Value,
}

/// The input of the reserved method `crm.events`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EventBatch {
    /// The events, in commit order.
    pub events: Vec<Event>,
}

/// How much of an event batch a plugin has processed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    /// The last event id processed; `None` means the whole batch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ack: Option<i64>,
}

impl Ack {
    /// The whole batch is processed.
    pub fn all() -> Self {
        Ack { ack: None }
    }

    /// Events up to and including `id` are processed; the rest must come again.
    pub fn upto(id: i64) -> Self {
        Ack { ack: Some(id) }
    }
}

/// A refused CRM call: the JSON error document the host returned, decoded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrmCallError {
    /// The status of the call (`CRM_PLUGIN_CRM_ERROR`, `CRM_PLUGIN_DENIED`...).
    #[serde(default)]
    pub status: i32,
    /// A stable name: `not_found`, `validation`, `permission_denied`, `conflict`,
    /// `unknown_method`, `bad_request`, `capability_denied`...
    pub kind: String,
    /// The engine's error code, for errors of the CRM itself.
    #[serde(default)]
    pub code: Option<i32>,
    /// What went wrong.
    pub message: String,
    /// The field at fault, for validation errors and bad requests.
    #[serde(default)]
    pub field: Option<String>,
}

impl std::fmt::Display for CrmCallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

impl std::error::Error for CrmCallError {}

impl From<CrmCallError> for Error {
    fn from(e: CrmCallError) -> Self {
        let status = if e.status == CRM_PLUGIN_DENIED {
            CRM_PLUGIN_DENIED
        } else {
            CRM_PLUGIN_ERROR
        };
        Error::with_status(status, format!("CRM refused: {e}"))
    }
}

/// Log levels of [`Host::log`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// Something failed.
    Error,
    /// Something looks wrong.
    Warn,
    /// Normal operation.
    Info,
    /// Detail.
    Debug,
}

impl Level {
    fn code(self) -> i32 {
        match self {
            Level::Error => CRM_PLUGIN_LOG_ERROR,
            Level::Warn => CRM_PLUGIN_LOG_WARN,
            Level::Info => CRM_PLUGIN_LOG_INFO,
            Level::Debug => CRM_PLUGIN_LOG_DEBUG,
        }
    }
}

/// The host's capabilities, as given to [`Connector::create`]. Cheap to clone; usable from any
/// thread until the instance is dropped.
#[derive(Clone)]
pub struct Host {
    table: *const crm_plugin_host,
}

// The host promises its table's functions are thread-safe and the table valid until destroy.
unsafe impl Send for Host {}
unsafe impl Sync for Host {}

impl Host {
    /// Wraps a host table after checking its version and size.
    ///
    /// # Safety
    /// `table` must be NULL or a host table valid until the instance is destroyed.
    pub(crate) unsafe fn from_raw(table: *const crm_plugin_host) -> Result<Host, Error> {
        let Some(t) = table.as_ref() else {
            return Err(Error::with_status(
                CRM_PLUGIN_NULL_ARGUMENT,
                "host table is NULL",
            ));
        };
        if t.abi_major != CRM_PLUGIN_ABI_MAJOR
            || (t.struct_size as usize) < std::mem::size_of::<crm_plugin_host>()
        {
            return Err(Error::new(format!(
                "host ABI {}.{} (table of {} bytes) is not compatible with this plugin's {}.{}",
                t.abi_major, t.abi_minor, t.struct_size, CRM_PLUGIN_ABI_MAJOR, CRM_PLUGIN_ABI_MINOR
            )));
        }
        Ok(Host { table })
    }

    fn t(&self) -> &crm_plugin_host {
        // SAFETY: checked in from_raw; valid until destroy.
        unsafe { &*self.table }
    }

    /// Writes a line to the host log.
    pub fn log(&self, level: Level, message: &str) {
        if let Some(f) = self.t().log {
            // SAFETY: valid table; message borrowed for the call.
            unsafe {
                f(
                    self.t().host_data,
                    level.code(),
                    message.as_ptr(),
                    message.len(),
                )
            }
        }
    }

    /// Writes an error line to the host log.
    pub fn error(&self, message: &str) {
        self.log(Level::Error, message)
    }

    /// Writes a warning to the host log.
    pub fn warn(&self, message: &str) {
        self.log(Level::Warn, message)
    }

    /// Writes an informational line to the host log.
    pub fn info(&self, message: &str) {
        self.log(Level::Info, message)
    }

    /// Writes a debug line to the host log.
    pub fn debug(&self, message: &str) {
        self.log(Level::Debug, message)
    }

    /// Hands a record to the host (needs the `emit` capability).
    pub fn emit<T: Serialize>(&self, record: &T) -> Result<(), Error> {
        let bytes = serde_json::to_vec(record).map_err(|e| Error::new(e.to_string()))?;
        let Some(f) = self.t().emit else {
            return Err(Error::denied("the host offers no emit"));
        };
        // SAFETY: valid table; bytes borrowed for the call.
        let status = unsafe { f(self.t().host_data, bytes.as_ptr(), bytes.len()) };
        if status == CRM_PLUGIN_OK {
            Ok(())
        } else {
            Err(Error::with_status(status, "the host refused the record"))
        }
    }

    /// Whether the host asks this instance to stop what it is doing.
    pub fn is_cancelled(&self) -> bool {
        match self.t().is_cancelled {
            // SAFETY: valid table.
            Some(f) => unsafe { f(self.t().host_data) != 0 },
            None => false,
        }
    }

    /// Calls the CRM as the connector's user with a JSON document, e.g.
    /// `host.crm_value("clients.search", &json!({"text": "acme"}))`.
    pub fn crm_value(&self, method: &str, input: &Value) -> Result<Value, CrmCallError> {
        let input = serde_json::to_vec(input).map_err(|e| local_error(e.to_string()))?;
        let out = self.crm_bytes(method, &input)?;
        call::parse_json(&out).map_err(|e| local_error(e.message))
    }

    /// Calls the CRM with typed request and response, e.g.
    /// `let page: Page = host.crm("clients.list", &ClientQuery { .. })?`.
    pub fn crm<Req: Serialize + ?Sized, Resp: DeserializeOwned>(
        &self,
        method: &str,
        request: &Req,
    ) -> Result<Resp, CrmCallError> {
        let input = serde_json::to_vec(request).map_err(|e| local_error(e.to_string()))?;
        let out = self.crm_bytes(method, &input)?;
        let out = if out.is_empty() {
            b"null".to_vec()
        } else {
            out
        };
        serde_json::from_slice(&out)
            .map_err(|e| local_error(format!("unexpected response to {method}: {e}")))
    }

    fn crm_bytes(&self, method: &str, input: &[u8]) -> Result<Vec<u8>, CrmCallError> {
        let t = self.t();
        let Some(f) = t.crm_call else {
            return Err(local_error("the host offers no crm_call".into()));
        };
        let m = CString::new(method).map_err(|_| local_error("method contains NUL".into()))?;
        let mut out: *mut u8 = std::ptr::null_mut();
        let mut out_len = 0usize;
        // SAFETY: valid table; pointers valid for the call.
        let status = unsafe {
            f(
                t.host_data,
                m.as_ptr(),
                input.as_ptr(),
                input.len(),
                &mut out,
                &mut out_len,
            )
        };
        // SAFETY: returned by the host; freed once with the host's free.
        let data = unsafe { call::bytes(out, out_len) }.to_vec();
        if !out.is_null() {
            if let Some(free) = t.free {
                // SAFETY: as above.
                unsafe { free(t.host_data, out, out_len) };
            }
        }
        if status == CRM_PLUGIN_OK {
            return Ok(data);
        }
        let mut err: CrmCallError = serde_json::from_slice(&data).unwrap_or(CrmCallError {
            status,
            kind: call::status_name(status).into(),
            code: None,
            message: String::from_utf8_lossy(&data).into_owned(),
            field: None,
        });
        err.status = status;
        Err(err)
    }
}

fn local_error(message: String) -> CrmCallError {
    CrmCallError {
        status: CRM_PLUGIN_BAD_REQUEST,
        kind: "bad_request".into(),
        code: None,
        message,
        field: None,
    }
}

/// Decodes a typed request, naming the method in the error (`CRM_PLUGIN_BAD_REQUEST`).
pub fn parse<T: DeserializeOwned>(method: &str, input: Value) -> Result<T, Error> {
    serde_json::from_value(input).map_err(|e| Error::bad_request(format!("{method}: {e}")))
}

/// Encodes a typed response.
pub fn reply<T: Serialize>(value: &T) -> Result<Value, Error> {
    serde_json::to_value(value).map_err(|e| Error::new(e.to_string()))
}

type Handler<C> = Box<dyn Fn(&mut C, Value) -> Result<Value, Error> + Send + Sync>;

/// A table of typed methods for [`Connector::call`]: each method decodes its request type and
/// encodes its response type.
///
/// ```
/// use crm_plugins::sdk::{Error, Router};
/// #[derive(serde::Deserialize)] struct Hello { name: String }
/// struct C;
/// let router = Router::<C>::new().route("hello", |_c: &mut C, r: Hello| -> Result<String, Error> {
///     Ok(format!("Hello, {}", r.name))
/// });
/// let out = router.handle(&mut C, "hello", serde_json::json!({"name": "Ada"})).unwrap();
/// assert_eq!(out, "Hello, Ada");
/// ```
pub struct Router<C> {
    routes: Vec<(&'static str, Handler<C>)>,
}

impl<C> Default for Router<C> {
    fn default() -> Self {
        Router { routes: Vec::new() }
    }
}

impl<C> Router<C> {
    /// An empty router.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a method.
    pub fn route<Req, Resp, F>(mut self, name: &'static str, f: F) -> Self
    where
        Req: DeserializeOwned,
        Resp: Serialize,
        F: Fn(&mut C, Req) -> Result<Resp, Error> + Send + Sync + 'static,
    {
        self.routes.push((
            name,
            Box::new(move |c, input| {
                let req = parse::<Req>(name, input)?;
                reply(&f(c, req)?)
            }),
        ));
        self
    }

    /// Runs the method `name`, or fails with `CRM_PLUGIN_UNKNOWN_METHOD`.
    pub fn handle(&self, c: &mut C, name: &str, input: Value) -> Result<Value, Error> {
        match self.routes.iter().find(|(n, _)| *n == name) {
            Some((_, f)) => f(c, input),
            None => Err(Error::unknown_method(name)),
        }
    }
}

/// Exports a [`Connector`] as this library's plugin: defines `crm_plugin_entry_v1`. The
/// plugin's name and version default to the crate's; override with
/// `export_connector!(Type, name = "webhook", version = "1.2.0")` (string literals).
#[macro_export]
macro_rules! export_connector {
    ($ty:ty) => {
        /// The plugin entry point.
        #[no_mangle]
        pub extern "C" fn crm_plugin_entry_v1() -> *const $crate::abi::crm_plugin {
            static TABLE: $crate::sdk::raw::Table = $crate::sdk::raw::Table::new::<$ty>(
                concat!(env!("CARGO_PKG_NAME"), "\0"),
                concat!(env!("CARGO_PKG_VERSION"), "\0"),
            );
            $crate::sdk::raw::on_entry();
            TABLE.as_ptr()
        }
    };
    ($ty:ty, name = $name:literal, version = $version:literal) => {
        /// The plugin entry point.
        #[no_mangle]
        pub extern "C" fn crm_plugin_entry_v1() -> *const $crate::abi::crm_plugin {
            static TABLE: $crate::sdk::raw::Table =
                $crate::sdk::raw::Table::new::<$ty>(concat!($name, "\0"), concat!($version, "\0"));
            $crate::sdk::raw::on_entry();
            TABLE.as_ptr()
        }
    };
}

#[cfg(test)]
mod tests;
