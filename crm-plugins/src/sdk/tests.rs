//! Tests of the SDK through the harness (the same `extern "C"` paths a host uses).

use super::testing::{event, Harness};
use super::*;
use serde_json::json;

struct Demo {
    host: Host,
    events: Vec<i64>,
}

impl Connector for Demo {
    fn create(host: Host, config: Value) -> Result<Self, Error> {
        if config.get("fail").is_some() {
            return Err(Error::bad_request("asked to fail"));
        }
        if config.get("panic").is_some() {
            panic!("panic in create");
        }
        Ok(Demo {
            host,
            events: vec![],
        })
    }

    fn call(&mut self, method: &str, input: Value) -> Result<Value, Error> {
        match method {
            "boom" => panic!("boom {}", input["n"]),
            "events" => reply(&self.events),
            "crm" => Ok(self
                .host
                .crm_value("clients.get", &input)
                .map_err(Error::from)?),
            "emit" => {
                self.host.emit(&input)?;
                Ok(Value::Null)
            }
            "cancelled" => Ok(json!(self.host.is_cancelled())),
            _ => Err(Error::unknown_method(method)),
        }
    }

    fn on_events(&mut self, events: Vec<Event>) -> Result<Ack, Error> {
        self.events.extend(events.iter().map(|e| e.id));
        Ok(match events.len() {
            3 => Ack::upto(events[1].id),
            _ => Ack::all(),
        })
    }
}

#[test]
fn panics_become_errors_and_the_instance_lives_on() {
    let mut h = Harness::new::<Demo>(json!({})).unwrap();
    let e = h.call("boom", json!({"n": 7})).unwrap_err();
    assert_eq!(e.status, CRM_PLUGIN_PANIC);
    assert!(e.message.contains("boom 7"), "{e}");
    assert!(h
        .logs()
        .iter()
        .any(|(l, m)| *l == CRM_PLUGIN_LOG_ERROR && m.contains("boom 7")));
    h.deliver(&[event(1, "client.create", 1, json!({}))])
        .unwrap();
    assert_eq!(h.call("events", json!(null)).unwrap(), json!([1]));
}

#[test]
fn create_failures_and_panics_are_reported() {
    let e = Harness::new::<Demo>(json!({"fail": 1})).unwrap_err();
    assert_eq!(
        (e.status, e.message.as_str()),
        (CRM_PLUGIN_BAD_REQUEST, "asked to fail")
    );
    let e = Harness::new::<Demo>(json!({"panic": 1})).unwrap_err();
    assert_eq!(e.status, CRM_PLUGIN_PANIC);
    assert!(e.message.contains("panic in create"));
}

#[test]
fn events_acks_and_bad_input() {
    let mut h = Harness::new::<Demo>(json!({})).unwrap();
    let evs: Vec<Event> = (10..13)
        .map(|i| event(i, "deal.create", i, json!({})))
        .collect();
    assert_eq!(h.deliver(&evs).unwrap(), Ack::upto(11));
    let e = h.call("crm.events", json!({"events": "nope"})).unwrap_err();
    assert_eq!(e.status, CRM_PLUGIN_BAD_REQUEST);
    let e = h.call("nope", json!({})).unwrap_err();
    assert_eq!(e.status, CRM_PLUGIN_UNKNOWN_METHOD);
}

#[test]
fn host_capabilities_reach_the_harness() {
    let mut h = Harness::with_crm::<Demo>(json!({}), |method, input| {
        if input["id"] == 1 {
            Ok(json!({"method": method, "name": "Acme"}))
        } else {
            Err(("not_found".into(), "client 2 not found".into()))
        }
    })
    .unwrap();
    assert_eq!(h.call("crm", json!({"id": 1})).unwrap()["name"], "Acme");
    let e = h.call("crm", json!({"id": 2})).unwrap_err();
    assert!(e.message.contains("not_found: client 2 not found"), "{e}");
    h.call("emit", json!({"row": 1})).unwrap();
    assert_eq!(h.emitted(), vec![json!({"row": 1})]);
    assert_eq!(h.call("cancelled", json!({})).unwrap(), json!(false));
    h.set_cancelled(true);
    assert_eq!(h.call("cancelled", json!({})).unwrap(), json!(true));
    h.destroy();
    assert!(h.call("events", json!({})).is_err());
}
