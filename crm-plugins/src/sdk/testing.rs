//! Driving a connector without a host, for unit tests of plugin crates.
//!
//! [`Harness`] creates the connector through the same C table and `extern "C"` entry points a
//! real host uses (so panics, JSON and buffer ownership are exercised), gives it a host table
//! whose log and emitted records are collected for inspection, and answers its CRM calls with
//! a closure of your choice.
//!
//! ```
//! use crm_plugins::sdk::testing::Harness;
//! use crm_plugins::sdk::{Connector, Error, Host};
//! use serde_json::{json, Value};
//!
//! struct Echo(Host);
//! impl Connector for Echo {
//!     fn create(host: Host, _: Value) -> Result<Self, Error> { Ok(Echo(host)) }
//!     fn call(&mut self, method: &str, input: Value) -> Result<Value, Error> {
//!         match method {
//!             "echo" => Ok(input),
//!             "count" => Ok(self.0.crm_value("clients.list", &json!({})).map_err(Error::from)?),
//!             _ => Err(Error::unknown_method(method)),
//!         }
//!     }
//! }
//!
//! let mut h = Harness::with_crm::<Echo>(json!({}), |method, _input| {
//!     assert_eq!(method, "clients.list");
//!     Ok(json!({"items": [], "next": null}))
//! }).unwrap();
//! assert_eq!(h.call("echo", json!([1, 2])).unwrap(), json!([1, 2]));
//! assert_eq!(h.call("count", json!({})).unwrap()["items"], json!([]));
//! ```

use super::{Ack, Connector, Event};
use crate::abi::*;
use crate::call::{self, CallError};
use crate::driver::RawInstance;
use crate::hostcaps::{error_doc, HostCaps};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// The answer to a CRM call in a harness: the JSON result, or a refusal (`kind`, `message`).
pub type CrmHandler = dyn Fn(&str, Value) -> Result<Value, (String, String)> + Send + Sync;

struct TestCaps {
    logs: Mutex<Vec<(i32, String)>>,
    emitted: Mutex<Vec<Value>>,
    cancelled: AtomicBool,
    crm: Option<Box<CrmHandler>>,
}

impl HostCaps for TestCaps {
    fn log(&self, level: i32, message: &str) {
        if let Ok(mut l) = self.logs.lock() {
            l.push((level, message.to_string()));
        }
    }

    fn emit(&self, record: &[u8]) -> Result<(), CallError> {
        let v = call::parse_json(record)?;
        if let Ok(mut e) = self.emitted.lock() {
            e.push(v);
        }
        Ok(())
    }

    fn crm_call(&self, method: &str, input: &[u8]) -> Result<Vec<u8>, CallError> {
        let Some(f) = &self.crm else {
            return Err(CallError::with_status(
                CRM_PLUGIN_DENIED,
                String::from_utf8_lossy(&error_doc(
                    "capability_denied",
                    "this harness has no CRM behind it",
                ))
                .into_owned(),
            ));
        };
        let input = call::parse_json(input).map_err(|e| {
            CallError::bad_request(
                String::from_utf8_lossy(&error_doc("bad_request", &e.message)).into_owned(),
            )
        })?;
        match f(method, input) {
            Ok(v) => Ok(v.to_string().into_bytes()),
            Err((kind, message)) => Err(CallError::with_status(
                CRM_PLUGIN_CRM_ERROR,
                String::from_utf8_lossy(&error_doc(&kind, &message)).into_owned(),
            )),
        }
    }

    fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }
}

/// A connector instance driven without a host.
pub struct Harness {
    instance: Option<RawInstance>,
    caps: Arc<TestCaps>,
}

impl std::fmt::Debug for Harness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Harness")
            .field("live", &self.instance.is_some())
            .finish()
    }
}

impl Harness {
    /// Creates connector `C` with `config`; CRM calls are refused.
    pub fn new<C: Connector>(config: Value) -> Result<Harness, CallError> {
        Self::build::<C>(config, None)
    }

    /// Creates connector `C` with `config`; CRM calls are answered by `crm`.
    pub fn with_crm<C: Connector>(
        config: Value,
        crm: impl Fn(&str, Value) -> Result<Value, (String, String)> + Send + Sync + 'static,
    ) -> Result<Harness, CallError> {
        Self::build::<C>(config, Some(Box::new(crm)))
    }

    fn build<C: Connector>(
        config: Value,
        crm: Option<Box<CrmHandler>>,
    ) -> Result<Harness, CallError> {
        let caps = Arc::new(TestCaps {
            logs: Mutex::new(Vec::new()),
            emitted: Mutex::new(Vec::new()),
            cancelled: AtomicBool::new(false),
            crm,
        });
        let table = super::raw::leaked_table::<C>("harness");
        let instance = RawInstance::create(table, caps.clone(), config.to_string().as_bytes())?;
        Ok(Harness {
            instance: Some(instance),
            caps,
        })
    }

    /// Calls a method, as the host application would.
    pub fn call(&mut self, method: &str, input: Value) -> Result<Value, CallError> {
        let inst = self
            .instance
            .as_mut()
            .ok_or_else(|| CallError::new("the instance was destroyed"))?;
        let out = inst.call(method, input.to_string().as_bytes())?;
        call::parse_json(&out)
    }

    /// Delivers events, as the host's delivery thread would.
    pub fn deliver(&mut self, events: &[Event]) -> Result<Ack, CallError> {
        let out = self.call("crm.events", json!({ "events": events }))?;
        serde_json::from_value(out).map_err(|e| CallError::new(format!("bad ack: {e}")))
    }

    /// Lines the connector logged so far, with their `CRM_PLUGIN_LOG_*` levels.
    pub fn logs(&self) -> Vec<(i32, String)> {
        self.caps.logs.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Records the connector emitted so far.
    pub fn emitted(&self) -> Vec<Value> {
        self.caps
            .emitted
            .lock()
            .map(|l| l.clone())
            .unwrap_or_default()
    }

    /// Sets or clears the cancellation flag the connector sees.
    pub fn set_cancelled(&self, cancelled: bool) {
        self.caps.cancelled.store(cancelled, Ordering::SeqCst);
    }

    /// Destroys the instance (as disabling the plugin would).
    pub fn destroy(&mut self) {
        self.instance = None;
    }
}

/// An event for tests: `id`, `event_type` and a payload of changes.
pub fn event(id: i64, event_type: &str, entity_id: i64, changes: Value) -> Event {
    let entity = event_type.split('.').next().unwrap_or("client").to_string();
    Event {
        id,
        at: "2024-01-01T00:00:00Z".into(),
        event_type: event_type.into(),
        entity,
        entity_id,
        payload: json!({ "actor": {"kind": "user", "user_id": 1}, "changes": changes }),
    }
}
