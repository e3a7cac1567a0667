//! In-process plugins: calls, panics, the capability table, permissions, the C plugin.

use crate::support::*;
use crm_core::model::NewClient;
use crm_plugins::abi::CRM_PLUGIN_PANIC;
use crm_plugins::host::EnableOptions;
use crm_plugins::PluginError;
use serde_json::{json, Value};

fn probe_host(f: &Fixture, capabilities: &str) -> crm_plugins::PluginHost {
    install(
        &f.plugin_dir(),
        "probe",
        &artifacts().probe,
        &format!("capabilities = {capabilities}"),
    );
    let host = f.host();
    host.enable(
        "probe",
        &EnableOptions {
            user_id: Some(f.connector),
            ..EnableOptions::default()
        },
    )
    .unwrap();
    host
}

#[test]
fn a_panic_becomes_an_error_and_the_instance_still_works() {
    let f = Fixture::new();
    let host = probe_host(&f, "[]");
    assert_eq!(host.call("probe", "ping", &json!({})).unwrap()["calls"], 1);
    let e = host.call("probe", "panic", &json!({})).unwrap_err();
    assert_eq!(e.plugin_status(), Some(CRM_PLUGIN_PANIC), "{e}");
    assert!(e.to_string().contains("probe was asked to panic"), "{e}");
    // The panic text (with its location) reached the host log.
    let log = host.status("probe").unwrap().log;
    assert!(
        log.iter().any(|l| l.level == "error"
            && l.message.contains("probe was asked to panic (call 2)")
            && l.message.contains("src/lib.rs")),
        "{log:?}"
    );
    // Same instance: its call counter went on.
    let pong = host.call("probe", "ping", &json!({})).unwrap();
    assert_eq!(pong["calls"], 3);
    assert_eq!(pong["pid"], std::process::id());
    // Unknown methods and reserved names.
    let e = host.call("probe", "nope", &json!({})).unwrap_err();
    assert_eq!(
        e.plugin_status(),
        Some(crm_plugins::abi::CRM_PLUGIN_UNKNOWN_METHOD)
    );
    let e = host.call("probe", "crm.events", &json!({})).unwrap_err();
    assert_eq!(e.kind(), "invalid");
}

fn crm(host: &crm_plugins::PluginHost, method: &str, input: Value) -> Value {
    host.call("probe", "crm", &json!({ "method": method, "input": input }))
        .unwrap()
}

#[test]
fn crm_calls_run_as_the_plugins_user_and_no_further() {
    let f = Fixture::new();
    let rep = f.crm.user_context(f.rep).unwrap();
    let outsider = f.crm.user_context(f.outsider).unwrap();
    let mine = f
        .crm
        .create_client(&rep, &NewClient::organization("Sales Client"))
        .unwrap();
    let theirs = f
        .crm
        .create_client(&outsider, &NewClient::organization("Support Client"))
        .unwrap();
    let host = probe_host(&f, "[\"crm.read\"]");

    let who = crm(&host, "whoami", json!({}));
    assert_eq!(who["ok"]["user_id"], f.connector.0);
    let got = crm(&host, "clients.get", json!({ "id": mine.id }));
    assert_eq!(got["ok"]["name"], "Sales Client");
    // Another department's client does not exist for the connector's user.
    let got = crm(&host, "clients.get", json!({ "id": theirs.id }));
    assert_eq!(got["err"]["kind"], "not_found", "{got}");
    let list = crm(&host, "clients.list", json!({}));
    let names: Vec<&str> = list["ok"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Sales Client"]);
    // Writing needs crm.write, which this manifest does not request.
    let e = crm(
        &host,
        "clients.create",
        json!({"kind": "organization", "name": "X"}),
    );
    assert_eq!(e["err"]["kind"], "capability_denied", "{e}");
    assert_eq!(e["err"]["status"], crm_plugins::abi::CRM_PLUGIN_DENIED);
    // Unknown methods, administrative ones and malformed requests are typed errors.
    for m in [
        "clients.drop_all",
        "users.create",
        "outbox.ack",
        "roles.list",
    ] {
        let e = crm(&host, m, json!({}));
        assert_eq!(e["err"]["kind"], "unknown_method", "{m}: {e}");
    }
    let e = crm(&host, "clients.get", json!({ "id": "seven" }));
    assert_eq!(e["err"]["kind"], "bad_request", "{e}");
    assert_eq!(e["err"]["field"], "id", "{e}");
    let e = crm(&host, "clients.list", json!({ "limit": 100000 }));
    assert_eq!(e["err"]["kind"], "validation", "{e}");
    assert_eq!(e["err"]["code"], 2);
}

#[test]
fn writes_are_bound_by_the_users_rights() {
    let f = Fixture::new();
    let outsider = f.crm.user_context(f.outsider).unwrap();
    let theirs = f
        .crm
        .create_client(&outsider, &NewClient::organization("Support Client"))
        .unwrap();
    let host = probe_host(&f, "[\"crm.read\", \"crm.write\"]");
    let made = crm(
        &host,
        "clients.create",
        json!({"kind": "organization", "name": "Made by plugin", "tax_id": "DE 1"}),
    );
    assert_eq!(made["ok"]["owner_id"], f.connector.0, "{made}");
    // Creating a record owned by someone of another department is outside its create level.
    let e = crm(
        &host,
        "clients.create",
        json!({"kind": "organization", "name": "Sneaky", "owner_id": f.outsider}),
    );
    assert_eq!(e["err"]["kind"], "permission_denied", "{e}");
    assert_eq!(e["err"]["status"], crm_plugins::abi::CRM_PLUGIN_DENIED);
    let e = crm(
        &host,
        "clients.update",
        json!({"id": theirs.id, "expected_version": theirs.version, "changes": {"name": "Mine now"}}),
    );
    assert_eq!(e["err"]["kind"], "not_found", "{e}");
    assert_eq!(
        f.crm.get_client(&f.sys, theirs.id).unwrap().name,
        "Support Client"
    );
    // The change is audited as the connector's user.
    let id = made["ok"]["id"].as_i64().unwrap();
    let client = f
        .crm
        .get_client(&f.sys, crm_core::ids::ClientId(id))
        .unwrap();
    assert_eq!(client.owner_id, f.connector);
}

#[test]
fn emitted_records_reach_the_host_only_with_the_capability() {
    let f = Fixture::new();
    let host = probe_host(&f, "[\"emit\"]");
    host.call("probe", "emit", &json!({"record": {"row": 1}}))
        .unwrap();
    host.call("probe", "emit", &json!({"record": {"row": 2}}))
        .unwrap();
    assert_eq!(host.status("probe").unwrap().emitted_pending, 2);
    assert_eq!(
        host.take_emitted("probe").unwrap(),
        vec![json!({"row": 1}), json!({"row": 2})]
    );
    assert!(host.take_emitted("probe").unwrap().is_empty());
    host.disable("probe").unwrap();
    std::fs::remove_dir_all(f.plugin_dir().join("probe")).unwrap();
    let host = probe_host(&f, "[]");
    let e = host
        .call("probe", "emit", &json!({"record": {"row": 1}}))
        .unwrap_err();
    assert_eq!(
        e.plugin_status(),
        Some(crm_plugins::abi::CRM_PLUGIN_DENIED),
        "{e}"
    );
}

#[test]
fn disable_destroys_the_instance_and_enable_reuses_the_library() {
    let f = Fixture::new();
    install(
        &f.plugin_dir(),
        "hello",
        &artifacts().hello,
        "capabilities = [\"crm.read\"]\nevents = [\"client.create\"]",
    );
    let host = f.host();
    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let sink = lines.clone();
    host.set_log_sink(Some(std::sync::Arc::new(
        move |id: &str, l: &crm_plugins::host::LogLine| {
            sink.lock().unwrap().push(format!("{id}: {}", l.message));
        },
    )));
    let opts = EnableOptions {
        user_id: Some(f.connector),
        ..EnableOptions::default()
    };
    let status = host.enable("hello", &opts).unwrap();
    assert_eq!(status.name.as_deref(), Some("hello"));
    assert_eq!(status.version.as_deref(), Some("1.0.0"));
    assert!(matches!(
        host.enable("hello", &opts),
        Err(PluginError::AlreadyEnabled(_))
    ));
    // The C plugin, written against crm_plugin.h alone: calls, a CRM call, events.
    let hi = host.call("hello", "hello", &json!({})).unwrap();
    assert_eq!(hi, json!({"greeting": "Hello from C", "calls": 1}));
    let who = host.call("hello", "whoami", &json!({})).unwrap();
    assert_eq!(who["user_id"], f.connector.0);
    let ids = f.clients(f.rep, 3, "Hello");
    host.notify();
    wait_until(20, "hello to see 3 events", || {
        host.status("hello").unwrap().delivery.unwrap().cursor >= *ids.last().unwrap()
    });
    assert_eq!(
        host.call("hello", "events_seen", &json!({})).unwrap()["events"],
        3
    );
    let e = host.call("hello", "bogus", &json!({})).unwrap_err();
    assert!(
        e.to_string().contains("unknown method \\\"bogus\\\"") || e.to_string().contains("bogus")
    );

    host.disable("hello").unwrap();
    assert!(lines
        .lock()
        .unwrap()
        .iter()
        .any(|l| l == "hello: hello: destroyed"));
    assert!(matches!(
        host.call("hello", "hello", &json!({})),
        Err(PluginError::NotEnabled(_))
    ));
    let st = host.status("hello").unwrap();
    assert!(!st.enabled);
    assert_eq!(st.delivery.unwrap().cursor, *ids.last().unwrap());
    // Enabled again: a new instance (its counter starts over) from the library still mapped.
    host.enable("hello", &opts).unwrap();
    let hi = host.call("hello", "hello", &json!({})).unwrap();
    assert_eq!(hi["calls"], 1);
    let lib = f.plugin_dir().join("hello/libhello.so");
    assert!(is_mapped(&lib));
}
