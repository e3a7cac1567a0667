//! Event delivery: commit order, retries with back-off, isolation between plugins,
//! permission filtering, and no loss when the host is killed.

use crate::support::*;
use crm_plugins::host::{DeliveryState, EnableOptions, HostConfig, Mode, PluginHost};
use serde_json::json;
use std::path::Path;
use std::process::{Child, Command};
use std::time::Duration;

fn enable_probe(host: &PluginHost, f: &Fixture, id: &str, config: serde_json::Value) {
    host.enable(
        id,
        &EnableOptions {
            user_id: Some(f.connector),
            config,
            ..EnableOptions::default()
        },
    )
    .unwrap();
}

fn cursor(host: &PluginHost, id: &str) -> i64 {
    host.status(id).unwrap().delivery.unwrap().cursor
}

#[test]
fn events_arrive_in_commit_order_filtered_by_type_and_permission() {
    let f = Fixture::new();
    let a = artifacts();
    install(&f.plugin_dir(), "all", &a.probe, "events = [\"*\"]");
    install(
        &f.plugin_dir(),
        "deals",
        &a.probe,
        "events = [\"client.update\"]",
    );
    let host = f.host();
    let sink_all = f.dir.path().join("all.log");
    let sink_deals = f.dir.path().join("deals.log");
    enable_probe(&host, &f, "all", json!({ "sink": sink_all }));
    enable_probe(&host, &f, "deals", json!({ "sink": sink_deals }));

    // Writers in two departments, interleaved, from three threads.
    std::thread::scope(|s| {
        s.spawn(|| f.clients(f.rep, 150, "Rep"));
        s.spawn(|| f.clients(f.connector, 100, "Own"));
        s.spawn(|| f.clients(f.outsider, 120, "Outsider"));
    });
    // An update to one client of the sales department.
    let ctx = f.crm.user_context(f.rep).unwrap();
    let c = f
        .crm
        .list_clients(&ctx, &Default::default())
        .unwrap()
        .items
        .remove(0);
    f.crm
        .update_client(
            &ctx,
            c.id,
            c.version,
            &crm_core::model::ClientUpdate {
                tags: crm_core::model::Patch::Set(vec!["vip".into()]),
                ..Default::default()
            },
        )
        .unwrap();
    let head = f.crm.outbox_head(&f.sys).unwrap();
    host.notify();
    wait_until(30, "both plugins to catch up", || {
        cursor(&host, "all") == head && cursor(&host, "deals") == head
    });
    // Which events were the sales department's (readable) and which support's.
    let ids_of = |name_prefix: &str| -> Vec<i64> {
        f.crm
            .outbox_events(&f.sys, 0, &[], 10_000)
            .unwrap()
            .into_iter()
            .filter(|e| {
                e.payload["changes"]["name"][1]
                    .as_str()
                    .is_some_and(|n| n.starts_with(name_prefix))
            })
            .map(|e| e.id)
            .collect()
    };
    let mut expected = ids_of("Rep ");
    expected.extend(ids_of("Own "));
    expected.push(head);
    expected.sort();
    assert_eq!(expected.len(), 251);
    let got = sink_ids(&sink_all);
    assert_eq!(got, expected, "every readable event once, in commit order");
    let outsiders = ids_of("Outsider ");
    assert_eq!(outsiders.len(), 120);
    assert!(got.iter().all(|id| !outsiders.contains(id)));
    // Only the update for the type filter; nothing of the other department.
    assert_eq!(sink_ids(&sink_deals), vec![head]);
    let st = host.status("all").unwrap().delivery.unwrap();
    assert_eq!(st.delivered as usize, expected.len());
    assert_eq!(st.failures, 0);
    assert_eq!(st.state, DeliveryState::Idle);
    assert_eq!(f.crm.outbox_cursor(&f.sys, "all").unwrap(), head);
}

#[test]
fn failures_back_off_and_never_block_other_plugins() {
    let f = Fixture::new();
    let a = artifacts();
    for id in ["flaky", "broken", "healthy", "halves"] {
        install(&f.plugin_dir(), id, &a.probe, "events = [\"*\"]");
    }
    let host = f.host();
    let sink = |id: &str| f.dir.path().join(format!("{id}.log"));
    enable_probe(
        &host,
        &f,
        "flaky",
        json!({ "sink": sink("flaky"), "fail_deliveries": 3 }),
    );
    enable_probe(&host, &f, "broken", json!({ "fail_deliveries": 1_000_000 }));
    enable_probe(&host, &f, "healthy", json!({ "sink": sink("healthy") }));
    enable_probe(
        &host,
        &f,
        "halves",
        json!({ "sink": sink("halves"), "ack_half": true }),
    );
    let ids = f.clients(f.rep, 40, "Client");
    let last = *ids.last().unwrap();
    host.notify();
    wait_until(30, "the healthy plugins", || {
        ["flaky", "healthy", "halves"]
            .iter()
            .all(|id| cursor(&host, id) == last)
    });
    for id in ["flaky", "healthy", "halves"] {
        assert_eq!(sink_ids(&sink(id)), ids, "{id}: each once, in order");
    }
    let flaky = host.status("flaky").unwrap().delivery.unwrap();
    assert_eq!(flaky.failures, 3);
    assert_eq!(flaky.consecutive_failures, 0);
    wait_until(30, "the broken plugin to be retried", || {
        host.status("broken").unwrap().delivery.unwrap().failures >= 3
    });
    let broken = host.status("broken").unwrap();
    let d = broken.delivery.unwrap();
    assert!(d.consecutive_failures >= 3, "{d:?}");
    assert_eq!(d.cursor, 0, "nothing acknowledged for the broken plugin");
    assert!(d.last_error.unwrap().contains("failing on purpose"));
    assert!(broken
        .log
        .iter()
        .any(|l| l.message.contains("delivery failed")));
    // Writers are never held up: a write while a plugin keeps failing is immediate.
    let t = std::time::Instant::now();
    f.clients(f.rep, 1, "Late");
    assert!(t.elapsed() < Duration::from_secs(2));
    // Disabling the broken one does not wait for its back-off.
    let t = std::time::Instant::now();
    host.disable("broken").unwrap();
    assert!(t.elapsed() < Duration::from_secs(2));
    assert_eq!(
        host.status("broken").unwrap().delivery.unwrap().state,
        DeliveryState::Stopped
    );
}

#[test]
fn out_of_process_delivery_survives_a_crash() {
    let f = Fixture::new();
    install(
        &f.plugin_dir(),
        "probe",
        &artifacts().probe,
        "events = [\"*\"]",
    );
    let host = f.host();
    let sink = f.dir.path().join("sink.log");
    host.enable(
        "probe",
        &EnableOptions {
            user_id: Some(f.connector),
            config: json!({ "sink": sink }),
            mode: Mode::OutOfProcess,
            ..EnableOptions::default()
        },
    )
    .unwrap();
    let first = f.clients(f.rep, 20, "A");
    host.notify();
    wait_until(30, "first batch", || {
        cursor(&host, "probe") == *first.last().unwrap()
    });
    // Kill the runner under the host's feet (the pid is the probe's answer).
    let pid = host.call("probe", "ping", &json!({})).unwrap()["pid"]
        .as_u64()
        .unwrap();
    Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    let second = f.clients(f.rep, 20, "B");
    host.notify();
    wait_until(30, "delivery after the crash", || {
        cursor(&host, "probe") == *second.last().unwrap()
    });
    let mut all = first;
    all.extend(second);
    assert_eq!(sink_ids(&sink), all);
    assert_eq!(host.status("probe").unwrap().restarts, 1);
}

/// Runs a plugin host in a child process (this test binary, re-entered through
/// `child_host_entry`), delivering to a slow probe plugin with a file sink.
fn spawn_host(f: &Fixture, sink: &Path, delay_ms: u64) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "delivery::child_host_entry",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("CRM_PLUGIN_TEST_CHILD", "1")
        .env("CHILD_DB", f.dir.path().join("crm.db"))
        .env("CHILD_PLUGINS", f.plugin_dir())
        .env("CHILD_RUNNER", &artifacts().runner)
        .env("CHILD_SINK", sink)
        .env("CHILD_USER", f.connector.0.to_string())
        .env("CHILD_DELAY", delay_ms.to_string())
        // Its test harness chatter would mix with ours; its panics go to a file.
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(f.dir.path().join("child.stderr")).unwrap())
        .spawn()
        .unwrap()
}

/// The child's side: host, enable, deliver until killed.
#[test]
fn child_host_entry() {
    if std::env::var_os("CRM_PLUGIN_TEST_CHILD").is_none() {
        return;
    }
    let var = |k: &str| std::env::var(k).unwrap();
    let crm = std::sync::Arc::new(crm_core::Crm::open(var("CHILD_DB")).unwrap());
    let host = PluginHost::new(
        crm,
        HostConfig {
            plugin_dir: Some(var("CHILD_PLUGINS").into()),
            runner: Some(var("CHILD_RUNNER").into()),
            poll_interval_ms: 10,
            batch_size: 10,
            ..HostConfig::default()
        },
    )
    .unwrap();
    host.enable(
        "probe",
        &EnableOptions {
            user_id: Some(crm_core::ids::UserId(var("CHILD_USER").parse().unwrap())),
            config: json!({ "sink": var("CHILD_SINK"), "delay_ms": var("CHILD_DELAY").parse::<u64>().unwrap() }),
            ..EnableOptions::default()
        },
    )
    .unwrap();
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}

#[test]
fn a_killed_host_loses_no_event() {
    let f = Fixture::new();
    install(
        &f.plugin_dir(),
        "probe",
        &artifacts().probe,
        "events = [\"*\"]",
    );
    let sink = f.dir.path().join("sink.log");
    let mut expected = f.clients(f.rep, 300, "Before");
    // Slow delivery (10 events per 20 ms batch), killed with SIGKILL part-way.
    let mut child = spawn_host(&f, &sink, 20);
    wait_until(60, "the child host to deliver some events", || {
        sink_ids(&sink).len() >= 80
    });
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let at_kill = f.crm.outbox_cursor(&f.sys, "probe").unwrap();
    assert!(
        at_kill > 0 && at_kill < *expected.last().unwrap(),
        "killed mid-way ({at_kill})"
    );
    // Writes go on while no host runs.
    expected.extend(f.clients(f.rep, 50, "While down"));
    let mut child = spawn_host(&f, &sink, 0);
    let last = *expected.last().unwrap();
    wait_until(60, "the restarted host to catch up", || {
        f.crm.outbox_cursor(&f.sys, "probe").unwrap() == last
    });
    child.kill().unwrap();
    child.wait().unwrap();

    let got = sink_ids(&sink);
    // Nothing lost; order kept; what came twice is only what was in flight at the kill.
    let mut firsts = Vec::new();
    for id in &got {
        if !firsts.contains(id) {
            firsts.push(*id);
        }
    }
    assert_eq!(firsts, expected, "every event, first seen in commit order");
    let redelivered = got.len() - firsts.len();
    assert!(
        redelivered <= 10,
        "{redelivered} redelivered, more than one batch"
    );
    // Redelivery starts at the last acknowledged event, not earlier.
    let restart_at = got
        .windows(2)
        .position(|w| w[1] <= w[0])
        .map(|i| got[i + 1]);
    if let Some(first_again) = restart_at {
        assert_eq!(first_again, at_kill + 1, "redelivery from the cursor");
    }
}
