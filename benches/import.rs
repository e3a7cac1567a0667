//! The import macro bench (DESIGN.md §7): N clients from a CSV file, end to end through
//! `Crm::import`, beside the same writes made by hand-written SQL into the same schema (rows,
//! duplicate keys, outbox events, list indexes, search documents), each phase timed, in the
//! same run.
//!
//! `cargo bench --bench import` (N = 1,000,000; `CRM_BENCH_IMPORT_ROWS=100000` for a quick run).
//! Target: 1M clients end to end ≤ 9 s with peak RSS ≤ 200 MB.

#[path = "funnel_support/sysinfo.rs"]
mod sysinfo;

use crm_core::model::{normalize, ImportSpec, NewDepartment, NewUser, RecordKind};
use crm_core::Crm;
use rusqlite::{params, Connection};
use serde_json::json;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

const HEADER: &str = "external_id,name,email,phone,tax_id,tags,city";

/// The CSV of `n` generated clients, cached beside the other fixtures.
fn csv_file(n: usize) -> PathBuf {
    let path = sysinfo::data_dir().join(format!("import-clients-{n}.csv"));
    if !path.exists() {
        let tmp = path.with_extension("partial");
        let mut f = std::io::BufWriter::new(std::fs::File::create(&tmp).expect("create csv"));
        writeln!(f, "{HEADER}").expect("write");
        for i in 0..n {
            writeln!(
                f,
                "C{i},Company {i} {} Ltd,info{i}@example{}.com,+49 30 {:07},DE{:09},{},Berlin",
                ["Logistics", "Systems", "Foods", "Textiles"][i % 4],
                i % 1000,
                i,
                i,
                ["smb;lead", "enterprise", "partner;smb", ""][i % 4]
            )
            .expect("write");
        }
        f.flush().expect("flush");
        drop(f);
        std::fs::rename(&tmp, &path).expect("rename");
    }
    path
}

fn fresh_db(dir: &Path, name: &str) -> PathBuf {
    let db = dir.join(name);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    db
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// The engine: a fresh database, one owner, then `Crm::import` of the whole file (all or nothing,
/// matched by external id). Returns (seconds, created).
fn engine(dir: &Path, csv: &Path) -> (f64, u64) {
    let crm = Crm::open(fresh_db(dir, "import-engine.db")).expect("open");
    let sys = crm.system_context("import bench").expect("sys");
    let d = crm
        .create_department(
            &sys,
            &NewDepartment {
                name: "HQ".into(),
                parent_id: None,
            },
        )
        .expect("dept");
    crm.create_user(
        &sys,
        &NewUser {
            name: "Owner".into(),
            email: "owner@example.com".into(),
            department_id: d.id,
            admin: false,
        },
    )
    .expect("user");
    let mut spec = ImportSpec::new(RecordKind::Clients);
    for (col, field) in [
        ("external_id", "external_id"),
        ("name", "name"),
        ("email", "email"),
        ("phone", "phone"),
        ("tax_id", "tax_id"),
        ("tags", "tags"),
        ("city", "address.city"),
    ] {
        spec.columns.insert(col.into(), field.into());
    }
    spec.defaults
        .insert("owner_email".into(), "owner@example.com".into());
    let size = std::fs::metadata(csv).ok().map(|m| m.len());
    let t = Instant::now();
    let report = crm
        .import(
            &sys,
            &spec,
            std::fs::File::open(csv).expect("csv"),
            size,
            &mut |_| true,
        )
        .expect("import");
    let secs = t.elapsed().as_secs_f64();
    assert_eq!(report.invalid, 0, "{:?}", report.errors.first());
    (secs, report.created)
}

/// One generated CSV line split into its fields.
struct Line {
    ext: String,
    name: String,
    email: String,
    phone: String,
    tax: String,
    tags: Vec<String>,
    city: String,
}

fn lines(csv: &Path) -> impl Iterator<Item = Line> {
    BufReader::new(std::fs::File::open(csv).expect("csv"))
        .lines()
        .skip(1)
        .map(|l| {
            let l = l.expect("line");
            let f: Vec<&str> = l.split(',').collect();
            Line {
                ext: f[0].into(),
                name: f[1].into(),
                email: f[2].into(),
                phone: f[3].into(),
                tax: f[4].into(),
                tags: f[5]
                    .split(';')
                    .filter(|t| !t.is_empty())
                    .map(String::from)
                    .collect(),
                city: f[6].into(),
            }
        })
}

/// Seconds of each phase of the raw floor.
#[derive(Default)]
struct Phases {
    rows: f64,
    keys: f64,
    outbox: f64,
    indexes: f64,
    search: f64,
    commit: f64,
}

impl Phases {
    fn total(&self) -> f64 {
        self.rows + self.keys + self.outbox + self.indexes + self.search + self.commit
    }
}

fn timed(slot: &mut f64, f: impl FnOnce()) {
    let t = Instant::now();
    f();
    *slot = t.elapsed().as_secs_f64();
}

/// The floor: the writes the engine makes for the same rows — client rows, duplicate keys,
/// outbox events, list indexes, search documents — as hand-written SQL into the engine's schema
/// (prepared statements, list indexes built after the load, keys inserted in sorted runs), one
/// transaction, each phase timed. No validation, matching or permission checks.
fn raw(dir: &Path, csv: &Path) -> Phases {
    let db = fresh_db(dir, "import-raw.db");
    drop(Crm::open(&db).expect("schema"));
    let mut c = Connection::open(&db).expect("open");
    c.pragma_update(None, "journal_mode", "WAL").expect("wal");
    c.pragma_update(None, "synchronous", "NORMAL")
        .expect("sync");
    c.pragma_update(None, "cache_size", -64 * 1024)
        .expect("cache");
    c.pragma_update(None, "temp_store", "MEMORY").expect("temp");
    // Like the engine, which checkpoints on a background thread, not in the committing call.
    c.pragma_update(None, "wal_autocheckpoint", 0)
        .expect("checkpoint");
    let tx = c.transaction().expect("tx");
    tx.execute("INSERT INTO departments (name) VALUES ('HQ')", [])
        .expect("dept");
    tx.execute("INSERT INTO users (name, email, email_key, dept_id, created_at) VALUES ('o', 'o@x', 'o@x', 1, 0)", []).expect("user");
    let indexes: Vec<(String, String)> = tx
        .prepare("SELECT name, sql FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'clients' AND sql IS NOT NULL AND name != 'clients_external'")
        .expect("idx")
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("idx")
        .collect::<rusqlite::Result<_>>()
        .expect("idx");
    for (name, _) in &indexes {
        tx.execute_batch(&format!("DROP INDEX {name}"))
            .expect("drop");
    }
    let mut p = Phases::default();
    timed(&mut p.rows, || {
        let mut ins = tx
            .prepare(
                "INSERT INTO clients (kind, name, sort_name, tax_id, emails, phones, tags, addresses, owner_id, dept_id,
                    created_at, updated_at, external_id) VALUES (1, ?, ?, ?, ?, ?, ?, ?, 1, 1, 0, 0, ?)",
            )
            .expect("prepare");
        for l in lines(csv) {
            ins.execute(params![
                l.name,
                normalize::sort_key(&l.name),
                l.tax,
                json!([{ "kind": "work", "address": l.email }]).to_string(),
                json!([{ "kind": "work", "number": l.phone }]).to_string(),
                json!(l.tags).to_string(),
                json!([{ "kind": "legal", "city": l.city }]).to_string(),
                l.ext
            ])
            .expect("insert");
        }
    });
    timed(&mut p.keys, || {
        let mut ins = tx
            .prepare("INSERT INTO client_keys (kind, key, client_id) VALUES (?, ?, ?)")
            .expect("prepare");
        let mut run: Vec<(&str, String, i64)> = Vec::new();
        let mut flush = |run: &mut Vec<(&str, String, i64)>| {
            run.sort_unstable();
            for (kind, key, id) in run.drain(..) {
                ins.execute(params![kind, key, id]).expect("key");
            }
        };
        for (i, l) in lines(csv).enumerate() {
            let id = i as i64 + 1;
            run.push(("email", normalize::email_key(&l.email), id));
            run.extend(normalize::phone_key(&l.phone).map(|k| ("phone", k, id)));
            run.extend(normalize::tax_key(&l.tax).map(|k| ("tax", k, id)));
            run.extend(normalize::name_key(&l.name).map(|k| ("name", k, id)));
            run.extend(l.tags.iter().map(|t| ("tag", normalize::tag_key(t), id)));
            if run.len() >= 250_000 {
                flush(&mut run);
            }
        }
        flush(&mut run);
    });
    timed(&mut p.outbox, || {
        let mut ins = tx
            .prepare("INSERT INTO outbox (at, event_type, entity, entity_id, owner_id, dept_id, is_open, payload)
                      VALUES (0, 'client.create', 'client', ?, 1, 1, 0, '{\"imported\":true}')")
            .expect("prepare");
        for id in 1..=lines(csv).count() as i64 {
            ins.execute([id]).expect("event");
        }
    });
    timed(&mut p.indexes, || {
        for (_, sql) in &indexes {
            tx.execute_batch(sql).expect("create index");
        }
    });
    timed(&mut p.search, || {
        let mut ins = tx
            .prepare(
                "INSERT INTO client_fts (rowid, name, emails, phones, ids, acl) VALUES (?, ?, ?, ?, ?, 'o1 d1')",
            )
            .expect("prepare");
        for (i, l) in lines(csv).enumerate() {
            let phones = format!(
                "{} {}",
                l.phone,
                normalize::phone_key(&l.phone).unwrap_or_default()
            );
            let ids = format!(
                "{} {}",
                l.tax,
                normalize::tax_key(&l.tax).unwrap_or_default()
            );
            ins.execute(params![i as i64 + 1, l.name, l.email, phones, ids])
                .expect("document");
        }
    });
    timed(&mut p.commit, || tx.commit().expect("commit"));
    p
}

fn main() {
    let n = sysinfo::env_usize("CRM_BENCH_IMPORT_ROWS", 1_000_000);
    let dir = sysinfo::data_dir();
    std::fs::create_dir_all(&dir).expect("data dir");
    let csv = csv_file(n);
    let (engine_s, created) = engine(&dir, &csv);
    let engine_rss = peak_rss_kib();
    let raw = raw(&dir, &csv);
    let raw_s = raw.total();
    let meta = json!({
        "git": sysinfo::git_revision(), "sqlite": rusqlite::version(), "journal_mode": "wal",
        "synchronous": "NORMAL", "n": n, "cpu": sysinfo::cpu_model(), "loadavg": sysinfo::loadavg(),
    });
    println!("import of {n} clients ({created} created)");
    println!(
        "  engine: {engine_s:>8.2} s  {:>9.0} rows/s  peak RSS {} MiB",
        n as f64 / engine_s,
        engine_rss / 1024
    );
    println!(
        "  raw:    {raw_s:>8.2} s  {:>9.0} rows/s  (the same writes as hand-written SQL)",
        n as f64 / raw_s
    );
    for (phase, s) in [
        ("client rows + external-id index", raw.rows),
        ("duplicate keys, sorted runs", raw.keys),
        ("outbox events", raw.outbox),
        ("list indexes built after", raw.indexes),
        ("search documents (FTS5)", raw.search),
        ("commit", raw.commit),
    ] {
        println!("    {phase:<34} {s:>7.2} s");
    }
    println!(
        "  ratio {:.1}×; target ≤ 9 s for 1M and ≤ 200 MB: {}",
        engine_s / raw_s,
        if n == 1_000_000 && engine_s <= 9.0 && engine_rss <= 200 * 1024 {
            "met"
        } else {
            "not met"
        }
    );
    println!(
        "{}",
        json!({ "bench": "import", "engine_s": engine_s, "raw_s": raw_s, "engine_peak_rss_kib": engine_rss,
                "raw_phases_s": { "rows": raw.rows, "keys": raw.keys, "outbox": raw.outbox, "indexes": raw.indexes, "search": raw.search, "commit": raw.commit },
                "meta": meta })
    );
}
