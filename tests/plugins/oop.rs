//! Out-of-process plugins: the same library in `crm-plugin-runner`; a crash costs a restart.

use crate::support::*;
use crm_plugins::host::{EnableOptions, Mode};
use crm_plugins::PluginError;
use serde_json::json;

fn oop_host(
    f: &Fixture,
    tweak: impl FnOnce(&mut crm_plugins::HostConfig),
) -> crm_plugins::PluginHost {
    install(
        &f.plugin_dir(),
        "probe",
        &artifacts().probe,
        "capabilities = [\"crm.read\", \"emit\"]",
    );
    let mut config = f.config();
    tweak(&mut config);
    let host = crm_plugins::PluginHost::new(f.crm.clone(), config).unwrap();
    host.enable(
        "probe",
        &EnableOptions {
            user_id: Some(f.connector),
            mode: Mode::OutOfProcess,
            ..EnableOptions::default()
        },
    )
    .unwrap();
    host
}

#[test]
fn a_segfaulting_plugin_is_restarted_and_the_host_goes_on() {
    let f = Fixture::new();
    let host = oop_host(&f, |_| {});
    let first = host.call("probe", "ping", &json!({})).unwrap();
    let pid = first["pid"].as_u64().unwrap();
    assert_ne!(
        pid,
        u64::from(std::process::id()),
        "runs in another process"
    );
    // CRM calls and emitted records cross the process boundary.
    let who = host
        .call("probe", "crm", &json!({"method": "whoami", "input": {}}))
        .unwrap();
    assert_eq!(who["ok"]["user_id"], f.connector.0);
    host.call("probe", "emit", &json!({"record": {"a": 1}}))
        .unwrap();
    assert_eq!(host.take_emitted("probe").unwrap(), vec![json!({"a": 1})]);

    let e = host.call("probe", "crash", &json!({})).unwrap_err();
    assert!(matches!(e, PluginError::Crashed { .. }), "{e}");
    assert!(e.to_string().contains("SIGSEGV"), "{e}");
    assert_eq!(e.code(), 69);
    // This process is fine, and the next call starts a new runner.
    let again = host.call("probe", "ping", &json!({})).unwrap();
    assert_ne!(again["pid"].as_u64().unwrap(), pid);
    assert_eq!(again["calls"], 1, "a new instance");
    let st = host.status("probe").unwrap();
    assert_eq!(st.restarts, 1);
    assert!(st.log.iter().any(|l| l.message.contains("SIGSEGV")));

    // abort() too.
    let e = host.call("probe", "abort", &json!({})).unwrap_err();
    assert!(e.to_string().contains("SIGABRT"), "{e}");
    assert_eq!(host.call("probe", "ping", &json!({})).unwrap()["calls"], 1);
    assert_eq!(host.status("probe").unwrap().restarts, 2);

    // A panic stays a panic: same runner, same instance.
    let before = host.call("probe", "ping", &json!({})).unwrap();
    let e = host.call("probe", "panic", &json!({})).unwrap_err();
    assert_eq!(e.plugin_status(), Some(crm_plugins::abi::CRM_PLUGIN_PANIC));
    let after = host.call("probe", "ping", &json!({})).unwrap();
    assert_eq!(after["pid"], before["pid"]);
    assert_eq!(after["calls"], 4);
    host.disable("probe").unwrap();
}

#[test]
fn a_hung_plugin_is_cancelled_then_killed() {
    let f = Fixture::new();
    let host = oop_host(&f, |c| c.call_timeout_ms = 300);
    // It notices the cancellation the host sends at the timeout.
    let e = host.call("probe", "wait_cancel", &json!({})).unwrap_err();
    assert_eq!(
        e.plugin_status(),
        Some(crm_plugins::abi::CRM_PLUGIN_CANCELLED),
        "{e}"
    );
    assert_eq!(host.call("probe", "ping", &json!({})).unwrap()["calls"], 2);
    // One that ignores it is killed and restarted.
    let e = host
        .call("probe", "sleep", &json!({"ms": 5000}))
        .unwrap_err();
    assert!(matches!(e, PluginError::Crashed { .. }), "{e}");
    assert!(e.to_string().contains("no answer within 300 ms"), "{e}");
    assert_eq!(host.call("probe", "ping", &json!({})).unwrap()["calls"], 1);
}
