//! Funnel pivot, stage change and client timeline at 1M deals, against the DESIGN.md §7 targets
//! (pivot ≤ 50 ms, stage change p50 ≤ 100 µs, timeline page p50 ≤ 0.5 ms), with raw-SQLite
//! baselines measured in the same run on the same file, and the full funnel report (recorded,
//! no target).
//!
//! ```text
//! cargo bench --bench funnel                          # 1,000,000 deals
//! CRM_BENCH_DEALS=100000 cargo bench --bench funnel   # a smaller fixture
//! CRM_BENCH_ONLY=move,timeline cargo bench --bench funnel   # some sections only
//! ```
//! Other knobs: `CRM_BENCH_MOVES` (default 2000), `CRM_BENCH_PIVOT_ITERS` (40),
//! `CRM_BENCH_TIMELINE_ITERS` (1000), `CRM_BENCH_REPORT_ITERS` (3; 0 skips the full report);
//! `CRM_BENCH_ONLY` takes `pivot`, `move`, `timeline`, `report`.
//!
//! The fixture (see `funnel_support/fixture.rs`) is built through the public API once and cached
//! as `target/bench-data/deals-1m-v{SCHEMA_VERSION}.db`; delete it to rebuild (about 12 minutes
//! for 1M deals on the 2-core bench machine). The stage-change bench writes to it: every deal it
//! moves is moved back, the counters table of `raw_counters` is dropped again, and the stage
//! events, audit entries and outbox rows of the moves stay (a few thousand rows per run).
//!
//! Implementations, interleaved in rounds:
//! - `engine`: the public API as the head of sales (deal read at All) or a regional head
//!   (DepartmentTree over 7 of 29 departments, about a quarter of the deals);
//! - `engine_sql`: the engine's own SQL (as `store::funnel` / `store::timeline` assemble it, with
//!   the plan rendered by `SqlAccess::render`) run with rusqlite, to split SQL from Rust;
//!   `sql_activities`, `sql_events`, `sql_changes` are its three timeline queries one by one;
//! - `raw` (and `raw_tree`): the hand-written query or transaction of the brief;
//! - proposals, to size engine changes: `sql_stage_in` (the engine's pivot SQL with
//!   `stage_id IN (the pipeline's stages)`, so `deals_funnel` is range-searched per stage),
//!   `counters` (the pivot read from a table of maintained stage × month × owner × currency ×
//!   department counters, built once in the temp schema), `raw_counters` (the raw stage change
//!   plus the two counter upserts it would need).
//!
//! Output: the query plans, a human table, a comparison table, and one JSON line per measurement
//! (lines starting with `{`).

#[path = "common/measure.rs"]
mod measure;

mod funnel_support;

use chrono::{NaiveTime, Utc};
use crm_core::access::{AccessLevel, AccessPlan, AclColumns, Action, EntityType, Scope, SqlAccess};
use crm_core::ids::{DealId, DepartmentId, StageId, UserId};
use crm_core::model::{FunnelQuery, StageMove};
use crm_core::period::{month_number, Grouping};
use crm_core::service::timeline::TimelineQuery;
use crm_core::{Crm, Ctx, SCHEMA_VERSION};
use funnel_support::fixture::{self, Fixture, Rng};
use funnel_support::sysinfo;
use measure::{Case, Stats};
use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, Connection, OpenFlags, TransactionBehavior};
use serde_json::{json, Map};
use std::collections::BTreeSet;
use std::hint::black_box;

const PIVOT_TARGET_US: f64 = 50_000.0;
const MOVE_TARGET_US: f64 = 100.0;
const TIMELINE_TARGET_US: f64 = 500.0;
const PAGE: usize = 50;
const MOVE_WARMUP: usize = 50;

/// `store::deals::ACL_COLUMNS`.
const DEAL_ACL: AclColumns = AclColumns {
    owner: "d.owner_id",
    department: "d.dept_id",
    open: "d.is_open",
};

/// `store::activities::ACL_COLUMNS`.
const ACTIVITY_ACL: AclColumns = AclColumns {
    owner: "a.owner_id",
    department: "a.dept_id",
    open: "a.is_open",
};

/// `store::activities::ACTIVITY_COLUMNS`.
const ACTIVITY_COLS: &str =
    "a.id, a.kind, a.subject, a.body, a.client_id, a.deal_id, a.owner_id, a.dept_id, \
    a.due_at, a.remind_at, a.done_at, a.is_open, a.rule_id, a.version, a.created_at, a.updated_at";

/// `store::audit::ENTRY_COLUMNS`.
const AUDIT_COLS: &str = "l.id, l.at, l.actor_kind, l.actor_id, l.actor_note, l.action, l.entity, \
    l.entity_id, l.outcome, l.detail";

type BoxErr = Box<dyn std::error::Error>;
type Query = (String, Vec<Value>);
/// Deals to move, with their versions.
type MoveSet = Vec<(DealId, i64)>;

/// A read plan as the engine compiles it: All, or DepartmentTree over `departments`.
fn access(
    entity: EntityType,
    departments: Option<&BTreeSet<DepartmentId>>,
    cols: AclColumns,
) -> SqlAccess {
    let (level, scope) = match departments {
        None => (AccessLevel::All, Scope::All),
        Some(ds) => (AccessLevel::DepartmentTree, Scope::Departments(ds.clone())),
    };
    let plan = AccessPlan {
        entity,
        action: Action::Read,
        level,
        scope,
        include_open: false,
        forbids: vec![],
    };
    SqlAccess::render(&plan, cols).expect("a plan that reaches records")
}

/// Month numbers and instants of a whole-month range.
struct Range {
    m0: i64,
    m1: i64,
    from_ms: i64,
    to_ms: i64,
}

/// The SQL of `store::funnel::created_deals` with stored month buckets (the pivot). With
/// `stage_in`, the proposed variant: `stage_id IN (the pipeline's stages)` lets SQLite seek the
/// month range inside each stage of `deals_funnel` instead of reading the whole pipeline.
fn engine_pivot_sql(access: &SqlAccess, pipeline: i64, r: &Range, stage_in: bool) -> Query {
    let pred = access.predicate();
    let stages = if stage_in {
        " AND d.stage_id IN (SELECT id FROM stages WHERE pipeline_id = ?)"
    } else {
        ""
    };
    let sql = format!(
        "SELECT d.stage_id, d.owner_id, min(d.dept_id), d.currency, count(*), sum(d.amount_minor), d.created_month, 0, 1
         FROM deals d WHERE d.pipeline_id = ?{stages} AND {} AND d.created_month BETWEEN ? AND ? AND d.created_at >= ? AND d.created_at < ?
         GROUP BY d.stage_id, d.created_month, d.owner_id, d.currency",
        pred.sql
    );
    let mut params = vec![Value::Integer(pipeline)];
    if stage_in {
        params.push(Value::Integer(pipeline));
    }
    params.extend(pred.params);
    params.extend([r.m0, r.m1, r.from_ms, r.to_ms].map(Value::Integer));
    (sql, params)
}

/// A table of maintained counters (what the engine would keep up to date on every create, stage
/// change, reassignment and delete), built here once in the temp schema from the deals.
fn build_counters(conn: &Connection) -> rusqlite::Result<(usize, f64)> {
    let t = std::time::Instant::now();
    conn.execute_batch(
        "DROP TABLE IF EXISTS temp.funnel_counts;
         CREATE TEMP TABLE funnel_counts (
             pipeline_id INTEGER NOT NULL, stage_id INTEGER NOT NULL, created_month INTEGER NOT NULL,
             owner_id INTEGER NOT NULL, currency TEXT NOT NULL, dept_id INTEGER NOT NULL,
             n INTEGER NOT NULL, amount INTEGER NOT NULL,
             PRIMARY KEY (pipeline_id, stage_id, created_month, owner_id, currency, dept_id)
         ) WITHOUT ROWID;
         INSERT INTO funnel_counts
             SELECT pipeline_id, stage_id, created_month, owner_id, currency, dept_id, count(*), sum(amount_minor)
             FROM deals GROUP BY 1, 2, 3, 4, 5, 6;",
    )?;
    let rows: i64 = conn.query_row("SELECT count(*) FROM temp.funnel_counts", [], |r| r.get(0))?;
    Ok((rows as usize, t.elapsed().as_secs_f64()))
}

/// The pivot from the counters, optionally restricted to departments.
fn counters_pivot_sql(
    pipeline: i64,
    r: &Range,
    departments: Option<&BTreeSet<DepartmentId>>,
) -> Query {
    let dept = departments
        .map(|ds| format!(" AND dept_id IN ({})", in_list(ds)))
        .unwrap_or_default();
    (
        format!(
            "SELECT stage_id, created_month, owner_id, currency, sum(n), sum(amount) FROM temp.funnel_counts
             WHERE pipeline_id = ? AND created_month BETWEEN ? AND ?{dept} GROUP BY 1, 2, 3, 4"
        ),
        [pipeline, r.m0, r.m1].map(Value::Integer).to_vec(),
    )
}

/// The hand-written pivot of the brief, optionally restricted to departments.
fn raw_pivot_sql(pipeline: i64, r: &Range, departments: Option<&BTreeSet<DepartmentId>>) -> Query {
    let dept = departments
        .map(|ds| format!(" AND dept_id IN ({})", in_list(ds)))
        .unwrap_or_default();
    (
        format!(
            "SELECT stage_id, created_month, owner_id, currency, count(*), sum(amount_minor) FROM deals
             WHERE pipeline_id = ? AND created_month BETWEEN ? AND ?{dept} GROUP BY 1, 2, 3, 4"
        ),
        [pipeline, r.m0, r.m1].map(Value::Integer).to_vec(),
    )
}

/// Runs a grouped query and returns (rows, total of column `count_col`).
fn fetch_groups(conn: &Connection, q: &Query, cols: usize, count_col: usize) -> (usize, i64) {
    let mut st = conn.prepare_cached(&q.0).expect("prepare");
    let rows = st
        .query_map(params_from_iter(&q.1), |r| {
            (0..cols)
                .map(|i| r.get::<_, Value>(i))
                .collect::<rusqlite::Result<Vec<Value>>>()
        })
        .expect("query")
        .map(|r| r.expect("row"))
        .collect::<Vec<_>>();
    let total = rows
        .iter()
        .map(|r| match r[count_col] {
            Value::Integer(n) => n,
            _ => 0,
        })
        .sum();
    black_box(&rows);
    (rows.len(), total)
}

/// `store::timeline::keyset` for the first page.
fn keyset(at: &str, id: &str, rank: i64, params: &mut Vec<Value>) -> String {
    let m = i64::MAX;
    params.extend([m, m, rank, m, rank, m, m].map(Value::Integer));
    format!("({at} < ? OR ({at} = ? AND (? < ? OR (? = ? AND {id} < ?))))")
}

/// The three queries of `store::timeline` for the first page (limit + 1 each).
fn engine_timeline_sql(activities: &SqlAccess, deals: &SqlAccess, client: i64) -> [Query; 3] {
    let limit = Value::Integer(PAGE as i64 + 1);
    let pred = activities.predicate();
    let mut p1 = vec![Value::Integer(client)];
    p1.extend(pred.params);
    let ks = keyset("a.created_at", "a.id", 3, &mut p1);
    p1.push(limit.clone());
    let q1 = format!(
        "SELECT {ACTIVITY_COLS} FROM activities a WHERE a.client_id = ? AND {} AND {ks}
         ORDER BY a.created_at DESC, a.id DESC LIMIT ?",
        pred.sql
    );
    let pred = deals.predicate();
    let mut p2 = vec![Value::Integer(client)];
    p2.extend(pred.params.clone());
    let ks = keyset("e.at", "e.id", 2, &mut p2);
    p2.push(limit.clone());
    let q2 = format!(
        "SELECT e.id, e.deal_id, e.from_stage_id, e.to_stage_id, e.at, e.actor_id, d.title
         FROM deal_stage_events e JOIN deals d ON d.id = e.deal_id
         WHERE d.client_id = ? AND {} AND {ks} ORDER BY e.at DESC, e.id DESC LIMIT ?",
        pred.sql
    );
    let mut p3 = vec![Value::Integer(client), Value::Integer(client)];
    p3.extend(pred.params);
    let ks = keyset("l.at", "l.id", 1, &mut p3);
    p3.push(limit);
    let q3 = format!(
        "SELECT {AUDIT_COLS} FROM audit_log l
         WHERE l.outcome = 'ok' AND ((l.entity = 'client' AND l.entity_id = ?)
            OR (l.entity = 'deal' AND l.entity_id IN (SELECT d.id FROM deals d WHERE d.client_id = ? AND {})))
           AND {ks}
         ORDER BY l.at DESC, l.id DESC LIMIT ?",
        pred.sql
    );
    [(q1, p1), (q2, p2), (q3, p3)]
}

/// The hand-written page of the brief: the client's activities, newest first.
fn raw_timeline_sql(client: i64) -> Query {
    (
        format!(
            "SELECT {ACTIVITY_COLS} FROM activities a WHERE a.client_id = ? \
             ORDER BY a.created_at DESC, a.id DESC LIMIT ?"
        ),
        vec![Value::Integer(client), Value::Integer(PAGE as i64)],
    )
}

/// Runs a page query, reading every column into owned values; returns the row count.
fn fetch_rows(conn: &Connection, q: &Query) -> usize {
    let mut st = conn.prepare_cached(&q.0).expect("prepare");
    let n = st.column_count();
    let rows = st
        .query_map(params_from_iter(&q.1), |r| {
            (0..n)
                .map(|i| r.get::<_, Value>(i))
                .collect::<rusqlite::Result<Vec<Value>>>()
        })
        .expect("query")
        .map(|r| r.expect("row"))
        .collect::<Vec<_>>();
    black_box(&rows);
    rows.len()
}

/// Prints `EXPLAIN QUERY PLAN` as a tree and returns its detail lines.
fn explain(conn: &Connection, title: &str, q: &Query) -> Vec<String> {
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

/// The pivot plan must read `deals_funnel` (covering) and sort nothing (the proposed variant may
/// also read the pipeline's stage ids from `stages_pipeline`).
fn check_pivot_plan(lines: &[String]) -> String {
    let funnel = lines
        .iter()
        .any(|l| l.contains("COVERING INDEX deals_funnel"));
    let temp = lines.iter().filter(|l| l.contains("TEMP B-TREE")).count();
    let other: Vec<&String> = lines
        .iter()
        .filter(|l| {
            (l.starts_with("SCAN") || l.starts_with("SEARCH"))
                && !l.contains("deals_funnel")
                && !l.contains("COVERING INDEX stages_pipeline")
        })
        .collect();
    format!(
        "{}: covering index deals_funnel {}, {temp} temp B-tree(s), other table access: {:?}",
        if funnel && temp == 0 && other.is_empty() {
            "OK"
        } else {
            "CHECK"
        },
        if funnel { "used" } else { "NOT used" },
        other
    )
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

fn in_list(ds: &BTreeSet<DepartmentId>) -> String {
    ds.iter()
        .map(|d| d.0.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

fn count(conn: &Connection, sql: &str, params: &[Value]) -> i64 {
    conn.query_row(sql, params_from_iter(params), |r| r.get(0))
        .expect("count")
}

/// Deals to move between Lead and Qualified: spread over the table, shuffled, split in `sets`.
fn move_sets(conn: &Connection, lead: StageId, per_set: usize, sets: usize) -> Vec<MoveSet> {
    let in_lead = count(
        conn,
        "SELECT count(*) FROM deals WHERE stage_id = ?",
        &[Value::Integer(lead.0)],
    );
    let every = (in_lead / (4 * (sets * per_set) as i64)).max(1);
    let mut all = fixture::deals_in_stage(conn, lead, every, sets * per_set).expect("deals");
    Rng(0x5EED).shuffle(&mut all);
    let size = all.len() / sets;
    (0..sets)
        .map(|i| all[i * size..(i + 1) * size].to_vec())
        .collect()
}

/// Moves every deal of `ids` still in `from` back to `to`, untimed.
fn restore_engine(
    crm: &Crm,
    ctx: &Ctx,
    conn: &Connection,
    ids: &[DealId],
    from: StageId,
    to: StageId,
) -> usize {
    let mut n = 0;
    for id in ids {
        let (stage, version): (i64, i64) = conn
            .query_row(
                "SELECT stage_id, version FROM deals WHERE id = ?",
                [id.0],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .expect("deal");
        if stage == from.0 {
            crm.move_deal(
                ctx,
                *id,
                version,
                &StageMove {
                    stage_id: to,
                    lost_reason: None,
                    at: None,
                },
            )
            .expect("restore move");
            n += 1;
        }
    }
    n
}

/// The raw stage change of the brief: one IMMEDIATE transaction, the versioned UPDATE (the same
/// columns the engine writes) and the history row.
#[allow(clippy::too_many_arguments)]
fn raw_move(
    rw: &mut Connection,
    id: DealId,
    version: i64,
    pipeline: i64,
    from: StageId,
    to: StageId,
    actor: UserId,
) {
    let now = Utc::now().timestamp_millis();
    let tx = rw
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .expect("begin");
    let n = tx
        .prepare_cached(
            "UPDATE deals SET stage_id = ?, status = ?, stage_entered_at = ?, closed_at = ?, closed_day = ?, closed_month = ?,
                lost_reason = ?, version = version + 1, updated_at = ?
             WHERE id = ? AND version = ?",
        )
        .expect("prepare")
        .execute(params![to.0, 1, now, None::<i64>, None::<i64>, None::<i64>, None::<String>, now, id.0, version])
        .expect("update");
    assert_eq!(n, 1, "raw move of deal {id}: version changed");
    tx.prepare_cached(
        "INSERT INTO deal_stage_events (deal_id, pipeline_id, from_stage_id, to_stage_id, at, actor_id) VALUES (?, ?, ?, ?, ?, ?)",
    )
    .expect("prepare")
    .execute(params![id.0, pipeline, from.0, to.0, now, actor.0])
    .expect("insert event");
    tx.commit().expect("commit");
}

/// The counters table the `raw_counters` move keeps up to date (a real table in the fixture
/// file, so its pages go through the same WAL commit; dropped again after the move bench).
const MOVE_COUNTERS: &str = "bench_funnel_counts";

fn create_move_counters(rw: &Connection) -> rusqlite::Result<()> {
    rw.execute_batch(&format!(
        "DROP TABLE IF EXISTS {MOVE_COUNTERS};
         CREATE TABLE {MOVE_COUNTERS} (
             pipeline_id INTEGER NOT NULL, stage_id INTEGER NOT NULL, created_month INTEGER NOT NULL,
             owner_id INTEGER NOT NULL, currency TEXT NOT NULL, dept_id INTEGER NOT NULL,
             n INTEGER NOT NULL, amount INTEGER NOT NULL,
             PRIMARY KEY (pipeline_id, stage_id, created_month, owner_id, currency, dept_id)
         ) WITHOUT ROWID;
         INSERT INTO {MOVE_COUNTERS}
             SELECT pipeline_id, stage_id, created_month, owner_id, currency, dept_id, count(*), sum(amount_minor)
             FROM deals GROUP BY 1, 2, 3, 4, 5, 6;"
    ))
}

/// The raw stage change plus what maintained funnel counters would cost: the UPDATE returns the
/// deal's cell keys, and two upserts move it from the old stage's cell to the new one's.
#[allow(clippy::too_many_arguments)]
fn raw_move_counted(
    rw: &mut Connection,
    id: DealId,
    version: i64,
    pipeline: i64,
    from: StageId,
    to: StageId,
    actor: UserId,
) {
    let now = Utc::now().timestamp_millis();
    let tx = rw
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .expect("begin");
    let (month, owner, currency, dept, amount): (i64, i64, String, i64, i64) = tx
        .prepare_cached(
            "UPDATE deals SET stage_id = ?, status = ?, stage_entered_at = ?, closed_at = ?, closed_day = ?, closed_month = ?,
                lost_reason = ?, version = version + 1, updated_at = ?
             WHERE id = ? AND version = ?
             RETURNING created_month, owner_id, currency, dept_id, amount_minor",
        )
        .expect("prepare")
        .query_row(
            params![to.0, 1, now, None::<i64>, None::<i64>, None::<i64>, None::<String>, now, id.0, version],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .expect("update");
    tx.prepare_cached(
        "INSERT INTO deal_stage_events (deal_id, pipeline_id, from_stage_id, to_stage_id, at, actor_id) VALUES (?, ?, ?, ?, ?, ?)",
    )
    .expect("prepare")
    .execute(params![id.0, pipeline, from.0, to.0, now, actor.0])
    .expect("insert event");
    let mut upsert = tx
        .prepare_cached(&format!(
            "INSERT INTO {MOVE_COUNTERS} VALUES (?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT DO UPDATE SET n = n + excluded.n, amount = amount + excluded.amount"
        ))
        .expect("prepare");
    for (stage, sign) in [(from, -1), (to, 1)] {
        upsert
            .execute(params![
                pipeline,
                stage.0,
                month,
                owner,
                currency,
                dept,
                sign,
                sign * amount
            ])
            .expect("upsert counter");
    }
    drop(upsert);
    tx.commit().expect("commit");
}

fn print_stats(title: &str, stats: &[Stats]) {
    println!(
        "\n{title}\n{:<22} {:<11} {:>6} {:>6} {:>11} {:>11} {:>11} {:>11}",
        "workload", "impl", "rows", "iters", "p50 µs", "p95 µs", "mean µs", "min µs"
    );
    for s in stats {
        println!(
            "{:<22} {:<14} {:>6} {:>6} {:>11.1} {:>11.1} {:>11.1} {:>11.1}",
            s.workload, s.imp, s.rows, s.iters, s.p50, s.p95, s.mean, s.min
        );
    }
}

/// What every section shares.
struct Env<'a> {
    fx: &'a Fixture,
    crm: &'a Crm,
    as_all: &'a Ctx,
    as_tree: &'a Ctx,
    /// Read-only connection for the baselines.
    conn: &'a Connection,
    region: &'a BTreeSet<DepartmentId>,
    all_deals: &'a SqlAccess,
    tree_deals: &'a SqlAccess,
    range: &'a Range,
    query: &'a FunnelQuery,
    /// Facts for the fixture JSON line.
    facts: Map<String, serde_json::Value>,
}

impl Env<'_> {
    fn ctx(&self, who: &str) -> &Ctx {
        if who == "all" {
            self.as_all
        } else {
            self.as_tree
        }
    }
}

/// 1. The stage × month × manager pivot.
fn pivot_section(env: &mut Env<'_>, iters: usize) -> Result<Vec<Stats>, BoxErr> {
    let (conn, pipeline, range) = (env.conn, env.fx.pipeline.0, env.range);
    let sql_pivot_all = engine_pivot_sql(env.all_deals, pipeline, range, false);
    let sql_pivot_tree = engine_pivot_sql(env.tree_deals, pipeline, range, false);
    let in_pivot_all = engine_pivot_sql(env.all_deals, pipeline, range, true);
    let in_pivot_tree = engine_pivot_sql(env.tree_deals, pipeline, range, true);
    let raw_pivot = raw_pivot_sql(pipeline, range, None);
    let raw_pivot_tree = raw_pivot_sql(pipeline, range, Some(env.region));
    for (key, title, q) in [
        ("plan_pivot_all", "engine pivot, All", &sql_pivot_all),
        (
            "plan_pivot_tree",
            "engine pivot, DepartmentTree",
            &sql_pivot_tree,
        ),
        (
            "plan_pivot_stage_in",
            "proposed engine pivot (stage_id IN the pipeline's stages), DepartmentTree",
            &in_pivot_tree,
        ),
        ("plan_pivot_raw", "raw pivot", &raw_pivot),
        (
            "plan_pivot_raw_tree",
            "raw pivot, departments",
            &raw_pivot_tree,
        ),
    ] {
        let verdict = check_pivot_plan(&explain(conn, title, q));
        println!("   => {verdict}");
        env.facts.insert(key.into(), json!(verdict));
    }

    // The engine counts what its SQL, the variants and the baselines count.
    let cells_total = |cells: &[crm_core::model::CohortCell]| -> i64 {
        cells.iter().map(|c| c.figures.count as i64).sum()
    };
    let e_all = env.crm.funnel_pivot(env.as_all, env.query)?;
    let e_tree = env.crm.funnel_pivot(env.as_tree, env.query)?;
    let (sql_all_rows, sql_all_total) = fetch_groups(conn, &sql_pivot_all, 9, 4);
    let (sql_tree_rows, sql_tree_total) = fetch_groups(conn, &sql_pivot_tree, 9, 4);
    let (raw_rows, raw_total) = fetch_groups(conn, &raw_pivot, 6, 4);
    let (raw_tree_rows, raw_tree_total) = fetch_groups(conn, &raw_pivot_tree, 6, 4);
    assert_eq!(cells_total(&e_all), sql_all_total);
    assert_eq!(sql_all_total, raw_total);
    assert_eq!(Some(raw_total), env.facts["pivot_deals"].as_i64());
    assert_eq!(cells_total(&e_tree), sql_tree_total);
    assert_eq!(sql_tree_total, raw_tree_total);
    assert_eq!(
        fetch_groups(conn, &in_pivot_all, 9, 4),
        (sql_all_rows, sql_all_total)
    );
    assert_eq!(
        fetch_groups(conn, &in_pivot_tree, 9, 4),
        (sql_tree_rows, sql_tree_total)
    );
    let (counter_rows, counter_secs) = build_counters(conn)?;
    let counters_all = counters_pivot_sql(pipeline, range, None);
    let counters_tree = counters_pivot_sql(pipeline, range, Some(env.region));
    assert_eq!(
        fetch_groups(conn, &counters_all, 6, 4),
        (raw_rows, raw_total)
    );
    assert_eq!(
        fetch_groups(conn, &counters_tree, 6, 4),
        (raw_tree_rows, raw_tree_total)
    );
    println!(
        "counters: {counter_rows} rows (stage × month × owner × currency × department), built in {counter_secs:.1} s"
    );
    println!(
        "pivot: All {} cells from {sql_all_rows} SQL rows (raw {raw_rows}); tree {} cells from {sql_tree_rows} \
         SQL rows (raw {raw_tree_rows}); totals agree",
        e_all.len(),
        e_tree.len()
    );
    env.facts
        .insert("pivot_cells_all".into(), json!(e_all.len()));
    env.facts
        .insert("pivot_cells_tree".into(), json!(e_tree.len()));
    env.facts.insert("counter_rows".into(), json!(counter_rows));

    let engine_pivot = |who: &str| {
        let (crm, q, ctx) = (env.crm, env.query, env.ctx(who));
        move || black_box(crm.funnel_pivot(ctx, q).expect("pivot")).len()
    };
    let groups = |q: &Query, cols: usize| {
        let q = q.clone();
        move || fetch_groups(conn, &q, cols, 4).0
    };
    let mut cases = vec![
        Case::new("pivot_all", "engine", engine_pivot("all")),
        Case::new("pivot_all", "engine_sql", groups(&sql_pivot_all, 9)),
        Case::new("pivot_all", "sql_stage_in", groups(&in_pivot_all, 9)),
        Case::new("pivot_all", "counters", groups(&counters_all, 6)),
        Case::new("pivot_all", "raw", groups(&raw_pivot, 6)),
        Case::new("pivot_tree", "engine", engine_pivot("tree")),
        Case::new("pivot_tree", "engine_sql", groups(&sql_pivot_tree, 9)),
        Case::new("pivot_tree", "sql_stage_in", groups(&in_pivot_tree, 9)),
        Case::new("pivot_tree", "counters", groups(&counters_tree, 6)),
        Case::new("pivot_tree", "raw_tree", groups(&raw_pivot_tree, 6)),
    ];
    println!(
        "\nmeasuring the pivot: {} cases × {iters} iterations (after 3 warm-up calls each), 5 interleaved rounds…",
        cases.len()
    );
    Ok(measure::run(&mut cases, 3, iters, 5))
}

/// 2. A stage change with its history row, each in its own transaction.
fn move_section(env: &mut Env<'_>, rw: &mut Connection, moves: usize) -> Vec<Stats> {
    let (crm, ctx, pipeline) = (env.crm, env.as_all, env.fx.pipeline.0);
    let (lead, qualified) = (env.fx.stages[0], env.fx.stages[1]);
    let per_set = (MOVE_WARMUP + moves).div_ceil(2);
    let mut sets = move_sets(env.conn, lead, per_set, 3);
    let (counted_set, raw_set, engine_set) = (
        sets.pop().unwrap_or_default(),
        sets.pop().unwrap_or_default(),
        sets.pop().unwrap_or_default(),
    );
    let engine_ids: Vec<DealId> = engine_set.iter().map(|d| d.0).collect();
    let raw_ids: Vec<DealId> = raw_set.iter().chain(&counted_set).map(|d| d.0).collect();
    let t = std::time::Instant::now();
    create_move_counters(rw).expect("counters table");
    println!(
        "counters table {MOVE_COUNTERS} for the raw_counters move built in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    // A second raw writer for the counted moves (each case owns its connection).
    let mut rw_counted = Connection::open(env.fx.path.as_path()).expect("open");
    rw_counted
        .busy_timeout(std::time::Duration::from_secs(10))
        .expect("busy timeout");
    rw_counted
        .pragma_update(None, "foreign_keys", "ON")
        .expect("pragma");
    rw_counted
        .pragma_update(None, "synchronous", "NORMAL")
        .expect("pragma");
    println!(
        "\nstage change Lead <-> Qualified on {} + {} + {} deals spread over the table (each moved there and back)",
        engine_set.len(),
        raw_set.len(),
        counted_set.len()
    );
    env.facts.insert(
        "move_deals".into(),
        json!({"engine": engine_set.len(), "raw": raw_set.len(), "raw_counters": counted_set.len()}),
    );
    let mut st: Vec<(DealId, i64, bool)> =
        engine_set.iter().map(|&(id, v)| (id, v, false)).collect();
    let mut i = 0;
    let engine_move = move || {
        let k = i % st.len();
        i += 1;
        let (id, version, moved) = &mut st[k];
        let to = if *moved { lead } else { qualified };
        let d = crm
            .move_deal(
                ctx,
                *id,
                *version,
                &StageMove {
                    stage_id: to,
                    lost_reason: None,
                    at: None,
                },
            )
            .expect("move_deal");
        *version = d.version;
        *moved = !*moved;
        1
    };
    let mut st: Vec<(DealId, i64, bool)> = raw_set.iter().map(|&(id, v)| (id, v, false)).collect();
    let mut i = 0;
    let actor = env.fx.all_user;
    let rw_conn = &mut *rw;
    let raw_mv = move || {
        let k = i % st.len();
        i += 1;
        let (id, version, moved) = &mut st[k];
        let (from, to) = if *moved {
            (qualified, lead)
        } else {
            (lead, qualified)
        };
        raw_move(rw_conn, *id, *version, pipeline, from, to, actor);
        *version += 1;
        *moved = !*moved;
        1
    };
    let mut st: Vec<(DealId, i64, bool)> =
        counted_set.iter().map(|&(id, v)| (id, v, false)).collect();
    let mut i = 0;
    let rw_conn = &mut rw_counted;
    let counted_mv = move || {
        let k = i % st.len();
        i += 1;
        let (id, version, moved) = &mut st[k];
        let (from, to) = if *moved {
            (qualified, lead)
        } else {
            (lead, qualified)
        };
        raw_move_counted(rw_conn, *id, *version, pipeline, from, to, actor);
        *version += 1;
        *moved = !*moved;
        1
    };
    let mut cases = vec![
        Case::new("move_deal", "engine", engine_move),
        Case::new("move_deal", "raw", raw_mv),
        Case::new("move_deal", "raw_counters", counted_mv),
    ];
    println!(
        "measuring stage changes: {} cases × {moves} moves (after {MOVE_WARMUP} warm-up moves each), 10 interleaved rounds…",
        cases.len()
    );
    let stats = measure::run(&mut cases, MOVE_WARMUP, moves, 10);
    drop(cases);
    let restored = restore_engine(crm, ctx, env.conn, &engine_ids, qualified, lead)
        + restore_engine(crm, ctx, env.conn, &raw_ids, qualified, lead);
    println!("restored {restored} deals to Lead");
    rw.execute_batch(&format!("DROP TABLE IF EXISTS {MOVE_COUNTERS}"))
        .expect("drop counters");
    stats
}

/// 3. The first page of a client's timeline.
fn timeline_section(env: &mut Env<'_>, iters: usize) -> Result<Vec<Stats>, BoxErr> {
    let (conn, client) = (env.conn, env.fx.timeline_client);
    let counts = [
        count(
            conn,
            "SELECT count(*) FROM activities WHERE client_id = ?",
            &[Value::Integer(client.0)],
        ),
        count(
            conn,
            "SELECT count(*) FROM deal_stage_events e JOIN deals d ON d.id = e.deal_id WHERE d.client_id = ?",
            &[Value::Integer(client.0)],
        ),
        count(
            conn,
            "SELECT count(*) FROM audit_log WHERE outcome = 'ok' AND ((entity = 'client' AND entity_id = ?1)
               OR (entity = 'deal' AND entity_id IN (SELECT id FROM deals WHERE client_id = ?1)))",
            &[Value::Integer(client.0)],
        ),
    ];
    println!(
        "\ntimeline of client {client}: {} activities, {} stage events, {} audited changes",
        counts[0], counts[1], counts[2]
    );
    env.facts.insert(
        "timeline_sources".into(),
        json!({"activities": counts[0], "stage_events": counts[1], "changes": counts[2]}),
    );
    let tree_acts = access(EntityType::Activity, Some(env.region), ACTIVITY_ACL);
    let all_acts = access(EntityType::Activity, None, ACTIVITY_ACL);
    let sql_all = engine_timeline_sql(&all_acts, env.all_deals, client.0);
    let sql_tree = engine_timeline_sql(&tree_acts, env.tree_deals, client.0);
    let raw = raw_timeline_sql(client.0);
    for (q, name) in sql_tree
        .iter()
        .zip(["activities", "stage events", "changes"])
    {
        explain(conn, &format!("engine timeline {name}, DepartmentTree"), q);
    }
    explain(conn, "raw timeline", &raw);
    let tq = TimelineQuery::default();
    let page = env.crm.client_timeline(env.as_all, client, &tq)?;
    assert_eq!(page.items.len(), PAGE);
    assert_eq!(
        page.items.len(),
        env.crm
            .client_timeline(env.as_tree, client, &tq)?
            .items
            .len()
    );

    let engine = |who: &str| {
        let (crm, tq, ctx) = (env.crm, &tq, env.ctx(who));
        move || {
            black_box(crm.client_timeline(ctx, client, tq).expect("timeline"))
                .items
                .len()
        }
    };
    let sql3 = |qs: &[Query; 3]| {
        let qs = qs.clone();
        move || {
            qs.iter()
                .map(|q| fetch_rows(conn, q))
                .sum::<usize>()
                .min(PAGE)
        }
    };
    let rows = |q: &Query| {
        let q = q.clone();
        move || fetch_rows(conn, &q)
    };
    let mut cases = vec![
        Case::new("timeline_all", "engine", engine("all")),
        Case::new("timeline_all", "engine_sql", sql3(&sql_all)),
        Case::new("timeline_all", "raw", rows(&raw)),
        Case::new("timeline_all", "sql_activities", rows(&sql_all[0])),
        Case::new("timeline_all", "sql_events", rows(&sql_all[1])),
        Case::new("timeline_all", "sql_changes", rows(&sql_all[2])),
        Case::new("timeline_tree", "engine", engine("tree")),
        Case::new("timeline_tree", "engine_sql", sql3(&sql_tree)),
    ];
    println!(
        "measuring the timeline: {} cases × {iters} iterations (after 50 warm-up calls each), 10 interleaved rounds…",
        cases.len()
    );
    Ok(measure::run(&mut cases, 50, iters, 10))
}

/// 4. The full funnel report (no target; recorded).
fn report_section(env: &Env<'_>, iters: usize) -> Vec<Stats> {
    // The plans of its three heaviest queries (as `store::funnel` writes them), for the record.
    let pred = env.all_deals.predicate();
    let scope = format!("d.pipeline_id = ? AND {}", pred.sql);
    let mut params = vec![Value::Integer(env.fx.pipeline.0)];
    params.extend(pred.params);
    let with = |extra: &[i64]| {
        let mut p = params.clone();
        p.extend(extra.iter().map(|&x| Value::Integer(x)));
        p
    };
    let (from_ms, to_ms) = (env.range.from_ms, env.range.to_ms);
    for (title, sql, p) in [
        (
            "report: open deals now (store::funnel::open_deals)",
            format!(
                "SELECT d.stage_id, d.owner_id, d.dept_id, d.currency, count(*), sum(d.amount_minor), 0, 0, 1
                 FROM deals d WHERE {scope} AND d.status = 1 GROUP BY d.stage_id, d.owner_id, d.dept_id, d.currency"
            ),
            with(&[]),
        ),
        (
            "report: stage events of the deals created in the range (store::funnel::events)",
            format!(
                "SELECT e.deal_id, e.to_stage_id, e.at FROM deal_stage_events e JOIN deals d ON d.id = e.deal_id
                 WHERE {scope} AND d.created_at >= ? AND d.created_at < ? ORDER BY e.deal_id, e.at, e.id"
            ),
            with(&[from_ms, to_ms]),
        ),
        (
            "report: deals closed in the range (store::funnel::closed_deals)",
            format!(
                "SELECT d.stage_id, d.owner_id, d.dept_id, d.currency, 1, d.amount_minor, d.closed_at, d.closed_at - d.created_at, d.status
                 FROM deals d WHERE {scope} AND d.status IN (2, 3) AND d.closed_at >= ? AND d.closed_at < ?"
            ),
            with(&[from_ms, to_ms]),
        ),
    ] {
        explain(env.conn, title, &(sql, p));
    }
    let report = |who: &str| {
        let (crm, q, ctx) = (env.crm, env.query, env.ctx(who));
        move || {
            black_box(crm.funnel_report(ctx, q).expect("report"))
                .cohorts
                .len()
        }
    };
    let mut cases = vec![
        Case::new("funnel_report_all", "engine", report("all")),
        Case::new("funnel_report_tree", "engine", report("tree")),
    ];
    println!("\nmeasuring funnel_report: 2 cases × {iters} calls (after 1 warm-up call each)…");
    measure::run(&mut cases, 1, iters, 1)
}

fn main() -> Result<(), BoxErr> {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs the target without it.
    if !std::env::args().any(|a| a == "--bench") {
        println!("funnel: run with `cargo bench --bench funnel`");
        return Ok(());
    }
    let n = sysinfo::env_usize("CRM_BENCH_DEALS", 1_000_000);
    let pivot_iters = sysinfo::env_usize("CRM_BENCH_PIVOT_ITERS", 40).max(5);
    let moves = sysinfo::env_usize("CRM_BENCH_MOVES", 2000).max(20);
    let timeline_iters = sysinfo::env_usize("CRM_BENCH_TIMELINE_ITERS", 1000).max(10);
    let report_iters = sysinfo::env_usize("CRM_BENCH_REPORT_ITERS", 3);
    let only = std::env::var("CRM_BENCH_ONLY").unwrap_or_default();
    let section = |name: &str| only.is_empty() || only.split(',').any(|s| s.trim() == name);

    let fx: Fixture = fixture::load_or_build(&sysinfo::data_dir(), n)?;
    println!(
        "fixture: {} ({} deals + the timeline client's), {} {:.1} s ({:.0} deals/s; create_deal {:.0} µs, \
         closing move_deal {:.0} µs on average)",
        fx.path.display(),
        fx.n,
        if fx.built_now {
            "built in"
        } else {
            "reused; it was built in"
        },
        fx.build_secs,
        fx.meta["deals_per_s"].as_f64().unwrap_or_default(),
        fx.meta["create_deal_avg_us"].as_f64().unwrap_or_default(),
        fx.meta["close_move_avg_us"].as_f64().unwrap_or_default(),
    );

    let crm = Crm::open(&fx.path)?;
    let as_all = crm.user_context(fx.all_user)?;
    let as_tree = crm.user_context(fx.tree_user)?;
    let conn = Connection::open_with_flags(
        &fx.path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    // The raw writer: the pragmas the engine's writer runs with.
    let mut rw = Connection::open(&fx.path)?;
    rw.busy_timeout(std::time::Duration::from_secs(10))?;
    rw.pragma_update(None, "foreign_keys", "ON")?;
    rw.pragma_update(None, "synchronous", "NORMAL")?;
    let journal: String = rw.pragma_query_value(None, "journal_mode", |r| r.get(0))?;
    let sync: i64 = rw.pragma_query_value(None, "synchronous", |r| r.get(0))?;
    let sync = ["OFF", "NORMAL", "FULL", "EXTRA"]
        .get(sync as usize)
        .copied()
        .unwrap_or("?");

    let mut meta = Map::new();
    meta.insert("n".into(), json!(fx.n));
    meta.insert("git".into(), json!(sysinfo::git_revision()));
    meta.insert("sqlite".into(), json!(rusqlite::version()));
    meta.insert("schema_version".into(), json!(SCHEMA_VERSION));
    meta.insert("journal_mode".into(), json!(journal));
    meta.insert("synchronous".into(), json!(sync));
    meta.insert(
        "nproc".into(),
        json!(std::thread::available_parallelism().map_or(0, |n| n.get())),
    );
    meta.insert("cpu".into(), json!(sysinfo::cpu_model()));
    meta.insert("fixture_build_s".into(), json!(fx.build_secs));
    let load_before = sysinfo::loadavg();

    // The range: the last 12 whole months of the 24 the deals were created in.
    let from = fx
        .end
        .checked_sub_months(chrono::Months::new(12))
        .ok_or("range")?;
    let to = fx.end;
    let day_ms = |d: chrono::NaiveDate| d.and_time(NaiveTime::MIN).and_utc().timestamp_millis();
    let range = Range {
        m0: month_number(from),
        m1: month_number(to) - 1,
        from_ms: day_ms(from),
        to_ms: day_ms(to),
    };
    let pipeline = fx.pipeline.0;
    let region = scope_departments(&conn, fx.region);
    let in_range = count(
        &conn,
        "SELECT count(*) FROM deals WHERE pipeline_id = ? AND created_month BETWEEN ? AND ?",
        &[pipeline, range.m0, range.m1].map(Value::Integer),
    );
    let in_range_tree = count(
        &conn,
        &format!(
            "SELECT count(*) FROM deals WHERE pipeline_id = ? AND created_month BETWEEN ? AND ? AND dept_id IN ({})",
            in_list(&region)
        ),
        &[pipeline, range.m0, range.m1].map(Value::Integer),
    );
    let total_deals = count(&conn, "SELECT count(*) FROM deals", &[]);
    println!(
        "deals created {} .. {to}; pivot range {from} .. {to} (months {} ..= {}): {in_range} of {total_deals} \
         deals; the regional head's tree ({} departments) holds {in_range_tree} of them ({:.1}%)",
        fx.start,
        range.m0,
        range.m1,
        region.len(),
        100.0 * in_range_tree as f64 / in_range.max(1) as f64
    );
    let query = FunnelQuery {
        pipeline_id: fx.pipeline,
        from,
        to,
        grouping: Grouping::Month,
        time_zone: None,
        owner_id: None,
        department_id: None,
        reporting_currency: None,
        rate_date: None,
    };
    let all_deals = access(EntityType::Deal, None, DEAL_ACL);
    let tree_deals = access(EntityType::Deal, Some(&region), DEAL_ACL);
    let mut env = Env {
        fx: &fx,
        crm: &crm,
        as_all: &as_all,
        as_tree: &as_tree,
        conn: &conn,
        region: &region,
        all_deals: &all_deals,
        tree_deals: &tree_deals,
        range: &range,
        query: &query,
        facts: Map::new(),
    };
    env.facts
        .insert("pivot_range".into(), json!(format!("{from}..{to}")));
    env.facts.insert("pivot_deals".into(), json!(in_range));
    env.facts
        .insert("pivot_deals_tree".into(), json!(in_range_tree));
    env.facts
        .insert("tree_departments".into(), json!(region.len()));

    let mut stats = Vec::new();
    if section("pivot") {
        stats.extend(pivot_section(&mut env, pivot_iters)?);
    }
    if section("move") {
        stats.extend(move_section(&mut env, &mut rw, moves));
    }
    if section("timeline") {
        stats.extend(timeline_section(&mut env, timeline_iters)?);
    }
    if section("report") && report_iters > 0 {
        stats.extend(report_section(&env, report_iters));
    }
    let wal_pages: i64 = rw.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get(1))?;
    println!("WAL at the end: {wal_pages} pages (checkpointed)");

    let load_after = sysinfo::loadavg();
    meta.insert(
        "loadavg".into(),
        json!(format!("{load_before} → {load_after}")),
    );
    print_stats("all measurements", &stats);

    let find = |w: &str, i: &str| stats.iter().find(|s| s.workload == w && s.imp == i);
    println!(
        "\n{:<16} {:>23} {:>23} {:>7} {:>11} {:>9} {:>5}",
        "workload",
        "engine p50/p95 µs",
        "baseline p50/p95 µs",
        "ratio",
        "engine_sql",
        "target",
        "met"
    );
    let mut summary = Vec::new();
    for (w, base, target) in [
        ("pivot_all", "raw", PIVOT_TARGET_US),
        ("pivot_tree", "raw_tree", PIVOT_TARGET_US),
        ("move_deal", "raw", MOVE_TARGET_US),
        ("timeline_all", "raw", TIMELINE_TARGET_US),
        ("timeline_tree", "raw", TIMELINE_TARGET_US),
    ] {
        let (Some(e), Some(b)) = (
            find(w, "engine"),
            find(w, base).or_else(|| find("timeline_all", base)),
        ) else {
            continue;
        };
        let es = find(w, "engine_sql").map_or("-".to_string(), |s| format!("{:.1}", s.p50));
        let met = e.p50 <= target;
        println!(
            "{w:<16} {:>11.1}/{:<11.1} {:>11.1}/{:<11.1} {:>6.2}× {:>11} {:>9.0} {:>5}",
            e.p50,
            e.p95,
            b.p50,
            b.p95,
            e.p50 / b.p50,
            es,
            target,
            if met { "yes" } else { "NO" }
        );
        summary.push((w, b.clone(), target, met));
    }

    println!(
        "\nrecorded: git {}, SQLite {}, journal_mode={}, synchronous={}, N={} deals, {} × {}, load {}",
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
    let mut facts = json!({
        "bench": "funnel", "workload": "fixture", "n": fx.n, "deals_total": total_deals,
        "built_now": fx.built_now, "fixture": fx.meta, "run_at": Utc::now().to_rfc3339(),
    });
    if let Some(f) = facts.as_object_mut() {
        f.extend(env.facts);
    }
    println!("{facts}");
    for s in &stats {
        let extra = match summary
            .iter()
            .find(|x| x.0 == s.workload && s.imp == "engine")
        {
            Some((_, base, target, met)) => json!({
                "target_p50_us": target, "met": met, "baseline": base.imp,
                "ratio_to_baseline_p50": s.p50 / base.p50,
            }),
            None => json!({}),
        };
        println!("{}", measure::json_line("funnel", s, &meta, extra));
    }
    Ok(())
}
