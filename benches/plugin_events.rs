//! Event throughput from commit to plugin: how many outbox events per second the plugin host
//! delivers to a plugin (DESIGN.md target: ≥ 50,000/s in process).
//!
//! ```text
//! cargo bench --bench plugin_events                          # 100,000 events
//! CRM_BENCH_EVENTS=20000 cargo bench --bench plugin_events   # a quick check
//! ```
//!
//! The probe plugin (tests/plugins/probe, built here in release mode by a nested cargo into
//! `target/plugins`) is loaded for real and subscribes to every event; it counts what it gets.
//! Events are client creations committed through the public API by a user of the plugin's
//! department, so every event passes the permission filter.
//!
//! Measured, each with batch sizes 500 and 2,000:
//! - `backlog`: N events committed while the plugin is disabled, then the time from `enable`
//!   until the last one is acknowledged: pure delivery throughput (read the outbox as the
//!   plugin's user, encode, call the plugin, decode in the plugin, acknowledge). Repeated 5
//!   times (a fresh plugin id, so a fresh cursor, each time); median and best reported.
//! - `live`: the plugin enabled first, then N events committed in transactions of 1,000 while
//!   it delivers; the time from the first commit until the last event is acknowledged
//!   (commit + delivery together), and the lag after the last commit.
//! - `backlog_out_of_process`: as `backlog`, with the plugin in `crm-plugin-runner`.
//!
//! Output: a human table and one JSON line per measurement (lines starting with `{`).

use crm_core::access::{AccessLevel, Action, EntityType, Grant};
use crm_core::model::{NewClient, NewDepartment, NewUser, RoleSubject};
use crm_core::{Crm, Ctx};
use crm_plugins::host::{EnableOptions, HostConfig, Mode, PluginHost};
use crm_plugins::manifest::{sha256_hex, MANIFEST_FILE};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Builds the probe plugin and the runner in release mode; returns (probe library, runner).
fn build() -> (PathBuf, PathBuf) {
    let target = root().join("target").join("plugins");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let ok = Command::new(cargo)
        .current_dir(root())
        .args([
            "build",
            "--release",
            "--quiet",
            "-p",
            "crm-plugins",
            "-p",
            "crm-plugin-probe",
            "--no-default-features",
            "--features",
            "crm-plugins/loader",
            "--target-dir",
        ])
        .arg(&target)
        .status()
        .expect("run cargo")
        .success();
    assert!(ok, "building the probe plugin failed");
    let out = target.join("release");
    (
        out.join("libcrm_plugin_probe.so"),
        out.join("crm-plugin-runner"),
    )
}

struct Setup {
    _dir: tempfile::TempDir,
    crm: Arc<Crm>,
    sys: Ctx,
    writer: Ctx,
    plugin_user: crm_core::ids::UserId,
    plugins: PathBuf,
}

fn setup(probe: &Path) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let crm = Arc::new(Crm::open(dir.path().join("crm.db")).unwrap());
    let sys = crm.system_context("bench").unwrap();
    let sales = crm
        .create_department(
            &sys,
            &NewDepartment {
                name: "Sales".into(),
                parent_id: None,
            },
        )
        .unwrap();
    let user = |name: &str| {
        crm.create_user(
            &sys,
            &NewUser {
                name: name.into(),
                email: format!("{name}@example.com"),
                department_id: sales.id,
                admin: false,
            },
        )
        .unwrap()
        .id
    };
    let (writer, plugin_user) = (user("writer"), user("connector"));
    let grants: Vec<Grant> = [Action::Read, Action::Create]
        .map(|action| Grant {
            entity: EntityType::Client,
            action,
            level: AccessLevel::Department,
            include_open: false,
        })
        .to_vec();
    let role = crm.create_role(&sys, "Staff", &grants).unwrap();
    crm.assign_role(
        &sys,
        role.id,
        &RoleSubject::Department {
            department_id: sales.id,
            include_subdepartments: true,
        },
    )
    .unwrap();
    let plugins = dir.path().join("plugins");
    install(&plugins, "probe", probe);
    Setup {
        writer: crm.user_context(writer).unwrap(),
        crm,
        sys,
        plugin_user,
        plugins,
        _dir: dir,
    }
}

/// Installs the probe as plugin `id` (each id has its own delivery cursor).
fn install(plugins: &Path, id: &str, probe: &Path) {
    let pdir = plugins.join(id);
    std::fs::create_dir_all(&pdir).unwrap();
    let bytes = std::fs::read(probe).unwrap();
    std::fs::write(pdir.join("libcrm_plugin_probe.so"), &bytes).unwrap();
    std::fs::write(
        pdir.join(MANIFEST_FILE),
        format!(
            "id = \"{id}\"\nname = \"probe\"\nversion = \"1\"\nabi = \"1.0\"\nlibrary = \"libcrm_plugin_probe.so\"\nsha256 = \"{}\"\nevents = [\"*\"]\n",
            sha256_hex(&bytes)
        ),
    )
    .unwrap();
}

fn commit(s: &Setup, n: usize, tag: &str) {
    let mut i = 0;
    while i < n {
        let k = (n - i).min(1000);
        let batch: Vec<NewClient> = (i..i + k)
            .map(|j| NewClient::organization(format!("{tag} client {j}")))
            .collect();
        s.crm.create_clients(&s.writer, &batch).unwrap();
        i += k;
    }
}

fn host(s: &Setup, runner: &Path, batch: usize) -> PluginHost {
    PluginHost::new(
        s.crm.clone(),
        HostConfig {
            plugin_dir: Some(s.plugins.clone()),
            runner: Some(runner.to_path_buf()),
            batch_size: batch,
            poll_interval_ms: 1,
            ..HostConfig::default()
        },
    )
    .unwrap()
}

fn enable(h: &PluginHost, s: &Setup, id: &str, mode: Mode) {
    h.enable(
        id,
        &EnableOptions {
            user_id: Some(s.plugin_user),
            mode,
            config: json!({}),
            ..EnableOptions::default()
        },
    )
    .unwrap();
}

fn wait_acked(h: &PluginHost, id: &str, head: i64) {
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let st = h.status(id).unwrap().delivery.unwrap();
        if st.cursor >= head {
            return;
        }
        assert!(Instant::now() < deadline, "delivery stalled: {st:?}");
        std::thread::sleep(Duration::from_micros(200));
    }
}

fn report(case: &str, batch: usize, n: usize, secs: f64, extra: serde_json::Value) {
    let rate = n as f64 / secs;
    println!("{case:<24} batch {batch:>5}  {n:>8} events  {secs:>8.3} s  {rate:>10.0} events/s");
    let mut line = json!({
        "bench": "plugin_events",
        "case": case,
        "batch_size": batch,
        "events": n,
        "seconds": secs,
        "events_per_second": rate,
        "sqlite": rusqlite::version(),
        "journal": "wal",
        "git": git_rev(),
    });
    if let (Some(l), Some(e)) = (line.as_object_mut(), extra.as_object()) {
        l.extend(e.clone());
    }
    println!("{line}");
}

fn git_rev() -> String {
    Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(root())
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

fn main() {
    // `cargo test --benches` runs this with --bench absent: keep that to a smoke run.
    let quick = !std::env::args().any(|a| a == "--bench");
    let n: usize = std::env::var("CRM_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick { 2_000 } else { 100_000 });
    let (probe, runner) = build();
    println!(
        "plugin event delivery, {n} events (client.create), machine: {} cores",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );

    let reps: usize = if quick { 1 } else { 5 };
    // One backlog of n events, delivered afresh to a new plugin id per repetition (each id has
    // its own cursor), so repetitions measure delivery only. The machine may be shared: the
    // median and the best of the repetitions are reported.
    let backlog = setup(&probe);
    commit(&backlog, n, "backlog");
    let head = backlog.crm.outbox_head(&backlog.sys).unwrap();
    for (case, mode) in [
        ("backlog", Mode::InProcess),
        ("backlog_out_of_process", Mode::OutOfProcess),
    ] {
        for batch in [500usize, 2000] {
            let mut rates = Vec::new();
            for rep in 0..reps {
                let id = format!("{case}-{batch}-{rep}").replace('_', "-");
                install(&backlog.plugins, &id, &probe);
                let h = host(&backlog, &runner, batch);
                let t = Instant::now();
                enable(&h, &backlog, &id, mode);
                wait_acked(&h, &id, head);
                let secs = t.elapsed().as_secs_f64();
                let seen = h.call(&id, "seen", &json!({})).unwrap()["seen"]
                    .as_u64()
                    .unwrap();
                assert_eq!(seen as usize, n, "every event reached the plugin");
                rates.push(n as f64 / secs);
            }
            rates.sort_by(f64::total_cmp);
            let median = rates[rates.len() / 2];
            let best = rates[rates.len() - 1];
            report(
                case,
                batch,
                n,
                n as f64 / median,
                json!({ "mode": format!("{mode:?}"), "repetitions": reps, "median_events_per_second": median, "best_events_per_second": best }),
            );
            println!(
                "{:<24} median of {reps}: {median:.0} events/s, best {best:.0} events/s",
                ""
            );
        }
    }

    // Live: the plugin enabled first, then commits while it delivers.
    for batch in [500usize, 2000] {
        let s = setup(&probe);
        let h = host(&s, &runner, batch);
        enable(&h, &s, "probe", Mode::InProcess);
        let t = Instant::now();
        commit(&s, n, "live");
        let committed = t.elapsed().as_secs_f64();
        let head = s.crm.outbox_head(&s.sys).unwrap();
        let t_lag = Instant::now();
        wait_acked(&h, "probe", head);
        let lag = t_lag.elapsed().as_secs_f64();
        let secs = t.elapsed().as_secs_f64();
        report(
            "live",
            batch,
            n,
            secs,
            json!({ "mode": "in_process", "commit_seconds": committed, "lag_after_last_commit_seconds": lag }),
        );
        println!("{:<24} commits took {committed:.3} s; last event acknowledged {:.1} ms after the last commit", "", lag * 1000.0);
    }
}
