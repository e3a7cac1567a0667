//! The crash test: this test binary re-executes itself as a child process (the test
//! `crash_child`, told what to do through environment variables) and kills the child with
//! SIGKILL (`Child::kill`) at a random moment, many times over:
//!
//! - during a skip-invalid import of 20,000 clients in batches of 500: afterwards the database
//!   opens, `PRAGMA integrity_check` is ok, the audit chain verifies, and the clients are a
//!   whole number of batches, exactly those the `import.batch` audit entries account for;
//! - during an online backup of a ~20 MB database while another thread writes: afterwards the
//!   destination is either absent or a complete database that passes `verify_backup`, and the
//!   source database is sound.
//!
//! Run with `CRM_TEST_SEED=<n>` to repeat the kill timings of an earlier run, and
//! `CRM_CRASH_KILLS=<n>` to change the number of kills per workload (default 50).

mod data_common;

use crm_core::model::{ImportMode, ImportSpec, NewClient, RecordKind};
use crm_core::Crm;
use data_common::*;
use serde_json::json;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const CHILD: &str = "CRM_CRASH_CHILD";
const DB: &str = "CRM_CRASH_DB";
const INPUT: &str = "CRM_CRASH_INPUT";
const DEST: &str = "CRM_CRASH_DEST";
const READY: &str = "CRASH-CHILD READY";
const DONE: &str = "CRASH-CHILD DONE";

const ROWS: usize = 20_000;
const BATCH: u64 = 500;

fn kills() -> usize {
    std::env::var("CRM_CRASH_KILLS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(50)
}

// ---------------------------------------------------------------------------------------------
// The child
// ---------------------------------------------------------------------------------------------

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}").expect("stdout");
    out.flush().expect("flush");
}

/// The workload the parent kills. Without the environment variable (a normal test run) it does
/// nothing.
#[test]
fn crash_child() {
    let Ok(kind) = std::env::var(CHILD) else {
        return;
    };
    let db = PathBuf::from(std::env::var(DB).expect("CRM_CRASH_DB"));
    let crm = Crm::open(&db).expect("child: open");
    let sys = crm
        .system_context("crash test child")
        .expect("child: system context");
    match kind.as_str() {
        "import" => {
            let input = std::fs::read(std::env::var(INPUT).expect("CRM_CRASH_INPUT"))
                .expect("child: read input");
            let mut spec = ImportSpec::new(RecordKind::Clients);
            spec.mode = ImportMode::SkipInvalid;
            spec.batch_size = BATCH as usize;
            say(READY);
            let start = Instant::now();
            let r = crm
                .import(&sys, &spec, &input[..], None, &mut |_| true)
                .expect("child: import");
            assert_eq!((r.created, r.invalid), (ROWS as u64, 0));
            say(&format!("{DONE} {}", start.elapsed().as_millis()));
        }
        "backup" => {
            let dest = PathBuf::from(std::env::var(DEST).expect("CRM_CRASH_DEST"));
            let admin = crm
                .users(&sys)
                .expect("child: users")
                .into_iter()
                .find(|u| u.admin)
                .expect("child: an administrator");
            let admin = crm.user_context(admin.id).expect("child: admin context");
            let owner = crm.users(&sys).expect("users")[1].id;
            let stop = AtomicBool::new(false);
            std::thread::scope(|s| {
                s.spawn(|| {
                    let mut i = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        crm.create_client(
                            &sys,
                            &NewClient {
                                owner_id: Some(owner),
                                ..NewClient::organization(format!("Crash writer {i}"))
                            },
                        )
                        .expect("child: concurrent write");
                        i += 1;
                    }
                });
                say(READY);
                let start = Instant::now();
                crm.backup(&admin, &dest, &mut |_| true)
                    .expect("child: backup");
                say(&format!("{DONE} {}", start.elapsed().as_millis()));
                // Keep writing until killed (or briefly, when the parent only calibrates).
                std::thread::sleep(Duration::from_millis(200));
                stop.store(true, Ordering::Relaxed);
            });
        }
        other => panic!("unknown crash workload {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// The parent
// ---------------------------------------------------------------------------------------------

struct Running {
    child: Child,
    stdout: BufReader<std::process::ChildStdout>,
    stderr: PathBuf,
}

fn spawn(kind: &str, env: &[(&str, &Path)], stderr: PathBuf) -> Running {
    let exe = std::env::current_exe().expect("current exe");
    let mut cmd = Command::new(exe);
    cmd.args(["crash_child", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, kind)
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(
            std::fs::File::create(&stderr).expect("stderr file"),
        ));
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn child");
    let stdout = BufReader::new(child.stdout.take().expect("child stdout"));
    Running {
        child,
        stdout,
        stderr,
    }
}

impl Running {
    /// Reads the child's output until a line holding `marker`; returns the line from there.
    fn wait_for(&mut self, marker: &str) -> String {
        let mut line = String::new();
        let mut seen = String::new();
        loop {
            line.clear();
            let n = self.stdout.read_line(&mut line).expect("read child stdout");
            if n == 0 {
                let status = self.child.wait();
                panic!(
                    "the child ended ({status:?}) before {marker:?}; its output:\n{seen}\nits stderr:\n{}",
                    std::fs::read_to_string(&self.stderr).unwrap_or_default()
                );
            }
            seen.push_str(&line);
            // The harness prints "test crash_child ... " without a line end before it.
            if let Some(at) = line.find(marker) {
                return line[at..].trim().to_string();
            }
        }
    }

    /// Lets the child run for `ms` milliseconds (less if it exits by itself), then kills it.
    fn kill_after(self, ms: u64) {
        let deadline = Instant::now() + Duration::from_millis(ms);
        let mut this = self;
        while Instant::now() < deadline {
            if matches!(this.child.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        this.kill();
    }

    fn kill(mut self) {
        // SIGKILL on Unix; an error only means the child has already exited.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn finish(mut self) {
        let status = self.child.wait().expect("wait");
        assert!(
            status.success(),
            "the child failed: {status}; its stderr:\n{}",
            std::fs::read_to_string(&self.stderr).unwrap_or_default()
        );
    }
}

/// The milliseconds a completed workload reports after its DONE marker.
fn done_ms(line: &str) -> u64 {
    line.rsplit(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000)
}

/// A fresh database with the test organisation, closed (so it is one self-contained file).
fn template(path: &Path) {
    let crm = Crm::open(path).expect("open template");
    let sys = crm.system_context("crash test template").expect("sys");
    setup(&crm, &sys);
}

/// The database opens, is sound, and its audit chain verifies.
fn assert_sound(path: &Path, what: &str) -> (Crm, crm_core::Ctx) {
    assert_eq!(integrity(path), "ok", "{what}: integrity_check");
    let crm = Crm::open(path).unwrap_or_else(|e| panic!("{what}: the database does not open: {e}"));
    let sys = crm.system_context("crash check").expect("sys");
    let audit = crm.verify_audit(&sys).expect("verify audit");
    assert!(audit.ok, "{what}: the audit chain is broken: {audit:?}");
    (crm, sys)
}

fn remove_db(path: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

#[test]
fn killing_an_import_keeps_whole_batches() {
    let dir = tempfile::tempdir().expect("dir");
    let base = dir.path().join("template.db");
    template(&base);
    let input = dir.path().join("clients.csv");
    let mut csv = String::from("external_id,name,owner_email,tax_id\n");
    for i in 0..ROWS {
        csv.push_str(&format!(
            "K{i:06},Crash client {i},ann@corp.example,DE {i:09}\n"
        ));
    }
    std::fs::write(&input, csv).expect("input");
    let mut rng = Rng::seeded();

    // A run to the end, to learn how long the workload takes here.
    let path = dir.path().join("calibrate.db");
    std::fs::copy(&base, &path).expect("copy");
    let mut run = spawn(
        "import",
        &[(DB, &path), (INPUT, &input)],
        dir.path().join("calibrate.err"),
    );
    run.wait_for(READY);
    let full = done_ms(&run.wait_for(DONE));
    run.finish();
    let (crm, sys) = assert_sound(&path, "complete import");
    assert_eq!(client_count(&crm, &sys), ROWS as u64);
    drop(crm);
    remove_db(&path);
    eprintln!("a complete import takes {full} ms");

    let mut outcomes = Vec::new();
    for round in 0..kills() {
        let path = dir.path().join(format!("import-{round}.db"));
        std::fs::copy(&base, &path).expect("copy template");
        let mut run = spawn(
            "import",
            &[(DB, &path), (INPUT, &input)],
            dir.path().join(format!("import-{round}.err")),
        );
        run.wait_for(READY);
        // Kills land anywhere in the first three quarters of the import (every batch boundary
        // is alike; the rounds stay short).
        let delay = rng.range(0, full * 3 / 4 + 1);
        run.kill_after(delay);

        let what = format!("import round {round} (killed after {delay} ms)");
        let (crm, sys) = assert_sound(&path, &what);
        let count = client_count(&crm, &sys);
        let batches = audit_with(&crm, &sys, "import.batch");
        let accounted: u64 = batches.iter().map(|e| detail_u64(e, "created")).sum();
        assert_eq!(
            count % BATCH,
            0,
            "{what}: {count} clients are not a whole number of batches"
        );
        assert_eq!(
            count, accounted,
            "{what}: {count} clients but the import.batch entries account for {accounted}"
        );
        outcomes.push(count / BATCH);
        drop(crm);
        remove_db(&path);
    }
    outcomes.sort();
    eprintln!("batches committed when killed: {outcomes:?}");
}

#[test]
fn killing_a_backup_leaves_no_partial_copy() {
    let dir = tempfile::tempdir().expect("dir");
    let source = dir.path().join("source.db");
    template(&source);
    {
        // About 20 MB: 1,800 clients with a 2,000-character note each (the note is also in
        // the audit log and the outbox).
        let crm = Crm::open(&source).expect("open");
        let sys = crm.system_context("fill").expect("sys");
        let owner = crm.users(&sys).expect("users")[1].id;
        let note = "x".repeat(2_000);
        let batch: Vec<NewClient> = (0..1_800)
            .map(|i| NewClient {
                owner_id: Some(owner),
                custom: BTreeMap::from([("note".to_string(), json!(note))]),
                ..NewClient::organization(format!("Big client {i}"))
            })
            .collect();
        for chunk in batch.chunks(600) {
            crm.create_clients(&sys, chunk).expect("fill");
        }
    }
    let size = std::fs::metadata(&source).expect("size").len();
    assert!(size > 15 << 20, "the source is {size} bytes");
    let mut rng = Rng::seeded();

    let dest = dir.path().join("calibrate-copy.db");
    let mut run = spawn(
        "backup",
        &[(DB, &source), (DEST, &dest)],
        dir.path().join("calibrate.err"),
    );
    run.wait_for(READY);
    let full = done_ms(&run.wait_for(DONE));
    run.finish();
    let (crm, sys) = assert_sound(&source, "source after a complete backup");
    let check = crm.verify_backup(&sys, &dest).expect("verify");
    assert!(check.ok, "{check:#?}");
    drop(crm);
    remove_db(&dest);
    eprintln!("a complete backup of {size} bytes takes {full} ms");

    let (mut absent, mut complete) = (0, 0);
    for round in 0..kills() {
        let dest = dir.path().join(format!("copy-{round}.db"));
        let mut run = spawn(
            "backup",
            &[(DB, &source), (DEST, &dest)],
            dir.path().join(format!("backup-{round}.err")),
        );
        run.wait_for(READY);
        // About half the kills come before the copy is complete, half after.
        let delay = rng.range(0, 2 * full + 1);
        run.kill_after(delay);

        let what = format!("backup round {round} (killed after {delay} ms)");
        let partial = dest.with_extension("partial");
        if dest.exists() {
            complete += 1;
            let crm = Crm::open(&source).expect("open source");
            let sys = crm.system_context("check").expect("sys");
            // integrity_check, the audit chain and the schema version of the copy.
            let check = crm.verify_backup(&sys, &dest).expect("verify");
            assert!(check.ok, "{what}: the copy fails its check: {check:#?}");
            remove_db(&dest);
        } else {
            absent += 1;
        }
        let _ = std::fs::remove_file(&partial);
        // The source survives the kill of a process that was writing to it.
        drop(assert_sound(&source, &what));
    }
    eprintln!("kills: {absent} left no copy, {complete} left a complete one");
}
