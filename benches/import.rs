//! The import macro bench (DESIGN.md §7): N clients from a CSV file, end to end through
//! `Crm::import`, beside a raw-SQLite load of the same rows into the same schema followed by
//! building its indexes and the full-text index, in the same run.
//!
//! `cargo bench --bench import` (N = 1,000,000; `CRM_BENCH_IMPORT_ROWS=100000` for a quick run).
//! Target: 1M clients end to end ≤ 9 s with peak RSS ≤ 200 MB.

#[path = "funnel_support/sysinfo.rs"]
mod sysinfo;

use crm_core::model::{ImportSpec, NewDepartment, NewUser, RecordKind};
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

/// The floor: the same rows parsed and inserted with one prepared statement into the engine's
/// schema with its list indexes dropped, then the indexes and the search index built.
fn raw(dir: &Path, csv: &Path) -> f64 {
    let db = fresh_db(dir, "import-raw.db");
    drop(Crm::open(&db).expect("schema"));
    let mut c = Connection::open(&db).expect("open");
    c.pragma_update(None, "journal_mode", "WAL").expect("wal");
    c.pragma_update(None, "synchronous", "NORMAL")
        .expect("sync");
    let t = Instant::now();
    let tx = c.transaction().expect("tx");
    tx.execute("INSERT INTO departments (name) VALUES ('HQ')", [])
        .expect("dept");
    tx.execute("INSERT INTO users (name, email, email_key, dept_id, created_at) VALUES ('o', 'o@x', 'o@x', 1, 0)", []).expect("user");
    let indexes: Vec<String> = tx
        .prepare("SELECT sql FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'clients' AND sql IS NOT NULL")
        .expect("idx")
        .query_map([], |r| r.get(0))
        .expect("idx")
        .collect::<rusqlite::Result<_>>()
        .expect("idx");
    for name in tx
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'clients' AND sql IS NOT NULL")
        .expect("idx")
        .query_map([], |r| r.get::<_, String>(0))
        .expect("idx")
        .collect::<rusqlite::Result<Vec<_>>>()
        .expect("idx")
    {
        tx.execute_batch(&format!("DROP INDEX {name}")).expect("drop");
    }
    {
        let mut ins = tx
            .prepare(
                "INSERT INTO clients (kind, name, sort_name, tax_id, emails, phones, tags, addresses, owner_id, dept_id,
                    created_at, updated_at, external_id) VALUES (1, ?, ?, ?, ?, ?, ?, ?, 1, 1, 0, 0, ?)",
            )
            .expect("prepare");
        for line in BufReader::new(std::fs::File::open(csv).expect("csv"))
            .lines()
            .skip(1)
        {
            let line = line.expect("line");
            let f: Vec<&str> = line.split(',').collect();
            let tags: Vec<&str> = f[5].split(';').filter(|t| !t.is_empty()).collect();
            ins.execute(params![
                f[1],
                f[1].to_lowercase(),
                f[4],
                json!([{ "kind": "work", "address": f[2] }]).to_string(),
                json!([{ "kind": "work", "number": f[3] }]).to_string(),
                json!(tags).to_string(),
                json!([{ "kind": "legal", "city": f[6] }]).to_string(),
                f[0]
            ])
            .expect("insert");
        }
    }
    for sql in indexes {
        tx.execute_batch(&sql).expect("create index");
    }
    tx.execute_batch(
        "INSERT INTO client_fts (rowid, name, emails, phones, ids)
         SELECT id, name, json_extract(emails, '$[0].address'), json_extract(phones, '$[0].number'), tax_id FROM clients",
    )
    .expect("fts");
    tx.commit().expect("commit");
    t.elapsed().as_secs_f64()
}

fn main() {
    let n = sysinfo::env_usize("CRM_BENCH_IMPORT_ROWS", 1_000_000);
    let dir = sysinfo::data_dir();
    std::fs::create_dir_all(&dir).expect("data dir");
    let csv = csv_file(n);
    let (engine_s, created) = engine(&dir, &csv);
    let engine_rss = peak_rss_kib();
    let raw_s = raw(&dir, &csv);
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
        "  raw:    {raw_s:>8.2} s  {:>9.0} rows/s  (load + indexes + FTS)",
        n as f64 / raw_s
    );
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
        json!({ "bench": "import", "engine_s": engine_s, "raw_s": raw_s, "engine_peak_rss_kib": engine_rss, "meta": meta })
    );
}
