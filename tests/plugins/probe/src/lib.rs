//! A connector for the plugin tests: it records delivered events to a file, can be told to
//! fail, panic, crash or be slow, and forwards CRM calls, so the tests can prove every
//! promise of the host. Not an example to copy: see `examples/plugins/` for those.
//!
//! Configuration: `{"sink": path, "delay_ms": n, "fail_deliveries": n, "ack_half": bool}`.
//! Methods: `ping`, `panic`, `crash` (segfault), `abort`, `sleep {ms}`, `crm {method, input}`,
//! `emit {record}`, `seen`, `log {message}`, `wait_cancel`.

use crm_plugins::sdk::{Ack, Connector, Error, Event, Host};
use serde::Deserialize;
use serde_json::{json, Value};
use std::io::Write;

#[derive(Deserialize, Default)]
#[serde(default)]
struct Config {
    sink: Option<String>,
    delay_ms: u64,
    fail_deliveries: u32,
    ack_half: bool,
}

/// The probe connector.
pub struct Probe {
    host: Host,
    config: Config,
    calls: u64,
    seen: u64,
    failed: u32,
}

impl Connector for Probe {
    fn create(host: Host, config: Value) -> Result<Self, Error> {
        let config: Config = crm_plugins::sdk::parse("create", config)?;
        host.info("probe created");
        Ok(Probe {
            host,
            config,
            calls: 0,
            seen: 0,
            failed: 0,
        })
    }

    fn call(&mut self, method: &str, input: Value) -> Result<Value, Error> {
        self.calls += 1;
        match method {
            "ping" => Ok(json!({ "pong": true, "calls": self.calls, "pid": std::process::id() })),
            "panic" => panic!("probe was asked to panic (call {})", self.calls),
            "crash" => {
                // A real segmentation fault, as a buggy C connector would cause.
                unsafe { std::ptr::null_mut::<u64>().write_volatile(42) };
                Ok(Value::Null)
            }
            "abort" => std::process::abort(),
            "sleep" => {
                let ms = input.get("ms").and_then(Value::as_u64).unwrap_or(0);
                std::thread::sleep(std::time::Duration::from_millis(ms));
                Ok(json!({ "slept": ms }))
            }
            "wait_cancel" => {
                for _ in 0..1000 {
                    if self.host.is_cancelled() {
                        return Err(Error::cancelled());
                    }
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                Ok(json!("not cancelled"))
            }
            "crm" => {
                let m = input.get("method").and_then(Value::as_str).unwrap_or("");
                let arg = input.get("input").cloned().unwrap_or(json!({}));
                match self.host.crm_value(m, &arg) {
                    Ok(v) => Ok(json!({ "ok": v })),
                    Err(e) => Ok(json!({ "err": e })),
                }
            }
            "emit" => {
                self.host
                    .emit(&input.get("record").cloned().unwrap_or(Value::Null))?;
                Ok(Value::Null)
            }
            "seen" => Ok(json!({ "seen": self.seen })),
            "log" => {
                let m = input.get("message").and_then(Value::as_str).unwrap_or("");
                self.host.warn(m);
                Ok(Value::Null)
            }
            _ => Err(Error::unknown_method(method)),
        }
    }

    fn on_events(&mut self, events: Vec<Event>) -> Result<Ack, Error> {
        if self.failed < self.config.fail_deliveries {
            self.failed += 1;
            return Err(Error::retry(format!(
                "failing on purpose ({})",
                self.failed
            )));
        }
        let take = if self.config.ack_half && events.len() > 1 {
            events.len() / 2
        } else {
            events.len()
        };
        if let Some(path) = &self.config.sink {
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| Error::retry(format!("{path}: {e}")))?;
            let mut buf = String::new();
            for e in &events[..take] {
                buf.push_str(&format!("{} {} {}\n", e.id, e.event_type, e.entity_id));
            }
            f.write_all(buf.as_bytes())
                .map_err(|e| Error::retry(format!("{path}: {e}")))?;
        }
        self.seen += take as u64;
        if self.config.delay_ms > 0 {
            std::thread::sleep(std::time::Duration::from_millis(self.config.delay_ms));
        }
        if take < events.len() {
            return Ok(Ack::upto(events[take - 1].id));
        }
        Ok(Ack::all())
    }
}

crm_plugins::export_connector!(Probe);
