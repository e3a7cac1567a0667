//! List and search at 1M clients, against the DESIGN.md §7 targets (list page p50 ≤ 0.5 ms,
//! search page p50 ≤ 2 ms), with raw-SQLite baselines measured in the same run.
//!
//! ```text
//! cargo bench --bench list_search                            # 1,000,000 clients
//! CRM_BENCH_CLIENTS=50000 cargo bench --bench list_search    # a quick check
//! CRM_BENCH_ITERS=2000 cargo bench --bench list_search       # more iterations (default 1000)
//! ```
//!
//! The fixture (see `common/fixture.rs`) is built through the public API once and cached as
//! `target/bench-data/clients-1m-v{SCHEMA_VERSION}.db`; delete it to rebuild.
//!
//! Three implementations of each workload are timed, interleaved in rounds:
//! - `engine`: the public API (`list_clients`, `search_clients`) as a regional head whose
//!   department-tree scope covers about a quarter of the rows;
//! - `raw`: the same page hand-written with rusqlite on the same file *without* permissions,
//!   fetching the same columns (the floor);
//! - `engine_sql`: the engine's own SQL (rendered by `SqlAccess::render`, assembled as
//!   `store::clients` does) run with rusqlite, to split the engine's time between SQL and Rust.
//!
//! Output: a human table, a comparison table, the query plans, and one JSON line per
//! measurement (lines starting with `{`).

mod common;

use common::fixture::{self, Fixture};
use common::measure::{self, Case};
use crm_core::access::{
    fts, AccessLevel, AccessPlan, AclColumns, Action, EntityType, Scope, SqlAccess,
};
use crm_core::ids::{DepartmentId, UserId};
use crm_core::model::{normalize, ClientQuery, SearchQuery};
use crm_core::{Crm, SCHEMA_VERSION};
use rusqlite::types::Value;
use rusqlite::{params_from_iter, Connection, OpenFlags};
use serde_json::{json, Map};
use std::collections::BTreeSet;
use std::hint::black_box;
use std::path::PathBuf;

const PAGE: usize = 50;
const DEEP_ROWS: usize = 20_000;
const COMMON_WORD: &str = "logistics";
/// The search workloads (common, rare, two-letter prefix) as the sales rep.
const OWN_WORKLOADS: [&str; 3] = ["search_common_own", "search_rare_own", "search_prefix2_own"];
const PREFIX_WORD: &str = "ma";
const LIST_TARGET_US: f64 = 500.0;
const SEARCH_TARGET_US: f64 = 2000.0;

/// `store::clients::CLIENT_COLUMNS`: what a page fetches per row.
const COLS: &str = "c.id, c.kind, c.name, c.parent_id, c.tax_id, c.registration_number, \
     c.emails, c.phones, c.addresses, c.tags, c.custom, c.owner_id, c.dept_id, c.is_open, \
     c.archived_at, c.version, c.created_at, c.updated_at, c.external_id";

/// `store::clients::ACL_COLUMNS`.
const ACL: AclColumns = AclColumns {
    owner: "c.owner_id",
    department: "c.dept_id",
    open: "c.is_open",
};

type BoxErr = Box<dyn std::error::Error>;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

fn data_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"))
        .join("bench-data")
}

fn command_output(cmd: &str, args: &[&str]) -> Option<String> {
    let out = std::process::Command::new(cmd).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn git_revision() -> String {
    let rev = command_output("git", &["rev-parse", "--short", "HEAD"]).unwrap_or("unknown".into());
    // Plumbing only: never touches the index.
    let clean = std::process::Command::new("git")
        .args(["diff-index", "--quiet", "HEAD", "--"])
        .status()
        .map(|s| s.success())
        .unwrap_or(true);
    if clean {
        rev
    } else {
        format!("{rev}-dirty")
    }
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// `service::client_queries::fts_query`: every word a quoted prefix term, all AND-ed.
fn fts_query(text: &str) -> String {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| format!("\"{}\"*", w.to_lowercase()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A page row as stored: every column read into owned values, JSON left undecoded.
#[allow(dead_code)]
struct RawRow {
    id: i64,
    kind: i64,
    name: String,
    parent_id: Option<i64>,
    tax_id: Option<String>,
    registration_number: Option<String>,
    json: [String; 5],
    owner_id: i64,
    dept_id: i64,
    is_open: bool,
    archived_at: Option<i64>,
    version: i64,
    created_at: i64,
    updated_at: i64,
    external_id: Option<String>,
}

fn raw_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawRow> {
    Ok(RawRow {
        id: r.get(0)?,
        kind: r.get(1)?,
        name: r.get(2)?,
        parent_id: r.get(3)?,
        tax_id: r.get(4)?,
        registration_number: r.get(5)?,
        json: [r.get(6)?, r.get(7)?, r.get(8)?, r.get(9)?, r.get(10)?],
        owner_id: r.get(11)?,
        dept_id: r.get(12)?,
        is_open: r.get(13)?,
        archived_at: r.get(14)?,
        version: r.get(15)?,
        created_at: r.get(16)?,
        updated_at: r.get(17)?,
        external_id: r.get(18)?,
    })
}

/// Runs a page query and returns its rows' ids.
fn fetch(conn: &Connection, q: &(String, Vec<Value>)) -> Vec<i64> {
    let mut st = conn.prepare_cached(&q.0).expect("prepare");
    let rows = st
        .query_map(params_from_iter(&q.1), raw_row)
        .expect("query")
        .map(|r| r.expect("row"))
        .collect::<Vec<_>>();
    black_box(&rows);
    rows.iter().map(|r| r.id).collect()
}

/// A case body: one page of `q` on `conn`.
fn page_of<'a>(conn: &'a Connection, q: &(String, Vec<Value>)) -> impl FnMut() -> usize + 'a {
    let q = q.clone();
    move || fetch(conn, &q).len().min(PAGE)
}

/// A read plan as the engine compiles it for the fixture's users, and its SQL rendering.
fn access_for(level: AccessLevel, scope: Scope, include_open: bool) -> (SqlAccess, AccessPlan) {
    let plan = AccessPlan {
        entity: EntityType::Client,
        action: Action::Read,
        level,
        scope,
        include_open,
        forbids: vec![],
    };
    let sql = SqlAccess::render(&plan, ACL).expect("a plan that reaches records");
    (sql, plan)
}

/// The SQL of `store::clients::list_page` for active clients and no extra conditions.
fn engine_list_sql(
    access: &SqlAccess,
    after: Option<(&str, i64)>,
    limit: usize,
) -> (String, Vec<Value>) {
    let mut sql = String::from("WITH page(id, sort_name) AS (");
    let mut params = Vec::new();
    for (i, branch) in access.branches.iter().enumerate() {
        if i > 0 {
            sql.push_str(" UNION ");
        }
        sql.push_str(&format!(
            "SELECT * FROM (SELECT c.id, c.sort_name FROM clients c WHERE ({}) AND c.archived = ? AND {}",
            branch.sql, access.deny.sql
        ));
        params.extend(branch.params.iter().cloned());
        params.push(Value::Integer(0));
        params.extend(access.deny.params.iter().cloned());
        if let Some((name, id)) = after {
            sql.push_str(" AND (c.sort_name, c.id) > (?, ?)");
            params.push(Value::Text(name.to_string()));
            params.push(Value::Integer(id));
        }
        sql.push_str(" ORDER BY c.sort_name, c.id LIMIT ?)");
        params.push(Value::Integer(limit as i64));
    }
    sql.push_str(&format!(
        " ORDER BY 2, 1 LIMIT ?) SELECT {COLS} FROM page JOIN clients c ON c.id = page.id ORDER BY page.sort_name, page.id"
    ));
    params.push(Value::Integer(limit as i64));
    (sql, params)
}

/// The SQL of `store::clients::search_page` for active clients, first page, with the match
/// narrowed as `access::fts::match_expression` narrows it for `plan`.
fn engine_search_sql(
    access: &SqlAccess,
    plan: &AccessPlan,
    text: &str,
    limit: usize,
) -> (String, Vec<Value>) {
    let pred = access.predicate();
    let sql = format!(
        "SELECT {COLS} FROM client_fts f JOIN clients c ON c.id = f.rowid
         WHERE client_fts MATCH ? AND f.rowid < ? AND c.archived = ? AND {} ORDER BY f.rowid DESC LIMIT ?",
        pred.sql
    );
    let mut params = vec![
        Value::Text(fts::match_expression(&fts_query(text), plan)),
        Value::Integer(i64::MAX),
        Value::Integer(0),
    ];
    params.extend(pred.params);
    params.push(Value::Integer(limit as i64));
    (sql, params)
}

/// The hand-written keyset page without permissions.
fn raw_list_sql(after: Option<(&str, i64)>, limit: usize) -> (String, Vec<Value>) {
    match after {
        None => (
            format!("SELECT {COLS} FROM clients c WHERE c.archived = 0 ORDER BY c.sort_name, c.id LIMIT ?"),
            vec![Value::Integer(limit as i64)],
        ),
        Some((name, id)) => (
            format!(
                "SELECT {COLS} FROM clients c WHERE c.archived = 0 AND (c.sort_name, c.id) > (?, ?) \
                 ORDER BY c.sort_name, c.id LIMIT ?"
            ),
            vec![
                Value::Text(name.into()),
                Value::Integer(id),
                Value::Integer(limit as i64),
            ],
        ),
    }
}

/// The hand-written full-text page without permissions: newest first, never ranked.
fn raw_search_sql(text: &str, limit: usize) -> (String, Vec<Value>) {
    (
        format!(
            "SELECT {COLS} FROM client_fts f JOIN clients c ON c.id = f.rowid \
             WHERE client_fts MATCH ? AND c.archived = 0 ORDER BY f.rowid DESC LIMIT ?"
        ),
        vec![Value::Text(fts_query(text)), Value::Integer(limit as i64)],
    )
}

/// Prints `EXPLAIN QUERY PLAN` as a tree and returns its detail lines.
fn explain(conn: &Connection, title: &str, q: &(String, Vec<Value>)) -> Vec<String> {
    let mut st = conn
        .prepare(&format!("EXPLAIN QUERY PLAN {}", q.0))
        .expect("explain");
    let rows: Vec<(i64, i64, String)> = st
        .query_map(params_from_iter(&q.1), |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(3)?))
        })
        .expect("explain")
        .map(|r| r.expect("explain row"))
        .collect();
    println!("\n-- EXPLAIN QUERY PLAN: {title}");
    let mut depth = std::collections::HashMap::new();
    for (id, parent, detail) in &rows {
        let d = depth.get(parent).map_or(0, |d| d + 1);
        depth.insert(*id, d);
        println!("   {}{detail}", "  ".repeat(d));
    }
    rows.into_iter().map(|(_, _, d)| d).collect()
}

/// Checks the list plan: every branch an index range scan, no scan of the table, and no
/// temp B-tree except the outer merge of the branches' bounded pages.
fn check_list_plan(lines: &[String], branches: usize) -> String {
    let searches = lines
        .iter()
        .filter(|l| l.starts_with("SEARCH c USING COVERING INDEX clients_"))
        .count();
    let scans = lines.iter().filter(|l| l.starts_with("SCAN c")).count();
    let temps = lines.iter().filter(|l| l.contains("TEMP B-TREE")).count();
    let ok = searches >= branches && scans == 0;
    format!(
        "{}: {searches} covering-index range searches for {branches} branches, {scans} scans of clients, \
         {temps} temp B-tree(s) (each over at most {branches} × {} rows, never the whole scope)",
        if ok { "OK" } else { "CHECK" },
        PAGE + 1
    )
}

/// A read connection configured as the engine configures its pooled readers (`store::pool`).
fn reader(path: &std::path::Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.set_prepared_statement_cache_capacity(128);
    // Fill the page cache once. A connection whose cache has never been full re-reads every
    // page of a repeated query from the OS (measured: 129 preads per call of a 12-row search
    // on a fresh connection, none once its cache had been filled); the engine's pooled reader
    // is filled by the setup walk, so the bench's own connections must be too.
    let n: i64 = conn.query_row(
        "SELECT sum(length(emails)) FROM (SELECT emails FROM clients LIMIT 20000)",
        [],
        |r| r.get(0),
    )?;
    black_box(n);
    Ok(conn)
}

fn scope_departments(conn: &Connection, root: DepartmentId) -> BTreeSet<DepartmentId> {
    let mut st = conn
        .prepare("SELECT descendant FROM department_closure WHERE ancestor = ?")
        .expect("closure");
    st.query_map([root.0], |r| Ok(DepartmentId(r.get(0)?)))
        .expect("closure")
        .map(|r| r.expect("closure row"))
        .collect()
}

fn count(conn: &Connection, sql: &str, params: &[Value]) -> i64 {
    conn.query_row(sql, params_from_iter(params), |r| r.get(0))
        .expect("count")
}

fn in_list(ds: &BTreeSet<DepartmentId>) -> String {
    ds.iter()
        .map(|d| d.0.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

fn main() -> Result<(), BoxErr> {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs the target without it.
    if !std::env::args().any(|a| a == "--bench") {
        println!("list_search: run with `cargo bench --bench list_search`");
        return Ok(());
    }
    let n = env_usize("CRM_BENCH_CLIENTS", 1_000_000);
    let iters = env_usize("CRM_BENCH_ITERS", 1000).max(10);
    let fx: Fixture = fixture::load_or_build(&data_dir(), n)?;
    println!(
        "fixture: {} ({} clients), {} {:.1} s",
        fx.path.display(),
        fx.n,
        if fx.built_now {
            "built in"
        } else {
            "reused; it was built in"
        },
        fx.build_secs
    );

    let crm = Crm::open(&fx.path)?;
    let as_head = crm.user_context(fx.tree_user)?;
    let as_open_head = crm.user_context(fx.open_user)?;
    // One connection for the raw baselines (and the setup queries), one for the engine's SQL.
    let conn = reader(&fx.path)?;
    let sql_conn = reader(&fx.path)?;
    let journal: String = conn.pragma_query_value(None, "journal_mode", |r| r.get(0))?;
    let sync: i64 = conn.pragma_query_value(None, "synchronous", |r| r.get(0))?;
    let sync = ["OFF", "NORMAL", "FULL", "EXTRA"]
        .get(sync as usize)
        .copied()
        .unwrap_or("?");

    let mut meta = Map::new();
    meta.insert("n".into(), json!(fx.n));
    meta.insert("git".into(), json!(git_revision()));
    meta.insert("sqlite".into(), json!(rusqlite::version()));
    meta.insert("schema_version".into(), json!(SCHEMA_VERSION));
    meta.insert("journal_mode".into(), json!(journal));
    meta.insert("synchronous".into(), json!(sync));
    meta.insert(
        "nproc".into(),
        json!(std::thread::available_parallelism().map_or(0, |n| n.get())),
    );
    meta.insert("cpu".into(), json!(cpu_model()));
    meta.insert("fixture_build_s".into(), json!(fx.build_secs));
    let load_before = loadavg();

    // Scopes, as the engine compiles them for the two regional heads.
    let north = scope_departments(&conn, fx.north);
    let south = scope_departments(&conn, fx.south);
    let (tree_access, tree_plan) = access_for(
        AccessLevel::DepartmentTree,
        Scope::Departments(north.clone()),
        false,
    );
    let (open_access, _) = access_for(
        AccessLevel::DepartmentTree,
        Scope::Departments(south.clone()),
        true,
    );
    // A sales rep in the same region: only the "own records" role.
    let rep = UserId(count(
        &conn,
        &format!(
            "SELECT min(id) FROM users WHERE id <> ? AND dept_id IN ({})",
            in_list(&north)
        ),
        &[Value::Integer(fx.tree_user.0)],
    ));
    let as_rep = crm.user_context(rep)?;
    let (own_access, own_plan) = access_for(AccessLevel::Own, Scope::Own(rep), false);
    let own_rows = count(
        &conn,
        "SELECT count(*) FROM clients WHERE archived = 0 AND owner_id = ?",
        &[Value::Integer(rep.0)],
    );
    let scope_rows = count(
        &conn,
        &format!(
            "SELECT count(*) FROM clients WHERE archived = 0 AND dept_id IN ({})",
            in_list(&north)
        ),
        &[],
    );
    let open_rows = count(
        &conn,
        "SELECT count(*) FROM clients WHERE archived = 0 AND is_open = 1",
        &[],
    );
    println!(
        "acting user {}: department-tree scope of {} departments = {scope_rows} clients ({:.1}% of {}); \
         second head {}: {} departments + {open_rows} open records",
        fx.tree_user,
        north.len(),
        100.0 * scope_rows as f64 / fx.n as f64,
        fx.n,
        fx.open_user,
        south.len(),
    );
    println!("sales rep {rep}: own records only = {own_rows} clients");

    // The deep cursor: walk the head's list once, 500 rows a page.
    let deep_rows = DEEP_ROWS.min(scope_rows as usize / 2);
    let mut q = ClientQuery {
        limit: Some(500),
        ..Default::default()
    };
    let mut walked = 0;
    let mut last = None;
    while walked < deep_rows {
        let page = crm.list_clients(&as_head, &q)?;
        walked += page.items.len();
        last = page.items.last().cloned();
        q.after = page.next;
        if q.after.is_none() {
            break;
        }
    }
    let deep_cursor = q
        .after
        .clone()
        .ok_or("the list ended before the deep page")?;
    let last = last.ok_or("empty list")?;
    let deep_key = (normalize::sort_key(&last.name), last.id.0);
    let deep_after = Some((deep_key.0.as_str(), deep_key.1));
    println!("deep page: after row {walked} of the head's list, cursor {deep_cursor:?}");

    // Search words and how many rows they match.
    let words = [
        ("search_common", COMMON_WORD.to_string()),
        ("search_rare", fx.rare_word.clone()),
        ("search_prefix2", PREFIX_WORD.to_string()),
    ];
    let mut word_info = Map::new();
    for (key, w) in &words {
        let all = count(
            &conn,
            "SELECT count(*) FROM client_fts WHERE client_fts MATCH ?",
            &[Value::Text(fts_query(w))],
        );
        let mine = count(
            &conn,
            &format!(
                // CROSS JOIN keeps the match set outer; a plain join here makes the planner probe
                // the full-text index once per row of the scope.
                "SELECT count(*) FROM client_fts f CROSS JOIN clients c ON c.id = f.rowid \
                 WHERE client_fts MATCH ? AND c.archived = 0 AND c.dept_id IN ({})",
                in_list(&north)
            ),
            &[Value::Text(fts_query(w))],
        );
        println!("{key}: {w:?} matches {all} clients, {mine} of them in the head's scope");
        word_info.insert(
            (*key).to_string(),
            json!({"word": w, "matches": all, "in_scope": mine}),
        );
    }

    // The engine's SQL and the baselines.
    let limit = PAGE + 1; // the engine fetches one more row to know whether a next page exists
    let sql_list_first = engine_list_sql(&tree_access, None, limit);
    let sql_list_deep = engine_list_sql(&tree_access, deep_after, limit);
    let sql_list_open = engine_list_sql(&open_access, None, limit);
    let sql_list_own = engine_list_sql(&own_access, None, limit);
    let sql_search_own: Vec<_> = words
        .iter()
        .map(|(_, w)| engine_search_sql(&own_access, &own_plan, w, limit))
        .collect();
    let raw_list_first = raw_list_sql(None, limit);
    let raw_list_deep = raw_list_sql(deep_after, limit);
    let sql_search: Vec<_> = words
        .iter()
        .map(|(_, w)| engine_search_sql(&tree_access, &tree_plan, w, limit))
        .collect();
    let raw_search: Vec<_> = words
        .iter()
        .map(|(_, w)| raw_search_sql(w, limit))
        .collect();

    let plan = explain(&conn, "engine list, first page", &sql_list_first);
    let verdict_first = check_list_plan(&plan, tree_access.branches.len());
    println!("   => {verdict_first}");
    let plan = explain(&conn, "engine list, keyset page", &sql_list_deep);
    let verdict_deep = check_list_plan(&plan, tree_access.branches.len());
    println!("   => {verdict_deep}");
    let plan = explain(&conn, "engine list, tree + open records", &sql_list_open);
    println!(
        "   => {}",
        check_list_plan(&plan, open_access.branches.len())
    );
    explain(&conn, "engine search", &sql_search[0]);
    explain(&conn, "raw list, keyset page", &raw_list_deep);
    explain(&conn, "raw search", &raw_search[0]);

    // The engine returns what its SQL returns (so engine_sql times the same work).
    let ids = |p: &crm_core::model::Page<crm_core::model::Client>| -> Vec<i64> {
        p.items.iter().map(|c| c.id.0).collect()
    };
    let list_q = ClientQuery::default();
    let deep_q = ClientQuery {
        after: Some(deep_cursor.clone()),
        ..Default::default()
    };
    let search_qs: Vec<SearchQuery> = words
        .iter()
        .map(|(_, w)| SearchQuery {
            text: w.clone(),
            ..Default::default()
        })
        .collect();
    let first = crm.list_clients(&as_head, &list_q)?;
    assert_eq!(ids(&first)[..], fetch(&conn, &sql_list_first)[..PAGE]);
    let deep = crm.list_clients(&as_head, &deep_q)?;
    assert_eq!(ids(&deep)[..], fetch(&conn, &sql_list_deep)[..PAGE]);
    for (q, sql) in search_qs.iter().zip(&sql_search) {
        let page = crm.search_clients(&as_head, q)?;
        let mut want = fetch(&conn, sql);
        want.truncate(PAGE);
        assert_eq!(ids(&page), want, "search {:?}", q.text);
    }
    for (q, sql) in search_qs.iter().zip(&sql_search_own) {
        let page = crm.search_clients(&as_rep, q)?;
        let mut want = fetch(&conn, sql);
        want.truncate(PAGE);
        assert_eq!(ids(&page), want, "search {:?} as the rep", q.text);
    }

    // Measure.
    let engine_list = |ctx, q: ClientQuery| {
        let crm = &crm;
        move || {
            black_box(crm.list_clients(ctx, &q).expect("list"))
                .items
                .len()
        }
    };
    let engine_search = |ctx, q: SearchQuery| {
        let crm = &crm;
        move || {
            black_box(crm.search_clients(ctx, &q).expect("search"))
                .items
                .len()
        }
    };
    let sql = |q: &(String, Vec<Value>)| page_of(&sql_conn, q);
    let raw = |q: &(String, Vec<Value>)| page_of(&conn, q);
    let mut cases = vec![
        Case::new(
            "list_first_page",
            "engine",
            engine_list(&as_head, list_q.clone()),
        ),
        Case::new("list_first_page", "engine_sql", sql(&sql_list_first)),
        Case::new("list_first_page", "raw", raw(&raw_list_first)),
        Case::new("list_deep_page", "engine", engine_list(&as_head, deep_q)),
        Case::new("list_deep_page", "engine_sql", sql(&sql_list_deep)),
        Case::new("list_deep_page", "raw", raw(&raw_list_deep)),
        Case::new(
            "list_first_page_open",
            "engine",
            engine_list(&as_open_head, list_q.clone()),
        ),
        Case::new("list_first_page_open", "engine_sql", sql(&sql_list_open)),
        Case::new(
            "list_first_page_own",
            "engine",
            engine_list(&as_rep, list_q.clone()),
        ),
        Case::new("list_first_page_own", "engine_sql", sql(&sql_list_own)),
    ];
    for (i, (key, _)) in words.iter().enumerate() {
        let own = OWN_WORKLOADS[i];
        cases.push(Case::new(
            own,
            "engine",
            engine_search(&as_rep, search_qs[i].clone()),
        ));
        cases.push(Case::new(own, "engine_sql", sql(&sql_search_own[i])));
        cases.push(Case::new(
            key,
            "engine",
            engine_search(&as_head, search_qs[i].clone()),
        ));
        cases.push(Case::new(key, "engine_sql", sql(&sql_search[i])));
        cases.push(Case::new(key, "raw", raw(&raw_search[i])));
    }
    // CRM_BENCH_ONLY=search_rare,list_deep_page/engine measures only those workloads (or cases).
    if let Ok(only) = std::env::var("CRM_BENCH_ONLY") {
        let only: Vec<&str> = only.split(',').map(str::trim).collect();
        cases.retain(|c| {
            only.contains(&c.workload)
                || only.contains(&format!("{}/{}", c.workload, c.imp).as_str())
        });
    }
    println!(
        "\nmeasuring {} cases × {iters} iterations (after 50 warm-up calls each), in 10 interleaved rounds…",
        cases.len()
    );
    let stats = measure::run(&mut cases, 50, iters, 10);
    drop(cases);
    let load_after = loadavg();
    meta.insert(
        "loadavg".into(),
        json!(format!("{load_before} → {load_after}")),
    );

    println!(
        "\n{:<22} {:<11} {:>5} {:>7} {:>10} {:>10} {:>10}",
        "workload", "impl", "rows", "iters", "p50 µs", "p95 µs", "mean µs"
    );
    for s in &stats {
        println!(
            "{:<22} {:<11} {:>5} {:>7} {:>10.1} {:>10.1} {:>10.1}",
            s.workload, s.imp, s.rows, s.iters, s.p50, s.p95, s.mean
        );
    }

    let find = |w: &str, i: &str| stats.iter().find(|s| s.workload == w && s.imp == i);
    println!("\n(ratio = engine p50 / raw p50; engine_sql = the engine's SQL alone, p50 µs)");
    println!(
        "\n{:<22} {:>19} {:>19} {:>7} {:>11} {:>9} {:>5}",
        "workload", "engine p50/p95 µs", "raw p50/p95 µs", "ratio", "engine_sql", "target", "met"
    );
    let mut summary = Vec::new();
    // (workload, the raw baseline it is compared with)
    for (w, base) in [
        ("list_first_page", "list_first_page"),
        ("list_deep_page", "list_deep_page"),
        ("list_first_page_open", "list_first_page"),
        ("list_first_page_own", "list_first_page"),
        ("search_common", "search_common"),
        ("search_rare", "search_rare"),
        ("search_prefix2", "search_prefix2"),
        ("search_common_own", "search_common"),
        ("search_rare_own", "search_rare"),
        ("search_prefix2_own", "search_prefix2"),
    ] {
        let (Some(e), Some(es), Some(raw)) =
            (find(w, "engine"), find(w, "engine_sql"), find(base, "raw"))
        else {
            continue;
        };
        let target = if w.starts_with("list") {
            LIST_TARGET_US
        } else {
            SEARCH_TARGET_US
        };
        let met = e.p50 <= target;
        println!(
            "{w:<22} {:>9.1}/{:<9.1} {:>9.1}/{:<9.1} {:>6.1}× {:>11.1} {:>9.0} {:>5}",
            e.p50,
            e.p95,
            raw.p50,
            raw.p95,
            e.p50 / raw.p50,
            es.p50,
            target,
            if met { "yes" } else { "NO" }
        );
        summary.push((w, e.clone(), raw.clone(), target, met));
    }

    println!(
        "\nrecorded: git {}, SQLite {}, journal_mode={}, synchronous={}, N={}, {} × {}, load {}",
        meta["git"].as_str().unwrap_or_default(),
        rusqlite::version(),
        journal,
        sync,
        fx.n,
        meta["nproc"],
        meta["cpu"].as_str().unwrap_or_default(),
        meta["loadavg"].as_str().unwrap_or_default(),
    );
    println!("\n# JSON lines");
    println!(
        "{}",
        json!({
            "bench": "list_search", "workload": "fixture", "n": fx.n,
            "build_s": fx.build_secs, "built_now": fx.built_now,
            "scope_rows": scope_rows, "scope_departments": north.len(),
            "deep_after_rows": walked, "words": word_info,
            "plan_list_first": verdict_first, "plan_list_deep": verdict_deep,
        })
    );
    for s in &stats {
        let extra = match summary
            .iter()
            .find(|x| x.0 == s.workload && s.imp == "engine")
        {
            Some((_, _, raw, target, met)) => json!({
                "target_p50_us": target, "met": met, "ratio_to_raw_p50": s.p50 / raw.p50,
            }),
            None => json!({}),
        };
        println!("{}", measure::json_line("list_search", s, &meta, extra));
    }
    Ok(())
}
